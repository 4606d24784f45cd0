/**
 * Full-object GCS downloads are checked against `x-goog-hash` crc32c: a mismatch is a transfer
 * error (retried), and a CorruptionError naming the key when it persists. A small GCS-like
 * server of our own flips bytes on demand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptionError } from '../../src/errors.js';
import { GcsStore } from '../../src/kvstore/gcs.js';
import { crc32cBase64 } from '../../src/testing/crc32c.js';
import { pseudoRandomBytes } from './conformance.js';
import { tinyServer, type TinyServer } from './tiny-server.js';

const FAST = { maxRetries: 3, initialDelayMs: 1, maxDelayMs: 2 };
const DATA = pseudoRandomBytes(100_000, 7);

let srv: TinyServer;
/** Responses still to corrupt (one flipped byte each); -1 = all. */
let corrupt = 0;
/** Extra response headers. */
let extra: Record<string, string> = {};

beforeAll(async () => {
  srv = await tinyServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    if (!u.pathname.startsWith('/storage/v1/b/b/o/') || u.searchParams.get('alt') !== 'media') {
      res.writeHead(404).end();
      return;
    }
    let body = Buffer.from(DATA);
    let status = 200;
    const headers: Record<string, string> = {
      'x-goog-generation': '17',
      'x-goog-hash': `crc32c=${crc32cBase64(DATA)},md5=AAAAAAAAAAAAAAAAAAAAAA==`,
      'x-goog-stored-content-encoding': 'identity',
      ...extra,
    };
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (m) {
      const s = Number(m[1]);
      const e = Math.min(Number(m[2]), DATA.length - 1);
      body = body.subarray(s, e + 1);
      status = 206;
      headers['content-range'] = `bytes ${s}-${e}/${DATA.length}`;
    }
    if (corrupt !== 0) {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0x10;
      if (corrupt > 0) corrupt--;
    }
    headers['content-length'] = String(body.length);
    res.writeHead(status, headers).end(body);
  });
});
afterAll(() => srv.close());

const store = () => new GcsStore({ bucket: 'b', endpoint: srv.url, retries: FAST });

describe('gcs: x-goog-hash crc32c on whole-object reads', () => {
  it('the helper spells CRC-32C as GCS does (golden vector)', () => {
    expect(crc32cBase64(new TextEncoder().encode('123456789'))).toBe('4waSgw=='); // 0xE3069283
  });

  it('a corrupted transfer is retried and the exact bytes are returned', async () => {
    corrupt = 2;
    const before = srv.seen.length;
    const r = await store().read('k');
    expect(r.state === 'value' && Buffer.from(r.value).equals(Buffer.from(DATA))).toBe(true);
    expect(srv.seen.length - before).toBe(3);
  });

  it('a mismatch that persists is a CorruptionError naming the key', async () => {
    corrupt = -1;
    try {
      const before = srv.seen.length;
      const e = await store().read('vol/c/0/0').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(CorruptionError);
      expect((e as CorruptionError).key).toBe('vol/c/0/0');
      expect((e as Error).message).toMatch(/crc32c .* differs/);
      expect(srv.seen.length - before).toBe(1 + FAST.maxRetries);
    } finally {
      corrupt = 0;
    }
  });

  it('ranged reads and transcoded objects are not checked against the whole-object hash', async () => {
    const r = await store().read('k', { byteRange: { offset: 10, length: 100 } });
    expect(r.state === 'value' && Buffer.from(r.value).equals(Buffer.from(DATA.subarray(10, 110)))).toBe(true);
    extra = { 'x-goog-stored-content-encoding': 'gzip', 'x-goog-hash': 'crc32c=AAAAAA==' };
    try {
      const w = await store().read('k');
      expect(w.state === 'value' && Buffer.from(w.value).equals(Buffer.from(DATA))).toBe(true);
    } finally {
      extra = {};
    }
  });

  it('a whole-object answer to a range that covers it is checked too', async () => {
    corrupt = -1;
    try {
      await expect(store().read('k', { byteRange: { offset: 0, length: DATA.length } })).rejects.toBeInstanceOf(CorruptionError);
    } finally {
      corrupt = 0;
    }
  });
});
