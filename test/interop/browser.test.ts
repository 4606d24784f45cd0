/**
 * The main entry in a real browser: Debian's Chromium (/usr/bin/chromium, driven by
 * playwright-core) loads an esbuild browser bundle of test/interop/browser-entry.ts from a page
 * served on one 127.0.0.1 origin and reads, cross-origin (CORS preflights for `Range`), volumes
 * that Node wrote with volstore to the built-in GCS emulator on another:
 *  - zarr3 sharded (sharding_indexed; inner bytes + zstd + crc32c, index bytes + crc32c), with a
 *    fill-valued inner chunk left out of its shard; whole array and a strided, rank-dropping view;
 *  - zarr3 unsharded (bytes + gzip), int32;
 *  - zarr v2 blosc (lz4, byte shuffle), float64;
 *  - the page writes a sharded array (whole, then a partial overwrite); Node reads it exactly;
 *  - corruption: a flipped byte in an inner chunk and in a shard index, written from Node, make
 *    the in-page read fail with a CorruptionError (instanceof, code and name) naming crc32c, with
 *    the same message as in Node; an aborted read fails with name 'AbortError'.
 * So wasm (crc32c kernel, zstd, blosc), lazy driver chunks, fetch + CORS and typed errors all work
 * in a browser main thread, and the values are bit-exact with what Node wrote. Everything runs
 * twice: with a plain bundle and a minified one (as apps ship; minifiers rename classes).
 *
 * Skipped (with a message) when /usr/bin/chromium is missing; .ci/run installs it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DataType, NdArray, open, type Selection } from '../../src/index.js';
import { type Emulator, startEmulator } from '../../src/testing/index.js';
import type { BrowserReadRequest, BrowserReadResult } from './browser-entry.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`browser.test.ts: skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const BUCKET = 'vol'; // a valid GCS bucket name (3-63 characters)

// ---------------------------------------------------------------------------------------------
// Test volumes (written from Node) and their expected values, computed independently of volstore.

interface Case {
  name: string;
  path: string;
  dtype: DataType;
  shape: number[];
  values: number[];
  spec: (endpoint: string) => Record<string, unknown>;
  selection: (number | [number, number] | [number, number, number] | null)[];
}

const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Values of a rank-n C-order array at the view `sel`: integers drop their dim. */
function expectedSlice(values: readonly number[], shape: readonly number[], sel: Case['selection']): { shape: number[]; values: number[] } {
  const perDim = shape.map((n, d) => {
    const t = sel[d];
    if (t === null || t === undefined) return { idx: [...Array(n).keys()], keep: true };
    if (typeof t === 'number') return { idx: [t], keep: false };
    const [a, b, step = 1] = t;
    const idx: number[] = [];
    for (let i = a; i < b; i += step) idx.push(i);
    return { idx, keep: true };
  });
  const strides = shape.map((_, d) => product(shape.slice(d + 1)));
  const out: number[] = [];
  const rec = (d: number, off: number) => {
    if (d === shape.length) return void out.push(values[off]!);
    for (const i of perDim[d]!.idx) rec(d + 1, off + i * strides[d]!);
  };
  rec(0, 0);
  return { shape: perDim.filter((p) => p.keep).map((p) => p.idx.length), values: out };
}

const SHARDED_SHAPE = [37, 45, 29];
const shardedValues = (() => {
  const [X, Y, Z] = SHARDED_SHAPE as [number, number, number];
  const v: number[] = [];
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      for (let z = 0; z < Z; z++) {
        // Inner chunk [0,8)^3 of shard c/0/0/0 is all fill value: it is left out of the shard.
        const i = (x * Y + y) * Z + z;
        v.push(x < 8 && y < 8 && z < 8 ? 0 : (x * 1000 + y * 31 + z + (Math.imul(i, 2654435761) >>> 28)) & 0xffff);
      }
    }
  }
  return v;
})();

const shardedSpec = (sub: string) => (endpoint: string) => ({
  driver: 'zarr3',
  kvstore: { driver: 'gcs', bucket: BUCKET, path: `${sub}/`, endpoint },
  create: true,
  dtype: 'uint16',
  schema: {
    domain: { shape: SHARDED_SHAPE },
    chunk_layout: { write_chunk: { shape: [16, 16, 16] }, read_chunk: { shape: [8, 8, 8] } },
  },
  metadata: {
    codecs: [
      {
        name: 'sharding_indexed',
        configuration: {
          chunk_shape: [8, 8, 8],
          codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd', configuration: { level: 3, checksum: false } }, { name: 'crc32c' }],
          index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }],
          index_location: 'end',
        },
      },
    ],
  },
});

