/**
 * Prefetching: warming the Context's cache pool ahead of demand reads.
 *
 * - {@link prefetchRegion}: one region, now (`Volume.prefetch()`).
 * - {@link Prefetcher}: a per-handle policy (`Volume.withPrefetch()`) that watches the handle's
 *   demand reads and keeps a window of chunks ahead of them loading: `neighbors` (the chunks
 *   next to the last read along the scroll axis, `depth` chunks deep: a viewer) or `sequential`
 *   (the next `depth` regions of the same shape in iteration order: a crop service walking a
 *   volume).
 *
 * Scheduling (with the request limiters and the shard read path's range merging, this is the
 * request scheduler: docs/ARCHITECTURE.md, "Cache pool, scheduler and prefetch"): prefetch
 * loads run at prefetch priority in the stores' limiters (after every waiting demand request,
 * never holding every slot); a `neighbors` prefetcher starts new loads only while no demand
 * read of its handle is running, a `sequential` one also during reads (read-ahead for a
 * scanner reading back to back; `duringReads`), at most `concurrency` (4) at a time; when a demand
 * read moves the window, every prefetch load outside it is aborted at once (its limiter slot or
 * queue place frees; the load itself is cancelled unless a demand read has joined it). A demand
 * read that needs a chunk being prefetched joins that load and raises it to demand priority.
 * Prefetched bytes not yet used by a demand read, plus those in flight, stay within a byte budget
 * (default a quarter of the cache), so prefetching never evicts the most recently read
 * `limit - budget` bytes.
 */
import { dtypeSize } from '../array/dtype.js';
import { boxPositions, gridCount, gridPositions } from '../array/grid.js';
import type { CachePool } from '../cache/pool.js';
import { AbortError, SpecError, throwIfAborted } from '../errors.js';
import type { IndexTransform } from '../index-space/index.js';
import type { Priority } from '../util/limiter.js';
import { isCellReadable } from '../kvstore/kvstore.js';
import { SignalFan } from '../util/signal-fan.js';
import type { ChunkDriver, ChunkGrid } from './chunk-driver.js';
import { loadChunk, type PlanOptions, viewBounds, viewChunkAxes } from './planner.js';

/** The prefetch policies of {@link Prefetcher}. */
export type PrefetchPolicyName = 'off' | 'neighbors' | 'sequential';

/** A handle's prefetch policy (`Volume.withPrefetch()`). */
export interface PrefetchPolicy {
  /**
   * `neighbors`: after each demand read, the chunks next to it along the scroll axis, `depth`
   * chunks deep, in the direction the reads move (both ways until they have moved).
   * `sequential`: the next `depth` regions of the last read's shape in iteration order (the
   * step between the last two reads, repeated; C order over the domain when that leaves it or
   * is unknown). `off`: no prefetching.
   */
  policy: PrefetchPolicyName;
  /**
   * `neighbors`: the scroll axis, a dimension label or index of the handle. Default: the axis
   * the last two reads moved along, else the read's thinnest axis (the fixed axis of a slice).
   */
  axis?: number | string;
  /** Chunks (`neighbors`) or regions (`sequential`) ahead. Default 1. */
  depth?: number;
  /**
   * Byte budget of prefetched data not yet used plus prefetches in flight (decoded bytes).
   * Default: a quarter of `cache_pool.total_bytes_limit`.
   */
  budgetBytes?: number;
  /**
   * Prefetch loads in flight at once (the queued chunks of one shard start together beyond it).
   * Default {@link DEFAULT_POLICY_CONCURRENCY}.
   */
  concurrency?: number;
  /**
   * Start prefetch loads while a demand read of the handle runs (they still queue behind every
   * demand request in the stores' limiters). Default: true for `sequential` (a scanner reading
   * back to back has no idle time between reads: read-ahead must overlap them), false for
   * `neighbors` (a viewer's slice on screen gets the CPU first; prefetching runs between reads).
   */
  duringReads?: boolean;
}

