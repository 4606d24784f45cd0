/**
 * TensorStore's `cache_pool`: ONE byte-bounded LRU per Context holding every kind of cached
 * entry (decoded chunks, zarr3 shard indexes, precomputed shard and minishard indexes, metadata
 * JSON), each charged by its bytes, plus the table of in-flight loads that concurrent readers
 * share. Browser-safe (no `node:` imports).
 *
 * - **Budget.** `cache_pool.total_bytes_limit` bounds the bytes charged for every entry kind
 *   together; the least recently used entries go first. With a limit of 0 (TensorStore's
 *   default) no decoded chunk is kept, but metadata and shard indexes still are, within
 *   {@link DEFAULT_INDEX_BYTES} (volstore keeps indexes by default, as it always has: without
 *   them every sharded read costs an extra round trip). Work in flight is not charged: the
 *   request limiters bound it.
 * - **Staleness.** Every entry carries the storage generation it was read at and the time it was
 *   last known current (`verifiedAt`, the start of the request that fetched or revalidated it).
 *   A reader passes a bound (see {@link stalenessBound}): entries verified before it are
 *   revalidated with a conditional read (`ifNotEqual`: a 304 with no body when unchanged).
 * - **Shared loads.** {@link CachePool.load} runs one fetch(+decode) per key for every
 *   concurrent caller, through {@link SharedWork}: a caller that aborts leaves at once, the
 *   load is cancelled only when every caller has aborted. A load joins an in-flight one only
 *   when that one started at or after the caller's staleness bound. Failed loads store nothing.
 * - **Prefetch.** Entries stored by prefetch loads are marked until a demand read uses them (a
 *   prefetch hit). Unused prefetched bytes plus those reserved by prefetches in flight are held
 *   under a byte budget ({@link CachePool.reservePrefetch}), so prefetching can evict at most
 *   that many bytes of what demand reads recently used.
 * - **Writes** invalidate the entries they touch ({@link CachePool.invalidate}); a load that was
 *   in flight across the write delivers to its callers but stores nothing.
 *
 * Cached values are shared by reference: callers must never mutate them.
 */
import { AbortError } from '../errors.js';
import type { IndexCache } from '../sharding/coalesce.js';
import { type Priority, RequestPriority } from '../util/limiter.js';
import { SharedWork } from '../util/shared-work.js';

/** The kinds of entry in the pool. */
export type CacheEntryKind = 'chunk' | 'shard-index' | 'minishard-index' | 'metadata';

/** Every {@link CacheEntryKind}, in report order. */
export const CACHE_ENTRY_KINDS: readonly CacheEntryKind[] = ['chunk', 'shard-index', 'minishard-index', 'metadata'];

/** Bytes charged per entry on top of its value: the map entry, key string and bookkeeping. */
export const ENTRY_OVERHEAD_BYTES = 128;

/** The budget for metadata and shard indexes when `total_bytes_limit` is 0 (no chunk caching): 64 MiB. */
export const DEFAULT_INDEX_BYTES = 64 * 1024 * 1024;

/**
 * TensorStore's `recheck_cached_data` / `recheck_cached_metadata`: `true` revalidates cached
 * entries before every use, `false` never, `"open"` revalidates those cached before the array
 * was opened, and a number (seconds since the Unix epoch) those cached before that time.
 */
export type RecheckCache = boolean | 'open' | number;

/** Milliseconds since the Unix epoch, sub-millisecond resolution (the clock of `verifiedAt`). */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The staleness bound of an operation: entries verified at or after it (ms since the epoch) are
 * fresh. `true` -> the operation's start, `false` -> -Infinity (never recheck), `"open"` ->
 * `openedAt`, a number of seconds -> that time.
 */
export function stalenessBound(recheck: RecheckCache, openedAt: number, opStart: number = now()): number {
  if (recheck === true) return opStart;
  if (recheck === false) return -Infinity;
  if (recheck === 'open') return openedAt;
  return recheck * 1000;
}

