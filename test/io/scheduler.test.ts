/**
 * The request scheduler: priority-aware limiters (demand before prefetch, prefetch never holding
 * every slot, raisable priorities, slots freed at once on abort) and byte-range coalescing across
 * callers of one shard.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Context, NdArray, open } from '../../src/index.js';
import { AbortError } from '../../src/errors.js';
import type { ReadOptions, ReadResult } from '../../src/kvstore/kvstore.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { COALESCE_BUSY_READS, COALESCE_GAP, COALESCE_GAP_BUSY } from '../../src/sharding/coalesce.js';
import { ShardFormat } from '../../src/sharding/zarr3.js';
import { ShardedStore } from '../../src/sharding/zarr3-store.js';
import { type Emulator, startEmulator } from '../../src/testing/index.js';
import { Limiter, RequestPriority } from '../../src/util/limiter.js';

const deferred = <T = void>() => {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((res) => (resolve = res));
  return { promise, resolve };
};
const tick = () => new Promise((r) => setTimeout(r, 0));
const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
};

describe('Limiter with priorities', () => {
  it('waiting demand tasks start before waiting prefetch tasks, each in FIFO order', async () => {
    const lim = new Limiter(1);
    const gate = deferred();
    const order: string[] = [];
    const first = lim.run(() => gate.promise);
    const ps = [
      lim.run(async () => void order.push('p1'), undefined, 'prefetch'),
      lim.run(async () => void order.push('p2'), undefined, 'prefetch'),
      lim.run(async () => void order.push('d1')),
      lim.run(async () => void order.push('d2'), undefined, 'demand'),
    ];
    await tick();
    expect(lim.pending).toBe(4);
    expect(lim.pendingPrefetch).toBe(2);
    gate.resolve();
    await Promise.all([first, ...ps]);
    expect(order).toEqual(['d1', 'd2', 'p1', 'p2']);
    expect(lim.started).toBe(5);
  });

  it('prefetch tasks never hold every slot: a demand task arriving during a prefetch burst starts at once', async () => {
    const lim = new Limiter(8);
    expect(lim.prefetchLimit).toBe(6);
    const gate = deferred();
    const prefetches = Array.from({ length: 20 }, () => lim.run(() => gate.promise, undefined, 'prefetch'));
    await tick();
    expect(lim.activePrefetch).toBe(6);
    expect(lim.active).toBe(6);
    let started = false;
    const demand = lim.run(async () => void (started = true));
    await tick();
    expect(started).toBe(true);
    gate.resolve();
    await Promise.all([demand, ...prefetches]);
    expect(new Limiter(1).prefetchLimit).toBe(1);
  });

  it('a raised RequestPriority moves its waiting task to the demand queue', async () => {
    const lim = new Limiter(1);
    const gate = deferred();
    const order: string[] = [];
    const first = lim.run(() => gate.promise);
    const ticket = new RequestPriority('prefetch');
    const ps = [
      lim.run(async () => void order.push('p1'), undefined, 'prefetch'),
      lim.run(async () => void order.push('raised'), undefined, ticket),
      lim.run(async () => void order.push('d1')),
    ];
    await tick();
    ticket.raise();
    expect(ticket.level).toBe('demand');
    gate.resolve();
    await Promise.all([first, ...ps]);
    expect(order).toEqual(['d1', 'raised', 'p1']);
  });

  it('an aborted waiting prefetch leaves the queue at once', async () => {
    const lim = new Limiter(1);
    const gate = deferred();
    const first = lim.run(() => gate.promise);
    const ac = new AbortController();
    const p = lim.run(async () => 'ran', ac.signal, 'prefetch');
    await tick();
    expect(lim.pendingPrefetch).toBe(1);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
    expect(lim.pending).toBe(0);
    gate.resolve();
    await first;
    expect(lim.active).toBe(0);
  });
});

describe('stores: demand before prefetch under a saturated limit (GCS emulator)', () => {
  const BUCKET = 'sched-test';
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ buckets: [BUCKET] });
  });
  afterAll(async () => {
    await emu.stop();
  });
  afterEach(() => emu.setLatency(0));

  const media = () => emu.counters().requests.byKind.media ?? 0;

  async function volume(path: string, limit: number) {
    const kv = { driver: 'gcs', bucket: BUCKET, path, endpoint: emu.url };
    const w = await open({ driver: 'zarr3', kvstore: kv, create: true, dtype: 'uint8', schema: { domain: { shape: [16, 64] }, chunk_layout: { chunk: { shape: [16, 4] } } } } as never);
    await w.write(NdArray.zeros('uint8', [16, 64], 1));
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 24 }, gcs_request_concurrency: { limit } });
    return { vol: await open({ driver: 'zarr3', kvstore: kv, recheck_cached_data: 'open' } as never, { context }), context };
  }

  it('a demand read waits only for the prefetch request in flight, not for the queued ones', async () => {
    const { vol, context } = await volume('demand-first/', 1);
    emu.setLatency(60);
    const before = media();
    const prefetch = vol.slice([null, [0, 32]]).prefetch({ concurrency: 8 }); // 8 chunks, 1 slot
    const lim = () => context.stats().requestsByResource.gcs_request_concurrency!;
    await until(() => lim().activePrefetch === 1 && lim().pendingPrefetch === 7);
    await vol.slice([null, [60, 64]]).read(); // another chunk, at demand priority
    // The prefetch request that held the slot, then ours; FIFO would have served all 8 first.
    expect(media() - before).toBe(2);
    expect(await prefetch).toMatchObject({ chunks: 8, loaded: 8 });
  });

  it('aborting a prefetch frees its limiter places at once and cancels its requests', async () => {
    const { vol, context } = await volume('abort-frees/', 2);
    emu.setLatency(200);
    const ac = new AbortController();
    const before = media();
    const p = vol.slice([null, [0, 32]]).prefetch({ signal: ac.signal, concurrency: 8 }).catch((e: unknown) => e);
    await until(() => media() > before); // a prefetch request is at the server, its answer 200 ms away
    const bytes = emu.counters().bytesOut;
    ac.abort();
    expect(context.stats().requestsByResource.gcs_request_concurrency!.pending).toBe(0); // queued ones left synchronously
    expect(await p).toBeInstanceOf(AbortError);
    await until(() => context.stats().requestsByResource.gcs_request_concurrency!.active === 0); // the running one, once its fetch aborted
    await new Promise((r) => setTimeout(r, 300));
    expect(emu.counters().bytesOut).toBe(bytes); // the requests in flight were cancelled, no body sent
    expect(context.stats().cache.prefetch.dropped).toBeGreaterThan(0);
  });
});

describe('byte ranges of one shard read by different callers at nearly the same time are merged', () => {
  class Counting extends MemoryStore {
    reads: ReadOptions[] = [];
    override coalesceGap = 256 * 1024;
    override async read(key: string, options?: ReadOptions): Promise<ReadResult> {
      this.reads.push(options ?? {});
      return super.read(key, options);
    }
  }

  async function shard(base: Counting) {
    const format = await ShardFormat.create(
      { chunk_shape: [1, 256], codecs: [{ name: 'bytes' }] },
      { dtype: 'uint8', shape: [8, 256], fillValue: 0 },
    );
    const st = new ShardedStore(base, format, () => 'shard');
    const updates = new Map(Array.from({ length: 8 }, (_, i) => [`${i},0`, { fn: async () => new Uint8Array(256).fill(i + 1), overwrite: true }] as const));
    await st.updateCell(st.cellOf('0,0'), updates);
    return st;
  }

  it('two callers reading inner chunks 1 and 3 together cost one request; apart, two', async () => {
    const base = new Counting();
    const st = await shard(base);
    await st.read('0,0'); // the index is cached now
    base.reads = [];
    const [a, b] = await Promise.all([st.read('1,0'), st.read('3,0')]);
    expect([(a as { value: Uint8Array }).value[0], (b as { value: Uint8Array }).value[0]]).toEqual([2, 4]);
    expect(base.reads.length).toBe(1);
    expect(base.reads[0]!.byteRange).toEqual({ offset: 256, length: 3 * 256 }); // the gap (chunk 2) is read and dropped
    base.reads = [];
    await st.read('1,0');
    await st.read('3,0');
    expect(base.reads.length).toBe(2);
  });

  it('a gap wider than the store\'s coalesceGap splits the read', async () => {
    const base = new Counting();
    base.coalesceGap = 100;
    const st = await shard(base);
    await st.read('0,0');
    base.reads = [];
    await Promise.all([st.read('1,0'), st.read('3,0'), st.read('4,0')]);
    expect(base.reads.map((o) => o.byteRange)).toEqual([{ offset: 256, length: 256 }, { offset: 768, length: 512 }]);
  });

  it('a range inside a merged read in flight joins it; the read is cancelled only when every caller aborted', async () => {
    const base = new Counting();
    const st = await shard(base);
    await st.read('0,0');
    const gate = deferred();
    const orig = base.read.bind(base);
    let signal: AbortSignal | undefined;
    vi.spyOn(base, 'read').mockImplementation(async (key, options) => {
      signal = options?.signal;
      await gate.promise;
      return orig(key, options);
    });
    base.reads = [];
    const ac1 = new AbortController();
    const ac2 = new AbortController();
    const wide = st.readCell('shard', ['1,0', '2,0', '3,0'], ac1.signal).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 5)); // the merged read [256, 1024) is in flight
    const inner = st.read('2,0', { signal: ac2.signal });
    await new Promise((r) => setTimeout(r, 5)); // it has joined the merged read
    ac1.abort();
    expect(await wide).toBeInstanceOf(AbortError);
    expect(signal!.aborted).toBe(false); // the joined caller still waits
    gate.resolve();
    expect(((await inner) as { value: Uint8Array }).value[0]).toBe(3);
    expect(base.reads.length).toBe(1);
  });

  it('stores that set no coalesceGap: 32 KiB bridged while idle, 1 MiB once 16 merged reads are in flight (measured: bench/coalesce-gap.ts)', async () => {
    expect([COALESCE_GAP, COALESCE_GAP_BUSY, COALESCE_BUSY_READS]).toEqual([32 * 1024, 1024 * 1024, 16]);
    const mem = new MemoryStore();
    const CH = 20 * 1024; // inner chunk bytes: chunks 1 and 4 are 40 KiB apart
    let gate: Promise<void> | undefined;
    const reads: string[] = [];
    const base = {
      url: 'gated://', readOnly: false,
      read: async (key: string, o?: ReadOptions) => {
        reads.push(key);
        if (gate && key !== 's0') await gate;
        return mem.read(key, o);
      },
      write: (k: string, v: Uint8Array, o?: ReadOptions) => mem.write(k, v, o as never),
      delete: (k: string) => mem.delete(k),
      deleteRange: (p: string) => mem.deleteRange(p),
      list: (p: string) => mem.list(p),
      spec: () => ({}),
    };
    const format = await ShardFormat.create({ chunk_shape: [1, CH], codecs: [{ name: 'bytes' }] }, { dtype: 'uint8', shape: [8, CH], fillValue: 0 });
    const st = new ShardedStore(base, format, (pos) => `s${pos[0]}`);
    for (let shard = 0; shard <= 16; shard++) {
      const updates = new Map(Array.from({ length: 8 }, (_, i) => [`${shard * 8 + i},0`, { fn: async () => new Uint8Array(CH).fill(i + 1), overwrite: true }] as const));
      await st.updateCell(st.cellOf(`${shard * 8},0`), updates);
      await st.read(`${shard * 8},0`); // caches the shard's index
    }
    reads.length = 0;
    await Promise.all([st.read('1,0'), st.read('4,0')]);
    expect(reads).toEqual(['s0', 's0']); // idle: split
    const hold = deferred();
    gate = hold.promise;
    reads.length = 0;
    const busy = Array.from({ length: 16 }, (_, i) => st.read(`${(i + 1) * 8},0`));
    await until(() => reads.length === 16); // 16 merged reads in flight
    reads.length = 0;
    const [a, b] = await Promise.all([st.read('1,0'), st.read('4,0')]);
    expect(reads).toEqual(['s0']); // busy: one read bridging the 40 KiB gap
    expect([(a as { value: Uint8Array }).value[0], (b as { value: Uint8Array }).value[0]]).toEqual([2, 5]);
    hold.resolve();
    await Promise.all(busy);
  });
});
