/**
 * S3 (and S3-compatible) kvstore, a thin shell over the shared HTTP path (http-common.ts),
 * signing requests with SigV4 through `aws4fetch` (fetch-based, browser-safe).
 *
 * Generations: S3's ETag is the MD5 of the bytes, so rewriting identical bytes would repeat
 * a generation. Each write therefore also stores a random token in `x-amz-meta-vs-write`, and
 * the generation is `<ETag>` or `<ETag>#<token>`. Preconditions on the wire use the ETag part
 * (`If-Match`, `If-None-Match: *`), so a conditional write can succeed over a rewrite of
 * identical bytes (ABA): harmless for a read-modify-write, which saw those same bytes.
 *
 * Private buckets answer 403 (not 404) for missing keys when the caller may not list:
 * `treat403AsMissing` maps those to "missing".
 */
import { AwsV4Signer } from 'aws4fetch';
import { KvStoreError, SpecError, throwIfAborted } from '../errors.js';
import type { Limiter } from '../util/limiter.js';
import {
  cacheBuster,
  conditionBlocks,
  contentLength,
  encodeKeyPath,
  envVar,
  type FetchLike,
  HttpClient,
  type HttpStats,
  missingResult,
  planRange,
  type RequestSigner,
  sliceRaw,
} from './http-common.js';
import {
  deleteListed,
  joinKey,
  type KvStore,
  type ListOptions,
  NO_GENERATION,
  type ReadOptions,
  type ReadResult,
  resolveByteRange,
  type WriteOptions,
  type WriteResult,
} from './kvstore.js';
import type { RetryPolicy } from './retry.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Options of {@link S3Store}. */
export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket; keys are joined to it with one '/'. */
  path?: string;
  /**
   * Service root, e.g. `http://127.0.0.1:9000` or the emulator's `${url}/s3`. Default:
   * `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, else `https://s3.<region>.amazonaws.com`.
   */
  endpoint?: string;
  /** Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`. */
  region?: string;
  /** `endpoint/bucket/key` instead of `bucket.endpoint/key`. Default: true for custom endpoints. */
  forcePathStyle?: boolean;
  /** Default: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN when set, else anonymous. */
  credentials?: S3Credentials | 'anonymous';
  treat403AsMissing?: boolean;
  /** `s3_request_concurrency`; default: the process-wide limiter of 32. */
  concurrency?: Limiter;
  /** `s3_request_retries`; default 32 retries, 1 s initial, 32 s max delay. */
  retries?: Partial<RetryPolicy>;
  fetch?: FetchLike;
  requestTimeoutMs?: number;
  /** ListObjectsV2 `max-keys` (1..1000); default: the server's (1000). */
  listPageSize?: number;
}

const TOKEN_HEADER = 'x-amz-meta-vs-write';

/** Splits a generation into its ETag (quoted, as S3 sends it) and the write token. */
function etagOf(generation: string): string | undefined {
  const m = /^((?:W\/)?"[^"]*")(?:#[0-9a-z]+)?$/.exec(generation);
  return m?.[1];
}

function generationFrom(headers: Headers): string | undefined {
  const etag = headers.get('etag');
  if (!etag) return undefined;
  const token = headers.get(TOKEN_HEADER);
  return token && /^[0-9a-z]+$/.test(token) ? `${etag}#${token}` : etag;
}

/** Decodes the five XML entities and numeric character references. */
export function decodeXmlEntities(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#(\d+)|#x([0-9a-fA-F]+));/g, (_m, name: string, dec?: string, hex?: string) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[name]!;
  });
}

/**
 * Parses a ListObjectsV2 result with a few regular expressions (no DOM dependency, so it runs
 * in workers and Node alike): the keys of `<Contents>`, and the continuation token.
 */
