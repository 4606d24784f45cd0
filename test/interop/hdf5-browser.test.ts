/**
 * The hdf5 driver in a real browser (Debian's Chromium via playwright-core): an esbuild browser
 * bundle of test/interop/hdf5-browser-entry.ts reads the h5py-written sample.h5 fixture
 * - from bytes the page fetched and placed in `memory://` (how an app hands over a file the user
 *   picked: `new MemoryStore('').write('picked/x.h5', bytes)`), and
 * - from an http URL (the driver fetches the file whole through the http kvstore),
 * with h5wasm's ESM build loaded lazily as its own chunk; values match the fixture's formulas;
 * a missing dataset is a NotFoundError in the page too.
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
import { h5, sampleLabel, sampleRaw } from '../drivers/hdf5-fixtures.js';
import type { Hdf5PageRequest, Hdf5PageResult } from './hdf5-browser-entry.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`hdf5-browser.test.ts: skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>hdf5</title></head><body><script type="module" src="/entry.js"></script></body></html>';

/** Serves the page, the bundle (.js) and sample.h5 (with Range support) on 127.0.0.1. */
function serve(dir: string): Promise<{ server: Server; url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(`${req.method} ${p} ${req.headers.range ?? ''}`);
    if (p === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    if (p === '/sample.h5') {
      const body = readFileSync(h5('sample.h5'));
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (m) {
        const start = Number(m[1]);
        const end = m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
        if (start >= body.length) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return void res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': end - start + 1, etag: '"v1"' }).end(body.subarray(start, end + 1));
      }
      return void res.writeHead(200, { 'content-length': body.length, etag: '"v1"' }).end(body);
    }
    const file = path.join(dir, path.normalize(p).replace(/^(\.\.[/\\])+/, ''));
    if (p.endsWith('.js') && file.startsWith(dir) && existsSync(file)) {
      return void res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(readFileSync(file));
    }
    res.writeHead(p === '/favicon.ico' ? 204 : 404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      if (!a || typeof a === 'string') return reject(new Error('no address'));
      resolve({ server, url: `http://127.0.0.1:${a.port}`, requests });
    });
  });
}

describe.skipIf(!HAVE_CHROMIUM)('hdf5 driver in Chromium', () => {
  let server: Server | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let origin = '';
  let dir = '';
  let requests: string[] = [];
  const log: string[] = [];

  const read = async (req: Hdf5PageRequest): Promise<Hdf5PageResult> => page.evaluate((r) => window.hdf5Read(r), req);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'volstore-hdf5-browser-'));
    const r = await build({
      entryPoints: { entry: path.join(HERE, 'hdf5-browser-entry.ts') },
      bundle: true, platform: 'browser', format: 'esm', splitting: true, target: 'es2022',
      outdir: dir, write: true, metafile: true, logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.filter((i) => i.startsWith('node:'))).toEqual([]);
    expect(inputs.some((i) => i.includes('h5wasm/dist/esm'))).toBe(true);
    const s = await serve(dir);
    server = s.server;
    origin = s.url;
    requests = s.requests;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'], timeout: 60_000 });
    page = await browser.newPage();
    page.setDefaultTimeout(60_000);
    page.on('console', (m) => log.push(`[console.${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => log.push(`[pageerror] ${e.stack ?? e.message}`));
    await page.goto(origin, { waitUntil: 'load' });
    await page.waitForFunction(() => typeof window.hdf5Read === 'function', undefined, { timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a file the page holds as bytes (memory://): uint64 labels, attributes', async () => {
    const r = await read({ fetchToMemory: '/sample.h5', dataset: 'volumes/labels/neuron_ids', selection: [[16, 19], [95, 100], [0, 100, 11]] });
    if (!r.ok) throw new Error(`${r.name}: ${r.message}\n${log.join('\n')}`);
    expect(r.dtype).toBe('uint64');
    expect(r.shape).toEqual([20, 100, 100]);
    expect(r.attributes).toEqual({ resolution: [40, 4, 4], offset: [80, 40, 40] });
    const want: string[] = [];
    for (let z = 16; z < 19; z++) for (let y = 95; y < 100; y++) for (let x = 0; x < 100; x += 11) want.push(sampleLabel(z, y, x).toString());
    expect(r.values).toEqual(want);
  });

  it('a file fetched whole from an http URL', async () => {
    const r = await read({ url: `${origin}/sample.h5`, dataset: 'volumes/raw', selection: [[2, 4], [10, 13], [20, 25]] });
    if (!r.ok) throw new Error(`${r.name}: ${r.message}\n${log.join('\n')}`);
    const want: number[] = [];
    for (let z = 2; z < 4; z++) for (let y = 10; y < 13; y++) for (let x = 20; x < 25; x++) want.push(sampleRaw(z, y, x));
    expect(r.values).toEqual(want);
    expect(requests.some((q) => q.startsWith('GET /sample.h5 bytes=0-7'))).toBe(true); // signature probe
  });

  it('a missing dataset: NotFoundError in the page', async () => {
    const r = await read({ fetchToMemory: '/sample.h5', dataset: 'volumes/nope', selection: [] });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.name).toBe('NotFoundError');
      expect(r.message).toMatch(/sample\.h5\|hdf5:volumes\/nope/);
    }
  });
});
