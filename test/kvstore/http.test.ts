import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import { KvStoreError, ReadOnlyError, UnsupportedError } from '../../src/errors.js';
import { HttpStore } from '../../src/kvstore/http.js';
import { Context } from '../../src/context/context.js';
import { openKvStore } from '../../src/kvstore/open.js';
import { kvstoreFromUrl } from '../../src/kvstore/spec.js';
import { S3Store } from '../../src/kvstore/s3.js';
import { describeKvStoreConformance, type Populate, pseudoRandomBytes } from './conformance.js';

const FAST = { maxRetries: 4, initialDelayMs: 2, maxDelayMs: 20 };

interface ServerOpts {
  /** Answer 200 with the whole body whatever the Range. */
  ignoreRange?: boolean;
  /** Chunked transfer encoding: no Content-Length. */
  omitLength?: boolean;
  /** Status for missing keys (404 by default). */
  missingStatus?: number;
}

/**
 * A tiny static server over an in-memory map, with switchable quirks. Counts the body bytes it
 * managed to hand to the socket per request (it writes in 64 KiB pieces and honours
 * back-pressure, so a client that stops reading stops the count).
 */
async function staticServer(opts: ServerOpts = {}) {
  const files = new Map<string, Uint8Array>();
  const log: { method: string; url: string; headers: IncomingHttpHeaders; bytesSent: number }[] = [];
  const server: Server = createServer(async (req, res) => {
    const entry = { method: req.method!, url: req.url!, headers: req.headers, bytesSent: 0 };
    log.push(entry);
    const key = decodeURIComponent(new URL(req.url!, 'http://x').pathname.slice(1));
    const data = files.get(key);
    if (!data) {
      res.writeHead(opts.missingStatus ?? 404).end();
      return;
    }
    const etag = `"${createHash('md5').update(data).digest('hex')}"`;
    const inm = req.headers['if-none-match'];
    if (inm !== undefined && inm === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    const im = req.headers['if-match'];
    if (im !== undefined && im !== etag) {
      res.writeHead(412).end();
      return;
    }
    let status = 200;
    let body = data;
    const headers: Record<string, string> = { etag, 'content-type': 'application/octet-stream' };
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (m && !opts.ignoreRange) {
      let s: number;
      let e: number;
      if (m[1] === '') {
        s = Math.max(0, data.length - Number(m[2]));
        e = data.length - 1;
      } else {
        s = Number(m[1]);
        e = m[2] === '' ? data.length - 1 : Math.min(Number(m[2]), data.length - 1);
      }
      if (s >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
        return;
      }
      status = 206;
      body = data.subarray(s, e + 1);
      headers['content-range'] = `bytes ${s}-${e}/${data.length}`;
    }
    if (!opts.omitLength) headers['content-length'] = String(body.length);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let closed = false;
    res.on('close', () => (closed = true));
    for (let off = 0; off < body.length && !closed; off += 65536) {
      const piece = body.subarray(off, off + 65536);
      const ok = res.write(piece);
      entry.bytesSent += piece.length;
      if (!ok) {
        await new Promise<void>((r) => {
          const done = () => (res.off('drain', done), res.off('close', done), r());
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    if (!closed) res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const populate: Populate = async (entries) => {
    for (const [k, v] of Object.entries(entries)) files.set(k, v.slice());
  };
  return {
    url,
    files,
    log,
    populate,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// --- Conformance -------------------------------------------------------------------------------

let emu: Emulator;
let n = 0;
beforeAll(async () => {
  emu = await startEmulator({ buckets: ['pub'] });
});
afterAll(async () => {
  await emu?.stop();
});

describeKvStoreConformance(
  'http (emulator S3 URLs)',
  async () => {
    const prefix = `h${++n}/`;
    const writer = new S3Store({ bucket: 'pub', path: prefix, endpoint: `${emu.url}/s3`, credentials: 'anonymous' });
    return {
      store: new HttpStore({ baseUrl: `${emu.url}/s3/pub/${prefix}`, retries: FAST }),
      populate: async (entries) => {
        for (const [k, v] of Object.entries(entries)) await writer.write(k, v);
      },
    };
  },
  { readOnly: true },
);

for (const quirks of [{}, { omitLength: true }, { ignoreRange: true, omitLength: true }, { ignoreRange: true }] as ServerOpts[]) {
  describeKvStoreConformance(
    `http (static server ${JSON.stringify(quirks)})`,
    async () => {
      const srv = await staticServer(quirks);
      return { store: new HttpStore({ baseUrl: srv.url, retries: FAST }), populate: srv.populate, cleanup: srv.close };
    },
    { readOnly: true },
  );
}

// --- Quirks -------------------------------------------------------------------------------------

describe('http: server quirks', () => {
  it('a 1-byte read from a server that ignores Range and omits Content-Length does not download the object', async () => {
    const srv = await staticServer({ ignoreRange: true, omitLength: true });
    try {
      const big = pseudoRandomBytes(64 << 20, 5);
      await srv.populate({ big });
      const store = new HttpStore({ baseUrl: srv.url, retries: FAST });
      const r = await store.read('big', { byteRange: { offset: 0, length: 1 } });
      expect(r.state === 'value' && [...r.value]).toEqual([big[0]]);
      const r2 = await store.read('big', { byteRange: { offset: 1000, length: 10 } });
      expect(r2.state === 'value' && Buffer.compare(r2.value, big.subarray(1000, 1010))).toBe(0);
      await new Promise((res) => setTimeout(res, 100)); // let the server notice the close
      const gets = srv.log.filter((l) => l.method === 'GET');
      expect(gets.length).toBe(2);
      for (const g of gets) expect(g.bytesSent).toBeLessThan(8 << 20); // vs 64 MiB
      console.log(`bytes sent for 1-byte and 10-byte reads of a 64 MiB object: ${gets.map((g) => g.bytesSent).join(', ')}`);
    } finally {
      await srv.close();
    }
  });

  it('suffix reads use HEAD + an absolute range (no bytes=-n) unless enabled', async () => {
    const srv = await staticServer();
    try {
      const v = pseudoRandomBytes(1000, 2);
      await srv.populate({ k: v });
      const store = new HttpStore({ baseUrl: srv.url, retries: FAST });
      const r = await store.read('k', { byteRange: { suffix: 10 } });
      expect(r.state === 'value' && Buffer.compare(r.value, v.subarray(990))).toBe(0);
      expect(srv.log.map((l) => [l.method, l.headers.range])).toEqual([
        ['HEAD', undefined],
        ['GET', 'bytes=990-999'],
      ]);
      srv.log.length = 0;
      const s2 = new HttpStore({ baseUrl: srv.url, retries: FAST, suffixRanges: true });
      const r2 = await s2.read('k', { byteRange: { suffix: 10 } });
      expect(r2.state === 'value' && Buffer.compare(r2.value, v.subarray(990))).toBe(0);
      expect(srv.log.map((l) => [l.method, l.headers.range])).toEqual([['GET', 'bytes=-10']]);
    } finally {
      await srv.close();
    }
  });

  it("range requests use cache: 'no-store'", async () => {
    const srv = await staticServer();
    try {
      await srv.populate({ k: new Uint8Array(100) });
      const caches: (RequestCache | undefined)[] = [];
      const store = new HttpStore({ baseUrl: srv.url, fetch: (u, init) => (caches.push(init.cache), fetch(u, init)) });
      await store.read('k', { byteRange: { offset: 1, length: 2 } });
      expect(caches).toEqual(['no-store']);
    } finally {
      await srv.close();
    }
  });

  it('404 is missing; 403 is an error unless treat403AsMissing', async () => {
    const srv = await staticServer({ missingStatus: 403 });
    try {
      const store = new HttpStore({ baseUrl: srv.url, retries: FAST });
      const e = (await store.read('nope').catch((x: unknown) => x)) as KvStoreError;
      expect(e).toBeInstanceOf(KvStoreError);
      expect(e.status).toBe(403);
      expect(e.key).toBe('nope');
      expect(srv.log.length).toBe(1); // not retried
      const lenient = new HttpStore({ baseUrl: srv.url, treat403AsMissing: true });
      expect(await lenient.read('nope')).toEqual({ state: 'missing', generation: '' });
    } finally {
      await srv.close();
    }
  });

  it('ETag conditions: If-None-Match -> unchanged', async () => {
    const srv = await staticServer();
    try {
      await srv.populate({ k: new Uint8Array([1, 2, 3]) });
      const store = new HttpStore({ baseUrl: srv.url });
      const r = await store.read('k');
      expect(r.generation).toMatch(/^"[0-9a-f]{32}"$/);
      expect(await store.read('k', { ifNotEqual: r.generation })).toEqual({ state: 'unchanged', generation: r.generation });
      expect(srv.log.at(-1)!.headers['if-none-match']).toBe(r.generation);
    } finally {
      await srv.close();
    }
  });

  it('is read-only and cannot list, with typed errors', async () => {
    const store = new HttpStore({ baseUrl: 'http://127.0.0.1:1/data/' });
    await expect(store.write('k', new Uint8Array(1))).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(store.delete('k')).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(store.deleteRange('')).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(store.list('')[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(UnsupportedError);
  });

  it('sends the Authorization header and custom headers only to the base URL origin', async () => {
    const other = await staticServer();
    const seen: IncomingHttpHeaders[] = [];
    const front: Server = createServer((req, res: ServerResponse) => {
      seen.push(req.headers);
      res.writeHead(307, { location: `${other.url}x` }).end();
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    try {
      await other.populate({ x: new Uint8Array([9]) });
      const base = `http://127.0.0.1:${(front.address() as AddressInfo).port}/`;
      const store = new HttpStore({ baseUrl: base, headers: { Authorization: 'Bearer SECRET-http-token-xyz', 'x-extra': '1' } });
      const r = await store.read('x');
      expect(r.state === 'value' && [...r.value]).toEqual([9]);
      expect(seen[0]!.authorization).toBe('Bearer SECRET-http-token-xyz');
      expect(other.log[0]!.headers.authorization).toBeUndefined();
      expect(seen[0]!['x-extra']).toBe('1');
      expect(other.log[0]!.headers['x-extra']).toBeUndefined();
      expect(JSON.stringify(store.spec())).not.toContain('SECRET');
    } finally {
      front.closeAllConnections();
      await new Promise<void>((r) => front.close(() => r()));
      await other.close();
    }
  });
});

describe('http: URLs', () => {
  it('parses and formats base URLs and key URLs', async () => {
    expect(kvstoreFromUrl('https://host/p/')).toEqual({ driver: 'http', base_url: 'https://host/p/', path: '' });
    const s = (await openKvStore(kvstoreFromUrl('https://host/p'), '', new Context())) as HttpStore;
    expect(s.baseUrl).toBe('https://host/p/');
    expect(s.spec()).toEqual({ driver: 'http', base_url: 'https://host/p/' });
    expect(s.keyUrl('a b/c%d/e?f#g')).toBe('https://host/p/a%20b/c%25d/e%3Ff%23g');
    expect(new HttpStore({ baseUrl: 'https://host/p/?sig=1' }).keyUrl('k')).toBe('https://host/p/k?sig=1');
  });
});

describe('browser safety', () => {
  it('the GCS, HTTP and S3 store files import no node: modules', async () => {
    const { readFile } = await import('node:fs/promises');
    for (const f of ['gcs', 'http', 's3', 'http/client', 'http/core', 'http/reply', 'http/secrets', 'http/url', 'keys', 'auth', 'retry']) {
      const src = await readFile(new URL(`../../src/kvstore/${f}.ts`, import.meta.url), 'utf8');
      expect(src, f).not.toMatch(/from ['"]node:|require\(|import\(['"]node:/);
      expect(src, f).not.toMatch(/\bBuffer\b/);
    }
  });
});

describe('http: spec headers', () => {
  it("accepts TensorStore's [\"Name: value\"] array and an object; sends them to the base URL", async () => {
    const { openKvStore: openStore, httpHeaders } = await import('../../src/kvstore/open.js');
    expect(httpHeaders(['X-Api-Key: abc: def', 'Accept:  */*'])).toEqual({ 'X-Api-Key': 'abc: def', Accept: '*/*' });
    expect(httpHeaders({ 'X-A': '1' })).toEqual({ 'X-A': '1' });
    expect(() => httpHeaders(['no colon'])).toThrow(/kvstore\.headers\[0\]/);
    expect(() => httpHeaders({ 'X-A': 1 })).toThrow(/kvstore\.headers\.X-A/);
    const srv = await staticServer();
    try {
      await srv.populate({ k: new Uint8Array([1]) });
      const store = await openStore({ driver: 'http', base_url: srv.url, path: '', headers: ['X-Api-Key: key-from-spec'] }, '', new Context());
      expect((await store.read('k')).state).toBe('value');
      expect(srv.log.at(-1)!.headers['x-api-key']).toBe('key-from-spec');
    } finally {
      await srv.close();
    }
  });
});

describe('http: context', () => {
  it('maps http_request_* resources', () => {
    const context = new Context({ http_request_concurrency: { limit: 3 }, http_request_retries: { initial_delay: '10ms' } });
    expect(context.limiter('http_request_concurrency', 32).limit).toBe(3);
  });
});