/** One cached entry (read-only outside the pool). */
export interface CacheEntry<V = unknown> {
  readonly kind: CacheEntryKind;
  readonly value: V;
  /** The storage generation the value was read at ('' for a missing key). */
  readonly generation: string;
  /** Bytes charged to the budget. */
  readonly bytes: number;
  /** When the value was last known current (ms since the epoch). */
  readonly verifiedAt: number;
}

interface Entry extends CacheEntry {
  verifiedAt: number;
  /** Stored by a prefetch and not yet used by a demand read. */
  prefetched: boolean;
}

/** Counters of one entry kind. */
export interface CacheKindStats {
  entries: number;
  bytes: number;
  /** Uses served from the cache (fresh, or revalidated by a conditional read). */
  hits: number;
  /** Uses that fetched (and, for chunks, decoded) the value. */
  misses: number;
  evictions: number;
}

/** A snapshot of a pool's counters (see {@link CachePool.stats}). */
export interface CacheStats {
  /** `cache_pool.total_bytes_limit` (0: decoded chunks are not cached). */
  totalBytesLimit: number;
  /** The budget entries are held under (the limit, or {@link DEFAULT_INDEX_BYTES} when it is 0). */
  capacityBytes: number;
  /** Bytes charged for the entries held now (never above `capacityBytes`). */
  bytesUsed: number;
  entries: number;
  /** Chunk uses served from the cache (fresh or revalidated). */
  hits: number;
  /** Chunk uses that fetched and decoded. */
  misses: number;
  /** Conditional reads (any kind) answered "unchanged": a round trip without a body. */
  revalidations: number;
  /** Entries dropped to stay within the budget (any kind). */
  evictions: number;
  /** Loads in flight (shared by every caller waiting for them). */
  inFlight: number;
  /** Callers that joined a load already in flight instead of starting their own. */
  joined: number;
  byKind: Record<CacheEntryKind, CacheKindStats>;
  prefetch: {
    /** Prefetch loads started. */
    issued: number;
    /** Demand uses of a prefetched entry (or of a prefetch still in flight). */
    hits: number;
    /** Bytes of prefetched entries no demand read has used yet. */
    unusedBytes: number;
    /** Bytes reserved by prefetch loads in flight. */
    reservedBytes: number;
    /** Prefetched entries evicted before any demand read used them. */
    wasted: number;
    /** Prefetch loads dropped before they finished (their region left the window, or aborted). */
    dropped: number;
    /** Prefetches not started because the prefetch byte budget was spent. */
    skipped: number;
  };
}

/**
 * Use counters of one handle (a volume's `stats()`), incremented alongside the pool's own when a
 * caller passes them.
 */
export interface UseCounters {
  /** Demand uses served from the cache (fresh or revalidated). */
  hits: number;
  /** Demand uses that fetched (and decoded). */
  misses: number;
  /** Demand uses of entries a prefetch stored or was loading. */
  prefetchHits: number;
  /** Demand uses that joined a load already in flight. */
  joined: number;
}

/** What a load's work receives. */
export interface LoadContext {
  /**
   * The shared work's signal: aborted only when every caller has aborted; undefined when the
   * caller that started the load had none (it can then never be cancelled).
   */
  signal: AbortSignal | undefined;
  /** The load's request priority (raised to demand when a demand caller joins). */
  priority: RequestPriority;
  /** When the load started (ms since the epoch): the `verifiedAt` of what it stores. */
  startedAt: number;
  /** Whether the load still only serves prefetches (what it stores is then marked prefetched). */
  readonly prefetchOnly: boolean;
  /** False once a write invalidated the key after the load started: store nothing then. */
  readonly storable: boolean;
  /** Callers that joined the load so far (besides the one that started it). */
  readonly joined: number;
  /**
   * Closes the load to new callers (a later caller starts a load of its own). The starting
   * caller uses it to decode straight into its own result when nobody else waits and nothing
   * will be cached: then no decoded copy has to be kept for anyone.
   */
  seal(): void;
}

