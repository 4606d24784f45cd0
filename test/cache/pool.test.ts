/**
 * The cache pool (src/cache/pool.ts) on its own: the byte bound under a random workload of
 * every entry kind, shared loads, failed loads, invalidation, prefetch accounting.
 */
import { describe, expect, it } from 'vitest';
import { CACHE_ENTRY_KINDS, CachePool, DEFAULT_INDEX_BYTES, ENTRY_OVERHEAD_BYTES, stalenessBound } from '../../src/cache/pool.js';
import { AbortError } from '../../src/errors.js';
import { mulberry32 } from '../../src/testing/prng.js';

const deferred = <T>() => {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};

describe('CachePool: one byte budget', () => {
  it('bytes charged never exceed the limit under a random workload of every kind (per-kind sums agree)', () => {
    const limit = 64 * 1024;
    const pool = new CachePool(limit);
    const r = mulberry32(7);
    for (let step = 0; step < 20000; step++) {
      const key = `k${Math.floor(r() * 400)}`;
      const op = r();
      if (op < 0.6) {
        const kind = CACHE_ENTRY_KINDS[Math.floor(r() * CACHE_ENTRY_KINDS.length)]!;
        const bytes = Math.floor(r() ** 3 * 20000);
        pool.set(key, kind, { step }, `g${step}`, bytes, step, r() < 0.3);
      } else if (op < 0.85) {
        pool.fresh(key, -Infinity, r() < 0.5 ? 'demand' : 'prefetch');
      } else if (op < 0.95) {
        pool.invalidate(key);
      } else {
        pool.delete(key);
      }
      const s = pool.stats();
      expect(s.bytesUsed).toBeLessThanOrEqual(limit);
      const byKind = CACHE_ENTRY_KINDS.reduce((n, k) => n + s.byKind[k].bytes, 0);
      expect(byKind).toBe(s.bytesUsed);
      expect(CACHE_ENTRY_KINDS.reduce((n, k) => n + s.byKind[k].entries, 0)).toBe(s.entries);
      expect(s.prefetch.unusedBytes).toBeGreaterThanOrEqual(0);
      expect(s.prefetch.unusedBytes).toBeLessThanOrEqual(s.bytesUsed);
    }
    const s = pool.stats();
    expect(s.evictions).toBeGreaterThan(100); // the bound was exercised
    expect(s.entries).toBeGreaterThan(0);
  });

  it('least recently used goes first; a use refreshes; an entry over the budget is not kept', () => {
    const per = 1000;
    const pool = new CachePool(3 * (per + ENTRY_OVERHEAD_BYTES));
    for (const k of ['a', 'b', 'c']) pool.set(k, 'chunk', k, 'g', per, 0);
    expect(pool.fresh('a', -Infinity)).toBeDefined(); // a is now the most recent
    pool.set('d', 'shard-index', 'd', 'g', per, 0); // evicts b
    expect([...['a', 'b', 'c', 'd']].filter((k) => pool.has(k))).toEqual(['a', 'c', 'd']);
    expect(pool.set('huge', 'metadata', 'x', 'g', 4 * per, 0)).toBe(false);
    expect(pool.stats().byKind.chunk.evictions).toBe(1);
  });

  it('with a limit of 0 no chunk is kept, but metadata and indexes are (within DEFAULT_INDEX_BYTES)', () => {
    const pool = new CachePool(0);
    expect(pool.set('c', 'chunk', 1, 'g', 10, 0)).toBe(false);
    expect(pool.set('i', 'shard-index', 1, 'g', 10, 0)).toBe(true);
    expect(pool.set('m', 'metadata', 1, 'g', 10, 0)).toBe(true);
    expect(pool.stats().capacityBytes).toBe(DEFAULT_INDEX_BYTES);
  });
});

