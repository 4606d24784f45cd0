/**
 * The GCS JSON API subset of /work/shared/GCS.md: objects (media, metadata, list, delete, patch),
 * uploads (media, multipart, resumable) and buckets. Accepts both `/storage/v1/b/...` and the
 * `/b/...` form that @google-cloud/storage uses under STORAGE_EMULATOR_HOST, plus
 * `/upload/storage/v1/...` and `/download/storage/v1/...`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { crc32cBase64 } from './crc32c.js';
import { decodePath, type Exchange, type FrontEnd, type Headers, type RequestKind } from './exchange.js';
import type { ObjectMeta, ObjectStore, StoredBucket, StoredObject } from './storage.js';
import { isValidBucketName, listPage } from './storage.js';

const REASONS: Record<number, string> = {
  400: 'invalid',
  401: 'required',
  403: 'forbidden',
  404: 'notFound',
  408: 'requestTimeout',
  409: 'conflict',
  410: 'gone',
  412: 'conditionNotMet',
  416: 'requestedRangeNotSatisfiable',
  429: 'rateLimitExceeded',
  500: 'internalError',
  501: 'notImplemented',
  502: 'badGateway',
  503: 'backendError',
  504: 'gatewayTimeout',
};

/** Path after the API prefix, split into its parts. */
interface Route {
  mode: 'api' | 'upload' | 'download';
  /** undefined: the bucket collection `/b` */
  bucket?: string;
  /** true for `/b/B/o` and below */
  objects: boolean;
  /** the decoded object name for `/b/B/o/NAME` */
  object?: string;
  /** a path piece failed to percent-decode */
  malformed?: boolean;
}

function parseRoute(path: string): Route | undefined {
  let mode: Route['mode'] = 'api';
  let rest: string;
  if (path.startsWith('/upload/storage/v1/')) {
    mode = 'upload';
    rest = path.slice('/upload/storage/v1/'.length);
  } else if (path.startsWith('/download/storage/v1/')) {
    mode = 'download';
    rest = path.slice('/download/storage/v1/'.length);
  } else if (path.startsWith('/storage/v1/')) {
    rest = path.slice('/storage/v1/'.length);
  } else if (path.startsWith('/upload/b/') || path === '/upload/b') {
    mode = 'upload';
    rest = path.slice('/upload/'.length);
  } else {
    rest = path.slice(1);
  }
  if (rest !== 'b' && !rest.startsWith('b/')) return undefined;
  if (rest === 'b' || rest === 'b/') return { mode, objects: false };
  const afterB = rest.slice(2);
  const slash = afterB.indexOf('/');
  const bucketRaw = slash < 0 ? afterB : afterB.slice(0, slash);
  const bucket = decodePath(bucketRaw);
  if (bucket === undefined) return { mode, objects: false, malformed: true };
  if (slash < 0 || afterB.slice(slash) === '/') return { mode, bucket, objects: false };
  const tail = afterB.slice(slash + 1);
  if (tail === 'o' || tail === 'o/') return { mode, bucket, objects: true };
  if (!tail.startsWith('o/')) return undefined;
  // The name is one encoded segment, but accept raw '/' too by decoding the whole remainder.
  const object = decodePath(tail.slice(2));
  if (object === undefined) return { mode, bucket, objects: true, malformed: true };
  return { mode, bucket, objects: true, object };
}

/** Protobuf-style encoding of (generation, metageneration), shaped like real GCS etags. */
function etagOf(o: StoredObject): string {
  const bytes: number[] = [];
  const varint = (field: number, v: number) => {
    bytes.push((field << 3) | 0);
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
  };
  varint(1, o.generation);
  varint(2, o.metageneration);
  return Buffer.from(bytes).toString('base64');
}

type Pre = 'ok' | 304 | 412 | 'bad';

/**
 * Evaluates the generation preconditions in the query. A failed *Match is 412 (also when the
 * object is missing, except ifGenerationMatch=0 which then succeeds); a failed *NotMatch is 304
 * on reads and 412 on writes.
 */
