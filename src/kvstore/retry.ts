/**
 * Request policy of the HTTP-backed stores (GCS, S3, HTTP): retries and timeouts, after
 * TensorStore's `gcs_request_retries` / `http_request_retries` context resources.
 *
 * Delay before retry number `attempt` (0-based):
 *   min(max_delay, initial_delay * 2^attempt + U(0, min(1 s, initial_delay)))
 * The jitter spreads out clients that failed together (e.g. behind one 503 burst).
 *
 * What is retried: HTTP 408, 429 and 5xx (but not 501/505), connection resets / network errors,
 * per-attempt timeouts, truncated bodies and checksum mismatches. Every request the stores send
 * is idempotent (see http/core.ts for why writes are), so all of them are retried.
 *
 * Bounds (so an unreachable or stalled server fails in minutes, not a quarter of an hour):
 * - `max_retries` (default 32) retries after the first attempt;
 * - `total_timeout` (default 300 s): no new attempt starts once this much time has passed since
 *   the operation's first attempt, so an operation ends within about total_timeout plus one
 *   request timeout;
 * - "unreachable" failures (connection refused, unknown host, no route) are retried at most
 *   {@link UNREACHABLE_MAX_RETRIES} times: with the default delays such an operation fails after
 *   about 15-20 s;
 * - errors a retry cannot fix (a request that cannot be built, TLS certificate errors, 4xx
 *   answers) fail at once.
 */
import { AbortError, SpecError, throwIfAborted } from '../errors.js';

export interface RetryPolicy {
  /** Retries after the first attempt (0 = try once). */
  maxRetries: number;
  /** Base delay in milliseconds. */
  initialDelayMs: number;
  /** Upper bound of any single delay, in milliseconds. */
  maxDelayMs: number;
  /**
   * No retry starts once this many milliseconds have passed since the first attempt (the
   * running attempt is bounded by its own timeouts). Undefined or `Infinity` = no bound;
   * {@link retryPolicy} fills in the default.
   */
  totalTimeoutMs?: number;
}

/**
 * TensorStore's defaults (32 retries, 1 s initial delay, 32 s maximum delay), bounded by a
 * total of 300 s per operation (TensorStore has no such bound: 32 retries take ~15 min).
 */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxRetries: 32,
  initialDelayMs: 1000,
  maxDelayMs: 32000,
  totalTimeoutMs: 300_000,
});

/**
 * Consecutive "unreachable" failures (connection refused, DNS failure, no route to host) retried
 * before giving up: a server that refuses five connections over ~15 s is not restarting.
 */
export const UNREACHABLE_MAX_RETRIES = 4;

/** Merges a partial policy over the defaults. */
export function retryPolicy(p?: Partial<RetryPolicy>): RetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...(p ?? {}) };
}

/** Per-attempt timeouts of one HTTP request, in milliseconds (`Infinity` = none). */
export interface RequestTimeouts {
  /**
   * From sending the request to the response headers. For a request with a body, the time the
   * body takes at {@link UPLOAD_FLOOR_BYTES_PER_SECOND} is added (fetch cannot tell when the
   * body has been sent).
   */
  firstByteMs: number;
  /** Longest pause between two pieces of the response body. */
  idleMs: number;
}

/** Defaults of `*_request_timeout`: `{"first_byte": "30s", "idle": "30s"}`. */
export const DEFAULT_REQUEST_TIMEOUTS: Readonly<RequestTimeouts> = Object.freeze({ firstByteMs: 30_000, idleMs: 30_000 });

/** Slowest upload rate not taken for a stall: 64 KiB/s (an 8 MiB chunk gets 128 s more). */
export const UPLOAD_FLOOR_BYTES_PER_SECOND = 64 * 1024;

/** Merges partial timeouts over the defaults. */
export function requestTimeouts(p?: Partial<RequestTimeouts>): RequestTimeouts {
  return { ...DEFAULT_REQUEST_TIMEOUTS, ...(p ?? {}) };
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60000, min: 60000, h: 3600000 };

/**
 * Parses a TensorStore/absl duration string ("1s", "500ms", "1.5s", "1m30s", "inf") into
 * milliseconds. A bare number is taken as milliseconds. Throws SpecError naming `field`.
 */
export function parseDuration(value: string | number, field = 'duration'): number {
  if (typeof value === 'number') {
    if (!(value >= 0)) throw new SpecError(field, `expected a non-negative duration, got ${value}`);
    return value;
  }
  if (typeof value !== 'string') throw new SpecError(field, `expected a duration string such as "30s", got ${JSON.stringify(value)}`);
  const s = value.trim();
  if (s === 'inf') return Infinity;
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|min|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += parseFloat(m[1]!) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== s.length) {
    throw new SpecError(field, `invalid duration ${JSON.stringify(value)} (expected e.g. "1s", "500ms")`);
  }
  return total;
}

function objectJson(json: unknown, field: string, members: readonly string[]): Record<string, unknown> | undefined {
  if (json === undefined || json === null) return undefined;
  if (typeof json !== 'object' || Array.isArray(json)) throw new SpecError(field, 'expected an object');
  const j = json as Record<string, unknown>;
  for (const k of Object.keys(j)) {
    if (!members.includes(k)) throw new SpecError(`${field}.${k}`, `unknown member (known: ${members.join(', ')})`);
  }
  return j;
}

