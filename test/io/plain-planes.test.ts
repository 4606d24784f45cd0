/**
 * Plain chunks (ChunkDriver.plainChunks: a lone little-endian `bytes` codec, unsharded): a read
 * that takes at most half of a chunk's first-dimension planes fetches only those planes, as one
 * byte range. Data written by zarrita (raw zarr v3) and by volstore's zarr v2 writer; every
 * view compared with zarrita's reading or the source; bytes fetched counted by a CountingStore.
 */
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import FileSystemStore from '@zarrita/storage/fs';
import * as zarr from 'zarrita';
import { afterAll, describe, expect, it } from 'vitest';
import { Context, NdArray, open } from '../../src/index.js';
import { CountingStore, emptyCounters } from '../../src/kvstore/counting.js';
import type { KvStore } from '../../src/kvstore/kvstore.js';

const ROOT = mkdtempSync(path.join(tmpdir(), 'volstore-plain-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

const SHAPE = [40, 48, 56];
const CHUNK = [16, 16, 16];
const N = SHAPE.reduce((a, b) => a * b, 1);
const DATA = Uint16Array.from({ length: N }, (_, i) => (i * 2654435761) >>> 19);

async function zarritaRaw(name: string): Promise<string> {
  const dir = path.join(ROOT, name);
  const arr = await zarr.create(new FileSystemStore(dir), {
    shape: SHAPE, chunkShape: CHUNK, dtype: 'uint16', codecs: [{ name: 'bytes', configuration: { endian: 'little' } }] as never, fillValue: 0,
  });
  await zarr.set(arr, null, { data: DATA, shape: SHAPE, stride: [SHAPE[1]! * SHAPE[2]!, SHAPE[2]!, 1] });
  return dir;
}

async function openCounted(spec: Record<string, unknown>, context?: Context) {
  const counts = emptyCounters();
  const vol = await open(spec as never, { context, wrapKvStore: (s: KvStore) => new CountingStore(s, counts) });
  return { vol, counts };
}

const source = new NdArray('uint16', DATA, SHAPE);

describe('plain chunks: a view reads only the planes it takes', () => {
  it('zarrita raw zarr3: XY planes fetch 1/16 of each chunk, and every view equals zarrita', async () => {
    const dir = await zarritaRaw('z3');
    const { vol, counts } = await openCounted({ driver: 'zarr3', kvstore: `file://${dir}/` });
    const za = await zarr.open(new FileSystemStore(dir), { kind: 'array' });
    const chunkBytes = CHUNK.reduce((a, b) => a * b, 2);
    const before = counts.bytesRead;
    for (const z of [0, 7, 15, 16, 39]) {
      const mine = await vol.slice([z, null, null]).read();
      expect(mine.toFlat(), `z=${z}`).toEqual(Array.from((await zarr.get(za, [z, null, null])).data as ArrayLike<number>));
    }
    // 5 planes x 3 x 4 chunks each, one 16x16 plane of each chunk (512 bytes), not 8 KiB chunks
    expect(counts.bytesRead - before).toBe(5 * 12 * 16 * 16 * 2);
    expect(counts.bytesRead - before).toBeLessThan((5 * 12 * chunkBytes) / 8);
    // thicker, strided, reversed and transposed views: planes where they pay, whole chunks otherwise
    const views: [string, () => ReturnType<typeof vol.slice>, () => Promise<unknown>][] = [
      ['z 3..9', () => vol.slice([[3, 9], null, null]), () => zarr.get(za, [zarr.slice(3, 9), null, null])],
      ['z 0..40 step 8', () => vol.slice([[0, 40, 8], null, null]), () => zarr.get(za, [zarr.slice(0, 40, 8), null, null])],
      ['xz at y=5', () => vol.slice([null, 5, null]), () => zarr.get(za, [null, 5, null])],
      ['box', () => vol.slice([[17, 20], [3, 45], [10, 50]]), () => zarr.get(za, [zarr.slice(17, 20), zarr.slice(3, 45), zarr.slice(10, 50)])],
    ];
    for (const [what, mine, theirs] of views) {
      const got = (await mine().read()).toFlat();
      expect(got, what).toEqual(Array.from(((await theirs()) as { data: ArrayLike<number> }).data));
    }
    // reversed / transposed: against the source array
    const rev = await vol.slice([[9, 2, -1], [0, 4], [0, 4]]).read();
    const expectRev: number[] = [];
    for (let z = 9; z > 2; z--) for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) expectRev.push(source.get([z, y, x]) as number);
    expect(rev.toFlat()).toEqual(expectRev);
    const tr = await vol.slice([[20, 22], null, null]).transpose([2, 1, 0]).read();
    expect(tr.shape).toEqual([56, 48, 2]);
    expect(tr.get([13, 31, 1])).toBe(source.get([21, 31, 13]));
  });

  it('zarr v2 raw (no compressor, order C): the same plane reads; F order and a compressor read whole chunks', async () => {
    const make = async (name: string, extra: Record<string, unknown>) => {
      const dir = path.join(ROOT, name);
      const w = await open({ driver: 'zarr', kvstore: `file://${dir}/`, create: true, metadata: { shape: SHAPE, chunks: CHUNK, dtype: '<u2', compressor: null, ...extra } } as never);
      await w.write(source);
      return dir;
    };
    const chunkBytes = CHUNK.reduce((a, b) => a * b, 2);
    for (const [name, extra, planes] of [
      ['v2c', {}, true],
      ['v2f', { order: 'F' }, false],
      ['v2zlib', { compressor: { id: 'zlib', level: 1 } }, false],
    ] as const) {
      const dir = await make(name, extra);
      const { vol, counts } = await openCounted({ driver: 'zarr', kvstore: `file://${dir}/` });
      const opened = counts.bytesRead; // the metadata
      const got = await vol.slice([21, null, null]).read();
      expect(got.toFlat(), name).toEqual(Array.from(DATA.subarray(21 * 48 * 56, 22 * 48 * 56)));
      if (planes) expect(counts.bytesRead - opened, name).toBe(12 * 16 * 16 * 2);
      else if (name === 'v2f') expect(counts.bytesRead - opened, name).toBe(12 * chunkBytes);
    }
  });

  it('with a chunk cache the whole chunk is read (and cached): the next planes cost nothing', async () => {
    const dir = await zarritaRaw('cached');
    const { vol, counts } = await openCounted({ driver: 'zarr3', kvstore: `file://${dir}/`, recheck_cached_data: 'open' }, new Context({ cache_pool: { total_bytes_limit: 1 << 24 } }));
    const opened = counts.bytesRead; // the metadata
    await vol.slice([0, null, null]).read();
    const first = counts.bytesRead;
    expect(first - opened).toBe(12 * CHUNK.reduce((a, b) => a * b, 2));
    const again = await vol.slice([1, null, null]).read();
    expect(counts.bytesRead).toBe(first);
    expect(again.toFlat()).toEqual(Array.from(DATA.subarray(48 * 56, 2 * 48 * 56)));
  });

  it('a truncated or overlong plain chunk is a CorruptionError naming the key, never other bytes', async () => {
    const dir = await zarritaRaw('bad');
    const vol = await open({ driver: 'zarr3', kvstore: `file://${dir}/` } as never);
    truncateSync(path.join(dir, 'c', '0', '0', '0'), 1000);
    await expect(vol.slice([0, [0, 16], [0, 16]]).read()).rejects.toMatchObject({ name: 'CorruptionError', message: expect.stringContaining('c/0/0/0') });
    await expect(vol.slice([15, [0, 16], [0, 16]]).read()).rejects.toMatchObject({ name: 'CorruptionError' });
    truncateSync(path.join(dir, 'c', '0', '0', '1'), 16 * 16 * 16 * 2 + 2);
    await expect(vol.slice([0, [0, 16], [16, 32]]).read()).rejects.toMatchObject({ name: 'CorruptionError', message: expect.stringContaining('c/0/0/1') });
    // a missing chunk is the fill value, as for any chunk
    rmSync(path.join(dir, 'c', '1', '0', '0'));
    expect((await vol.slice([20, [0, 16], [0, 16]]).read()).toFlat().every((v) => v === 0)).toBe(true);
  });
});
