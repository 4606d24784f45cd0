/**
 * The one HTTP request path shared by the GCS, S3 and HTTP stores (after Neuroglancer's
 * `kvstore/http/read.ts`, where cloud stores are thin shells over one read path with an
 * injected fetch). It owns: fetch injection, the concurrency limiter, auth headers restricted
 * to one origin, optional request signing (S3), redirects, per-attempt timeouts, the retry
 * loop, range-request building and strict validation of ranged responses, bounded body reads
 * and the mapping of HTTP failures onto typed errors.
 *
 * Browser-safe: only global `fetch`, `Headers`, `AbortController` and streams are used.
 */
import { AbortError, KvStoreError } from '../errors.js';
import { Limiter } from '../util/limiter.js';
import type { AuthProvider } from './auth.js';
import { type ByteRange, NO_GENERATION, type ReadOptions, type ReadResult, resolveByteRange } from './kvstore.js';
import { ANONYMOUS } from './auth.js';
import { isIdempotent, isRetryableStatus, retryPolicy, type RetryPolicy, TransientError, withRetries } from './retry.js';

/** The subset of `fetch` the stores use; inject one for tests, proxies or instrumentation. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Signs a request in place (S3 SigV4): returns the headers to send. */
export type RequestSigner = (req: { method: string; url: string; headers: Headers; body?: Uint8Array }) => Promise<Headers>;

export interface HttpClientOptions {
  fetch?: FetchLike;
  retries?: Partial<RetryPolicy>;
  /** Shared limiter (a context resource); one attempt holds one slot, backoff sleeps hold none. */
  concurrency?: Limiter;
  auth?: AuthProvider;
  /** Origin (scheme://host:port) that may receive `Authorization` and signatures. */
  authOrigin?: string;
  sign?: RequestSigner;
  /** Per-attempt timeout (headers and body), ms; a timeout is retried. Default: none. */
  requestTimeoutMs?: number;
}

export interface HttpRequest {
  method: string;
  url: string;
  /** The store key, for error messages. */
  key: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** The request carries a generation precondition (so a write/delete may be retried). */
  conditional?: boolean;
  cache?: RequestCache;
  signal?: AbortSignal;
  /**
   * One attempt only; a transient failure surfaces as {@link TransientError} so that an outer
   * loop (a resumable upload, which must re-query its offset) can decide how to retry.
   */
  noRetry?: boolean;
}

/** Counters per client, for tests, benchmarks and the report of a run under faults. */
export interface HttpStats {
  /** Attempts sent (including retries). */
  requests: number;
  /** Attempts that failed transiently and were retried. */
  retries: number;
}

const MAX_REDIRECTS = 5;
const ERROR_BODY_LIMIT = 4096;

let defaultLimiter: Limiter | undefined;
/** The process-wide default limiter (TensorStore's default `*_request_concurrency` of 32). */
export function defaultRequestLimiter(): Limiter {
  return (defaultLimiter ??= new Limiter(32));
}

