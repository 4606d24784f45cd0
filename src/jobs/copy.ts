/**
 * Whole-array jobs below the CLI: copying one array into another, one destination write chunk
 * (shard) at a time. The unit of work is a {@link CopyTask}: one destination write chunk, so
 * every destination shard is written exactly once, by one task, and a job can be split into
 * independent tasks (several processes, resumption) by handing each a share of the plan
 * (`share: {index, count}`, see `plan.ts`).
 */
import { dtypeSize } from '../array/dtype.js';
import type { NdArray } from '../array/ndarray.js';
import { CodecError, CorruptionError, SpecError, throwIfAborted } from '../errors.js';
import { log, logEnabled } from '../util/log.js';
import type { Volume } from '../volume.js';
import { type CopyTask, shareOf, WriteChunkPlan } from './plan.js';

export type { CopyTask } from './plan.js';

/** Progress of a job, reported after each finished task. */
export interface CopyProgress {
  /** Destination write chunks (shards) finished so far (written, or skipped as complete). */
  chunksDone: number;
  /** Destination write chunks this run covers. */
  chunksTotal: number;
  /** Array bytes (elements x dtype size, before compression) finished so far. */
  bytesDone: number;
  /** Array bytes this run covers. */
  bytesTotal: number;
  /** Of `chunksDone`, those skipped because they were already complete (resume). */
  chunksSkipped: number;
  /** Tasks run again after a checksum or decoding error on a read (CorruptionError, CodecError). */
  tasksRetried: number;
}

/** Options of {@link copyVolume} and {@link downsampleVolume}. */
export interface JobOptions {
  /** Tasks (write chunks) in flight at once. Default 4 (fewer under `memoryLimit`). */
  concurrency?: number;
  /** Called after every finished task (and once at the start with zero done). */
  onProgress?: (progress: CopyProgress) => void;
  /** Stops the job: no new task starts, in-flight reads and writes are aborted; rejects with AbortError. */
  signal?: AbortSignal;
  /**
   * Run only these tasks (a subset of {@link planCopy} of the destination), e.g. one worker's
   * share of a job split across machines. Default: every task (or the `share`).
   */
  tasks?: readonly CopyTask[];
  /**
   * Run only the share of task `index` of `count`: a contiguous range of the destination's
   * write chunks (`shareOf` in plan.ts). Shares of `index = 0..count-1` are disjoint and cover
   * the destination. Ignored when `tasks` is given.
   */
  share?: { index: number; count: number };
  /**
   * Most bytes the tasks in flight may hold (decoded source region + destination shard being
   * encoded and written, per task): concurrency is lowered to fit. Default: unbounded.
   * @throws SpecError (from the job) when even one task needs more.
   */
  memoryLimit?: number;
  /**
   * Attempts of a task whose read fails a checksum or cannot be decoded (CorruptionError,
   * CodecError: a flipped byte in transit, a shard index or chunk crc32c mismatch). Each attempt
   * reads fresh from the store; nothing is written until a task's data decoded. Default 4.
   */
  corruptionAttempts?: number;
  /**
   * Resume: called before a task; when it resolves true the task is skipped (counted in
   * `chunksSkipped`). See `shardIsComplete` in pyramid.ts.
   */
  isComplete?: (task: CopyTask, signal: AbortSignal | undefined) => Promise<boolean>;
}

/**
 * The tasks that write every element of `dst`: one per destination write chunk (shard) the
 * view touches, in C order of the write-chunk grid. Pure: no I/O. Materialises the list; a job
 * over a huge volume uses the lazy {@link WriteChunkPlan} instead.
 * @throws SpecError when the destination view has non-unit strides (a write chunk of a strided
 *   view is not a box of the view).
 */
export function planCopy(dst: Volume): CopyTask[] {
  const plan = WriteChunkPlan.of(dst);
  return Array.from({ length: plan.count }, (_, i) => plan.taskAt(i));
}

function regionBytes(region: CopyTask['region'], elementBytes: number): number {
  return region.reduce((n, [a, b]) => n * (b - a), elementBytes);
}

/** Default attempts of a task that hit a checksum error. */
export const DEFAULT_CORRUPTION_ATTEMPTS = 4;

/** Whether an error is a failed checksum or decode of stored bytes (worth reading again). */
export function isChecksumError(e: unknown): boolean {
  return e instanceof CorruptionError || e instanceof CodecError;
}

/** What a task of a job needs: its data, and the bytes it holds at its peak (for `memoryLimit`). */
export interface TaskProducer {
  /** The data of `region` (destination coordinates). */
  produce(region: CopyTask['region'], signal: AbortSignal | undefined): Promise<NdArray>;
  /** Peak bytes one task holds (a full write chunk's worth), for `memoryLimit`. */
  taskBytes: number;
}

/**
 * The concurrency that fits `limit` bytes when each task holds `taskBytes`: `min(wanted, floor(limit / taskBytes))`.
 * @throws SpecError (field `memoryLimit`) when one task needs more than `limit`.
 */
export function concurrencyWithin(wanted: number, taskBytes: number, limit: number | undefined): number {
  if (limit === undefined) return wanted;
  const fits = Math.floor(limit / Math.max(1, taskBytes));
  if (fits < 1) {
    throw new SpecError(
      'memoryLimit',
      `one task needs about ${taskBytes} bytes (its decoded source region and destination shard), more than the limit of ${limit}: raise the limit or use smaller shards`,
    );
  }
  return Math.min(wanted, fits);
}

/**
 * Runs the tasks of `dst` (all, `tasks`, or the `share`), `producer` giving each task's data;
 * the engine of copy, downsample and the pyramid levels.
 * @internal
 */
