/**
 * Issue 9 #6: keys (many come from stored metadata) must stay inside the opened store's bucket
 * and path on every store. A precomputed `info` scale key `../../priv/secret` over S3 read and
 * overwrote an object in another bucket; over HTTP it fetched outside the base URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvStoreError, SpecError } from '../../src/errors.js';
import { GcsStore } from '../../src/kvstore/gcs.js';
import { HttpStore } from '../../src/kvstore/http.js';
import { keyProblem } from '../../src/kvstore/keys.js';
import type { KvStore } from '../../src/kvstore/kvstore.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { S3Store } from '../../src/kvstore/s3.js';
import { NdArray, open } from '../../src/index.js';
import { type Emulator, startEmulator } from '../../src/testing/index.js';
import { SPECIAL_KEYS } from './conformance.js';
import { tinyServer, type TinyServer } from './tiny-server.js';

const FAST = { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 2 };
const SECRET = new TextEncoder().encode('the private bucket secret!');

/** Keys that would leave the store root somewhere (a URL parser, a decoding server, a Windows path). */
const ESCAPING = [
  '../../priv/secret/data',
  '../x',
  'a/../../x',
  './x',
  'a/./b',
  '..',
  '/etc/passwd',
  '\\etc\\passwd',
  '..\\..\\priv\\secret\\data',
  'a\\..\\..\\x',
  '%2e%2e/%2e%2e/priv/secret/data',
  '%2E%2E%2F%2E%2E%2Fpriv%2Fsecret%2Fdata',
  '..%2f..%2fpriv%2fsecret%2fdata',
  '.%2e/x',
  '%252e%252e/%252e%252e/priv/secret/data',
  '%2Fetc%2Fpasswd',
  'a\0b',
];

let emu: Emulator;
let web: TinyServer;

beforeAll(async () => {
  emu = await startEmulator({ buckets: ['pub', 'priv'] });
  await new S3Store({ bucket: 'priv', endpoint: `${emu.url}/s3`, credentials: 'anonymous' }).write('secret/data', SECRET);
  web = await tinyServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', etag: '"x"' }).end(req.method === 'HEAD' ? undefined : 'outside!');
  });
});
afterAll(async () => {
  await emu?.stop();
  await web?.close();
});

const STORES: Record<string, () => KvStore> = {
  s3: () => new S3Store({ bucket: 'pub', path: 'vol/', endpoint: `${emu.url}/s3`, credentials: 'anonymous', retries: FAST }),
  gcs: () => new GcsStore({ bucket: 'pub', path: 'vol/', endpoint: emu.url, retries: FAST }),
  http: () => new HttpStore({ baseUrl: `${web.url}/base/vol/`, retries: FAST }),
  memory: () => new MemoryStore(),
};

