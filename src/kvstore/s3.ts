/**
 * S3 (and S3-compatible) kvstore: a dialect of the shared HTTP object core (http/core.ts),
 * plus listing, signing requests with SigV4 through `aws4fetch` (fetch-based, browser-safe).
 *
 * Generations: S3's ETag is the MD5 of the bytes, so rewriting identical bytes would repeat
 * a generation. Each write therefore also stores a random token in `x-amz-meta-vs-write`, and
 * the generation is `<ETag>` or `<ETag>#<token>`. Preconditions on the wire use the ETag part
 * (`If-Match`, `If-None-Match: *`), so a conditional write can succeed over a rewrite of
 * identical bytes (ABA): harmless for a read-modify-write, which saw those same bytes.
 *
 * The token also tells a retried conditional write whether its earlier attempt landed.
 *
 * Private buckets answer 403 (not 404) for missing keys when the caller may not list:
 * `treat403AsMissing` maps those to "missing". Redirects are not followed: S3 redirects only
 * to another region's endpoint, which needs a new signature; the error says which region.
 */
import { parseXmlRoot, xmlText } from './http/xml.js';
import { AwsV4Signer } from 'aws4fetch';
import { KvStoreError, SpecError, throwIfAborted } from '../errors.js';
import { HttpClient, type HttpStats, type HttpTransportOptions, type RequestSigner } from './http/client.js';
import { type HttpDialect, HttpObjectCore, type Wire, type WireRequest, type WriteCondition, writeCondition } from './http/core.js';
import { Secrets } from './http/secrets.js';
import { encodeKeyPath, envVar, parseServiceUrl } from './http/url.js';
import { checkKey, keyProblem } from './keys.js';
import {
  deleteListed,
  joinKey,
  type KvStore,
  type ListOptions,
  type ReadOptions,
  type ReadResult,
  type WriteOptions,
  type WriteResult,
} from './kvstore.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Options of {@link S3Store}. */
export interface S3StoreOptions extends HttpTransportOptions {
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
  /** ListObjectsV2 `max-keys` (1..1000); default: the server's (1000). */
  listPageSize?: number;
}

const TOKEN_HEADER = 'x-amz-meta-vs-write';

/** Splits a generation into its ETag (quoted, as S3 sends it) and the write token. */
function etagOf(generation: string): string | undefined {
  const m = /^((?:W\/)?"[^"]*")(?:#[0-9a-z]+)?$/.exec(generation);
  return m?.[1];
}

function tokenFrom(headers: Headers): string | undefined {
  const token = headers.get(TOKEN_HEADER);
  return token && /^[0-9a-z]+$/.test(token) ? token : undefined;
}

function generationFrom(headers: Headers): string | undefined {
  const etag = headers.get('etag');
  if (!etag) return undefined;
  const token = tokenFrom(headers);
  return token ? `${etag}#${token}` : etag;
}

/**
 * Parses a ListObjectsV2 result: the keys of `<Contents>`, whether it is truncated, and the
 * continuation token. A malformed or cut answer is a (retried) TransientError, never a
 * silently shorter listing.
 */
export function parseListObjectsV2(text: string, key = ''): { keys: string[]; nextToken?: string; truncated: boolean } {
  const root = parseXmlRoot(text, 'ListBucketResult', ['Contents'], key, 'ListObjectsV2');
  const keys: string[] = [];
  for (const c of (root.Contents as unknown[] | undefined) ?? []) {
    const k = xmlText((c as Record<string, unknown> | undefined)?.Key);
    if (k !== undefined) keys.push(k);
  }
  const truncated = xmlText(root.IsTruncated)?.trim() === 'true';
  const t = xmlText(root.NextContinuationToken);
  return { keys, truncated, ...(t ? { nextToken: t } : {}) };
}

/** The S3 REST API as an {@link HttpDialect}. */
class S3Dialect implements HttpDialect {
  readonly suffixRanges = true;

  constructor(
    private readonly store: S3Store,
    private readonly treat403AsMissing: boolean,
  ) {}

  mediaUrl(key: string): string {
    // No cache-busting parameter: requests are signed and S3 serves no stale edge copies.
    return this.store.objectUrl(key);
  }

  readConditions(ifEqual: string | undefined, ifNotEqual: string | undefined): Wire {
    const headers: Record<string, string> = {};
    const none = ifNotEqual === undefined ? undefined : etagOf(ifNotEqual);
    const match = ifEqual === undefined ? undefined : etagOf(ifEqual);
    if (none) headers['if-none-match'] = none;
    if (match) headers['if-match'] = match;
    return { headers };
  }

  generationOf(headers: Headers): string | undefined {
    return generationFrom(headers);
  }

  tokenOf(headers: Headers): string | undefined {
    return tokenFrom(headers);
  }

  isMissing(status: number): boolean {
    return status === 404 || (status === 403 && this.treat403AsMissing);
  }

  explainStatus(key: string, status: number, headers: Headers): KvStoreError | undefined {
    if (status !== 301 && status !== 302 && status !== 307 && status !== 308) return undefined;
    const region = headers.get('x-amz-bucket-region');
    return new KvStoreError(
      key,
      `S3 redirected (HTTP ${status}): bucket ${this.store.bucket} is served from ${region ? `region ${region}` : 'another endpoint'}; set region/endpoint`,
      { status },
    );
  }

  canMatch(generation: string): boolean {
    return etagOf(generation) !== undefined;
  }

  writeRequest(key: string, value: Uint8Array, cond: WriteCondition, token: string): WireRequest {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', [TOKEN_HEADER]: token };
    if (cond.kind === 'absent') headers['if-none-match'] = '*';
    else if (cond.kind === 'match') headers['if-match'] = etagOf(cond.generation)!;
    return { method: 'PUT', url: this.store.objectUrl(key), headers, body: value };
  }