function preconditions(q: URLSearchParams, o: StoredObject | undefined, read: boolean): Pre {
  const num = (k: string): number | undefined | null => {
    const v = q.get(k);
    if (v === null || v === '') return undefined;
    return /^-?\d+$/.test(v) ? Number(v) : null;
  };
  const gm = num('ifGenerationMatch');
  const gnm = num('ifGenerationNotMatch');
  const mm = num('ifMetagenerationMatch');
  const mnm = num('ifMetagenerationNotMatch');
  if (gm === null || gnm === null || mm === null || mnm === null) return 'bad';
  if (gm !== undefined) {
    if (gm === 0 ? o !== undefined : o?.generation !== gm) return 412;
  }
  if (mm !== undefined && o?.metageneration !== mm) return 412;
  const notMatchFail = read ? 304 : 412;
  if (gnm !== undefined && o !== undefined && (gnm === 0 || o.generation === gnm)) return notMatchFail;
  if (mnm !== undefined && o !== undefined && o.metageneration === mnm) return notMatchFail;
  return 'ok';
}

/** Parses `x-goog-hash: crc32c=...,md5=...`. */
function parseGoogHash(h: string | undefined): { crc32c?: string; md5?: string } {
  const out: { crc32c?: string; md5?: string } = {};
  if (!h) return out;
  for (const part of h.split(',')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim().toLowerCase();
    const v = part.slice(i + 1).trim();
    if (k === 'crc32c') out.crc32c = v;
    else if (k === 'md5') out.md5 = v;
  }
  return out;
}

/** Checks client-supplied hashes against the data; returns an error message on mismatch. */
function hashMismatch(data: Buffer, expected: { crc32c?: string; md5?: string }): string | undefined {
  if (expected.crc32c !== undefined) {
    const got = crc32cBase64(data);
    if (got !== expected.crc32c) return `Provided CRC32C "${expected.crc32c}" doesn't match calculated CRC32C "${got}".`;
  }
  if (expected.md5 !== undefined) {
    const got = createHash('md5').update(data).digest('base64');
    if (got !== expected.md5) return `Provided MD5 hash "${expected.md5}" doesn't match calculated MD5 hash "${got}".`;
  }
  return undefined;
}

/** Object metadata fields a client may set in an upload's JSON or a PATCH. */
function metaFromJson(j: Record<string, unknown>): ObjectMeta {
  const m: ObjectMeta = {};
  for (const k of ['contentType', 'cacheControl', 'contentDisposition', 'contentLanguage'] as const) {
    if (typeof j[k] === 'string') m[k] = j[k] as string;
  }
  if (j.metadata && typeof j.metadata === 'object') {
    const md: Record<string, string> = {};
    for (const [k, v] of Object.entries(j.metadata as Record<string, unknown>)) {
      // null deletes a key in PATCH; keep it so ObjectStore.patch can see it
      md[k] = v === null ? (null as unknown as string) : String(v);
    }
    m.metadata = md;
  }
  return m;
}

interface Session {
  id: string;
  bucket: string;
  name: string;
  meta: ObjectMeta;
  query: URLSearchParams;
  chunks: Buffer[];
  received: number;
  total?: number;
  done?: StoredObject;
}

/** Parses a multipart/related body into its parts (headers + content); undefined if malformed. */
function parseMultipart(body: Buffer, boundary: string): { headers: Record<string, string>; content: Buffer }[] | undefined {
  const delim = Buffer.from(`--${boundary}`);
  const nextDelim = Buffer.from(`\r\n--${boundary}`);
  const parts: { headers: Record<string, string>; content: Buffer }[] = [];
  let pos = body.indexOf(delim);
  if (pos < 0) return undefined;
  for (;;) {
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString('latin1') === '--') return parts; // close delimiter
    const lineEnd = body.indexOf('\r\n', pos); // skips transport padding after the delimiter
    if (lineEnd < 0) return undefined;
    const headStart = lineEnd + 2;
    const headers: Record<string, string> = {};
    let contentStart: number;
    if (body.subarray(headStart, headStart + 2).toString('latin1') === '\r\n') {
      contentStart = headStart + 2; // a part without headers
    } else {
      const headEnd = body.indexOf('\r\n\r\n', headStart);
      if (headEnd < 0) return undefined;
      for (const line of body.subarray(headStart, headEnd).toString('utf8').split('\r\n')) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      contentStart = headEnd + 4;
    }
    const next = body.indexOf(nextDelim, contentStart);
    if (next < 0) return undefined;
    parts.push({ headers, content: body.subarray(contentStart, next) });
    pos = next + 2;
  }
}