interface Flight {
  sharedKey: string;
  startedAt: number;
  ticket: RequestPriority;
  prefetchOnly: boolean;
  storable: boolean;
  joined: number;
}

const emptyKind = (): CacheKindStats => ({ entries: 0, bytes: 0, hits: 0, misses: 0, evictions: 0 });

/** The Context's cache pool; see the module comment. */
export class CachePool {
  /** The budget entries are held under, in bytes. */
  readonly capacityBytes: number;
  private readonly map = new Map<string, Entry>();
  private used = 0;
  private readonly kinds: Record<CacheEntryKind, CacheKindStats> = {
    chunk: emptyKind(), 'shard-index': emptyKind(), 'minishard-index': emptyKind(), metadata: emptyKind(),
  };
  private revalidationCount = 0;
  private evictionCount = 0;
  private joinedCount = 0;
  private readonly flights = new Map<string, Flight>();
  private readonly work = new SharedWork<string, unknown>();
  private seq = 0;
  private prefetchUnused = 0;
  private prefetchReserved = 0;
  private readonly prefetchCounts = { issued: 0, hits: 0, wasted: 0, dropped: 0, skipped: 0 };

  /** @param totalBytesLimit `cache_pool.total_bytes_limit` (0: no decoded chunks are kept). */
  constructor(readonly totalBytesLimit: number) {
    this.capacityBytes = totalBytesLimit > 0 ? totalBytesLimit : DEFAULT_INDEX_BYTES;
  }

  /** Whether decoded chunks are cached (a positive `total_bytes_limit`). */
  get cachesChunks(): boolean {
    return this.totalBytesLimit > 0;
  }

  /** Bytes charged for the entries held now. */
  get bytesUsed(): number {
    return this.used;
  }

  /** Chunk uses served from the cache (fresh, or revalidated by a conditional read). */
  get hits(): number {
    return this.kinds.chunk.hits;
  }

  /** Chunk uses that fetched and decoded. */
  get misses(): number {
    return this.kinds.chunk.misses;
  }

  /** Loads in flight. */
  get inFlight(): number {
    return this.flights.size;
  }

  /** Whether `key` is cached (not a use: the LRU order is unchanged). */
  has(key: string): boolean {
    return this.map.has(key);
  }

  /** The entry of `key` without marking it used. */
  peek<V = unknown>(key: string): CacheEntry<V> | undefined {
    return this.map.get(key) as CacheEntry<V> | undefined;
  }

  /**
   * The entry of `key` if it is fresh for `bound` (verified at or after it), marked most
   * recently used. A demand use counts as a hit (a prefetch hit too when a prefetch stored the
   * entry); a prefetch looking ahead counts nothing. Undefined when absent or stale.
   */
  fresh<V = unknown>(key: string, bound: number, priority: Priority = 'demand', counters?: UseCounters): CacheEntry<V> | undefined {
    const e = this.map.get(key);
    if (!e || e.verifiedAt < bound) return undefined;
    this.touch(key, e);
    if (priority === 'demand') this.demandHit(e, counters);
    return e as CacheEntry<V>;
  }

  /** Counts a demand hit; a first demand use of a prefetched entry is a prefetch hit. */
  private demandHit(e: Entry, counters: UseCounters | undefined): void {
    this.kinds[e.kind].hits++;
    if (counters) counters.hits++;
    if (!e.prefetched) return;
    e.prefetched = false;
    this.prefetchUnused -= e.bytes;
    this.prefetchCounts.hits++;
    if (counters) counters.prefetchHits++;
  }

  private touch(key: string, e: Entry): void {
    this.map.delete(key);
    this.map.set(key, e);
  }

