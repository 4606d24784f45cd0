/**
 * Per-task manifests: one small JSON object per (job, level, task), written last, after every
 * shard of the task's share of that level is written. A manifest says "this share is complete":
 * `--resume` skips a share whose manifest exists, and a task of level k+1 waits for the level-k
 * manifests of the tasks that own the shards it reads (polling with backoff, up to a timeout).
 *
 * Keys: `.volstore-job/<job digest>/level-<k>/task-<i>-of-<n>.json` under the job's root (the
 * destination array, pyramid group or precomputed volume). The digest ties a manifest to one
 * job's metadata, levels, factors and source, so a different job at the same place never reads
 * another's manifests. The object is written whole (atomic on every store), so a task killed
 * while writing it leaves either the old manifest or none.
 */
import { AbortError, KvStoreError, throwIfAborted } from '../errors.js';
import type { KvStore } from '../kvstore/kvstore.js';
import { writeValue } from '../kvstore/kvstore.js';
import { log } from '../util/log.js';
import type { StoreCounters } from '../kvstore/counting.js';
import { jsonBytes } from './metadata.js';

/** Prefix (under the job's root) of every manifest. */
export const MANIFEST_DIR = '.volstore-job/';

/** Format tag of a manifest. */
export const MANIFEST_FORMAT = 'volstore-job-manifest/1';

/** What a task records when its share of a level is complete. */
export interface TaskManifest {
  format: typeof MANIFEST_FORMAT;
  /** The job digest (see `jobDigest`). */
  job: string;
  /** Level number (0 = the first array the job writes). */
  level: number;
  /** The level's name (`s1`, a precomputed scale key, or '' for a single array). */
  levelName: string;
  task: { index: number; count: number };
  /** The share: task numbers `[start, end)` of the level's plan. */
  range: [number, number];
  /** Shards written by this run, skipped as already complete (resume), and found all fill (nothing stored). */
  shards: { written: number; skipped: number; total: number };
  /** Store counters of this run of the level (objects, bytes, requests, retries). */
  counters: StoreCounters;
  /** Wall-clock seconds this run spent on the level (waiting excluded). */
  seconds: number;
  /** ISO time the manifest was written. */
  finishedAt: string;
}

/** The key (relative to the job's root) of the manifest of task `index` of `count` for `level` of job `digest`. */
export function manifestKey(digest: string, level: number, index: number, count: number): string {
  return `${MANIFEST_DIR}${digest}/level-${level}/task-${index}-of-${count}.json`;
}

/** Writes a manifest at `key` (whole object, unconditionally: a rerun replaces its own). */
export async function writeManifest(store: KvStore, key: string, m: TaskManifest, signal?: AbortSignal): Promise<void> {
  await writeValue(store, key, jsonBytes(m), signal);
}

/**
 * The manifest at `key`, or undefined when there is none. A manifest that is not valid JSON of
 * this format (written by something else) counts as absent, with a warning: the share is then
 * redone or verified, never trusted.
 */
export async function readManifest(store: KvStore, key: string, signal?: AbortSignal): Promise<TaskManifest | undefined> {
  const r = await store.read(key, { signal });
  if (r.state !== 'value') return undefined;
  try {
    const m = JSON.parse(new TextDecoder().decode(r.value)) as TaskManifest;
    if (m?.format === MANIFEST_FORMAT && Array.isArray(m.range)) return m;
  } catch {
    // fall through
  }
  log.warn(`${store.url}${key}: not a volstore job manifest; ignoring it`);
  return undefined;
}

/** Options of {@link waitForManifests}. */
export interface WaitOptions {
  /** Give up after this many milliseconds of waiting. */
  timeoutMs: number;
  /** Longest pause between two polls, in milliseconds (the pause starts at 1/8 of it and grows 1.5x). */
  maxPollMs: number;
  signal?: AbortSignal;
  /** Called when a wait starts and then at most once a minute, with the keys still missing. */
  onWaiting?: (missing: readonly string[], waitedMs: number) => void;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError('operation aborted', { cause: signal.reason }));
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortError('operation aborted', { cause: signal!.reason }));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits until every manifest in `keys` exists, polling the missing ones with a growing pause.
 * Returns the milliseconds spent waiting (0 when all were there).
 * @throws KvStoreError naming the missing manifests when `timeoutMs` passes; AbortError.
 */
export async function waitForManifests(store: KvStore, keys: readonly string[], o: WaitOptions): Promise<number> {
  const t0 = Date.now();
  let missing = [...keys];
  let pause = Math.max(10, o.maxPollMs / 8);
  let lastReport = -Infinity;
  for (;;) {
    throwIfAborted(o.signal);
    const found = await Promise.all(missing.map((k) => readManifest(store, k, o.signal)));
    missing = missing.filter((_, i) => !found[i]);
    const waited = Date.now() - t0;
    if (missing.length === 0) return waited;
    if (waited >= o.timeoutMs) {
      throw new KvStoreError(
        `${store.url}${missing[0]}`,
        `waited ${Math.round(waited / 1000)} s for the input of this task, still missing ${missing.length} manifest(s): ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', ...' : ''} (is that task running? rerun it, or raise --wait-timeout)`,
      );
    }
    if (waited - lastReport >= 60_000) {
      o.onWaiting?.(missing, waited);
      lastReport = waited;
    }
    await sleep(Math.min(pause, o.timeoutMs - waited), o.signal);
    pause = Math.min(o.maxPollMs, pause * 1.5);
  }
}
