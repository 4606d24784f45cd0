/**
 * The one HTTP transport of the GCS, S3 and HTTP stores (and of any later dialect, such as
 * Azure Blob). It owns: fetch injection, the concurrency limiter, credentials restricted to one
 * origin (auth header, request signing, custom headers), redirects, per-attempt timeouts (first
 * byte and idle), the retry loop with its bounds and logging, the classification of failures
 * (retry / retry a little / fail at once) and the scrubbing of secrets from every error and log
 * line. What a response MEANS is left to the read core (core.ts) and the dialects.
 *
 * Browser-safe: only global `fetch`, `Headers`, `AbortController` and streams are used.
 */
import { DEFAULT_REQUEST_CONCURRENCY } from '../../limits.js';
import { AbortError, KvStoreError, VolstoreError } from '../../errors.js';
import { Limiter, type Priority, type RequestPriority } from '../../util/limiter.js';
import { log, logEnabled } from '../../util/log.js';
import { ANONYMOUS, type AuthProvider } from '../auth.js';
import {
  isRetryableStatus,
  requestTimeouts,
  type RequestTimeouts,
  retryPolicy,
  type RetryPolicy,
  TransientError,
  UPLOAD_FLOOR_BYTES_PER_SECOND,
  withRetries,
} from '../retry.js';
import {
  bodyText,
  ERROR_BODY_LIMIT,
  isAbortLike,
  type RawRead,
  readPartial,
  readText,
  readWhole,
  type RawBytes,
  type Reply,
  rangeHeader,
  statusError,
  type WireRange,
} from './reply.js';
import { errorCode, errorText, safeUrl, sanitizedError, Secrets } from './secrets.js';

/** The subset of `fetch` the stores use; inject one for tests, proxies or instrumentation. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Signs a request (S3 SigV4, Azure shared key): returns the headers to send. */
export type RequestSigner = (req: { method: string; url: string; headers: Headers; body?: Uint8Array }) => Promise<Headers>;

/**
 * The transport options every HTTP-backed store takes (GCS, S3, Azure, plain HTTP), each from
 * its own context resources (`<store>_request_concurrency`, `_retries`, `_timeout`).
 */
export interface HttpTransportOptions {
  /** Inject a fetch for tests, proxies or instrumentation. Default: the global `fetch`. */
  fetch?: FetchLike;
  /** Retry policy; default 32 retries, 1 s initial, 32 s max delay, 300 s in total. */
  retries?: Partial<RetryPolicy>;
  /** Per-attempt timeouts; default {@link DEFAULT_REQUEST_TIMEOUTS} (30 s first byte, 30 s idle). */
  timeouts?: Partial<RequestTimeouts>;
  /** Shared limiter (a context resource); one attempt holds one slot, backoff sleeps hold none. Default: a process-wide one of 32 per store kind. */
  concurrency?: Limiter;
}

/** Options of {@link HttpClient}. */
export interface HttpClientOptions extends HttpTransportOptions {
  auth?: AuthProvider;
  /**
   * Origin (scheme://host:port) that may receive credentials: `Authorization`, signatures and
   * {@link originHeaders}. Requests elsewhere (after a redirect) carry none of them.
   */
  authOrigin?: string;
  sign?: RequestSigner;
  /** Headers for the trusted origin only (custom spec headers may hold API keys). */
  originHeaders?: Record<string, string>;
  /** Secrets the store knows (tokens, keys, header values); scrubbed from every message. */
  secrets?: Secrets;
  /** Follow redirects (default true). When false, 3xx answers reach the caller. */
  followRedirects?: boolean;
  /** Short name for log lines, e.g. 'gcs'. */
  label?: string;
}