/** Drops the query string, so messages stay short and carry no signed parameters. */
function describeUrl(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** The body part of `Authorization`, to redact it should a server echo it back. */
function secretOf(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const sp = authorization.indexOf(' ');
  const s = sp < 0 ? authorization : authorization.slice(sp + 1);
  return s.length >= 8 ? s : undefined;
}

function redact(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('[redacted]') : text;
}

/** Merges the caller's signal with an optional timeout into one signal plus a cleanup. */
function attemptSignal(signal: AbortSignal | undefined, timeoutMs: number | undefined) {
  const ctl = new AbortController();
  let timedOut = false;
  const onAbort = () => ctl.abort(signal!.reason);
  if (signal) {
    if (signal.aborted) ctl.abort(signal.reason);
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  const timer =
    timeoutMs !== undefined && timeoutMs > 0 && Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          timedOut = true;
          ctl.abort(new Error('timeout'));
        }, timeoutMs)
      : undefined;
  return {
    signal: ctl.signal,
    timedOut: () => timedOut,
    done() {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * Reads at most `limit` bytes of a body, then cancels the stream: a server that ignores Range
 * or omits Content-Length can never turn a small read into a whole-object download. Returns
 * the bytes and whether the body ended by itself (`complete`) or was cut off by us.
 * A stream error (reset, truncated chunked body) is transient.
 */
export async function readBodyBounded(
  res: Response,
  limit: number,
  key: string,
): Promise<{ bytes: Uint8Array; complete: boolean }> {
  if (!res.body) return { bytes: new Uint8Array(0), complete: true };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  let complete = false;
  try {
    while (n < limit) {
      const { done, value } = await reader.read();
      if (done) {
        complete = true;
        break;
      }
      chunks.push(value);
      n += value.length;
    }
  } catch (e) {
    if (isAbortLike(e)) throw e;
    throw new TransientError(new KvStoreError(key, `response body interrupted: ${errText(e)}`, { cause: e }));
  }
  if (!complete) await reader.cancel().catch(() => {});
  const out = new Uint8Array(Math.min(n, limit));
  let off = 0;
  for (const c of chunks) {
    const take = Math.min(c.length, out.length - off);
    out.set(take === c.length ? c : c.subarray(0, take), off);
    off += take;
    if (off === out.length) break;
  }
  // Reading exactly `limit` bytes does not tell whether more follow; callers that care
  // (a 206 whose length must match) read limit+1.
  return { bytes: out, complete };
}

function isAbortLike(e: unknown): boolean {
  return e instanceof AbortError || (e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError'));
}

function errText(e: unknown): string {
  if (e instanceof Error) {
    const c = (e as { cause?: unknown }).cause;
    const cause = c instanceof Error ? ` (${(c as { code?: string }).code ?? c.message})` : '';
    return `${e.message}${cause}`;
  }
  return String(e);
}

/** Parses `Content-Length`; undefined when absent or malformed. */
export function contentLength(headers: Headers): number | undefined {
  const v = headers.get('content-length');
  if (v === null || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/** Parses `Content-Range: bytes a-b/total` (total may be `*`) or `bytes * /total` (unsatisfied). */
export function parseContentRange(
  value: string | null,
): { start: number; end: number; total?: number } | { unsatisfied: true; total?: number } | undefined {
  if (!value) return undefined;
  let m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value);
  if (m) {
    const start = Number(m[1]);
    const end = Number(m[2]) + 1;
    const total = m[3] === '*' ? undefined : Number(m[3]);
    if (end <= start || (total !== undefined && end > total)) return undefined;
    return { start, end, total };
  }
  m = /^\s*bytes\s+\*\/(\d+|\*)\s*$/i.exec(value);
  if (m) return { unsatisfied: true, total: m[1] === '*' ? undefined : Number(m[1]) };
  return undefined;
}

/**
 * A byte range on the wire: absolute `[start, end)` (`end` undefined = to the end), or the
 * last `suffix` bytes. Empty ranges cannot be expressed in HTTP; callers handle them apart.
 */
export type WireRange = { start: number; end?: number } | { suffix: number };

export function rangeHeader(r: WireRange): string {
  if ('suffix' in r) return `bytes=-${r.suffix}`;
  return r.end === undefined ? `bytes=${r.start}-` : `bytes=${r.start}-${r.end - 1}`;
}

/**
 * The outcome of one GET for bytes, before store-specific interpretation.
 * - `bytes`: the object's bytes [offset, offset + data.length); `total` is the object size when
 *   known. When the server ignored the Range, `offset` is 0 and data may be a prefix only
 *   (we stopped reading once the requested end was covered).
 * - `status`: any other non-retryable answer (304, 404, 412, 416, 403...) with its headers.
 */
export type RawRead =
  | { kind: 'bytes'; data: Uint8Array; offset: number; total?: number; headers: Headers; status: number }
  | { kind: 'status'; status: number; headers: Headers; body: string };

/** Statuses that are answers, not failures, for a read (the store interprets them). */
const READ_ANSWERS = new Set([304, 403, 404, 412, 416]);

export class HttpClient {
  readonly policy: RetryPolicy;
  readonly stats: HttpStats = { requests: 0, retries: 0 };
  private readonly fetchFn: FetchLike;
  private readonly limiter: Limiter;
  private readonly auth: AuthProvider;

  constructor(private readonly opts: HttpClientOptions = {}) {
    this.policy = retryPolicy(opts.retries);
    // Bind the global lazily so that tests which stub globalThis.fetch later still apply.
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.limiter = opts.concurrency ?? defaultRequestLimiter();
    this.auth = opts.auth ?? ANONYMOUS;
  }

  /**
   * Sends `req` with retries and hands each non-retryable response to `handle`, which reads
   * the body and returns the result (it may throw {@link TransientError} to retry, e.g. on a
   * truncated body). Retryable statuses (408, 429, 5xx), network errors and timeouts are
   * retried when the request is idempotent; the final failure is a KvStoreError naming the
   * key, method, URL (without query) and status.
   */
  request<T>(req: HttpRequest, handle: (res: Response, secret: string | undefined) => Promise<T>): Promise<T> {
    if (req.noRetry) return this.limiter.run(() => this.attempt(req, handle), req.signal);
    return withRetries(
      () => this.limiter.run(() => this.attempt(req, handle), req.signal),
      {
        policy: this.policy,
        idempotent: isIdempotent(req.method, req.conditional ?? false),
        signal: req.signal,
        onRetry: () => void this.stats.retries++,
      },
    );
  }

  private async attempt<T>(req: HttpRequest, handle: (res: Response, secret: string | undefined) => Promise<T>): Promise<T> {
    const a = attemptSignal(req.signal, this.opts.requestTimeoutMs);
    let secret: string | undefined;
    try {
      let url = req.url;
      let method = req.method;
      let body = req.body;
      for (let hop = 0; ; hop++) {
        const headers = new Headers(req.headers);
        const trusted = this.opts.authOrigin !== undefined && new URL(url).origin === this.opts.authOrigin;
        const authorization = trusted ? await this.auth.authorization(a.signal) : undefined;
        if (authorization) headers.set('authorization', authorization);
        secret ??= secretOf(authorization);
        let sendHeaders = headers;
        if (trusted && this.opts.sign) sendHeaders = await this.opts.sign({ method, url, headers, body });
        const credentialed = authorization !== undefined || (trusted && this.opts.sign !== undefined);
        this.stats.requests++;
        const res = await this.fetchFn(url, {
          method,
          headers: sendHeaders,
          body: body as BodyInit | undefined,
          signal: a.signal,
          cache: req.cache,
          // With credentials we follow redirects ourselves so they never reach another origin.
          redirect: credentialed ? 'manual' : 'follow',
        });
        if (res.type === 'opaqueredirect') {
          throw new KvStoreError(req.key, `${method} ${describeUrl(url)}: redirect not followed with credentials`);
        }
        if (credentialed && res.status >= 300 && res.status < 400 && res.status !== 304 && res.headers.has('location')) {
          await res.body?.cancel().catch(() => {});
          if (hop >= MAX_REDIRECTS) throw new KvStoreError(req.key, `${method} ${describeUrl(req.url)}: too many redirects`);
          url = new URL(res.headers.get('location')!, url).toString();
          if (res.status === 303) {
            method = 'GET';
            body = undefined;
          }
          continue;
        }
        if (isRetryableStatus(res.status)) {
          const text = await errorBody(res, req.key);
          throw new TransientError(
            statusError(req, res.status, res.statusText, redact(text, secret)),
          );
        }
        return await handle(res, secret);
      }
    } catch (e) {
      if (e instanceof TransientError || e instanceof KvStoreError || e instanceof AbortError) throw e;
      if (req.signal?.aborted) throw new AbortError('operation aborted', { cause: req.signal.reason });
      if (a.timedOut()) {
        throw new TransientError(
          new KvStoreError(req.key, `${req.method} ${describeUrl(req.url)}: timed out after ${this.opts.requestTimeoutMs} ms`),
        );
      }
      if (e instanceof TypeError || (e instanceof Error && /fetch failed|network|socket|ECONNRESET|terminated/i.test(e.message))) {
        // fetch rejects with TypeError on DNS failures, refused connections and resets.
        throw new TransientError(
          new KvStoreError(req.key, `${req.method} ${describeUrl(req.url)}: network error: ${redact(errText(e), secret)}`, { cause: e }),
        );
      }
      throw e;
    } finally {
      a.done();
    }
  }

  /**
   * GET bytes of `url` with an optional wire range, validated:
   * - 206: `Content-Range` must be present, start where asked (absolute ranges), end where asked
   *   or at the object's end, and the body must be exactly that long; a short body is retried,
   *   never returned short.
   * - 200 to a ranged request (server ignored Range): read only as far as the requested end
   *   (absolute ranges), then cancel; the caller slices.
   * - 200 without a range: the whole body, checked against Content-Length when present.
   * - 304/403/404/412/416: returned as `status` for the store to interpret.
   */
  async getBytes(req: HttpRequest & { range?: WireRange }): Promise<RawRead> {
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    if (req.range) headers['range'] = rangeHeader(req.range);
    return this.request({ ...req, method: 'GET', headers }, async (res, secret) => {
      if (READ_ANSWERS.has(res.status) || (res.status >= 300 && res.status < 400)) {
        const body = res.status === 304 ? '' : redact(await errorBody(res, req.key), secret);
        return { kind: 'status', status: res.status, headers: res.headers, body } as RawRead;
      }
      if (res.status === 206) return validatePartial(req, res);
      if (res.status === 200) return readWhole(req, res);
      const text = redact(await errorBody(res, req.key), secret);
      throw statusError(req, res.status, res.statusText, text);
    });
  }

  /** A request whose response body is JSON (metadata, list, upload result); `ok` statuses only. */
  async json<T = unknown>(req: HttpRequest, answers: ReadonlySet<number> = new Set()): Promise<{ status: number; json?: T; headers: Headers }> {
    return this.request(req, async (res, secret) => {
      if (res.ok) {
        const text = await readText(res, req.key, 64 << 20);
        let json: T | undefined;
        if (text.length > 0) {
          try {
            json = JSON.parse(text) as T;
          } catch (e) {
            throw new TransientError(new KvStoreError(req.key, `${req.method} ${describeUrl(req.url)}: malformed JSON response`, { cause: e }));
          }
        }
        return { status: res.status, json, headers: res.headers };
      }
      const text = redact(await errorBody(res, req.key), secret);
      if (answers.has(res.status)) return { status: res.status, headers: res.headers };
      throw statusError(req, res.status, res.statusText, text);
    });
  }

  /** A request whose (text) body is the result, e.g. S3 list XML; `ok` statuses only. */
  async text(req: HttpRequest, limit = 64 << 20): Promise<string> {
    return this.request(req, async (res, secret) => {
      if (res.ok) return readText(res, req.key, limit);
      const text = redact(await errorBody(res, req.key), secret);
      throw statusError(req, res.status, res.statusText, text);
    });
  }

  /**
   * A request answered by status + headers (+ text body: up to 1 MiB for answers, 4 KiB of
   * error detail otherwise). Statuses in `answers` are returned; others throw.
   */
  async send(req: HttpRequest, answers: ReadonlySet<number> = new Set()): Promise<{ status: number; headers: Headers; text: string }> {
    return this.request(req, async (res, secret) => {
      const text = redact(await errorBody(res, req.key, res.ok || answers.has(res.status) ? 1 << 20 : ERROR_BODY_LIMIT), secret);
      if (res.ok || answers.has(res.status)) return { status: res.status, headers: res.headers, text };
      throw statusError(req, res.status, res.statusText, text);
    });
  }
}

/** A clear, token-free error for a failed status. */
export function statusError(req: { method: string; url: string; key: string }, status: number, statusText: string, body: string): KvStoreError {
  let detail = body.trim();
  // GCS errors are JSON ({error:{message}}); S3 errors are XML (<Message>): keep the message.
  try {
    const j = JSON.parse(detail) as { error?: { message?: string } };
    if (j?.error?.message) detail = j.error.message;
  } catch {
    const m = /<Message>([\s\S]*?)<\/Message>/.exec(detail);
    if (m) detail = m[1]!;
  }
  if (detail.length > 300) detail = `${detail.slice(0, 300)}...`;
  const hint = status === 401 || status === 403 ? ' (check credentials / permissions)' : '';
  return new KvStoreError(
    req.key,
    `${req.method} ${describeUrl(req.url)} failed: HTTP ${status}${statusText ? ` ${statusText}` : ''}${hint}${detail ? `: ${detail}` : ''}`,
    { status },
  );
}

async function errorBody(res: Response, key: string, limit = ERROR_BODY_LIMIT): Promise<string> {
  try {
    const { bytes } = await readBodyBounded(res, limit, key);
    return new TextDecoder().decode(bytes);
  } catch (e) {
    if (isAbortLike(e)) throw e;
    return '';
  }
}

async function readText(res: Response, key: string, limit: number): Promise<string> {
  const { bytes, complete } = await readBodyBounded(res, limit + 1, key);
  if (!complete || bytes.length > limit) throw new KvStoreError(key, `response larger than ${limit} bytes`);
  const cl = contentLength(res.headers);
  if (cl !== undefined && cl !== bytes.length && !res.headers.has('content-encoding')) {
    throw new TransientError(new KvStoreError(key, `truncated response: ${bytes.length} of ${cl} bytes`));
  }
  return new TextDecoder().decode(bytes);
}

function truncated(req: HttpRequest, got: number, want: number): TransientError {
  return new TransientError(
    new KvStoreError(req.key, `GET ${describeUrl(req.url)}: truncated body, ${got} of ${want} bytes`),
  );
}

async function validatePartial(req: HttpRequest & { range?: WireRange }, res: Response): Promise<RawRead> {
  const cr = parseContentRange(res.headers.get('content-range'));
  const bad = (why: string) => {
    void res.body?.cancel().catch(() => {});
    // An inconsistent 206 is a server/proxy glitch: retry rather than return wrong bytes.
    return new TransientError(new KvStoreError(req.key, `GET ${describeUrl(req.url)}: invalid 206 response: ${why}`));
  };
  if (!cr || 'unsatisfied' in cr) throw bad(`Content-Range ${JSON.stringify(res.headers.get('content-range'))}`);
  const r = req.range;
  if (!r) throw bad('partial content to a request without Range');
  if ('suffix' in r) {
    if (cr.total !== undefined && (cr.end !== cr.total || cr.start !== Math.max(0, cr.total - r.suffix))) {
      throw bad(`asked for the last ${r.suffix} bytes, got ${cr.start}-${cr.end - 1}/${cr.total}`);
    }
  } else {
    if (cr.start !== r.start) throw bad(`asked from byte ${r.start}, got ${cr.start}-${cr.end - 1}`);
    if (r.end !== undefined && cr.end !== r.end && cr.end !== cr.total) {
      throw bad(`asked for ${r.start}-${r.end - 1}, got ${cr.start}-${cr.end - 1}/${cr.total ?? '*'}`);
    }
    if (r.end === undefined && cr.total !== undefined && cr.end !== cr.total) {
      throw bad(`asked from ${r.start} to the end, got ${cr.start}-${cr.end - 1}/${cr.total}`);
    }
  }
  const want = cr.end - cr.start;
  const cl = contentLength(res.headers);
  if (cl !== undefined && cl !== want && !res.headers.has('content-encoding')) throw bad(`Content-Length ${cl} for ${want} bytes`);
  // Read one byte more than announced to notice an overlong body; never more.
  const { bytes, complete } = await readBodyBounded(res, want + 1, req.key);
  if (bytes.length < want) throw truncated(req, bytes.length, want);
  if (bytes.length > want || !complete) throw bad(`body longer than the ${want} bytes of its Content-Range`);
  return { kind: 'bytes', data: bytes, offset: cr.start, total: cr.total, headers: res.headers, status: 206 };
}

async function readWhole(req: HttpRequest & { range?: WireRange }, res: Response): Promise<RawRead> {
  const cl = res.headers.has('content-encoding') ? undefined : contentLength(res.headers);
  const r = req.range;
  if (r && !('suffix' in r) && r.end !== undefined) {
    // Server ignored the Range. Take bytes [0, end) and stop: if the object is shorter, the
    // body ends first and we learn its size.
    const { bytes, complete } = await readBodyBounded(res, r.end, req.key);
    if (complete) {
      if (cl !== undefined && bytes.length !== cl) throw truncated(req, bytes.length, cl);
      return { kind: 'bytes', data: bytes, offset: 0, total: bytes.length, headers: res.headers, status: 200 };
    }
    return { kind: 'bytes', data: bytes, offset: 0, total: cl, headers: res.headers, status: 200 };
  }
  // The whole object was asked for (or a suffix / open range, which needs its end anyway).
  const limit = cl ?? Number.MAX_SAFE_INTEGER;
  const { bytes } = await readBodyBounded(res, limit, req.key);
  if (cl !== undefined && bytes.length !== cl) throw truncated(req, bytes.length, cl);
  return { kind: 'bytes', data: bytes, offset: 0, total: bytes.length, headers: res.headers, status: 200 };
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the stores for turning wire answers into KvStore results.

/**
 * The result of reading a key that does not exist, honouring the conditions: a missing key has
 * generation `''`, so `ifNotEqual: ''` and any non-empty `ifEqual` make it 'unchanged'.
 */
export function missingResult(options: ReadOptions): ReadResult {
  if (options.ifNotEqual === NO_GENERATION) return { state: 'unchanged', generation: NO_GENERATION };
  if (options.ifEqual !== undefined && options.ifEqual !== NO_GENERATION) {
    return { state: 'unchanged', generation: NO_GENERATION };
  }
  return { state: 'missing', generation: NO_GENERATION };
}

/** Client-side check of read conditions against a known generation: true when 'unchanged'. */
export function conditionBlocks(options: ReadOptions, generation: string): boolean {
  if (options.ifEqual !== undefined && options.ifEqual !== generation) return true;
  if (options.ifNotEqual !== undefined && options.ifNotEqual === generation) return true;
  return false;
}

/**
 * Plans the wire request for a KvStore byte range. Returns `empty` for ranges HTTP cannot
 * express (zero length): the caller learns the size some other way and validates. Invalid
 * ranges (negative, fractional) throw ByteRangeError before any I/O.
 */
export function planRange(key: string, range: ByteRange | undefined): { wire?: WireRange; empty: boolean } {
  if (!range) return { empty: false };
  // Validates integers/signs against an unbounded size.
  resolveByteRange(key, range, Number.MAX_SAFE_INTEGER);
  if ('suffix' in range) return range.suffix === 0 ? { empty: true } : { wire: { suffix: range.suffix }, empty: false };
  if (range.length === 0) return { empty: true };
  if (range.length === undefined) return range.offset === 0 ? { empty: false } : { wire: { start: range.offset }, empty: false };
  return { wire: { start: range.offset, end: range.offset + range.length }, empty: false };
}

/**
 * Cuts the requested range out of a {@link RawRead} 'bytes' answer, enforcing strict ranges
 * (ByteRangeError when the range does not fit the object). Returns the value and the total
 * size when known.
 */
export function sliceRaw(
  key: string,
  range: ByteRange | undefined,
  raw: Extract<RawRead, { kind: 'bytes' }>,
): { value: Uint8Array; size?: number } {
  const have = raw.data.length;
  let s: number;
  let e: number;
  if (raw.total !== undefined) {
    [s, e] = resolveByteRange(key, range, raw.total);
  } else if (range && 'suffix' in range) {
    // 206 with `bytes a-b/*`: the answer is the suffix itself.
    s = raw.offset + Math.max(0, have - range.suffix);
    e = raw.offset + have;
  } else if (range && range.length !== undefined) {
    s = range.offset;
    e = range.offset + range.length;
  } else {
    s = range?.offset ?? 0;
    e = raw.offset + have;
  }
  if (s < raw.offset || e > raw.offset + have) {
    throw new KvStoreError(key, `server answered bytes ${raw.offset}-${raw.offset + have} for requested ${s}-${e}`);
  }
  const value = s === raw.offset && e === raw.offset + have ? raw.data : raw.data.slice(s - raw.offset, e - raw.offset);
  return { value, size: raw.total };
}

/** A random query value that defeats stale edge caches; browser-safe. */
export function cacheBuster(): string {
  const b = new Uint8Array(6);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** `process.env[name]` when running under Node (undefined in browsers); empty counts as unset. */
export function envVar(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.[name];
  return v ? v : undefined;
}

/** Percent-encodes each `/`-separated segment of a key for use in a URL path. */
export function encodeKeyPath(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}
