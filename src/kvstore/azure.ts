/**
 * Azure Blob Storage kvstore: a dialect of the shared HTTP object core (http/core.ts), plus
 * listing (List Blobs, parsed with fast-xml-parser). Browser-safe (Shared Key signs with
 * WebCrypto); credentials are resolved in azure-auth.ts.
 *
 * Wire facts (Blob service REST API, `x-ms-version` {@link AZURE_API_VERSION}):
 * - a key is the blob `<endpoint>/<container>/<path>/<key>`, each segment percent-encoded;
 *   the endpoint is `https://<account>.blob.core.windows.net` or a connection string's
 *   `BlobEndpoint` (Azurite: `http://127.0.0.1:10000/devstoreaccount1`, path-style);
 * - generations are ETags: every Put Blob gets a new one, even for identical bytes, so the
 *   ETag alone is the generation (no ABA); reads send `If-Match` / `If-None-Match`;
 * - writes are Put Blob (`x-ms-blob-type: BlockBlob`, one request, up to 5000 MiB) with
 *   `If-Match: <etag>` (412 ConditionNotMet; 404 BlobNotFound when the blob is gone) or
 *   `If-None-Match: *` (409 BlobAlreadyExists), carrying a write token in `x-ms-meta-vswrite`
 *   so a retried conditional write can tell whether its earlier attempt landed;
 * - deletes are Delete Blob with `If-Match`; a blob with snapshots is not deleted (409
 *   SnapshotsPresent is reported, not forced);
 * - suffix ranges are not sent: the service accepts only `bytes=a-b` and `bytes=a-`, so a
 *   suffix read stats (HEAD) first, then reads an absolute range pinned to the ETag.
 */
import { parseXmlRoot, xmlText } from './http/xml.js';
import { KvStoreError, SpecError, throwIfAborted } from '../errors.js';
import { AZURE_API_VERSION, type AzureCredentials, resolveAzureAccess } from './azure-auth.js';
import { type FetchLike, HttpClient, type HttpStats, type HttpTransportOptions } from './http/client.js';
import { type HttpDialect, HttpObjectCore, type Wire, type WireRequest, type WriteCondition } from './http/core.js';
import { bodyText, readText, statusError } from './http/reply.js';
import { encodeKeyPath, withQuery } from './http/url.js';
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

export type { AzureCredentials } from './azure-auth.js';

/** Options of {@link AzureStore}: the account and container, credentials, endpoint and transport. */
export interface AzureStoreOptions extends HttpTransportOptions {
  /**
   * Storage account name. Default: the connection string's AccountName, else
   * `AZURE_STORAGE_ACCOUNT`, else the endpoint's (`<account>.blob...` host or first path segment).
   */
  account?: string;
  /** Container name (3-63 lower-case letters, digits and single hyphens). */
  container: string;
  /** Blob name prefix inside the container; keys are joined to it with one '/'. */
  path?: string;
  /**
   * Blob service endpoint, e.g. `http://127.0.0.1:10000/devstoreaccount1` (Azurite). Default:
   * the connection string's `BlobEndpoint` (or one built from its protocol and EndpointSuffix),
   * else `https://<account>.blob.core.windows.net`.
   */
  endpoint?: string;
  /** Default: from the environment, see `resolveAzureAccess` in azure-auth.ts; else anonymous. */
  credentials?: AzureCredentials;
  /** A connection string used instead of `AZURE_STORAGE_CONNECTION_STRING`. */
  connectionString?: string;
  /** List Blobs `maxresults` (1..5000); default: the service's (5000). */
  listPageSize?: number;
}

/** One entry of a delimited listing: a key, or a common prefix ending with the delimiter. */
export type AzureListEntry = { kind: 'key'; key: string } | { kind: 'prefix'; prefix: string };

/** One page of a List Blobs answer. */
export interface ListBlobsPage {
  /** Blob names (decoded). */
  names: string[];
  /** `BlobPrefix` names of a delimited listing (decoded, ending with the delimiter). */
  prefixes: string[];
  /** The marker of the next page; undefined on the last page. */
  nextMarker?: string;
}

const TOKEN_HEADER = 'x-ms-meta-vswrite';

