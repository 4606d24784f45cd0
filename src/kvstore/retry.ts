/**
 * Retry policy for the HTTP-backed stores (GCS, S3, HTTP), after TensorStore's
 * `gcs_request_retries` / `http_request_retries` context resources.
 *
 * Delay before retry number `attempt` (0-based):
 *   min(max_delay, initial_delay * 2^attempt + U(0, min(1 s, initial_delay)))
 * The jitter spreads out clients that failed together (e.g. behind one 503 burst).
 *
 * What is retried: HTTP 408, 429 and 5xx, connection resets / network errors, per-attempt
 * timeouts and truncated bodies. A request is retried only when it is idempotent: reads,
 * lists, HEADs, and writes or deletes that carry a generation precondition. An unconditional
 * write that was cut off may already have been applied, and repeating it could overwrite a
 * later writer's value, so it fails instead.
 */
import { AbortError, SpecError, throwIfAborted } from '../errors.js';

export interface RetryPolicy {
  /** Retries after the first attempt (0 = try once). */
  maxRetries: number;
  /** Base delay in milliseconds. */
  initialDelayMs: number;
  /** Upper bound of any single delay, in milliseconds. */
  maxDelayMs: number;
}

/** TensorStore's defaults: 32 retries, 1 s initial delay, 32 s maximum delay. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxRetries: 32,
  initialDelayMs: 1000,
  maxDelayMs: 32000,
});

/** Merges a partial policy over the defaults. */
export function retryPolicy(p?: Partial<RetryPolicy>): RetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...(p ?? {}) };
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

/**
 * Maps the JSON of a `*_request_retries` context resource
 * (`{max_retries, initial_delay, max_delay}`) onto a policy; missing members take defaults.
 */
export function retryPolicyFromJson(json: unknown, field = 'gcs_request_retries'): RetryPolicy {
  if (json === undefined || json === null) return retryPolicy();
  if (typeof json !== 'object' || Array.isArray(json)) throw new SpecError(field, 'expected an object');
  const j = json as Record<string, unknown>;
  const p = retryPolicy();
  for (const k of Object.keys(j)) {
    if (k !== 'max_retries' && k !== 'initial_delay' && k !== 'max_delay') {
      throw new SpecError(`${field}.${k}`, 'unknown member');
    }
  }
  if (j.max_retries !== undefined) {
    if (!Number.isInteger(j.max_retries) || (j.max_retries as number) < 0) {
      throw new SpecError(`${field}.max_retries`, 'expected a non-negative integer');
    }
    p.maxRetries = j.max_retries as number;
  }
  if (j.initial_delay !== undefined) p.initialDelayMs = parseDuration(j.initial_delay as string, `${field}.initial_delay`);
  if (j.max_delay !== undefined) p.maxDelayMs = parseDuration(j.max_delay as string, `${field}.max_delay`);
  return p;
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

/** HTTP statuses worth retrying: request timeout, rate limiting and server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * Whether a request may be repeated. Reads are always idempotent; a write or delete only when
 * it carries a precondition (a repeat then fails the precondition instead of clobbering).
 */
export function isIdempotent(method: string, conditional: boolean): boolean {
  const m = method.toUpperCase();
  if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS') return true;
  return conditional;
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
 * (when the request is idempotent) and, once retries run out, throws `final` instead.
 */
export class TransientError extends Error {
  constructor(readonly final: Error) {
    super(final.message, { cause: final });
  }
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** False for unconditional writes/deletes: the first transient failure is final. */
  idempotent: boolean;
  signal?: AbortSignal;
  /** Called before each backoff sleep; for counters and tests. */
  onRetry?: (attempt: number, error: Error, delayMs: number) => void;
  random?: () => number;
}

/**
 * Runs `attempt(n)` until it returns, throws a non-transient error, or retries run out.
 * `attempt` signals a transient failure by throwing {@link TransientError}.
 */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let n = 0; ; n++) {
    throwIfAborted(opts.signal);
    try {
      return await attempt(n);
    } catch (e) {
      if (!(e instanceof TransientError)) throw e;
      if (!opts.idempotent || n >= opts.policy.maxRetries) throw e.final;
      const delay = backoffDelay(n, opts.policy, opts.random);
      opts.onRetry?.(n, e.final, delay);
      await sleep(delay, opts.signal);
    }
  }
}
