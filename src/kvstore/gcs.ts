/**
 * Google Cloud Storage kvstore over the JSON API, a thin shell over the shared HTTP path
 * (http-common.ts). Browser-safe; ADC (Node) is loaded lazily through auth.ts.
 *
 * Wire facts (see /work/shared/GCS.md): object names are one percent-encoded path segment;
 * generations are decimal strings (`x-goog-generation`, or the metadata JSON); preconditions
 * are query parameters (`ifGenerationMatch=0` = must not exist).
 *
 * Suffix ranges: sent as `Range: bytes=-n`. GCS answers them correctly with a Content-Range
 * carrying the total, so a sharded format's index read costs one round trip instead of two
 * (metadata GET + absolute range). The response is validated like any 206. (The HTTP store,
 * which talks to arbitrary servers, does the HEAD + absolute range instead.)
 */
import { KvStoreError, SpecError, throwIfAborted } from '../errors.js';
import type { Limiter } from '../util/limiter.js';
import { adcOrAnonymous, ANONYMOUS, type AuthOption, resolveAuth } from './auth.js';
import {
  cacheBuster,
  conditionBlocks,
  envVar,
  type FetchLike,
  HttpClient,
  type HttpStats,
  missingResult,
  planRange,
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
import { type RetryPolicy, TransientError, withRetries } from './retry.js';

export const GCS_DEFAULT_ENDPOINT = 'https://storage.googleapis.com';

/** Options of {@link GcsStore}. */
export interface GcsStoreOptions {
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
  /** Shared request limiter (`gcs_request_concurrency`); default: a process-wide one of 32. */
  concurrency?: Limiter;
  /** `gcs_request_retries`; default 32 retries, 1 s initial, 32 s max delay. */
  retries?: Partial<RetryPolicy>;
  fetch?: FetchLike;
  /** Objects larger than this (bytes) use a resumable upload. Default 8 MiB. */
  resumableThreshold?: number;
  /** Resumable upload chunk size; a multiple of 256 KiB. Default 8 MiB. */
  resumableChunkSize?: number;
  /** Per-attempt timeout in ms (retried). Default: none. */
  requestTimeoutMs?: number;
}

interface ObjectResource {
  name?: string;
  generation?: string;
  size?: string;
}

/** Resolves the endpoint from the option or the environment; exported for tests. */
export function gcsEndpoint(explicit?: string): string {
  let e = explicit ?? envVar('TENSORSTORE_GCS_HTTP_URL') ?? envVar('STORAGE_EMULATOR_HOST') ?? GCS_DEFAULT_ENDPOINT;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(e)) e = `http://${e}`;
  return e.replace(/\/+$/, '');
}

const isGeneration = (g: string) => /^\d+$/.test(g);

/**
 * A GCS bucket (+ prefix) as a {@link KvStore}. Reads return `x-goog-generation` as the
 * generation; writes and deletes with `ifEqual` send `ifGenerationMatch` and are then retried
 * on transient failures (unconditional ones are not: they are not idempotent).
 */
export class GcsStore implements KvStore {
  readonly readOnly = false;
  readonly bucket: string;
  readonly path: string;
  readonly endpoint: string;
  readonly userProject: string | undefined;
  private readonly prefix: string;
  private readonly client: HttpClient;
  private readonly resumableThreshold: number;
  private readonly chunkSize: number;
  /** Cleared when a response lacks `x-goog-generation` (cross-origin without exposure). */
  private generationHeader = true;

  constructor(options: GcsStoreOptions) {
    if (!options.bucket || !/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/.test(options.bucket)) {
      throw new SpecError('kvstore.bucket', `invalid GCS bucket name ${JSON.stringify(options.bucket)}`);
    }
    this.bucket = options.bucket;
    this.path = options.path ?? '';
    this.prefix = this.path;
    this.endpoint = gcsEndpoint(options.endpoint);
    this.userProject = options.userProject;
    const isGoogle = this.endpoint === GCS_DEFAULT_ENDPOINT;
    const auth =
      options.auth !== undefined ? resolveAuth(options.auth) : isGoogle ? adcOrAnonymous() : ANONYMOUS;
    this.client = new HttpClient({
      fetch: options.fetch,
      retries: options.retries,
      concurrency: options.concurrency,
      auth,
      authOrigin: new URL(this.endpoint).origin,
      requestTimeoutMs: options.requestTimeoutMs,
    });
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
    return { driver: 'gcs', bucket: this.bucket, path: this.path };
  }

  private name(key: string): string {
    return joinKey(this.prefix, key);
  }

  /**
   * `kind` 'object': `/storage/v1/b/B/o/NAME`; 'upload': `/upload/storage/v1/b/B/o`;
   * 'list': `/storage/v1/b/B/o`. Query parameters with undefined values are left out.
   */
  private objectUrl(key: string, params: Record<string, string | undefined>, kind: 'object' | 'upload' | 'list' = 'object'): string {
    const bucket = encodeURIComponent(this.bucket);
    const base =
      kind === 'upload'
        ? `${this.endpoint}/upload/storage/v1/b/${bucket}/o`
        : kind === 'list'
          ? `${this.endpoint}/storage/v1/b/${bucket}/o`
          : `${this.endpoint}/storage/v1/b/${bucket}/o/${encodeURIComponent(this.name(key))}`;
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
    if (this.userProject) q.set('userProject', this.userProject);
    const qs = q.toString();
    return qs ? `${base}?${qs}` : base;
  }