/** A strong ETag, as the Blob service sends them (`"0x8DC..."`). */
const isEtag = (g: string) => /^"[^"]*"$/.test(g);

/** The text of a `<Name>` element, percent-decoded when it says `Encoded="true"`. */
function nameText(v: unknown): string | undefined {
  const text = xmlText(v);
  if (text === undefined) return undefined;
  return typeof v === 'object' && v !== null && (v as Record<string, unknown>)['@_Encoded'] === 'true' ? decodeURIComponent(text) : text;
}

/**
 * Parses a List Blobs answer (`<EnumerationResults>`): blob names, `BlobPrefix` names and
 * `NextMarker`. Throws a TransientError wrapping a KvStoreError on malformed XML (a cut or
 * garbled answer is retried by the caller's retry loop).
 */
export function parseListBlobs(text: string, key = ''): ListBlobsPage {
  const root = parseXmlRoot(text, 'EnumerationResults', ['Blob', 'BlobPrefix'], key, 'List Blobs');
  const blobs = (typeof root.Blobs === 'object' && root.Blobs !== null ? root.Blobs : {}) as Record<string, unknown>;
  const names: string[] = [];
  const prefixes: string[] = [];
  for (const b of (blobs.Blob as unknown[] | undefined) ?? []) {
    const n = nameText((b as Record<string, unknown>)?.Name);
    if (n !== undefined) names.push(n);
  }
  for (const p of (blobs.BlobPrefix as unknown[] | undefined) ?? []) {
    const n = nameText((p as Record<string, unknown>)?.Name);
    if (n !== undefined) prefixes.push(n);
  }
  const next = xmlText(root.NextMarker);
  return { names, prefixes, ...(next ? { nextMarker: next } : {}) };
}

/**
 * Wraps a fetch so that an empty tail range answered as `206` with `Content-Range: bytes
 * N-(N-1)/N` (Azurite's answer to `bytes=N-` on an N-byte blob, where the service answers 416)
 * becomes the service's 416 `bytes * /N`. The service itself never sends such a range, so this
 * changes nothing against Azure.
 */
function emptyTailAs416(fetch: FetchLike): FetchLike {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (res.status !== 206) return res;
    const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+)\s*$/i.exec(res.headers.get('content-range') ?? '');
    if (!m || Number(m[2]) + 1 !== Number(m[1]) || Number(m[1]) !== Number(m[3])) return res;
    await res.body?.cancel().catch(() => {});
    return new Response(null, { status: 416, statusText: 'Range Not Satisfiable', headers: { 'content-range': `bytes */${m[3]}` } });
  };
}

/** The Blob service REST API as an {@link HttpDialect}. */
class AzureDialect implements HttpDialect {
  readonly suffixRanges = false;

  constructor(private readonly store: AzureStore) {}

  mediaUrl(key: string): string {
    return this.store.blobUrl(key);
  }

  readConditions(ifEqual: string | undefined, ifNotEqual: string | undefined): Wire {
    const headers: Record<string, string> = {};
    if (ifEqual !== undefined && isEtag(ifEqual)) headers['if-match'] = ifEqual;
    if (ifNotEqual !== undefined && isEtag(ifNotEqual)) headers['if-none-match'] = ifNotEqual;
    return { headers };
  }

  generationOf(headers: Headers): string | undefined {
    const etag = headers.get('etag');
    return etag && isEtag(etag) ? etag : undefined;
  }

  tokenOf(headers: Headers): string | undefined {
    const t = headers.get(TOKEN_HEADER);
    return t && /^[0-9a-z]+$/.test(t) ? t : undefined;
  }

  isMissing(status: number): boolean {
    return status === 404;
  }

  canMatch(generation: string): boolean {
    return isEtag(generation);
  }

