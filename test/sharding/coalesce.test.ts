/**
 * The one shard read path (src/sharding/coalesce.ts): range merging, and one policy with one
 * error for a shard that keeps changing under a reader, for both sharding adapters.
 */
import { describe, expect, it } from 'vitest';
import { ByteRangeError, ConditionFailedError, CorruptionError } from '../../src/errors.js';
import type { CellUpdate, KvStore, ReadOptions, ReadResult } from '../../src/kvstore/kvstore.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { readBuffers } from '../../src/kvstore/read-buffers.js';
import { COALESCE_GAP, MAX_SHARD_READ_ATTEMPTS, mergeRanges } from '../../src/sharding/coalesce.js';
import { Uint64ShardedStore } from '../../src/sharding/precomputed-store.js';
import { chunkIdKey, parseShardingSpec } from '../../src/sharding/precomputed.js';
import { ShardFormat } from '../../src/sharding/zarr3.js';
import { ShardedStore } from '../../src/sharding/zarr3-store.js';
import { loadCore } from '../../src/wasm/core.js';

await loadCore();

describe('mergeRanges', () => {
  const spans = (...r: [number, number][]) => r.map(([offset, length], i) => ({ offset, length, i }));
  const shape = (g: ReturnType<typeof mergeRanges<{ offset: number; length: number; i: number }>>) =>
    g.map((m) => [m.offset, m.length, m.members.map((x) => x.i)]);

  it('sorts, merges gaps up to COALESCE_GAP and splits beyond', () => {
    const g = mergeRanges(spans([1000, 10], [0, 10], [1010 + COALESCE_GAP, 5], [1016 + 2 * COALESCE_GAP, 1]), 1 << 30);
    expect(shape(g)).toEqual([[0, 1010 + COALESCE_GAP + 5, [1, 0, 2]], [1016 + 2 * COALESCE_GAP, 1, [3]]]);
  });

  it('never exceeds the merged-read limit, except a single span longer than it', () => {
    const g = mergeRanges(spans([0, 400], [400, 400], [800, 400], [1200, 5000]), 1000);
    expect(shape(g)).toEqual([[0, 800, [0, 1]], [800, 400, [2]], [1200, 5000, [3]]]);
    for (const m of g) expect(m.length <= 1000 || m.members.length === 1).toBe(true);
  });

  it('overlapping and duplicate spans merge into the covering range', () => {
    const g = mergeRanges(spans([10, 100], [20, 10], [10, 100], [105, 20]), 1000);
    expect(shape(g)).toEqual([[10, 115, [0, 2, 1, 3]]]);
  });
});

/** A store whose conditional data reads always find the shard changed (a writer always ahead). */
class AlwaysChanging extends MemoryStore {
  indexReads = 0;
  override async read(key: string, options?: ReadOptions): Promise<ReadResult> {
    if (options?.ifEqual !== undefined) return { state: 'unchanged', generation: 'someone-elses' };
    if (options?.byteRange) this.indexReads++;
    return super.read(key, options);
  }
}

async function zarr3Store(base: KvStore): Promise<{ store: ShardedStore; key: string }> {
  const format = await ShardFormat.create(
    { chunk_shape: [2], codecs: [{ name: 'bytes', configuration: { endian: 'little' } }] },
    { dtype: 'uint8', shape: [8], fillValue: 0 },
  );
  const store = new ShardedStore(base, format, (pos) => `c/${pos.join('/')}`);
  return { store, key: '1' };
}

function precomputedStore(base: KvStore): { store: Uint64ShardedStore; key: string } {
  const sharding = parseShardingSpec({ '@type': 'neuroglancer_uint64_sharded_v1', preshift_bits: 0, hash: 'identity', minishard_bits: 0, shard_bits: 0 });
  return { store: new Uint64ShardedStore(base, sharding), key: chunkIdKey(1n) };
}

