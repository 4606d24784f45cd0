/**
 * Google Cloud Storage kvstore over the JSON API: a dialect of the shared HTTP object core
 * (http/core.ts), plus listing and resumable uploads. Browser-safe; ADC (Node) is loaded lazily
 * through auth.ts.
 *
 * Wire facts (see GCS.md in the shared design notes): object names are one percent-encoded
 * path segment; generations are decimal strings (`x-goog-generation`, or the metadata JSON);
 * preconditions are query parameters (`ifGenerationMatch=0` = must not exist).
 *
 * - Suffix ranges are sent as `Range: bytes=-n`: GCS answers them with a Content-Range carrying
 *   the total, so a sharded format's index read costs one round trip.
 * - Whole-object downloads are checked against the `x-goog-hash` crc32c; a mismatch is retried,
 *   then reported as CorruptionError naming the key.
 * - Writes are multipart uploads carrying a write token in the object's custom metadata
 *   (`volstore-write`), so a retried conditional write can tell its own landed attempt from a
 *   competitor's (see http/core.ts). Values above `resumableThreshold` use a resumable upload.
 */
import { CorruptionError, KvStoreError, SpecError, throwIfAborted } from '../errors.js';
import { crc32c } from '../wasm/kernels.js';
import { loadCore } from '../wasm/core.js';
import { adcOrAnonymous, ANONYMOUS, type AuthOption, resolveAuth } from './auth.js';
import { HttpClient, type HttpStats, type HttpTransportOptions } from './http/client.js';
import { type HttpDialect, HttpObjectCore, type ObjectStat, parseJsonAnswer, type Wire, type WireRequest, type WriteCondition, writeCondition } from './http/core.js';
import type { RawBytes } from './http/reply.js';
import { Secrets } from './http/secrets.js';
import { envVar, parseServiceUrl, randomToken, withQuery } from './http/url.js';
import { checkKey, keyProblem } from './keys.js';
import {
  deleteListed,
  joinKey,
  type KvStore,
  type ListOptions,
  NO_GENERATION,
  type ReadOptions,
  type ReadResult,
  type WriteOptions,
  type WriteResult,
} from './kvstore.js';
import { TransientError } from './retry.js';

export const GCS_DEFAULT_ENDPOINT = 'https://storage.googleapis.com';

/** Options of {@link GcsStore}. */
export interface GcsStoreOptions extends HttpTransportOptions {
  bucket: string;
  /** Key prefix inside the bucket; keys are joined to it with one '/'. */
  path?: string;
  /**
   * API root, e.g. `http://127.0.0.1:4443`. Default: `TENSORSTORE_GCS_HTTP_URL`, then
   * `STORAGE_EMULATOR_HOST` (an `http://` is added when it has no scheme), then
   * `https://storage.googleapis.com`.
   */
  endpoint?: string;
  /**
   * Default: anonymous when the endpoint is not Google's (an emulator); otherwise ADC in Node
   * when credentials exist, else anonymous.
   */
  auth?: AuthOption;
  /** Project billed for requester-pays buckets (`userProject=` on every request). */
  userProject?: string;
  /** Objects larger than this (bytes) use a resumable upload. Default 8 MiB. */
  resumableThreshold?: number;
  /** Resumable upload chunk size; a multiple of 256 KiB. Default 8 MiB. */
  resumableChunkSize?: number;
}

interface ObjectResource {
  name?: string;
  generation?: string;
  size?: string;
  metadata?: Record<string, string>;
}

/** Custom metadata key of the write token. */
const TOKEN_KEY = 'volstore-write';

/** Resolves the endpoint from the option or the environment; exported for tests. */
export function gcsEndpoint(explicit?: string): string {
  let e = explicit ?? envVar('TENSORSTORE_GCS_HTTP_URL') ?? envVar('STORAGE_EMULATOR_HOST') ?? GCS_DEFAULT_ENDPOINT;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(e)) e = `http://${e}`;
  return e.replace(/\/+$/, '');
}

const isGeneration = (g: string) => /^\d+$/.test(g);

/** Base64 of the big-endian CRC-32C, as GCS spells it. */
function crc32cBase64(data: Uint8Array): string {
  const c = crc32c(data);
  return btoa(String.fromCharCode(c >>> 24, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff));
}

/** The generation query value of a condition (`0` = must not exist). */
function generationMatch(cond: WriteCondition): string | undefined {
  return cond.kind === 'none' ? undefined : cond.kind === 'absent' ? '0' : cond.generation;
}

