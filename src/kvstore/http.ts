/**
 * Read-only kvstore over plain HTTP(S): `GET baseUrl + key`. Browser-safe.
 *
 * Server quirks handled here (see FORMATS.md, "HTTP / cloud pitfalls"):
 * - Suffix ranges (`bytes=-n`) are not sent by default: they force a CORS preflight and some
 *   servers answer them wrongly. A HEAD gives the size and ETag, then an absolute range is
 *   read and its ETag compared with the HEAD's (a mismatch means the object changed: redo).
 * - Range requests use `cache: 'no-store'`: Chrome serialises concurrent range requests to
 *   one URL through its cache otherwise.
 * - A server that ignores Range answers 200 with the whole object: we read only as far as
 *   the requested end and cancel the stream, so a missing Content-Length can never turn a
 *   small read into a whole-object download.
 * - Generations are ETags (`If-None-Match` -> 304, `If-Match` -> 412).
 */
import { ReadOnlyError, SpecError, throwIfAborted, UnsupportedError, KvStoreError } from '../errors.js';
import type { Limiter } from '../util/limiter.js';
import type { AuthProvider } from './auth.js';
import {
  conditionBlocks,
  contentLength,
  encodeKeyPath,
  type FetchLike,
  HttpClient,
  type HttpStats,
  missingResult,
  planRange,
  sliceRaw,
} from './http-common.js';
import { type KvStore, type ListOptions, type ReadOptions, type ReadResult, resolveByteRange, type WriteOptions, type WriteResult } from './kvstore.js';
import type { RetryPolicy } from './retry.js';

/** Options of {@link HttpStore}. */
export interface HttpStoreOptions {
  /** Directory-like base URL; keys are appended (each path segment percent-encoded). */
  baseUrl: string;
  /** Extra request headers. An `Authorization` header is sent to the base URL's origin only. */
  headers?: Record<string, string>;
  fetch?: FetchLike;
  /** `http_request_retries`; default 32 retries, 1 s initial, 32 s max delay. */
  retries?: Partial<RetryPolicy>;
  /** `http_request_concurrency`; default: the process-wide limiter of 32. */
  concurrency?: Limiter;
  /** Treat 403 like 404 (buckets served over HTTP answer 403 for missing keys). Default false. */
  treat403AsMissing?: boolean;
  /** Send `bytes=-n` for suffix reads instead of HEAD + absolute range. Default false. */
  suffixRanges?: boolean;
  /** Per-attempt timeout in ms (retried). Default: none. */
  requestTimeoutMs?: number;
}

let unknownGeneration = 0;

/**
 * A read-only store over plain HTTP(S) GETs (`https://host/path/`): ranged reads, ETag
 * generations, retries of transient failures. Writes throw ReadOnlyError.
 *
 * ```ts
 * const store = new HttpStore({ baseUrl: 'https://example.org/seg/' });
 * ```
 */
export class HttpStore implements KvStore {
  readonly readOnly = true;
  readonly baseUrl: string;
  private readonly base: URL;
  private readonly headers: Record<string, string>;
  private readonly client: HttpClient;
  private readonly treat403AsMissing: boolean;
  private readonly suffixRanges: boolean;

