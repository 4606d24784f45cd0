import { describe, expect, it, vi } from 'vitest';
import { ConditionFailedError, CorruptionError } from '../../src/errors.js';
import type { KvStore, ReadOptions, ReadResult, WriteOptions } from '../../src/kvstore/kvstore.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { Uint64ShardedStore } from '../../src/sharding/precomputed-store.js';
import { chunkIdKey, parseShardingSpec, shardFileName, shardOf, type Uint64ShardingSpec } from '../../src/sharding/precomputed.js';
import { loadCore } from '../../src/wasm/core.js';
import { compressedMortonCode } from '../../src/wasm/kernels.js';

await loadCore();

const spec = (s: Partial<Uint64ShardingSpec>): Uint64ShardingSpec =>
  parseShardingSpec({ '@type': 'neuroglancer_uint64_sharded_v1', preshift_bits: 0, hash: 'identity', minishard_bits: 0, shard_bits: 0, ...s });

/** A MemoryStore that counts reads and writes. */
class CountingStore extends MemoryStore {
  reads = 0;
  writes = 0;
  override async read(key: string, options?: ReadOptions): Promise<ReadResult> {
    this.reads++;
    return super.read(key, options);
  }
  override async write(key: string, value: Uint8Array, options?: WriteOptions) {
    this.writes++;
    return super.write(key, value, options);
  }
}

const bytes = (...v: number[]): Uint8Array => new Uint8Array(v);

describe('neuroglancer_uint64_sharded_v1 golden vectors (FORMATS.md)', () => {
  it('murmurhash3 shard hash of chunk id 0', () => {
    const s = spec({ hash: 'murmurhash3_x86_128', minishard_bits: 0, shard_bits: 64 });
    expect(shardOf(s, 0n).shard).toBe(0x4772b084e028ae41n);
  });
  it("cloud-volume's murmurhash case: shard \"42\", minishard 18", () => {
    const s = spec({ hash: 'murmurhash3_x86_128', preshift_bits: 6, minishard_bits: 11, shard_bits: 7 });
    const { shard, minishard } = shardOf(s, 1822975381n);
    expect(minishard).toBe(18);
    expect(shardFileName(s, shard)).toBe('42.shard');
  });
  it('identity case: minishard 0b010, shard 0b101', () => {
    const s = spec({ preshift_bits: 2, minishard_bits: 3, shard_bits: 3 });
    expect(shardOf(s, 0b10101010n)).toEqual({ shard: 0b101n, minishard: 0b010 });
    expect(shardFileName(s, 0b101n)).toBe('5.shard');
  });
  it('the "458d" case: identity, preshift 9, minishard 6, shard 16, 128x128x16 chunks', () => {
    const s = spec({ preshift_bits: 9, minishard_bits: 6, shard_bits: 16 });
    const grid = [248832 / 128, 134144 / 128, Math.ceil(7063 / 16)];
    const id = compressedMortonCode([1131, 411, 177], grid);
    expect(shardFileName(s, shardOf(s, id).shard)).toBe('458d.shard');
  });
  it('compressed Morton codes', () => {
    expect(compressedMortonCode([1, 0, 0], [3, 3, 3])).toBe(0b1n);
    expect(compressedMortonCode([2, 0, 0], [3, 3, 3])).toBe(0b001000n);
    expect(compressedMortonCode([2, 2, 0], [3, 3, 3])).toBe(0b011000n);
    expect(compressedMortonCode([2, 2, 1], [3, 3, 3])).toBe(0b011100n);
    expect(compressedMortonCode([1, 2, 0], [2, 3, 1])).toBe(0b000101n);
    expect(compressedMortonCode([3, 3, 0], [4, 4, 1])).toBe(0b1111n);
    expect(compressedMortonCode([5, 5, 0], [8, 8, 2])).toBe(0b1100011n);
  });
  it('shard names are zero padded to ceil(shard_bits/4) hex digits', () => {
    expect(shardFileName(spec({ shard_bits: 0 }), 0n)).toBe('0.shard');
    expect(shardFileName(spec({ shard_bits: 9 }), 5n)).toBe('005.shard');
    expect(chunkIdKey(5n)).toBe('0000000000000005');
  });
});

