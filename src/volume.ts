import { DEFAULT_REQUEST_CONCURRENCY } from './limits.js';
import type { DataType, Scalar } from './array/dtype.js';
import type { NdArray } from './array/ndarray.js';
import type { CodecJSON } from './codecs/codec.js';
import { type MetadataCache, recheckMetadata } from './cache/metadata.js';
import { now, type RecheckCache, stalenessBound, type UseCounters } from './cache/pool.js';
import type { Context } from './context/context.js';
import { SpecError } from './errors.js';
import type { ChunkDriver } from './io/chunk-driver.js';
import { type IndexDomain, IndexTransform, type Selection } from './index-space/index.js';
import { type PlanOptions, readRegion, writeRegion } from './io/planner.js';
import { type PrefetchPolicy, type PrefetchPolicyName, Prefetcher, prefetchRegion, type PrefetchResult } from './io/prefetch.js';
import type { Priority } from './util/limiter.js';

/** Chunk layout as TensorStore reports it: write chunk = shard, read chunk = inner chunk. */
export interface ChunkLayout {
  gridOrigin: readonly number[];
  readChunk: { shape: readonly number[] };
  writeChunk: { shape: readonly number[] };
}

/** Options of every read and write: `signal` aborts the operation (AbortError). */
export interface IoOptions {
  signal?: AbortSignal;
}

/** Options of {@link Volume.read}. */
export interface ReadOptions extends IoOptions {
  /**
   * Read into this array (the view's shape and dtype, any strides) instead of allocating one.
   * Reusing buffers (e.g. one per training crop worker) avoids allocating and first-touching
   * fresh memory on every read, which dominates large raw reads.
   */
  out?: NdArray;
}

/** How a volume was opened (from the spec); @internal, made by `open()`. */
export interface VolumeOptions {
  /** `recheck_cached_data` (default true). */
  recheckCachedData: RecheckCache;
  /** `recheck_cached_metadata` (default "open"). */
  recheckCachedMetadata?: RecheckCache;
  fillMissingDataReads: boolean;
  /** When the array was opened (ms since the epoch): the `"open"` staleness bound. */
  openedAt?: number;
  /** The metadata as opened, for per-operation `recheck_cached_metadata` checks. */
  metadataCache?: MetadataCache;
}

/** Options of {@link Volume.prefetch}. */
export interface PrefetchOptions extends IoOptions {
  /** Request priority of the loads: 'prefetch' (default: behind every demand read) or 'demand'. */
  priority?: Priority;
  /**
   * Most decoded bytes of prefetched-but-unused data plus loads in flight (default a quarter of
   * `cache_pool.total_bytes_limit`): chunks beyond it are skipped, so a prefetch never evicts
   * the data demand reads are using.
   */
  budgetBytes?: number;
  /** Chunk loads in flight at once (default 16). */
  concurrency?: number;
}

/** Per-handle counters (see {@link Volume.stats}). */
export interface VolumeStats {
  /** Chunk reads served from the cache pool (fresh or revalidated). */
  hits: number;
  /** Chunk reads that fetched and decoded. */
  misses: number;
  /** Chunk reads served by a prefetch (cached by it, or joined while in flight). */
  prefetchHits: number;
  /** Chunk reads that joined a load already in flight (another reader's or a prefetch). */
  joined: number;
  /** The handle's prefetch policy at work (absent without one). */
  prefetch?: { policy: PrefetchPolicyName; active: number; window: number };
}

/** What a handle and its slices share: counters and the prefetch policy. */
interface HandleState {
  counters: UseCounters;
  prefetcher?: Prefetcher;
}

/**
 * An open array, seen through an index transform. Slicing, translating, transposing and
 * labelling compose the transform and do no I/O; `read()` and `write()` do the I/O.
 * Coordinates are the array's own (zarr C order, N5 attributes.json order, precomputed
 * [x, y, z, channel]); element values are in `dtype`.
 *
 * ```ts
 * const vol = await open('file:///data/em.zarr');
 * const xy = await vol.slice({ z: 100, y: [0, 512], x: [0, 512] }).read();   // NdArray [512, 512]
 * await vol.slice({ z: [0, 64] }).write(NdArray.zeros('uint8', [64, ...vol.shape.slice(1)]));
 * ```
 */
export class Volume {
  /** @internal use `open()`. */
  constructor(
    readonly driver: ChunkDriver,
    readonly transform: IndexTransform,
    readonly context: Context,
    private readonly options: VolumeOptions,
    private readonly baseSpec: Record<string, unknown>,
    private readonly state: HandleState = { counters: { hits: 0, misses: 0, prefetchHits: 0, joined: 0 } },
  ) {}

