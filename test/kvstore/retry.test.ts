import { describe, expect, it } from 'vitest';
import { AbortError, KvStoreError, SpecError } from '../../src/errors.js';
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isRetryableStatus,
  parseDuration,
  retryPolicyFromJson,
  sleep,
  TransientError,
  withRetries,
} from '../../src/kvstore/retry.js';
import { HttpClient } from '../../src/kvstore/http/client.js';

describe('backoff', () => {
  const p = { maxRetries: 32, initialDelayMs: 1000, maxDelayMs: 32000 };

  it('doubles from the initial delay and caps at max_delay', () => {
    const zero = () => 0;
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((a) => backoffDelay(a, p, zero))).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000,
    ]);
    expect(backoffDelay(1000, p, zero)).toBe(32000); // no overflow for huge attempts
  });

  it('adds jitter in [0, min(1s, initial))', () => {
    const almostOne = () => 0.999999;
    expect(backoffDelay(0, p, almostOne)).toBeCloseTo(1999.999, 2);
    const small = { maxRetries: 5, initialDelayMs: 100, maxDelayMs: 10_000 };
    expect(backoffDelay(0, small, almostOne)).toBeLessThan(200);
    expect(backoffDelay(2, small, () => 0.5)).toBe(450);
    for (let i = 0; i < 1000; i++) {
      const d = backoffDelay(1, p);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThan(3000);
      const c = backoffDelay(8, p);
      expect(c).toBe(32000);
    }
  });

  it('parses durations and the context resource JSON', () => {
    expect(parseDuration('1s')).toBe(1000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1m30s')).toBe(90000);
    expect(parseDuration('250us')).toBeCloseTo(0.25);
    expect(parseDuration('0')).toBe(0);
    expect(() => parseDuration('1 s')).toThrow(SpecError);
    expect(() => parseDuration('fast')).toThrow(/invalid duration/);
    expect(retryPolicyFromJson(undefined)).toEqual(DEFAULT_RETRY_POLICY);
    expect(retryPolicyFromJson({ max_retries: 32, initial_delay: '1s', max_delay: '32s', total_timeout: '2m' })).toEqual({
      maxRetries: 32,
      initialDelayMs: 1000,
      maxDelayMs: 32000,
      totalTimeoutMs: 120000,
    });
    expect(retryPolicyFromJson({ max_retries: 2 })).toEqual({ ...DEFAULT_RETRY_POLICY, maxRetries: 2 });
    expect(() => retryPolicyFromJson({ max_retries: -1 })).toThrow(/max_retries/);
    expect(() => retryPolicyFromJson({ retries: 3 })).toThrow(/unknown member/);
  });

  it('classifies statuses', () => {
    for (const s of [408, 429, 500, 502, 503, 504]) expect(isRetryableStatus(s)).toBe(true);
    for (const s of [200, 304, 400, 401, 403, 404, 409, 412, 416, 501, 505]) expect(isRetryableStatus(s)).toBe(false);
  });
});

describe('withRetries', () => {
  const fast = { maxRetries: 3, initialDelayMs: 1, maxDelayMs: 2 };
  const transient = () => new TransientError(new KvStoreError('k', 'boom', { status: 503 }));

  it('retries transient failures up to maxRetries, then throws the final error', async () => {
    let n = 0;
    const e = await withRetries(async () => {
      n++;
      throw transient();
    }, { policy: fast, idempotent: true }).catch((x: unknown) => x);
    expect(n).toBe(4);
    expect(e).toBeInstanceOf(KvStoreError);
    expect((e as KvStoreError).status).toBe(503);
  });

  it('returns once an attempt succeeds; non-transient errors are not retried', async () => {
    let n = 0;
    expect(await withRetries(async () => (++n < 3 ? Promise.reject(transient()) : 'ok'), { policy: fast, idempotent: true })).toBe('ok');
    expect(n).toBe(3);
    let m = 0;
    await expect(
      withRetries(async () => {
        m++;
        throw new KvStoreError('k', 'forbidden', { status: 403 });
      }, { policy: fast, idempotent: true }),
    ).rejects.toMatchObject({ status: 403 });
    expect(m).toBe(1);
  });

  it('does not retry non-idempotent requests', async () => {
    let n = 0;
    await expect(
      withRetries(async () => {
        n++;
        throw transient();
      }, { policy: fast, idempotent: false }),
    ).rejects.toBeInstanceOf(KvStoreError);
    expect(n).toBe(1);
  });

  it('abort during the backoff sleep rejects promptly with AbortError', async () => {
    const ac = new AbortController();
    const p = withRetries(async () => {
      throw transient();
    }, { policy: { maxRetries: 5, initialDelayMs: 10_000, maxDelayMs: 10_000 }, idempotent: true, signal: ac.signal });
    setTimeout(() => ac.abort(), 30);
    await expect(p).rejects.toBeInstanceOf(AbortError);
    await expect(sleep(10, AbortSignal.abort())).rejects.toBeInstanceOf(AbortError);
  });
});

