/**
 * Issue 9 #9 and the CLI issue's silent retries: errors a retry cannot fix fail at once; an
 * unreachable server fails after a few attempts; every operation's retries are bounded
 * (max_retries and total_timeout) and visible (debug lines per request and retry, one warning
 * after a few failures). Proven by counting attempts and checking error types, not by clocks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Context } from '../../src/context/context.js';
import { KvStoreError, SpecError } from '../../src/errors.js';
import { GcsStore } from '../../src/kvstore/gcs.js';
import { classifyFetchError, HttpClient, WARN_AFTER_FAILURES } from '../../src/kvstore/http/client.js';
import { HttpStore } from '../../src/kvstore/http.js';
import { openKvStore } from '../../src/kvstore/open.js';
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  TransientError,
  UNREACHABLE_MAX_RETRIES,
  withRetries,
} from '../../src/kvstore/retry.js';
import { S3Store } from '../../src/kvstore/s3.js';
import { kvstoreFromUrl } from '../../src/kvstore/spec.js';
import { type LogLevel, setLogLevel, setLogSink } from '../../src/util/log.js';
import { closedPort, tinyServer } from './tiny-server.js';

/** Real delays of the default policy shrunk to milliseconds; counts stay the default's. */
const QUICK = { ...DEFAULT_RETRY_POLICY, initialDelayMs: 1, maxDelayMs: 2 };

/** A fetch that counts calls and otherwise is the real one (or `fail`). */
function counting(fail?: () => never) {
  const calls: string[] = [];
  const f = async (u: string, init: RequestInit) => {
    calls.push(u);
    if (fail) fail();
    return fetch(u, init);
  };
  return { calls, fetch: f };
}

const netError = (code: string) => () => {
  throw new TypeError('fetch failed', { cause: Object.assign(new Error(`${code} something`), { code }) });
};

afterEach(() => {
  setLogSink(undefined);
  setLogLevel('warn');
});

describe('errors a retry cannot fix fail at once', () => {
  it('a base URL or endpoint with user-info is a SpecError that does not repeat the password', async () => {
    const url = 'http://alice:PASS-w0rd-123@127.0.0.1:9/data/';
    for (const make of [
      () => new HttpStore({ baseUrl: url }),
      () => new GcsStore({ bucket: 'b', endpoint: 'http://alice:PASS-w0rd-123@127.0.0.1:9' }),
      () => new S3Store({ bucket: 'b', endpoint: 'http://alice:PASS-w0rd-123@127.0.0.1:9', credentials: 'anonymous' }),
    ]) {
      let e: unknown;
      try {
        make();
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(SpecError);
      expect(String((e as Error).message)).toContain('user name or password');
      expect(String((e as Error).stack)).not.toContain('PASS-w0rd-123');
    }
    const e2 = await openKvStore(kvstoreFromUrl(url), '', new Context()).catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(SpecError);
    expect(String((e2 as Error).stack)).not.toContain('PASS-w0rd-123');
  });

  it('a request fetch refuses to build is tried once (URL with credentials, invalid header, bad port)', async () => {
    for (const thrower of [
      () => {
        throw new TypeError('Request cannot be constructed from a URL that includes credentials: http://bob:PW-secret-9@h/x');
      },
      () => {
        throw new TypeError('Headers.append: "a\nb" is an invalid header value.');
      },
      () => {
        throw new TypeError('fetch failed', { cause: new Error('bad port') });
      },
    ]) {
      const f = counting(thrower as () => never);
      const store = new HttpStore({ baseUrl: 'http://127.0.0.1:9/d/', fetch: f.fetch, retries: QUICK });
      const e = (await store.read('k').catch((x: unknown) => x)) as KvStoreError;
      expect(e).toBeInstanceOf(KvStoreError);
      expect(e.message).toMatch(/request failed/);
      expect(e.message).not.toContain('PW-secret-9');
      expect(f.calls.length).toBe(1);
    }
  });

  it('a redirect to a URL with user-info is followed at most once and fails at once', async () => {
    const srv = await tinyServer((_req, res) => {
      res.writeHead(302, { location: `http://bob:PW-secret-9@127.0.0.1:${srv.port}/y` }).end();
    });
    try {
      for (const headers of [undefined, { 'x-api-key': 'key-123456' }]) {
        const before = srv.seen.length;
        const store = new HttpStore({ baseUrl: `${srv.url}/d/`, headers, retries: QUICK });
        const e = (await store.read('k').catch((x: unknown) => x)) as KvStoreError;
        expect(e).toBeInstanceOf(KvStoreError);
        expect(String(e.stack)).not.toContain('PW-secret-9');
        expect(srv.seen.length - before).toBe(1);
      }
    } finally {
      await srv.close();
    }
  });

  it('classifies fetch failures', () => {
    const sys = (code: string) => new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
    for (const c of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']) {
      expect(classifyFetchError(sys(c)), c).toBe('unreachable');
    }
    for (const c of ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ETIMEDOUT', 'UND_ERR_HEADERS_TIMEOUT']) expect(classifyFetchError(sys(c)), c).toBe('transient');
    for (const c of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT']) {
      expect(classifyFetchError(sys(c)), c).toBe('permanent');
    }
    const agg = new TypeError('fetch failed', { cause: Object.assign(new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]), {}) });
    expect(classifyFetchError(agg)).toBe('unreachable');
    expect(classifyFetchError(new TypeError('Failed to fetch'))).toBe('transient'); // a browser's opaque network error
    expect(classifyFetchError(new TypeError('fetch failed', { cause: new Error('cross origin not allowed for request mode "cors"') }))).toBe('permanent');
    expect(classifyFetchError(new RangeError('x'))).toBe('permanent');
  });
});

