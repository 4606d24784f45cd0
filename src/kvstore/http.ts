/**
 * Read-only kvstore over plain HTTP(S): `GET baseUrl + key`, a dialect of the shared HTTP
 * object core (http/core.ts). Browser-safe.
 *
 * Server quirks handled here (see FORMATS.md, "HTTP / cloud pitfalls"):
 * - Suffix ranges (`bytes=-n`) are not sent by default: they force a CORS preflight and some
 *   servers answer them wrongly. A HEAD gives the size and ETag, then an absolute range is
 *   read and its ETag compared with the HEAD's (a mismatch means the object changed: redo).
 * - Range requests use `cache: 'no-store'`: Chrome serialises concurrent range requests to
 *   one URL through its cache otherwise.
 * - A server that ignores Range answers 200 with the whole object: only as much as the
 *   requested end is read, then the stream is cancelled.
 * - Generations are ETags (`If-None-Match` -> 304, `If-Match` -> 412). Weak ETags are never
 *   sent as `If-Match` (it compares strongly); without any ETag every read gets a fresh
 *   generation, so `ifNotEqual` never skips data that may have changed.
 * - Custom headers (they may hold API keys) and their values stay with the base URL's origin:
 *   they are not sent after a redirect elsewhere and never appear in errors or logs. The base
 *   URL's query values (signed URLs, API keys) are treated as secrets too. A base URL with a
 *   user name or password is refused (fetch cannot send it; use an Authorization header).
 */
import { ReadOnlyError, UnsupportedError } from '../errors.js';
import { HttpClient, type HttpStats, type HttpTransportOptions } from './http/client.js';
import { type HttpDialect, HttpObjectCore, UNVERSIONED, unversionedGeneration, type Wire } from './http/core.js';
import { Secrets } from './http/secrets.js';
import { encodeKeyPath, parseServiceUrl } from './http/url.js';
import { checkKey } from './keys.js';
import type { KvStore, ListOptions, ReadOptions, ReadResult, WriteOptions, WriteResult } from './kvstore.js';

/** Options of {@link HttpStore}. */
export interface HttpStoreOptions extends HttpTransportOptions {
  /** Directory-like base URL; keys are appended (each path segment percent-encoded). */
  baseUrl: string;
  /** Extra request headers (e.g. Authorization, X-Api-Key), sent to the base URL's origin only. */
  headers?: Record<string, string>;
  /** Treat 403 like 404 (buckets served over HTTP answer 403 for missing keys). Default false. */
  treat403AsMissing?: boolean;
  /** Send `bytes=-n` for suffix reads instead of HEAD + absolute range. Default false. */
  suffixRanges?: boolean;
}

/** FNV-1a 32-bit of a string as 8 hex digits: tells values apart without revealing them. */
function fingerprint(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

const usable = (g: string | undefined): g is string => g !== undefined && g !== '' && !g.startsWith(UNVERSIONED);

/** Plain HTTP as an {@link HttpDialect}: ETag generations, header conditions, HEAD stat. */
class HttpStoreDialect implements HttpDialect {
  constructor(
    private readonly store: HttpStore,
    readonly suffixRanges: boolean,
    private readonly treat403AsMissing: boolean,
  ) {}

  mediaUrl(key: string): string {
    return this.store.keyUrl(key);
  }

  readConditions(ifEqual: string | undefined, ifNotEqual: string | undefined): Wire {
    const headers: Record<string, string> = {};
    if (usable(ifNotEqual)) headers['if-none-match'] = ifNotEqual;
    if (usable(ifEqual) && !ifEqual.startsWith('W/')) headers['if-match'] = ifEqual;
    return { headers };
  }

  generationOf(headers: Headers): string {
    return headers.get('etag') ?? unversionedGeneration(headers);
  }

  isMissing(status: number): boolean {
    return status === 404 || status === 410 || (status === 403 && this.treat403AsMissing);
  }
}

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
  /** The base URL as given (with its query, if any); see {@link url} for messages. */
  readonly baseUrl: string;
  private readonly base: URL;
  private readonly client: HttpClient;
  private readonly core: HttpObjectCore;

  /** @throws SpecError for a URL that is not http(s) or carries a user name or password. */
  constructor(options: HttpStoreOptions) {
    const base = parseServiceUrl(options.baseUrl, 'kvstore.base_url');
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    base.hash = '';
    this.base = base;
    this.baseUrl = base.toString();
    const secrets = new Secrets();
    for (const v of base.searchParams.values()) secrets.add(v);
    this.client = new HttpClient({
      fetch: options.fetch,
      retries: options.retries,
      timeouts: options.timeouts,
      concurrency: options.concurrency,
      authOrigin: base.origin,
      originHeaders: options.headers,
      secrets,
      label: 'http',
    });
    this.core = new HttpObjectCore(this.client, new HttpStoreDialect(this, options.suffixRanges ?? false, options.treat403AsMissing ?? false));
  }

  /**
   * The base URL for messages and cache keys: query values (signatures, API keys) are replaced
   * by a short fingerprint, so two stores differing only in their query stay distinct.
   */
  get url(): string {
    const u = new URL(this.baseUrl);
    for (const [k, v] of [...u.searchParams]) u.searchParams.set(k, `fp-${fingerprint(v)}`);
    return u.toString();
  }

  get stats(): HttpStats {
    return this.client.stats;
  }

  /** TensorStore's `http` kvstore spec; header values are left out (they may hold secrets). */
  spec(): Record<string, unknown> {
    return { driver: 'http', base_url: this.baseUrl };
  }

  /** The URL of a key (exported for tests and for building links). Throws KvStoreError for keys that would leave the base URL. */
  keyUrl(key: string): string {
    checkKey(key);
    const u = new URL(this.base.toString());
    u.pathname = this.base.pathname + encodeKeyPath(key);
    return u.toString();
  }

  read(key: string, options?: ReadOptions): Promise<ReadResult> {
    return this.core.read(key, options);
  }

  write(_key: string, _value: Uint8Array, _options?: WriteOptions): Promise<WriteResult> {
    return Promise.reject(new ReadOnlyError(`the http kvstore ${this.url} is read-only`));
  }

  delete(_key: string, _options?: WriteOptions): Promise<boolean> {
    return Promise.reject(new ReadOnlyError(`the http kvstore ${this.url} is read-only`));
  }

  deleteRange(_prefix: string, _options?: ListOptions): Promise<void> {
    return Promise.reject(new ReadOnlyError(`the http kvstore ${this.url} is read-only`));
  }

  // eslint-disable-next-line require-yield
  async *list(_prefix: string, _options?: ListOptions): AsyncIterable<string> {
    throw new UnsupportedError(`the http kvstore ${this.url} cannot list keys`);
  }
}