describe('a shard that keeps changing under a reader: one policy, one error', () => {
  for (const [name, make] of [['zarr3', zarr3Store], ['precomputed', precomputedStore]] as const) {
    it(`${name}: re-indexes up to MAX_SHARD_READ_ATTEMPTS times, then ConditionFailedError naming the shard`, async () => {
      const base = new AlwaysChanging();
      const { store, key } = await make(base);
      const cell = store.cellOf(key);
      await store.updateCell(cell, new Map<string, CellUpdate>([[key, { fn: async () => new Uint8Array([1, 2]), overwrite: true }]]));
      const fresh = (await make(base)).store;
      base.indexReads = 0;
      const err = await fresh.read(key).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConditionFailedError);
      expect((err as ConditionFailedError).key).toBe(cell);
      expect((err as Error).message).toMatch(/kept changing.*MAX_SHARD_READ_ATTEMPTS/);
      expect(base.indexReads).toBe(MAX_SHARD_READ_ATTEMPTS);
      base.indexReads = 0;
      await expect(fresh.readCell(cell, [key])).rejects.toBeInstanceOf(ConditionFailedError);
      expect(base.indexReads).toBe(MAX_SHARD_READ_ATTEMPTS);
    });

    it(`${name}: an index pointing past the end of the shard is a CorruptionError naming the shard`, async () => {
      // The base store refuses every conditional ranged read as outside the value, as it does
      // when an index entry points past the shard's end.
      class Truncated extends MemoryStore {
        override async read(key: string, options?: ReadOptions): Promise<ReadResult> {
          if (options?.ifEqual !== undefined && options.byteRange) throw new ByteRangeError(key, 'outside the value');
          return super.read(key, options);
        }
      }
      const base = new Truncated();
      const { store, key } = await make(base);
      const cell = store.cellOf(key);
      await store.updateCell(cell, new Map<string, CellUpdate>([[key, { fn: async () => new Uint8Array(64).fill(3), overwrite: true }]]));
      const err = await (await make(base)).store.read(key).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptionError);
      expect((err as CorruptionError).key).toBe(cell);
      expect((err as Error).message).toMatch(/past the end of the shard/);
    });
  }
});

describe('merged shard reads into recycled buffers', () => {
  /** A memory store that reads into the buffer it is given (as the file store does), slowly. */
  class IntoBuffer extends MemoryStore {
    override async read(key: string, options?: ReadOptions): Promise<ReadResult> {
      const r = await super.read(key, options);
      if (r.state !== 'value' || !options?.buffer || options.ifEqual === undefined) return r;
      await new Promise((res) => setTimeout(res, 30)); // in flight long enough for a range to join it
      const into = options.buffer(r.value.length);
      if (!into) return r;
      into.set(r.value);
      return { ...r, value: into.subarray(0, r.value.length) };
    }
  }

  it('a merged read goes back to the pool only once every member and every range that joined it gave its view back', async () => {
    const base = new IntoBuffer();
    const { store } = await zarr3Store(base);
    const keys = ['0', '1', '2', '3'];
    const cell = store.cellOf(keys[0]!);
    const updates = new Map<string, CellUpdate>(keys.map((k, i) => [k, { fn: async () => new Uint8Array([10 * i + 1, 10 * i + 2]), overwrite: true }]));
    await store.updateCell(cell, updates);
    const reader = (await zarr3Store(base)).store;
    await reader.readCell(cell, ['3']); // the index is cached from here on
    const merged = reader.readCell(cell, ['0', '1', '2']); // one merged read of three members
    await new Promise((res) => setTimeout(res, 10));
    const joined = reader.read('1'); // joins the merged read in flight
    const views = [...(await merged).map((r) => (r as { value: Uint8Array }).value), (await joined as { value: Uint8Array }).value];
    expect(views.map((v) => [...v])).toEqual([[1, 2], [11, 12], [21, 22], [11, 12]]);
    const buffer = views[0]!.buffer;
    for (const v of views) expect(v.buffer).toBe(buffer);
    const length = buffer.byteLength;
    for (const v of views.slice(0, 3)) readBuffers.give(v);
    const other = readBuffers.take(length)!; // one view is still out: not this buffer
    expect(other.buffer).not.toBe(buffer);
    readBuffers.give(views[3]);
    expect(readBuffers.take(length)!.buffer).toBe(buffer);
  });
});