  writeRequest(key: string, value: Uint8Array, cond: WriteCondition, token: string): WireRequest {
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'x-ms-blob-type': 'BlockBlob',
      [TOKEN_HEADER]: token,
    };
    if (cond.kind === 'absent') headers['if-none-match'] = '*';
    else if (cond.kind === 'match') headers['if-match'] = cond.generation;
    return { method: 'PUT', url: this.store.blobUrl(key), headers, body: value };
  }

  writtenGeneration(key: string, headers: Headers): string {
    const etag = headers.get('etag');
    if (!etag || !isEtag(etag)) throw new KvStoreError(key, 'Put Blob answer lacks an ETag');
    return etag;
  }

  deleteRequest(key: string, cond: WriteCondition): WireRequest {
    const headers: Record<string, string> = {};
    if (cond.kind === 'match') headers['if-match'] = cond.generation;
    return { method: 'DELETE', url: this.store.blobUrl(key), headers };
  }

  preconditionFailed(status: number, text: string, cond: WriteCondition): boolean {
    if (status === 412) return true;
    // If-None-Match: * on an existing blob.
    if (status === 409 && cond.kind === 'absent') return /BlobAlreadyExists/.test(text);
    // If-Match on a blob that is gone (a missing container is an error, not a failed condition).
    return status === 404 && cond.kind === 'match' && !/ContainerNotFound/.test(text);
  }
}

/**
 * An Azure Blob Storage container (+ prefix) as a {@link KvStore}. Generations are ETags;
 * writes and deletes with `ifEqual` send `If-Match` / `If-None-Match: *`. Every request is
 * retried on transient failures (408, 429, 5xx such as 503 ServerBusy, resets, timeouts).
 * Credentials go to the endpoint's origin only and never appear in errors, logs, `url` or
 * `spec()`.
 */
export class AzureStore implements KvStore {
  readonly readOnly = false;
  /** Account name (undefined only for an explicit endpoint that does not reveal it). */
  readonly account: string | undefined;
  readonly container: string;
  readonly path: string;
  /** Blob service endpoint, without a trailing slash. */
  readonly endpoint: string;
  /** How requests authenticate: 'shared-key' | 'sas' | 'bearer' | 'provider' | 'anonymous'. */
  readonly authKind: string;
  private readonly endpointGiven: boolean;
  private readonly listPageSize: number | undefined;
  // ECMAScript-private: what leads to credentials stays out of util.inspect, JSON and keys.
  readonly #sas: string | undefined;
  readonly #client: HttpClient;
  readonly #core: HttpObjectCore;