export interface HttpRequest {
  method: string;
  url: string;
  /** The store key, for error messages. */
  key: string;
  /** Request headers that may go to any origin (range, conditions, content type). */
  headers?: Record<string, string>;
  body?: Uint8Array;
  cache?: RequestCache;
  signal?: AbortSignal;
  /** Priority in the concurrency limiter (default demand; see `ReadOptions.priority`). */
  priority?: Priority | RequestPriority;
  /**
   * One attempt only; a transient failure surfaces as {@link TransientError} so that an outer
   * loop (a resumable upload, which must re-query its offset) can decide how to retry.
   */
  noRetry?: boolean;
  /** Called after an attempt failed transiently (so it may or may not have been executed). */
  onTransient?: (error: Error) => void;
}

/** Counters per client, for tests, benchmarks and the report of a run under faults. */
export interface HttpStats {
  /** Attempts sent (including retries). */
  requests: number;
  /** Attempts that failed transiently and were retried. */
  retries: number;
}

const MAX_REDIRECTS = 5;
/** Failed attempts of one operation after which one warning line is logged. */
export const WARN_AFTER_FAILURES = 3;

let defaultLimiter: Limiter | undefined;
/** The process-wide default limiter (DEFAULT_REQUEST_CONCURRENCY requests). */
export function defaultRequestLimiter(): Limiter {
  return (defaultLimiter ??= new Limiter(DEFAULT_REQUEST_CONCURRENCY));
}

/** Error codes meaning "nothing answers there": retried only a few times. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/** Error codes a retry cannot fix: certificates, invalid arguments. */
const PERMANENT_CODE = /^(CERT_|ERR_TLS_|ERR_SSL_|ERR_OSSL_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|ERR_INVALID_|UND_ERR_INVALID_ARG|UND_ERR_NOT_SUPPORTED)/;
/** Messages of fetch's network-failure TypeError in Node (undici) and the browsers. */
const NETWORK_MESSAGE = /^(fetch failed|failed to fetch|networkerror when attempting to fetch resource\.?|load failed|network error|terminated)$/i;

/**
 * How a thrown fetch failure is retried: 'unreachable' (connection refused, DNS, no route: a
 * few retries), 'transient' (resets and other socket errors, a browser's opaque network error),
 * 'permanent' (the request cannot be built or is refused by fetch itself: a URL with user-info,
 * an invalid header, a "bad port", a redirect fetch will not follow; TLS certificate errors).
 * Node's fetch reports socket failures as `TypeError('fetch failed')` whose cause carries a
 * system `code`; its own refusals carry a cause without one.
 */
export function classifyFetchError(e: unknown): 'unreachable' | 'transient' | 'permanent' {
  const code = errorCode(e);
  if (code !== undefined && UNREACHABLE_CODES.has(code)) return 'unreachable';
  if (code !== undefined && PERMANENT_CODE.test(code)) return 'permanent';
  if (!(e instanceof TypeError) || !NETWORK_MESSAGE.test(e.message.trim())) return 'permanent';
  if (code !== undefined) return 'transient';
  return (e as { cause?: unknown }).cause === undefined ? 'transient' : 'permanent';
}

/** The timers of one attempt: first byte (plus upload time), then idle between body pieces. */
class AttemptTimer {
  readonly ctl = new AbortController();
  /** Which timeout fired, if one did. */
  fired: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort: () => void;

  constructor(
    private readonly signal: AbortSignal | undefined,
    private readonly timeouts: RequestTimeouts,
    bodyBytes: number,
  ) {
    this.onAbort = () => this.ctl.abort(signal!.reason);
    if (signal) {
      if (signal.aborted) this.ctl.abort(signal.reason);
      else signal.addEventListener('abort', this.onAbort, { once: true });
    }
    this.firstByte(bodyBytes);
  }

  /** (Re)arms the first-byte timer, e.g. for each redirect hop. */
  firstByte(bodyBytes = 0): void {
    const extra = bodyBytes > 0 ? (bodyBytes / UPLOAD_FLOOR_BYTES_PER_SECOND) * 1000 : 0;
    this.arm(`no response within ${Math.round(this.timeouts.firstByteMs + extra)} ms (first_byte timeout)`, this.timeouts.firstByteMs + extra);
  }