describe('retries are bounded', () => {
  it('connection refused on every attempt: 1 + UNREACHABLE_MAX_RETRIES attempts, then a KvStoreError', async () => {
    const port = await closedPort();
    const f = counting();
    const store = new HttpStore({ baseUrl: `http://127.0.0.1:${port}/x.zarr/`, fetch: f.fetch, retries: QUICK });
    const e = (await store.read('zarr.json').catch((x: unknown) => x)) as KvStoreError;
    expect(e).toBeInstanceOf(KvStoreError);
    expect(e.key).toBe('zarr.json');
    expect(e.message).toMatch(/cannot connect/);
    expect(e.message).toContain('ECONNREFUSED');
    expect(e.message).toContain(`gave up after ${1 + UNREACHABLE_MAX_RETRIES} attempts: server unreachable`);
    expect(f.calls.length).toBe(1 + UNREACHABLE_MAX_RETRIES);
    // With the default delays those retries sleep at most this long (jitter at its maximum):
    let worst = 0;
    for (let i = 0; i < UNREACHABLE_MAX_RETRIES; i++) worst += backoffDelay(i, DEFAULT_RETRY_POLICY, () => 0.999999);
    expect(worst).toBeLessThan(20_000);
  });

  it('an unknown host (S3 without an endpoint, no DNS) fails the same way', async () => {
    for (const code of ['ENOTFOUND', 'EAI_AGAIN']) {
      const f = counting(netError(code));
      const store = new S3Store({ bucket: 'bucket', path: 'em/', credentials: 'anonymous', fetch: f.fetch, retries: QUICK });
      const e = (await store.read('zarr.json').catch((x: unknown) => x)) as KvStoreError;
      expect(e).toBeInstanceOf(KvStoreError);
      expect(f.calls.length).toBe(1 + UNREACHABLE_MAX_RETRIES);
      expect(f.calls[0]).toBe('https://bucket.s3.us-east-1.amazonaws.com/em/zarr.json');
    }
  });

  it('other transient failures get max_retries', async () => {
    const f = counting(netError('ECONNRESET'));
    const store = new HttpStore({ baseUrl: 'http://127.0.0.1:9/d/', fetch: f.fetch, retries: { ...QUICK, maxRetries: 7 } });
    const e = (await store.read('k').catch((x: unknown) => x)) as KvStoreError;
    expect(e.message).toContain('gave up after 8 attempts: max_retries 7');
    expect(f.calls.length).toBe(8);
  });

  it('total_timeout ends the retries of one operation (simulated clock)', async () => {
    let t = 0;
    let attempts = 0;
    const e = await withRetries(
      async () => {
        attempts++;
        t += 10_000; // each attempt "takes" 10 s
        throw new TransientError(new KvStoreError('k', 'HTTP 503'));
      },
      {
        policy: { maxRetries: 1000, initialDelayMs: 1, maxDelayMs: 1, totalTimeoutMs: 60_000 },
        now: () => t,
        onGiveUp: (final, n, why) => new Error(`${final.message} after ${n}: ${why}`),
      },
    ).catch((x: unknown) => x);
    expect(attempts).toBe(6);
    expect((e as Error).message).toMatch(/after 6: total_timeout 60 s/);
    expect(DEFAULT_RETRY_POLICY.totalTimeoutMs).toBe(300_000);
  });
});

describe('retries are visible', () => {
  it('debug shows each request and retry; one warning after a few failures; no secrets, no query strings', async () => {
    const lines: [LogLevel, string][] = [];
    setLogSink((level, line) => lines.push([level, line]));
    setLogLevel('debug');
    const port = await closedPort();
    const store = new HttpStore({
      baseUrl: `http://127.0.0.1:${port}/x.zarr/?sig=QUERY-SECRET-77`,
      headers: { 'X-Api-Key': 'HEADER-SECRET-55' },
      retries: QUICK,
    });
    await expect(store.read('zarr.json')).rejects.toBeInstanceOf(KvStoreError);
    const attempts = 1 + UNREACHABLE_MAX_RETRIES;
    const sends = lines.filter(([l, s]) => l === 'debug' && /http: GET http:\/\/127\.0\.0\.1:\d+\/x\.zarr\/zarr\.json$/.test(s));
    const retries = lines.filter(([l, s]) => l === 'debug' && /; retry \d+ of 32 in/.test(s));
    const warns = lines.filter(([l]) => l === 'warn');
    expect(sends.length).toBe(attempts);
    expect(retries.length).toBe(attempts - 1);
    expect(warns.length).toBe(1);
    expect(warns[0]![1]).toContain(`${WARN_AFTER_FAILURES} attempts failed`);
    expect(warns[0]![1]).toContain('zarr.json');
    for (const [, s] of lines) {
      expect(s).not.toContain('QUERY-SECRET-77');
      expect(s).not.toContain('HEADER-SECRET-55');
      expect(s).not.toContain('?');
    }
  });

  it('at the default level, a flaky but successful read logs nothing; a long one warns once', async () => {
    const lines: string[] = [];
    setLogSink((_l, line) => lines.push(line));
    let n = 0;
    const flaky = (failures: number) => async () => (++n <= failures ? new Response('busy', { status: 503 }) : new Response('ok', { status: 200 }));
    const c1 = new HttpClient({ fetch: flaky(2), retries: QUICK });
    expect((await c1.send({ method: 'GET', url: 'http://h/k', key: 'k' })).status).toBe(200);
    expect(lines).toEqual([]);
    n = 0;
    const c2 = new HttpClient({ fetch: flaky(6), retries: QUICK });
    expect((await c2.send({ method: 'GET', url: 'http://h/k', key: 'k' })).status).toBe(200);
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/^volstore warn: http: "k": GET http:\/\/h\/k failed: HTTP 503/);
  });
});
