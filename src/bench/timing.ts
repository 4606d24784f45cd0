/** Timing helpers: repeated measurements reported as the median, with every sample kept. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Measured } from './types.js';

/**
 * A full GC between runs, so one run's garbage (a 134 MB result) is not collected on the next
 * run's clock. Uses `gc` when node runs with --expose-gc, else enables it at runtime.
 */
const collect: (() => void) | undefined = (() => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
})();

/** Timed runs of one contender. */
export interface Timing {
  /** Wall-clock milliseconds of each timed run (warm-ups excluded). */
  samplesMs: number[];
  medianMs: number;
  minMs: number;
  maxMs: number;
}

/** The median (the mean of the middle two for an even count); NaN for no samples. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median, min and max of timed runs (ms). */
export function summarize(samplesMs: number[]): Timing {
  return { samplesMs, medianMs: median(samplesMs), minMs: Math.min(...samplesMs), maxMs: Math.max(...samplesMs) };
}

/** Runs `fn` once and returns [milliseconds, result]. */
export async function timeOnce<T>(fn: () => Promise<T>): Promise<[number, T]> {
  collect?.();
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
}

/** One contender of {@link measureInterleaved}: a name and the run to time. */
export interface Contender<T> {
  name: string;
  run: () => Promise<T>;
}

/**
 * Measures several contenders on the same task: `warmup` untimed runs of each, then `runs`
 * rounds in which every contender runs once (interleaved, so background load on a shared
 * machine hits them alike). `check(name, result)` sees the result of each contender's warm-up
 * (or first timed run with no warm-up) so the caller can verify correctness.
 */
export async function measureInterleaved<T>(
  contenders: readonly Contender<T>[],
  opts: { runs: number; warmup: number; check?: (name: string, result: T) => void | Promise<void> },
): Promise<Map<string, Timing>> {
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const checked = new Set<string>();
  for (let w = 0; w < opts.warmup; w++) {
    for (const c of contenders) {
      const r = await c.run();
      if (!checked.has(c.name)) {
        checked.add(c.name);
        await opts.check?.(c.name, r);
      }
    }
  }
  for (let i = 0; i < opts.runs; i++) {
    for (const c of contenders) {
      const [ms, r] = await timeOnce(c.run);
      samples.get(c.name)!.push(ms);
      if (!checked.has(c.name)) {
        checked.add(c.name);
        await opts.check?.(c.name, r);
      }
    }
  }
  return new Map([...samples].map(([k, v]) => [k, summarize(v)]));
}

/** Decimal megabytes per second. */
export function mbPerSec(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1e3);
}

/**
 * The p-th percentile (0..100) of `xs` by linear interpolation between closest ranks (numpy's
 * default), NaN for no samples. With fewer than about 20 samples p95/p99 are close to the max.
 */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const r = (Math.min(100, Math.max(0, p)) / 100) * (s.length - 1);
  const lo = Math.floor(r);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (r - lo);
}

/** p50 / p95 / p99 of per-access latencies in milliseconds. */
export function latencyPercentiles(samplesMs: readonly number[]): { p50Ms: number; p95Ms: number; p99Ms: number } {
  return { p50Ms: percentile(samplesMs, 50), p95Ms: percentile(samplesMs, 95), p99Ms: percentile(samplesMs, 99) };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * A {@link Measured} from timed runs of which each moved `bytes`: the median and its MB/s, the
 * samples (rounded to 0.01 ms) and, when every run is one access (a slice, a block), the
 * per-access latency percentiles.
 */
export function measured(t: { medianMs: number; samplesMs: readonly number[] }, bytes: number, opts: { perAccess?: boolean } = {}): Measured {
  const m: Measured = {
    medianMs: t.medianMs,
    samplesMs: t.samplesMs.map(round2),
    bytes,
    mbPerSec: mbPerSec(bytes, t.medianMs),
  };
  if (opts.perAccess && t.samplesMs.length > 0) Object.assign(m, latencyPercentiles(t.samplesMs));
  return m;
}