  /** Response data arrived: the idle timer starts over. */
  progress = (): void => {
    this.arm(`no data for ${Math.round(this.timeouts.idleMs)} ms (idle timeout)`, this.timeouts.idleMs);
  };

  private arm(what: string, ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!(ms > 0) || !Number.isFinite(ms) || this.ctl.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.fired = what;
      this.ctl.abort(new Error('volstore request timeout'));
    }, ms);
  }

  done(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}

/** The reply handed to handlers: reading its body feeds the idle timer. */
function wrapReply(res: Response, timer: AttemptTimer): Reply {
  return { status: res.status, statusText: res.statusText, headers: res.headers, body: res.body, progress: timer.progress };
}

const isRedirect = (s: number) => s === 301 || s === 302 || s === 303 || s === 307 || s === 308;

/** The message of a KvStoreError without its `"key": ` prefix. */
function detailOf(e: KvStoreError): string {
  const prefix = `"${e.key}": `;
  return e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
}

export class HttpClient {
  readonly policy: RetryPolicy;
  readonly timeouts: RequestTimeouts;
  readonly stats: HttpStats = { requests: 0, retries: 0 };
  /** The store's secrets; each attempt scrubs against a child that adds its own `Authorization`. */
  readonly secrets: Secrets;
  private readonly fetchFn: FetchLike;
  private readonly limiter: Limiter;
  private readonly auth: AuthProvider;
  private readonly originHeaders: [string, string][];
  private readonly label: string;

  constructor(private readonly opts: HttpClientOptions = {}) {
    this.policy = retryPolicy(opts.retries);
    this.timeouts = requestTimeouts(opts.timeouts);
    // Bind the global lazily so that tests which stub globalThis.fetch later still apply.
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.limiter = opts.concurrency ?? defaultRequestLimiter();
    this.auth = opts.auth ?? ANONYMOUS;
    this.secrets = opts.secrets ?? new Secrets();
    this.originHeaders = Object.entries(opts.originHeaders ?? {});
    for (const [, v] of this.originHeaders) this.secrets.add(v);
    this.label = opts.label ?? 'http';
  }

  /**
   * Runs `fn` (one attempt) with the retry policy, logging each retry at debug level and one
   * warning once an operation has failed {@link WARN_AFTER_FAILURES} times. When retries run
   * out, a KvStoreError says how many attempts were made and which bound ended them.
   */
  retrying<T>(what: { method: string; url: string; signal?: AbortSignal; onTransient?: (e: Error) => void }, fn: () => Promise<T>): Promise<T> {
    const p = this.policy;
    return withRetries(fn, {
      policy: p,
      signal: what.signal,
      onRetry: (n, err, delay) => {
        this.stats.retries++;
        what.onTransient?.(err);
        const failures = n + 1;
        if (logEnabled('debug')) log.debug(`${this.label}: ${err.message}; retry ${failures} of ${p.maxRetries} in ${(delay / 1000).toFixed(1)} s`);
        if (failures === WARN_AFTER_FAILURES) {
          const within = p.totalTimeoutMs !== undefined && Number.isFinite(p.totalTimeoutMs) ? ` within ${Math.round(p.totalTimeoutMs / 1000)} s` : '';
          log.warn(
            `${this.label}: ${err.message} (${failures} attempts failed; retrying up to ${p.maxRetries} times${within}; VOLSTORE_LOG=debug shows each request)`,
          );
        }
      },
      onGiveUp: (final, attempts, why) => {
        if (attempts <= 1 || !(final instanceof KvStoreError)) return final;
        return new KvStoreError(final.key, `${detailOf(final)} (gave up after ${attempts} attempts: ${why})`, {
          status: final.status,
          cause: final.cause,
        });
      },
    });
  }

