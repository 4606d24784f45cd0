/**
 * The HTTP object core takes a new store as one more dialect, without changes: an Azure
 * Blob-style dialect (ETag generations, `If-Match` / `If-None-Match: *` conditions with Azure's
 * 409 BlobAlreadyExists, an `x-ms-meta-*` write token, SAS query authentication registered as
 * secrets, `x-ms-*` headers) over a small Azure-like server passes the whole KvStore
 * conformance suite, and keeps its SAS signature out of errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvStoreError } from '../../src/errors.js';
import { HttpClient } from '../../src/kvstore/http/client.js';
import { type HttpDialect, HttpObjectCore, type Wire, type WireRequest, type WriteCondition } from '../../src/kvstore/http/core.js';
import { Secrets } from '../../src/kvstore/http/secrets.js';
import { encodeKeyPath, withQuery } from '../../src/kvstore/http/url.js';
import { deleteListed, type KvStore, type ListOptions, type ReadOptions, type WriteOptions } from '../../src/kvstore/kvstore.js';
import { describeKvStoreConformance } from './conformance.js';
import { tinyServer, type TinyServer } from './tiny-server.js';

const SIG = 'SAS-SIGNATURE-abc123xyz';
const FAST = { maxRetries: 3, initialDelayMs: 1, maxDelayMs: 2 };

/** An Azure-Blob-like server: one container, strong ETags, SAS required. */
async function azureLike(): Promise<TinyServer> {
  const blobs = new Map<string, { data: Buffer; etag: string; token?: string }>();
  let counter = 0;
  const xmlError = (code: string) => `<?xml version="1.0"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`;
  return tinyServer((req, res, body) => {
    const u = new URL(req.url!, 'http://x');
    if (u.searchParams.get('sig') !== SIG) return void res.writeHead(403).end(xmlError('AuthenticationFailed'));
    if (req.headers['x-ms-version'] === undefined) return void res.writeHead(400).end(xmlError('MissingRequiredHeader'));
    if (u.searchParams.get('comp') === 'list') {
      const prefix = u.searchParams.get('prefix') ?? '';
      const names = [...blobs.keys()].filter((k) => k.startsWith(prefix)).sort();
      const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
      return void res.writeHead(200).end(`<EnumerationResults><Blobs>${names.map((n) => `<Blob><Name>${esc(n)}</Name></Blob>`).join('')}</Blobs></EnumerationResults>`);
    }
    const name = decodeURIComponent(u.pathname.replace(/^\/c\//, ''));
    const b = blobs.get(name);
    const im = req.headers['if-match'];
    const inm = req.headers['if-none-match'];
    if (req.method === 'PUT') {
      if (req.headers['x-ms-blob-type'] !== 'BlockBlob') return void res.writeHead(400).end(xmlError('InvalidHeaderValue'));
      if (inm === '*' && b) return void res.writeHead(409).end(xmlError('BlobAlreadyExists'));
      if (im !== undefined && (!b || b.etag !== im)) return void res.writeHead(412).end(xmlError('ConditionNotMet'));
      const etag = `"0x8D${(++counter).toString(16).padStart(12, '0')}"`;
      blobs.set(name, { data: body, etag, token: req.headers['x-ms-meta-vswrite'] as string | undefined });
      return void res.writeHead(201, { etag }).end();
    }
    if (req.method === 'DELETE') {
      if (!b) return void res.writeHead(404).end(xmlError('BlobNotFound'));
      if (im !== undefined && b.etag !== im) return void res.writeHead(412).end(xmlError('ConditionNotMet'));
      blobs.delete(name);
      return void res.writeHead(202).end();
    }
    if (!b) return void res.writeHead(404).end(req.method === 'HEAD' ? undefined : xmlError('BlobNotFound'));
    if (im !== undefined && b.etag !== im) return void res.writeHead(412).end();
    if (inm !== undefined && b.etag === inm) return void res.writeHead(304, { etag: b.etag }).end();
    const headers: Record<string, string> = { etag: b.etag, 'content-type': 'application/octet-stream' };
    if (b.token) headers['x-ms-meta-vswrite'] = b.token;
    let status = 200;
    let out = b.data;
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (m) {
      const size = b.data.length;
      const s = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
      const e = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      if (s >= size) return void res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      status = 206;
      out = b.data.subarray(s, e + 1);
      headers['content-range'] = `bytes ${s}-${e}/${size}`;
    }
    headers['content-length'] = String(out.length);
    res.writeHead(status, headers).end(req.method === 'HEAD' ? undefined : out);
  });
}

/** The Azure Blob dialect: everything that differs from the other stores. */
class AzureDialect implements HttpDialect {
  readonly suffixRanges = true;
  constructor(private readonly container: string, private readonly sas: string) {}
  mediaUrl(key: string): string {
    return `${this.container}/${encodeKeyPath(key)}?${this.sas}`;
  }
  readConditions(ifEqual: string | undefined, ifNotEqual: string | undefined): Wire {
    const headers: Record<string, string> = {};
    if (ifEqual) headers['if-match'] = ifEqual;
    if (ifNotEqual) headers['if-none-match'] = ifNotEqual;
    return { headers };
  }
  generationOf(headers: Headers): string | undefined {
    return headers.get('etag') ?? undefined;
  }
  tokenOf(headers: Headers): string | undefined {
    return headers.get('x-ms-meta-vswrite') ?? undefined;
  }
  isMissing(status: number): boolean {
    return status === 404;
  }
  canMatch(generation: string): boolean {
    return /^"0x[0-9A-Fa-f]+"$/.test(generation);
  }
  writeRequest(key: string, value: Uint8Array, cond: WriteCondition, token: string): WireRequest {
    const headers: Record<string, string> = { 'x-ms-blob-type': 'BlockBlob', 'x-ms-meta-vswrite': token };
    if (cond.kind === 'absent') headers['if-none-match'] = '*';
    if (cond.kind === 'match') headers['if-match'] = cond.generation;
    return { method: 'PUT', url: this.mediaUrl(key), headers, body: value };
  }
  writtenGeneration(key: string, headers: Headers): string {
    const etag = headers.get('etag');
    if (!etag) throw new KvStoreError(key, 'Put Blob answer lacks an ETag');
    return etag;
  }
  deleteRequest(key: string, cond: WriteCondition): WireRequest {
    return { method: 'DELETE', url: this.mediaUrl(key), headers: cond.kind === 'match' ? { 'if-match': cond.generation } : {} };
  }
  preconditionFailed(status: number, text: string, cond: WriteCondition): boolean {
    return status === 412 || (status === 409 && cond.kind === 'absent' && text.includes('BlobAlreadyExists'));
  }
}

/** A KvStore over the dialect: core for read/write/delete, plus listing. */
class AzureTestStore implements KvStore {
  readonly readOnly = false;
  readonly client: HttpClient;
  private readonly core: HttpObjectCore;
  constructor(readonly url: string, private readonly sas: string) {
    const secrets = new Secrets();
    for (const v of new URLSearchParams(sas).values()) secrets.add(v);
    this.client = new HttpClient({
      retries: FAST,
      authOrigin: new URL(url).origin,
      originHeaders: { 'x-ms-version': '2023-11-03' },
      secrets,
      label: 'azure',
    });
    this.core = new HttpObjectCore(this.client, new AzureDialect(url, sas));
  }
  read(key: string, o?: ReadOptions) {
    return this.core.read(key, o);
  }
  write(key: string, v: Uint8Array, o?: WriteOptions) {
    return this.core.write(key, v, o);
  }
  delete(key: string, o?: WriteOptions) {
    return this.core.delete(key, o);
  }
  async *list(prefix: string, o: ListOptions = {}): AsyncIterable<string> {
    const xml = await this.client.text({ method: 'GET', key: prefix, url: withQuery(`${this.url}?${this.sas}`, { restype: 'container', comp: 'list', prefix }), signal: o.signal });
    for (const m of xml.matchAll(/<Name>([\s\S]*?)<\/Name>/g)) yield m[1]!.replace(/&lt;/g, '<').replace(/&amp;/g, '&');
  }
  deleteRange(prefix: string, o: ListOptions = {}) {
    return deleteListed(this, prefix, o.signal);
  }
  spec() {
    return { driver: 'azure-test' };
  }
}

let srv: TinyServer | undefined;
let servers: TinyServer[] = [];
beforeAll(async () => {
  srv = await azureLike();
});
afterAll(async () => {
  await srv?.close();
  for (const s of servers) await s.close();
});

describeKvStoreConformance('azure-like dialect over the HTTP object core', async () => {
  const s = await azureLike();
  servers.push(s);
  return { store: new AzureTestStore(`${s.url}/c`, `sv=2023&sig=${SIG}`), cleanup: async () => {
    await s.close();
    servers = servers.filter((x) => x !== s);
  } };
});

describe('azure-like dialect: secrets', () => {
  it('a failed request names the key and status, never the SAS signature', async () => {
    const store = new AzureTestStore(`${srv!.url}/c`, `sv=2023&sig=WRONG-${SIG}`);
    const e = (await store.read('k').catch((x: unknown) => x)) as KvStoreError;
    expect(e).toBeInstanceOf(KvStoreError);
    expect(e.status).toBe(403);
    expect(e.message).toContain('AuthenticationFailed');
    expect(String(e.stack)).not.toContain(SIG);
  });
});
