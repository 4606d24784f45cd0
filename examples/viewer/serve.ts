/**
 * `npm run viewer`: the slice viewer against the built-in GCS emulator. Starts the emulator (with
 * a first-byte latency, default 20 ms, so prefetching shows), writes the demo dataset
 * (demo.ts: a zarr3 sharded image with a 2x coarser level and a precomputed compressed_segmentation
 * segmentation), serves the page on 127.0.0.1 with volstore's browser build (dist/browser, built
 * if missing) at /volstore/, and prints the URL. Ctrl-C stops everything.
 *
 *   npm run viewer -- [--latency MS] [--port N] [--no-isolate]
 *
 * {@link startViewer} does the same for the e2e test (and can serve a Vite build instead).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBrowser } from '../../scripts/build-browser.mjs';
import { type Emulator, startEmulator } from '../../src/testing/index.js';
import { type DemoDataset, writeDemo } from './demo.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
/** The bucket of the demo dataset. */
export const DEMO_BUCKET = 'volstore-demo';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

/** Options of {@link startViewer} and {@link serveStatic}. */
export interface ViewerOptions {
  /** Emulator first-byte latency, ms (default 20). */
  latencyMs?: number;
  /** Page server port (default 0: any free port). */
  port?: number;
  /**
   * The page's directory: examples/viewer (plain ES modules, "volstore" mapped by the page's
   * import map to /volstore/volstore.js) or a Vite build of it (default examples/viewer).
   */
  root?: string;
  /** Where /volstore/ is served from (default dist/browser of this package). */
  browserDir?: string;
  /**
   * Send COOP/COEP so the page is cross-origin isolated (SharedArrayBuffer: the codec workers
   * write decoded chunks straight into results). Default true.
   */
  isolate?: boolean;
  /** Write the demo dataset (default true). */
  demo?: boolean;
  /** Called with the path of every request the page server gets (its network log). */
  onRequest?: (path: string) => void;
}

/**
 * Serves `root` (and `browserDir` at /volstore/) on 127.0.0.1.
 * @returns the server and its base URL (ending in '/').
 */
export function serveStatic(root: string, browserDir: string, port = 0, isolate = true, onRequest?: (path: string) => void): Promise<{ server: Server; url: string }> {
  const coi: Record<string, string> = isolate ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
  const server = createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    onRequest?.(p);
    const [dir, rel] = p.startsWith('/volstore/') ? [browserDir, p.slice('/volstore/'.length)] : [root, p === '/' ? 'index.html' : p.slice(1)];
    const file = path.resolve(dir, rel);
    if (!file.startsWith(path.resolve(dir) + path.sep) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache', ...coi });
    res.end(readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const a = server.address() as { port: number };
      resolve({ server, url: `http://127.0.0.1:${a.port}/` });
    });
  });
}

/** A running viewer: the page server, the emulator and the demo dataset. */
export interface RunningViewer {
  /** The page with the demo dataset in its query string. */
  url: string;
  /** The page server's base URL. */
  base: string;
  emulator: Emulator;
  demo?: DemoDataset;
  stop(): Promise<void>;
}

/** The page URL that opens `demo` from the emulator at `endpoint`. */
export function demoUrl(base: string, demo: DemoDataset, endpoint: string): string {
  const q = new URLSearchParams({ image: demo.imageUrls.join(' '), seg: demo.segUrl, endpoint });
  return `${base}?${q}`;
}

/**
 * Starts the emulator, writes the demo dataset and serves the viewer.
 * @throws the emulator's or the server's listen error (e.g. a port in use).
 */
export async function startViewer(o: ViewerOptions = {}): Promise<RunningViewer> {
  const browserDir = o.browserDir ?? path.join(REPO, 'dist/browser');
  if (!o.browserDir && !existsSync(path.join(browserDir, 'volstore.js'))) await buildBrowser(browserDir);
  const emulator = await startEmulator({ buckets: [DEMO_BUCKET], latencyMs: 0 });
  try {
    const demo = o.demo === false ? undefined : await writeDemo(emulator.url, DEMO_BUCKET);
    emulator.setLatency(o.latencyMs ?? 20);
    emulator.resetCounters();
    const { server, url: base } = await serveStatic(o.root ?? HERE, browserDir, o.port ?? 0, o.isolate ?? true, o.onRequest);
    return {
      url: demo ? demoUrl(base, demo, emulator.url) : base,
      base,
      emulator,
      demo,
      stop: async () => {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
        await emulator.stop();
      },
    };
  } catch (e) {
    await emulator.stop();
    throw e;
  }
}

async function main(argv: string[]): Promise<void> {
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const latencyMs = Number(opt('--latency') ?? 20);
  const port = Number(opt('--port') ?? 0);
  if (!Number.isFinite(latencyMs) || latencyMs < 0 || !Number.isInteger(port) || port < 0) {
    console.error('usage: npm run viewer -- [--latency MS] [--port N] [--no-isolate]');
    process.exit(2);
  }
  console.log('viewer: writing the demo dataset to the emulator...');
  const v = await startViewer({ latencyMs, port, isolate: !argv.includes('--no-isolate') });
  console.log(`viewer: emulator ${v.emulator.url} (latency ${latencyMs} ms), bucket ${DEMO_BUCKET}`);
  console.log(`viewer: open ${v.url}`);
  const stop = () => {
    console.log('\nviewer: stopping');
    void v.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
