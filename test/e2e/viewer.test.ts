/**
 * The slice viewer (examples/viewer) end to end in Debian's Chromium (playwright-core, headless)
 * against the built-in GCS emulator with a 20 ms first-byte latency, on the demo dataset Node
 * writes (examples/viewer/demo.ts: zarr3 sharded uint8 image + a 2x coarser level, precomputed
 * compressed_segmentation uint64 labels) plus a raw (uncompressed) float32 zarr3 volume:
 *
 *  - plain ES modules from a static server (the package's dist/browser build, mapped by the
 *    page's import map): regions read in the page equal, byte for byte, the same regions read
 *    in Node, for both formats and both image levels;
 *  - rendering: XY and XZ pixels at known positions equal what render.js's rules give for the
 *    values Node reads (contrast window, hashed label colours, overlay alpha); zoomed out 2x the
 *    view reads the coarser level (and the labels with a stride);
 *  - scrolling 50 slices through `withPrefetch('neighbors')`: no slice's chunk was fetched by
 *    its own read (page's per-handle counters), every slice entering a new chunk along z was
 *    served by prefetch, and the emulator saw the requests (so they happened before the slices
 *    were asked for); decoding ran in Web Workers (pool counters), the longest main-thread task
 *    is measured (PerformanceObserver 'longtask') and printed;
 *  - the in-page micro-benchmark prints slice latency p50/p95 (printed, not asserted);
 *  - lazy codecs: a page reading the raw zarr3 volume never requests the zstd or blosc chunks
 *    (the page server's log), and does once it opens the zstd image (the check can fail); the
 *    float32 pixels follow the contrast window, read through the GCS JSON API and through the
 *    emulator's S3 API (an `s3://` URL with an endpoint) alike;
 *  - a Vite build of the same page (volstore resolved as a package, the worker bundled by Vite)
 *    reads the same bytes and decodes in workers, loading nothing from dist/browser;
 *  - `npm run viewer` (examples/viewer/serve.ts as a process): the printed URL opens, keyboard
 *    and wheel scroll through z, a drag pans, ctrl+wheel zooms, Ctrl-C (SIGINT) stops it.
 * Screenshots go to test/e2e/screenshots/.
 *
 * Skipped (with a message) when /usr/bin/chromium is missing; .ci/run installs it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blend, contrast, labelColor } from '../../examples/viewer/render.js';
import { DEMO_BUCKET, type RunningViewer, serveStatic, startViewer } from '../../examples/viewer/serve.js';
import { type BrowserManifest, buildBrowser } from '../../scripts/build-browser.mjs';
import { NdArray } from '../../src/array/ndarray.js';
import { open } from '../../src/open.js';
import type { Volume } from '../../src/volume.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`viewer.test.ts: skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const SHOTS = path.join(HERE, 'screenshots');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const RAW_SHAPE = [16, 64, 64];
const rawValue = (z: number, y: number, x: number) => Math.fround((z * 0.5 + y * 0.25 - x * 0.125) * 1.5 - 2.25);

type Sel = Record<string, number | [number, number]> | (number | [number, number] | null)[];
interface ViewerApi {
  ready: Promise<void>;
  load(cfg: Record<string, unknown>): Promise<{ shape: number[] }>;
  goto(z: number): Promise<{ ms: number; z: number; chunks: { hits: number; misses: number; prefetchHits: number }; level: number[]; f: number }>;
  view(v: { zoom?: number; cx?: number; cy?: number }): Promise<{ level: number[]; f: number }>;
  stats(): Stats;
  idle(ms?: number): Promise<boolean>;
  bench(n: number, z0: number): Promise<{ n: number; p50: number; p95: number; max: number }>;
  readRegion(which: 'image' | 'labels', sel: Sel, level?: number): Promise<{ dtype: string; shape: number[]; base64: string }>;
  pixels(id: string, points: [number, number][]): number[][];
  resetLongTasks(): void;
  render(): Promise<unknown>;
  specOf(text: string, endpoint: string): unknown;
}
interface Stats {
  requests: number;
  bytes: number;
  hits: number;
  misses: number;
  hitRate: number;
  prefetchHits: number;
  prefetchActive: number;
  latency: { p50: number; p95: number; n: number };
  workers?: { spawned: number; completed: number; inline: number; placed: number };
  longestTask: number;
  longTasks: number;
  longestGap: number;
  z: number;
  cx: number;
  cy: number;
  zoom: number;
}
declare global {
  interface Window {
    viewer: ViewerApi;
  }
}

const b64 = (a: NdArray) => {
  const d = a.data as ArrayBufferView;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
};

/** The RGBA render.js gives a grey value with an optional uint64 label at alpha a256. */
function expectedRgba(g: number | undefined, label: bigint, a256: number): number[] {
  const grey = g ?? 0;
  if (label === 0n) return [grey, grey, grey, 255];
  const c = labelColor(Number(label & 0xffffffffn), Number(label >> 32n));
  const a = g === undefined ? 256 : a256;
  return [blend(grey, c[0], a), blend(grey, c[1], a), blend(grey, c[2], a), 255];
}

