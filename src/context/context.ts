import { CachePool, type CacheStats } from '../cache/pool.js';
import { SpecError } from '../errors.js';
import { parseDuration, RETRY_MEMBERS, TIMEOUT_MEMBERS } from '../kvstore/retry.js';
import { Limiter } from '../util/limiter.js';
import { type CodecWorkerPool, sharedCodecPool } from '../workers/pool.js';

/**
 * TensorStore's Context: shared resources (cache pool, concurrency limits, retry policies)
 * that every array opened with the same Context shares. Pass one Context to many `open()`
 * calls to share a cache and limits; each `open()` without one gets a fresh Context.
 *
 * Resource keys (TensorStore names, `name#id` accepted): `cache_pool{total_bytes_limit}`
 * (default 0 = no decoded chunks cached; metadata and shard indexes are still kept, see
 * src/cache/pool.ts), `data_copy_concurrency{limit}` (default: cores),
 * `file_io_concurrency{limit}` (default 8 x libuv's threadpool, 32 usually: see
 * `defaultFileIoConcurrency` in src/kvstore/file.ts for why it exceeds TensorStore's max(4, cores)), `gcs_request_concurrency{limit}` (64: DEFAULT_REQUEST_CONCURRENCY in src/limits.ts),
 * `gcs_request_retries{max_retries, initial_delay, max_delay, total_timeout}` (32, "1s", "32s",
 * "300s"), `gcs_request_timeout{first_byte, idle}` ("30s", "30s"; "inf" or "0" = none),
 * `gcs_user_project{project_id}`, and the same `http_*` / `s3_*` / `azure_*` request resources. The retry
 * and timeout defaults and their reasons are in src/kvstore/retry.ts.
 */
export class Context {
  readonly json: Readonly<Record<string, Record<string, unknown>>>;
  /**
   * The cache pool (`cache_pool.total_bytes_limit`): decoded chunks, shard indexes and metadata
   * in one byte budget, and the in-flight loads concurrent reads share (src/cache/pool.ts).
   */
  readonly cachePool: CachePool;
  readonly dataCopyConcurrency: number;
  private readonly limiters = new Map<string, Limiter>();

  constructor(json: Record<string, unknown> = {}, field = 'context') {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SpecError(field, 'must be a JSON object');
    const resources: Record<string, Record<string, unknown>> = {};
    for (const [k, v] of Object.entries(json)) {
      const name = k.split('#')[0]!;
      const schema = RESOURCES[name];
      if (!schema) throw new SpecError(`${field}.${k}`, `unknown context resource (known: ${Object.keys(RESOURCES).join(', ')})`);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SpecError(`${field}.${k}`, 'must be a JSON object');
      for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
        const check = schema[mk];
        if (!check) throw new SpecError(`${field}.${k}.${mk}`, `unknown member (known: ${Object.keys(schema).join(', ')})`);
        if (!check(mv)) throw new SpecError(`${field}.${k}.${mk}`, `invalid value ${JSON.stringify(mv)}`);
      }
      resources[name] = v as Record<string, unknown>;
    }
    this.json = resources;
    this.cachePool = new CachePool((resources.cache_pool?.total_bytes_limit as number | undefined) ?? 0);
    this.dataCopyConcurrency = limitOf(resources.data_copy_concurrency, cores());
  }

  /** The shared limiter of a `*_concurrency` resource (created once per Context). */
  limiter(resource: string, defaultLimit: number): Limiter {
    let l = this.limiters.get(resource);
    if (!l) this.limiters.set(resource, (l = new Limiter(limitOf(this.json[resource], defaultLimit))));
    return l;
  }

  /**
   * The worker pool that decodes and encodes chunks of arrays opened with this Context:
   * `data_copy_concurrency.limit` workers, default one per core. Pools are shared process-wide
   * by size (see `sharedCodecPool`), so many Contexts never multiply threads.
   */
  get codecPool(): CodecWorkerPool {
    const limit = this.json.data_copy_concurrency?.limit;
    return sharedCodecPool(typeof limit === 'number' ? limit : undefined);
  }

  resource(name: string): Record<string, unknown> | undefined {
    return this.json[name];
  }

  /**
   * Counters of everything opened with this Context, as a plain object (for the bench and for
   * dashboards: poll it and diff). The top-level fields are the common ones; `cache` has the
   * pool's detail by entry kind and the prefetch counters, `requestsByResource` each request
   * limiter (`gcs_request_concurrency`, `file_io_concurrency`, ...). Requests are counted as
   * limiter slots taken: one per HTTP attempt (retries included) or filesystem operation; the
   * memory store makes none.
   */
  stats(): ContextStats {
    const cache = this.cachePool.stats();
    const requestsByResource: ContextStats['requestsByResource'] = {};
    let requests = 0;
    let inFlight = 0;
    for (const [name, l] of this.limiters) {
      requestsByResource[name] = {
        limit: l.limit,
        prefetchLimit: l.prefetchLimit,
        started: l.started,
        active: l.active,
        pending: l.pending,
        activePrefetch: l.activePrefetch,
        pendingPrefetch: l.pendingPrefetch,
      };
      requests += l.started;
      inFlight += l.active;
    }
    return {
      hits: cache.hits,
      misses: cache.misses,
      evictions: cache.evictions,
      bytes: cache.bytesUsed,
      requests,
      inFlight,
      prefetchHits: cache.prefetch.hits,
      cache,
      requestsByResource,
    };
  }
}