describe('Uint64ShardedStore', () => {
  for (const enc of [['raw', 'raw'], ['gzip', 'gzip'], ['raw', 'gzip'], ['gzip', 'raw']] as const) {
    for (const hash of ['identity', 'murmurhash3_x86_128'] as const) {
      it(`writes by shard and reads back (${hash}, index ${enc[0]}, data ${enc[1]})`, async () => {
        const base = new CountingStore();
        const s = spec({ hash, preshift_bits: 1, minishard_bits: 2, shard_bits: 2, minishard_index_encoding: enc[0], data_encoding: enc[1] });
        const st = new Uint64ShardedStore(base, s, { prefix: 'scale/' });
        const ids = Array.from({ length: 40 }, (_, i) => BigInt(i * 7 + (i % 3)));
        const value = (id: bigint): Uint8Array => new Uint8Array(Number(id % 50n) + 1).fill(Number(id % 251n));
        const byCell = new Map<string, Map<string, { fn: () => Promise<Uint8Array>; overwrite: boolean }>>();
        for (const id of ids) {
          const key = chunkIdKey(id);
          const cell = st.cellOf(key);
          if (!byCell.has(cell)) byCell.set(cell, new Map());
          byCell.get(cell)!.set(key, { fn: async () => value(id), overwrite: true });
        }
        for (const [cell, u] of byCell) await st.updateCell(cell, u);
        expect(base.writes).toBe(byCell.size); // one write per shard
        for (const k of await collect(base.list('scale/'))) expect(k).toMatch(/^scale\/[0-9a-f]\.shard$/);
        const fresh = new Uint64ShardedStore(base, s, { prefix: 'scale/' });
        for (const id of ids) {
          const r = await fresh.read(chunkIdKey(id));
          expect(r.state).toBe('value');
          expect(Array.from((r as { value: Uint8Array }).value)).toEqual(Array.from(value(id)));
        }
        expect((await fresh.read(chunkIdKey(3n))).state).toBe('missing');
        expect((await collect(fresh.list(''))).sort()).toEqual(ids.map(chunkIdKey).sort());
        // Partial update keeps other chunks of the shard.
        const k0 = chunkIdKey(ids[0]!);
        await fresh.write(k0, bytes(9, 9));
        for (const id of ids.slice(1)) expect(((await fresh.read(chunkIdKey(id))) as { value: Uint8Array }).value.length).toBe(value(id).length);
        expect(Array.from(((await st.read(k0)) as { value: Uint8Array }).value)).toEqual([9, 9]);
        await fresh.delete(k0);
        expect((await fresh.read(k0)).state).toBe('missing');
      });
    }
  }

  it('a warm read costs one ranged request; a shard rewritten elsewhere is noticed', async () => {
    const base = new CountingStore();
    const s = spec({ preshift_bits: 0, minishard_bits: 3, shard_bits: 2 });
    const writer = new Uint64ShardedStore(base, s);
    const reader = new Uint64ShardedStore(base, s);
    for (let i = 0n; i < 16n; i++) await writer.write(chunkIdKey(i), bytes(Number(i)));
    base.reads = 0;
    await reader.read(chunkIdKey(1n)); // cold: shard index, minishard index, data
    expect(base.reads).toBe(3);
    base.reads = 0;
    await reader.read(chunkIdKey(1n));
    expect(base.reads).toBe(1);
    base.reads = 0;
    await reader.read(chunkIdKey(2n)); // same shard 0, other minishard (2): index + data
    expect(base.reads).toBe(2);
    await writer.write(chunkIdKey(1n), bytes(42, 42));
    const r = await reader.read(chunkIdKey(1n));
    expect(Array.from((r as { value: Uint8Array }).value)).toEqual([42, 42]);
    // ifNotEqual on the held generation revalidates with one small request.
    base.reads = 0;
    const again = await reader.read(chunkIdKey(1n), { ifNotEqual: r.generation });
    expect(again.state).toBe('unchanged');
    expect(base.reads).toBe(1);
  });

  it('RMW retries on a conflicting concurrent shard write and keeps both updates', async () => {
    const base = new MemoryStore();
    const s = spec({ minishard_bits: 1, shard_bits: 0 });
    const a = new Uint64ShardedStore(base, s);
    const b = new Uint64ShardedStore(base, s);
    let sneaked = false;
    const cell = a.cellOf(chunkIdKey(0n));
    await a.updateCell(cell, new Map([[chunkIdKey(0n), {
      overwrite: false,
      fn: async () => {
        if (!sneaked) {
          sneaked = true;
          await b.write(chunkIdKey(1n), bytes(1)); // lands between a's read and a's write
        }
        return bytes(0);
      },
    }]]));
    expect(((await a.read(chunkIdKey(1n))) as { value: Uint8Array }).value[0]).toBe(1);
    expect(((await b.read(chunkIdKey(0n))) as { value: Uint8Array }).value[0]).toBe(0);
  });

  it('a shard write that keeps losing races pauses between attempts (rmwPause), then gives up naming the shard', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    try {
      // every conditional shard write loses (another writer always got there first)
      class AlwaysRaced extends CountingStore {
        override async write(key: string, value: Uint8Array, options?: WriteOptions) {
          this.writes++;
          return options?.ifEqual !== undefined ? { ok: false as const } : super.write(key, value, options);
        }
      }
      const base = new AlwaysRaced();
      const st = new Uint64ShardedStore(base, spec({ minishard_bits: 1 }));
      const cell = st.cellOf(chunkIdKey(0n));
      let settled = false;
      const done = st.updateCell(cell, new Map([[chunkIdKey(0n), { overwrite: false, fn: async () => bytes(9) }]]))
        .catch((e: unknown) => e).finally(() => (settled = true));
      // a pause after each of the 64 lost races, half its bound here: 0.5 x (1 + 2 + ... + 32 + 58 x 64) = 1887.5 ms
      await vi.advanceTimersByTimeAsync(1800);
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(100);
      const e = await done;
      expect(e).toBeInstanceOf(ConditionFailedError);
      expect((e as Error).message).toMatch(/0\.shard.*gave up after 64 conflicting concurrent shard writes/);
      expect(base.writes).toBe(64);
    } finally {
      vi.useRealTimers();
      vi.restoreAllMocks();
    }
  });

  it('conditional writes: ifEqual "" means the chunk must not exist', async () => {
    const st = new Uint64ShardedStore(new MemoryStore(), spec({ minishard_bits: 1 }));
    expect((await st.write(chunkIdKey(2n), bytes(1), { ifEqual: '' })).ok).toBe(true);
    expect((await st.write(chunkIdKey(2n), bytes(2), { ifEqual: '' })).ok).toBe(false);
    const g = (await st.read(chunkIdKey(2n))).generation;
    expect((await st.write(chunkIdKey(2n), bytes(3), { ifEqual: g })).ok).toBe(true);
  });

  describe('readCell (coalesced reads of one shard)', () => {
    const value = (id: bigint): Uint8Array => new Uint8Array(Number(id % 97n) + 5).map((_, j) => Number((id * 31n + BigInt(j)) % 251n));
    /** Writes every third-ish id of 0..199 (the rest stay missing) through updateCell; returns the ids. */
    const fill = async (st: Uint64ShardedStore): Promise<bigint[]> => {
      const ids = Array.from({ length: 200 }, (_, i) => BigInt(i)).filter((id) => id % 3n !== 1n);
      const byCell = new Map<string, Map<string, { fn: () => Promise<Uint8Array>; overwrite: boolean }>>();
      for (const id of ids) {
        const key = chunkIdKey(id);
        const cell = st.cellOf(key);
        if (!byCell.has(cell)) byCell.set(cell, new Map());
        byCell.get(cell)!.set(key, { fn: async () => value(id), overwrite: true });
      }
      for (const [cell, u] of byCell) await st.updateCell(cell, u);
      return ids;
    };
    const plain = (r: ReadResult): unknown => (r.state === 'value' ? { ...r, value: Array.from(r.value) } : r);

    for (const [msEnc, dataEnc] of [['raw', 'raw'], ['gzip', 'gzip'], ['raw', 'gzip'], ['gzip', 'raw']] as const) {
      for (const hash of ['identity', 'murmurhash3_x86_128'] as const) {
        it(`equals per-key read, present and missing (${hash}, index ${msEnc}, data ${dataEnc})`, async () => {
          const base = new CountingStore();
          const s = spec({ hash, preshift_bits: 1, minishard_bits: 3, shard_bits: 1, minishard_index_encoding: msEnc, data_encoding: dataEnc });
          await fill(new Uint64ShardedStore(base, s, { prefix: 'p/' }));
          const all = Array.from({ length: 210 }, (_, i) => chunkIdKey(BigInt(i)));
          const byCell = new Map<string, string[]>();
          const st = new Uint64ShardedStore(base, s, { prefix: 'p/' });
          for (const k of all) {
            const cell = st.cellOf(k);
            if (!byCell.has(cell)) byCell.set(cell, []);
            byCell.get(cell)!.push(k);
          }
          expect(byCell.size).toBe(2);
          const ref = new Uint64ShardedStore(base, s, { prefix: 'p/' });
          for (const [cell, keys] of byCell) {
            // Shuffled order, one duplicate: results follow `keys`.
            const order = [...keys.slice(1).reverse(), keys[0]!, keys[3]!];
            const got = await st.readCell(cell, order);
            const want = await Promise.all(order.map((k) => ref.read(k)));
            expect(got.map(plain)).toEqual(want.map(plain));
            expect(got.filter((r) => r.state === 'value').length).toBeGreaterThan(20);
            expect(got.filter((r) => r.state === 'missing').length).toBeGreaterThan(10);
          }
          // Keys of several shards in one call work too.
          const mixed = await new Uint64ShardedStore(base, s, { prefix: 'p/' }).readCell('', all);
          expect(mixed.map(plain)).toEqual((await Promise.all(all.map((k) => ref.read(k)))).map(plain));
        });
      }
    }

    it('a whole shard costs its index reads (minishard indexes batched into one) + one data read cold, one data read warm', async () => {
      const base = new CountingStore();
      const s = spec({ minishard_bits: 3, shard_bits: 0, data_encoding: 'gzip' });
      const ids = await fill(new Uint64ShardedStore(base, s));
      const keys = ids.map(chunkIdKey);
      const st = new Uint64ShardedStore(base, s);
      const cell = st.cellOf(keys[0]!);
      base.reads = 0;
      const cold = await st.readCell(cell, keys);
      // Shard index, the 8 minishard indexes in one batched read (they are adjacent byte ranges of
      // the shard, merged by the shard read path), 1 merged data read. It was 1 + 8 + 1 before
      // index reads were batched.
      expect(base.reads).toBe(1 + 1 + 1);
      base.reads = 0;
      const warm = await st.readCell(cell, keys);
      expect(base.reads).toBe(1);
      expect(warm.map(plain)).toEqual(cold.map(plain));
      keys.forEach((k, i) => expect(Array.from((cold[i] as { value: Uint8Array }).value)).toEqual(Array.from(value(ids[i]!))));
      // Versus one request per chunk through read.
      base.reads = 0;
      for (const k of keys) await st.read(k);
      expect(base.reads).toBe(keys.length);
    });

    it('merged reads respect the base store coalesceLimit', async () => {
      class Limited extends CountingStore {
        override readonly coalesceLimit = 1000;
      }
      const base = new Limited();
      const s = spec({ minishard_bits: 2, shard_bits: 0 });
      const ids = await fill(new Uint64ShardedStore(base, s));
      const keys = ids.map(chunkIdKey);
      const st = new Uint64ShardedStore(base, s);
      const cell = st.cellOf(keys[0]!);
      await st.readCell(cell, keys);
      const ranges: { offset: number; length: number }[] = [];
      const spy = base.read.bind(base);
      base.read = async (key, options) => {
        const br = options?.byteRange;
        if (br && 'offset' in br) ranges.push({ offset: br.offset, length: br.length! });
        return spy(key, options);
      };
      const got = await st.readCell(cell, keys);
      const total = ids.reduce((n, id) => n + value(id).length, 0);
      expect(ranges.length).toBeGreaterThanOrEqual(Math.ceil(total / 1000));
      expect(ranges.length).toBeLessThan(keys.length);
      for (const r of ranges) expect(r.length).toBeLessThanOrEqual(1000);
      keys.forEach((k, i) => expect(Array.from((got[i] as { value: Uint8Array }).value)).toEqual(Array.from(value(ids[i]!))));
    });

    it('a shard rewritten elsewhere is noticed and re-indexed; a missing shard reads as missing', async () => {
      const base = new CountingStore();
      const s = spec({ minishard_bits: 2, shard_bits: 1 });
      const writer = new Uint64ShardedStore(base, s);
      const reader = new Uint64ShardedStore(base, s);
      // identity, no preshift: shard = bit 2 of the id; only shard 0 gets chunks.
      for (const i of [0n, 1n, 2n, 8n, 9n]) await writer.write(chunkIdKey(i), bytes(Number(i)));
      const keys = [0n, 1n, 2n, 8n, 9n].map(chunkIdKey);
      const cell = reader.cellOf(keys[0]!);
      expect(keys.every((k) => reader.cellOf(k) === cell)).toBe(true);
      await reader.readCell(cell, keys);
      await writer.write(chunkIdKey(2n), bytes(42, 42));
      await writer.write(chunkIdKey(10n), bytes(7));
      const got = await reader.readCell(cell, [...keys, chunkIdKey(10n)]);
      expect(got.map((r) => (r.state === 'value' ? Array.from(r.value) : r.state))).toEqual([[0], [1], [42, 42], [8], [9], [7]]);
      // Only missing chunks, warm index: revalidated, so a chunk written since is seen.
      const onlyMissing = [16n, 17n].map(chunkIdKey);
      expect(onlyMissing.every((k) => reader.cellOf(k) === cell)).toBe(true);
      expect((await reader.readCell(cell, onlyMissing)).every((r) => r.state === 'missing')).toBe(true);
      await writer.write(onlyMissing[0]!, bytes(5));
      expect(Array.from(((await reader.readCell(cell, onlyMissing))[0] as { value: Uint8Array }).value)).toEqual([5]);
      const otherCell = reader.cellOf(chunkIdKey(4n));
      expect(otherCell).not.toBe(cell);
      expect(await reader.readCell(otherCell, [chunkIdKey(4n), chunkIdKey(5n)])).toEqual([
        { state: 'missing', generation: '' },
        { state: 'missing', generation: '' },
      ]);
    });

    it('hostile minishard entries are CorruptionError, as in read', async () => {
      const base = new MemoryStore();
      const s = spec({ minishard_bits: 1, shard_bits: 0 });
      const st = new Uint64ShardedStore(base, s);
      await st.write(chunkIdKey(0n), bytes(1, 2, 3));
      await st.write(chunkIdKey(2n), bytes(4, 5));
      const shard = ((await base.read('0.shard')) as { value: Uint8Array }).value;
      const bad = shard.slice();
      const v = new DataView(bad.buffer);
      const start = Number(v.getBigUint64(0, true));
      v.setBigUint64(32 + start + 32, 1n << 40n, true);
      await base.write('0.shard', bad);
      const fresh = new Uint64ShardedStore(base, s);
      await expect(fresh.readCell('0.shard', [chunkIdKey(0n), chunkIdKey(2n)])).rejects.toThrow(/"0\.shard".*past the end/);
    });
  });

  describe('hostile shards', () => {
    const s = spec({ minishard_bits: 1, shard_bits: 0 });
    const setup = async (): Promise<{ base: MemoryStore; shard: Uint8Array }> => {
      const base = new MemoryStore();
      const st = new Uint64ShardedStore(base, s);
      await st.write(chunkIdKey(0n), bytes(1, 2, 3));
      await st.write(chunkIdKey(2n), bytes(4, 5));
      const shard = ((await base.read('0.shard')) as { value: Uint8Array }).value;
      return { base, shard };
    };
    const fresh = (base: KvStore): Uint64ShardedStore => new Uint64ShardedStore(base, s);

    it('a shard shorter than its index', async () => {
      const base = new MemoryStore();
      await base.write('0.shard', bytes(1, 2, 3));
      await expect(fresh(base).read(chunkIdKey(0n))).rejects.toThrow(CorruptionError);
      await expect(fresh(base).read(chunkIdKey(0n))).rejects.toThrow(/"0\.shard".*shard index/);
    });
    it('a shard index pointing past the end', async () => {
      const { base, shard } = await setup();
      const bad = shard.slice();
      new DataView(bad.buffer).setBigUint64(8, 10_000n, true); // minishard 0 end
      await base.write('0.shard', bad);
      await expect(fresh(base).read(chunkIdKey(0n))).rejects.toThrow(/"0\.shard".*outside/);
    });
    it('a minishard index with offsets past the shard', async () => {
      const { base, shard } = await setup();
      const bad = shard.slice();
      const v = new DataView(bad.buffer);
      const start = Number(v.getBigUint64(0, true));
      // minishard 0 holds ids 0 and 2: [ids(2), offsets(2), sizes(2)]; blow up the first size.
      v.setBigUint64(32 + start + 32, 1n << 40n, true);
      await base.write('0.shard', bad);
      await expect(fresh(base).read(chunkIdKey(0n))).rejects.toThrow(CorruptionError);
      await expect(fresh(base).read(chunkIdKey(0n))).rejects.toThrow(/"0\.shard".*past the end/);
      // Updating the shard refuses to build on it too.
      await expect(fresh(base).write(chunkIdKey(4n), bytes(1))).rejects.toThrow(CorruptionError);
    });
    it('a minishard index whose size is not a multiple of 24', async () => {
      const { base, shard } = await setup();
      const bad = shard.slice();
      const v = new DataView(bad.buffer);
      v.setBigUint64(8, v.getBigUint64(8, true) - 1n, true);
      await base.write('0.shard', bad);
      await expect(fresh(base).read(chunkIdKey(0n))).rejects.toThrow(/multiple of 24/);
    });
  });
});

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const k of it) out.push(k);
  return out;
}
