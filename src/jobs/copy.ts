/**
 * Whole-array jobs below the CLI: copying one array into another, one destination write chunk
 * (shard) at a time. The unit of work is a {@link CopyTask}: one destination write chunk, so
 * every destination shard is written exactly once, by one task, and a job can be split into
 * independent tasks (several processes, resumption) by handing each a subset of the plan.
 */
import { dtypeSize } from '../array/dtype.js';
import type { NdArray } from '../array/ndarray.js';
import { SpecError, throwIfAborted } from '../errors.js';
import { chunksInBox } from '../io/planner.js';
import type { Volume } from '../volume.js';

/** One unit of work: one destination write chunk (shard), clipped to the destination view. */
export interface CopyTask {
  /** Position of the write chunk in the destination view's write-chunk grid. */
  readonly cell: readonly number[];
  /** `[start, stop)` per dimension, in the destination view's coordinates. */
  readonly region: readonly (readonly [number, number])[];
}

/** Progress of a job, reported after each finished task. */
export interface CopyProgress {
  /** Destination write chunks (shards) written so far. */
  chunksDone: number;
  /** Destination write chunks this run writes. */
  chunksTotal: number;
  /** Array bytes (elements x dtype size, before compression) written so far. */
  bytesDone: number;
  /** Array bytes this run writes. */
  bytesTotal: number;
}

/** Options of {@link copyVolume} and {@link downsampleVolume}. */
export interface JobOptions {
  /** Tasks (write chunks) in flight at once. Default 4. */
  concurrency?: number;
  /** Called after every finished task (and once at the start with zero done). */
  onProgress?: (progress: CopyProgress) => void;
  /** Stops the job: no new task starts, in-flight reads and writes are aborted; rejects with AbortError. */
  signal?: AbortSignal;
  /**
   * Run only these tasks (a subset of {@link planCopy} of the destination), e.g. one worker's
   * share of a job split across machines. Default: every task.
   */
  tasks?: readonly CopyTask[];
}

/**
 * The tasks that write every element of `dst`: one per destination write chunk (shard) the
 * view touches, in C order of the write-chunk grid. Pure: no I/O.
 * @throws SpecError when the destination view has non-unit strides (a write chunk of a strided
 *   view is not a box of the view).
 */
export function planCopy(dst: Volume): CopyTask[] {
  const lo = dst.domain.inclusiveMin;
  const hi = dst.domain.exclusiveMax;
  // The destination's write chunks (shards) in the view's coordinates: the view is the array
  // itself, or the array transposed / translated / with integer-indexed dims (unit strides).
  const grid = dst.driver.grid;
  const cell = lo.map(() => 1);
  const origin = [...lo];
  dst.transform.outputs.forEach((m, k) => {
    if (m.kind !== 'dim') return;
    if (m.stride !== 1) throw new SpecError('transform', 'copy destination views must have unit strides');
    cell[m.inputDim] = grid.writeChunkShape[k]!;
    origin[m.inputDim] = grid.origin[k]! - m.offset;
  });
  return chunksInBox({ ...grid, origin, chunkShape: cell }, lo, hi).map((c) => ({
    cell: c,
    region: c.map((p, d) => {
      const a = origin[d]! + p * cell[d]!;
      return [Math.max(a, lo[d]!), Math.min(a + cell[d]!, hi[d]!)] as const;
    }),
  }));
}

function regionBytes(t: CopyTask, elementBytes: number): number {
  return t.region.reduce((n, [a, b]) => n * (b - a), elementBytes);
}

/**
 * Runs `tasks` on `dst`, `produce` giving each task's data; the engine of copy and downsample.
 * @internal
 */
export async function runTasks(
  dst: Volume,
  produce: (region: CopyTask['region'], signal: AbortSignal | undefined) => Promise<NdArray>,
  options: JobOptions,
): Promise<CopyProgress> {
  const { signal } = options;
  throwIfAborted(signal);
  const tasks = options.tasks ?? planCopy(dst);
  const elementBytes = dtypeSize(dst.dtype);
  const progress: CopyProgress = {
    chunksDone: 0,
    chunksTotal: tasks.length,
    bytesDone: 0,
    bytesTotal: tasks.reduce((n, t) => n + regionBytes(t, elementBytes), 0),
  };
  options.onProgress?.({ ...progress });
  let next = 0;
  // One failure stops the others from starting new tasks.
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < tasks.length && !failed) {
      throwIfAborted(signal);
      const t = tasks[next++]!;
      try {
        const data = await produce(t.region, signal);
        throwIfAborted(signal);
        await dst.slice(t.region).write(data, { signal });
      } catch (e) {
        failed = true;
        throw e;
      }
      progress.chunksDone++;
      progress.bytesDone += regionBytes(t, elementBytes);
      options.onProgress?.({ ...progress });
    }
  };
  const n = Math.max(1, Math.min(options.concurrency ?? 4, tasks.length));
  const results = await Promise.allSettled(Array.from({ length: n }, worker));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  return progress;
}

/**
 * Copies every element of `src` into `dst`, which must have the same shape (the source is
 * aligned to the destination's origin), one destination write chunk (shard) at a time, a few
 * in flight, so each destination shard is written exactly once. Works on views: transpose or
 * slice either side first. Returns the final progress (chunks and bytes written).
 *
 * ```ts
 * const src = await open('gs://bucket/em/|zarr3:');
 * const dst = await open({ driver: 'zarr3', kvstore: 'file:///data/em/', create: true, ... });
 * await copyVolume(src, dst, { onProgress: (p) => console.log(p.chunksDone, '/', p.chunksTotal) });
 * ```
 * @throws SpecError if the shapes differ or both are views of the same stored array (copying
 *   an array onto itself would read chunks it is rewriting); AbortError when `signal` fires;
 *   any read/write error of the arrays (KvStoreError, CorruptionError, ...).
 */
export async function copyVolume(src: Volume, dst: Volume, options: JobOptions = {}): Promise<CopyProgress> {
  if (src.rank !== dst.rank || src.shape.some((s, i) => s !== dst.shape[i])) {
    throw new SpecError('shape', `source shape [${src.shape}] differs from destination shape [${dst.shape}]`);
  }
  if (src.dtype !== dst.dtype) throw new SpecError('dtype', `source dtype ${src.dtype} differs from destination dtype ${dst.dtype}`);
  if (sameStoredArray(src, dst)) throw new SpecError('destination', `source and destination are the same array (${dst.driver.store.url})`);
  const srcView = src.translateTo(dst.domain.inclusiveMin);
  return runTasks(dst, (region, signal) => srcView.slice(region).read({ signal }), options);
}

/** Whether two volumes are views of one stored array (same driver and store location). */
export function sameStoredArray(a: Volume, b: Volume): boolean {
  if (a.driver === b.driver) return true;
  if (a.driver.driverName !== b.driver.driverName || a.driver.store.url !== b.driver.store.url) return false;
  // Same store: the same array unless the metadata differs (e.g. two scales of one precomputed volume).
  return JSON.stringify(a.driver.spec()) === JSON.stringify(b.driver.spec());
}