  constructor(options: HttpStoreOptions) {
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw new SpecError('kvstore.base_url', `invalid URL ${JSON.stringify(options.baseUrl)}`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new SpecError('kvstore.base_url', `expected http(s), got ${base.protocol}`);
    }
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    base.hash = '';
    this.base = base;
    this.baseUrl = base.toString();
    const headers: Record<string, string> = {};
    let authorization: string | undefined;
    for (const [k, v] of Object.entries(options.headers ?? {})) {
      if (k.toLowerCase() === 'authorization') authorization = v;
      else headers[k] = v;
    }
    this.headers = headers;
    const auth: AuthProvider | undefined = authorization
      ? { kind: 'header', authorization: async () => authorization }
      : undefined;
    this.client = new HttpClient({
      fetch: options.fetch,
      retries: options.retries,
      concurrency: options.concurrency,
      auth,
      authOrigin: base.origin,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    this.treat403AsMissing = options.treat403AsMissing ?? false;
    this.suffixRanges = options.suffixRanges ?? false;
  }

  get url(): string {
    return this.baseUrl;
  }

  get stats(): HttpStats {
    return this.client.stats;
  }

  /** TensorStore's `http` kvstore spec; header values are left out (they may hold secrets). */
  spec(): Record<string, unknown> {
    return { driver: 'http', base_url: this.baseUrl };
  }

  /** The URL of a key (exported for tests and for building links). */
  keyUrl(key: string): string {
    const u = new URL(this.base.toString());
    u.pathname = this.base.pathname + encodeKeyPath(key);
    return u.toString();
  }

  private isMissing(status: number): boolean {
    return status === 404 || status === 410 || (status === 403 && this.treat403AsMissing);
  }

  private conditionHeaders(options: ReadOptions): Record<string, string> {
    const h: Record<string, string> = { ...this.headers };
    if (options.ifNotEqual && !options.ifNotEqual.startsWith('nogen:')) h['if-none-match'] = options.ifNotEqual;
    if (options.ifEqual && !options.ifEqual.startsWith('nogen:')) h['if-match'] = options.ifEqual;
    return h;
  }

  private generationOf(headers: Headers): string {
    const etag = headers.get('etag');
    if (etag) return etag;
    const lm = headers.get('last-modified');
    // Without a validator every read gets a fresh generation, so ifNotEqual never skips data.
    return lm ? `nogen:${lm}:${++unknownGeneration}` : `nogen:${++unknownGeneration}`;
  }

  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    throwIfAborted(options.signal);
    const plan = planRange(key, options.byteRange);
    if (plan.empty || (plan.wire && 'suffix' in plan.wire && !this.suffixRanges)) return this.readViaHead(key, options);
    const raw = await this.client.getBytes({
      method: 'GET',
      key,
      url: this.keyUrl(key),
      headers: this.conditionHeaders(options),
      range: plan.wire,
      cache: plan.wire ? 'no-store' : undefined,
      signal: options.signal,
    });
    if (raw.kind === 'status') {
      if (this.isMissing(raw.status)) return missingResult(options);
      if (raw.status === 304) return { state: 'unchanged', generation: options.ifNotEqual! };
      if (raw.status === 412 || raw.status === 416) return this.readViaHead(key, options);
      throw new KvStoreError(key, `GET ${this.keyUrl(key)} failed: HTTP ${raw.status}: ${raw.body.slice(0, 200)}`, {
        status: raw.status,
      });
    }
    const generation = this.generationOf(raw.headers);
    if (conditionBlocks(options, generation)) return { state: 'unchanged', generation };
    const { value, size } = sliceRaw(key, options.byteRange, raw);
    return { state: 'value', value, generation, ...(size !== undefined ? { size } : {}) };
  }

  /** HEAD: status, size and validator of a key. */
  private async head(key: string, options: ReadOptions) {
    const r = await this.client.send(
      { method: 'HEAD', key, url: this.keyUrl(key), headers: this.conditionHeaders(options), signal: options.signal },
      new Set([304, 403, 404, 405, 410, 412, 501]),
    );
    return r;
  }

  /**
   * HEAD for size and ETag, then (if bytes are needed) an absolute range whose ETag must match
   * the HEAD's. Serves suffix reads, empty ranges and the follow-up of 412/416 answers.
   */
  private async readViaHead(key: string, options: ReadOptions): Promise<ReadResult> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const h = await this.head(key, options);
      if (this.isMissing(h.status)) return missingResult(options);
      if (h.status === 304) return { state: 'unchanged', generation: options.ifNotEqual! };
      if (h.status === 405 || h.status === 501) return this.readWholeAndSlice(key, options); // no HEAD
      if (h.status === 412) {
        // Learn the current validator without conditions.
        const plain = await this.head(key, {});
        if (this.isMissing(plain.status)) return missingResult(options);
        return { state: 'unchanged', generation: this.generationOf(plain.headers) };
      }
      if (h.status === 403) {
        throw new KvStoreError(key, `HEAD ${this.keyUrl(key)} failed: HTTP 403 (check credentials / permissions)`, {
          status: 403,
        });
      }
      const generation = this.generationOf(h.headers);
      if (conditionBlocks(options, generation)) return { state: 'unchanged', generation };
      const size = h.headers.has('content-encoding') ? undefined : contentLength(h.headers);
      if (size === undefined) return this.readWholeAndSlice(key, options);
      const [start, end] = resolveByteRange(key, options.byteRange, size);
      if (start === end) return { state: 'value', value: new Uint8Array(0), generation, size };
      const raw = await this.client.getBytes({
        method: 'GET',
        key,
        url: this.keyUrl(key),
        headers: this.headers,
        range: start === 0 && end === size ? undefined : { start, end },
        cache: 'no-store',
        signal: options.signal,
      });
      if (raw.kind === 'status') {
        if (this.isMissing(raw.status) || raw.status === 416) continue; // changed underneath
        throw new KvStoreError(key, `GET ${this.keyUrl(key)} failed: HTTP ${raw.status}`, { status: raw.status });
      }
      const g2 = raw.headers.get('etag');
      if (g2 !== null && g2 !== generation) continue; // a different version: start over
      const { value } = sliceRaw(key, { offset: start, length: end - start }, { ...raw, total: raw.total ?? size });
      return { state: 'value', value, generation, size };
    }
    throw new KvStoreError(key, 'object kept changing while being read');
  }

  /** Fallback when HEAD gives no size: one whole GET, sliced here. */
  private async readWholeAndSlice(key: string, options: ReadOptions): Promise<ReadResult> {
    const raw = await this.client.getBytes({
      method: 'GET',
      key,
      url: this.keyUrl(key),
      headers: this.conditionHeaders(options),
      signal: options.signal,
    });
    if (raw.kind === 'status') {
      if (this.isMissing(raw.status)) return missingResult(options);
      if (raw.status === 304) return { state: 'unchanged', generation: options.ifNotEqual! };
      throw new KvStoreError(key, `GET ${this.keyUrl(key)} failed: HTTP ${raw.status}`, { status: raw.status });
    }
    const generation = this.generationOf(raw.headers);
    if (conditionBlocks(options, generation)) return { state: 'unchanged', generation };
    const { value, size } = sliceRaw(key, options.byteRange, raw);
    return { state: 'value', value, generation, ...(size !== undefined ? { size } : {}) };
  }

  write(_key: string, _value: Uint8Array, _options?: WriteOptions): Promise<WriteResult> {
    return Promise.reject(new ReadOnlyError(`the http kvstore ${this.baseUrl} is read-only`));
  }

  delete(_key: string, _options?: WriteOptions): Promise<boolean> {
    return Promise.reject(new ReadOnlyError(`the http kvstore ${this.baseUrl} is read-only`));
  }

  deleteRange(_prefix: string, _options?: ListOptions): Promise<void> {
    return Promise.reject(new ReadOnlyError(`the http kvstore ${this.baseUrl} is read-only`));
  }

  // eslint-disable-next-line require-yield
  async *list(_prefix: string, _options?: ListOptions): AsyncIterable<string> {
    throw new UnsupportedError(`the http kvstore ${this.baseUrl} cannot list keys`);
  }
}

