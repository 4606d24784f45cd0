/**
 * Issue 9 #2: a write or delete the server did not perform must throw a typed KvStoreError
 * naming the key and the status, on every store. `{ok: false}` (and `false` from delete) mean
 * ONLY "the precondition failed".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvStoreError, ReadOnlyError } from '../../src/errors.js';
import { GcsStore } from '../../src/kvstore/gcs.js';
import { HttpStore } from '../../src/kvstore/http.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { S3Store } from '../../src/kvstore/s3.js';
import { tinyServer, type TinyServer } from './tiny-server.js';

const FAST = { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 2 };
const CREDS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret-example-key' };

/** The status (and error body) every write/delete request gets; reads find nothing. */
let answer: { status: number; body: string } = { status: 200, body: '' };
let server: TinyServer;

beforeAll(async () => {
  server = await tinyServer((req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : 'no such key');
      return;
    }
    res.writeHead(answer.status, { 'content-type': answer.body.startsWith('<') ? 'application/xml' : 'application/json' }).end(answer.body);
  });
});
afterAll(() => server.close());

const s3Error = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} says the server</Message></Error>`;
const gcsError = (code: number, message: string) => JSON.stringify({ error: { code, message, errors: [{ reason: 'x', message }] } });

async function expectThrowsNaming(p: Promise<unknown>, key: string, status: number): Promise<void> {
  const e = await p.then(
    (v) => new Error(`resolved with ${JSON.stringify(v)} instead of throwing`),
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(KvStoreError);
  expect((e as KvStoreError).key).toBe(key);
  expect((e as KvStoreError).status).toBe(status);
  expect((e as KvStoreError).message).toContain(`"${key}"`);
  expect((e as KvStoreError).message).toContain(`HTTP ${status}`);
}

describe('s3: writes and deletes the server did not perform throw', () => {
  const store = () => new S3Store({ bucket: 'b', path: 'vol/', endpoint: server.url, credentials: CREDS, retries: FAST });

  for (const [status, code] of [
    [404, 'NoSuchBucket'],
    [409, 'OperationAborted'],
    [403, 'AccessDenied'],
    [400, 'InvalidRequest'],
  ] as const) {
    it(`an unconditional PUT answered ${status} ${code} throws`, async () => {
      answer = { status, body: s3Error(code) };
      await expectThrowsNaming(store().write('c/0/0', new Uint8Array([1, 2, 3])), 'c/0/0', status);
    });
  }

  it('an unconditional DELETE answered 412 or 409 throws', async () => {
    for (const status of [412, 409]) {
      answer = { status, body: s3Error('Whatever') };
      await expectThrowsNaming(store().delete('c/0/1'), 'c/0/1', status);
    }
  });

  it('{ok: false} only for failed preconditions; a missing bucket under If-None-Match throws', async () => {
    answer = { status: 412, body: s3Error('PreconditionFailed') };
    expect(await store().write('k', new Uint8Array(1), { ifEqual: '' })).toEqual({ ok: false });
    expect(await store().write('k', new Uint8Array(1), { ifEqual: '"abc"#tok' })).toEqual({ ok: false });
    answer = { status: 404, body: s3Error('NoSuchKey') };
    expect(await store().write('k', new Uint8Array(1), { ifEqual: '"abc"' })).toEqual({ ok: false });
    answer = { status: 404, body: s3Error('NoSuchBucket') };
    await expectThrowsNaming(store().write('k', new Uint8Array(1), { ifEqual: '' }), 'k', 404);
    await expectThrowsNaming(store().write('k', new Uint8Array(1), { ifEqual: '"abc"' }), 'k', 404);
  });
});

describe('gcs: writes and deletes the server did not perform throw', () => {
  const store = () => new GcsStore({ bucket: 'b', path: 'vol/', endpoint: server.url, retries: FAST });

  for (const status of [412, 404, 409, 403, 400]) {
    it(`an unconditional upload answered ${status} throws`, async () => {
      answer = { status, body: gcsError(status, 'not done') };
      await expectThrowsNaming(store().write('c/0/0', new Uint8Array([1, 2, 3])), 'c/0/0', status);
    });
  }

  it('an unconditional resumable upload answered 412 throws', async () => {
    answer = { status: 412, body: gcsError(412, 'not done') };
    const big = new GcsStore({ bucket: 'b', endpoint: server.url, retries: FAST, resumableThreshold: 10 });
    await expectThrowsNaming(big.write('big', new Uint8Array(100)), 'big', 412);
  });

  it('an unconditional DELETE answered 412 throws; a 404 is "already missing"', async () => {
    answer = { status: 412, body: gcsError(412, 'not done') };
    await expectThrowsNaming(store().delete('c/0/1'), 'c/0/1', 412);
    answer = { status: 404, body: gcsError(404, 'No such object') };
    expect(await store().delete('c/0/1')).toBe(true);
  });

  it('{ok: false} only for failed preconditions', async () => {
    answer = { status: 412, body: gcsError(412, 'conditionNotMet') };
    expect(await store().write('k', new Uint8Array(1), { ifEqual: '' })).toEqual({ ok: false });
    expect(await store().write('k', new Uint8Array(1), { ifEqual: '123' })).toEqual({ ok: false });
    expect(await store().delete('k', { ifEqual: '123' })).toBe(false);
    answer = { status: 404, body: gcsError(404, 'bucket not found') };
    await expectThrowsNaming(store().write('k', new Uint8Array(1), { ifEqual: '' }), 'k', 404);
  });
});

describe('memory and http', () => {
  it('memory writes and deletes always happen', async () => {
    const m = new MemoryStore();
    const w = await m.write('a/b', new Uint8Array([7]));
    expect(w.ok).toBe(true);
    expect((await m.read('a/b')).state).toBe('value');
    expect(await m.delete('a/b')).toBe(true);
    expect((await m.read('a/b')).state).toBe('missing');
  });

  it('the http store refuses writes with a typed error', async () => {
    const h = new HttpStore({ baseUrl: `${server.url}/x/` });
    await expect(h.write('k', new Uint8Array(1))).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(h.delete('k')).rejects.toBeInstanceOf(ReadOnlyError);
  });
});