/** What {@link prefetchRegion} did. */
export interface PrefetchResult {
  /** Chunks in the region. */
  chunks: number;
  /** Chunks already cached (fresh) or being loaded by someone else. */
  present: number;
  /** Chunks loaded into the cache. */
  loaded: number;
  /** Chunks not loaded because the prefetch byte budget was spent. */
  skipped: number;
}

/** Default share of the cache a prefetch may fill with data no demand read has used yet. */
export const DEFAULT_PREFETCH_BUDGET_SHARE = 0.25;

/** Default chunk loads in flight of `vol.prefetch()` (a region wanted now, as fast as it comes). */
export const DEFAULT_PREFETCH_CONCURRENCY = 16;

/**
 * Default prefetch loads in flight of a handle's policy: 4. Background prefetching must leave
 * CPU for the reads being shown; on the viewer-scroll bench (2 cores, 20 ms latency) 4 loaded a
 * 64-chunk layer well within the 1.28 s the scroll took to cross the previous one, with p95
 * equal or lower than with 16 (provisional, busy machine).
 */
export const DEFAULT_POLICY_CONCURRENCY = 4;

/** Decoded bytes of one read chunk. */
function chunkBytesOf(grid: ChunkGrid): number {
  return grid.chunkShape.reduce((n, c) => n * c, dtypeSize(grid.dtype));
}

/** The pool a prefetch warms; a SpecError when chunks are not cached (nothing to warm). */
function poolOf(opts: PlanOptions): CachePool {
  const pool = opts.cache;
  if (!pool?.cachesChunks) {
    throw new SpecError('context.cache_pool.total_bytes_limit', 'prefetching needs a cache: set cache_pool.total_bytes_limit in the Context (it is 0, TensorStore\'s default)');
  }
  return pool;
}

/** The cache key the planner uses for a chunk (see cacheKeyOf in planner.ts). */
function cacheKeyOf(driver: ChunkDriver, pos: readonly number[], opts: PlanOptions): string {
  return `${opts.cacheKeyPrefix ?? driver.store.url}\u0000${driver.keyOf(pos)}`;
}

/**
 * Loads every chunk of the view `t` that is not cached (fresh) or being loaded into the cache,
 * without returning data, at `priority` (default prefetch), at most `concurrency` at a time,
 * within the prefetch byte budget (default a quarter of the cache). Chunks of one shard
 * requested together share merged range reads (the shard read path batches them).
 * @throws SpecError when the Context caches no chunks; OutOfBoundsError for a view outside the
 *   domain; AbortError when `signal` fires (loads no one else waits for are cancelled);
 *   storage and decoding errors of the chunks loaded.
 */
