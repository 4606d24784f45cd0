/**
 * Shared pieces of the job tests: a deterministic source volume, task processes spawned from
 * the sources (tsx, never dist/), and a byte-level snapshot of what a job wrote to the emulator.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { GcsStore } from '../../src/kvstore/gcs.js';
import { NdArray, open } from '../../src/index.js';
import type { Emulator } from '../../src/testing/index.js';
import { ENTRY, TSX } from '../cli/helpers.js';

/** Deterministic, poorly compressible uint8 values (a multiplicative hash of the index), with a smooth part so means vary. */
export function sourceData(shape: number[], seed = 0): NdArray<'uint8'> {
  const a = NdArray.zeros('uint8', shape);
  const d = a.data as Uint8Array;
  for (let i = 0; i < d.length; i++) d[i] = (((i + seed) * 2654435761) >>> 26) + ((i >> 7) & 0xc0);
  return a;
}

/** Writes a zarr3 uint8 volume of `shape` with `chunk`-shaped chunks at the spec or URL `where`. */
export async function makeSource(where: string | Record<string, unknown>, shape: number[], chunk: number[], seed = 0): Promise<void> {
  const base = typeof where === 'string' ? { kvstore: where } : where;
  const v = await open({ driver: 'zarr3', ...base, create: true, delete_existing: true, dtype: 'uint8', schema: { domain: { shape }, chunk_layout: { chunk: { shape: chunk } } } });
  await v.write(sourceData(shape, seed));
}

/** A running `volstore` child process and its collected output. */
export interface Task {
  child: ChildProcess;
  /** Resolves when it exits, with its code (null when killed) and output. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>;
  /** Standard error so far. */
  err(): string;
}

/** Spawns `volstore args` from the sources with extra environment. */
export function spawnTask(args: string[], env: NodeJS.ProcessEnv = {}): Task {
  const child = spawn(process.execPath, ['--import', TSX, ENTRY, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
  return { child, done, err: () => err };
}

/** Runs tasks `0..n-1` of `args` (each gets `--task-index i --task-count n`) at once; resolves with their results. */
export async function runTasks(n: number, args: string[], env: NodeJS.ProcessEnv = {}) {
  const tasks = Array.from({ length: n }, (_, i) => spawnTask([...args, '--task-index', String(i), '--task-count', String(n)], env));
  return Promise.all(tasks.map((t) => t.done));
}

/** A GCS store on the emulator (no faults of its own: retries are the store's defaults). */
export function emulatorStore(emu: Emulator, bucket: string, path = ''): GcsStore {
  return new GcsStore({ bucket, path, endpoint: emu.url, retries: { maxRetries: 60, initialDelayMs: 5, maxDelayMs: 50 } });
}

/**
 * Every object under `prefix` in `bucket` (job manifests excluded: they differ between task
 * counts by design), by key, as hex of a SHA-256 plus the size: equal maps mean byte-identical output.
 */
export async function snapshot(emu: Emulator, bucket: string, prefix: string): Promise<Map<string, string>> {
  const store = emulatorStore(emu, bucket, prefix);
  const keys: string[] = [];
  for await (const k of store.list('')) if (!k.startsWith('.volstore-job/')) keys.push(k);
  const out = new Map<string, string>();
  for (const k of keys.sort()) {
    const r = await store.read(k);
    if (r.state !== 'value') throw new Error(`${k} vanished`);
    out.set(k, `${r.value.byteLength}:${createHash('sha256').update(r.value).digest('hex').slice(0, 32)}`);
  }
  return out;
}

/** The manifests under `prefix` (keys below `.volstore-job/`). */
export async function manifests(emu: Emulator, bucket: string, prefix: string): Promise<string[]> {
  const store = emulatorStore(emu, bucket, prefix);
  const keys: string[] = [];
  for await (const k of store.list('.volstore-job/')) keys.push(k);
  return keys.sort();
}