  /**
   * Sends `req` with retries and hands each non-retryable response to `handle`, which reads
   * the body and returns the result (it may throw {@link TransientError} to retry, e.g. on a
   * truncated body). Retryable statuses (408, 429, 5xx), network errors and timeouts are
   * retried; the final failure is a KvStoreError naming the key, method, URL (without query or
   * user-info) and status, with every known secret scrubbed.
   */
  request<T>(req: HttpRequest, handle: (reply: Reply, secrets: Secrets) => Promise<T>): Promise<T> {
    const once = () => this.limiter.run(() => this.attempt(req, handle), req.signal, req.priority);
    if (req.noRetry) return once();
    return this.retrying(req, once);
  }

  private isTrusted(url: string): boolean {
    if (this.opts.authOrigin === undefined) return false;
    try {
      return new URL(url).origin === this.opts.authOrigin;
    } catch {
      return false;
    }
  }

  private async attempt<T>(req: HttpRequest, handle: (reply: Reply, secrets: Secrets) => Promise<T>): Promise<T> {
    const timer = new AttemptTimer(req.signal, this.timeouts, req.body?.length ?? 0);
    const secrets = this.secrets.child();
    let url = req.url;
    let method = req.method;
    let body = req.body;
    let reply: Reply | undefined;
    try {
      for (let hop = 0; ; hop++) {
        const trusted = this.isTrusted(url);
        const headers = new Headers(req.headers);
        let bound = false;
        if (trusted) {
          for (const [k, v] of this.originHeaders) headers.set(k, v);
          const authorization = await this.auth.authorization(timer.ctl.signal);
          if (authorization) headers.set('authorization', authorization);
          bound = this.originHeaders.length > 0 || authorization !== undefined || this.opts.sign !== undefined;
        }
        const send = trusted && this.opts.sign ? await this.opts.sign({ method, url, headers, body }) : headers;
        secrets.addAuthorization(send.get('authorization'));
        this.stats.requests++;
        if (logEnabled('debug')) log.debug(`${this.label}: ${method} ${safeUrl(url)}`);
        const t0 = Date.now();
        const res = await this.fetchFn(url, {
          method,
          headers: send,
          body: body as BodyInit | undefined,
          signal: timer.ctl.signal,
          cache: req.cache,
          // With credentials we follow redirects ourselves, so none reaches another origin.
          redirect: bound || this.opts.followRedirects === false ? 'manual' : 'follow',
        });
        if (logEnabled('debug')) log.debug(`${this.label}: ${method} ${safeUrl(url)} -> ${res.status} (${Date.now() - t0} ms)`);
        if (res.type === 'opaqueredirect') {
          throw new KvStoreError(req.key, `${method} ${safeUrl(url)}: the server redirected; redirects are not followed while sending credentials in a browser`);
        }
        if (this.opts.followRedirects !== false && isRedirect(res.status) && res.headers.has('location')) {
          await res.body?.cancel().catch(() => {});
          if (hop >= MAX_REDIRECTS) throw new KvStoreError(req.key, `${method} ${safeUrl(req.url)}: more than ${MAX_REDIRECTS} redirects`);
          url = new URL(res.headers.get('location')!, url).toString();
          if (res.status === 303) {
            method = 'GET';
            body = undefined;
          }
          timer.firstByte(body?.length ?? 0);
          continue;
        }
        timer.progress();
        reply = wrapReply(res, timer);
        if (isRetryableStatus(res.status)) {
          const text = secrets.scrub(await bodyText(reply, req.key));
          throw new TransientError(statusError({ ...req, method, url }, res.status, res.statusText, text));
        }
        return await handle(reply, secrets);
      }
    } catch (e) {
      if (e instanceof VolstoreError) throw e;
      if (req.signal?.aborted) throw new AbortError('operation aborted', { cause: req.signal.reason });
      if (timer.fired !== undefined) {
        throw new TransientError(new KvStoreError(req.key, `${method} ${safeUrl(url)}: ${timer.fired}`));
      }
      if (e instanceof TransientError) throw e;
      if (isAbortLike(e)) throw new AbortError('operation aborted');
      const kind = classifyFetchError(e);
      const what = kind === 'unreachable' ? 'cannot connect' : kind === 'transient' ? 'network error' : 'request failed';
      const err = new KvStoreError(req.key, `${method} ${safeUrl(url)}: ${what}: ${secrets.scrub(errorText(e))}`, {
        cause: sanitizedError(e, secrets),
      });
      if (kind === 'permanent') throw err;
      throw new TransientError(err, kind === 'unreachable');
    } finally {
      timer.done();
      if (reply?.body && !reply.body.locked) void reply.body.cancel().catch(() => {});
    }
  }

