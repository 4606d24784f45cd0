import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import { AbortError, KvStoreError } from '../../src/errors.js';
import { Limiter } from '../../src/util/limiter.js';
import { GcsStore, gcsEndpoint } from '../../src/kvstore/gcs.js';
import { Context } from '../../src/context/context.js';
import { openKvStore } from '../../src/kvstore/open.js';
import { kvstoreFromUrl } from '../../src/kvstore/spec.js';
import { describeKvStoreConformance, pseudoRandomBytes } from './conformance.js';

let emu: Emulator;
let n = 0;
const FAST = { maxRetries: 8, initialDelayMs: 2, maxDelayMs: 20 };
const TOKEN = 'ya29.SECRET-TOKEN-abcdef0123456789';

beforeAll(async () => {
  emu = await startEmulator({ buckets: ['conf', 'faulty'], seed: 42 });
});
afterAll(async () => {
  await emu?.stop();
});

describeKvStoreConformance('gcs (emulator)', async () => ({
  store: new GcsStore({ bucket: 'conf', path: `t${++n}/`, endpoint: emu.url, retries: FAST }),
}));

/** A tiny server recording the headers it receives; `handler` answers. */
async function recordingServer(handler: (url: string, res: import('node:http').ServerResponse) => void) {
  const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ url: req.url!, headers: req.headers });
    handler(req.url!, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('gcs: URLs, endpoint and context', () => {
  it('opens gs:// URLs through the one spec parser', async () => {
    expect(kvstoreFromUrl('gs://bucket/path/to/')).toEqual({ driver: 'gcs', bucket: 'bucket', path: 'path/to/' });
    expect(kvstoreFromUrl('gs://bucket')).toEqual({ driver: 'gcs', bucket: 'bucket', path: '' });
    expect(kvstoreFromUrl('gs://bucket/a%20b/')).toEqual({ driver: 'gcs', bucket: 'bucket', path: 'a b/' });
    const s = await openKvStore({ ...kvstoreFromUrl('gs://my-bucket/data/'), endpoint: 'http://127.0.0.1:1' }, '', new Context());
    expect(s.url).toBe('gs://my-bucket/data/');
    // The explicit endpoint stays in the spec: reopening the spec reaches the same server.
    expect(s.spec()).toEqual({ driver: 'gcs', bucket: 'my-bucket', path: 'data/', endpoint: 'http://127.0.0.1:1' });
  });

  it('resolves the endpoint from option, TENSORSTORE_GCS_HTTP_URL, STORAGE_EMULATOR_HOST', () => {
    const saved = { a: process.env.TENSORSTORE_GCS_HTTP_URL, b: process.env.STORAGE_EMULATOR_HOST };
    try {
      delete process.env.TENSORSTORE_GCS_HTTP_URL;
      delete process.env.STORAGE_EMULATOR_HOST;
      expect(gcsEndpoint()).toBe('https://storage.googleapis.com');
      process.env.STORAGE_EMULATOR_HOST = 'localhost:9023';
      expect(gcsEndpoint()).toBe('http://localhost:9023');
      process.env.TENSORSTORE_GCS_HTTP_URL = 'http://127.0.0.1:4443/';
      expect(gcsEndpoint()).toBe('http://127.0.0.1:4443');
      expect(gcsEndpoint('https://example.test')).toBe('https://example.test');
    } finally {
      if (saved.a === undefined) delete process.env.TENSORSTORE_GCS_HTTP_URL;
      else process.env.TENSORSTORE_GCS_HTTP_URL = saved.a;
      if (saved.b === undefined) delete process.env.STORAGE_EMULATOR_HOST;
      else process.env.STORAGE_EMULATOR_HOST = saved.b;
    }
  });

  it('maps context resources (gcs_request_concurrency, gcs_request_retries, gcs_user_project)', async () => {
    const context = new Context({
      gcs_request_concurrency: { limit: 7 },
      gcs_request_retries: { max_retries: 3, initial_delay: '500ms', max_delay: '4s' },
      gcs_user_project: { project_id: 'billing-proj' },
    });
    const s = (await openKvStore({ driver: 'gcs', bucket: 'b', path: '', endpoint: 'http://127.0.0.1:1' }, '', context)) as GcsStore;
    expect(s.userProject).toBe('billing-proj');
    expect(context.limiter('gcs_request_concurrency', 32).limit).toBe(7);
    expect(() => new Context({ gcs_request_retries: { initial_delay: 'soon' } })).toThrow(/initial_delay/);
  });

  it('sends userProject and a cache-busting parameter on reads', async () => {
    const urls: string[] = [];
    const store = new GcsStore({
      bucket: 'conf',
      endpoint: emu.url,
      userProject: 'payer',
      fetch: (u, init) => (urls.push(u), fetch(u, init)),
    });
    await store.write('up/k', new Uint8Array([1, 2, 3]));
    const a = await store.read('up/k');
    const b = await store.read('up/k');
    expect(a.state).toBe('value');
    expect(b.state).toBe('value');
    expect(urls.every((u) => new URL(u).searchParams.get('userProject') === 'payer')).toBe(true);
    const reads = urls.filter((u) => u.includes('alt=media')).map((u) => new URL(u).searchParams.get('_vs'));
    expect(reads.length).toBe(2);
    expect(reads[0]).not.toBe(reads[1]);
  });
});

describe('gcs: uploads', () => {
  it('resumable upload above the threshold, also under faults', async () => {
    const store = new GcsStore({
      bucket: 'conf',
      path: 'resumable/',
      endpoint: emu.url,
      retries: FAST,
      resumableThreshold: 300 << 10,
      resumableChunkSize: 256 << 10,
    });
    const big = pseudoRandomBytes(1_100_000, 3);
    emu.resetCounters();
    const w = await store.write('big', big);
    expect(w.ok).toBe(true);
    expect(emu.counters().requests.byMethod.PUT).toBe(5); // ceil(1.1 MB / 256 KiB) chunks
    const r = await store.read('big');
    expect(r.state === 'value' && Buffer.compare(r.value, big)).toBe(0);
    expect(r.generation).toBe(w.ok && w.generation);
    // Conditional resumable writes.
    expect(await store.write('big', big, { ifEqual: '' })).toEqual({ ok: false });
    const w2 = await store.write('big', big.subarray(1), { ifEqual: r.generation });
    expect(w2.ok).toBe(true);
    // Faults during the chunks: the session is queried and resumed.
    emu.setFaults('503:0.2,reset:0.05');
    try {
      for (let i = 0; i < 3; i++) {
        const v = pseudoRandomBytes(900_000, 10 + i);
        const wf = await store.write(`f${i}`, v);
        expect(wf.ok).toBe(true);
        emu.setFaults(undefined);
        const rf = await store.read(`f${i}`);
        expect(rf.state === 'value' && Buffer.compare(rf.value, v)).toBe(0);
        emu.setFaults('503:0.2,reset:0.05');
      }
    } finally {
      emu.setFaults(undefined);
    }
  });
});

describe('gcs: faults, fail-fast, abort', () => {
  it('200 reads under 503:0.2,reset:0.05 return exact bytes; faults are counted and retried', async () => {
    const store = new GcsStore({ bucket: 'faulty', path: 'f/', endpoint: emu.url, retries: FAST });
    const objects = Array.from({ length: 20 }, (_, i) => pseudoRandomBytes(1000 + i * 997, i + 1));
    for (const [i, v] of objects.entries()) expect((await store.write(`o${i}`, v)).ok).toBe(true);
    emu.resetCounters();
    const before = { ...store.stats };
    emu.setFaults('503:0.2,reset:0.05');
    try {
      for (let i = 0; i < 200; i++) {
        const k = i % objects.length;
        const v = objects[k]!;
        const kind = i % 4;
        if (kind === 0) {
          const r = await store.read(`o${k}`);
          expect(r.state === 'value' && Buffer.compare(r.value, v)).toBe(0);
        } else if (kind === 1) {
          const r = await store.read(`o${k}`, { byteRange: { offset: 17, length: 100 } });
          expect(r.state === 'value' && Buffer.compare(r.value, v.subarray(17, 117))).toBe(0);
        } else if (kind === 2) {
          const r = await store.read(`o${k}`, { byteRange: { suffix: 64 } });
          expect(r.state === 'value' && Buffer.compare(r.value, v.subarray(v.length - 64))).toBe(0);
        } else {
          const r = await store.read(`o${k}`, { byteRange: { offset: 500 } });
          expect(r.state === 'value' && Buffer.compare(r.value, v.subarray(500))).toBe(0);
        }
      }
    } finally {
      emu.setFaults(undefined);
    }
    const c = emu.counters();
    const retries = store.stats.retries - before.retries;
    const requests = store.stats.requests - before.requests;
    console.log(`faults: ${JSON.stringify(c.faults)}; client requests ${requests}, retries ${retries}`);
    expect(c.faults['503']).toBeGreaterThan(10);
    expect(c.faults['reset']).toBeGreaterThan(0);
    expect(retries).toBe((c.faults['503'] ?? 0) + (c.faults['reset'] ?? 0));
    expect(requests).toBe(200 + retries);
  });

  it('truncated bodies are retried, never returned short', async () => {
    const store = new GcsStore({ bucket: 'faulty', path: 't/', endpoint: emu.url, retries: FAST });
    const v = pseudoRandomBytes(200_000, 9);
    await store.write('x', v);
    emu.resetCounters();
    emu.setFaults('truncate:0.3');
    try {
      for (let i = 0; i < 30; i++) {
        const r = await store.read('x', i % 2 ? { byteRange: { offset: 1000, length: 150_000 } } : {});
        const want = i % 2 ? v.subarray(1000, 151_000) : v;
        expect(r.state === 'value' && Buffer.compare(r.value, want)).toBe(0);
      }
    } finally {
      emu.setFaults(undefined);
    }
    expect(emu.counters().faults['truncate']).toBeGreaterThan(0);
  });

  it('400 and 403 fail fast with a KvStoreError naming key and status, without the token', async () => {
    const store = new GcsStore({ bucket: 'faulty', endpoint: emu.url, retries: FAST, auth: { bearerToken: TOKEN } });
    for (const status of [400, 403]) {
      emu.setFaults(`${status}:1`);
      emu.resetCounters();
      const before = store.stats.requests;
      const err = await store.read('some/key').catch((e: unknown) => e);
      emu.setFaults(undefined);
      expect(err).toBeInstanceOf(KvStoreError);
      const e = err as KvStoreError;
      expect(e.status).toBe(status);
      expect(e.key).toBe('some/key');
      expect(e.message).toContain('"some/key"');
      expect(e.message).toContain(`HTTP ${status}`);
      expect(e.message).not.toContain(TOKEN);
      expect(store.stats.requests - before).toBe(1);
      expect(emu.counters().requests.total).toBe(1);
    }
  });

  it('writes are retried like reads, conditional or not (they are sent idempotently)', async () => {
    const store = new GcsStore({ bucket: 'faulty', endpoint: emu.url, retries: FAST });
    emu.setFaults('503:1');
    try {
      const before = store.stats.requests;
      const e = (await store.write('w', new Uint8Array(3)).catch((x: unknown) => x)) as KvStoreError;
      expect(e).toBeInstanceOf(KvStoreError);
      expect(e.status).toBe(503);
      expect(e.message).toMatch(/gave up after 9 attempts/);
      expect(store.stats.requests - before).toBe(1 + FAST.maxRetries);
      const before2 = store.stats.requests;
      await expect(store.write('w', new Uint8Array(3), { ifEqual: '' })).rejects.toMatchObject({ status: 503 });
      expect(store.stats.requests - before2).toBe(1 + FAST.maxRetries);
    } finally {
      emu.setFaults(undefined);
    }
  });

  it('an AbortSignal stops an in-flight request promptly', async () => {
    const store = new GcsStore({ bucket: 'faulty', endpoint: emu.url, retries: FAST });
    await store.write('slow', new Uint8Array(10));
    emu.setLatency(3000);
    try {
      const ac = new AbortController();
      const p = store.read('slow', { signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await expect(p).rejects.toBeInstanceOf(AbortError);
    } finally {
      emu.setLatency(0);
    }
  });

  it('per-attempt timeouts are retried, then reported', async () => {
    const store = new GcsStore({ bucket: 'faulty', endpoint: emu.url, retries: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 2 }, timeouts: { firstByteMs: 100 } });
    emu.setLatency(1000);
    try {
      const before = store.stats.requests;
      const e = (await store.read('slow').catch((x: unknown) => x)) as KvStoreError;
      expect(e).toBeInstanceOf(KvStoreError);
      expect(e.message).toMatch(/no response within 100 ms \(first_byte timeout\)/);
      expect(store.stats.requests - before).toBe(3);
    } finally {
      emu.setLatency(0);
    }
  });

  it('an AbortSignal stops the retry backoff', async () => {
    const store = new GcsStore({
      bucket: 'faulty',
      endpoint: emu.url,
      retries: { maxRetries: 10, initialDelayMs: 5000, maxDelayMs: 5000 },
    });
    emu.setFaults('503:1');
    try {
      const ac = new AbortController();
      const p = store.read('x', { signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      await expect(p).rejects.toBeInstanceOf(AbortError);
    } finally {
      emu.setFaults(undefined);
    }
  });
});

describe('gcs: auth', () => {
  it('sends the bearer token to the endpoint (emulator counts authorized requests)', async () => {
    const store = new GcsStore({ bucket: 'conf', endpoint: emu.url, auth: { bearerToken: TOKEN } });
    emu.resetCounters();
    await store.write('auth/k', new Uint8Array([1]));
    await store.read('auth/k');
    const c = emu.counters();
    expect(c.requests.authorized).toBe(2);
    expect(c.requests.anonymous).toBe(0);
  });

  it('calls a token provider per request; anonymous sends nothing', async () => {
    let calls = 0;
    const store = new GcsStore({ bucket: 'conf', endpoint: emu.url, auth: async () => (++calls, TOKEN) });
    emu.resetCounters();
    await store.read('auth/k');
    expect(calls).toBe(1);
    expect(emu.counters().requests.authorized).toBe(1);
    const anon = new GcsStore({ bucket: 'conf', endpoint: emu.url });
    emu.resetCounters();
    await anon.read('auth/k');
    expect(emu.counters().requests.anonymous).toBe(1);
  });

  it('never sends the token to another origin, even through a redirect', async () => {
    const other = await recordingServer((_u, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('nope');
    });
    const endpoint = await recordingServer((u, res) => {
      res.writeHead(302, { location: `${other.url}${u}` });
      res.end();
    });
    try {
      const store = new GcsStore({ bucket: 'b', endpoint: endpoint.url, auth: { bearerToken: TOKEN }, retries: FAST });
      const r = await store.read('k');
      expect(r.state).toBe('missing');
      expect(endpoint.seen[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(other.seen.length).toBeGreaterThan(0);
      expect(other.seen.every((s) => s.headers.authorization === undefined)).toBe(true);
      expect(JSON.stringify(store.spec())).not.toContain(TOKEN);
    } finally {
      await other.close();
      await endpoint.close();
    }
  });

  it('redacts a token echoed back by a server in an error', async () => {
    const echo = await recordingServer((_u, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 401, message: `bad credentials Bearer ${TOKEN}` } }));
    });
    try {
      const store = new GcsStore({ bucket: 'b', endpoint: echo.url, auth: { bearerToken: TOKEN }, retries: FAST });
      const e = (await store.read('k').catch((x: unknown) => x)) as KvStoreError;
      expect(e).toBeInstanceOf(KvStoreError);
      expect(e.status).toBe(401);
      expect(e.message).not.toContain(TOKEN);
      expect(e.message).toContain('[redacted]');
    } finally {
      await echo.close();
    }
  });

  it("explicit 'adc' without credentials fails clearly; the default falls back to anonymous", async () => {
    const saved = { ...process.env };
    const seen: (string | null)[] = [];
    const fake = async (_u: string, init: RequestInit) => (seen.push(new Headers(init.headers).get('authorization')), new Response(null, { status: 404 }));
    try {
      process.env.GOOGLE_APPLICATION_CREDENTIALS = '/nonexistent/volstore-test-credentials.json';
      delete process.env.STORAGE_EMULATOR_HOST;
      delete process.env.TENSORSTORE_GCS_HTTP_URL;
      const adc = new GcsStore({ bucket: 'b', auth: 'adc', fetch: fake, retries: FAST });
      await expect(adc.read('k')).rejects.toThrow(/Application Default Credentials/);
      const dflt = new GcsStore({ bucket: 'b', fetch: fake, retries: FAST });
      expect(dflt.endpoint).toBe('https://storage.googleapis.com');
      expect(await dflt.read('k')).toEqual({ state: 'missing', generation: '' });
      expect(seen).toEqual([null]);
    } finally {
      for (const k of ['GOOGLE_APPLICATION_CREDENTIALS', 'STORAGE_EMULATOR_HOST', 'TENSORSTORE_GCS_HTTP_URL']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  it('takes generations from metadata when x-goog-generation is not exposed', async () => {
    const store0 = new GcsStore({ bucket: 'conf', endpoint: emu.url });
    const w = await store0.write('hidden/k', new TextEncoder().encode('0123456789'));
    const hiding = (u: string, init: RequestInit) =>
      fetch(u, init).then((res) => {
        const h = new Headers(res.headers);
        h.delete('x-goog-generation');
        return new Response(res.body, { status: res.status, statusText: res.statusText, headers: h });
      });
    const store = new GcsStore({ bucket: 'conf', endpoint: emu.url, fetch: hiding });
    const r = await store.read('hidden/k', { byteRange: { offset: 2, length: 3 } });
    expect(r.state === 'value' && new TextDecoder().decode(r.value)).toBe('234');
    expect(r.generation).toBe(w.ok && w.generation);
    const r2 = await store.read('hidden/k', { ifNotEqual: r.generation });
    expect(r2).toEqual({ state: 'unchanged', generation: r.generation });
  });
});