  get dtype(): DataType {
    return this.driver.grid.dtype;
  }

  /** The view's domain (coordinates, shape, labels). */
  get domain(): IndexDomain {
    return this.transform.inputDomain;
  }

  get shape(): number[] {
    return this.domain.shape;
  }

  get rank(): number {
    return this.domain.rank;
  }

  /** The underlying array's chunk layout (in the array's own dimension order). */
  get chunkLayout(): ChunkLayout {
    const g = this.driver.grid;
    return { gridOrigin: g.origin, readChunk: { shape: g.chunkShape }, writeChunk: { shape: g.writeChunkShape } };
  }

  /** The codec chain as canonical JSON. */
  get codec(): readonly CodecJSON[] {
    return this.driver.codecs;
  }

  get fillValue(): Scalar {
    return this.driver.grid.fillValue;
  }

  /** User attributes stored with the array ({} when the format has none). */
  get attributes(): Readonly<Record<string, unknown>> {
    return this.driver.attributes ?? {};
  }

  /** The view's dimension labels ('' = unlabelled). */
  get dimensionNames(): readonly string[] {
    return this.domain.labels;
  }

  private with(t: IndexTransform): Volume {
    return new Volume(this.driver, t, this.context, this.options, this.baseSpec, this.state);
  }

  /**
   * NumPy-like indexing in the view's coordinates: per dim an integer (drops the dim),
   * `[start, stop]` / `[start, stop, step]` (stop exclusive, null = open), or null for all;
   * or an object keyed by dimension label. No I/O.
   * @throws OutOfBoundsError when the selection leaves the domain.
   */
  slice(selection: Selection): Volume {
    return this.with(this.transform.slice(selection));
  }

  translateBy(offsets: readonly number[] | Record<string, number>): Volume {
    return this.with(this.transform.translateBy(offsets));
  }

  translateTo(origins: readonly number[] | Record<string, number>): Volume {
    return this.with(this.transform.translateTo(origins));
  }

  transpose(order: readonly (number | string)[]): Volume {
    return this.with(this.transform.transpose(order));
  }

  label(labels: readonly string[] | Record<number, string>): Volume {
    return this.with(this.transform.label(labels));
  }

  stride(strides: readonly number[] | Record<string, number>): Volume {
    return this.with(this.transform.stride(strides));
  }

  /**
   * Reads the view into a new C-order array of the view's shape (or into `options.out`).
   * Chunks come from the Context's cache pool when fresh (`recheck_cached_data`); concurrent
   * reads of one chunk share one fetch and decode. On a handle with a prefetch policy
   * ({@link withPrefetch}) the read also moves the prefetch window.
   * @throws OutOfBoundsError if the view leaves the array's domain; CorruptionError for bad
   *   stored bytes (checksum, truncation, shard index); KvStoreError for storage failures;
   *   MetadataError when `recheck_cached_metadata` finds the metadata changed since open;
   *   AbortError when `signal` fires.
   */
  async read(options: ReadOptions = {}): Promise<NdArray> {
    const start = now();
    await this.recheckMetadata(start, options.signal);
    const p = this.state.prefetcher;
    p?.beginDemand(this.transform);
    try {
      return await readRegion(this.driver, this.transform, { ...this.planOptions(options, start), out: options.out });
    } finally {
      p?.endDemand();
    }
  }

  /**
   * Writes an array of the view's shape and dtype, or a scalar, into the view. Partial chunks
   * are read-modify-written under a generation condition and retried on conflict. Cached
   * entries of the chunks written are invalidated.
   */
  async write(source: NdArray | Scalar, options: IoOptions = {}): Promise<void> {
    const start = now();
    await this.recheckMetadata(start, options.signal);
    return writeRegion(this.driver, this.transform, source, this.planOptions(options, start));
  }

  /**
   * Warms the Context's cache pool with the chunks of this view, without returning data:
   * chunks not cached (fresh) and not being loaded are fetched and decoded, at prefetch
   * priority by default (every demand read's requests go first), within a byte budget.
   * Resolves with what it did once every load has finished.
   * @throws SpecError when the Context caches no chunks (`cache_pool.total_bytes_limit` 0);
   *   OutOfBoundsError for a view outside the domain; AbortError when `signal` fires (loads no
   *   demand read has joined are cancelled); storage and decoding errors.
   */
  prefetch(options: PrefetchOptions = {}): Promise<PrefetchResult> {
    return prefetchRegion(this.driver, this.transform, {
      ...this.planOptions(options, now()),
      priority: options.priority ?? 'prefetch',
      budgetBytes: options.budgetBytes,
      concurrency: options.concurrency,
    });
  }

