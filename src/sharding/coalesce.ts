/**
 * The one shard read path of both sharding adapters (zarr v3 `sharding_indexed` in
 * `./zarr3-store.ts`, `neuroglancer_uint64_sharded_v1` in `./precomputed-store.ts`):
 *
 * - **Index cache.** Parsed shard (and precomputed minishard) indexes are kept in an
 *   {@link IndexCache}: the Context's cache pool (`src/cache/pool.ts`, one byte budget with
 *   chunks and metadata) once the adapter is attached to it (`useIndexCache`), else a small
 *   per-adapter LRU. Entries are keyed by shard and carry the shard generation they were read
 *   from. Missing shards are not cached: a read of one costs one request either way.
 * - **Range coalescing, across callers.** Byte ranges wanted from one shard (data, or
 *   precomputed minishard indexes) are queued for one turn of the event loop, then sorted and
 *   merged where the gap between them is at most the base store's `coalesceGap` (when it sets
 *   none: {@link COALESCE_GAP}, or {@link COALESCE_GAP_BUSY} while the adapter has many reads
 *   in flight; the gap is read and dropped), up to its
 *   `coalesceLimit` per merged read ({@link DEFAULT_COALESCE_LIMIT} when it sets none). Ranges
 *   of different callers reading the same shard at nearly the same time (a viewer's tiles, a
 *   read and a prefetch) thus share requests, and a range inside a merged read already in
 *   flight joins it. Every merged read is conditional on the index's generation (`ifEqual`), so
 *   bytes of a shard rewritten since its index was read are never sliced with the old index.
 * - **Shared in-flight work.** Index fetches, merged reads and generation checks of concurrent
 *   callers run once ({@link SharedWork}): each runs under its own signal and is cancelled only
 *   when every caller waiting for it has aborted. A merged read runs at demand priority when any
 *   of its callers is a demand read (raised when one joins), else at prefetch priority.
 * - **One re-read policy.** When the shard changed between its index and a data read (the
 *   conditional read answers 'unchanged'), the index is dropped and read again, and the read
 *   retried, up to {@link MAX_SHARD_READ_ATTEMPTS} times. A shard that keeps changing under
 *   concurrent writers is contention, not corruption: the read then fails with
 *   ConditionFailedError, as a read-modify-write that keeps conflicting does.
 */
import { AbortError, ByteRangeError, ConditionFailedError, CorruptionError, throwIfAborted } from '../errors.js';
import { type KvStore, MAX_RMW_ATTEMPTS, NO_GENERATION, type ReadOptions, type ReadResult } from '../kvstore/kvstore.js';
import { readBuffers } from '../kvstore/read-buffers.js';
import type { Priority, RequestPriority } from '../util/limiter.js';
import { PrioritizedWork } from '../util/shared-work.js';

/**
 * Gaps up to this many bytes between wanted byte ranges of one shard are read and dropped
 * rather than split into separate requests, when the reader has fewer than
 * {@link COALESCE_BUSY_READS} merged reads in flight and the base store sets no `coalesceGap`.
 *
 * Measured (`bench/coalesce-gap.ts`, emulator at 20 ms first-byte latency, 400 Mbps per
 * connection, 64 KB inner chunks in 4x4x4 shards; provisional, shared machine): with request
 * slots free, parallel requests beat reading the gaps once the gaps reach a few chunks (an XZ
 * slice through one shard, gaps of 12 chunks: 28-35 ms split vs 97-125 ms merged; YZ, gaps of 3
 * chunks: 72-86 ms vs 107-127 ms), while with 16 shards read at once (the 32 request slots
 * saturated) merging wins (YZ: 404-560 ms split vs 198-285 ms merged across 1-4 MiB gaps). Hence
 * two thresholds: zarrita's 32 KiB when idle (TensorStore uses 4095 bytes), and
 * {@link COALESCE_GAP_BUSY} once the reader is busy. This adaptive default measured within noise
 * of the best fixed threshold for each pattern and load (YZ: 42 ms alone, 257 ms with 16 shards).
 */
