/**
 * Where the bench engine and `volstore tune` put the layouts they create: a temporary directory
 * on the local file store, the process's memory store, or the built-in GCS emulator (in this
 * process, on 127.0.0.1) with first-byte latency, bandwidth shaping and injected faults.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '../context/context.js';
import { openKvStore } from '../kvstore/open.js';
import { startEmulator, type Emulator, type EmulatorCounters } from '../testing/index.js';
import { BenchInputError } from './errors.js';

/** Store kinds a created layout can live on. */
export type StoreKind = 'file' | 'memory' | 'gcs-emulator';

/** @throws BenchInputError unless `text` is file, memory or gcs-emulator. */
export function parseStoreKind(text: string, flag = '--store'): StoreKind {
  if (text === 'file' || text === 'memory' || text === 'gcs-emulator') return text;
  throw new BenchInputError(`${flag}: "${text}" is not a store (file, memory, gcs-emulator)`);
}

/** Options of {@link openTarget}. */
export interface TargetOptions {
  kind: StoreKind;
  /** Parent of the temporary directory (file store). */
  tmpRoot: string;
  /** Emulator: first-byte latency (ms) of every response. */
  latencyMs?: number;
  /** Emulator: per-connection bandwidth (megabits per second; unlimited when unset). */
  bandwidthMbps?: number;
  /** Emulator: injected faults, e.g. `503:0.05,reset:0.01` (the stores retry them). */
  faults?: string;
  seed?: number;
}

/** An open target: kvstore specs for arrays under it, emulator counters, cleanup. */
export interface Target {
  kind: StoreKind;
  /** Human description ("file store under /tmp/...", "GCS emulator, 20 ms latency"). */
  description: string;
  /** The kvstore spec of a fresh location named `name` under the target. */
  kvstore(name: string): Record<string, unknown>;
  /** The emulator, when the target is one. */
  emulator?: Emulator;
  /** Emulator counters now (undefined for other targets). */
  counters(): EmulatorCounters | undefined;
  /** Removes everything the target holds (temporary directory, emulator). Idempotent. */
  close(): Promise<void>;
}

const BUCKET = 'volstore-bench';
let memoryCounter = 0;

/**
 * Opens a target.
 * @throws BenchInputError for a latency / bandwidth / faults option on a store that is not the emulator, or a bad fault spec.
 */
export async function openTarget(o: TargetOptions): Promise<Target> {
  const emuOnly = [['--latency-ms', o.latencyMs], ['--bandwidth-mbps', o.bandwidthMbps], ['--faults', o.faults]] as const;
  if (o.kind !== 'gcs-emulator') {
    const bad = emuOnly.find(([, v]) => v !== undefined);
    if (bad) throw new BenchInputError(`${bad[0]} applies to the built-in emulator only (--store gcs-emulator)`);
  }
  if (o.kind === 'file') {
    const dir = await mkdtemp(path.join(o.tmpRoot, 'volstore-bench-'));
    let closed = false;
    return {
      kind: 'file',
      description: `file store under ${dir}`,
      kvstore: (name) => ({ driver: 'file', path: `${path.join(dir, name)}/` }),
      counters: () => undefined,
      async close() {
        if (closed) return;
        closed = true;
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  if (o.kind === 'memory') {
    const root = `volstore-bench-${process.pid}-${++memoryCounter}`;
    return {
      kind: 'memory',
      description: 'memory store (this process)',
      kvstore: (name) => ({ driver: 'memory', path: `${root}/${name}/` }),
      counters: () => undefined,
      async close() {
        const store = await openKvStore({ driver: 'memory', path: `${root}/` }, '', new Context());
        await store.deleteRange('');
      },
    };
  }
  let emu: Emulator;
  try {
    emu = await startEmulator({ buckets: [BUCKET], latencyMs: o.latencyMs ?? 0, bandwidthMbps: o.bandwidthMbps, faults: o.faults, seed: o.seed ?? 1 });
  } catch (e) {
    if (e instanceof TypeError) throw new BenchInputError(`--faults / --latency-ms / --bandwidth-mbps: ${e.message}`);
    throw e;
  }
  const shaping = [
    `${o.latencyMs ?? 0} ms first-byte latency`,
    o.bandwidthMbps ? `${o.bandwidthMbps} Mbit/s per connection` : 'unlimited bandwidth',
    ...(o.faults ? [`faults ${o.faults}`] : []),
  ].join(', ');
  return {
    kind: 'gcs-emulator',
    description: `built-in GCS emulator (${shaping})`,
    kvstore: (name) => ({ driver: 'gcs', bucket: BUCKET, path: `${name}/`, endpoint: emu.url }),
    emulator: emu,
    counters: () => emu.counters(),
    close: () => emu.stop(),
  };
}
