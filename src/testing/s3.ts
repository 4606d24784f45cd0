/**
 * The S3 subset served next to the GCS API, on the same objects.
 *
 * Addressing:
 * - path style under `/s3`: `http://127.0.0.1:PORT/s3/BUCKET/KEY` (so an SDK endpoint is
 *   `http://127.0.0.1:PORT/s3` with forcePathStyle);
 * - virtual-host style: `Host: BUCKET.s3.localhost:PORT`, path `/KEY`.
 *
 * Operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
 * ListObjectsV2 (and V1), GetObject/HeadObject (Range, If-Match, If-None-Match), PutObject
 * (If-Match, If-None-Match: *, Content-MD5, aws-chunked bodies), DeleteObject, DeleteObjects.
 * SigV4 `Authorization` headers and presigned query parameters are accepted without checking.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodePath, type Exchange, type FrontEnd, type Headers, type RequestKind } from './exchange.js';
import { parseRange } from './gcs.js';
import { isValidBucketName, listPage, type ObjectMeta, type ObjectStore, type StoredObject } from './storage.js';

/** The path prefix of path-style S3 requests. */
export const S3_PATH_PREFIX = '/s3';

const VHOST = /^([a-z0-9][a-z0-9.-]*[a-z0-9])\.s3\.localhost$/i;

interface S3Route {
  /** undefined: the service (ListBuckets) */
  bucket?: string;
  /** undefined: a bucket request */
  key?: string;
  malformed?: boolean;
}

function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function xmlUnescape(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#(\d+)|#x([0-9a-f]+));/gi, (_m, name: string, dec?: string, hex?: string) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[name.toLowerCase()]!;
  });
}

function md5Hex(o: StoredObject): string {
  return Buffer.from(o.md5Hash, 'base64').toString('hex');
}

/** Decodes an `aws-chunked` body (SigV4 streaming, with or without trailers). */
function decodeAwsChunked(body: Buffer): Buffer | undefined {
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', pos);
    if (lineEnd < 0) return undefined;
    const sizeHex = body.subarray(pos, lineEnd).toString('latin1').split(';')[0]!.trim();
    if (!/^[0-9a-f]+$/i.test(sizeHex)) return undefined;
    const size = parseInt(sizeHex, 16);
    pos = lineEnd + 2;
    if (size === 0) return Buffer.concat(out); // trailers (checksums) follow; ignored
    if (pos + size > body.length) return undefined;
    out.push(body.subarray(pos, pos + size));
    pos += size;
    if (body.subarray(pos, pos + 2).toString('latin1') !== '\r\n') return undefined;
    pos += 2;
  }
}

function unquote(etag: string): string {
  const t = etag.trim();
  return t.startsWith('W/') ? t.slice(2).replace(/^"|"$/g, '') : t.replace(/^"|"$/g, '');
}

/** Does an If-Match / If-None-Match list match the object's ETag? */
function etagListMatches(list: string, o: StoredObject): boolean {
  const tag = md5Hex(o);
  return list.split(',').some((e) => e.trim() === '*' || unquote(e) === tag);
}

export class S3Api implements FrontEnd {
  constructor(private readonly store: ObjectStore) {}

  /** Whether a request is addressed to the S3 API (path prefix or virtual host). */
  matches(host: string, path: string): boolean {
    return VHOST.test(host.replace(/:\d+$/, '')) || path === S3_PATH_PREFIX || path.startsWith(S3_PATH_PREFIX + '/');
  }

  private route(host: string, path: string): S3Route {
    const vh = VHOST.exec(host.replace(/:\d+$/, ''));
    let bucket: string | undefined;
    let rest: string;
    if (vh) {
      bucket = vh[1]!.toLowerCase();
      rest = path.slice(1);
    } else {
      const p = path.slice(S3_PATH_PREFIX.length + 1);
      if (p === '') return {};
      const slash = p.indexOf('/');
      const b = decodePath(slash < 0 ? p : p.slice(0, slash));
      if (b === undefined) return { malformed: true };
      bucket = b;
      rest = slash < 0 ? '' : p.slice(slash + 1);
    }
    if (rest === '') return { bucket };
    const key = decodePath(rest);
    if (key === undefined) return { bucket, malformed: true };
    return { bucket, key };
  }