  writtenGeneration(key: string, headers: Headers, _text: string, token: string): string {
    const etag = headers.get('etag');
    if (!etag) throw new KvStoreError(key, 'S3 PUT answer lacks an ETag');
    return `${etag}#${token}`;
  }

  deleteRequest(key: string, cond: WriteCondition): WireRequest {
    const headers: Record<string, string> = {};
    if (cond.kind === 'match') headers['if-match'] = etagOf(cond.generation)!;
    return { method: 'DELETE', url: this.store.objectUrl(key), headers };
  }

  preconditionFailed(status: number, text: string, cond: WriteCondition): boolean {
    // 409: a concurrent conditional write is in progress; 404 (NoSuchKey): If-Match on a
    // missing key. A missing bucket is an error, not a failed precondition.
    if (status === 412 || status === 409) return true;
    return status === 404 && cond.kind === 'match' && !/NoSuchBucket/.test(text);
  }
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
  /** `.../bucket/` (path style) or `https://bucket.host/`: keys are appended. */
  private readonly bucketBase: string;
  /** The bucket URL for ListObjectsV2: `.../bucket` or `https://bucket.host/`. */
  private readonly listBase: string;
  private readonly client: HttpClient;
  private readonly core: HttpObjectCore;
  private readonly listPageSize: number | undefined;

  constructor(options: S3StoreOptions) {
    if (!options.bucket || !/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/.test(options.bucket)) {
      throw new SpecError('kvstore.bucket', `invalid S3 bucket name ${JSON.stringify(options.bucket)}`);
    }
    this.bucket = options.bucket;
    this.path = options.path ?? '';
    const bad = this.path ? keyProblem(this.path) : undefined;
    if (bad) throw new SpecError('kvstore.path', `${JSON.stringify(this.path)}: ${bad}`);
    this.region = options.region ?? envVar('AWS_REGION') ?? envVar('AWS_DEFAULT_REGION') ?? 'us-east-1';
    this.endpoint = options.endpoint ?? envVar('AWS_ENDPOINT_URL_S3') ?? envVar('AWS_ENDPOINT_URL');
    const root = (this.endpoint ?? `https://s3.${this.region}.amazonaws.com`).replace(/\/+$/, '');
    const rootUrl = parseServiceUrl(root, 'kvstore.endpoint');
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
    this.listPageSize = options.listPageSize;

    let creds = options.credentials;
    if (creds === undefined) {
      const id = envVar('AWS_ACCESS_KEY_ID');
      const secret = envVar('AWS_SECRET_ACCESS_KEY');
      creds = id && secret ? { accessKeyId: id, secretAccessKey: secret, sessionToken: envVar('AWS_SESSION_TOKEN') } : 'anonymous';
    }
    const secrets = new Secrets();
    let sign: RequestSigner | undefined;
    if (creds !== 'anonymous') {
      const c = creds;
      secrets.add(c.accessKeyId).add(c.secretAccessKey).add(c.sessionToken);
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
      timeouts: options.timeouts,
      concurrency: options.concurrency,
      sign,
      authOrigin: new URL(this.bucketBase).origin,
      secrets,
      followRedirects: false,
      label: 's3',
    });
    this.core = new HttpObjectCore(this.client, new S3Dialect(this, options.treat403AsMissing ?? false));
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

  /** The URL of a key (keys must have passed `checkKey`). */
  objectUrl(key: string): string {
    return this.bucketBase + encodeKeyPath(joinKey(this.path, key));
  }

  read(key: string, options?: ReadOptions): Promise<ReadResult> {
    return this.core.read(key, options);
  }

  write(key: string, value: Uint8Array, options?: WriteOptions): Promise<WriteResult> {
    return this.core.write(key, value, options);
  }

  /**
   * S3 answers a DELETE with `If-Match` on a missing key with 204, so a generation condition is
   * checked with a HEAD first (not atomic with the DELETE, which still carries `If-Match`).
   */
  async delete(key: string, options: WriteOptions = {}): Promise<boolean> {
    checkKey(key);
    throwIfAborted(options.signal);
    const cond = writeCondition(options.ifEqual);
    if (cond.kind === 'match') {
      const st = await this.core.stat(key, options.signal);
      if (st === undefined || st === 'unsupported' || st.generation !== cond.generation) return false;
    }
    return this.core.delete(key, options);
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<string> {
    if (prefix) checkKey(prefix, 'list prefix');
    const full = joinKey(this.path, prefix);
    const listPrefix = prefix === '' && this.path && !this.path.endsWith('/') ? `${this.path}/` : full;
    const strip = this.path ? (this.path.endsWith('/') ? this.path.length : this.path.length + 1) : 0;
    let token: string | undefined;
    for (;;) {
      throwIfAborted(options.signal);
      const q = new URLSearchParams({ 'list-type': '2', prefix: listPrefix });
      if (token) q.set('continuation-token', token);
      if (this.listPageSize !== undefined) q.set('max-keys', String(this.listPageSize));
      const url = `${this.listBase}?${q}`;
      const xml = await this.client.text({ method: 'GET', key: prefix, url, signal: options.signal });
      const page = parseListObjectsV2(xml, prefix);
      for (const k of page.keys) yield k.slice(strip);
      if (!page.truncated || !page.nextToken) break;
      token = page.nextToken;
    }
  }

  deleteRange(prefix: string, options: ListOptions = {}): Promise<void> {
    return deleteListed(this, prefix, options.signal);
  }
}