export const COALESCE_GAP = 32 * 1024;

/** The gap bridged when the reader already has {@link COALESCE_BUSY_READS} merged reads in flight: 1 MiB. */
export const COALESCE_GAP_BUSY = 1024 * 1024;

/** Merged reads in flight (per adapter) from which {@link COALESCE_GAP_BUSY} applies: half the default 32 request slots. */
export const COALESCE_BUSY_READS = 16;

/** Largest merged read, in bytes, when the base store sets no `coalesceLimit` (cloud stores): 64 MiB. */
export const DEFAULT_COALESCE_LIMIT = 64 * 1024 * 1024;

/**
 * Attempts of one shard read before giving up with ConditionFailedError when the shard keeps
 * changing between its index and its data: the same bound as a conflicting read-modify-write
 * ({@link MAX_RMW_ATTEMPTS}), since both wait out the same concurrent writers.
 */
export const MAX_SHARD_READ_ATTEMPTS = MAX_RMW_ATTEMPTS;

/** Marks a read that found the shard changed since its index was read. */
export const STALE: unique symbol = Symbol('stale shard');

/** Bytes [offset, offset + length) of a stored value. */
export interface ByteSpan {
  offset: number;
  length: number;
}

/** A merged read: bytes [offset, offset + length) covering every member span. */
export interface MergedRange<T extends ByteSpan> {
  offset: number;
  length: number;
  members: T[];
}

/**
 * Sorts `spans` by offset and merges neighbours whose gap is at most `gap` bytes (overlapping
 * and duplicate spans merge too), as long as the merged range stays within `maxMerged` bytes;
 * a single span longer than that is read alone.
 */
export function mergeRanges<T extends ByteSpan>(spans: readonly T[], maxMerged: number, gap = COALESCE_GAP): MergedRange<T>[] {
  const sorted = [...spans].sort((a, b) => a.offset - b.offset);
  const out: MergedRange<T>[] = [];
  for (const s of sorted) {
    const g = out[out.length - 1];
    const end = s.offset + s.length;
    if (g && s.offset - (g.offset + g.length) <= gap && Math.max(g.offset + g.length, end) - g.offset <= maxMerged) {
      g.length = Math.max(g.offset + g.length, end) - g.offset;
      g.members.push(s);
    } else {
      out.push({ offset: s.offset, length: s.length, members: [s] });
    }
  }
  return out;
}

/** Applies a read's `ifEqual` / `ifNotEqual` to a result (its generation is the one compared). */
export function conditioned(r: ReadResult, options: Pick<ReadOptions, 'ifEqual' | 'ifNotEqual'>): ReadResult {
  if (options.ifEqual !== undefined && options.ifEqual !== r.generation) return { state: 'unchanged', generation: r.generation };
  if (options.ifNotEqual !== undefined && options.ifNotEqual === r.generation) return { state: 'unchanged', generation: r.generation };
  return r;
}

/** A parsed shard index: whatever the layout needs, plus the generation it was read from. */
export interface ShardIndex {
  readonly generation: string;
}

/** The kinds of index entry the shard read path caches. */
export type IndexKind = 'shard-index' | 'minishard-index';

/**
 * Where parsed indexes are kept: the Context's cache pool (`CachePool.indexCache()`), or a
 * {@link LocalIndexCache}. Index entries need no staleness bound: every data read made with an
 * index is conditional on its generation, so a stale index is noticed and re-read.
 */
export interface IndexCache {
  /** The entry of `key` (marked recently used, counted as a hit), if any. */
  get(key: string): { value: unknown; generation: string } | undefined;
  /** Stores an entry charged `bytes`. */
  set(key: string, kind: IndexKind, value: unknown, generation: string, bytes: number): void;
  delete(key: string): void;
  /** Counts a fetch of an index of `kind` (a miss). */
  missed(kind: IndexKind): void;
}

/** An {@link IndexCache} of at most `maxEntries` entries (least recently used dropped), for an adapter used alone. */
export class LocalIndexCache implements IndexCache {
  private readonly map = new Map<string, { value: unknown; generation: string }>();

