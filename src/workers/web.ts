import type { WorkerHandle, WorkerMessage, WorkerPlatform } from './protocol.js';

/**
 * The pool's browser platform: module Web Workers on `codec-worker.js`. The worker is created
 * with the literal `new Worker(new URL('./codec-worker.js', import.meta.url), {type: 'module'})`,
 * the pattern bundlers (Vite, webpack 5, Parcel, Rollup plugins) follow to ship the worker
 * script; where it is not shipped, the worker fails to load and the pool turns itself off
 * (chunks then decode on the calling thread). Undefined where there are no Web Workers.
 */
export function webPlatform(): WorkerPlatform | undefined {
  if (typeof Worker === 'undefined') return undefined;
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return { spawn: spawnWebWorker, cores: typeof cores === 'number' && cores > 0 ? cores : 2 };
}

function spawnWebWorker(): WorkerHandle {
  const w = new Worker(new URL('./codec-worker.js', import.meta.url), { type: 'module' });
  let done = false;
  const handle: WorkerHandle = {
    post: (m: WorkerMessage, transfer: ArrayBuffer[]) => w.postMessage(m, transfer),
    ref: () => {},
    unref: () => {},
    terminate: () => {
      done = true;
      w.terminate();
    },
  };
  const fail = (e: Error) => {
    if (done) return;
    done = true;
    w.terminate();
    handle.onFailure?.(e);
  };
  w.onmessage = (ev: MessageEvent) => {
    if (!done) handle.onMessage?.(ev.data);
  };
  w.onerror = (ev: ErrorEvent) => {
    ev.preventDefault();
    fail(new Error(ev.message || 'the worker failed to load or threw'));
  };
  w.onmessageerror = () => fail(new Error('a message from the worker could not be deserialized'));
  return handle;
}