  /**
   * Stores (or replaces) an entry charged `bytes` (plus {@link ENTRY_OVERHEAD_BYTES}), evicting
   * the least recently used entries beyond the budget. Chunk entries are not stored when
   * `total_bytes_limit` is 0; an entry larger than the budget is not stored. Returns whether it
   * was stored.
   */
  set(key: string, kind: CacheEntryKind, value: unknown, generation: string, bytes: number, verifiedAt: number, prefetched = false): boolean {
    this.delete(key);
    if (kind === 'chunk' && !this.cachesChunks) return false;
    const charged = bytes + ENTRY_OVERHEAD_BYTES;
    if (charged > this.capacityBytes) return false;
    const e: Entry = { kind, value, generation, bytes: charged, verifiedAt, prefetched };
    this.map.set(key, e);
    this.used += charged;
    this.kinds[kind].entries++;
    this.kinds[kind].bytes += charged;
    if (prefetched) this.prefetchUnused += charged;
    while (this.used > this.capacityBytes) {
      const oldest = this.map.keys().next().value!;
      this.evict(oldest);
    }
    return true;
  }

  /** Records that a conditional read found `key` unchanged at `at`: it is current again (a hit). */
  revalidated(key: string, at: number, priority: Priority = 'demand', counters?: UseCounters): void {
    this.revalidationCount++;
    const e = this.map.get(key);
    if (!e) return;
    e.verifiedAt = Math.max(e.verifiedAt, at);
    this.touch(key, e);
    if (priority === 'demand') this.demandHit(e, counters);
  }

  /** Counts a demand use of `kind` that fetched the value (a miss). */
  missed(kind: CacheEntryKind): void {
    this.kinds[kind].misses++;
  }

  /** Counts a conditional read answered "unchanged" for an entry the caller keeps itself. */
  countRevalidation(): void {
    this.revalidationCount++;
  }

  private evict(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    if (e.prefetched) this.prefetchCounts.wasted++;
    this.remove(key, e);
    this.kinds[e.kind].evictions++;
    this.evictionCount++;
  }

  private remove(key: string, e: Entry): void {
    this.map.delete(key);
    this.used -= e.bytes;
    this.kinds[e.kind].entries--;
    this.kinds[e.kind].bytes -= e.bytes;
    if (e.prefetched) this.prefetchUnused -= e.bytes;
  }

  /** Drops `key`'s entry (not an eviction). */
  delete(key: string): void {
    const e = this.map.get(key);
    if (e) this.remove(key, e);
  }

  /**
   * A write changed (or may have changed) `key`: drops its entry, and a load of it in flight
   * will deliver to its callers but store nothing (later readers start a new load).
   */
  invalidate(key: string): void {
    this.delete(key);
    const f = this.flights.get(key);
    if (f) {
      f.storable = false;
      this.flights.delete(key);
    }
  }

  /** Drops every entry (in-flight loads finish but store nothing). */
  clear(): void {
    for (const k of [...this.map.keys()]) this.delete(k);
    for (const f of this.flights.values()) f.storable = false;
    this.flights.clear();
  }

  /** Whether a load of `key` that started at or after `bound` is in flight (a caller would join it). */
  inFlightFor(key: string, bound: number): boolean {
    const f = this.flights.get(key);
    return f !== undefined && f.startedAt >= bound && this.work.has(f.sharedKey);
  }