/** What {@link Context.stats} returns. */
export interface ContextStats {
  /** Chunk reads served from the cache pool (fresh, or revalidated by a bodyless conditional read). */
  hits: number;
  /** Chunk reads that fetched and decoded. */
  misses: number;
  /** Cache entries (any kind) evicted to stay within `cache_pool.total_bytes_limit`. */
  evictions: number;
  /** Bytes charged to the cache pool now. */
  bytes: number;
  /** Storage requests started (limiter slots taken: HTTP attempts, filesystem operations). */
  requests: number;
  /** Storage requests running now. */
  inFlight: number;
  /** Demand reads served by a prefetch (cached by it, or still in flight). */
  prefetchHits: number;
  /** The cache pool's counters in detail. */
  cache: CacheStats;
  /** Per request limiter: its limit and counters. */
  requestsByResource: Record<string, {
    limit: number;
    prefetchLimit: number;
    started: number;
    active: number;
    pending: number;
    activePrefetch: number;
    pendingPrefetch: number;
  }>;
}

function cores(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n > 0 ? n : 4;
}

function limitOf(r: Record<string, unknown> | undefined, dflt: number): number {
  const l = r?.limit;
  return typeof l === 'number' ? l : dflt;
}

const isLimit = (v: unknown): boolean => v === 'shared' || (Number.isInteger(v) && (v as number) >= 1);
const isDuration = (v: unknown): boolean => {
  if (typeof v !== 'number' && typeof v !== 'string') return false;
  try {
    parseDuration(v);
    return true;
  } catch {
    return false;
  }
};
const isCount = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
const concurrency = { limit: isLimit };
const retries: Record<(typeof RETRY_MEMBERS)[number], (v: unknown) => boolean> = {
  max_retries: isCount,
  initial_delay: isDuration,
  max_delay: isDuration,
  total_timeout: isDuration,
};
const timeout: Record<(typeof TIMEOUT_MEMBERS)[number], (v: unknown) => boolean> = { first_byte: isDuration, idle: isDuration };

const RESOURCES: Record<string, Record<string, (v: unknown) => boolean>> = {
  cache_pool: { total_bytes_limit: isCount },
  data_copy_concurrency: concurrency,
  file_io_concurrency: concurrency,
  gcs_request_concurrency: concurrency,
  gcs_request_retries: retries,
  gcs_request_timeout: timeout,
  gcs_user_project: { project_id: (v) => typeof v === 'string' },
  http_request_concurrency: concurrency,
  http_request_retries: retries,
  http_request_timeout: timeout,
  s3_request_concurrency: concurrency,
  s3_request_retries: retries,
  s3_request_timeout: timeout,
  azure_request_concurrency: concurrency,
  azure_request_retries: retries,
  azure_request_timeout: timeout,
  memory_key_value_store: {},
};
