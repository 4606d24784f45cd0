/**
 * A write that did not happen is an error, on every store: a store that answers an
 * unconditional write with `{ok: false}` (an object store's 404 or 409) or an unconditional
 * delete with `false` must fail `write()`, not let it report success with nothing stored.
 */
import { describe, expect, it } from 'vitest';
import { NdArray } from '../../src/array/ndarray.js';
import type { DriverModule } from '../../src/drivers/driver.js';
import { KvStoreError } from '../../src/errors.js';
import { IndexDomain, IndexTransform } from '../../src/index-space/index.js';
import { writeRegion } from '../../src/io/planner.js';
import type { ChunkDriver } from '../../src/io/chunk-driver.js';
import { deleteListed, type ReadOptions, type WriteOptions, type WriteResult } from '../../src/kvstore/kvstore.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { PrefixedStore } from '../../src/kvstore/prefixed.js';
import { loadCore } from '../../src/wasm/core.js';

await loadCore();

/** A store that drops unconditional writes and deletes of chunk keys, answering as if they failed. */
class DroppingStore extends MemoryStore {
  dropped = 0;
  constructor(private readonly isMetadata: (key: string) => boolean) {
    super();
  }
  override async write(key: string, value: Uint8Array, options?: WriteOptions): Promise<WriteResult> {
    if (options?.ifEqual === undefined && !this.isMetadata(key)) {
      this.dropped++;
      return { ok: false };
    }
    return super.write(key, value, options);
  }
  override async delete(key: string, options?: WriteOptions): Promise<boolean> {
    if (options?.ifEqual === undefined && !this.isMetadata(key)) {
      this.dropped++;
      return false;
    }
    return super.delete(key, options);
  }
  override read(key: string, options?: ReadOptions) {
    return super.read(key, options);
  }
}

const CREATE = { open: false, create: true, deleteExisting: false, assumeMetadata: false };
const metadataKeys = new Set(['zarr.json', '.zarray', 'attributes.json', 'info']);

async function driverOf(name: string, store: MemoryStore, spec: Record<string, unknown>, schema: Record<string, unknown>): Promise<ChunkDriver> {
  const modules: Record<string, () => Promise<{ driver: DriverModule }>> = {
    zarr: () => import('../../src/drivers/zarr2.js'),
    zarr3: () => import('../../src/drivers/zarr3.js'),
    n5: () => import('../../src/drivers/n5.js'),
    neuroglancer_precomputed: () => import('../../src/drivers/precomputed.js'),
  };
  const m = (await modules[name]!()).driver;
  return m.open({ store, spec: { driver: name, ...spec }, mode: CREATE, schema, storeFillChunks: false });
}

const everything = (d: ChunkDriver): IndexTransform =>
  IndexTransform.identity(new IndexDomain(d.grid.origin, d.grid.origin.map((o, i) => o + d.grid.shape[i]!)));

const CASES: [string, string, Record<string, unknown>, Record<string, unknown>][] = [
  ['zarr v2', 'zarr', {}, { dtype: 'uint16', domain: { shape: [8, 8] }, readChunkShape: [4, 4] }],
  ['zarr v3', 'zarr3', {}, { dtype: 'uint16', domain: { shape: [8, 8] }, readChunkShape: [4, 4] }],
  ['zarr v3 sharded', 'zarr3', {}, { dtype: 'uint16', domain: { shape: [8, 8] }, readChunkShape: [2, 2], writeChunkShape: [4, 4] }],
  ['N5', 'n5', {}, { dtype: 'uint16', domain: { shape: [8, 8] }, readChunkShape: [4, 4] }],
  ['precomputed sharded (box shards: written without reading)', 'neuroglancer_precomputed', {
    multiscale_metadata: { data_type: 'uint16', num_channels: 1 },
    scale_metadata: {
      size: [8, 8, 1], chunk_size: [4, 4, 1], encoding: 'raw',
      sharding: { '@type': 'neuroglancer_uint64_sharded_v1', preshift_bits: 0, hash: 'identity', minishard_bits: 2, shard_bits: 0 },
    },
  }, {}],
];

describe('unconditional writes the store did not apply', () => {
  for (const [title, name, spec, schema] of CASES) {
    it(`${title}: write() of full chunks throws KvStoreError`, async () => {
      const store = new DroppingStore((k) => metadataKeys.has(k) || k.endsWith('/info'));
      const d = await driverOf(name, store, spec, schema);
      const t = everything(d);
      const data = NdArray.zeros(d.grid.dtype, t.inputDomain.shape, 7);
      await expect(writeRegion(d, t, data)).rejects.toBeInstanceOf(KvStoreError);
      expect(store.dropped).toBeGreaterThan(0);
    });
  }

  it('writing fill over stored chunks deletes them; a delete the store did not apply throws', async () => {
    let dropDeletes = false;
    class DroppingDeletes extends MemoryStore {
      override async delete(key: string, options?: WriteOptions): Promise<boolean> {
        if (dropDeletes && options?.ifEqual === undefined) return false;
        return super.delete(key, options);
      }
    }
    const store = new DroppingDeletes();
    const d = await driverOf('zarr3', store, {}, { dtype: 'uint8', domain: { shape: [4] }, readChunkShape: [2] });
    const t = everything(d);
    await writeRegion(d, t, NdArray.zeros('uint8', [4], 1));
    dropDeletes = true;
    await expect(writeRegion(d, t, 0)).rejects.toBeInstanceOf(KvStoreError);
  });

  it('deleteListed (deleteRange of object stores) throws when a delete is not applied', async () => {
    const base = new MemoryStore();
    await base.write('p/a', new Uint8Array([1]));
    const store = new PrefixedStore(base, '');
    store.delete = async () => false;
    await expect(deleteListed(store, 'p/')).rejects.toBeInstanceOf(KvStoreError);
  });
});