const CASES: Case[] = [
  {
    name: 'zarr3 sharded (zstd + crc32c, crc32c index)',
    path: 'sharded',
    dtype: 'uint16',
    shape: SHARDED_SHAPE,
    values: shardedValues,
    spec: shardedSpec('sharded'),
    selection: [[3, 29], [5, 40, 3], 17],
  },
  {
    name: 'zarr3 unsharded gzip, int32',
    path: 'gzip',
    dtype: 'int32',
    shape: [20, 33],
    values: Array.from({ length: 20 * 33 }, (_, i) => (i % 7 === 0 ? -i * 100_003 - 1 : i * 37 - 5000)),
    spec: (endpoint) => ({
      driver: 'zarr3',
      kvstore: { driver: 'gcs', bucket: BUCKET, path: 'gzip/', endpoint },
      create: true,
      dtype: 'int32',
      schema: { domain: { shape: [20, 33] }, chunk_layout: { write_chunk: { shape: [7, 10] } } },
      metadata: { codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'gzip', configuration: { level: 6 } }] },
    }),
    selection: [[2, 19, 4], [9, 31]],
  },
  {
    name: 'zarr v2 blosc (lz4, shuffle), float64',
    path: 'v2blosc',
    dtype: 'float64',
    shape: [25, 19],
    values: Array.from({ length: 25 * 19 }, (_, i) => i * 0.25 - 40 + (i % 5 === 0 ? 1e300 : 0)),
    spec: (endpoint) => ({
      driver: 'zarr',
      kvstore: { driver: 'gcs', bucket: BUCKET, path: 'v2blosc/', endpoint },
      create: true,
      metadata: {
        shape: [25, 19],
        chunks: [8, 6],
        dtype: '<f8',
        compressor: { id: 'blosc', cname: 'lz4', clevel: 5, shuffle: 1, blocksize: 0 },
        fill_value: 0,
        order: 'C',
        filters: null,
      },
    }),
    selection: [null, [1, 18, 5]],
  },
];

async function writeCase(c: Case, endpoint: string, specPath = c.path): Promise<void> {
  const spec = c.spec(endpoint);
  (spec.kvstore as { path: string }).path = `${specPath}/`;
  const vol = await open(spec);
  const arr = NdArray.zeros(c.dtype, c.shape);
  (arr.data as { set(a: ArrayLike<number>): void }).set(c.values);
  await vol.write(arr);
}

/** The spec a reader uses: no create, no metadata, just the store. */
const readSpec = (c: Case, endpoint: string, specPath = c.path) => {
  const s = c.spec(endpoint);
  return { driver: s.driver, kvstore: { ...(s.kvstore as object), path: `${specPath}/` } };
};

// ---------------------------------------------------------------------------------------------
// Emulator object access from Node (plain GCS JSON API), for the corruption cases.

const objectUrl = (emu: Emulator, name: string) => `${emu.url}/storage/v1/b/${BUCKET}/o/${encodeURIComponent(name)}`;

