import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { WorkerHandle, WorkerMessage, WorkerPlatform } from './protocol.js';

/**
 * The pool's Node platform: `worker_threads` running `codec-worker.js` (the built package) or
 * `codec-worker.ts` (running from the TypeScript sources, under vitest or the tsx-based CLI; the
 * worker then registers tsx's ESM loader before importing the entry). Node-only: loaded by the
 * pool through a computed import, never bundled for browsers.
 */

/**
 * Workers as `nodePlatform()` starts them, running `entry` (a file URL; default: the
 * codec-worker module next to this one, .js or .ts as this module is).
 */
export function nodePlatform(entry?: URL): WorkerPlatform {
  const here = import.meta.url;
  const url = entry ?? new URL(here.endsWith('.ts') ? './codec-worker.ts' : './codec-worker.js', here);
  return { spawn: () => spawnNodeWorker(url), cores: os.availableParallelism?.() ?? os.cpus().length };
}

const TS_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((api) => { api.register(); return import(workerData.entry); });
`;

let tsxApi: string | undefined;

/** File URL of tsx's ESM API (`tsx/esm/api`, import condition), resolved from this package. */
function tsxApiUrl(): string {
  if (tsxApi) return tsxApi;
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, unknown> };
  const exp = pkg.exports['./esm/api'] as string | { import?: string | { default?: string } };
  const rel = typeof exp === 'string' ? exp : typeof exp.import === 'string' ? exp.import : exp.import?.default;
  if (!rel) throw new Error('cannot find tsx/esm/api in tsx/package.json');
  return (tsxApi = pathToFileURL(path.join(path.dirname(pkgPath), rel)).href);
}

/**
 * A worker thread running module `entry` (a file URL): a .js module directly, a .ts one through
 * tsx's loader (registered in the worker first). `data` is the worker's `workerData` (a plain
 * object; with a .ts entry it also carries `tsx` and `entry`).
 */
export function startNodeWorker(entry: URL, data: Record<string, unknown> = {}): Worker {
  return /\.[mc]?ts$/.test(entry.pathname)
    ? new Worker(TS_BOOTSTRAP, { eval: true, workerData: { ...data, tsx: tsxApiUrl(), entry: entry.href } })
    : new Worker(fileURLToPath(entry), { workerData: data });
}

/** Starts one worker thread on `entry` and wraps it as a WorkerHandle. */
export function spawnNodeWorker(entry: URL): WorkerHandle {
  const w = startNodeWorker(entry);
  let failed = false;
  let terminated = false;
  const handle: WorkerHandle = {
    post: (m: WorkerMessage, transfer: ArrayBuffer[]) => w.postMessage(m, transfer),
    ref: () => w.ref(),
    unref: () => w.unref(),
    terminate: () => {
      terminated = true;
      void w.terminate();
    },
  };
  const fail = (e: Error) => {
    if (failed || terminated) return;
    failed = true;
    handle.onFailure?.(e);
  };
  w.on('message', (m) => {
    if (!terminated) handle.onMessage?.(m);
  });
  w.on('error', (e) => fail(e instanceof Error ? e : new Error(String(e))));
  w.on('messageerror', (e) => fail(e instanceof Error ? e : new Error(String(e))));
  w.on('exit', (code) => fail(new Error(`the worker exited with code ${code}`)));
  return handle;
}
