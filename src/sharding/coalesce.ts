/**
 * The one shard read path of both sharding adapters (zarr v3 `sharding_indexed` in
 * `./zarr3-store.ts`, `neuroglancer_uint64_sharded_v1` in `./precomputed-store.ts`):
 *
 * - **Index cache.** Parsed shard indexes are kept per adapter (least recently used dropped),
 *   keyed by shard, each with the shard generation it was read from. Missing shards are not
 *   cached: a read of one costs one request either way.
 * - **Range coalescing.** The byte ranges a caller wants from one shard are sorted and merged
 *   where the gap between them is at most {@link COALESCE_GAP} bytes (the gap is read and
 *   dropped), up to the base store's `coalesceLimit` per merged read ({@link DEFAULT_COALESCE_LIMIT}
 *   when it sets none). Every merged read is conditional on the index's generation
 *   (`ifEqual`), so bytes of a shard rewritten since its index was read are never sliced with
 *   the old index.
 * - **Shared in-flight work.** Index fetches, identical merged reads and generation checks of
 *   concurrent callers run once ({@link SharedWork}): each runs under its own signal and is
 *   cancelled only when every caller waiting for it has aborted.
 * - **One re-read policy.** When the shard changed between its index and a data read (the
 *   conditional read answers 'unchanged'), the index is dropped and read again, and the read
 *   retried, up to {@link MAX_SHARD_READ_ATTEMPTS} times. A shard that keeps changing under
 *   concurrent writers is contention, not corruption: the read then fails with
 *   ConditionFailedError, as a read-modify-write that keeps conflicting does.
 */
import { ByteRangeError, ConditionFailedError, CorruptionError, throwIfAborted } from '../errors.js';
import { type KvStore, MAX_RMW_ATTEMPTS, NO_GENERATION, type ReadOptions, type ReadResult } from '../kvstore/kvstore.js';
import { SharedWork } from '../util/shared-work.js';

/** Gaps up to this many bytes between wanted byte ranges are read and dropped rather than split. */
export const COALESCE_GAP = 256 * 1024;

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

/** What a layout tells the {@link ShardReader} (see the adapters for the two layouts). */
export interface ShardLayout<I extends ShardIndex, W> {
  /** The store holding the shards. */
  readonly base: KvStore;
  /** Shard indexes kept in the cache. */
  readonly cacheShards: number;
  /**
   * Reads and parses a shard's index; undefined when the shard is missing. Runs as shared
   * work: `signal` is the shared work's, not one caller's.
   * @throws CorruptionError for an index that does not fit the shard.
   */
  fetchIndex(shardKey: string, signal: AbortSignal): Promise<I | undefined>;
  /**
   * Where each wanted item's bytes lie in the shard (absolute byte offsets; undefined when the
   * item is absent), or STALE when a conditional read made on the way (a precomputed minishard
   * index) found the shard changed.
   */
  locate(index: I, shardKey: string, wanted: readonly W[], signal: AbortSignal | undefined): Promise<readonly (ByteSpan | undefined)[] | typeof STALE>;
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

interface Located<W> extends ByteSpan {
  i: number;
  item: W;
}

/**
 * Reads items (inner chunks) out of shards for one adapter: the index cache, merged conditional
 * range reads, shared in-flight work and the re-read policy described at the top of this file.
 */
export class ShardReader<I extends ShardIndex, W> {
  private readonly cache = new Map<string, I>();
  private readonly indexes = new SharedWork<string, I | undefined>();
  private readonly ranges = new SharedWork<string, ReadResult>();
  private readonly checks = new SharedWork<string, boolean>();

  constructor(private readonly layout: ShardLayout<I, W>) {}

  /** The cached index of a shard, if any (marks it recently used). */
  cached(shardKey: string): I | undefined {
    const c = this.cache.get(shardKey);
    if (c) this.remember(shardKey, c);
    return c;
  }

  /** Caches an index (e.g. the one an adapter just wrote). */
  remember(shardKey: string, index: I): void {
    this.cache.delete(shardKey);
    this.cache.set(shardKey, index);
    if (this.cache.size > this.layout.cacheShards) this.cache.delete(this.cache.keys().next().value!);
  }

  /** Drops a shard's cached index (after writing the shard, or on finding it changed). */
  forget(shardKey: string): void {
    this.cache.delete(shardKey);
  }

  /** Drops every cached index. */
  clear(): void {
    this.cache.clear();
  }

  /**
   * The index of a shard, from the cache unless the cached one has the generation `stale` (found
   * outdated); concurrent fetches of one shard (after the same outdated generation) share one
   * request.
   */
  private async index(shardKey: string, stale: string | undefined, signal: AbortSignal | undefined): Promise<{ index: I | undefined; warm: boolean }> {
    const c = this.cached(shardKey);
    // A cached index newer than the one found stale (another caller re-read it) will do.
    if (c && c.generation !== stale) return { index: c, warm: true };
    const index = await this.indexes.run(`${shardKey}\u0000${stale ?? ''}`, async (s) => {
      const idx = await this.layout.fetchIndex(shardKey, s);
      if (idx) this.remember(shardKey, idx);
      else this.forget(shardKey);
      return idx;
    }, signal);
    return { index, warm: false };
  }

