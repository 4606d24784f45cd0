/**
 * The one object-store core over HTTP: KvStore read / write / delete semantics written once,
 * with each store (GCS, S3, plain HTTP; later Azure Blob) reduced to a small
 * {@link HttpDialect}: how a key becomes a URL, how conditions travel, where a generation is
 * read from, how a write is sent. The transport (retries, timeouts, credentials, secrets) is
 * `client.ts`.
 *
 * Reads:
 * - one conditional GET (with a wire range) in the common case; 304 is 'unchanged', a missing
 *   status is 'missing', 412/416 fall back to the stat path;
 * - the stat path (zero-length ranges, suffix ranges on servers that mishandle them, responses
 *   without a generation header, the 412/416 follow-up): stat (HEAD or the dialect's metadata
 *   call) for generation and size, then a GET pinned to that generation whose answer must carry
 *   the same generation, else it starts over (the object changed in between);
 * - without a size (no HEAD, compressed transfer): one whole GET, sliced here;
 * - conditions the wire cannot express are always checked here as well.
 *
 * Writes and deletes are retried like reads (they are idempotent as sent):
 * - an unconditional write sends the same bytes (and the same write token) on every attempt, so
 *   a repeat leaves what one attempt would have left; the operation has not returned yet, so a
 *   concurrent writer's value may be ordered before ours either way;
 * - a conditional write that answers "precondition failed" after an earlier attempt failed
 *   transiently (that attempt may have landed) stats the key: if the stored object carries our
 *   write token, the earlier attempt did land and the write succeeded;
 * - a conditional delete that finds the key gone after a transient failure succeeded;
 * - a delete conditioned on the key being missing sends no DELETE: it stats the key.
 * `{ok: false}` (and `false` from delete) mean ONLY that the precondition failed; every other
 * answer that is not a success throws a KvStoreError naming the key and status.
 */
import { ByteRangeError, KvStoreError, throwIfAborted } from '../../errors.js';
import { checkKey } from '../keys.js';
import {
  type ByteRange,
  NO_GENERATION,
  type ReadOptions,
  type ReadResult,
  resolveByteRange,
  type WriteOptions,
  type WriteResult,
} from '../kvstore.js';
import { TransientError } from '../retry.js';
import type { HttpClient, HttpRequest } from './client.js';
import { bodyText, contentLength, type RawBytes, readText, statusError, type WireRange } from './reply.js';
import { safeUrl } from './secrets.js';
import { randomToken, withQuery } from './url.js';

/** Where request conditions travel: headers (ETag stores) and/or query parameters (GCS). */
export interface Wire {
  headers?: Record<string, string>;
  query?: Record<string, string | undefined>;
}

/** What a stat (HEAD or metadata call) tells about a stored object. */
export interface ObjectStat {
  generation: string;
  /** Stored size in bytes; undefined when the server does not say (compressed transfer). */
  size?: number;
  /** The write token stored with the object, if it was written by volstore. */
  token?: string;
}

/** The precondition of a write or delete. */
export type WriteCondition = { kind: 'none' } | { kind: 'absent' } | { kind: 'match'; generation: string };

/** A request as a dialect describes it (the core adds key, signal and retry bookkeeping). */
export type WireRequest = Pick<HttpRequest, 'method' | 'url' | 'headers' | 'body'>;

/**
 * One object store's wire protocol, as the core needs it. Read-only dialects leave out the
 * write members. A new store (e.g. Azure Blob: `If-Match` / `If-None-Match: *` conditions,
 * ETag generations, `x-ms-meta-*` write token, shared-key signing as the client's
 * `RequestSigner`, SAS as query parameters registered as secrets) is one more dialect; the core
 * and the client stay as they are.
 */
export interface HttpDialect {
  /** URL whose GET returns the key's bytes (and whose HEAD stats it, unless {@link stat} is given). */
  mediaUrl(key: string): string;
  /**
   * Conditions as sent on the wire for a read (`ifEqual` also pins the stat path's GET to a
   * generation). Generations the wire cannot express are left out: the core checks them too.
   */
  readConditions(ifEqual: string | undefined, ifNotEqual: string | undefined): Wire;
  /**
   * The generation a media or HEAD response carries, or undefined when the response does not
   * say (e.g. the header is not exposed cross-origin); the core then uses the stat path.
   */
  generationOf(headers: Headers): string | undefined;
  /** Whether a status means "no such key" (404, and e.g. 403 for buckets that hide keys). */
  isMissing(status: number): boolean;
  /** Send `bytes=-n` for suffix reads; otherwise stat + absolute range. */
  readonly suffixRanges: boolean;
  /** Metadata lookup instead of HEAD on {@link mediaUrl}; undefined result = missing. */
  stat?(key: string, signal?: AbortSignal): Promise<ObjectStat | undefined>;
  /** The write token of a HEAD response. */
  tokenOf?(headers: Headers): string | undefined;
  /**
   * Integrity check of received bytes (e.g. a whole-object checksum); throw a TransientError
   * wrapping a CorruptionError on mismatch (retried, then reported).
   */
  verify?(key: string, raw: RawBytes): Promise<void> | void;
  /** A clearer error for a status the core does not interpret (e.g. S3 region redirects). */
  explainStatus?(key: string, status: number, headers: Headers): KvStoreError | undefined;