async function getObject(emu: Emulator, name: string): Promise<Uint8Array<ArrayBuffer>> {
  const r = await fetch(`${objectUrl(emu, name)}?alt=media`);
  if (!r.ok) throw new Error(`GET ${name}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function putObject(emu: Emulator, name: string, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
  const r = await fetch(`${emu.url}/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  if (!r.ok) throw new Error(`POST ${name}: HTTP ${r.status}`);
}

// ---------------------------------------------------------------------------------------------
// The page: an esbuild browser bundle served from its own origin.

async function bundle(outdir: string, minify: boolean): Promise<void> {
  const r = await build({
    entryPoints: { entry: path.join(HERE, 'browser-entry.ts') },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    splitting: true,
    target: 'es2022',
    minify,
    outdir,
    write: true,
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(r.metafile.inputs);
  const nodeOnly = inputs.filter((i) => i.startsWith('node:') || i.includes('src/testing/') || i.includes('google-auth-library'));
  if (nodeOnly.length) throw new Error(`browser bundle pulled in Node-only modules: ${nodeOnly.join(', ')}`);
}

const PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>volstore</title></head>' +
  '<body><script type="module" src="/entry.js"></script></body></html>';

function serve(dir: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    if (p === '/' || p === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    const file = path.join(dir, path.normalize(p).replace(/^(\.\.[/\\])+/, ''));
    if (p.endsWith('.js') && file.startsWith(dir) && existsSync(file)) {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' }).end(readFileSync(file));
      return;
    }
    res.writeHead(p === '/favicon.ico' ? 204 : 404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      if (!a || typeof a === 'string') return reject(new Error('no address'));
      resolve({ server, url: `http://127.0.0.1:${a.port}` });
    });
  });
}

// Both as bundled for development and minified, as web apps ship it (minifiers rename classes).
for (const minify of [false, true]) describe.skipIf(!HAVE_CHROMIUM)(`main entry in Chromium (${CHROMIUM}), ${minify ? 'minified' : 'plain'} bundle, on the GCS emulator cross-origin`, () => {
  let emu: Emulator | undefined;
  let server: Server | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let pageUrl = '';
  let dir = '';
  const log: string[] = [];

  const read = async (req: BrowserReadRequest): Promise<BrowserReadResult> => {
    try {
      return await page.evaluate((r) => window.volstoreRead(r), req);
    } catch (e) {
      throw new Error(`page.evaluate failed: ${String(e)}\npage log:\n${log.join('\n')}`);
    }
  };
  /** Fails with the page's log (console, page errors, failed requests) attached. */
  const okResult = (r: BrowserReadResult) => {
    if (!r.ok) throw new Error(`in-page read failed at ${r.stage}: ${r.name}: ${r.message}\npage log:\n${log.join('\n')}`);
    return r;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'volstore-browser-'));
    emu = await startEmulator({ buckets: [BUCKET] });
    const [, served] = await Promise.all([
      (async () => {
        for (const c of CASES) await writeCase(c, emu!.url);
        await writeCase(CASES[0]!, emu!.url, 'corrupt');
      })(),
      bundle(dir, minify).then(() => serve(dir)),
    ]);
    server = served.server;
    pageUrl = served.url;
    expect(new URL(pageUrl).origin).not.toBe(new URL(emu.url).origin); // cross-origin: CORS is exercised

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
      timeout: 60_000,
    });
    page = await browser.newPage();
    page.setDefaultTimeout(60_000);
    page.on('console', (m) => log.push(`[console.${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => log.push(`[pageerror] ${e.stack ?? e.message}`));
    page.on('requestfailed', (r) => log.push(`[requestfailed] ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
    await page.goto(pageUrl, { waitUntil: 'load' });
    try {
      await page.waitForFunction(() => typeof window.volstoreRead === 'function', undefined, { timeout: 30_000 });
    } catch (e) {
      throw new Error(`the bundle did not define window.volstoreRead: ${String(e)}\npage log:\n${log.join('\n')}`);
    }
  });

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    server?.closeAllConnections();
    await emu?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it(`${c.name}: whole array and a strided view, bit-exact with what Node wrote`, async () => {
      const r = okResult(await read({ spec: readSpec(c, emu!.url), selection: c.selection as Selection, whole: true }));
      expect(r.dtype).toBe(c.dtype);
      expect(r.shape).toEqual(c.shape);
      const want = expectedSlice(c.values, c.shape, c.selection);
      expect(r.sliceShape).toEqual(want.shape);
      expect(r.slice).toEqual(want.values);
      expect(r.whole!.length).toBe(c.values.length);
      expect(r.whole).toEqual(c.values);
      // The codec chain came from the stored metadata, as Node wrote it.
      const names = JSON.stringify(r.codec);
      if (c.path === 'sharded') for (const n of ['sharding_indexed', 'zstd', 'crc32c']) expect(names).toContain(n);
      if (c.path === 'gzip') expect(names).toContain('gzip');
      if (c.path === 'v2blosc') expect(names).toContain('blosc');
      // Cross-origin with a Range header: the page's fetches were preflighted.
      expect(emu!.counters().requests.byKind.options ?? 0).toBeGreaterThan(0);
    });
  }

  it('the same views read in Node agree (sanity: the page is compared with volstore too)', async () => {
    const c = CASES[0]!;
    const vol = await open(readSpec(c, emu!.url));
    const back = await vol.slice(c.selection as Selection).read();
    expect(Array.from(back.data as Uint16Array)).toEqual(expectedSlice(c.values, c.shape, c.selection).values);
  });

  it('the page writes a sharded zarr3 array (zstd + crc32c encode, conditional uploads over CORS); Node reads it exactly', async () => {
    const c = CASES[0]!;
    const shape = [20, 24, 18];
    const values = Array.from({ length: product(shape) }, (_, i) => (i * 7919) & 0xffff);
    const spec = { ...shardedSpec('from-browser')(emu!.url), schema: { domain: { shape }, chunk_layout: { write_chunk: { shape: [16, 16, 16] }, read_chunk: { shape: [8, 8, 8] } } } };
    const write = async (...args: Parameters<Window['volstoreWrite']>) => {
      let w;
      try {
        w = await page.evaluate((a) => window.volstoreWrite(...a), args);
      } catch (e) {
        throw new Error(`page.evaluate failed: ${String(e)}\npage log:\n${log.join('\n')}`);
      }
      if (!w.ok) throw new Error(`in-page write failed: ${w.name}: ${w.message}\npage log:\n${log.join('\n')}`);
    };
    await write(spec, c.dtype, shape, values);
    const vol = await open({ driver: 'zarr3', kvstore: spec.kvstore });
    expect(vol.shape).toEqual(shape);
    expect(JSON.stringify(vol.codec)).toContain('sharding_indexed');
    expect(Array.from((await vol.read()).data as Uint16Array)).toEqual(values);

    // A partial overwrite from the page: read-modify-write of the shards it touches, uploaded
    // under ifGenerationMatch conditions.
    const sel: Case['selection'] = [[3, 19], [5, 23], [2, 17]];
    const subShape = [16, 18, 15];
    const subValues = Array.from({ length: product(subShape) }, (_, i) => 60_000 + (i % 5000));
    await write({ driver: 'zarr3', kvstore: spec.kvstore }, c.dtype, subShape, subValues, sel as Selection);
    const want = [...values];
    const strides = [shape[1]! * shape[2]!, shape[2]!, 1];
    let k = 0;
    for (let x = 3; x < 19; x++) for (let y = 5; y < 23; y++) for (let z = 2; z < 17; z++) want[x * strides[0]! + y * strides[1]! + z] = subValues[k++]!;
    expect(Array.from((await vol.read()).data as Uint16Array)).toEqual(want);
    const back = okResult(await read({ spec: { driver: 'zarr3', kvstore: spec.kvstore }, whole: true }));
    expect(back.whole).toEqual(want);
  });

  it('corruption: a flipped byte in an inner chunk or a shard index rejects in-page with CorruptionError (crc32c)', async () => {
    const c = CASES[0]!;
    const spec = readSpec(c, emu!.url, 'corrupt');
    // Before: clean.
    okResult(await read({ spec, selection: [[0, 16], [0, 16], [0, 16]] }));

    const indexBytes = 8 * 16 + 4; // 2x2x2 inner chunks x (offset, nbytes) uint64 + crc32c
    // Shard c/1/1/1: flip a byte in the middle of its chunk data.
    const dataShard = 'corrupt/c/1/1/1';
    const a = await getObject(emu!, dataShard);
    expect(a.length).toBeGreaterThan(indexBytes + 16);
    a[Math.floor((a.length - indexBytes) / 2)]! ^= 0x40;
    await putObject(emu!, dataShard, a);
    // Shard c/0/1/0: flip a byte of the index's first entry.
    const indexShard = 'corrupt/c/0/1/0';
    const b = await getObject(emu!, indexShard);
    b[b.length - indexBytes + 2]! ^= 0x01;
    await putObject(emu!, indexShard, b);

    for (const [sel, key] of [
      [[[16, 32], [16, 32], [16, 29]], dataShard],
      [[[0, 16], [16, 32], [0, 16]], indexShard],
    ] as const) {
      const r = await read({ spec, selection: sel as unknown as Selection });
      expect(r.ok, `expected ${key} to be reported corrupt`).toBe(false);
      if (r.ok) continue;
      expect(r.stage).toBe('read');
      expect(r.isCorruptionError).toBe(true);
      expect(r.isVolstoreError).toBe(true);
      expect(r.code).toBe('corruption');
      expect(r.name).toBe('CorruptionError');
      expect(r.message).toMatch(/crc32c/);
      expect(r.message).toMatch(/corrupt/);
      // Index errors name the shard object; chunk errors the inner chunk's grid position (in shard 1,1,1).
      expect(r.message).toMatch(key === indexShard ? /"c\/0\/1\/0 \(shard index\)"/ : /"c\/1\/1\/1 \(inner chunk [23],[23],[23]\)"/);
      // The same bytes read in Node fail with the same error.
      const inNode = await (await open(spec)).slice(sel as unknown as Selection).read().then(() => 'no error', (e: Error) => `${e.name}: ${e.message}`);
      expect(`${r.name}: ${r.message}`).toBe(inNode);
    }
    // Untouched shards still read exactly; an aborted read rejects with name 'AbortError', the
    // idiom web code checks (`err.name === 'AbortError'`), like fetch's DOMException.
    const aborted = await read({ spec, selection: [[32, 37], null, [16, 29]], abort: true });
    expect(aborted.ok).toBe(false);
    if (!aborted.ok) expect([aborted.name, aborted.code, aborted.isVolstoreError]).toEqual(['AbortError', 'aborted', true]);
    const clean = okResult(await read({ spec, selection: [[32, 37], null, [16, 29]] }));
    expect(clean.slice).toEqual(expectedSlice(c.values, c.shape, [[32, 37], null, [16, 29]]).values);
  });
});

// Without Chromium, the report shows one skipped test saying why (never a pass).
if (!HAVE_CHROMIUM) it.skip(`SKIPPED: browser tests need ${CHROMIUM} (Debian package chromium)`, () => {});