  /**
   * Whether a shard still has generation `generation`, with one small conditional read
   * (shared among concurrent callers). Drops the cached index when it does not.
   */
  async unchanged(shardKey: string, generation: string, signal: AbortSignal | undefined): Promise<boolean> {
    const same = await this.checks.run(`${shardKey}\u0000${generation}`, async (s) => {
      try {
        const r = await this.layout.base.read(shardKey, { ifNotEqual: generation, byteRange: { offset: 0, length: 1 }, signal: s });
        return r.state === 'unchanged';
      } catch (e) {
        if (e instanceof ByteRangeError) return false; // now empty: certainly not the shard we indexed
        throw e;
      }
    }, signal);
    if (!same && this.cache.get(shardKey)?.generation === generation) this.forget(shardKey);
    return same;
  }

  /**
   * Whether every item is present in the cached index of a shard whose generation is
   * `generation`, and the shard still has it (one small conditional read). This is how a
   * caller holding `generation` revalidates (`ifNotEqual`) without reading data.
   */
  async stillCurrent(shardKey: string, generation: string, wanted: readonly W[], signal: AbortSignal | undefined): Promise<boolean> {
    const c = this.cached(shardKey);
    if (!c || c.generation !== generation || generation === NO_GENERATION) return false;
    const spans = await this.layout.locate(c, shardKey, wanted, signal);
    if (spans === STALE) {
      this.forget(shardKey);
      return false;
    }
    if (spans.some((s) => s === undefined)) return false;
    return this.unchanged(shardKey, generation, signal);
  }

  /**
   * The bytes of `wanted` items of one shard, consistent with one shard generation: the index
   * (cached or fetched), then the present items' ranges merged and read conditionally. When the
   * shard changed meanwhile, the index is read again and the read retried. An answer with no
   * present item from a cached index is revalidated (one small conditional read), so an item
   * written elsewhere since the index was cached is seen.
   *
   * @throws ConditionFailedError after {@link MAX_SHARD_READ_ATTEMPTS} attempts that each found
   *   the shard changed; CorruptionError when an index points outside the shard; AbortError.
   */
  async read(shardKey: string, wanted: readonly W[], signal: AbortSignal | undefined): Promise<ShardRead<I>> {
    let stale: string | undefined;
    for (let attempt = 0; attempt < MAX_SHARD_READ_ATTEMPTS; attempt++) {
      throwIfAborted(signal);
      const { index, warm } = await this.index(shardKey, stale, signal);
      if (!index) return { generation: NO_GENERATION, index, values: wanted.map(() => undefined) };
      const spans = await this.layout.locate(index, shardKey, wanted, signal);
      const values = await (spans === STALE ? STALE : this.readSpans(shardKey, index.generation, wanted, spans, warm, signal));
      if (values !== STALE) return { generation: index.generation, index, values };
      // The shard changed since its index was read: read the index again.
      stale = index.generation;
      if (this.cache.get(shardKey) === index) this.forget(shardKey);
    }
    throw new ConditionFailedError(
      shardKey,
      `shard kept changing while being read: gave up after ${MAX_SHARD_READ_ATTEMPTS} attempts (MAX_SHARD_READ_ATTEMPTS)`,
    );
  }

  private async readSpans(
    shardKey: string, generation: string, wanted: readonly W[], spans: readonly (ByteSpan | undefined)[], warm: boolean, signal: AbortSignal | undefined,
  ): Promise<(Uint8Array | undefined)[] | typeof STALE> {
    const values = new Array<Uint8Array | undefined>(wanted.length);
    const present: Located<W>[] = [];
    spans.forEach((s, i) => {
      if (s) present.push({ offset: s.offset, length: s.length, i, item: wanted[i]! });
    });
    if (present.length === 0) {
      if (warm && wanted.length > 0 && !(await this.unchanged(shardKey, generation, signal))) return STALE;
      return values;
    }
    const merged = mergeRanges(present, this.layout.base.coalesceLimit ?? DEFAULT_COALESCE_LIMIT);
    const reads = await Promise.all(merged.map((g) => this.readRange(shardKey, generation, g, signal)));
    for (let j = 0; j < merged.length; j++) {
      const r = reads[j]!;
      if (r.state !== 'value') return STALE;
      const g = merged[j]!;
      for (const m of g.members) values[m.i] = r.value.subarray(m.offset - g.offset, m.offset - g.offset + m.length);
    }
    return values;
  }

  /** One merged range, read conditionally on `generation`; identical concurrent reads share one request. */
  private readRange(shardKey: string, generation: string, g: MergedRange<Located<W>>, signal: AbortSignal | undefined): Promise<ReadResult> {
    const end = g.offset + g.length;
    return this.ranges.run(`${shardKey}\u0000${generation}\u0000${g.offset}\u0000${end}`, async (s) => {
      try {
        return await this.layout.base.read(shardKey, { byteRange: { offset: g.offset, length: g.length }, ifEqual: generation, signal: s });
      } catch (e) {
        if (e instanceof ByteRangeError) {
          const what = g.members.length === 1 ? this.layout.describe(g.members[0]!.item) : `${g.members.length} items from ${this.layout.describe(g.members[0]!.item)}`;
          throw new CorruptionError(shardKey, `bytes [${g.offset}, ${end}) (${what}) lie past the end of the shard`, { cause: e });
        }
        throw e;
      }
    }, signal);
  }
}