  /**
   * The result of loading `key`: joins a load of it in flight that started at or after `bound`,
   * or starts `work`. A demand caller joining a prefetch load raises its priority (a prefetch
   * hit). `ticket` lets several loads share one priority (the chunks of one shard read).
   * @throws AbortError when `signal` fires (the load goes on while others wait); whatever
   *   `work` throws (shared by every caller; nothing is stored).
   */
  load<V>(
    key: string,
    options: { bound: number; signal?: AbortSignal; priority?: Priority; ticket?: RequestPriority; counters?: UseCounters },
    work: (ctx: LoadContext) => Promise<V>,
  ): Promise<V> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new AbortError('operation aborted', { cause: signal.reason }));
    const priority = options.priority ?? 'demand';
    const f = this.flights.get(key);
    const counters = options.counters;
    if (f && f.startedAt >= options.bound && this.work.has(f.sharedKey)) {
      this.joinedCount++;
      f.joined++;
      if (counters) counters.joined++;
      if (priority === 'demand') {
        if (f.prefetchOnly) {
          this.prefetchCounts.hits++;
          if (counters) counters.prefetchHits++;
        }
        f.prefetchOnly = false;
        f.ticket.raise();
      }
      return this.work.run(f.sharedKey, () => Promise.reject(new Error('unreachable')), signal) as Promise<V>;
    }
    const ticket = options.ticket ?? new RequestPriority(priority);
    const flight: Flight = { sharedKey: `${key}\u0000${++this.seq}`, startedAt: now(), ticket, prefetchOnly: priority === 'prefetch', storable: true, joined: 0 };
    this.flights.set(key, flight);
    if (flight.prefetchOnly) this.prefetchCounts.issued++;
    const done = (): void => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    };
    const ctx: LoadContext = {
      signal: undefined,
      priority: ticket,
      startedAt: flight.startedAt,
      get prefetchOnly() {
        return flight.prefetchOnly;
      },
      get storable() {
        return flight.storable;
      },
      get joined() {
        return flight.joined;
      },
      seal: done,
    };
    return this.work.run(flight.sharedKey, (s) => {
      ctx.signal = s;
      let p: Promise<V>;
      try {
        p = work(ctx);
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then(done, () => {
        if (s?.aborted && flight.prefetchOnly) this.prefetchCounts.dropped++;
        done();
      });
      return p;
    }, signal) as Promise<V>;
  }

  /**
   * Reserves `bytes` of the prefetch budget for a prefetch load; false (and counted as skipped)
   * when unused prefetched bytes plus reservations would exceed `budget`. Release it with
   * {@link releasePrefetch} once the load has stored its entry (or failed).
   */
  reservePrefetch(bytes: number, budget: number): boolean {
    if (this.prefetchUnused + this.prefetchReserved + bytes > budget) {
      this.prefetchCounts.skipped++;
      return false;
    }
    this.prefetchReserved += bytes;
    return true;
  }

  /** Returns a reservation made by {@link reservePrefetch}. */
  releasePrefetch(bytes: number): void {
    this.prefetchReserved -= bytes;
  }

  private indexView: IndexCache | undefined;

  /**
   * This pool as the shard read path's index cache (`useIndexCache` of the sharding adapters):
   * shard and minishard indexes share the budget. They need no staleness bound (every data read
   * made with an index is conditional on its generation).
   */
  indexCache(): IndexCache {
    return (this.indexView ??= {
      get: (key) => {
        const e = this.fresh(key, -Infinity);
        return e && { value: e.value, generation: e.generation };
      },
      set: (key, kind, value, generation, bytes) => void this.set(key, kind, value, generation, bytes, now()),
      delete: (key) => this.delete(key),
      missed: (kind) => this.missed(kind),
    });
  }

  /** A snapshot of the counters (a plain object: safe to serialise or diff). */
  stats(): CacheStats {
    const byKind = {} as Record<CacheEntryKind, CacheKindStats>;
    for (const k of CACHE_ENTRY_KINDS) byKind[k] = { ...this.kinds[k] };
    return {
      totalBytesLimit: this.totalBytesLimit,
      capacityBytes: this.capacityBytes,
      bytesUsed: this.used,
      entries: this.map.size,
      hits: this.kinds.chunk.hits,
      misses: this.kinds.chunk.misses,
      revalidations: this.revalidationCount,
      evictions: this.evictionCount,
      inFlight: this.flights.size,
      joined: this.joinedCount,
      byKind,
      prefetch: { ...this.prefetchCounts, unusedBytes: this.prefetchUnused, reservedBytes: this.prefetchReserved },
    };
  }
}