/** A `multipart/related` upload body: the JSON resource, then the bytes. */
function multipart(resource: object, value: Uint8Array): { body: Uint8Array; contentType: string } {
  const boundary = `volstore-${randomToken(16)}`;
  const enc = new TextEncoder();
  const head = enc.encode(
    `--${boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n${JSON.stringify(resource)}\r\n` +
      `--${boundary}\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = enc.encode(`\r\n--${boundary}--\r\n`);
  const body = new Uint8Array(head.length + value.length + tail.length);
  body.set(head, 0);
  body.set(value, head.length);
  body.set(tail, head.length + value.length);
  return { body, contentType: `multipart/related; boundary=${boundary}` };
}

/** The GCS JSON API as an {@link HttpDialect}. */
class GcsDialect implements HttpDialect {
  readonly suffixRanges = true;

  constructor(
    private readonly store: GcsStore,
    private readonly client: HttpClient,
  ) {}

  mediaUrl(key: string): string {
    return this.store.objectUrl(key, { alt: 'media', _vs: randomToken() });
  }

  readConditions(ifEqual: string | undefined, ifNotEqual: string | undefined): Wire {
    const query: Record<string, string> = {};
    if (ifEqual === NO_GENERATION) query.ifGenerationMatch = '0';
    else if (ifEqual !== undefined && isGeneration(ifEqual)) query.ifGenerationMatch = ifEqual;
    if (ifNotEqual !== undefined && isGeneration(ifNotEqual)) query.ifGenerationNotMatch = ifNotEqual;
    return { query };
  }

  generationOf(headers: Headers): string | undefined {
    const g = headers.get('x-goog-generation');
    return g && isGeneration(g) ? g : undefined;
  }

  isMissing(status: number): boolean {
    return status === 404;
  }

  async stat(key: string, signal?: AbortSignal): Promise<ObjectStat | undefined> {
    const r = await this.client.json<ObjectResource>(
      { method: 'GET', key, url: this.store.objectUrl(key, { fields: 'generation,size,metadata', _vs: randomToken() }), signal },
      new Set([404]),
    );
    if (r.status === 404) return undefined;
    const g = r.json?.generation;
    const size = Number(r.json?.size);
    if (!g || !isGeneration(g) || !Number.isSafeInteger(size)) throw new KvStoreError(key, 'GCS metadata lacks generation/size');
    const token = r.json?.metadata?.[TOKEN_KEY];
    return { generation: g, size, ...(token !== undefined ? { token } : {}) };
  }

  async verify(key: string, raw: RawBytes): Promise<void> {
    if (raw.offset !== 0 || raw.total === undefined || raw.data.length !== raw.total) return; // not the whole object
    const h = raw.headers;
    if (h.has('content-encoding')) return;
    const stored = h.get('x-goog-stored-content-encoding');
    if (stored && stored !== 'identity') return; // transcoded: the hash is of the stored bytes
    const want = /(?:^|,)\s*crc32c=([A-Za-z0-9+/=]+)/.exec(h.get('x-goog-hash') ?? '')?.[1];
    if (!want) return;
    await loadCore();
    const got = crc32cBase64(raw.data);
    if (got !== want) {
      throw new TransientError(
        new CorruptionError(key, `crc32c ${got} of the ${raw.data.length} bytes received differs from the stored object's (x-goog-hash crc32c=${want})`),
      );
    }
  }

  canMatch(generation: string): boolean {
    return isGeneration(generation);
  }

  writeRequest(key: string, value: Uint8Array, cond: WriteCondition, token: string): WireRequest {
    const { body, contentType } = multipart(this.store.resource(key, token), value);
    return {
      method: 'POST',
      url: this.store.objectUrl(key, { uploadType: 'multipart', ifGenerationMatch: generationMatch(cond) }, 'upload'),
      headers: { 'content-type': contentType },
      body,
    };
  }

  writtenGeneration(key: string, _headers: Headers, text: string): string {
    return uploadedGeneration(key, parseJsonAnswer<ObjectResource>(key, text, 'GCS upload'));
  }

  deleteRequest(key: string, cond: WriteCondition): WireRequest {
    return { method: 'DELETE', url: this.store.objectUrl(key, { ifGenerationMatch: generationMatch(cond) }) };
  }

  preconditionFailed(status: number): boolean {
    return status === 412;
  }
}

function uploadedGeneration(key: string, json: ObjectResource | undefined): string {
  const g = json?.generation;
  if (!g || !isGeneration(g)) throw new KvStoreError(key, 'GCS upload answer lacks a generation');
  return g;
}