  /** Whether `generation` could be one of this store's (else a `match` condition fails at once). */
  canMatch?(generation: string): boolean;
  /** The request that stores `value` under `key` with `token` attached, honouring `cond`. */
  writeRequest?(key: string, value: Uint8Array, cond: WriteCondition, token: string): WireRequest;
  /**
   * The generation of a successful write from its answer (`text` is the whole body). Throw a
   * TransientError for a malformed answer (it is retried).
   */
  writtenGeneration?(key: string, headers: Headers, text: string, token: string): string;
  /** The request that deletes `key` honouring `cond`. */
  deleteRequest?(key: string, cond: WriteCondition): WireRequest;
  /** Whether an answer to a CONDITIONAL write/delete means "precondition failed". */
  preconditionFailed?(status: number, text: string, cond: WriteCondition): boolean;
}

/** Prefix of generations made up for responses without a validator (never sent, never compared). */
export const UNVERSIONED = 'nogen:';
let unversioned = 0;

/**
 * A fresh generation for a response without a validator: every read gets a new one, so
 * `ifNotEqual` never skips data that may have changed.
 */
export function unversionedGeneration(headers: Headers): string {
  const lm = headers.get('last-modified');
  return lm ? `${UNVERSIONED}${lm}:${++unversioned}` : `${UNVERSIONED}${++unversioned}`;
}

/** The condition of a write or delete from its `ifEqual` option. */
export function writeCondition(ifEqual: string | undefined): WriteCondition {
  if (ifEqual === undefined) return { kind: 'none' };
  if (ifEqual === NO_GENERATION) return { kind: 'absent' };
  return { kind: 'match', generation: ifEqual };
}

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
  resolveByteRange(key, range, Number.MAX_SAFE_INTEGER); // validates integers and signs
  if ('suffix' in range) return range.suffix === 0 ? { empty: true } : { wire: { suffix: range.suffix }, empty: false };
  if (range.length === 0) return { empty: true };
  if (range.length === undefined) return range.offset === 0 ? { empty: false } : { wire: { start: range.offset }, empty: false };
  return { wire: { start: range.offset, end: range.offset + range.length }, empty: false };
}

/**
 * Cuts the requested range out of a 'bytes' answer, enforcing strict ranges (ByteRangeError
 * when the range does not fit the object). Returns the value and the total size when known.
 */
export function sliceRaw(key: string, range: ByteRange | undefined, raw: RawBytes): { value: Uint8Array; size?: number } {
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
    // The server's answer ended before the range: the object is shorter than asked.
    throw new ByteRangeError(key, `[${s}, ${e}) is outside the ${raw.offset + have}-byte value`);
  }
  const value = s === raw.offset && e === raw.offset + have ? raw.data : raw.data.slice(s - raw.offset, e - raw.offset);
  return { value, size: raw.total };
}

/** Parses a JSON answer of a write; malformed JSON is transient (the answer was cut or garbled). */
export function parseJsonAnswer<T>(key: string, text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new TransientError(new KvStoreError(key, `${what}: malformed JSON answer`));
  }
}

const STAT_UNSUPPORTED = 'unsupported' as const;
/** Attempts of the stat path before "the object kept changing". */
const STAT_PATH_ATTEMPTS = 8;

/**
 * KvStore read / write / delete over one {@link HttpClient} and one {@link HttpDialect}.
 * Stores hold one and delegate to it; keys are checked with `checkKey` before any request.
 */
export class HttpObjectCore {
  /** Set once a media response lacked the generation header: reads use the stat path from then on. */
  private generationHeaderMissing = false;

  constructor(
    readonly client: HttpClient,
    readonly dialect: HttpDialect,
  ) {}

  private unexpected(key: string, method: string, url: string, raw: { status: number; statusText: string; headers: Headers; body: string }): KvStoreError {
    return this.dialect.explainStatus?.(key, raw.status, raw.headers) ?? statusError({ method, url, key }, raw.status, raw.statusText, raw.body);
  }