  /** Object metadata (generation, size), or undefined when missing. */
  private async metadata(key: string, signal?: AbortSignal): Promise<{ generation: string; size: number } | undefined> {
    const r = await this.client.json<ObjectResource>(
      { method: 'GET', key, url: this.objectUrl(key, { fields: 'generation,size', _vs: cacheBuster() }), signal },
      new Set([404]),
    );
    if (r.status === 404) return undefined;
    const g = r.json?.generation;
    const size = Number(r.json?.size);
    if (!g || !isGeneration(g) || !Number.isSafeInteger(size)) {
      throw new KvStoreError(key, 'GCS metadata lacks generation/size');
    }
    return { generation: g, size };
  }

  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    throwIfAborted(options.signal);
    const plan = planRange(key, options.byteRange);
    if (plan.empty || !this.generationHeader) return this.readViaMetadata(key, options);
    const params: Record<string, string | undefined> = { alt: 'media', _vs: cacheBuster() };
    const { ifEqual, ifNotEqual } = options;
    if (ifEqual !== undefined) {
      if (ifEqual !== NO_GENERATION && !isGeneration(ifEqual)) return this.readViaMetadata(key, options);
      params.ifGenerationMatch = ifEqual === NO_GENERATION ? '0' : ifEqual;
    }
    if (ifNotEqual !== undefined && isGeneration(ifNotEqual)) params.ifGenerationNotMatch = ifNotEqual;
    const raw = await this.client.getBytes({
      method: 'GET',
      key,
      url: this.objectUrl(key, params),
      range: plan.wire,
      signal: options.signal,
    });
    if (raw.kind === 'status') {
      switch (raw.status) {
        case 404:
          return missingResult(options);
        case 304:
          return { state: 'unchanged', generation: ifNotEqual! };
        case 412:
        case 416:
          // 412: learn the current generation; 416: start at/after the end: the metadata
          // tells whether it is exactly the end (an empty value) or past it (ByteRangeError).
          return this.readViaMetadata(key, options);
        default:
          throw new KvStoreError(key, `GET ${this.url}${key}: unexpected HTTP ${raw.status}: ${raw.body.slice(0, 200)}`, {
            status: raw.status,
          });
      }
    }
    const generation = raw.headers.get('x-goog-generation');
    if (!generation) {
      // The header is not exposed (cross-origin); generations come from metadata from now on.
      this.generationHeader = false;
      return this.readViaMetadata(key, options);
    }
    if (conditionBlocks(options, generation)) return { state: 'unchanged', generation };
    const { value, size } = sliceRaw(key, options.byteRange, raw);
    return { state: 'value', value, generation, ...(size !== undefined ? { size } : {}) };
  }

  /**
   * Metadata first, then (unless the answer is already known) the media pinned to that
   * generation with `ifGenerationMatch`, so bytes and generation always belong together.
   * Used when the generation header is unavailable, for empty ranges, and after 412/416.
   */
  private async readViaMetadata(key: string, options: ReadOptions): Promise<ReadResult> {
    const plan = planRange(key, options.byteRange);
    for (let attempt = 0; attempt < 16; attempt++) {
      const meta = await this.metadata(key, options.signal);
      if (!meta) return missingResult(options);
      if (conditionBlocks(options, meta.generation)) return { state: 'unchanged', generation: meta.generation };
      const [start, end] = resolveByteRange(key, options.byteRange, meta.size);
      if (plan.empty || start === end) {
        return { state: 'value', value: new Uint8Array(0), generation: meta.generation, size: meta.size };
      }
      const raw = await this.client.getBytes({
        method: 'GET',
        key,
        url: this.objectUrl(key, { alt: 'media', ifGenerationMatch: meta.generation, _vs: cacheBuster() }),
        range: start === 0 && end === meta.size ? undefined : { start, end },
        signal: options.signal,
      });
      if (raw.kind === 'bytes') {
        const { value } = sliceRaw(key, { offset: start, length: end - start }, { ...raw, total: raw.total ?? meta.size });
        return { state: 'value', value, generation: meta.generation, size: meta.size };
      }
      if (raw.status !== 404 && raw.status !== 412 && raw.status !== 416) {
        throw new KvStoreError(key, `GET ${this.url}${key}: unexpected HTTP ${raw.status}`, { status: raw.status });
      }
      // The object changed between the two requests: look again.
    }
    throw new KvStoreError(key, 'object kept changing while being read');
  }

  async write(key: string, value: Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    throwIfAborted(options.signal);
    const { ifEqual } = options;
    // A generation from another store can never match a GCS generation.
    if (ifEqual !== undefined && ifEqual !== NO_GENERATION && !isGeneration(ifEqual)) return { ok: false };
    const ifGenerationMatch = ifEqual === undefined ? undefined : ifEqual === NO_GENERATION ? '0' : ifEqual;
    if (value.length > this.resumableThreshold) return this.resumableUpload(key, value, ifGenerationMatch, options.signal);
    const r = await this.client.json<ObjectResource>(
      {
        method: 'POST',
        key,
        url: this.objectUrl(key, { uploadType: 'media', name: this.name(key), ifGenerationMatch }, 'upload'),
        headers: { 'content-type': 'application/octet-stream' },
        body: value,
        conditional: ifGenerationMatch !== undefined,
        signal: options.signal,
      },
      new Set([412]),
    );
    if (r.status === 412) return { ok: false };
    return { ok: true, generation: this.uploadedGeneration(key, r.json) };
  }

  private uploadedGeneration(key: string, json: ObjectResource | undefined): string {
    const g = json?.generation;
    if (!g || !isGeneration(g)) throw new KvStoreError(key, 'GCS upload response lacks a generation');
    return g;
  }

  /**
   * Resumable upload: a session, then chunks with `Content-Range`. Nothing is visible until the
   * last chunk commits, so chunk failures are retried after asking the session how much it
   * holds (`bytes * /total`), whether or not the write is conditional.
   */
  private async resumableUpload(
    key: string,
    value: Uint8Array,
    ifGenerationMatch: string | undefined,
    signal?: AbortSignal,
  ): Promise<WriteResult> {
    const total = value.length;
    const start = await this.client.send(
      {
        method: 'POST',
        key,
        url: this.objectUrl(key, { uploadType: 'resumable', name: this.name(key), ifGenerationMatch }, 'upload'),
        headers: {
          'content-type': 'application/json; charset=UTF-8',
          'x-upload-content-type': 'application/octet-stream',
          'x-upload-content-length': String(total),
        },
        body: new TextEncoder().encode(JSON.stringify({ name: this.name(key) })),
        conditional: true, // starting a session changes no object
        signal,
      },
      new Set([412]),
    );
    if (start.status === 412) return { ok: false };
    const location = start.headers.get('location');
    if (!location) throw new KvStoreError(key, 'GCS resumable upload: no session URI in the response');
    const session = new URL(location, this.endpoint).toString();

    let offset = 0;
    const parseRange = (h: Headers) => {
      const m = /bytes=0-(\d+)/.exec(h.get('range') ?? '');
      return m ? Number(m[1]) + 1 : 0;
    };
    type Step = { done: true; result: WriteResult } | { done: false; offset: number };
    const interpret = async (status: number, headers: Headers, text: string): Promise<Step> => {
      if (status === 308) return { done: false, offset: parseRange(headers) };
      if (status === 412) return { done: true, result: { ok: false } };
      if (status === 200 || status === 201) {
        let json: ObjectResource | undefined;
        try {
          json = JSON.parse(text) as ObjectResource;
        } catch (e) {
          throw new KvStoreError(key, 'GCS resumable upload: malformed JSON in the final response', { cause: e });
        }
        return { done: true, result: { ok: true, generation: this.uploadedGeneration(key, json) } };
      }
      throw new KvStoreError(key, `GCS resumable upload failed: HTTP ${status}`, { status });
    };
    const answers = new Set([308, 412]);
    let needStatus = false;
    return withRetries(
      async () => {
        for (;;) {
          if (needStatus) {
            const q = await this.client.send(
              { method: 'PUT', key, url: session, headers: { 'content-range': `bytes */${total}` }, noRetry: true, signal },
              answers,
            );
            const s = await interpret(q.status, q.headers, q.text);
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
          const s = await interpret(r.status, r.headers, r.text);
          if (s.done) return s.result;
          if (s.offset <= offset && end > offset) {
            // No progress acknowledged; resend from what the session reports.
            throw new TransientError(new KvStoreError(key, 'GCS resumable upload made no progress'));
          }
          offset = s.offset;
        }
      },
      { policy: this.client.policy, idempotent: true, signal },
    );
  }

  async delete(key: string, options: WriteOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal);
    const { ifEqual } = options;
    if (ifEqual !== undefined && ifEqual !== NO_GENERATION && !isGeneration(ifEqual)) return false;
    const ifGenerationMatch = ifEqual === undefined ? undefined : ifEqual === NO_GENERATION ? '0' : ifEqual;
    const r = await this.client.send(
      {
        method: 'DELETE',
        key,
        url: this.objectUrl(key, { ifGenerationMatch }),
        conditional: ifGenerationMatch !== undefined,
        signal: options.signal,
      },
      new Set([404, 412]),
    );
    if (r.status === 412) return false;
    // Missing: fine, unless a specific generation was required.
    if (r.status === 404) return ifEqual === undefined || ifEqual === NO_GENERATION;
    return true;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<string> {
    const full = joinKey(this.prefix, prefix);
    // joinKey('p', '') is 'p': list under 'p/' for a store path without trailing slash.
    const listPrefix = prefix === '' && this.prefix && !this.prefix.endsWith('/') ? `${this.prefix}/` : full;
    const strip = this.prefix ? (this.prefix.endsWith('/') ? this.prefix.length : this.prefix.length + 1) : 0;
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