  /**
   * A handle on the same view whose demand reads (its own and its slices') drive a prefetch
   * policy: `'neighbors'` (a viewer: the chunks next to the last read along the scroll axis,
   * `depth` chunks deep) or `'sequential'` (a scanner: the next `depth` regions of the last
   * read's shape in iteration order); `'off'` returns a handle without one. Prefetched data is
   * loaded at prefetch priority (`neighbors`: only while no demand read of the handle runs;
   * `sequential`: also during reads, see PrefetchPolicy.duringReads), dropped when a
   * read moves the window away from it, and kept within `budgetBytes`.
   *
   * ```ts
   * const viewer = vol.withPrefetch({ policy: 'neighbors', axis: 'z', depth: 1 });
   * for (let z = 0; z < 200; z++) show(await viewer.slice({ z, y: [0, 512], x: [0, 512] }).read());
   * ```
   * @throws SpecError when the Context caches no chunks, for an unknown axis, or a bad depth,
   *   budget or concurrency.
   */
  withPrefetch(policy: PrefetchPolicy | PrefetchPolicyName): Volume {
    const p: PrefetchPolicy = typeof policy === 'string' ? { policy } : policy;
    if (!['off', 'neighbors', 'sequential'].includes(p.policy)) {
      throw new SpecError('prefetch.policy', `must be "off", "neighbors" or "sequential", got ${JSON.stringify(p.policy)}`);
    }
    const state: HandleState = { counters: { hits: 0, misses: 0, prefetchHits: 0, joined: 0 } };
    if (p.policy !== 'off') {
      state.prefetcher = new Prefetcher(this.driver, p, this.arrayAxis(p.axis), () => this.planOptions({}, now()));
    }
    return new Volume(this.driver, this.transform, this.context, this.options, this.baseSpec, state);
  }

  /**
   * This handle's counters (shared with its slices; a handle from {@link withPrefetch} has its
   * own). The Context's counters cover every handle: `context.stats()`.
   */
  stats(): VolumeStats {
    const p = this.state.prefetcher;
    return {
      ...this.state.counters,
      ...(p ? { prefetch: { policy: p.policy.policy, active: p.active, window: p.windowSize } } : {}),
    };
  }

  /** The array dimension of a view axis (label or index), for the prefetch scroll axis. */
  private arrayAxis(axis: number | string | undefined): number | undefined {
    if (axis === undefined) return undefined;
    const j = typeof axis === 'number' ? axis : this.domain.labels.indexOf(axis);
    if (!(j >= 0 && j < this.rank)) {
      throw new SpecError('prefetch.axis', `${JSON.stringify(axis)} is not a dimension of this view (labels: ${JSON.stringify(this.domain.labels)})`);
    }
    const k = this.transform.outputs.findIndex((m) => m.kind !== 'constant' && m.inputDim === j);
    if (k < 0) throw new SpecError('prefetch.axis', `view dimension ${JSON.stringify(axis)} maps to no array dimension`);
    return k;
  }

  /** `recheck_cached_metadata` before an operation started at `start` (true or a later time bound only). */
  private async recheckMetadata(start: number, signal: AbortSignal | undefined): Promise<void> {
    const r = this.options.recheckCachedMetadata;
    const cache = this.options.metadataCache;
    if (!cache || r === undefined || r === false || r === 'open') return;
    const bound = stalenessBound(r, this.options.openedAt ?? -Infinity, start);
    if (bound <= (this.options.openedAt ?? -Infinity)) return;
    await recheckMetadata(cache, bound, signal);
  }

  private planOptions(o: IoOptions, start: number): PlanOptions {
    return {
      signal: o.signal,
      cache: this.context.cachePool,
      cacheKeyPrefix: this.driver.store.url,
      recheckBefore: stalenessBound(this.options.recheckCachedData, this.options.openedAt ?? -Infinity, start),
      fillMissing: this.options.fillMissingDataReads,
      // chunk groups in flight: enough to fill a remote store's request limit with one read
      concurrency: Math.max(DEFAULT_REQUEST_CONCURRENCY, this.context.dataCopyConcurrency * 8),
      counters: this.state.counters,
    };
  }

  /** TensorStore spec JSON for this view (driver, kvstore, metadata, transform). */
  spec(): Record<string, unknown> {
    return { ...this.driver.spec(), ...this.baseSpec, transform: this.transform.toJSON() };
  }
}

export { IndexTransform };