/**
 * A GCS bucket (+ prefix) as a {@link KvStore}. Reads return `x-goog-generation` as the
 * generation; writes and deletes with `ifEqual` send `ifGenerationMatch`. Every request is
 * retried on transient failures (see http/core.ts for why writes may be).
 */
export class GcsStore implements KvStore {
  readonly readOnly = false;
  readonly bucket: string;
  readonly path: string;
  readonly endpoint: string;
  readonly userProject: string | undefined;
  /** The endpoint was given (not from the environment or the default): the spec keeps it. */
  private readonly endpointGiven: boolean;
  private readonly client: HttpClient;
  private readonly core: HttpObjectCore;
  private readonly resumableThreshold: number;
  private readonly chunkSize: number;

  constructor(options: GcsStoreOptions) {
    if (!options.bucket || !/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/.test(options.bucket)) {
      throw new SpecError('kvstore.bucket', `invalid GCS bucket name ${JSON.stringify(options.bucket)}`);
    }
    this.bucket = options.bucket;
    this.path = options.path ?? '';
    const bad = this.path ? keyProblem(this.path) : undefined;
    if (bad) throw new SpecError('kvstore.path', `${JSON.stringify(this.path)}: ${bad}`);
    this.endpoint = gcsEndpoint(options.endpoint);
    this.endpointGiven = options.endpoint !== undefined;
    const origin = parseServiceUrl(this.endpoint, 'kvstore.endpoint').origin;
    this.userProject = options.userProject;
    const isGoogle = this.endpoint === GCS_DEFAULT_ENDPOINT;
    const auth = options.auth !== undefined ? resolveAuth(options.auth) : isGoogle ? adcOrAnonymous() : ANONYMOUS;
    const secrets = new Secrets();
    if (options.auth && typeof options.auth === 'object' && 'bearerToken' in options.auth) secrets.add(options.auth.bearerToken);
    this.client = new HttpClient({
      fetch: options.fetch,
      retries: options.retries,
      timeouts: options.timeouts,
      concurrency: options.concurrency,
      auth,
      authOrigin: origin,
      secrets,
      label: 'gcs',
    });
    this.core = new HttpObjectCore(this.client, new GcsDialect(this, this.client));
    this.resumableThreshold = options.resumableThreshold ?? 8 << 20;
    this.chunkSize = options.resumableChunkSize ?? 8 << 20;
    if (this.chunkSize % (256 << 10) !== 0) {
      throw new SpecError('resumableChunkSize', 'must be a multiple of 256 KiB');
    }
  }

  get url(): string {
    return `gs://${this.bucket}/${this.path}`;
  }

  /** Request and retry counters of this store's HTTP client. */
  get stats(): HttpStats {
    return this.client.stats;
  }

  spec(): Record<string, unknown> {
    return { driver: 'gcs', bucket: this.bucket, path: this.path, ...(this.endpointGiven ? { endpoint: this.endpoint } : {}) };
  }

  private name(key: string): string {
    return joinKey(this.path, key);
  }

  /** The upload resource JSON of `key`: name plus the write token. */
  resource(key: string, token: string): Record<string, unknown> {
    return { name: this.name(key), contentType: 'application/octet-stream', metadata: { [TOKEN_KEY]: token } };
  }

  /**
   * `kind` 'object': `/storage/v1/b/B/o/NAME`; 'upload': `/upload/storage/v1/b/B/o`;
   * 'list': `/storage/v1/b/B/o`. Query parameters with undefined values are left out.
   */
  objectUrl(key: string, params: Record<string, string | undefined>, kind: 'object' | 'upload' | 'list' = 'object'): string {
    const bucket = encodeURIComponent(this.bucket);
    const base =
      kind === 'upload'
        ? `${this.endpoint}/upload/storage/v1/b/${bucket}/o`
        : kind === 'list'
          ? `${this.endpoint}/storage/v1/b/${bucket}/o`
          : `${this.endpoint}/storage/v1/b/${bucket}/o/${encodeURIComponent(this.name(key))}`;
    return withQuery(base, { ...params, userProject: this.userProject });
  }

  read(key: string, options?: ReadOptions): Promise<ReadResult> {
    return this.core.read(key, options);
  }

  write(key: string, value: Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    if (value.length <= this.resumableThreshold) return this.core.write(key, value, options);
    checkKey(key);
    throwIfAborted(options.signal);
    const cond = writeCondition(options.ifEqual);
    // A generation from another store can never match a GCS generation.
    if (cond.kind === 'match' && !isGeneration(cond.generation)) return Promise.resolve({ ok: false });
    return this.resumableUpload(key, value, cond, options.signal);
  }