export function parseListObjectsV2(xml: string): { keys: string[]; nextToken?: string; truncated: boolean } {
  const keys: string[] = [];
  for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const k = /<Key>([\s\S]*?)<\/Key>/.exec(m[1]!);
    if (k) keys.push(decodeXmlEntities(k[1]!));
  }
  const truncated = /<IsTruncated>\s*true\s*<\/IsTruncated>/.test(xml);
  const t = /<NextContinuationToken>([\s\S]*?)<\/NextContinuationToken>/.exec(xml);
  return { keys, truncated, ...(t ? { nextToken: decodeXmlEntities(t[1]!) } : {}) };
}

/**
 * A store on S3 or an S3-compatible service (SigV4 via aws4fetch): conditional writes, ranged
 * reads, listing, retries. Browser-safe; credentials from the options or, in Node, the
 * environment.
 *
 * ```ts
 * const store = new S3Store({ bucket: 'my-bucket', path: 'em/', region: 'us-east-1' });
 * ```
 */
export class S3Store implements KvStore {
  readonly readOnly = false;
  readonly bucket: string;
  readonly path: string;
  readonly region: string;
  readonly endpoint: string | undefined;
  private readonly prefix: string;
  /** `.../bucket/` (path style) or `https://bucket.host/`: keys are appended. */
  private readonly bucketBase: string;
  /** The bucket URL for ListObjectsV2: `.../bucket` or `https://bucket.host/`. */
  private readonly listBase: string;
  private readonly client: HttpClient;
  private readonly treat403AsMissing: boolean;
  private readonly listPageSize: number | undefined;