  kind(method: string, path: string, query: URLSearchParams, host: string): RequestKind {
    if (method === 'OPTIONS') return 'options';
    const r = this.route(host, path);
    if (r.bucket === undefined) return 's3-bucket';
    if (r.key === undefined) {
      if (method === 'GET' && !query.has('location') && !query.has('versioning')) return 's3-list';
      if (method === 'POST' && query.has('delete')) return 's3-delete';
      return 's3-bucket';
    }
    switch (method) {
      case 'GET':
        return 's3-get';
      case 'HEAD':
        return 's3-head';
      case 'PUT':
        return 's3-put';
      case 'DELETE':
        return 's3-delete';
      default:
        return 'unknown';
    }
  }

  async sendFault(ex: Exchange, status: number): Promise<void> {
    const code =
      status === 503 ? 'SlowDown' : status === 429 ? 'TooManyRequests' : status === 408 ? 'RequestTimeout' : status >= 500 ? 'InternalError' : 'InvalidRequest';
    return this.error(ex, status, code, `Injected fault: HTTP ${status}.`);
  }

  /** An S3-shaped XML error (no body for HEAD). */
  error(ex: Exchange, status: number, code: string, message: string, extra: Record<string, string> = {}): Promise<void> {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const fields = Object.entries(extra)
      .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`)
      .join('');
    const body =
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>` +
      `${fields}<RequestId>${requestId}</RequestId></Error>`;
    return ex.send(status, { 'Content-Type': 'application/xml', 'x-amz-request-id': requestId }, body, {
      noBody: ex.method === 'HEAD',
    });
  }

