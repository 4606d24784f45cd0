/**
 * The kvstore conformance suite on both sharding adapters. Their keys are structured (inner
 * chunk positions "i,j"; 16-hex-digit chunk ids), so the suite's keys are mapped injectively,
 * and spread so that some share a shard and some do not. The zarr3 adapter writes only through
 * updateCell (whole shards), so its data is put that way and its write/delete/list/deleteRange
 * must throw UnsupportedError.
 */
import type { CellUpdate } from '../../src/kvstore/kvstore.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { Uint64ShardedStore } from '../../src/sharding/precomputed-store.js';
import { chunkIdKey, parseShardingSpec } from '../../src/sharding/precomputed.js';
import { ShardFormat } from '../../src/sharding/zarr3.js';
import { ShardedStore } from '../../src/sharding/zarr3-store.js';
import { loadCore } from '../../src/wasm/core.js';
import { describeKvStoreConformance } from '../kvstore/conformance.js';

await loadCore();

/** Suite key -> a small integer, assigned in order of first use (injective). */
function numbering(): (key: string) => number {
  const ids = new Map<string, number>();
  return (key) => {
    let n = ids.get(key);
    if (n === undefined) ids.set(key, (n = ids.size));
    return n;
  };
}

const zarr3Number = numbering();
/** Inner chunk positions [n / 4, n % 4] of a 2x2-inner-chunk shard grid: 4 keys per shard row pair. */
const zarr3Key = (key: string): string => {
  const n = zarr3Number(key);
  return ShardedStore.keyOf([Math.floor(n / 4), n % 4]);
};

describeKvStoreConformance(
  'zarr3 sharding_indexed adapter',
  async () => {
    const base = new MemoryStore();
    const format = await ShardFormat.create(
      { chunk_shape: [1, 1], codecs: [{ name: 'bytes', configuration: { endian: 'little' } }] },
      { dtype: 'uint8', shape: [2, 2], fillValue: 0 },
    );
    const store = new ShardedStore(base, format, (pos) => `c/${pos.join('/')}`);
    return {
      store,
      populate: async (entries) => {
        const byCell = new Map<string, Map<string, CellUpdate>>();
        for (const [k, v] of Object.entries(entries)) {
          const cell = store.cellOf(k);
          if (!byCell.has(cell)) byCell.set(cell, new Map());
          byCell.get(cell)!.set(k, { fn: async () => v, overwrite: true });
        }
        for (const [cell, u] of byCell) await store.updateCell(cell, u);
      },
    };
  },
  { key: zarr3Key, unsupported: ['write', 'delete', 'list', 'deleteRange'] },
);

const precomputedNumber = numbering();

describeKvStoreConformance(
  'neuroglancer_uint64_sharded_v1 adapter',
  async () => {
    // identity hash: minishard = id bit 0, shard = id bits 1-2, so ids 0-1 share shard 0, ...
    const sharding = parseShardingSpec({
      '@type': 'neuroglancer_uint64_sharded_v1', preshift_bits: 0, hash: 'identity', minishard_bits: 1, shard_bits: 2,
      minishard_index_encoding: 'gzip', data_encoding: 'raw',
    });
    return { store: new Uint64ShardedStore(new MemoryStore(), sharding, { prefix: 'scale/' }) };
  },
  { key: (k) => chunkIdKey(BigInt(precomputedNumber(k))) },
);

describeKvStoreConformance(
  'neuroglancer_uint64_sharded_v1 adapter (gzip data, murmurhash)',
  async () => {
    const sharding = parseShardingSpec({
      '@type': 'neuroglancer_uint64_sharded_v1', preshift_bits: 1, hash: 'murmurhash3_x86_128', minishard_bits: 2, shard_bits: 1,
      minishard_index_encoding: 'raw', data_encoding: 'gzip',
    });
    return { store: new Uint64ShardedStore(new MemoryStore(), sharding) };
  },
  { key: (k) => chunkIdKey(BigInt(precomputedNumber(k)) * 977n) },
);