/** Members of a `*_request_retries` context resource. */
export const RETRY_MEMBERS = ['max_retries', 'initial_delay', 'max_delay', 'total_timeout'] as const;
/** Members of a `*_request_timeout` context resource. */
export const TIMEOUT_MEMBERS = ['first_byte', 'idle'] as const;

/**
 * Maps the JSON of a `*_request_retries` context resource
 * (`{max_retries, initial_delay, max_delay, total_timeout}`) onto a policy; missing members
 * take the defaults. Throws SpecError naming the member.
 */
export function retryPolicyFromJson(json: unknown, field = 'gcs_request_retries'): RetryPolicy {
  const p = retryPolicy();
  const j = objectJson(json, field, RETRY_MEMBERS);
  if (!j) return p;
  if (j.max_retries !== undefined) {
    if (!Number.isInteger(j.max_retries) || (j.max_retries as number) < 0) {
      throw new SpecError(`${field}.max_retries`, 'expected a non-negative integer');
    }
    p.maxRetries = j.max_retries as number;
  }
  if (j.initial_delay !== undefined) p.initialDelayMs = parseDuration(j.initial_delay as string, `${field}.initial_delay`);
  if (j.max_delay !== undefined) p.maxDelayMs = parseDuration(j.max_delay as string, `${field}.max_delay`);
  if (j.total_timeout !== undefined) p.totalTimeoutMs = parseDuration(j.total_timeout as string, `${field}.total_timeout`);
  return p;
}

/**
 * Maps the JSON of a `*_request_timeout` context resource (`{first_byte, idle}`, durations such
 * as "30s"; "inf" or 0 = no timeout) onto timeouts; missing members take the defaults.
 * Throws SpecError naming the member.
 */
export function requestTimeoutsFromJson(json: unknown, field = 'gcs_request_timeout'): RequestTimeouts {
  const t = requestTimeouts();
  const j = objectJson(json, field, TIMEOUT_MEMBERS);
  if (!j) return t;
  const ms = (v: unknown, f: string) => {
    const d = parseDuration(v as string, f);
    return d === 0 ? Infinity : d;
  };
  if (j.first_byte !== undefined) t.firstByteMs = ms(j.first_byte, `${field}.first_byte`);
  if (j.idle !== undefined) t.idleMs = ms(j.idle, `${field}.idle`);
  return t;
}

/**
 * Delay in ms before retry `attempt` (0 = the first retry). `random` returns [0, 1) and is
 * injectable for tests.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const base = policy.initialDelayMs * 2 ** Math.min(attempt, 60);
  const jitter = random() * Math.min(1000, policy.initialDelayMs);
  return Math.min(policy.maxDelayMs, base + jitter);
}

/**
 * HTTP statuses worth retrying: request timeout, rate limiting and server errors, except
 * 501 (Not Implemented) and 505 (HTTP Version Not Supported), which a retry cannot change.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/** Sleeps `ms`, rejecting with AbortError as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError('operation aborted', { cause: signal.reason }));
      return;
    }
    if (ms <= 0) {
      resolve();
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError('operation aborted during retry backoff', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Thrown by an attempt to say "this failure is transient". The retry loop repeats the attempt
 * and, once retries run out, throws `final` instead. `unreachable` marks failures to reach the
 * server at all (connection refused, DNS), which get the smaller {@link UNREACHABLE_MAX_RETRIES}.
 */
export class TransientError extends Error {
  constructor(readonly final: Error, readonly unreachable = false) {
    super(final.message, { cause: final });
  }
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** False: the first transient failure is final. Default true. */
  idempotent?: boolean;
  signal?: AbortSignal;
  /** Called before each backoff sleep; for counters, logs and tests. `attempt` is 0-based. */
  onRetry?: (attempt: number, error: Error, delayMs: number) => void;
  /**
   * Builds the error thrown when retries run out from the last transient failure; `attempts`
   * counts every attempt made, `why` says which bound ended them.
   */
  onGiveUp?: (final: Error, attempts: number, why: string) => Error;
  random?: () => number;
  /** Clock in ms (injectable for tests). Default `Date.now`. */
  now?: () => number;
}

/**
 * Runs `attempt(n)` until it returns, throws a non-transient error, or a bound of the policy is
 * reached (see the module comment). `attempt` signals a transient failure by throwing
 * {@link TransientError}.
 */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const now = opts.now ?? Date.now;
  const start = now();
  let unreachableRun = 0;
  for (let n = 0; ; n++) {
    throwIfAborted(opts.signal);
    try {
      return await attempt(n);
    } catch (e) {
      if (!(e instanceof TransientError)) throw e;
      unreachableRun = e.unreachable ? unreachableRun + 1 : 0;
      const giveUp = (why: string) => (opts.onGiveUp ? opts.onGiveUp(e.final, n + 1, why) : e.final);
      if (opts.idempotent === false) throw giveUp('not retried');
      if (n >= opts.policy.maxRetries) throw giveUp(`max_retries ${opts.policy.maxRetries}`);
      if (unreachableRun > UNREACHABLE_MAX_RETRIES) throw giveUp('server unreachable');
      const delay = backoffDelay(n, opts.policy, opts.random);
      const total = opts.policy.totalTimeoutMs ?? Infinity;
      if (now() - start + delay >= total) {
        throw giveUp(`total_timeout ${Math.round(total / 1000)} s`);
      }
      opts.onRetry?.(n, e.final, delay);
      await sleep(delay, opts.signal);
    }
  }
}