  private xml(ex: Exchange, body: string, status = 200): Promise<void> {
    return ex.send(status, { 'Content-Type': 'application/xml' }, `<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
  }

  async handle(ex: Exchange): Promise<void> {
    const r = this.route(ex.header('host') ?? '', ex.path);
    if (r.malformed) return this.error(ex, 400, 'InvalidURI', 'Could not parse the specified URI.');
    if (r.bucket === undefined) {
      if (ex.method !== 'GET') return this.error(ex, 405, 'MethodNotAllowed', 'The specified method is not allowed.');
      const buckets = this.store
        .listBuckets()
        .map((b) => `<Bucket><Name>${xmlEscape(b.name)}</Name><CreationDate>${b.timeCreated}</CreationDate></Bucket>`)
        .join('');
      return this.xml(
        ex,
        `<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>emulator</ID>` +
          `<DisplayName>emulator</DisplayName></Owner><Buckets>${buckets}</Buckets></ListAllMyBucketsResult>`,
      );
    }
    if (r.key === undefined) return this.bucketRequest(ex, r.bucket);
    if (!this.store.getBucket(r.bucket))
      return this.error(ex, 404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: r.bucket });
    switch (ex.method) {
      case 'GET':
      case 'HEAD':
        return this.getObject(ex, r.bucket, r.key);
      case 'PUT':
        return this.putObject(ex, r.bucket, r.key);
      case 'DELETE':
        return this.deleteObject(ex, r.bucket, r.key);
      default:
        return this.error(ex, 501, 'NotImplemented', `${ex.method} on an object is not implemented by the emulator.`);
    }
  }

  private async bucketRequest(ex: Exchange, bucket: string): Promise<void> {
    const exists = this.store.getBucket(bucket) !== undefined;
    const noBucket = () => this.error(ex, 404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
    switch (ex.method) {
      case 'PUT': {
        if (!isValidBucketName(bucket)) return this.error(ex, 400, 'InvalidBucketName', 'The specified bucket is not valid.');
        const b = await this.store.createBucket(bucket);
        if (!b)
          return this.error(ex, 409, 'BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', {
            BucketName: bucket,
          });
        return ex.send(200, { Location: `/${bucket}` }, '');
      }
      case 'HEAD':
        return exists ? ex.send(200, { 'x-amz-bucket-region': 'us-east-1' }, undefined, { noBody: true }) : noBucket();
      case 'DELETE': {
        const res = await this.store.deleteBucket(bucket);
        if (res === 'missing') return noBucket();
        if (res === 'not-empty') return this.error(ex, 409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty');
        return ex.send(204, {}, undefined, { noBody: true });
      }
      case 'GET':
        if (!exists) return noBucket();
        if (ex.query.has('location'))
          return this.xml(ex, '<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>');
        return this.list(ex, bucket);
      case 'POST':
        if (!exists) return noBucket();
        if (ex.query.has('delete')) return this.deleteObjects(ex, bucket);
        return this.error(ex, 501, 'NotImplemented', 'This bucket POST is not implemented by the emulator.');
      default:
        return this.error(ex, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    }
  }

  private objectHeaders(o: StoredObject): Headers {
    const h: Headers = {
      'Content-Type': o.contentType,
      ETag: `"${md5Hex(o)}"`,
      'Last-Modified': new Date(o.updated).toUTCString(),
      'Accept-Ranges': 'bytes',
      // The GCS generation, handy when mixing APIs; S3 clients ignore it.
      'x-goog-generation': String(o.generation),
    };
    if (o.cacheControl !== undefined) h['Cache-Control'] = o.cacheControl;
    if (o.contentDisposition !== undefined) h['Content-Disposition'] = o.contentDisposition;
    if (o.contentLanguage !== undefined) h['Content-Language'] = o.contentLanguage;
    for (const [k, v] of Object.entries(o.metadata ?? {})) h[`x-amz-meta-${k.toLowerCase()}`] = v;
    return h;
  }

  private async getObject(ex: Exchange, bucket: string, key: string): Promise<void> {
    const o = this.store.get(bucket, key);
    if (!o) return this.error(ex, 404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
    const headers = this.objectHeaders(o);
    const ifMatch = ex.header('if-match');
    if (ifMatch !== undefined && !etagListMatches(ifMatch, o))
      return this.error(ex, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
        Condition: 'If-Match',
      });
    const ifNoneMatch = ex.header('if-none-match');
    if (ifNoneMatch !== undefined && etagListMatches(ifNoneMatch, o))
      return ex.send(304, { ETag: headers.ETag!, 'Last-Modified': headers['Last-Modified']! }, undefined, { noBody: true });
    const size = o.data.length;
    const range = parseRange(ex.header('range'), size);
    if (range === 416)
      return this.error(ex, 416, 'InvalidRange', 'The requested range is not satisfiable', {
        RangeRequested: ex.header('range') ?? '',
        ActualObjectSize: String(size),
      });
    if (range === 'ignore') return ex.send(200, headers, o.data);
    const [start, end] = range;
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    return ex.send(206, headers, o.data.subarray(start, end + 1));
  }

  private async putObject(ex: Exchange, bucket: string, key: string): Promise<void> {
    if (ex.header('x-amz-copy-source') !== undefined)
      return this.error(ex, 501, 'NotImplemented', 'CopyObject is not implemented by the emulator.');
    if (ex.query.has('uploadId') || ex.query.has('partNumber'))
      return this.error(ex, 501, 'NotImplemented', 'Multipart uploads are not implemented by the emulator.');
    let data = ex.body;
    const sha = ex.header('x-amz-content-sha256') ?? '';
    if (/aws-chunked/i.test(ex.header('content-encoding') ?? '') || sha.startsWith('STREAMING-')) {
      const decoded = decodeAwsChunked(ex.body);
      if (!decoded) return this.error(ex, 400, 'IncompleteBody', 'Malformed aws-chunked request body.');
      const declared = ex.header('x-amz-decoded-content-length');
      if (declared !== undefined && Number(declared) !== decoded.length)
        return this.error(ex, 400, 'IncompleteBody', 'The decoded body length does not match x-amz-decoded-content-length.');
      data = decoded;
    }
    const md5 = ex.header('content-md5');
    if (md5 !== undefined && createHash('md5').update(data).digest('base64') !== md5)
      return this.error(ex, 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
    const meta: ObjectMeta = { contentType: ex.header('content-type') ?? 'binary/octet-stream' };
    const cc = ex.header('cache-control');
    if (cc !== undefined) meta.cacheControl = cc;
    const cd = ex.header('content-disposition');
    if (cd !== undefined) meta.contentDisposition = cd;
    const cl = ex.header('content-language');
    if (cl !== undefined) meta.contentLanguage = cl;
    const md: Record<string, string> = {};
    for (const [k, v] of Object.entries(ex.req.headers)) {
      if (k.startsWith('x-amz-meta-') && v !== undefined) md[k.slice('x-amz-meta-'.length)] = Array.isArray(v) ? v.join(',') : v;
    }
    if (Object.keys(md).length) meta.metadata = md;
    const ifMatch = ex.header('if-match');
    const ifNoneMatch = ex.header('if-none-match');
    const result = await this.store.put(bucket, key, data, meta, (o) => {
      if (ifNoneMatch !== undefined && o !== undefined && etagListMatches(ifNoneMatch, o)) return 'If-None-Match';
      if (ifMatch !== undefined) {
        if (!o) return 'missing';
        if (!etagListMatches(ifMatch, o)) return 'If-Match';
      }
      return undefined;
    });
    if ('failed' in result) {
      if (result.failed === 'missing') return this.error(ex, 404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
      return this.error(ex, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
        Condition: result.failed,
      });
    }
    return ex.send(200, { ETag: `"${md5Hex(result)}"`, 'x-goog-generation': String(result.generation) }, '');
  }

  private async deleteObject(ex: Exchange, bucket: string, key: string): Promise<void> {
    const ifMatch = ex.header('if-match');
    const result = await this.store.delete(bucket, key, (o) =>
      ifMatch !== undefined && o !== undefined && !etagListMatches(ifMatch, o) ? 'If-Match' : undefined,
    );
    if (typeof result === 'object')
      return this.error(ex, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
        Condition: 'If-Match',
      });
    return ex.send(204, {}, undefined, { noBody: true });
  }

  private async deleteObjects(ex: Exchange, bucket: string): Promise<void> {
    const text = ex.body.toString('utf8');
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(text);
    const keys = [...text.matchAll(/<Object>[\s\S]*?<Key>([\s\S]*?)<\/Key>[\s\S]*?<\/Object>/g)].map((m) => xmlUnescape(m[1]!));
    const deleted: string[] = [];
    for (const k of keys) {
      await this.store.delete(bucket, k);
      if (!quiet) deleted.push(`<Deleted><Key>${xmlEscape(k)}</Key></Deleted>`);
    }
    return this.xml(ex, `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${deleted.join('')}</DeleteResult>`);
  }

  /** ListObjectsV2 (`list-type=2`) or V1. */
  private async list(ex: Exchange, bucket: string): Promise<void> {
    const q = ex.query;
    const v2 = q.get('list-type') === '2';
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const urlEncode = q.get('encoding-type') === 'url';
    const maxRaw = q.get('max-keys');
    let max = 1000;
    if (maxRaw !== null && maxRaw !== '') {
      if (!/^\d+$/.test(maxRaw)) return this.error(ex, 400, 'InvalidArgument', 'max-keys must be a non-negative integer.');
      max = Math.min(1000, Number(maxRaw));
    }
    const token = v2 ? q.get('continuation-token') : null;
    let after: string | undefined;
    if (token) after = Buffer.from(token, 'base64url').toString('utf8');
    else if (v2 && q.get('start-after')) after = q.get('start-after')!;
    else if (!v2 && q.get('marker')) after = q.get('marker')!;
    const enc = (s: string) => xmlEscape(urlEncode ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
    const page = listPage(this.store.list(bucket) ?? [], { prefix, delimiter, after, max });
    const contents: string[] = [];
    const prefixes: string[] = [];
    for (const e of page.entries) {
      if ('prefix' in e) {
        prefixes.push(`<CommonPrefixes><Prefix>${enc(e.prefix)}</Prefix></CommonPrefixes>`);
        continue;
      }
      const o = e.object;
      contents.push(
        `<Contents><Key>${enc(o.name)}</Key><LastModified>${new Date(o.updated).toISOString()}</LastModified>` +
          `<ETag>&quot;${md5Hex(o)}&quot;</ETag><Size>${o.data.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      );
    }
    const truncated = page.truncated;
    const last = page.last;
    const parts = [
      `<Name>${xmlEscape(bucket)}</Name>`,
      `<Prefix>${enc(prefix)}</Prefix>`,
      delimiter ? `<Delimiter>${enc(delimiter)}</Delimiter>` : '',
      `<MaxKeys>${max}</MaxKeys>`,
      urlEncode ? '<EncodingType>url</EncodingType>' : '',
      `<IsTruncated>${truncated}</IsTruncated>`,
    ];
    if (v2) {
      parts.push(`<KeyCount>${contents.length + prefixes.length}</KeyCount>`);
      if (token) parts.push(`<ContinuationToken>${xmlEscape(token)}</ContinuationToken>`);
      if (q.get('start-after')) parts.push(`<StartAfter>${enc(q.get('start-after')!)}</StartAfter>`);
      if (truncated && last !== undefined)
        parts.push(`<NextContinuationToken>${Buffer.from(last, 'utf8').toString('base64url')}</NextContinuationToken>`);
    } else {
      parts.push(`<Marker>${enc(q.get('marker') ?? '')}</Marker>`);
      if (truncated && last !== undefined && delimiter) parts.push(`<NextMarker>${enc(last)}</NextMarker>`);
    }
    return this.xml(
      ex,
      `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts.join('')}${contents.join('')}${prefixes.join('')}</ListBucketResult>`,
    );
  }
}