/** Parses a Range header into [start, endInclusive] for an object of `size`; 'ignore' or 416. */
export function parseRange(h: string | undefined, size: number): [number, number] | 'ignore' | 416 {
  if (!h) return 'ignore';
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(h);
  if (!m || (m[1] === '' && m[2] === '')) return 'ignore';
  if (m[1] === '') {
    const n = Number(m[2]);
    const start = Math.max(0, size - n);
    if (n === 0 || start >= size) return 416;
    return [start, size - 1];
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return 'ignore'; // inverted
  if (start >= size) return 416;
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return [start, end];
}

export class GcsApi implements FrontEnd {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly store: ObjectStore) {}

  kind(method: string, path: string, query: URLSearchParams): RequestKind {
    if (method === 'OPTIONS') return 'options';
    const r = parseRoute(path);
    if (!r) return 'unknown';
    if (r.mode === 'upload') return 'upload';
    if (r.bucket === undefined || !r.objects) return 'bucket';
    if (r.object === undefined) return method === 'GET' || method === 'HEAD' ? 'list' : 'unknown';
    if (method === 'DELETE') return 'delete';
    if (method === 'GET' || method === 'HEAD') return r.mode === 'download' || query.get('alt') === 'media' ? 'media' : 'metadata';
    if (method === 'PATCH' || method === 'PUT') return 'metadata';
    return 'unknown';
  }

  async sendFault(ex: Exchange, status: number): Promise<void> {
    await this.error(ex, status, `Injected fault: HTTP ${status}.`);
  }

  async handle(ex: Exchange): Promise<void> {
    const r = parseRoute(ex.path);
    if (!r) return this.error(ex, 404, `Not Found: ${ex.method} ${ex.path}`);
    if (r.malformed) return this.error(ex, 400, 'Invalid percent-encoding in the request path.');
    if (r.mode === 'upload') return this.upload(ex, r);
    if (r.bucket === undefined) return this.bucketCollection(ex);
    if (!r.objects) return this.bucketResource(ex, r.bucket);
    if (r.object === undefined) {
      if (ex.method === 'GET' || ex.method === 'HEAD') return this.list(ex, r.bucket);
      return this.error(ex, 400, `${ex.method} on an object collection is not supported by the emulator.`);
    }
    if (r.object === '') return this.error(ex, 400, 'Object name is empty.');
    switch (ex.method) {
      case 'GET':
      case 'HEAD':
        return r.mode === 'download' || ex.query.get('alt') === 'media'
          ? this.media(ex, r.bucket, r.object)
          : this.metadata(ex, r.bucket, r.object);
      case 'DELETE':
        return this.deleteObject(ex, r.bucket, r.object);
      case 'PATCH':
      case 'PUT':
        return this.patch(ex, r.bucket, r.object);
      default:
        return this.error(ex, 405, `Method ${ex.method} not allowed on an object.`);
    }
  }

  // ---- responses -------------------------------------------------------------------------

  /** A GCS-shaped JSON error. */
  error(ex: Exchange, code: number, message: string, reasonOverride?: string): Promise<void> {
    const reason = reasonOverride ?? REASONS[code] ?? (code >= 500 ? 'backendError' : 'invalid');
    const body = JSON.stringify({ error: { code, message, errors: [{ domain: 'global', reason, message }] } });
    return ex.send(code, { 'Content-Type': 'application/json; charset=UTF-8' }, body);
  }

  private json(ex: Exchange, value: unknown, status = 200, headers: Headers = {}): Promise<void> {
    return ex.send(status, { 'Content-Type': 'application/json; charset=UTF-8', ...headers }, JSON.stringify(value));
  }

  private resource(ex: Exchange, o: StoredObject): Record<string, unknown> {
    const enc = encodeURIComponent(o.name);
    const gen = String(o.generation);
    return {
      kind: 'storage#object',
      id: `${o.bucket}/${o.name}/${gen}`,
      selfLink: `${ex.origin}/storage/v1/b/${encodeURIComponent(o.bucket)}/o/${enc}`,
      mediaLink: `${ex.origin}/download/storage/v1/b/${encodeURIComponent(o.bucket)}/o/${enc}?generation=${gen}&alt=media`,
      name: o.name,
      bucket: o.bucket,
      generation: gen,
      metageneration: String(o.metageneration),
      contentType: o.contentType,
      storageClass: 'STANDARD',
      size: String(o.data.length),
      md5Hash: o.md5Hash,
      crc32c: o.crc32c,
      etag: etagOf(o),
      timeCreated: o.timeCreated,
      updated: o.updated,
      timeStorageClassUpdated: o.timeCreated,
      ...(o.cacheControl !== undefined && { cacheControl: o.cacheControl }),
      ...(o.contentDisposition !== undefined && { contentDisposition: o.contentDisposition }),
      ...(o.contentLanguage !== undefined && { contentLanguage: o.contentLanguage }),
      ...(o.metadata !== undefined && Object.keys(o.metadata).length > 0 && { metadata: o.metadata }),
    };
  }

  private bucketJson(ex: Exchange, b: StoredBucket): Record<string, unknown> {
    return {
      kind: 'storage#bucket',
      selfLink: `${ex.origin}/storage/v1/b/${encodeURIComponent(b.name)}`,
      id: b.name,
      name: b.name,
      projectNumber: '0',
      metageneration: '1',
      location: 'US',
      storageClass: 'STANDARD',
      etag: 'CAE=',
      timeCreated: b.timeCreated,
      updated: b.timeCreated,
      locationType: 'multi-region',
    };
  }

  private noBucket(ex: Exchange, bucket: string, plain = false): Promise<void> {
    const msg = `The specified bucket ${bucket} does not exist.`;
    if (plain) return ex.send(404, { 'Content-Type': 'text/plain; charset=utf-8' }, msg);
    return this.error(ex, 404, msg);
  }

  // ---- objects ---------------------------------------------------------------------------

  /** Looks up an object honouring an optional `generation` query parameter. */
  private lookup(ex: Exchange, bucket: string, name: string): StoredObject | undefined {
    const o = this.store.get(bucket, name);
    const g = ex.query.get('generation');
    if (o && g && String(o.generation) !== g) return undefined;
    return o;
  }

  private async media(ex: Exchange, bucket: string, name: string): Promise<void> {
    if (!this.store.getBucket(bucket)) return this.noBucket(ex, bucket, true);
    const o = this.lookup(ex, bucket, name);
    const pre = preconditions(ex.query, o, true);
    if (pre === 'bad') return this.error(ex, 400, 'Invalid precondition value: expected an integer.');
    if (pre === 304) return ex.send(304, {}, undefined, { noBody: true });
    if (pre === 412) return this.error(ex, 412, 'At least one of the pre-conditions you specified did not hold.');
    if (!o) return ex.send(404, { 'Content-Type': 'text/plain; charset=utf-8' }, `No such object: ${bucket}/${name}`);
    const size = o.data.length;
    const headers: Headers = {
      'Content-Type': o.contentType,
      'Accept-Ranges': 'bytes',
      ETag: `"${etagOf(o)}"`,
      'Last-Modified': new Date(o.updated).toUTCString(),
      'Cache-Control': o.cacheControl ?? 'no-cache, no-store, max-age=0, must-revalidate',
      'x-goog-generation': String(o.generation),
      'x-goog-metageneration': String(o.metageneration),
      'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5Hash}`,
      'x-goog-stored-content-length': String(size),
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-storage-class': 'STANDARD',
    };
    if (o.contentDisposition !== undefined) headers['Content-Disposition'] = o.contentDisposition;
    if (o.contentLanguage !== undefined) headers['Content-Language'] = o.contentLanguage;
    const range = parseRange(ex.header('range'), size);
    if (range === 416) {
      const body = JSON.stringify({
        error: {
          code: 416,
          message: 'The requested range cannot be satisfied.',
          errors: [{ domain: 'global', reason: 'requestedRangeNotSatisfiable', message: 'The requested range cannot be satisfied.' }],
        },
      });
      return ex.send(416, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Range': `bytes */${size}` }, body);
    }
    if (range === 'ignore') return ex.send(200, headers, o.data);
    const [start, end] = range;
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    return ex.send(206, headers, o.data.subarray(start, end + 1));
  }

  private async metadata(ex: Exchange, bucket: string, name: string): Promise<void> {
    if (!this.store.getBucket(bucket)) return this.noBucket(ex, bucket);
    const o = this.lookup(ex, bucket, name);
    const pre = preconditions(ex.query, o, true);
    if (pre === 'bad') return this.error(ex, 400, 'Invalid precondition value: expected an integer.');
    if (pre === 304) return ex.send(304, {}, undefined, { noBody: true });
    if (pre === 412) return this.error(ex, 412, 'At least one of the pre-conditions you specified did not hold.');
    if (!o) return this.error(ex, 404, `No such object: ${bucket}/${name}`);
    return this.json(ex, this.resource(ex, o), 200, { ETag: `"${etagOf(o)}"` });
  }

  private async deleteObject(ex: Exchange, bucket: string, name: string): Promise<void> {
    if (!this.store.getBucket(bucket)) return this.noBucket(ex, bucket);
    const g = ex.query.get('generation');
    const result = await this.store.delete(bucket, name, (o) => {
      const cur = o && g && String(o.generation) !== g ? undefined : o;
      const pre = preconditions(ex.query, cur, false);
      if (pre === 'bad' || pre === 412 || pre === 304) return pre;
      if (!cur) return 404 as const;
      return undefined;
    });
    if (typeof result === 'object') {
      if (result.failed === 'bad') return this.error(ex, 400, 'Invalid precondition value: expected an integer.');
      if (result.failed === 404) return this.error(ex, 404, `No such object: ${bucket}/${name}`);
      return this.error(ex, 412, 'At least one of the pre-conditions you specified did not hold.');
    }
    return ex.send(204, {}, undefined, { noBody: true });
  }

  private async patch(ex: Exchange, bucket: string, name: string): Promise<void> {
    if (!this.store.getBucket(bucket)) return this.noBucket(ex, bucket);
    let j: Record<string, unknown>;
    try {
      j = ex.body.length ? (JSON.parse(ex.body.toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      return this.error(ex, 400, 'Request body is not valid JSON.', 'parseError');
    }
    const o = this.lookup(ex, bucket, name);
    const pre = preconditions(ex.query, o, false);
    if (pre === 'bad') return this.error(ex, 400, 'Invalid precondition value: expected an integer.');
    if (pre !== 'ok') return this.error(ex, 412, 'At least one of the pre-conditions you specified did not hold.');
    if (!o) return this.error(ex, 404, `No such object: ${bucket}/${name}`);
    const next = await this.store.patch(o, metaFromJson(j));
    return this.json(ex, this.resource(ex, next));
  }

  private async list(ex: Exchange, bucket: string): Promise<void> {
    const all = this.store.list(bucket);
    if (!all) return this.noBucket(ex, bucket);
    const q = ex.query;
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const startOffset = q.get('startOffset') ?? '';
    const endOffset = q.get('endOffset') ?? '';
    const maxRaw = q.get('maxResults');
    let max = 1000;
    if (maxRaw !== null && maxRaw !== '') {
      if (!/^\d+$/.test(maxRaw)) return this.error(ex, 400, `Invalid value for maxResults: ${maxRaw}`);
      max = Math.min(1000, Math.max(1, Number(maxRaw)));
    }
    let cursor: string | undefined;
    const token = q.get('pageToken');
    if (token) {
      cursor = Buffer.from(token, 'base64url').toString('utf8');
    }
    const page = listPage(all, { prefix, delimiter, after: cursor, max, startOffset, endOffset });
    const items: Record<string, unknown>[] = [];
    const prefixes: string[] = [];
    for (const e of page.entries) {
      if ('prefix' in e) prefixes.push(e.prefix);
      else items.push(this.resource(ex, e.object));
    }
    const more = page.truncated;
    const last = page.last;
    const out: Record<string, unknown> = { kind: 'storage#objects' };
    if (more && last !== undefined) out.nextPageToken = Buffer.from(last, 'utf8').toString('base64url');
    if (prefixes.length) out.prefixes = prefixes;
    if (items.length) out.items = items;
    return this.json(ex, out);
  }

  // ---- buckets ---------------------------------------------------------------------------

  private async bucketCollection(ex: Exchange): Promise<void> {
    if (ex.method === 'GET') {
      const items = this.store.listBuckets().map((b) => this.bucketJson(ex, b));
      return this.json(ex, { kind: 'storage#buckets', ...(items.length > 0 && { items }) });
    }
    if (ex.method === 'POST') {
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(ex.body.toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        return this.error(ex, 400, 'Request body is not valid JSON.', 'parseError');
      }
      const name = typeof j.name === 'string' ? j.name : '';
      if (!name) return this.error(ex, 400, 'Required field: name.', 'required');
      if (!isValidBucketName(name)) return this.error(ex, 400, `Invalid bucket name: '${name}'`);
      const b = await this.store.createBucket(name);
      if (!b)
        return this.error(ex, 409, 'Your previous request to create the named bucket succeeded and you already own it.');
      return this.json(ex, this.bucketJson(ex, b));
    }
    return this.error(ex, 405, `Method ${ex.method} not allowed on the bucket collection.`);
  }

  private async bucketResource(ex: Exchange, bucket: string): Promise<void> {
    if (ex.method === 'GET' || ex.method === 'HEAD') {
      const b = this.store.getBucket(bucket);
      if (!b) return this.noBucket(ex, bucket);
      return this.json(ex, this.bucketJson(ex, b));
    }
    if (ex.method === 'DELETE') {
      const r = await this.store.deleteBucket(bucket);
      if (r === 'missing') return this.noBucket(ex, bucket);
      if (r === 'not-empty') return this.error(ex, 409, 'The bucket you tried to delete is not empty.');
      return ex.send(204, {}, undefined, { noBody: true });
    }
    return this.error(ex, 405, `Method ${ex.method} not allowed on a bucket in the emulator.`);
  }

  // ---- uploads ---------------------------------------------------------------------------

  private async upload(ex: Exchange, r: Route): Promise<void> {
    const uploadId = ex.query.get('upload_id');
    if (uploadId !== null) return this.sessionRequest(ex, uploadId);
    if (ex.method !== 'POST') return this.error(ex, 405, `Method ${ex.method} not allowed for uploads without upload_id.`);
    if (r.bucket === undefined || !r.objects || r.object !== undefined)
      return this.error(ex, 404, `Not Found: ${ex.method} ${ex.path}`);
    const bucket = r.bucket;
    if (!this.store.getBucket(bucket)) return this.noBucket(ex, bucket);
    const type = ex.query.get('uploadType');
    switch (type) {
      case 'media': {
        const name = ex.query.get('name');
        if (!name) return this.error(ex, 400, 'Required parameter: name.', 'required');
        const meta: ObjectMeta = {};
        const ct = ex.header('content-type');
        if (ct) meta.contentType = ct;
        await this.finishWrite(ex, bucket, name, ex.body, meta, ex.query, parseGoogHash(ex.header('x-goog-hash')));
        return;
      }
      case 'multipart': {
        const ct = ex.header('content-type') ?? '';
        const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(ct);
        if (!/^multipart\/related/i.test(ct) || !m)
          return this.error(ex, 400, 'Multipart upload needs Content-Type multipart/related with a boundary.');
        const parts = parseMultipart(ex.body, (m[1] ?? m[2])!);
        if (!parts || parts.length !== 2) return this.error(ex, 400, 'Malformed multipart body: want a JSON part and a media part.');
        let j: Record<string, unknown>;
        try {
          j = JSON.parse(parts[0]!.content.toString('utf8')) as Record<string, unknown>;
        } catch {
          return this.error(ex, 400, 'The metadata part of the multipart upload is not valid JSON.', 'parseError');
        }
        const name = (typeof j.name === 'string' && j.name) || ex.query.get('name');
        if (!name) return this.error(ex, 400, 'Required parameter: name.', 'required');
        const meta = metaFromJson(j);
        if (meta.contentType === undefined && parts[1]!.headers['content-type'])
          meta.contentType = parts[1]!.headers['content-type'];
        const expected = parseGoogHash(ex.header('x-goog-hash'));
        if (typeof j.crc32c === 'string') expected.crc32c = j.crc32c;
        if (typeof j.md5Hash === 'string') expected.md5 = j.md5Hash;
        await this.finishWrite(ex, bucket, name, Buffer.from(parts[1]!.content), meta, ex.query, expected);
        return;
      }
      case 'resumable': {
        let j: Record<string, unknown> = {};
        if (ex.body.length) {
          try {
            j = JSON.parse(ex.body.toString('utf8')) as Record<string, unknown>;
          } catch {
            return this.error(ex, 400, 'The resumable upload metadata is not valid JSON.', 'parseError');
          }
        }
        const name = (typeof j.name === 'string' && j.name) || ex.query.get('name');
        if (!name) return this.error(ex, 400, 'Required parameter: name.', 'required');
        const pre = preconditions(ex.query, this.store.get(bucket, name), false);
        if (pre === 'bad') return this.error(ex, 400, 'Invalid precondition value: expected an integer.');
        if (pre !== 'ok') return this.error(ex, 412, 'At least one of the pre-conditions you specified did not hold.');
        const meta = metaFromJson(j);
        const uct = ex.header('x-upload-content-type');
        if (uct && meta.contentType === undefined) meta.contentType = uct;
        const id = randomUUID().replace(/-/g, '');
        const session: Session = { id, bucket, name, meta, query: new URLSearchParams(ex.query), chunks: [], received: 0 };
        const ucl = ex.header('x-upload-content-length');
        if (ucl && /^\d+$/.test(ucl)) session.total = Number(ucl);
        this.sessions.set(id, session);
        const prefix = ex.path.startsWith('/upload/storage/v1/') ? '/upload/storage/v1' : '/upload';
        const location =
          `${ex.origin}${prefix}/b/${encodeURIComponent(bucket)}/o?uploadType=resumable` +
          `&name=${encodeURIComponent(name)}&upload_id=${id}`;
        return ex.send(200, { Location: location, 'X-GUploader-UploadID': id, 'Content-Type': 'text/plain; charset=utf-8' }, '');
      }
      default:
        return this.error(ex, 400, `Invalid or missing uploadType: ${type ?? '(none)'}.`);
    }
  }

  /** Stores an object after checking preconditions atomically and the client's hashes. */
  private async finishWrite(
    ex: Exchange,
    bucket: string,
    name: string,
    data: Buffer,
    meta: ObjectMeta,
    query: URLSearchParams,
    expected: { crc32c?: string; md5?: string },
  ): Promise<StoredObject | undefined> {
    const bad = hashMismatch(data, expected);
    if (bad) {
      await this.error(ex, 400, bad);
      return undefined;
    }
    if (!this.store.getBucket(bucket)) {
      await this.noBucket(ex, bucket);
      return undefined;
    }
    const result = await this.store.put(bucket, name, data, meta, (o) => {
      const pre = preconditions(query, o, false);
      return pre === 'ok' ? undefined : pre;
    });
    if ('failed' in result) {
      if (result.failed === 'bad') await this.error(ex, 400, 'Invalid precondition value: expected an integer.');
      else await this.error(ex, 412, 'At least one of the pre-conditions you specified did not hold.');
      return undefined;
    }
    await this.json(ex, this.resource(ex, result));
    return result;
  }

  private async sessionRequest(ex: Exchange, id: string): Promise<void> {
    const s = this.sessions.get(id);
    if (!s) return this.error(ex, 404, `No such upload session: ${id}`);
    if (ex.method === 'DELETE') {
      this.sessions.delete(id);
      // GCS answers a cancelled session with 499 (client closed request).
      return ex.send(499, { 'Content-Type': 'text/plain; charset=utf-8' }, '');
    }
    if (ex.method !== 'PUT' && ex.method !== 'POST')
      return this.error(ex, 405, `Method ${ex.method} not allowed on an upload session.`);
    if (s.done) return this.json(ex, this.resource(ex, s.done));
    const cr = ex.header('content-range');
    let finalize = false;
    if (cr === undefined) {
      // No Content-Range: the body is the whole object.
      s.chunks = [ex.body];
      s.received = ex.body.length;
      s.total = s.received;
      finalize = true;
    } else {
      const m = /^\s*bytes\s+(?:\*|(\d+)-(\d+|\*))\/(\d+|\*)\s*$/i.exec(cr);
      if (!m) return this.error(ex, 400, `Malformed Content-Range: ${cr}`);
      const total = m[3] === '*' ? undefined : Number(m[3]);
      if (total !== undefined) {
        if (s.total !== undefined && s.total !== total && s.done === undefined && s.received > 0 && total < s.received)
          return this.error(ex, 400, `Content-Range total ${total} is smaller than the ${s.received} bytes received.`);
        s.total = total;
      }
      if (m[1] === undefined) {
        // `bytes */total` or `bytes */*`: a status query (which commits if everything arrived).
        if (ex.body.length > 0) return this.error(ex, 400, 'A status query must have an empty body.');
        finalize = s.total !== undefined && s.received === s.total;
        if (s.total !== undefined && s.received > s.total)
          return this.error(ex, 400, `Received ${s.received} bytes, more than the declared ${s.total}.`);
      } else {
        const start = Number(m[1]);
        const openEnd = m[2] === '*';
        if (!openEnd) {
          const end = Number(m[2]);
          if (end < start || end - start + 1 !== ex.body.length)
            return this.error(ex, 400, `Content-Range ${cr} does not match a body of ${ex.body.length} bytes.`);
        }
        if (start > s.received)
          return this.error(ex, 400, `Content-Range starts at ${start} but only ${s.received} bytes were received.`);
        const skip = s.received - start; // overlap with bytes already persisted
        if (skip < ex.body.length) {
          const fresh = ex.body.subarray(skip);
          s.chunks.push(Buffer.from(fresh));
          s.received += fresh.length;
        }
        if (openEnd) {
          if (s.total !== undefined && s.total !== s.received)
            return this.error(ex, 400, `Upload ended at ${s.received} bytes but Content-Range declared ${s.total}.`);
          s.total = s.received;
        }
        if (s.total !== undefined && s.received > s.total)
          return this.error(ex, 400, `Received ${s.received} bytes, more than the declared ${s.total}.`);
        finalize = s.total !== undefined && s.received === s.total;
      }
    }
    if (!finalize) {
      const headers: Headers = { 'Content-Type': 'text/plain; charset=utf-8', 'X-GUploader-UploadID': s.id };
      if (s.received > 0) headers.Range = `bytes=0-${s.received - 1}`;
      return ex.send(308, headers, '');
    }
    const data = s.chunks.length === 1 ? s.chunks[0]! : Buffer.concat(s.chunks);
    s.chunks = [data];
    const done = await this.finishWrite(ex, s.bucket, s.name, data, s.meta, s.query, parseGoogHash(ex.header('x-goog-hash')));
    if (done) s.done = done;
    else this.sessions.delete(id); // a failed finalization ends the session
  }
}