  private verifier(key: string): ((raw: RawBytes) => Promise<void> | void) | undefined {
    const d = this.dialect;
    return d.verify ? (raw) => d.verify!(key, raw) : undefined;
  }

  /** KvStore.read (see the module comment). */
  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    checkKey(key);
    throwIfAborted(options.signal);
    const d = this.dialect;
    const plan = planRange(key, options.byteRange);
    const suffix = plan.wire !== undefined && 'suffix' in plan.wire;
    if (plan.empty || (suffix && !d.suffixRanges) || this.generationHeaderMissing) return this.readViaStat(key, options);
    const cond = d.readConditions(options.ifEqual, options.ifNotEqual);
    const url = withQuery(d.mediaUrl(key), cond.query);
    const raw = await this.client.getBytes({
      method: 'GET',
      key,
      url,
      headers: cond.headers,
      range: plan.wire,
      cache: plan.wire ? 'no-store' : undefined,
      signal: options.signal,
      priority: options.priority,
      verify: this.verifier(key),
    });
    if (raw.kind === 'status') {
      if (d.isMissing(raw.status)) return missingResult(options);
      if (raw.status === 304 && options.ifNotEqual !== undefined) return { state: 'unchanged', generation: options.ifNotEqual };
      if (raw.status === 304 || raw.status === 412 || raw.status === 416) return this.readViaStat(key, options);
      throw this.unexpected(key, 'GET', url, raw);
    }
    const generation = d.generationOf(raw.headers);
    if (generation === undefined) {
      this.generationHeaderMissing = true;
      return this.readViaStat(key, options);
    }
    if (conditionBlocks(options, generation)) return { state: 'unchanged', generation };
    const { value, size } = sliceRaw(key, options.byteRange, raw);
    return { state: 'value', value, generation, ...(size !== undefined ? { size } : {}) };
  }

  /**
   * Generation, size and write token of a key (undefined when missing), from the dialect's
   * metadata call or a HEAD. `'unsupported'` when the server has no HEAD (405/501).
   */
  async stat(key: string, signal?: AbortSignal): Promise<ObjectStat | undefined | typeof STAT_UNSUPPORTED> {
    const d = this.dialect;
    if (d.stat) return d.stat(key, signal);
    const url = d.mediaUrl(key);
    const r = await this.client.request({ method: 'HEAD', key, url, signal }, async (reply) => ({
      status: reply.status,
      statusText: reply.statusText,
      headers: reply.headers,
    }));
    if (d.isMissing(r.status)) return undefined;
    if (r.status === 405 || r.status === 501) return STAT_UNSUPPORTED;
    if (r.status < 200 || r.status >= 300) throw this.unexpected(key, 'HEAD', url, { ...r, body: '' });
    const generation = d.generationOf(r.headers);
    if (generation === undefined) {
      throw new KvStoreError(key, `HEAD ${safeUrl(url)}: the response carries no generation (ETag); in a browser, the server must expose it via CORS`);
    }
    const size = r.headers.has('content-encoding') ? undefined : contentLength(r.headers);
    const token = d.tokenOf?.(r.headers);
    return { generation, ...(size !== undefined ? { size } : {}), ...(token !== undefined ? { token } : {}) };
  }

  /**
   * Stat, then (unless the answer is already known) the bytes pinned to that generation, so
   * bytes and generation always belong together.
   */
  private async readViaStat(key: string, options: ReadOptions): Promise<ReadResult> {
    const d = this.dialect;
    for (let attempt = 0; attempt < STAT_PATH_ATTEMPTS; attempt++) {
      const st = await this.stat(key, options.signal);
      if (st === undefined) return missingResult(options);
      if (st === STAT_UNSUPPORTED) return this.readWhole(key, options);
      if (conditionBlocks(options, st.generation)) return { state: 'unchanged', generation: st.generation };
      if (st.size === undefined) return this.readWhole(key, options);
      const [start, end] = resolveByteRange(key, options.byteRange, st.size);
      if (start === end) return { state: 'value', value: new Uint8Array(0), generation: st.generation, size: st.size };
      const pin = d.readConditions(st.generation, undefined);
      const url = withQuery(d.mediaUrl(key), pin.query);
      const raw = await this.client.getBytes({
        method: 'GET',
        key,
        url,
        headers: pin.headers,
        range: start === 0 && end === st.size ? undefined : { start, end },
        cache: 'no-store',
        signal: options.signal,
        priority: options.priority,
        verify: this.verifier(key),
      });
      if (raw.kind === 'status') {
        if (d.isMissing(raw.status) || raw.status === 412 || raw.status === 416) continue; // changed underneath
        throw this.unexpected(key, 'GET', url, raw);
      }
      const g2 = d.generationOf(raw.headers);
      if (g2 !== undefined && !g2.startsWith(UNVERSIONED) && !st.generation.startsWith(UNVERSIONED) && g2 !== st.generation) {
        continue; // a different version: start over
      }
      const { value } = sliceRaw(key, { offset: start, length: end - start }, { ...raw, total: raw.total ?? st.size });
      return { state: 'value', value, generation: st.generation, size: st.size };
    }
    throw new KvStoreError(key, `the object kept changing while being read (${STAT_PATH_ATTEMPTS} attempts)`);
  }

  /** Fallback when no size is known: one whole GET (conditions dropped if the server rejects them), sliced here. */
  private async readWhole(key: string, options: ReadOptions, conditional = true): Promise<ReadResult> {
    const d = this.dialect;
    const cond = conditional ? d.readConditions(options.ifEqual, options.ifNotEqual) : {};
    const url = withQuery(d.mediaUrl(key), cond.query);
    const raw = await this.client.getBytes({ method: 'GET', key, url, headers: cond.headers, signal: options.signal, priority: options.priority, verify: this.verifier(key) });
    if (raw.kind === 'status') {
      if (d.isMissing(raw.status)) return missingResult(options);
      if (raw.status === 304 && options.ifNotEqual !== undefined) return { state: 'unchanged', generation: options.ifNotEqual };
      if (conditional && (raw.status === 304 || raw.status === 412)) return this.readWhole(key, options, false);
      throw this.unexpected(key, 'GET', url, raw);
    }
    const generation = d.generationOf(raw.headers) ?? unversionedGeneration(raw.headers);
    if (conditionBlocks(options, generation)) return { state: 'unchanged', generation };
    const { value, size } = sliceRaw(key, options.byteRange, raw);
    return { state: 'value', value, generation, ...(size !== undefined ? { size } : {}) };
  }

  /** KvStore.write (see the module comment). */
  async write(key: string, value: Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    checkKey(key);
    throwIfAborted(options.signal);
    const d = this.dialect;
    const cond = writeCondition(options.ifEqual);
    if (cond.kind === 'match' && d.canMatch && !d.canMatch(cond.generation)) return { ok: false };
    const token = randomToken(8);
    const req = d.writeRequest!(key, value, cond, token);
    let uncertain = false;
    const out = await this.client.request<WriteResult>(
      { ...req, key, signal: options.signal, onTransient: () => (uncertain = true) },
      async (reply, secrets) => {
        if (reply.status >= 200 && reply.status < 300) {
          const text = await readText(reply, key, 1 << 20);
          return { ok: true, generation: d.writtenGeneration!(key, reply.headers, text, token) };
        }
        const text = secrets.scrub(await bodyText(reply, key));
        if (cond.kind !== 'none' && d.preconditionFailed!(reply.status, text, cond)) return { ok: false };
        throw statusError({ ...req, key }, reply.status, reply.statusText, text);
      },
    );
    if (!out.ok && uncertain) {
      // An earlier attempt may have landed: then the object carries our token.
      const st = await this.stat(key, options.signal);
      if (st !== undefined && st !== STAT_UNSUPPORTED && st.token === token) return { ok: true, generation: st.generation };
    }
    return out;
  }

  /** KvStore.delete (see the module comment). */
  async delete(key: string, options: WriteOptions = {}): Promise<boolean> {
    checkKey(key);
    throwIfAborted(options.signal);
    const d = this.dialect;
    const cond = writeCondition(options.ifEqual);
    if (cond.kind === 'match' && d.canMatch && !d.canMatch(cond.generation)) return false;
    // "Delete if missing" deletes nothing: it only says whether the key is missing.
    if (cond.kind === 'absent') return (await this.stat(key, options.signal)) === undefined;
    const req = d.deleteRequest!(key, cond);
    let uncertain = false;
    const r = await this.client.request<'deleted' | 'missing' | 'failed'>(
      { ...req, key, signal: options.signal, onTransient: () => (uncertain = true) },
      async (reply, secrets) => {
        if (reply.status >= 200 && reply.status < 300) return 'deleted';
        if (d.isMissing(reply.status)) return 'missing';
        const text = secrets.scrub(await bodyText(reply, key));
        if (cond.kind !== 'none' && d.preconditionFailed!(reply.status, text, cond)) return 'failed';
        throw statusError({ ...req, key }, reply.status, reply.statusText, text);
      },
    );
    if (r === 'deleted') return true;
    // Missing is fine unless a specific generation was required; then it is our own earlier
    // attempt's doing only if one failed transiently.
    if (r === 'missing') return cond.kind !== 'match' || uncertain;
    if (uncertain && cond.kind === 'match') return (await this.stat(key, options.signal)) === undefined;
    return false;
  }
}
