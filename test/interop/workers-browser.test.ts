/**
 * The codec worker pool in a real browser (Debian's Chromium via playwright-core): the page's
 * esbuild bundle runs the pool on its Web Worker platform, with the worker script bundled as
 * `codec-worker.js` beside the chunk that creates it (what bundlers do for the
 * `new Worker(new URL('./codec-worker.js', import.meta.url), {type: 'module'})` pattern).
 * Results are byte-identical to the inline path (zstd, gzip, blosc, compressed_segmentation),
 * tasks really ran in workers, a corrupt chunk throws a CorruptionError in the page; decoding
 * into a result writes it from the workers on a cross-origin isolated page (shared memory) and
 * places returned chunks on the page otherwise; and with
 * the worker script missing (a bundler that did not ship it) the pool turns itself off and the
 * same results come from the inline path.
 *
 * Skipped (with a message) when /usr/bin/chromium is missing.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolCheckResult } from './workers-browser-entry.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`workers-browser.test.ts: skipped: ${CHROMIUM} is not installed`);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>pool</title></head><body><script type="module" src="/entry.js"></script></body></html>';

async function bundle(outdir: string): Promise<void> {
  const common = { bundle: true, platform: 'browser' as const, format: 'esm' as const, target: 'es2022', outdir, write: true, logLevel: 'silent' as const };
  await build({ ...common, entryPoints: { entry: path.join(HERE, 'workers-browser-entry.ts') }, splitting: true });
  await build({ ...common, entryPoints: { 'codec-worker': path.join(HERE, '../../src/workers/codec-worker.ts') } });
}

/**
 * Serves the page and the bundle's .js files; `hideWorker` answers 404 for codec-worker.js;
 * `isolate` sends COOP/COEP so the page is cross-origin isolated (SharedArrayBuffer exists).
 */
function serve(dir: string, hideWorker: boolean, isolate = false): Promise<{ server: Server; url: string }> {
  const coi = isolate ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
  const server = createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    if (p === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...coi }).end(PAGE);
    const file = path.join(dir, path.basename(p));
    if (p.endsWith('.js') && existsSync(file) && !(hideWorker && p.endsWith('/codec-worker.js'))) {
      return void res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', ...coi }).end(readFileSync(file));
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address() as { port: number };
      resolve({ server, url: `http://127.0.0.1:${a.port}/` });
    });
  });
}

describe.skipIf(!HAVE_CHROMIUM)('codec worker pool in Chromium (Web Workers)', () => {
  let dir = '';
  let browser: Browser | undefined;
  const servers: Server[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'volstore-pool-browser-'));
    await bundle(dir);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'], timeout: 60_000 });
  });
  afterAll(async () => {
    await browser?.close();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function check(hideWorker: boolean, isolate = false): Promise<PoolCheckResult> {
    const { server, url } = await serve(dir, hideWorker, isolate);
    servers.push(server);
    const page = await browser!.newPage();
    const log: string[] = [];
    page.on('console', (m) => log.push(`[console.${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => log.push(`[pageerror] ${e.stack ?? e.message}`));
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForFunction(() => typeof window.poolCheck === 'function', undefined, { timeout: 30_000 });
    try {
      return await page.evaluate(() => window.poolCheck());
    } catch (e) {
      throw new Error(`poolCheck failed: ${String(e)}\npage log:\n${log.join('\n')}`);
    } finally {
      await page.close();
    }
  }

  it('decodes and encodes in Web Workers, identical to the inline path, with typed errors', async () => {
    const r = await check(false);
    expect(r.warmed).toBe(true);
    expect(r.identical).toBe(true);
    expect(r.enabled).toBe(true);
    expect(r.spawned).toBeGreaterThan(0);
    expect(r.completed).toBe(4 * 4 + 1); // every encode and decode ran in a worker
    expect(r.inline).toBe(0);
    expect(r.corruptIsCorruptionError).toBe(true);
    expect(r.corruptMessage).toContain('c/0');
    // not cross-origin isolated: no shared memory, decoded chunks come back and are placed here
    expect([r.isolated, r.sharedMemory, r.placed]).toEqual([false, false, 0]);
    expect(r.intoIdentical).toBe(true);
  });

  it('cross-origin isolated: workers write decoded chunks straight into shared results', async () => {
    const r = await check(false, true);
    expect([r.isolated, r.sharedMemory, r.warmed]).toEqual([true, true, true]);
    expect(r.identical).toBe(true);
    expect(r.intoIdentical).toBe(true);
    expect(r.placed).toBe(4);
    expect(r.completed).toBe(4 * 4 + 1);
    expect(r.inline).toBe(0);
  });

  it('without the worker script, turns itself off and runs everything inline', async () => {
    const r = await check(true);
    expect(r.warmed).toBe(false);
    expect(r.identical).toBe(true);
    expect(r.enabled).toBe(false);
    expect(r.completed).toBe(0);
    expect(r.corruptIsCorruptionError).toBe(true);
  });
});
