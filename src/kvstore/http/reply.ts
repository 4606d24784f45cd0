/**
 * Reading HTTP responses strictly: bounded body reads, validation of ranged answers, and the
 * typed error of a failed status. Browser-safe.
 */
import { AbortError, KvStoreError } from '../../errors.js';
import { TransientError } from '../retry.js';
import { safeUrl } from './secrets.js';

/**
 * One response as the client hands it to a handler. Bodies are read only through
 * {@link readBodyBounded} (and the helpers over it), which calls `progress` for every piece so
 * the attempt's idle timeout starts over.
 */
export interface Reply {
  status: number;
  statusText: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  /** Called for every piece of body received. */
  progress?: () => void;
}

/** What a reply is about, for error messages. */
export interface RequestInfo {
  method: string;
  url: string;
  key: string;
}

/** Longest server error text read, and kept in a message. */
export const ERROR_BODY_LIMIT = 4096;
const ERROR_DETAIL_LIMIT = 300;

/** Whether an error is an abort (the caller's signal or one of our timeouts). */
export function isAbortLike(e: unknown): boolean {
  return e instanceof AbortError || (e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError'));
}

/**
 * Reads at most `limit` bytes of a body, then cancels the stream: a server that ignores Range
 * or omits Content-Length can never turn a small read into a whole-object download. Returns
 * the bytes and whether the body ended by itself (`complete`) or was cut off by us.
 * A stream error (reset, truncated chunked body) is transient.
 */
export async function readBodyBounded(
  reply: Reply,
  limit: number,
  key: string,
): Promise<{ bytes: Uint8Array; complete: boolean }> {
  if (!reply.body) return { bytes: new Uint8Array(0), complete: true };
  const reader = reply.body.getReader();
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
      reply.progress?.();
      chunks.push(value);
      n += value.length;
    }
  } catch (e) {
    if (isAbortLike(e)) throw e;
    // The stream's own error text is not kept: it may quote the request.
    throw new TransientError(new KvStoreError(key, 'response body interrupted (connection reset or closed)'));
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

/** Up to `limit` bytes of a body as text ('' when the body cannot be read). */
export async function bodyText(reply: Reply, key: string, limit = ERROR_BODY_LIMIT): Promise<string> {
  try {
    const { bytes } = await readBodyBounded(reply, limit, key);
    return new TextDecoder().decode(bytes);
  } catch (e) {
    if (isAbortLike(e)) throw e;
    return '';
  }
}

/** A whole (text) body of at most `limit` bytes, checked against Content-Length. */
export async function readText(reply: Reply, key: string, limit: number): Promise<string> {
  const { bytes, complete } = await readBodyBounded(reply, limit + 1, key);
  if (!complete || bytes.length > limit) throw new KvStoreError(key, `response larger than ${limit} bytes`);
  const cl = contentLength(reply.headers);
  if (cl !== undefined && cl !== bytes.length && !reply.headers.has('content-encoding')) {
    throw new TransientError(new KvStoreError(key, `truncated response: ${bytes.length} of ${cl} bytes`));
  }
  return new TextDecoder().decode(bytes);
}

/**
 * The typed error of a failed status: names key, method, URL (without query or user-info) and
 * status, plus the server's own message when it sent a recognisable one (GCS JSON `error.message`,
 * S3/Azure XML `<Code>`/`<Message>`), else the start of its text. `body` must already be scrubbed.
 */
export function statusError(req: RequestInfo, status: number, statusText: string, body: string): KvStoreError {
  let detail = body.trim();
  try {
    const j = JSON.parse(detail) as { error?: { message?: string } | string; message?: string };
    const m = typeof j?.error === 'object' ? j.error?.message : typeof j?.error === 'string' ? j.error : j?.message;
    if (typeof m === 'string') detail = m;
  } catch {
    const code = /<Code>([\s\S]*?)<\/Code>/.exec(detail)?.[1];
    const msg = /<Message>([\s\S]*?)<\/Message>/.exec(detail)?.[1];
    if (code || msg) detail = [code, msg].filter(Boolean).join(': ');
    else if (/^\s*</.test(detail)) detail = ''; // HTML error pages say nothing useful
  }
  detail = detail.replace(/\s+/g, ' ');
  if (detail.length > ERROR_DETAIL_LIMIT) detail = `${detail.slice(0, ERROR_DETAIL_LIMIT)}...`;
  const hint = status === 401 || status === 403 ? ' (check credentials / permissions)' : '';
  return new KvStoreError(
    req.key,
    `${req.method} ${safeUrl(req.url)} failed: HTTP ${status}${statusText ? ` ${statusText}` : ''}${hint}${detail ? `: ${detail}` : ''}`,
    { status },
  );
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

/** The `Range` header value of a wire range. */
export function rangeHeader(r: WireRange): string {
  if ('suffix' in r) return `bytes=-${r.suffix}`;
  return r.end === undefined ? `bytes=${r.start}-` : `bytes=${r.start}-${r.end - 1}`;
}

/**
 * The outcome of one GET for bytes, before store-specific interpretation.
 * - `bytes`: the object's bytes [offset, offset + data.length); `total` is the object size when
 *   known. When the server ignored the Range, `offset` is 0 and data may be a prefix only
 *   (we stopped reading once the requested end was covered).
 * - `status`: any other non-retryable answer (304, 404, 412, 416, 403, 3xx...) with its headers
 *   and (scrubbed) text.
 */
export type RawRead =
  | { kind: 'bytes'; data: Uint8Array; offset: number; total?: number; headers: Headers; status: number }
  | { kind: 'status'; status: number; statusText: string; headers: Headers; body: string };

/** The bytes kind of {@link RawRead}. */
export type RawBytes = Extract<RawRead, { kind: 'bytes' }>;

function truncated(req: RequestInfo, got: number, want: number): TransientError {
  return new TransientError(new KvStoreError(req.key, `GET ${safeUrl(req.url)}: truncated body, ${got} of ${want} bytes`));
}

/**
 * A 206 answer, validated: `Content-Range` must be present, start where asked (absolute
 * ranges), end where asked or at the object's end, and the body must be exactly that long; a
 * short or inconsistent answer is transient (retried), never returned.
 */
export async function readPartial(req: RequestInfo & { range?: WireRange }, reply: Reply): Promise<RawBytes> {
  const cr = parseContentRange(reply.headers.get('content-range'));
  const bad = (why: string) => {
    void reply.body?.cancel().catch(() => {});
    return new TransientError(new KvStoreError(req.key, `GET ${safeUrl(req.url)}: invalid 206 response: ${why}`));
  };
  if (!cr || 'unsatisfied' in cr) throw bad(`Content-Range ${JSON.stringify(reply.headers.get('content-range'))}`);
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
  const cl = contentLength(reply.headers);
  if (cl !== undefined && cl !== want && !reply.headers.has('content-encoding')) throw bad(`Content-Length ${cl} for ${want} bytes`);
  // Read one byte more than announced to notice an overlong body; never more.
  const { bytes, complete } = await readBodyBounded(reply, want + 1, req.key);
  if (bytes.length < want) throw truncated(req, bytes.length, want);
  if (bytes.length > want || !complete) throw bad(`body longer than the ${want} bytes of its Content-Range`);
  return { kind: 'bytes', data: bytes, offset: cr.start, total: cr.total, headers: reply.headers, status: 206 };
}

/**
 * A 200 answer: the whole body, checked against Content-Length; when the request had an
 * absolute range (the server ignored it), only bytes [0, end) are read, then the stream is
 * cancelled and the caller slices.
 */
export async function readWhole(req: RequestInfo & { range?: WireRange }, reply: Reply): Promise<RawBytes> {
  const cl = reply.headers.has('content-encoding') ? undefined : contentLength(reply.headers);
  const r = req.range;
  if (r && !('suffix' in r) && r.end !== undefined) {
    const { bytes, complete } = await readBodyBounded(reply, r.end, req.key);
    if (complete) {
      if (cl !== undefined && bytes.length !== cl) throw truncated(req, bytes.length, cl);
      return { kind: 'bytes', data: bytes, offset: 0, total: bytes.length, headers: reply.headers, status: 200 };
    }
    return { kind: 'bytes', data: bytes, offset: 0, total: cl, headers: reply.headers, status: 200 };
  }
  // The whole object was asked for (or a suffix / open range, which needs its end anyway).
  const { bytes } = await readBodyBounded(reply, cl ?? Number.MAX_SAFE_INTEGER, req.key);
  if (cl !== undefined && bytes.length !== cl) throw truncated(req, bytes.length, cl);
  return { kind: 'bytes', data: bytes, offset: 0, total: bytes.length, headers: reply.headers, status: 200 };
}
