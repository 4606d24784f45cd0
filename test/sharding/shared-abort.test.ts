/**
 * Shared in-flight shard work (index, minishard and merged range reads) is cancelled only when
 * every caller waiting for it has aborted: one reader cancelling a stale slice never fails
 * another reader of the same shard.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError } from '../../src/errors.js';
import { GcsStore } from '../../src/kvstore/gcs.js';
import type { CellUpdate, KvStore, ReadOptions, ReadResult } from '../../src/kvstore/kvstore.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { Uint64ShardedStore } from '../../src/sharding/precomputed-store.js';
import { chunkIdKey, parseShardingSpec } from '../../src/sharding/precomputed.js';
import { ShardFormat } from '../../src/sharding/zarr3.js';
import { ShardedStore } from '../../src/sharding/zarr3-store.js';
import { type Emulator, startEmulator } from '../../src/testing/index.js';
import { loadCore } from '../../src/wasm/core.js';

await loadCore();

/** A store whose reads wait at a gate (from `hold()` until `let()`), honour their signal, and are counted. */
class GatedStore extends MemoryStore {
  reads: { key: string; options?: ReadOptions }[] = [];
  cancelled = 0;
  waiting = 0;
  private gate: Promise<void> = Promise.resolve();
  private release: () => void = () => {};
  hold(): void {
    this.gate = new Promise<void>((r) => (this.release = r));
  }
  let(): void {
    this.release();
  }
  override async read(key: string, options?: ReadOptions): Promise<ReadResult> {
    this.reads.push({ key, options });
    const signal = options?.signal;
    this.waiting++;
    try {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          this.cancelled++;
          reject(new AbortError('read cancelled', { cause: signal!.reason }));
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        this.gate.then(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    } finally {
      this.waiting--;
    }
    return super.read(key, options);
  }
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
};

const chunkBytes = (i: number, n = 16): Uint8Array => Uint8Array.from({ length: n }, (_, j) => (i * 37 + j) & 255);

/** Both adapters, built over a base store, with `n` chunks written into one shard. */
interface Layout {
  name: string;
  /** Writes the chunks through `updateCell` and returns an adapter factory over any base. */
  fill(base: KvStore, n: number): Promise<{ keys: string[]; adapter: (base: KvStore) => KvStore & { readCell(c: string, k: readonly string[], s?: AbortSignal): Promise<ReadResult[]> }; cell: string }>;
  /** Whether a base read is a shard-index read. */
  isIndexRead(options: ReadOptions | undefined): boolean;
}

const zarr3: Layout = {
  name: 'zarr3 sharding_indexed',
  async fill(base, n) {
    const format = await ShardFormat.create(
      { chunk_shape: [1, 4], codecs: [{ name: 'bytes', configuration: { endian: 'little' } }] },
      { dtype: 'uint8', shape: [n, 4], fillValue: 0 },
    );
    const adapter = (b: KvStore) => new ShardedStore(b, format, (pos) => `c/${pos.join('/')}`);
    const keys = Array.from({ length: n }, (_, i) => ShardedStore.keyOf([i, 0]));
    const st = adapter(base);
    const updates = new Map<string, CellUpdate>(keys.map((k, i) => [k, { fn: async () => chunkBytes(i), overwrite: true }]));
    await st.updateCell(st.cellOf(keys[0]!), updates);
    return { keys, adapter, cell: st.cellOf(keys[0]!) };
  },
  isIndexRead: (o) => o?.byteRange !== undefined && 'suffix' in o.byteRange,
};

const precomputed: Layout = {
  name: 'neuroglancer_uint64_sharded_v1',
  async fill(base, n) {
    const sharding = parseShardingSpec({ '@type': 'neuroglancer_uint64_sharded_v1', preshift_bits: 0, hash: 'identity', minishard_bits: 1, shard_bits: 0, minishard_index_encoding: 'gzip' });
    const adapter = (b: KvStore) => new Uint64ShardedStore(b, sharding, { prefix: 's/' });
    const keys = Array.from({ length: n }, (_, i) => chunkIdKey(BigInt(i)));
    const st = adapter(base);
    const updates = new Map<string, CellUpdate>(keys.map((k, i) => [k, { fn: async () => chunkBytes(i), overwrite: true }]));
    await st.updateCell(st.cellOf(keys[0]!), updates);
    return { keys, adapter, cell: st.cellOf(keys[0]!) };
  },
  isIndexRead: (o) => o?.byteRange !== undefined && 'offset' in o.byteRange && o.byteRange.offset === 0 && o.ifEqual === undefined,
};

for (const layout of [zarr3, precomputed]) {
  describe(`${layout.name}: shared in-flight shard reads`, () => {
    it('N concurrent readers of one shard, one aborts early: the others get exact data from one index read', async () => {
      const base = new GatedStore();
      const { keys, adapter, cell } = await layout.fill(base, 8);
      const st = adapter(base);
      base.reads = [];
      base.hold();
      const acs = keys.slice(0, 5).map(() => new AbortController());
      // Reader 0 asks first, so it owns nothing: its abort must not fail the others.
      const results = acs.map((ac, i) =>
        (i % 2 === 0 ? st.read(keys[i]!, { signal: ac.signal }) : st.readCell(cell, [keys[i]!, keys[i + 3]!], ac.signal).then((r) => r[0]!))
          .then((r) => ({ ok: r }), (e: unknown) => ({ err: e })),
      );
      await until(() => base.waiting >= 1);
      acs[0]!.abort(new Error('viewer moved on'));
      const first = await results[0]!;
      expect((first as { err: unknown }).err).toBeInstanceOf(AbortError);
      expect(base.cancelled).toBe(0); // the index fetch goes on for the other readers
      base.let();
      for (let i = 1; i < acs.length; i++) {
        const r = (await results[i]!) as { ok?: ReadResult; err?: unknown };
        expect(r.err, `reader ${i}`).toBeUndefined();
        expect(r.ok!.state).toBe('value');
        expect(Array.from((r.ok as { value: Uint8Array }).value)).toEqual(Array.from(chunkBytes(i)));
      }
      expect(base.reads.filter((r) => layout.isIndexRead(r.options)).length).toBe(1);
    });

    it('every reader aborting cancels the shared request; a later reader starts afresh', async () => {
      const base = new GatedStore();
      const { keys, adapter, cell } = await layout.fill(base, 8);
      const st = adapter(base);
      base.hold();
      const acs = [0, 1, 2].map(() => new AbortController());
      const results = acs.map((ac, i) => st.readCell(cell, [keys[i]!], ac.signal).catch((e: unknown) => e));
      await until(() => base.waiting >= 1);
      acs[0]!.abort();
      acs[1]!.abort();
      await new Promise((r) => setTimeout(r, 5));
      expect(base.cancelled).toBe(0);
      acs[2]!.abort();
      for (const r of results) expect(await r).toBeInstanceOf(AbortError);
      expect(base.cancelled).toBe(1);
      base.let();
      const again = await st.read(keys[1]!);
      expect(Array.from((again as { value: Uint8Array }).value)).toEqual(Array.from(chunkBytes(1)));
    });

    it('an aborted reader of a warm shard leaves a concurrent reader of the same merged range its data', async () => {
      const base = new GatedStore();
      const { keys, adapter, cell } = await layout.fill(base, 8);
      const st = adapter(base);
      await st.readCell(cell, keys); // warm: the index (and minishards) are cached
      base.reads = [];
      base.hold();
      const a = new AbortController();
      const b = new AbortController();
      const pa = st.readCell(cell, keys, a.signal).catch((e: unknown) => e);
      const pb = st.readCell(cell, keys, b.signal);
      await until(() => base.waiting >= 1);
      a.abort();
      expect(await pa).toBeInstanceOf(AbortError);
      base.let();
      const got = await pb;
      got.forEach((r, i) => expect(Array.from((r as { value: Uint8Array }).value)).toEqual(Array.from(chunkBytes(i))));
      expect(base.reads.length).toBe(1); // one merged data read served both
      expect(base.cancelled).toBe(0);
    });
  });
}

describe('shared shard reads on the GCS emulator', () => {
  let emu: Emulator;
  const LATENCY = 300;
  beforeAll(async () => {
    emu = await startEmulator({ buckets: ['vol'] });
  });
  afterAll(async () => {
    await emu.stop();
  });

  for (const layout of [zarr3, precomputed]) {
    it(`${layout.name}: one reader aborting leaves the others their data; all aborting cancels the request`, async () => {
      emu.setLatency(0);
      const gcs = new GcsStore({ bucket: 'vol', path: `shared-abort-${layout === zarr3 ? 'z' : 'p'}/`, endpoint: emu.url });
      const { keys, adapter, cell } = await layout.fill(gcs, 6);
      emu.setLatency(LATENCY);

      // One of three readers aborts while the index request is in flight.
      let st = adapter(gcs);
      emu.resetCounters();
      const acs = [0, 1, 2].map(() => new AbortController());
      const ps = acs.map((ac, i) => st.readCell(cell, [keys[i]!], ac.signal).then((r) => r[0]!, (e: unknown) => e));
      await new Promise((r) => setTimeout(r, LATENCY / 3));
      acs[0]!.abort();
      expect(await ps[0]).toBeInstanceOf(AbortError);
      for (const i of [1, 2]) expect(Array.from(((await ps[i]) as { value: Uint8Array }).value)).toEqual(Array.from(chunkBytes(i)));
      const served = emu.counters();
      expect(served.bytesOut).toBeGreaterThan(0);

      // Every reader aborts while the (fresh adapter's) index request waits: the emulator never
      // sends its response, because the client cancelled the request.
      st = adapter(gcs);
      emu.resetCounters();
      const all = [0, 1, 2].map(() => new AbortController());
      const qs = all.map((ac, i) => st.readCell(cell, [keys[i]!], ac.signal).catch((e: unknown) => e));
      await new Promise((r) => setTimeout(r, LATENCY / 3));
      for (const ac of all) ac.abort();
      for (const q of qs) expect(await q).toBeInstanceOf(AbortError);
      await new Promise((r) => setTimeout(r, LATENCY * 3)); // past the latency, when a live request would be answered
      const c = emu.counters();
      expect(c.requests.byKind.media ?? 0).toBe(1); // the one shared index request arrived...
      expect(c.bytesOut).toBe(0); // ...and was cancelled before any byte of its answer
    });
  }
});