describe.skipIf(!HAVE_CHROMIUM)('slice viewer in Chromium (e2e)', () => {
  let dir = '';
  let browserDir = '';
  let manifest: BrowserManifest;
  let v: RunningViewer;
  let browser: Browser;
  const served: string[] = [];
  const servers: Server[] = [];
  let s0: Volume, s1: Volume, seg: Volume;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    dir = mkdtempSync(path.join(tmpdir(), 'volstore-e2e-'));
    browserDir = path.join(dir, 'browser');
    manifest = await buildBrowser(browserDir);
    v = await startViewer({ latencyMs: 20, browserDir, onRequest: (p) => served.push(p) });
    const demo = v.demo!;
    [s0, s1, seg] = await Promise.all([open(demo.image[0]!), open(demo.image[1]!), open(demo.seg)]);
    const raw = await open({
      driver: 'zarr3',
      kvstore: { driver: 'gcs', bucket: DEMO_BUCKET, path: 'raw/', endpoint: v.emulator.url },
      create: true,
      dtype: 'float32',
      schema: { domain: { shape: RAW_SHAPE, labels: ['z', 'y', 'x'] }, chunk_layout: { read_chunk: { shape: [8, 64, 64] } } },
      metadata: { dimension_names: ['z', 'y', 'x'], codecs: [{ name: 'bytes', configuration: { endian: 'little' } }] },
    });
    const vals = new Float32Array(RAW_SHAPE[0]! * RAW_SHAPE[1]! * RAW_SHAPE[2]!);
    for (let z = 0, i = 0; z < RAW_SHAPE[0]!; z++) for (let y = 0; y < RAW_SHAPE[1]!; y++) for (let x = 0; x < RAW_SHAPE[2]!; x++) vals[i++] = rawValue(z, y, x);
    await raw.write(new NdArray('float32', vals, RAW_SHAPE));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  });

  afterAll(async () => {
    await browser?.close();
    for (const s of servers) s.close();
    await v?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Opens `url`, waits for the viewer (and its first volume when the URL names one). */
  async function openPage(url: string): Promise<{ page: Page; log: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1000, height: 820 } });
    const log: string[] = [];
    page.on('console', (m) => log.push(`[console.${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => log.push(`[pageerror] ${e.stack ?? e.message}`));
    await page.goto(url, { waitUntil: 'load' });
    try {
      await page.waitForFunction(() => typeof window.viewer === 'object', undefined, { timeout: 30_000 });
      await page.evaluate(() => window.viewer.ready);
    } catch (e) {
      throw new Error(`the viewer did not start: ${String(e)}\npage log:\n${log.join('\n')}`);
    }
    return { page, log };
  }

  /** Node's bytes of the same regions the page reads. */
  async function compareRegions(page: Page): Promise<void> {
    const cases: { which: 'image' | 'labels'; level: number; vol: Volume; sel: Sel }[] = [
      { which: 'image', level: 0, vol: s0, sel: { z: [10, 30], y: [50, 250], x: [100, 300] } },
      { which: 'image', level: 1, vol: s1, sel: { z: [0, 96], y: [10, 100], x: [0, 192] } },
      { which: 'labels', level: 0, vol: seg, sel: [[0, 200], [100, 300], [40, 50], [0, 1]] },
    ];
    for (const c of cases) {
      const got = await page.evaluate(({ which, sel, level }) => window.viewer.readRegion(which, sel, level), { which: c.which, sel: c.sel, level: c.level });
      const want = await c.vol.slice(c.sel).read();
      expect(new Set(Array.from(want.data as ArrayLike<unknown>).slice(0, 5000)).size).toBeGreaterThan(3); // not trivial
      expect([got.dtype, got.shape]).toEqual([want.dtype, [...want.shape]]);
      expect(got.base64 === b64(want), `${c.which} level ${c.level} ${JSON.stringify(c.sel)}: bytes differ`).toBe(true);
    }
  }

  it('plain ES modules: opens the demo from its URL, reads zarr3 sharded and precomputed compressed_segmentation byte for byte as Node', async () => {
    const { page } = await openPage(v.url);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    await compareRegions(page);
    await page.screenshot({ path: path.join(SHOTS, 'viewer-static.png') });
    await page.close();
  });

  it('renders slices: XY and XZ pixels match the values Node reads; zoomed out, the coarser level', async () => {
    const { page } = await openPage(v.base);
    const demo = v.demo!;
    const Z = 37;
    await page.evaluate((cfg) => window.viewer.load(cfg), { image: demo.image, seg: [demo.seg], window: [0, 255], alpha: 0.5, z: Z });
    const r1 = await page.evaluate(() => window.viewer.view({ zoom: 1, cx: 192, cy: 192 }));
    expect([r1.level, r1.f]).toEqual([[1, 1, 1], 1]);
    const img = await s0.slice({ z: Z }).read(); // [y, x]
    const lab = await seg.slice([null, null, Z, 0]).read(); // [x, y]
    const labAt = (x: number, y: number) => (lab.data as BigUint64Array)[x * 384 + y]!;
    const pts: [number, number][] = [[0, 0], [383, 383], [5, 300], [191, 192], [250, 17], [100, 100], [333, 44], [12, 377]];
    const got = await page.evaluate((p) => window.viewer.pixels('xy', p), pts);
    const want = pts.map(([x, y]) => expectedRgba(contrast((img.data as Uint8Array)[y * 384 + x]!, 0, 255), labAt(x, y), 128));
    expect(got).toEqual(want);
    expect(new Set(want.map((p) => p.join())).size).toBeGreaterThan(4);

    // XZ: x across, z down (all 96 slices), at y = 192, same x range and zoom as XY
    const xz = await s0.slice({ y: 192 }).read(); // [z, x]
    const labXZ = await seg.slice([null, 192, null, 0]).read(); // [x, z]
    const zpts: [number, number][] = [[0, 0], [200, 36], [383, 95], [64, 70]]; // row 37: the cursor line
    const gotXZ = await page.evaluate((p) => window.viewer.pixels('xz', p), zpts);
    expect(gotXZ).toEqual(zpts.map(([x, z]) => expectedRgba((xz.data as Uint8Array)[z * 384 + x]!, (labXZ.data as BigUint64Array)[x * 96 + z]!, 128)));

    // zoomed out 2x: the 2x-downsampled level (192 px wide, drawn from x = 96), labels strided
    const r2 = await page.evaluate(() => window.viewer.view({ zoom: 0.5 }));
    expect([r2.level, r2.f]).toEqual([[1, 2, 2], 2]);
    const img1 = await s1.slice({ z: Z }).read(); // [192, 192]
    const lpts: [number, number][] = [[0, 0], [191, 191], [40, 150], [120, 7], [77, 77]];
    const got2 = await page.evaluate((p) => window.viewer.pixels('xy', p), lpts.map(([i, j]) => [96 + i, 96 + j] as [number, number]));
    expect(got2).toEqual(lpts.map(([i, j]) => expectedRgba((img1.data as Uint8Array)[j * 192 + i]!, labAt(2 * i, 2 * j), 128)));
    // outside the volume: background
    expect(await page.evaluate(() => window.viewer.pixels('xy', [[10, 10], [380, 380]]))).toEqual([[17, 17, 17, 255], [17, 17, 17, 255]]);
    await page.screenshot({ path: path.join(SHOTS, 'viewer-zoomed-out.png') });
    await page.close();
  });

  it('scrolls 50 slices served by prefetch, decoding in Web Workers; prints the longest main-thread task and the in-page benchmark', async () => {
    const { page } = await openPage(v.base);
    const demo = v.demo!;
    const Z0 = 20;
    await page.evaluate((cfg) => window.viewer.load(cfg), { image: demo.image, seg: [demo.seg], z: Z0 });
    await page.evaluate(() => window.viewer.idle());
    await page.evaluate(() => window.viewer.resetLongTasks());
    const w0 = (await page.evaluate(() => window.viewer.stats())).workers!;
    const e0 = v.emulator.counters();
    const steps: { z: number; misses: number; prefetchHits: number; hits: number; requestsAhead: number }[] = [];
    for (let k = 1; k <= 50; k++) {
      const asked = v.emulator.counters().requests.total;
      const r = await page.evaluate((z) => window.viewer.goto(z), Z0 + k);
      expect(await page.evaluate(() => window.viewer.idle())).toBe(true);
      // storage requests from asking for this slice until the prefetcher was idle: with no chunk
      // fetched by the slice's own read (misses 0), all of them were prefetch loads for later slices
      const requestsAhead = v.emulator.counters().requests.total - asked;
      steps.push({ z: r.z, ...r.chunks, requestsAhead });
    }
    const s = await page.evaluate(() => window.viewer.stats());
    const e1 = v.emulator.counters();
    const crossings = steps.filter((st) => st.z % 8 === 0); // a new chunk along z (8-slice chunks, both layers)
    expect(crossings.length).toBe(6);
    // No slice fetched a chunk for itself: all came from the cache, most of them from prefetch.
    expect(steps.map((st) => st.misses)).toEqual(steps.map(() => 0));
    for (const st of crossings) expect(st.prefetchHits, `z=${st.z}`).toBeGreaterThan(0);
    for (const st of steps) expect(st.hits).toBeGreaterThanOrEqual(32); // 16 image + 16 label chunks per slice
    // Entering a chunk, the prefetcher fetched the next one along z (the emulator saw the requests
    // 8 slices before they were asked for): the next crossing's prefetch hits. (The first
    // crossing's chunk was fetched ahead while the first slice was shown.)
    for (const st of crossings) expect(st.requestsAhead, `after z=${st.z}`).toBeGreaterThan(0);
    expect(e1.requests.total - e0.requests.total).toBeGreaterThanOrEqual(crossings.length);
    // Decoding ran in Web Workers, none on the page's thread.
    const w1 = s.workers!;
    expect(w1.completed - w0.completed).toBeGreaterThan(0);
    expect(w1.inline - w0.inline).toBe(0);
    const prefetchTotal = steps.reduce((a, st) => a + st.prefetchHits, 0);
    console.log(
      `e2e scroll: 50 slices, ${prefetchTotal} chunk reads served by prefetch, 0 fetched on demand; emulator ${e1.requests.total - e0.requests.total} requests, ` +
        `${((e1.bytesOut - e0.bytesOut) / 1e6).toFixed(1)} MB; ${w1.completed - w0.completed} decodes in workers, 0 inline; ` +
        `longest main-thread task ${s.longTasks ? `${s.longestTask.toFixed(0)} ms` : 'none over 50 ms'} (${s.longTasks} 'longtask' entries; longest timer gap ${s.longestGap.toFixed(0)} ms); slice latency with prefetch done p50 ${s.latency.p50.toFixed(1)} ms, p95 ${s.latency.p95.toFixed(1)} ms`,
    );
    await page.screenshot({ path: path.join(SHOTS, 'viewer-scrolled.png') });

    // The micro-benchmark: cold cache, 40 slices back to back (printed, not asserted).
    await page.evaluate(() => window.viewer.resetLongTasks());
    const b = await page.evaluate(() => window.viewer.bench(40, 8));
    const sb = await page.evaluate(() => window.viewer.stats());
    expect(b.n).toBe(40);
    console.log(`e2e bench (in page, provisional): slice latency p50 ${b.p50.toFixed(1)} ms, p95 ${b.p95.toFixed(1)} ms, max ${b.max.toFixed(1)} ms; longest main-thread task ${sb.longTasks ? `${sb.longestTask.toFixed(0)} ms` : 'none over 50 ms'} (${sb.longTasks} 'longtask' entries; longest timer gap ${sb.longestGap.toFixed(0)} ms)`);
    await page.close();
  });

  it('lazy codecs: a page reading raw zarr3 never downloads zstd or blosc (the page server log); float contrast', async () => {
    const codecFiles = (label: string) => manifest.files.filter((f) => f.label === label).map((f) => `/volstore/${f.file}`);
    const [zstd, blosc, zarr3] = [codecFiles('codec: zstd'), codecFiles('codec: blosc'), codecFiles('driver: zarr3')];
    expect(zstd.length * blosc.length * zarr3.length).toBeGreaterThan(0);
    served.length = 0;
    const q = new URLSearchParams({ image: `gs://${DEMO_BUCKET}/raw/|zarr3:`, endpoint: v.emulator.url, window: '-10,10' });
    const { page } = await openPage(`${v.base}?${q}`);
    const st = await page.evaluate(() => window.viewer.stats());
    expect(st.requests).toBeGreaterThan(0);
    expect(served).toContain('/volstore/volstore.js');
    for (const f of zarr3) expect(served).toContain(f); // the driver did load lazily
    expect(served.filter((p) => zstd.includes(p) || blosc.includes(p))).toEqual([]);
    // float32 through the contrast window [-10, 10], z = 8 (the middle), zoom 1 centred
    const pts: [number, number][] = [[0, 0], [63, 0], [0, 63], [63, 63], [20, 41]];
    const got = await page.evaluate((p) => window.viewer.pixels('xy', p.map(([x, y]) => [160 + x, 160 + y] as [number, number])), pts);
    expect(got).toEqual(pts.map(([x, y]) => expectedRgba(contrast(rawValue(8, y, x), -10, 10), 0n, 0)));
    // the same volume through the emulator's S3 API (an s3:// URL with an endpoint), anonymous
    const s3 = await page.evaluate((ep) => window.viewer.specOf(`s3://${'volstore-demo'}/raw/|zarr3:`, ep), `${v.emulator.url}/s3`);
    expect(s3).toEqual({ driver: 'zarr3', kvstore: { driver: 's3', bucket: DEMO_BUCKET, path: 'raw/', endpoint: `${v.emulator.url}/s3` } });
    await page.evaluate((spec) => window.viewer.load({ image: [spec], window: [-10, 10] }), s3);
    expect(await page.evaluate((p) => window.viewer.pixels('xy', p.map(([x, y]) => [160 + x, 160 + y] as [number, number])), pts)).toEqual(got);
    // the check can fail: opening the zstd image does download zstd
    await page.evaluate((img) => window.viewer.load({ image: [img] }), v.demo!.image[0]!);
    expect(served.filter((p) => zstd.includes(p)).length).toBeGreaterThan(0);
    expect(served.filter((p) => blosc.includes(p))).toEqual([]);
    await page.close();
  });

  it('a Vite build of the viewer reads the same bytes and decodes in workers bundled by Vite', async () => {
    // volstore resolves to the package's built entry, as for an app that installed it
    if (!existsSync(path.join(REPO, 'dist/index.js'))) throw new Error('dist/index.js is missing: run `npm run build` (npm ci does it) before the e2e suite');
    const { build } = await import('vite');
    const out = path.join(dir, 'vite');
    await build({ configFile: path.join(REPO, 'examples/viewer/vite.config.ts'), build: { outDir: out, emptyOutDir: true }, logLevel: 'error' });
    const log: string[] = [];
    const { server, url } = await serveStatic(out, browserDir, 0, true, (p) => log.push(p));
    servers.push(server);
    const { page } = await openPage(`${url}${v.url.slice(v.base.length)}`);
    await compareRegions(page);
    await page.evaluate(() => window.viewer.goto(50));
    const st = await page.evaluate(() => window.viewer.stats());
    expect(st.workers!.completed).toBeGreaterThan(0);
    expect(st.workers!.inline).toBe(0);
    expect(log.filter((p) => p.startsWith('/volstore/'))).toEqual([]); // all from Vite's bundle
    expect(log.some((p) => /codec-worker.*\.js$/.test(p))).toBe(true);
    await page.screenshot({ path: path.join(SHOTS, 'viewer-vite.png') });
    await page.close();
  });

  it('npm run viewer: prints a URL that opens; keyboard and wheel scroll z, drag pans, ctrl+wheel zooms; Ctrl-C stops it', async () => {
    const child = spawn(path.join(REPO, 'node_modules/.bin/tsx'), ['examples/viewer/serve.ts', '--latency', '5'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stderr.on('data', (d) => (out += String(d)));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          out += String(d);
          const m = /viewer: open (\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        void exited.then((code) => reject(new Error(`npm run viewer exited (${code}):\n${out}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?image=/);
      const { page } = await openPage(url);
      const z0 = (await page.evaluate(() => window.viewer.stats())).z;
      await page.mouse.move(200, 400);
      for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowDown');
      for (let i = 0; i < 3; i++) {
        await page.mouse.wheel(0, 100);
        await page.waitForTimeout(30);
      }
      await page.waitForFunction((z) => window.viewer.stats().z === z, z0 + 8, { timeout: 30_000 });
      await page.evaluate(() => window.viewer.idle());
      await page.evaluate(() => window.viewer.render());
      await page.screenshot({ path: path.join(SHOTS, 'viewer.png') });
      // drag pans (by the distance in voxels at zoom 1), ctrl+wheel zooms
      const c0 = await page.evaluate(() => window.viewer.stats());
      await page.mouse.down();
      await page.mouse.move(240, 430, { steps: 4 });
      await page.mouse.up();
      await page.waitForFunction(([cx, cy]) => window.viewer.stats().cx === cx && window.viewer.stats().cy === cy, [c0.cx - 40, c0.cy - 30], { timeout: 30_000 });
      await page.keyboard.down('Control');
      await page.mouse.wheel(0, -100);
      await page.keyboard.up('Control');
      await page.waitForFunction((zoom) => window.viewer.stats().zoom > zoom, c0.zoom, { timeout: 30_000 });
      await page.close();
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});