export async function runTasks(dst: Volume, producer: TaskProducer, options: JobOptions): Promise<CopyProgress> {
  const { signal } = options;
  throwIfAborted(signal);
  const elementBytes = dtypeSize(dst.dtype);
  let taskAt: (i: number) => CopyTask;
  let count: number;
  if (options.tasks) {
    const list = options.tasks;
    taskAt = (i) => list[i]!;
    count = list.length;
  } else {
    const plan = WriteChunkPlan.of(dst);
    const [a, b] = options.share ? shareOf(plan.count, options.share.index, options.share.count) : [0, plan.count];
    taskAt = (i) => plan.taskAt(a + i);
    count = b - a;
  }
  // Totals without materialising the list: the bytes of a share are those of its tasks.
  let bytesTotal = 0;
  for (let i = 0; i < count; i++) bytesTotal += regionBytes(taskAt(i).region, elementBytes);
  const progress: CopyProgress = { chunksDone: 0, chunksTotal: count, bytesDone: 0, bytesTotal, chunksSkipped: 0, tasksRetried: 0 };
  options.onProgress?.({ ...progress });
  const attempts = Math.max(1, options.corruptionAttempts ?? DEFAULT_CORRUPTION_ATTEMPTS);
  let next = 0;
  // One failure stops the others from starting new tasks.
  let failed = false;
  const runOne = async (t: CopyTask): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const data = await producer.produce(t.region, signal);
        throwIfAborted(signal);
        await dst.slice(t.region).write(data, { signal });
        if (logEnabled('debug')) log.debug(`shard written: [${t.region.map(([a, b]) => `${a}:${b}`).join(', ')}]`);
        return;
      } catch (e) {
        if (!isChecksumError(e) || attempt >= attempts || signal?.aborted) throw e;
        progress.tasksRetried++;
        log.warn(`shard at [${t.region.map(([a, b]) => `${a}:${b}`).join(', ')}]: ${(e as Error).message}; reading it again (attempt ${attempt + 1} of ${attempts})`);
      }
    }
  };
  const worker = async (): Promise<void> => {
    while (next < count && !failed) {
      throwIfAborted(signal);
      const t = taskAt(next++);
      try {
        if (options.isComplete && (await options.isComplete(t, signal))) {
          progress.chunksSkipped++;
        } else {
          await runOne(t);
        }
      } catch (e) {
        failed = true;
        throw e;
      }
      progress.chunksDone++;
      progress.bytesDone += regionBytes(t.region, elementBytes);
      options.onProgress?.({ ...progress });
    }
  };
  const n = Math.max(1, Math.min(concurrencyWithin(options.concurrency ?? 4, producer.taskBytes, options.memoryLimit), count));
  const results = await Promise.allSettled(Array.from({ length: n }, worker));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  return progress;
}

/** Bytes of one full write chunk (shard) of `dst`'s view. */
export function writeChunkBytes(dst: Volume): number {
  const plan = WriteChunkPlan.of(dst);
  return plan.cellShape.reduce((n, c, d) => n * Math.min(c, plan.hi[d]! - plan.lo[d]!), dtypeSize(dst.dtype));
}

/**
 * Peak bytes of reading a region of `regionBytes` from `src`: the result plus the chunks being
 * fetched and decoded at once (the planner decodes up to 16 at a time; each holds its encoded
 * and decoded bytes).
 */
export function readPeakBytes(src: Volume, regionBytes: number): number {
  const chunk = src.chunkLayout.readChunk.shape.reduce((n, c) => n * c, dtypeSize(src.dtype));
  return regionBytes + Math.min(16 * 2 * chunk, 2 * regionBytes);
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
 * // one machine's share of a job split across 8: await copyVolume(src, dst, { share: { index: 3, count: 8 } });
 * ```
 * @throws SpecError if the shapes differ, both are views of the same stored array (copying
 *   an array onto itself would read chunks it is rewriting) or one task does not fit
 *   `memoryLimit`; AbortError when `signal` fires; any read/write error of the arrays
 *   (KvStoreError, CorruptionError after `corruptionAttempts`, ...).
 */
export async function copyVolume(src: Volume, dst: Volume, options: JobOptions = {}): Promise<CopyProgress> {
  if (src.rank !== dst.rank || src.shape.some((s, i) => s !== dst.shape[i])) {
    throw new SpecError('shape', `source shape [${src.shape}] differs from destination shape [${dst.shape}]`);
  }
  if (src.dtype !== dst.dtype) throw new SpecError('dtype', `source dtype ${src.dtype} differs from destination dtype ${dst.dtype}`);
  if (sameStoredArray(src, dst)) throw new SpecError('destination', `source and destination are the same array (${dst.driver.store.url})`);
  const srcView = src.translateTo(dst.domain.inclusiveMin);
  const shard = writeChunkBytes(dst);
  return runTasks(
    dst,
    {
      produce: (region, signal) => srcView.slice(region).read({ signal }),
      // The decoded source region, then the shard's encoded chunks, the assembled shard and
      // the store's copy of it (measured: test/jobs/memory.test.ts).
      taskBytes: readPeakBytes(src, shard) + 3 * shard,
    },
    options,
  );
}

/** Whether two volumes are views of one stored array (same driver and store location). */
export function sameStoredArray(a: Volume, b: Volume): boolean {
  if (a.driver === b.driver) return true;
  if (a.driver.driverName !== b.driver.driverName || a.driver.store.url !== b.driver.store.url) return false;
  // Same store: the same array unless the metadata differs (e.g. two scales of one precomputed volume).
  return JSON.stringify(a.driver.spec()) === JSON.stringify(b.driver.spec());
}
