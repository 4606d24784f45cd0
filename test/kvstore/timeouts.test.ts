/**
 * Issue 9 #8: every request has a default timeout (first byte and idle), settable from the
 * context (`{gcs,s3,http}_request_timeout`), and `open()` passes it. Tested with servers that
 * stall; attempts are counted, no wall-clock limit is asserted.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Context } from '../../src/context/context.js';
import { KvStoreError, SpecError } from '../../src/errors.js';
import { GcsStore } from '../../src/kvstore/gcs.js';
import { HttpClient } from '../../src/kvstore/http/client.js';
import { HttpStore } from '../../src/kvstore/http.js';
import { openKvStore } from '../../src/kvstore/open.js';
import { DEFAULT_REQUEST_TIMEOUTS, requestTimeoutsFromJson } from '../../src/kvstore/retry.js';
import { S3Store } from '../../src/kvstore/s3.js';
import { tinyServer } from './tiny-server.js';

const FAST = { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 2 };
const SHORT = { firstByteMs: 150, idleMs: 150 };

/** Accepts every request and never answers. */
const stalled = () => tinyServer(() => new Promise<void>(() => {}));

afterEach(() => {
  vi.useRealTimers();
});

describe('request timeouts', () => {
  it('a server that never answers: each attempt ends at the first_byte timeout, retried, then a KvStoreError', async () => {
    const srv = await stalled();
    try {
      let calls = 0;
      const fetchFn = (u: string, init: RequestInit) => (calls++, fetch(u, init));
      for (const store of [
        new HttpStore({ baseUrl: `${srv.url}/d/`, retries: FAST, timeouts: SHORT, fetch: fetchFn }),
        new GcsStore({ bucket: 'b', endpoint: srv.url, retries: FAST, timeouts: SHORT, fetch: fetchFn }),
        new S3Store({ bucket: 'b', endpoint: srv.url, credentials: 'anonymous', retries: FAST, timeouts: SHORT, fetch: fetchFn }),
      ]) {
        calls = 0;
        const e = (await store.read('k/0').catch((x: unknown) => x)) as KvStoreError;
        expect(e).toBeInstanceOf(KvStoreError);
        expect(e.key).toBe('k/0');
        expect(e.message).toMatch(/no response within 150 ms \(first_byte timeout\)/);
        expect(e.message).toMatch(/gave up after 3 attempts/);
        expect(calls).toBe(3);
      }
    } finally {
      await srv.close();
    }
  });

  it('a body that stops flowing ends at the idle timeout, retried', async () => {
    const srv = await tinyServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100', etag: '"e"' });
      res.write(Buffer.alloc(10, 1)); // ...then nothing more
    });
    try {
      const store = new HttpStore({ baseUrl: `${srv.url}/d/`, retries: FAST, timeouts: SHORT });
      const e = (await store.read('k').catch((x: unknown) => x)) as KvStoreError;
      expect(e).toBeInstanceOf(KvStoreError);
      expect(e.message).toMatch(/no data for 150 ms \(idle timeout\)/);
      expect(srv.seen.length).toBe(3);
    } finally {
      await srv.close();
    }
  });

  it('the idle timeout is between pieces, not for the whole body', async () => {
    const pieces = 8;
    const srv = await tinyServer(async (_req, res) => {
      res.writeHead(200, { 'content-length': String(pieces), etag: '"e"' });
      for (let i = 0; i < pieces; i++) {
        res.write(Buffer.from([i]));
        await new Promise((r) => setTimeout(r, 100));
      }
      res.end();
    });
    try {
      // 8 pieces 100 ms apart take longer than the 500 ms idle timeout in total.
      const store = new HttpStore({ baseUrl: `${srv.url}/d/`, retries: { maxRetries: 0 }, timeouts: { firstByteMs: 500, idleMs: 500 } });
      const r = await store.read('k');
      expect(r.state === 'value' && [...r.value]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(srv.seen.length).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it('open() passes {gcs,s3,http}_request_timeout from the context', async () => {
    const srv = await stalled();
    try {
      const context = new Context({
        http_request_timeout: { first_byte: '120ms', idle: '120ms' },
        http_request_retries: { max_retries: 1, initial_delay: '1ms', max_delay: '2ms' },
        gcs_request_timeout: { first_byte: '130ms', idle: '1s' },
        gcs_request_retries: { max_retries: 1, initial_delay: '1ms', max_delay: '2ms' },
        s3_request_timeout: { first_byte: '140ms' },
        s3_request_retries: { max_retries: 1, initial_delay: '1ms', max_delay: '2ms' },
      });
      for (const [spec, ms] of [
        [{ driver: 'http', base_url: `${srv.url}/d/`, path: '' }, 120],
        [{ driver: 'gcs', bucket: 'b', endpoint: srv.url, path: 'p/' }, 130],
        [{ driver: 's3', bucket: 'b', endpoint: srv.url, path: 'p/' }, 140],
      ] as const) {
        const store = await openKvStore(spec, '', context);
        const e = (await store.read('zarr.json').catch((x: unknown) => x)) as KvStoreError;
        expect(e, spec.driver).toBeInstanceOf(KvStoreError);
        expect(e.message).toContain(`no response within ${ms} ms`);
        expect(e.message).toContain('gave up after 2 attempts: max_retries 1');
      }
    } finally {
      await srv.close();
    }
  });

  it('without a context resource, open() gives every request the 30 s default', async () => {
    const srv = await stalled();
    try {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const store = await openKvStore({ driver: 'http', base_url: `${srv.url}/d/`, path: '' }, '', new Context({ http_request_retries: { max_retries: 0 } }));
      let settled: unknown;
      const p = store.read('k').then(
        () => (settled = 'resolved'),
        (e: unknown) => (settled = e),
      );
      while (srv.seen.length === 0) await vi.advanceTimersByTimeAsync(0).then(() => new Promise((r) => setImmediate(r)));
      await vi.advanceTimersByTimeAsync(DEFAULT_REQUEST_TIMEOUTS.firstByteMs - 100);
      expect(settled).toBeUndefined();
      await vi.advanceTimersByTimeAsync(200);
      await p;
      expect(settled).toBeInstanceOf(KvStoreError);
      expect((settled as Error).message).toContain(`no response within ${DEFAULT_REQUEST_TIMEOUTS.firstByteMs} ms`);
    } finally {
      vi.useRealTimers();
      await srv.close();
    }
  });

  it('defaults, parsing and validation', () => {
    expect(DEFAULT_REQUEST_TIMEOUTS).toEqual({ firstByteMs: 30_000, idleMs: 30_000 });
    expect(new HttpClient().timeouts).toEqual(DEFAULT_REQUEST_TIMEOUTS);
    expect(requestTimeoutsFromJson(undefined)).toEqual(DEFAULT_REQUEST_TIMEOUTS);
    expect(requestTimeoutsFromJson({ first_byte: '2s', idle: '1m30s' })).toEqual({ firstByteMs: 2000, idleMs: 90_000 });
    expect(requestTimeoutsFromJson({ first_byte: 'inf', idle: '0' })).toEqual({ firstByteMs: Infinity, idleMs: Infinity });
    expect(() => requestTimeoutsFromJson({ firstByte: '1s' }, 'context.gcs_request_timeout')).toThrow(/context\.gcs_request_timeout\.firstByte/);
    expect(() => new Context({ s3_request_timeout: { idle: 'soon' } })).toThrow(SpecError);
    expect(() => new Context({ s3_request_timeout: { total: '1s' } })).toThrow(/unknown member/);
    expect(() => new Context({ gcs_request_retries: { total_timeout: '5m' } })).not.toThrow();
  });
});