describe('CachePool: staleness', () => {
  it('an entry is fresh for bounds at or before its verification time', () => {
    const pool = new CachePool(1 << 20);
    pool.set('k', 'chunk', 'v', 'g1', 10, 1000);
    expect(pool.fresh('k', 999)).toBeDefined();
    expect(pool.fresh('k', 1000)).toBeDefined();
    expect(pool.fresh('k', 1001)).toBeUndefined();
    pool.revalidated('k', 2000);
    expect(pool.fresh('k', 1500)).toBeDefined();
    expect(pool.stats().revalidations).toBe(1);
  });

  it('stalenessBound follows TensorStore: true = the operation, false = never, "open", seconds since the epoch', () => {
    expect(stalenessBound(true, 5, 9)).toBe(9);
    expect(stalenessBound(false, 5, 9)).toBe(-Infinity);
    expect(stalenessBound('open', 5, 9)).toBe(5);
    expect(stalenessBound(1700000000, 5, 9)).toBe(1700000000 * 1000);
  });
});

describe('CachePool: shared loads', () => {
  it('concurrent loads of one key run the work once; a caller aborting leaves the others their result', async () => {
    const pool = new CachePool(1 << 20);
    const gate = deferred<string>();
    let runs = 0;
    const work = async () => {
      runs++;
      return gate.promise;
    };
    const ac = new AbortController();
    const a = pool.load('k', { bound: -Infinity, signal: ac.signal }, work);
    const b = pool.load('k', { bound: -Infinity }, work);
    const c = pool.load('k', { bound: -Infinity }, work);
    expect(pool.inFlight).toBe(1);
    ac.abort();
    await expect(a).rejects.toBeInstanceOf(AbortError);
    gate.resolve('value');
    expect(await b).toBe('value');
    expect(await c).toBe('value');
    expect(runs).toBe(1);
    expect(pool.stats().joined).toBe(2);
    expect(pool.inFlight).toBe(0);
  });

  it('the work is cancelled only when every caller has aborted', async () => {
    const pool = new CachePool(1 << 20);
    let workSignal: AbortSignal | undefined;
    const work = (ctx: { signal: AbortSignal | undefined }) => {
      workSignal = ctx.signal;
      return new Promise<string>(() => undefined);
    };
    const acs = [new AbortController(), new AbortController()];
    const ps = acs.map((ac) => pool.load('k', { bound: -Infinity, signal: ac.signal }, work).catch((e: unknown) => e));
    acs[0]!.abort();
    await ps[0];
    expect(workSignal!.aborted).toBe(false);
    acs[1]!.abort();
    await ps[1];
    expect(workSignal!.aborted).toBe(true);
  });

  it('a load started before the caller\'s staleness bound is not joined', async () => {
    const pool = new CachePool(1 << 20);
    const gate = deferred<string>();
    let runs = 0;
    const a = pool.load('k', { bound: -Infinity }, async () => (runs++, gate.promise));
    const later = performance.timeOrigin + performance.now() + 1;
    const b = pool.load('k', { bound: later }, async () => (runs++, 'fresh'));
    gate.resolve('old');
    expect([await a, await b]).toEqual(['old', 'fresh']);
    expect(runs).toBe(2);
  });

  it('a failed load stores nothing and the next caller starts afresh', async () => {
    const pool = new CachePool(1 << 20);
    const fail = pool.load('k', { bound: -Infinity }, async (ctx) => {
      throw new Error(`boom ${ctx.storable}`);
    });
    await expect(fail).rejects.toThrow('boom true');
    expect(pool.has('k')).toBe(false);
    expect(pool.inFlight).toBe(0);
    expect(await pool.load('k', { bound: -Infinity }, async () => 'ok')).toBe('ok');
  });

  it('joined counts the callers that joined; seal closes the load to new callers (they start their own)', async () => {
    const pool = new CachePool(0);
    const gate = deferred<void>();
    const seen: number[] = [];
    let runs = 0;
    const work = async (ctx: { joined: number; seal(): void }) => {
      runs++;
      await gate.promise;
      seen.push(ctx.joined);
      ctx.seal();
      return `run ${runs}`;
    };
    const first = pool.load('k', { bound: -Infinity }, work);
    const joiner = pool.load('k', { bound: -Infinity }, work);
    gate.resolve();
    expect(await first).toBe('run 1');
    expect(await joiner).toBe('run 1'); // joined before the seal: shares the result
    expect(seen).toEqual([1]);
    const gate2 = deferred<void>();
    let sealed!: () => void;
    const lone = pool.load('j', { bound: -Infinity }, async (ctx) => {
      sealed = () => ctx.seal();
      await gate2.promise;
      return 'lone';
    });
    await Promise.resolve();
    sealed();
    expect(pool.inFlightFor('j', -Infinity)).toBe(false);
    const after = pool.load('j', { bound: -Infinity }, async () => 'own');
    gate2.resolve();
    expect(await lone).toBe('lone');
    expect(await after).toBe('own'); // started its own load after the seal
  });

  it('invalidate: a load in flight across a write delivers but may not store; later callers do not join it', async () => {
    const pool = new CachePool(1 << 20);
    const gate = deferred<void>();
    let storable: boolean | undefined;
    const old = pool.load('k', { bound: -Infinity }, async (ctx) => {
      await gate.promise;
      storable = ctx.storable;
      return 'old';
    });
    pool.invalidate('k');
    expect(pool.inFlightFor('k', -Infinity)).toBe(false);
    const fresh = pool.load('k', { bound: -Infinity }, async () => 'new');
    gate.resolve();
    expect(await old).toBe('old');
    expect(storable).toBe(false);
    expect(await fresh).toBe('new');
  });
});

