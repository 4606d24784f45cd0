/**
 * A zarr v3 sharded volume on Azure Blob Storage (Azurite): written by volstore through an
 * `az://` URL whose account and endpoint come from `AZURE_STORAGE_CONNECTION_STRING` alone,
 * read back exactly by volstore, and read exactly by zarrita over Microsoft's
 * `@azure/storage-blob` client (ranged downloads for the shard index and inner chunks).
 */
import { BlobServiceClient, type ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import * as zarr from 'zarrita';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NdArray } from '../../src/array/ndarray.js';
import { open } from '../../src/open.js';
import { type Azurite, startAzurite } from './azurite.js';

let az: Azurite;
let cc: ContainerClient;
const saved = process.env.AZURE_STORAGE_CONNECTION_STRING;

beforeAll(async () => {
  az = await startAzurite();
  cc = new BlobServiceClient(az.blobEndpoint, new StorageSharedKeyCredential(az.account, az.accountKey)).getContainerClient('zarr');
  await cc.create();
  process.env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
}, 60_000);

afterAll(async () => {
  await az?.stop();
  if (saved === undefined) delete process.env.AZURE_STORAGE_CONNECTION_STRING;
  else process.env.AZURE_STORAGE_CONNECTION_STRING = saved;
});

/** A zarrita store over the SDK: keys are blob names under `root`. */
function sdkStore(root: string) {
  const blob = (key: string) => cc.getBlobClient(`${root}${key.replace(/^\//, '')}`);
  let ranged = 0;
  return {
    ranged: () => ranged,
    async get(key: string): Promise<Uint8Array | undefined> {
      try {
        return new Uint8Array(await blob(key).downloadToBuffer());
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return undefined;
        throw e;
      }
    },
    async getRange(key: string, range: { offset: number; length: number } | { suffixLength: number }): Promise<Uint8Array | undefined> {
      ranged++;
      try {
        const b = blob(key);
        if ('suffixLength' in range) {
          const size = (await b.getProperties()).contentLength!;
          return new Uint8Array(await b.downloadToBuffer(Math.max(0, size - range.suffixLength), Math.min(size, range.suffixLength)));
        }
        return new Uint8Array(await b.downloadToBuffer(range.offset, range.length));
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return undefined;
        throw e;
      }
    },
  };
}

const value = (z: number, y: number, x: number) => (z * 7919 + y * 131 + x * 3) % 65521;

describe('azure: zarr3 sharded volume on Azurite', () => {
  it('written by volstore through az://, read back exactly by volstore and by zarrita over @azure/storage-blob', async () => {
    const shape = [24, 70, 50];
    const vol = await open({
      driver: 'zarr3',
      kvstore: 'az://zarr/em/raw/',
      create: true,
      metadata: {
        shape,
        data_type: 'uint16',
        chunk_grid: { name: 'regular', configuration: { chunk_shape: [12, 32, 32] } },
        fill_value: 0,
        codecs: [
          {
            name: 'sharding_indexed',
            configuration: {
              chunk_shape: [6, 16, 16],
              codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'gzip', configuration: { level: 1 } }],
              index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }],
            },
          },
        ],
      },
    } as never);
    const want = NdArray.zeros('uint16', shape);
    const d = want.data as Uint16Array;
    for (let z = 0; z < shape[0]!; z++) for (let y = 0; y < shape[1]!; y++) for (let x = 0; x < shape[2]!; x++) d[(z * shape[1]! + y) * shape[2]! + x] = value(z, y, x);
    // Whole write, then an unaligned region rewritten (read-modify-write of shards with
    // conditional writes on the blobs' ETags).
    await vol.write(want);
    const region: [number, number][] = [[5, 19], [10, 61], [3, 47]];
    const patch = NdArray.zeros('uint16', region.map(([a, b]) => b - a));
    const p = patch.data as Uint16Array;
    let i = 0;
    for (let z = region[0]![0]; z < region[0]![1]; z++) for (let y = region[1]![0]; y < region[1]![1]; y++) for (let x = region[2]![0]; x < region[2]![1]; x++) {
      const v = (value(z, y, x) * 3 + 1) % 65521;
      p[i++] = v;
      d[(z * shape[1]! + y) * shape[2]! + x] = v;
    }
    await vol.slice(region).write(patch);

    // volstore reads it back, opened afresh (format detected from zarr.json).
    const again = await open('az://zarr/em/raw/');
    const got = await again.read();
    expect(got.shape).toEqual(shape);
    expect(Buffer.from((got.data as Uint16Array).buffer).equals(Buffer.from(d.buffer))).toBe(true);
    const sub = await again.slice([[4, 9], [30, 33], [0, 50]]).read();
    for (let z = 4; z < 9; z++) for (let y = 30; y < 33; y++) for (let x = 0; x < 50; x++) expect(sub.get([z - 4, y - 30, x])).toBe(d[(z * shape[1]! + y) * shape[2]! + x]);

    // The blobs are what zarr3 sharding says: zarr.json and 2 x 3 x 2 shards.
    const names: string[] = [];
    for await (const b of cc.listBlobsFlat({ prefix: 'em/raw/' })) names.push(b.name.slice('em/raw/'.length));
    const shards = [];
    for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 2; c++) shards.push(`c/${a}/${b}/${c}`);
    expect(names.sort()).toEqual(['zarr.json', ...shards].sort());

    // zarrita reads the same array through Microsoft's client.
    const store = sdkStore('em/raw/');
    const arr = await zarr.open(store as never, { kind: 'array' });
    expect(arr.shape).toEqual(shape);
    const theirs = await zarr.get(arr);
    expect(Buffer.from((theirs.data as Uint16Array).buffer).equals(Buffer.from(d.buffer))).toBe(true);
    expect(store.ranged()).toBeGreaterThan(0); // shard index and inner chunks were ranged reads
  }, 60_000);
});