  /**
   * GET bytes of `url` with an optional wire range, validated (see `readPartial`/`readWhole`):
   * a short or inconsistent body is retried, never returned. Any other non-retryable answer
   * (304, 403, 404, 412, 416, 3xx...) is returned as `status` for the caller to interpret.
   * `verify` runs inside the attempt on the bytes; a TransientError it throws is retried.
   */
  async getBytes(
    req: HttpRequest & { range?: WireRange; verify?: (raw: RawBytes) => Promise<void> | void },
  ): Promise<RawRead> {
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    if (req.range) headers['range'] = rangeHeader(req.range);
    return this.request({ ...req, method: 'GET', headers }, async (reply, secrets) => {
      if (reply.status === 200 || reply.status === 206) {
        const raw = reply.status === 206 ? await readPartial(req, reply) : await readWhole(req, reply);
        await req.verify?.(raw);
        return raw;
      }
      const body = reply.status === 304 ? '' : secrets.scrub(await bodyText(reply, req.key));
      return { kind: 'status', status: reply.status, statusText: reply.statusText, headers: reply.headers, body };
    });
  }

  /**
   * A request whose response body is JSON (metadata, list, upload result). 2xx answers are
   * parsed (malformed or truncated JSON is retried); statuses in `answers` are returned without
   * a body; anything else throws the status error.
   */
  async json<T = unknown>(req: HttpRequest, answers: ReadonlySet<number> = new Set()): Promise<{ status: number; json?: T; headers: Headers; text: string }> {
    return this.request(req, async (reply, secrets) => {
      if (reply.status >= 200 && reply.status < 300) {
        const text = await readText(reply, req.key, 64 << 20);
        let json: T | undefined;
        if (text.length > 0) {
          try {
            json = JSON.parse(text) as T;
          } catch {
            throw new TransientError(new KvStoreError(req.key, `${req.method} ${safeUrl(req.url)}: malformed JSON response`));
          }
        }
        return { status: reply.status, json, headers: reply.headers, text: '' };
      }
      const text = secrets.scrub(await bodyText(reply, req.key));
      if (answers.has(reply.status)) return { status: reply.status, headers: reply.headers, text };
      throw statusError(req, reply.status, reply.statusText, text);
    });
  }

  /** A request whose (text) body is the result, e.g. S3 list XML; 2xx only. */
  async text(req: HttpRequest, limit = 64 << 20): Promise<string> {
    return this.request(req, async (reply, secrets) => {
      if (reply.status >= 200 && reply.status < 300) return readText(reply, req.key, limit);
      throw statusError(req, reply.status, reply.statusText, secrets.scrub(await bodyText(reply, req.key)));
    });
  }

  /**
   * A request answered by status + headers (+ scrubbed text body: up to 1 MiB for answers,
   * 4 KiB of error detail otherwise). 2xx and statuses in `answers` are returned; others throw.
   */
  async send(req: HttpRequest, answers: ReadonlySet<number> = new Set()): Promise<{ status: number; headers: Headers; text: string }> {
    return this.request(req, async (reply, secrets) => {
      const ok = (reply.status >= 200 && reply.status < 300) || answers.has(reply.status);
      const text = secrets.scrub(await bodyText(reply, req.key, ok ? 1 << 20 : ERROR_BODY_LIMIT));
      if (ok) return { status: reply.status, headers: reply.headers, text };
      throw statusError(req, reply.status, reply.statusText, text);
    });
  }
}