  constructor(options: S3StoreOptions) {
    if (!options.bucket || !/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/.test(options.bucket)) {
      throw new SpecError('kvstore.bucket', `invalid S3 bucket name ${JSON.stringify(options.bucket)}`);
    }
    this.bucket = options.bucket;
    this.path = options.path ?? '';
    this.prefix = this.path;
    this.region = options.region ?? envVar('AWS_REGION') ?? envVar('AWS_DEFAULT_REGION') ?? 'us-east-1';
    this.endpoint = options.endpoint ?? envVar('AWS_ENDPOINT_URL_S3') ?? envVar('AWS_ENDPOINT_URL');
    const root = (this.endpoint ?? `https://s3.${this.region}.amazonaws.com`).replace(/\/+$/, '');
    let rootUrl: URL;
    try {
      rootUrl = new URL(root);
    } catch {
      throw new SpecError('kvstore.endpoint', `invalid URL ${JSON.stringify(root)}`);
    }
    // Dotted bucket names break TLS wildcard certificates in virtual-host style.
    const pathStyle = options.forcePathStyle ?? (this.endpoint !== undefined || this.bucket.includes('.'));
    if (pathStyle) {
      this.bucketBase = `${root}/${encodeURIComponent(this.bucket)}/`;
      this.listBase = `${root}/${encodeURIComponent(this.bucket)}`;
    } else {
      rootUrl.hostname = `${this.bucket}.${rootUrl.hostname}`;
      this.bucketBase = rootUrl.toString().replace(/\/*$/, '/');
      this.listBase = this.bucketBase;
    }
    this.treat403AsMissing = options.treat403AsMissing ?? false;
    this.listPageSize = options.listPageSize;

    let creds = options.credentials;
    if (creds === undefined) {
      const id = envVar('AWS_ACCESS_KEY_ID');
      const secret = envVar('AWS_SECRET_ACCESS_KEY');
      creds = id && secret ? { accessKeyId: id, secretAccessKey: secret, sessionToken: envVar('AWS_SESSION_TOKEN') } : 'anonymous';
    }
    let sign: RequestSigner | undefined;
    if (creds !== 'anonymous') {
      const c = creds;
      const region = this.region;
      sign = async ({ method, url, headers, body }) => {
        const signer = new AwsV4Signer({
          method,
          url,
          headers,
          body: body as BodyInit | undefined,
          accessKeyId: c.accessKeyId,
          secretAccessKey: c.secretAccessKey,
          sessionToken: c.sessionToken,
          service: 's3',
          region,
        });
        return (await signer.sign()).headers;
      };
    }
    this.client = new HttpClient({
      fetch: options.fetch,
      retries: options.retries,
      concurrency: options.concurrency,
      sign,
      authOrigin: new URL(this.bucketBase).origin,
      requestTimeoutMs: options.requestTimeoutMs,
    });
  }

  get url(): string {
    return `s3://${this.bucket}/${this.path}`;
  }

  get stats(): HttpStats {
    return this.client.stats;
  }

  /** TensorStore's s3 kvstore spec (never credentials). */
  spec(): Record<string, unknown> {
    return {
      driver: 's3',
      bucket: this.bucket,
      path: this.path,
      ...(this.endpoint !== undefined ? { endpoint: this.endpoint } : {}),
      aws_region: this.region,
    };
  }

  private objectUrl(key: string): string {
    return this.bucketBase + encodeKeyPath(joinKey(this.prefix, key));
  }

  private isMissing(status: number): boolean {
    return status === 404 || (status === 403 && this.treat403AsMissing);
  }

  /** HEAD: generation and size of a key, or undefined when missing. */
  private async head(key: string, signal?: AbortSignal): Promise<{ generation: string; size: number } | undefined> {
    const r = await this.client.send({ method: 'HEAD', key, url: this.objectUrl(key), signal }, new Set([403, 404]));
    if (this.isMissing(r.status)) return undefined;
    if (r.status === 403) throw new KvStoreError(key, `HEAD ${this.objectUrl(key)} failed: HTTP 403 (check credentials / permissions)`, { status: 403 });
    const generation = generationFrom(r.headers);
    const size = contentLength(r.headers);
    if (!generation || size === undefined) throw new KvStoreError(key, 'S3 HEAD response lacks ETag or Content-Length');
    return { generation, size };
  }

  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    throwIfAborted(options.signal);
    const plan = planRange(key, options.byteRange);
    if (plan.empty) return this.readEmpty(key, options);
    const headers: Record<string, string> = {};
    const { ifEqual, ifNotEqual } = options;
    if (ifNotEqual && etagOf(ifNotEqual)) headers['if-none-match'] = etagOf(ifNotEqual)!;
    if (ifEqual && etagOf(ifEqual)) headers['if-match'] = etagOf(ifEqual)!;
    const raw = await this.client.getBytes({
      method: 'GET',
      key,
      // No cache-busting parameter: requests are signed and S3 serves no stale edge copies.
      url: this.objectUrl(key),
      headers,
      range: plan.wire,
      signal: options.signal,
    });
    if (raw.kind === 'status') {
      if (this.isMissing(raw.status)) return missingResult(options);
      if (raw.status === 304) return { state: 'unchanged', generation: ifNotEqual! };
      if (raw.status === 412) {
        const h = await this.head(key, options.signal);
        return h ? { state: 'unchanged', generation: h.generation } : missingResult(options);
      }
      if (raw.status === 416) return this.readEmpty(key, options);
      if (raw.status === 301 || raw.status === 307) {
        const region = raw.headers.get('x-amz-bucket-region');
        throw new KvStoreError(key, `S3 redirected (HTTP ${raw.status}): bucket ${this.bucket} is served from ${region ? `region ${region}` : 'another endpoint'}; set region/endpoint`, {
          status: raw.status,
        });
      }
      throw new KvStoreError(key, `GET ${this.objectUrl(key)} failed: HTTP ${raw.status}${raw.status === 403 ? ' (check credentials / permissions)' : ''}`, {
        status: raw.status,
      });
    }
    const generation = generationFrom(raw.headers);
    if (!generation) throw new KvStoreError(key, 'S3 response lacks an ETag');
    // The server checked the ETag part; the write token is checked here.
    if (conditionBlocks(options, generation)) return { state: 'unchanged', generation };
    const { value, size } = sliceRaw(key, options.byteRange, raw);
    return { state: 'value', value, generation, ...(size !== undefined ? { size } : {}) };
  }

  /** Zero-length reads and 416 answers: HEAD for existence, generation and size. */
  private async readEmpty(key: string, options: ReadOptions): Promise<ReadResult> {
    const h = await this.head(key, options.signal);
    if (!h) return missingResult(options);
    if (conditionBlocks(options, h.generation)) return { state: 'unchanged', generation: h.generation };
    const [start, end] = resolveByteRange(key, options.byteRange, h.size);
    if (start !== end) {
      // A 416 for a range that fits now: the object changed; read again.
      return this.read(key, options);
    }
    return { state: 'value', value: new Uint8Array(0), generation: h.generation, size: h.size };
  }

  async write(key: string, value: Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    throwIfAborted(options.signal);
    const { ifEqual } = options;
    const token = cacheBuster();
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      [TOKEN_HEADER]: token,
    };
    if (ifEqual === NO_GENERATION) headers['if-none-match'] = '*';
    else if (ifEqual !== undefined) {
      const etag = etagOf(ifEqual);
      if (!etag) return { ok: false }; // not an S3 generation: cannot match
      headers['if-match'] = etag;
    }
    const r = await this.client.send(
      {
        method: 'PUT',
        key,
        url: this.objectUrl(key),
        headers,
        body: value,
        conditional: ifEqual !== undefined,
        signal: options.signal,
      },
      new Set([404, 409, 412]),
    );
    // 404: If-Match on a missing key; 409: a concurrent conditional write is in progress.
    if (r.status !== 200) return { ok: false };
    const etag = r.headers.get('etag');
    if (!etag) throw new KvStoreError(key, 'S3 PUT response lacks an ETag');
    return { ok: true, generation: `${etag}#${token}` };
  }

  async delete(key: string, options: WriteOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal);
    const { ifEqual } = options;
    const headers: Record<string, string> = {};
    if (ifEqual !== undefined) {
      // S3 has no "delete if missing" and answers a conditional DELETE of a missing key with
      // 204; a HEAD decides those cases (not atomic with the DELETE).
      const h = await this.head(key, options.signal);
      if (ifEqual === NO_GENERATION) return h === undefined;
      const etag = etagOf(ifEqual);
      if (!h || !etag || etagOf(h.generation) !== etag) return false;
      headers['if-match'] = etag;
    }
    const r = await this.client.send(
      { method: 'DELETE', key, url: this.objectUrl(key), headers, conditional: ifEqual !== undefined, signal: options.signal },
      new Set([404, 412]),
    );
    if (r.status === 412) return false;
    if (r.status === 404) return ifEqual === undefined;
    return true;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<string> {
    const full = joinKey(this.prefix, prefix);
    const listPrefix = prefix === '' && this.prefix && !this.prefix.endsWith('/') ? `${this.prefix}/` : full;
    const strip = this.prefix ? (this.prefix.endsWith('/') ? this.prefix.length : this.prefix.length + 1) : 0;
    let token: string | undefined;
    for (;;) {
      throwIfAborted(options.signal);
      const q = new URLSearchParams({ 'list-type': '2', prefix: listPrefix });
      if (token) q.set('continuation-token', token);
      if (this.listPageSize !== undefined) q.set('max-keys', String(this.listPageSize));
      const url = `${this.listBase}?${q}`;
      const xml = await this.client.text({ method: 'GET', key: prefix, url, signal: options.signal });
      const page = parseListObjectsV2(xml);
      for (const k of page.keys) yield k.slice(strip);
      if (!page.truncated || !page.nextToken) break;
      token = page.nextToken;
    }
  }

  deleteRange(prefix: string, options: ListOptions = {}): Promise<void> {
    return deleteListed(this, prefix, options.signal);
  }
}