  /**
   * Resumable upload: a session, then chunks with `Content-Range`. Nothing is visible until the
   * last chunk commits, and a session commits at most once, so chunk failures are retried after
   * asking the session how much it holds (`bytes * /total`).
   */
  private async resumableUpload(key: string, value: Uint8Array, cond: WriteCondition, signal?: AbortSignal): Promise<WriteResult> {
    const total = value.length;
    const conditional = cond.kind !== 'none';
    const startUrl = this.objectUrl(key, { uploadType: 'resumable', ifGenerationMatch: generationMatch(cond) }, 'upload');
    const start = await this.client.send(
      {
        method: 'POST',
        key,
        url: startUrl,
        headers: {
          'content-type': 'application/json; charset=UTF-8',
          'x-upload-content-type': 'application/octet-stream',
          'x-upload-content-length': String(total),
        },
        body: new TextEncoder().encode(JSON.stringify(this.resource(key, randomToken(8)))),
        signal,
      },
      conditional ? new Set([412]) : new Set(),
    );
    if (start.status === 412) return { ok: false };
    const location = start.headers.get('location');
    if (!location) throw new KvStoreError(key, 'GCS resumable upload: no session URI in the answer');
    const session = new URL(location, this.endpoint).toString();

    let offset = 0;
    const parseRange = (h: Headers) => {
      const m = /bytes=0-(\d+)/.exec(h.get('range') ?? '');
      return m ? Number(m[1]) + 1 : 0;
    };
    type Step = { done: true; result: WriteResult } | { done: false; offset: number };
    const interpret = (status: number, headers: Headers, text: string): Step => {
      if (status === 308) return { done: false, offset: parseRange(headers) };
      if (status === 412) return { done: true, result: { ok: false } };
      return { done: true, result: { ok: true, generation: uploadedGeneration(key, parseJsonAnswer<ObjectResource>(key, text, 'GCS resumable upload')) } };
    };
    const answers = conditional ? new Set([308, 412]) : new Set([308]);
    let needStatus = false;
    return this.client.retrying({ method: 'PUT', url: session, signal }, async () => {
      for (;;) {
        if (needStatus) {
          const q = await this.client.send(
            { method: 'PUT', key, url: session, headers: { 'content-range': `bytes */${total}` }, noRetry: true, signal },
            answers,
          );
          const s = interpret(q.status, q.headers, q.text);
          if (s.done) return s.result;
          offset = s.offset;
          needStatus = false;
        }
        const end = Math.min(total, offset + this.chunkSize);
        needStatus = true; // if this PUT fails, ask before resending
        const r = await this.client.send(
          {
            method: 'PUT',
            key,
            url: session,
            headers: { 'content-range': total === 0 ? `bytes */0` : `bytes ${offset}-${end - 1}/${total}` },
            body: value.subarray(offset, end),
            noRetry: true,
            signal,
          },
          answers,
        );
        needStatus = false;
        const s = interpret(r.status, r.headers, r.text);
        if (s.done) return s.result;
        if (s.offset <= offset && end > offset) {
          // No progress acknowledged; resend from what the session reports.
          throw new TransientError(new KvStoreError(key, 'GCS resumable upload made no progress'));
        }
        offset = s.offset;
      }
    });
  }

  delete(key: string, options?: WriteOptions): Promise<boolean> {
    return this.core.delete(key, options);
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<string> {
    if (prefix) checkKey(prefix, 'list prefix');
    const full = joinKey(this.path, prefix);
    // joinKey('p', '') is 'p': list under 'p/' for a store path without trailing slash.
    const listPrefix = prefix === '' && this.path && !this.path.endsWith('/') ? `${this.path}/` : full;
    const strip = this.path ? (this.path.endsWith('/') ? this.path.length : this.path.length + 1) : 0;
    let pageToken: string | undefined;
    do {
      throwIfAborted(options.signal);
      const r = await this.client.json<{ items?: ObjectResource[]; nextPageToken?: string }>({
        method: 'GET',
        key: prefix,
        url: this.objectUrl(prefix, { prefix: listPrefix, pageToken, maxResults: '1000' }, 'list'),
        signal: options.signal,
      });
      for (const it of r.json?.items ?? []) if (it.name !== undefined) yield it.name.slice(strip);
      pageToken = r.json?.nextPageToken || undefined;
    } while (pageToken);
  }

  deleteRange(prefix: string, options: ListOptions = {}): Promise<void> {
    return deleteListed(this, prefix, options.signal);
  }
}