export async function prefetchRegion(
  driver: ChunkDriver, t: IndexTransform, opts: PlanOptions & { priority?: Priority; budgetBytes?: number },
): Promise<PrefetchResult> {
  const pool = poolOf(opts);
  viewBounds(driver.grid, t);
  const axes = viewChunkAxes(driver.grid, t);
  const result: PrefetchResult = { chunks: 0, present: 0, loaded: 0, skipped: 0 };
  if (!axes) return result;
  const budget = opts.budgetBytes ?? pool.totalBytesLimit * DEFAULT_PREFETCH_BUDGET_SHARE;
  const bytes = chunkBytesOf(driver.grid);
  const o: PlanOptions = { ...opts, priority: opts.priority ?? 'prefetch', recheckBefore: opts.recheckBefore };
  const concurrency = Math.max(1, opts.concurrency ?? DEFAULT_PREFETCH_CONCURRENCY);
  result.chunks = gridCount(axes);
  const it = gridPositions(axes)[Symbol.iterator]();
  let failure: { e: unknown } | undefined;
  const fan = new SignalFan(opts.signal);
  const worker = async (): Promise<void> => {
    const child = fan.child();
    const w: PlanOptions = { ...o, signal: child.signal };
    try {
      await work(w);
    } finally {
      child.release();
    }
  };
  const work = async (w: PlanOptions): Promise<void> => {
    for (let r = it.next(); !r.done && !failure; r = it.next()) {
      throwIfAborted(opts.signal);
      const ck = cacheKeyOf(driver, r.value, o);
      if (pool.fresh(ck, o.recheckBefore ?? -Infinity, 'prefetch') || pool.inFlightFor(ck, o.recheckBefore ?? -Infinity)) {
        result.present++;
        continue;
      }
      if (!pool.reservePrefetch(bytes, budget)) {
        result.skipped++;
        continue;
      }
      try {
        await loadChunk(driver, r.value, w);
        result.loaded++;
      } catch (e) {
        failure ??= { e };
      } finally {
        pool.releasePrefetch(bytes);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    fan.dispose();
  }
  if (failure) throw failure.e;
  return result;
}

/** A prefetch load the window holds. */
interface Task {
  pos: number[];
  controller: AbortController;
  started: boolean;
}

/** An array-coordinate box [lo, hi). */
interface Box {
  lo: number[];
  hi: number[];
}

/**
 * A handle's prefetch policy at work: {@link Prefetcher.beginDemand} / {@link Prefetcher.endDemand}
 * bracket each demand read of the handle (with the read's array-coordinate box); the window
 * moves at each begin, prefetch loads outside it are aborted, and new ones start once no demand
 * read of the handle runs.
 */
export class Prefetcher {
  private readonly tasks = new Map<string, Task>();
  private queue: string[] = [];
  private running = 0;
  private demand = 0;
  private last: Box | undefined;
  private previous: Box | undefined;
  private readonly budget: number;
  private readonly depth: number;
  private readonly concurrency: number;
  private readonly chunkBytes: number;
  private readonly duringReads: boolean;

  /**
   * @param axis the scroll axis as an array dimension (undefined: inferred)
   * @param options the plan options of the handle's loads (cache pool, key prefix, staleness)
   * @throws SpecError when the Context caches no chunks, or a bad depth / budget / concurrency.
   */
  constructor(
    private readonly driver: ChunkDriver,
    readonly policy: PrefetchPolicy,
    private readonly axis: number | undefined,
    private readonly options: () => PlanOptions,
  ) {
    const pool = poolOf(options());
    this.depth = policy.depth ?? 1;
    this.concurrency = policy.concurrency ?? DEFAULT_POLICY_CONCURRENCY;
    this.budget = policy.budgetBytes ?? pool.totalBytesLimit * DEFAULT_PREFETCH_BUDGET_SHARE;
    if (!Number.isInteger(this.depth) || this.depth < 1) throw new SpecError('prefetch.depth', `must be a positive integer, got ${policy.depth}`);
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new SpecError('prefetch.concurrency', `must be a positive integer, got ${policy.concurrency}`);
    if (!(this.budget >= 0)) throw new SpecError('prefetch.budgetBytes', `must be a non-negative number, got ${policy.budgetBytes}`);
    this.chunkBytes = chunkBytesOf(driver.grid);
    this.duringReads = policy.duringReads ?? policy.policy === 'sequential';
  }

  /** Prefetch loads running now. */
  get active(): number {
    return this.running;
  }

  /** Chunks in the window not loaded yet (queued or running). */
  get windowSize(): number {
    return this.tasks.size;
  }

  /** A demand read of `t` starts: moves the window (aborting prefetches that left it). */
  beginDemand(t: IndexTransform): void {
    this.demand++;
    if (this.policy.policy === 'off' || t.inputDomain.shape.some((s) => s === 0)) return;
    let box: Box;
    try {
      box = viewBounds(this.driver.grid, t);
    } catch {
      return; // a view outside the domain: the read itself reports it; the window stays
    }
    this.previous = this.last;
    this.last = box;
    this.moveWindow(this.window());
    if (this.duringReads) this.pump();
  }

  /** A demand read ended: prefetching resumes when none is left running. */
  endDemand(): void {
    this.demand--;
    this.pump();
  }

  /** Aborts every prefetch of this handle and empties the window. */
  stop(): void {
    this.moveWindow([]);
  }

  /** Chunk positions of the window, nearest first. */
  private window(): number[][] {
    const cur = this.last!;
    const boxes = this.policy.policy === 'neighbors' ? this.neighborBoxes(cur) : this.sequentialBoxes(cur);
    const grid = this.driver.grid;
    const out: number[][] = [];
    for (const b of boxes) {
      const first = b.lo.map((l, k) => Math.floor((l - grid.origin[k]!) / grid.chunkShape[k]!));
      const last = b.hi.map((h, k) => Math.floor((h - 1 - grid.origin[k]!) / grid.chunkShape[k]!) + 1);
      for (const p of boxPositions(first, last)) out.push(p);
    }
    return out;
  }

  /** The array dimension the reads scroll along. */
  private scrollAxis(cur: Box): number {
    if (this.axis !== undefined) return this.axis;
    const prev = this.previous;
    if (prev) {
      for (let k = 0; k < cur.lo.length; k++) if (prev.lo[k] !== cur.lo[k]) return k;
    }
    let best = 0;
    for (let k = 1; k < cur.lo.length; k++) if (cur.hi[k]! - cur.lo[k]! < cur.hi[best]! - cur.lo[best]!) best = k;
    return best;
  }

  /** `neighbors`: `depth` chunk layers beyond the read along the scroll axis (clipped to the domain). */
  private neighborBoxes(cur: Box): Box[] {
    const grid = this.driver.grid;
    const a = this.scrollAxis(cur);
    const prev = this.previous;
    const moved = prev ? Math.sign(cur.lo[a]! - prev.lo[a]!) : 0;
    const dirs = moved === 0 ? [1, -1] : [moved];
    const cs = grid.chunkShape[a]!;
    const o = grid.origin[a]!;
    const d0 = o;
    const d1 = o + grid.shape[a]!;
    const firstChunk = Math.floor((cur.lo[a]! - o) / cs);
    const lastChunk = Math.floor((cur.hi[a]! - 1 - o) / cs);
    const boxes: Box[] = [];
    for (let d = 1; d <= this.depth; d++) {
      for (const dir of dirs) {
        const c = dir > 0 ? lastChunk + d : firstChunk - d;
        const lo = Math.max(d0, o + c * cs);
        const hi = Math.min(d1, o + (c + 1) * cs);
        if (hi <= lo) continue;
        const b = { lo: [...cur.lo], hi: [...cur.hi] };
        b.lo[a] = lo;
        b.hi[a] = hi;
        boxes.push(b);
      }
    }
    return boxes;
  }

  /**
   * `sequential`: the next `depth` regions of the read's shape (repeated step, else C order)
   * that reach beyond the chunks of the current read: regions lying within those chunks (the
   * next thin slices of a chunk layer the read just loaded) need nothing and do not count.
   */
  private sequentialBoxes(cur: Box): Box[] {
    const grid = this.driver.grid;
    const rank = cur.lo.length;
    const extent = cur.lo.map((l, k) => cur.hi[k]! - l);
    const d0 = grid.origin;
    const d1 = grid.origin.map((o, k) => o + grid.shape[k]!);
    const inside = (b: Box) => b.lo.every((l, k) => l >= d0[k]! && b.hi[k]! <= d1[k]! && b.hi[k]! > l);
    const step = this.previous ? cur.lo.map((l, k) => l - this.previous!.lo[k]!) : undefined;
    const cs = grid.chunkShape;
    const chunkLo = cur.lo.map((l, k) => Math.floor((l - d0[k]!) / cs[k]!));
    const chunkHi = cur.hi.map((h, k) => Math.floor((h - 1 - d0[k]!) / cs[k]!));
    const withinCurrent = (b: Box) => b.lo.every((l, k) => Math.floor((l - d0[k]!) / cs[k]!) >= chunkLo[k]! && Math.floor((b.hi[k]! - 1 - d0[k]!) / cs[k]!) <= chunkHi[k]!);
    const boxes: Box[] = [];
    let at = cur;
    // bounded walk: a region as thin as one element along an axis of 2^k-element chunks skips at most chunk-1 regions
    const maxSteps = this.depth + Math.max(...cs);
    for (let d = 0, steps = 0; d < this.depth && steps < maxSteps; steps++) {
      let next: Box | undefined;
      if (step && step.some((s) => s !== 0)) {
        const b = { lo: at.lo.map((l, k) => l + step[k]!), hi: at.hi.map((h, k) => h + step[k]!) };
        if (inside(b)) next = b;
      }
      if (!next) {
        // C order over tiles of the read's shape (phase of the current read), the last axis
        // fastest; edge tiles are clipped to the domain.
        const lo = [...at.lo];
        for (let k = rank - 1; ; k--) {
          if (k < 0) return boxes; // walked off the end of the domain
          lo[k] = lo[k]! + extent[k]!;
          if (lo[k]! < d1[k]!) break;
          lo[k] = d0[k]! + ((((cur.lo[k]! - d0[k]!) % extent[k]!) + extent[k]!) % extent[k]!);
        }
        next = { lo, hi: lo.map((l, k) => Math.min(l + extent[k]!, d1[k]!)) };
        if (!inside(next)) return boxes;
      }
      at = next;
      if (withinCurrent(next)) continue;
      boxes.push(next);
      d++;
    }
    return boxes;
  }

  /** Makes `positions` the window: aborts tasks outside it, queues new ones (nearest first). */
  private moveWindow(positions: number[][]): void {
    const opts = this.options();
    const keep = new Map<string, number[]>();
    for (const p of positions) keep.set(cacheKeyOf(this.driver, p, opts), p);
    for (const [k, t] of this.tasks) {
      if (keep.has(k)) continue;
      t.controller.abort(new AbortError('prefetch window moved'));
      this.tasks.delete(k);
    }
    const queue: string[] = [];
    for (const [k, pos] of keep) {
      if (!this.tasks.has(k)) this.tasks.set(k, { pos, controller: new AbortController(), started: false });
      if (!this.tasks.get(k)!.started) queue.push(k);
    }
    this.queue = queue;
    this.pump();
  }

  /**
   * Starts queued prefetch loads (while no demand read of the handle runs, unless
   * `duringReads`), at most `concurrency`
   * at a time, except that the queued chunks of the shard of a chunk started start with it (in
   * the same turn, so the shard read path merges their byte ranges into few requests).
   */
  private pump(): void {
    if (this.demand > 0 && !this.duringReads) return;
    const opts = this.options();
    const store = this.driver.store;
    const cellOf = isCellReadable(store) ? (pos: readonly number[]) => store.cellOf(this.driver.keyOf(pos)) : undefined;
    while (this.running < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift()!;
      const t = this.tasks.get(key);
      if (!t || t.started) continue;
      if (!this.start(key, t, opts)) continue;
      if (!cellOf) continue;
      const cell = cellOf(t.pos);
      this.queue = this.queue.filter((k) => {
        const u = this.tasks.get(k);
        if (!u || u.started || cellOf(u.pos) !== cell) return true;
        this.start(k, u, opts);
        return false;
      });
    }
  }

  /** Starts one prefetch load; false when it is not needed (cached, in flight) or over budget. */
  private start(key: string, t: Task, opts: PlanOptions): boolean {
    const pool = opts.cache!;
    const bound = opts.recheckBefore ?? -Infinity;
    if (pool.fresh(key, bound, 'prefetch') || pool.inFlightFor(key, bound)) {
      this.tasks.delete(key);
      return false;
    }
    if (!pool.reservePrefetch(this.chunkBytes, this.budget)) {
      this.tasks.delete(key); // tried again when a later read moves the window
      return false;
    }
    t.started = true;
    this.running++;
    loadChunk(this.driver, t.pos, { ...opts, priority: 'prefetch', signal: t.controller.signal })
      .catch(() => undefined) // a failed or dropped prefetch stores nothing; a demand read will fetch
      .finally(() => {
        pool.releasePrefetch(this.chunkBytes);
        this.running--;
        if (this.tasks.get(key) === t) this.tasks.delete(key);
        this.pump();
      });
    return true;
  }
}