describe('HttpClient retry behaviour (injected fetch)', () => {
  function scripted(statuses: (number | 'reset')[]) {
    const calls: { method: string; headers: Headers }[] = [];
    let i = 0;
    const fetchFn = async (_u: string, init: RequestInit) => {
      calls.push({ method: init.method!, headers: new Headers(init.headers) });
      const s = statuses[Math.min(i++, statuses.length - 1)]!;
      if (s === 'reset') throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
      return new Response(s === 204 ? null : 'x', { status: s });
    };
    return { calls, client: new HttpClient({ fetch: fetchFn, retries: { maxRetries: 5, initialDelayMs: 1, maxDelayMs: 2 } }) };
  }

  it('retries 408/429/5xx and resets on GET; counts retries', async () => {
    const { calls, client } = scripted([503, 'reset', 429, 408, 500, 200]);
    const r = await client.send({ method: 'GET', url: 'http://h/x', key: 'x' });
    expect(r.status).toBe(200);
    expect(calls.length).toBe(6);
    expect(client.stats).toEqual({ requests: 6, retries: 5 });
  });

  it('retries writes and deletes like reads (they are sent idempotently); noRetry tries once', async () => {
    for (const method of ['PUT', 'DELETE', 'POST']) {
      const b = scripted([503, 'reset', 200]);
      expect((await b.client.send({ method, url: 'http://h/x', key: 'x' })).status).toBe(200);
      expect(b.calls.length).toBe(3);
      const a = scripted([503, 200]);
      await expect(a.client.send({ method, url: 'http://h/x', key: 'x', noRetry: true })).rejects.toBeInstanceOf(TransientError);
      expect(a.calls.length).toBe(1);
    }
  });

  it('maps a reset to a KvStoreError naming the key once retries run out', async () => {
    const { client } = scripted(['reset']);
    const e = (await client.send({ method: 'GET', url: 'http://h/x?secret=1', key: 'the/key' }).catch((x: unknown) => x)) as KvStoreError;
    expect(e).toBeInstanceOf(KvStoreError);
    expect(e.message).toContain('"the/key"');
    expect(e.message).toContain('network error');
    expect(e.message).not.toContain('secret=1');
  });
});

describe('HttpClient concurrency', () => {
  it('holds at most `limit` attempts in flight and frees the slot during backoff', async () => {
    const { Limiter } = await import('../../src/util/limiter.js');
    let inFlight = 0;
    let peak = 0;
    let calls = 0;
    const fetchFn = async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      // Every third call fails once, to exercise backoff while others wait.
      return new Response('x', { status: calls % 3 === 0 ? 503 : 200 });
    };
    const client = new HttpClient({ fetch: fetchFn, concurrency: new Limiter(2), retries: { maxRetries: 5, initialDelayMs: 20, maxDelayMs: 20 } });
    const results: { status: number }[] = await Promise.all(Array.from({ length: 12 }, (_, i) => client.send({ method: 'GET', url: `http://h/${i}`, key: String(i) })));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(peak).toBe(2);
    expect(client.stats.retries).toBeGreaterThan(0);
  });
});

describe('HttpClient.getBytes validation', () => {
  const body = (n: number) => new Uint8Array(n).fill(7);
  function client(responses: (() => Response)[]) {
    let i = 0;
    const c = new HttpClient({
      fetch: async () => responses[Math.min(i++, responses.length - 1)]!(),
      retries: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 1 },
    });
    return { c, count: () => i };
  }
  const req = { method: 'GET', url: 'http://h/k', key: 'k', range: { start: 10, end: 20 } };

  it('retries a short 206 body and returns the complete one', async () => {
    const { c, count } = client([
      () => new Response(body(5), { status: 206, headers: { 'content-range': 'bytes 10-19/100' } }),
      () => new Response(body(10), { status: 206, headers: { 'content-range': 'bytes 10-19/100' } }),
    ]);
    const r = await c.getBytes(req);
    expect(r.kind === 'bytes' && r.data.length).toBe(10);
    expect(r.kind === 'bytes' && r.total).toBe(100);
    expect(count()).toBe(2);
  });

  it('rejects a 206 for another range, a missing Content-Range and an overlong body', async () => {
    for (const bad of [
      () => new Response(body(10), { status: 206, headers: { 'content-range': 'bytes 0-9/100' } }),
      () => new Response(body(10), { status: 206 }),
      () => new Response(body(50), { status: 206, headers: { 'content-range': 'bytes 10-19/100' } }),
    ]) {
      const { c, count } = client([bad]);
      await expect(c.getBytes(req)).rejects.toThrow(/invalid 206|truncated/);
      expect(count()).toBe(3); // retried, never returned
    }
  });
});