describe('keys that would leave the store are refused on every store', () => {
  it('keyProblem flags every escaping key and none of the conformance suite\'s odd keys', () => {
    for (const k of ESCAPING) expect(keyProblem(k), k).toBeDefined();
    for (const k of [...SPECIAL_KEYS, 'c/0/0', '0.0.0', 'a..b/c', '...', 'a//b', 's0/0-64_0-64_0-64', '.zarray', 'x/.zattrs']) {
      expect(keyProblem(k), k).toBeUndefined();
    }
  });

  for (const [name, make] of Object.entries(STORES)) {
    it(`${name}: read, write and delete refuse escaping keys with a KvStoreError naming the key`, async () => {
      const store = make();
      emu.resetCounters();
      const webBefore = web.seen.length;
      for (const key of ESCAPING) {
        const ops: Promise<unknown>[] = [store.read(key)];
        if (!store.readOnly) ops.push(store.write(key, new Uint8Array([1])), store.delete(key));
        for (const op of ops) {
          const e = await op.then(
            (v) => new Error(`${name} ${JSON.stringify(key)}: resolved ${JSON.stringify(v)}`),
            (x: unknown) => x,
          );
          expect(e, `${name} ${JSON.stringify(key)}`).toBeInstanceOf(KvStoreError);
          expect((e as KvStoreError).key).toBe(key);
          expect((e as KvStoreError).message).toMatch(/invalid key/);
        }
      }
      if (name !== 'http') {
        const e = await store.list('../priv/')[Symbol.asyncIterator]().next().catch((x: unknown) => x);
        expect(e).toBeInstanceOf(KvStoreError);
      }
      // Nothing reached a server, and the private object is intact.
      expect(emu.counters().requests.total).toBe(0);
      expect(web.seen.length).toBe(webBefore);
      const priv = await new S3Store({ bucket: 'priv', endpoint: `${emu.url}/s3`, credentials: 'anonymous' }).read('secret/data');
      expect(priv.state === 'value' && Buffer.from(priv.value).equals(Buffer.from(SECRET))).toBe(true);
    });
  }

  it('keys are URL-encoded per segment: odd characters stay inside the base path', async () => {
    const before = web.seen.length;
    const h = new HttpStore({ baseUrl: `${web.url}/base/vol/`, retries: FAST });
    for (const k of ['a?b', 'a#b', 'a%2Fb', 'x/%2e%2ex', 'sp ace/+/~']) await h.read(k);
    for (const s of web.seen.slice(before)) expect(s.url.startsWith('/base/vol/'), s.url).toBe(true);
    expect(web.seen.slice(before).map((s) => s.url)).toContain('/base/vol/a%252Fb');
  });

  it('a store path with "." or ".." segments is a SpecError', () => {
    expect(() => new S3Store({ bucket: 'pub', path: '../priv/', endpoint: `${emu.url}/s3`, credentials: 'anonymous' })).toThrow(SpecError);
    expect(() => new GcsStore({ bucket: 'pub', path: 'a/../../x/', endpoint: emu.url })).toThrow(SpecError);
  });
});

describe('a precomputed scale key from metadata cannot reach another bucket', () => {
  it('info scale key "../../priv/secret" over S3: reads and writes fail naming the key; the other bucket is untouched', async () => {
    const pub = new S3Store({ bucket: 'pub', path: 'evil/', endpoint: `${emu.url}/s3`, credentials: 'anonymous' });
    const priv = new S3Store({ bucket: 'priv', endpoint: `${emu.url}/s3`, credentials: 'anonymous' });
    const chunk = new Uint8Array(64).fill(42);
    await priv.write('secret/0-4_0-4_0-4', chunk);
    const info = {
      '@type': 'neuroglancer_multiscale_volume',
      data_type: 'uint8',
      num_channels: 1,
      type: 'image',
      scales: [{ key: '../../priv/secret', size: [4, 4, 4], voxel_offset: [0, 0, 0], chunk_sizes: [[4, 4, 4]], encoding: 'raw', resolution: [1, 1, 1] }],
    };
    await pub.write('info', new TextEncoder().encode(JSON.stringify(info)));
    const kvstore = { driver: 's3', bucket: 'pub', path: 'evil/', endpoint: `${emu.url}/s3` };
    const err = await (async () => {
      const vol = await open({ driver: 'neuroglancer_precomputed', kvstore });
      return vol.read();
    })().then(
      (v) => new Error(`read returned ${JSON.stringify(Array.from((v as NdArray).toFlat() as ArrayLike<number>).slice(0, 4))}...`),
      (x: unknown) => x,
    );
    expect(err).toBeInstanceOf(KvStoreError);
    expect((err as Error).message).toContain('../../priv/secret');
    const werr = await (async () => {
      const vol = await open({ driver: 'neuroglancer_precomputed', kvstore });
      await vol.write(NdArray.zeros('uint8', [4, 4, 4, 1]));
    })().then(
      () => new Error('write succeeded'),
      (x: unknown) => x,
    );
    expect(werr).toBeInstanceOf(KvStoreError);
    const r = await priv.read('secret/0-4_0-4_0-4');
    expect(r.state === 'value' && Buffer.from(r.value).equals(Buffer.from(chunk))).toBe(true);
  });
});