describe('CachePool: prefetch accounting', () => {
  it('reservations and unused prefetched bytes stay within the budget; a demand use is a prefetch hit', () => {
    const pool = new CachePool(1 << 20);
    const budget = 3000;
    expect(pool.reservePrefetch(1000, budget)).toBe(true);
    expect(pool.reservePrefetch(1000, budget)).toBe(true);
    expect(pool.reservePrefetch(1500, budget)).toBe(false);
    expect(pool.stats().prefetch.skipped).toBe(1);
    pool.set('p', 'chunk', 'v', 'g', 1000 - ENTRY_OVERHEAD_BYTES, 0, true);
    pool.releasePrefetch(1000);
    expect(pool.stats().prefetch).toMatchObject({ unusedBytes: 1000, reservedBytes: 1000 });
    pool.fresh('p', -Infinity, 'prefetch'); // a prefetch looking: not a use
    expect(pool.stats().prefetch.hits).toBe(0);
    pool.fresh('p', -Infinity, 'demand');
    expect(pool.stats().prefetch).toMatchObject({ hits: 1, unusedBytes: 0 });
    pool.releasePrefetch(1000);
  });

  it('a prefetched entry evicted before any demand use counts as wasted', () => {
    const pool = new CachePool(2 * (100 + ENTRY_OVERHEAD_BYTES));
    pool.set('p', 'chunk', 'v', 'g', 100, 0, true);
    pool.set('a', 'chunk', 'v', 'g', 100, 0);
    pool.set('b', 'chunk', 'v', 'g', 100, 0);
    expect(pool.stats().prefetch).toMatchObject({ wasted: 1, unusedBytes: 0 });
  });

  it('a demand caller joining a prefetch load raises its priority and counts a prefetch hit', async () => {
    const pool = new CachePool(1 << 20);
    const gate = deferred<string>();
    let level: string | undefined;
    let ticket: { level: string } | undefined;
    const p = pool.load('k', { bound: -Infinity, priority: 'prefetch' }, async (ctx) => {
      ticket = ctx.priority;
      level = ctx.priority.level;
      return gate.promise;
    });
    expect(level).toBe('prefetch');
    const counters = { hits: 0, misses: 0, prefetchHits: 0, joined: 0 };
    const d = pool.load('k', { bound: -Infinity, counters }, async () => 'unused');
    expect(ticket!.level).toBe('demand');
    gate.resolve('v');
    expect([await p, await d]).toEqual(['v', 'v']);
    expect(pool.stats().prefetch.hits).toBe(1);
    expect(counters).toMatchObject({ prefetchHits: 1, joined: 1 });
  });
});