  constructor(private readonly maxEntries: number) {}

  get(key: string): { value: unknown; generation: string } | undefined {
    const e = this.map.get(key);
    if (e) {
      this.map.delete(key);
      this.map.set(key, e);
    }
    return e;
  }

  set(key: string, _kind: IndexKind, value: unknown, generation: string): void {
    this.map.delete(key);
    this.map.set(key, { value, generation });
    while (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value!);
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  missed(): void {}
}

/** What a layout tells the {@link ShardReader} (see the adapters for the two layouts). */
export interface ShardLayout<I extends ShardIndex, W> {
  /** The store holding the shards. */
  readonly base: KvStore;
  /**
   * Names the layout in cache keys: adapters with the same id (the same array opened twice
   * with one Context) share cached indexes, so it must say everything that shapes an index
   * (base store URL, index format).
   */
  readonly cacheId: string;
  /** Bytes a parsed index occupies (charged to the cache budget). */
  indexBytes(index: I): number;
  /**
   * Reads and parses a shard's index; undefined when the shard is missing. Runs as shared
   * work: `signal` and `priority` are the shared work's, not one caller's.
   * @throws CorruptionError for an index that does not fit the shard.
   */
  fetchIndex(shardKey: string, signal: AbortSignal | undefined, priority: RequestPriority): Promise<I | undefined>;
  /**
   * Where each wanted item's bytes lie in the shard (absolute byte offsets; undefined when the
   * item is absent), or STALE when a conditional read made on the way (a precomputed minishard
   * index) found the shard changed.
   */
  locate(
    index: I, shardKey: string, wanted: readonly W[], signal: AbortSignal | undefined, priority: Priority | RequestPriority | undefined,
  ): Promise<readonly (ByteSpan | undefined)[] | typeof STALE>;
  /** Names an item in error messages (e.g. the adapter key). */
  describe(item: W): string;
}

/** The result of {@link ShardReader.read}: the bytes of each wanted item (undefined when absent). */
export interface ShardRead<I> {
  /** The shard generation the bytes belong to ('' when the shard is missing). */
  generation: string;
  /** The index the items were located with (undefined when the shard is missing). */
  index: I | undefined;
  values: (Uint8Array | undefined)[];
}

/** One byte range a caller waits for in a batch. */
interface Want extends ByteSpan {
  describe: () => string;
  signal: AbortSignal | undefined;
  priority: Priority | RequestPriority | undefined;
  resolve: (v: RangeBytes | typeof STALE) => void;
  reject: (e: unknown) => void;
}

/** A merged read in flight, joinable by any range inside it. */
interface Flying {
  offset: number;
  end: number;
  key: string;
  /** Ranges that joined it in flight (each gets a view of its bytes, as each member does). */
  joined: number;
}

/** Runs `fn` at the end of this turn of the event loop (after the microtasks of this turn). */
const nextTurn: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? (fn) => void (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate(fn)
    : (fn) => void setTimeout(fn, 0);

/**
 * Reads items (inner chunks) out of shards for one adapter: the index cache, merged conditional
 * range reads shared across callers, and the re-read policy described at the top of this file.
 */
export class ShardReader<I extends ShardIndex, W> {
  private cache: IndexCache;
  private readonly indexes = new PrioritizedWork<string, I | undefined>();
  private readonly ranges = new PrioritizedWork<string, ReadResult>();
  private readonly checks = new PrioritizedWork<string, boolean>();
  /** Ranges waiting for the end of this turn, by shard and generation. */
  private readonly pending = new Map<string, Want[]>();
  /** Merged reads in flight, by shard and generation. */
  private readonly flying = new Map<string, Flying[]>();
  private inFlightReads = 0;
  private seq = 0;

  /** @param localEntries indexes kept when no cache pool is attached */
  constructor(private readonly layout: ShardLayout<I, W>, localEntries = 4096) {
    this.cache = new LocalIndexCache(localEntries);
  }

  /** Keeps indexes in `cache` (the Context's cache pool) from now on. */
  useIndexCache(cache: IndexCache): void {
    this.cache = cache;
  }

  /** The cache key of a shard's index, or of a part of it (`part`: a minishard index). */
  private keyOf(shardKey: string, part = ''): string {
    return `${this.layout.cacheId}\u0000${shardKey}${part ? `\u0000${part}` : ''}`;
  }

  /** The cached index of a shard, if any (marks it recently used). */
  cached(shardKey: string): I | undefined {
    return this.cache.get(this.keyOf(shardKey))?.value as I | undefined;
  }

  /** Caches an index (e.g. the one an adapter just wrote). */
  remember(shardKey: string, index: I): void {
    this.cache.set(this.keyOf(shardKey), 'shard-index', index, index.generation, this.layout.indexBytes(index));
  }

  /** Drops a shard's cached index (after writing the shard, or on finding it changed). */
  forget(shardKey: string): void {
    this.cache.delete(this.keyOf(shardKey));
  }

  /** A cached part of a shard's index of generation `generation` (a precomputed minishard index). */
  cachedPart<T>(shardKey: string, generation: string, part: string): T | undefined {
    return this.cache.get(this.keyOf(shardKey, `${generation}\u0000${part}`))?.value as T | undefined;
  }

  /** Caches a part of a shard's index of generation `generation`, charged `bytes`. */
  rememberPart(shardKey: string, generation: string, part: string, value: unknown, bytes: number): void {
    this.cache.set(this.keyOf(shardKey, `${generation}\u0000${part}`), 'minishard-index', value, generation, bytes);
  }

  /** Counts a fetch of a part (a minishard index miss). */
  missedPart(): void {
    this.cache.missed('minishard-index');
  }

  /**
   * The index of a shard, from the cache unless the cached one has the generation `stale` (found
   * outdated); concurrent fetches of one shard (after the same outdated generation) share one
   * request.
   */
  private async index(
    shardKey: string, stale: string | undefined, signal: AbortSignal | undefined, priority: Priority | RequestPriority | undefined,
  ): Promise<{ index: I | undefined; warm: boolean }> {
    const c = this.cached(shardKey);
    // A cached index newer than the one found stale (another caller re-read it) will do.
    if (c && c.generation !== stale) return { index: c, warm: true };
    const index = await this.indexes.run(`${shardKey}\u0000${stale ?? ''}`, async (s, p) => {
      this.cache.missed('shard-index');
      const idx = await this.layout.fetchIndex(shardKey, s, p);
      if (idx) this.remember(shardKey, idx);
      else this.forget(shardKey);
      return idx;
    }, signal, priority);
    return { index, warm: false };
  }

  /**
   * Whether a shard still has generation `generation`, with one small conditional read
   * (shared among concurrent callers). Drops the cached index when it does not.
   */
  async unchanged(shardKey: string, generation: string, signal: AbortSignal | undefined, priority?: Priority | RequestPriority): Promise<boolean> {
    const same = await this.checks.run(`${shardKey}\u0000${generation}`, async (s, p) => {
      try {
        const r = await this.layout.base.read(shardKey, { ifNotEqual: generation, byteRange: { offset: 0, length: 1 }, signal: s, priority: p });
        return r.state === 'unchanged';
      } catch (e) {
        if (e instanceof ByteRangeError) return false; // now empty: certainly not the shard we indexed
        throw e;
      }
    }, signal, priority);
    if (!same && this.cached(shardKey)?.generation === generation) this.forget(shardKey);
    return same;
  }

  /**
   * Whether every item is present in the cached index of a shard whose generation is
   * `generation`, and the shard still has it (one small conditional read). This is how a
   * caller holding `generation` revalidates (`ifNotEqual`) without reading data.
   */
  async stillCurrent(
    shardKey: string, generation: string, wanted: readonly W[], signal: AbortSignal | undefined, priority?: Priority | RequestPriority,
  ): Promise<boolean> {
    const c = this.cached(shardKey);
    if (!c || c.generation !== generation || generation === NO_GENERATION) return false;
    const spans = await this.layout.locate(c, shardKey, wanted, signal, priority);
    if (spans === STALE) {
      this.forget(shardKey);
      return false;
    }
    if (spans.some((s) => s === undefined)) return false;
    return this.unchanged(shardKey, generation, signal, priority);
  }

  /**
   * The bytes of `wanted` items of one shard, consistent with one shard generation: the index
   * (cached or fetched), then the present items' ranges read conditionally (merged with each
   * other and with other callers' ranges of the shard). When the shard changed meanwhile, the
   * index is read again and the read retried. An answer with no present item from a cached index
   * is revalidated (one small conditional read), so an item written elsewhere since the index
   * was cached is seen.
   *
   * @throws ConditionFailedError after {@link MAX_SHARD_READ_ATTEMPTS} attempts that each found
   *   the shard changed; CorruptionError when an index points outside the shard; AbortError.
   */
  async read(shardKey: string, wanted: readonly W[], signal: AbortSignal | undefined, priority?: Priority | RequestPriority): Promise<ShardRead<I>> {
    let stale: string | undefined;
    for (let attempt = 0; attempt < MAX_SHARD_READ_ATTEMPTS; attempt++) {
      throwIfAborted(signal);
      const { index, warm } = await this.index(shardKey, stale, signal, priority);
      if (!index) return { generation: NO_GENERATION, index, values: wanted.map(() => undefined) };
      const spans = await this.layout.locate(index, shardKey, wanted, signal, priority);
      const values = await (spans === STALE ? STALE : this.readSpans(shardKey, index.generation, wanted, spans, warm, signal, priority));
      if (values !== STALE) return { generation: index.generation, index, values };
      // The shard changed since its index was read: read the index again.
      stale = index.generation;
      if (this.cached(shardKey) === index) this.forget(shardKey);
    }
    throw new ConditionFailedError(
      shardKey,
      `shard kept changing while being read: gave up after ${MAX_SHARD_READ_ATTEMPTS} attempts (MAX_SHARD_READ_ATTEMPTS)`,
    );
  }

  private async readSpans(
    shardKey: string, generation: string, wanted: readonly W[], spans: readonly (ByteSpan | undefined)[], warm: boolean,
    signal: AbortSignal | undefined, priority: Priority | RequestPriority | undefined,
  ): Promise<(Uint8Array | undefined)[] | typeof STALE> {
    const values = new Array<Uint8Array | undefined>(wanted.length);
    const present: { i: number; span: ByteSpan }[] = [];
    spans.forEach((s, i) => {
      if (s) present.push({ i, span: s });
    });
    if (present.length === 0) {
      if (warm && wanted.length > 0 && !(await this.unchanged(shardKey, generation, signal, priority))) return STALE;
      return values;
    }
    const got = await Promise.all(present.map(({ i, span }) =>
      this.readRange(shardKey, generation, span, () => this.layout.describe(wanted[i]!), signal, priority)));
    if (got.includes(STALE)) return STALE;
    present.forEach(({ i }, j) => (values[i] = (got[j] as RangeBytes).value));
    return values;
  }

  /**
   * Bytes `span` of a shard, read conditionally on `generation` (STALE when the shard changed):
   * from a merged read in flight that covers it, or queued until the end of this turn and
   * merged with every range of the shard queued meanwhile (by any caller).
   */
  readRange(
    shardKey: string, generation: string, span: ByteSpan, describe: () => string,
    signal: AbortSignal | undefined, priority: Priority | RequestPriority | undefined,
  ): Promise<RangeBytes | typeof STALE> {
    if (signal?.aborted) return Promise.reject(new AbortError('operation aborted', { cause: signal.reason }));
    const bk = `${shardKey}\u0000${generation}`;
    const end = span.offset + span.length;
    for (const f of this.flying.get(bk) ?? []) {
      if (f.offset <= span.offset && end <= f.end && this.ranges.has(f.key)) {
        f.joined++;
        return this.ranges.run(f.key, () => Promise.reject(new Error('unreachable: joined read')), signal, priority)
          .then((r) => sliceOf(r, f.offset, span));
      }
    }
    return new Promise((resolve, reject) => {
      let wants = this.pending.get(bk);
      if (!wants) {
        this.pending.set(bk, (wants = []));
        nextTurn(() => this.flush(shardKey, generation, bk));
      }
      wants.push({ offset: span.offset, length: span.length, describe, signal, priority, resolve, reject });
    });
  }

  /** Merges the ranges queued for one shard generation and starts their reads. */
  private flush(shardKey: string, generation: string, bk: string): void {
    const wants = this.pending.get(bk) ?? [];
    this.pending.delete(bk);
    const live: Want[] = [];
    for (const w of wants) {
      if (w.signal?.aborted) w.reject(new AbortError('operation aborted', { cause: w.signal.reason }));
      else live.push(w);
    }
    // A stale slot of the map's table must not keep these callers' results alive (see SharedWork).
    wants.length = 0;
    const base = this.layout.base;
    const gap = base.coalesceGap ?? (this.inFlightReads >= COALESCE_BUSY_READS ? COALESCE_GAP_BUSY : COALESCE_GAP);
    for (const g of mergeRanges(live, base.coalesceLimit ?? DEFAULT_COALESCE_LIMIT, gap)) {
      const end = g.offset + g.length;
      const f: Flying = { offset: g.offset, end, key: `${bk}\u0000${g.offset}\u0000${end}\u0000${++this.seq}`, joined: 0 };
      let list = this.flying.get(bk);
      if (!list) this.flying.set(bk, (list = []));
      list.push(f);
      const work = async (s: AbortSignal | undefined, p: RequestPriority): Promise<ReadResult> => {
        this.inFlightReads++;
        try {
          // into a recycled buffer (readBuffers), handed out as one view per member and per
          // range that joined: it goes back to the pool once every view was given back (the
          // planner gives a chunk's bytes back once it placed the chunk and kept nothing); no
          // range can join once this read is done, so the count is final here
          const r = await base.read(shardKey, { byteRange: { offset: g.offset, length: g.length }, ifEqual: generation, signal: s, priority: p, buffer: readBuffers.take });
          if (r.state === 'value') readBuffers.share(r.value, g.members.length + f.joined);
          return r;
        } catch (e) {
          if (e instanceof ByteRangeError) {
            const what = g.members.length === 1 ? g.members[0]!.describe() : `${g.members.length} items from ${g.members[0]!.describe()}`;
            throw new CorruptionError(shardKey, `bytes [${g.offset}, ${end}) (${what}) lie past the end of the shard`, { cause: e });
          }
          throw e;
        } finally {
          this.inFlightReads--;
          const l = this.flying.get(bk);
          const at = l?.indexOf(f) ?? -1;
          if (at >= 0) l!.splice(at, 1);
          if (l && l.length === 0) this.flying.delete(bk);
        }
      };
      // Each caller joins the merged read once (one abort listener per caller, not per range).
      const byCaller = new Map<AbortSignal | undefined, Want[]>();
      for (const m of g.members) {
        const l = byCaller.get(m.signal);
        if (l) l.push(m);
        else byCaller.set(m.signal, [m]);
      }
      for (const [callerSignal, ms] of byCaller) {
        const priority = ms.find((m) => m.priority === undefined || m.priority === 'demand')?.priority ?? ms[0]!.priority;
        this.ranges.run(f.key, work, callerSignal, priority).then(
          (r) => ms.forEach((m) => m.resolve(sliceOf(r, g.offset, m))),
          (e: unknown) => ms.forEach((m) => m.reject(e)),
        );
      }
    }
  }
}

/** Bytes of a shard read by {@link ShardReader.readRange}, with the shard's total size when known. */
export interface RangeBytes {
  value: Uint8Array;
  size: number | undefined;
}

/** A member's bytes out of a merged read starting at `offset`, or STALE when it found the shard changed. */
function sliceOf(r: ReadResult, offset: number, span: ByteSpan): RangeBytes | typeof STALE {
  if (r.state !== 'value') return STALE;
  return { value: r.value.subarray(span.offset - offset, span.offset - offset + span.length), size: r.size };
}