  /** Throws SpecError for an invalid container, path, account, endpoint or credential. */
  constructor(options: AzureStoreOptions) {
    if (!options.container || !/^(?:\$root|\$web|[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9])$/.test(options.container)) {
      throw new SpecError('kvstore.container', `invalid Azure container name ${JSON.stringify(options.container)} (3-63 lower-case letters, digits, single hyphens)`);
    }
    this.container = options.container;
    this.path = options.path ?? '';
    const bad = this.path ? keyProblem(this.path) : undefined;
    if (bad) throw new SpecError('kvstore.path', `${JSON.stringify(this.path)}: ${bad}`);
    const access = resolveAzureAccess(options);
    this.account = access.account;
    this.endpoint = access.endpoint;
    this.endpointGiven = access.endpointGiven;
    this.authKind = access.kind;
    this.#sas = access.sas;
    this.listPageSize = options.listPageSize;
    const fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#client = new HttpClient({
      fetch: emptyTailAs416(fetch),
      retries: options.retries,
      timeouts: options.timeouts,
      concurrency: options.concurrency,
      auth: access.auth,
      sign: access.sign,
      originHeaders: { 'x-ms-version': AZURE_API_VERSION },
      authOrigin: new URL(this.endpoint).origin,
      secrets: access.secrets,
      // The service does not redirect; a redirect would need a new signature anyway.
      followRedirects: false,
      label: 'azure',
    });
    this.#core = new HttpObjectCore(this.#client, new AzureDialect(this));
  }

  /** `az://container/path` (the account is not part of it, as in the `az://` URL scheme). */
  get url(): string {
    return `az://${this.container}/${this.path}`;
  }

  /** Request and retry counters of this store's HTTP client. */
  get stats(): HttpStats {
    return this.#client.stats;
  }

  /** The kvstore spec JSON (never credentials; the endpoint only when it is not the default). */
  spec(): Record<string, unknown> {
    return {
      driver: 'azure',
      ...(this.account !== undefined ? { account: this.account } : {}),
      container: this.container,
      path: this.path,
      ...(this.endpointGiven ? { endpoint: this.endpoint } : {}),
    };
  }

  /** JSON form: the spec (never credentials). */
  toJSON(): Record<string, unknown> {
    return this.spec();
  }

  /** Node's util.inspect form: URL and auth kind (never credentials). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `AzureStore { ${this.endpoint} ${this.url} auth=${this.authKind} }`;
  }

  /** The container URL, with the SAS (if any) and `params` in the query. */
  private containerUrl(params: Record<string, string | undefined>): string {
    const base = `${this.endpoint}/${encodeURIComponent(this.container)}`;
    return withQuery(this.#sas ? `${base}?${this.#sas}` : base, params);
  }

  /**
   * The URL of a key (keys must have passed `checkKey`), with the SAS when there is one: a
   * secret, for requests only (messages use `safeUrl`).
   */
  blobUrl(key: string): string {
    const url = `${this.endpoint}/${encodeURIComponent(this.container)}/${encodeKeyPath(joinKey(this.path, key))}`;
    return this.#sas ? `${url}?${this.#sas}` : url;
  }

  read(key: string, options?: ReadOptions): Promise<ReadResult> {
    return this.#core.read(key, options);
  }

  write(key: string, value: Uint8Array, options?: WriteOptions): Promise<WriteResult> {
    return this.#core.write(key, value, options);
  }

  delete(key: string, options?: WriteOptions): Promise<boolean> {
    return this.#core.delete(key, options);
  }

  /** One page of List Blobs for a full blob-name prefix. */
  private async listPage(prefix: string, fullPrefix: string, delimiter: string | undefined, marker: string | undefined, signal?: AbortSignal): Promise<ListBlobsPage> {
    const url = this.containerUrl({
      restype: 'container',
      comp: 'list',
      prefix: fullPrefix || undefined,
      delimiter,
      marker,
      maxresults: this.listPageSize !== undefined ? String(this.listPageSize) : undefined,
    });
    return this.#client.request({ method: 'GET', key: prefix, url, signal }, async (reply, secrets) => {
      if (reply.status >= 200 && reply.status < 300) return parseListBlobs(await readText(reply, prefix, 64 << 20), prefix);
      throw statusError({ method: 'GET', url, key: prefix }, reply.status, reply.statusText, secrets.scrub(await bodyText(reply, prefix)));
    });
  }

  /** The blob-name prefix of a store prefix, and how much of each name to strip. */
  private listScope(prefix: string): { full: string; strip: number } {
    if (prefix) checkKey(prefix, 'list prefix');
    const full = prefix === '' && this.path && !this.path.endsWith('/') ? `${this.path}/` : joinKey(this.path, prefix);
    const strip = this.path ? (this.path.endsWith('/') ? this.path.length : this.path.length + 1) : 0;
    return { full, strip };
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<string> {
    for await (const e of this.listEntries(prefix, { ...options, delimiter: undefined })) if (e.kind === 'key') yield e.key;
  }

  /**
   * Keys and (with a `delimiter`, e.g. '/') common prefixes under `prefix`, as List Blobs
   * returns them: with a delimiter, the keys directly under `prefix` and one `prefix` entry per
   * deeper "directory" (ending with the delimiter); without one, every key. Names are relative
   * to the store's path. Pages are followed with `marker`.
   */
  async *listEntries(prefix: string, options: ListOptions & { delimiter?: string } = {}): AsyncIterable<AzureListEntry> {
    const { full, strip } = this.listScope(prefix);
    const delimiter = options.delimiter || undefined;
    let marker: string | undefined;
    do {
      throwIfAborted(options.signal);
      const page = await this.listPage(prefix, full, delimiter, marker, options.signal);
      for (const n of page.names) yield { kind: 'key', key: n.slice(strip) };
      for (const p of page.prefixes) yield { kind: 'prefix', prefix: p.slice(strip) };
      marker = page.nextMarker;
    } while (marker);
  }

  deleteRange(prefix: string, options: ListOptions = {}): Promise<void> {
    return deleteListed(this, prefix, options.signal);
  }
}
