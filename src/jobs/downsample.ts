/**
 * Downsampling one pyramid level: reads the source one destination write chunk at a time and
 * writes it reduced by integer factors with the WebAssembly kernel.
 */
import type { DataType } from '../array/dtype.js';
import { NdArray } from '../array/ndarray.js';
import { dtypeSize } from '../array/dtype.js';
import { SpecError, throwIfAborted, UnsupportedError } from '../errors.js';
import { loadCore } from '../wasm/core.js';
import { type DownsampleArray, type DownsampleMethod as KernelMethod, downsample, downsampledShape as kernelShape } from '../wasm/downsample.js';
import type { Volume } from '../volume.js';
import { type CopyProgress, type JobOptions, readPeakBytes, runTasks, writeChunkBytes } from './copy.js';
import { type CopyTask, viewReadChunk, WriteChunkPlan } from './plan.js';

/** How a window of voxels becomes one: `mean` (images; rounds half to even) or `mode` (labels: the most frequent value). */
export type DownsampleMethod = KernelMethod;

/**
 * The shape of `shape` downsampled by `factors`: `ceil(shape / factors)` per dimension (edge
 * windows are partial).
 */
export function downsampledShape(shape: readonly number[], factors: readonly number[]): number[] {
  return kernelShape(shape, factors);
}

/** Options of {@link downsampleVolume}. */
export interface DownsampleOptions extends JobOptions {
  /**
   * Integer reduction factor per source dimension (>= 1); fewer entries than the rank are
   * padded with 1 (e.g. a trailing channel dimension).
   */
  factors: readonly number[];
  /** `mean` (images; rounds half to even) or `mode` (labels). Default {@link defaultDownsampleMethod}. */
  method?: DownsampleMethod;
}

/** Labels (32- and 64-bit integers) vote (`mode`), everything else averages (`mean`). */
export function defaultDownsampleMethod(dtype: DataType): DownsampleMethod {
  return /^u?int(32|64)$/.test(dtype) ? 'mode' : 'mean';
}

/**
 * `factors` padded with 1s to `rank`, validated.
 * @throws SpecError (field `factors`) for non-positive or non-integer factors or too many.
 */
export function normalizeFactors(factors: readonly number[], rank: number): number[] {
  if (factors.length > rank) throw new SpecError('factors', `has ${factors.length} entries, the array has rank ${rank}`);
  if (factors.some((f) => !Number.isSafeInteger(f) || f < 1)) throw new SpecError('factors', `must be positive integers, got [${factors}]`);
  return [...factors, ...new Array<number>(rank - factors.length).fill(1)];
}

/** Source bytes one slab of a downsampling task reads at most (unless one aligned slab is larger). */
export const DOWNSAMPLE_SLAB_BYTES = 64 * 1024 * 1024;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * How a destination region is produced from the source: in slabs along the first dimension, so
 * a task holds the destination shard plus one slab of source (at most
 * {@link DOWNSAMPLE_SLAB_BYTES}, aligned to the source chunks where it can be) instead of the
 * whole `factors`-times-larger source region.
 */
interface Slabbing {
  /** Destination rows (first dimension) per slab. */
  rows: number;
  /** Source bytes of one slab of a full write chunk. */
  slabBytes: number;
}

function slabbing(src: Volume, dst: Volume, factors: readonly number[], cell: readonly number[]): Slabbing {
  const size = dtypeSize(src.dtype);
  const f0 = factors[0] ?? 1;
  const rowBytes = cell.slice(1).reduce((n, c, i) => n * c * (factors[i + 1] ?? 1), size) * f0;
  const c0 = src.rank > 0 ? viewReadChunk(src)[0]! : 1;
  // Smallest slab whose source rows are a whole number of source chunks: lcm(c0, f0) / f0 rows.
  const aligned = src.rank > 0 ? c0 / gcd(c0, f0) : 1;
  const total = cell[0] ?? 1;
  let rows = Math.max(aligned, Math.floor(DOWNSAMPLE_SLAB_BYTES / Math.max(1, rowBytes) / aligned) * aligned);
  rows = Math.min(rows, total);
  void dst;
  return { rows: Math.max(1, rows), slabBytes: rowBytes * Math.max(1, rows) };
}

/**
 * Writes `src` downsampled by integer `factors` into `dst`, whose shape must be
 * `ceil(src.shape / factors)` ({@link downsampledShape}). Source windows are aligned to the
 * factors, so tasks (destination write chunks) are independent and the result equals
 * downsampling the whole array at once; edge windows average or vote over the voxels that
 * exist. A task reads its source region in slabs (see {@link DOWNSAMPLE_SLAB_BYTES}), so its
 * memory is about one destination shard plus one slab. Returns the final progress.
 *
 * ```ts
 * const s0 = await open('file:///data/em.zarr/s0/');
 * const s1 = await open({ driver: 'zarr3', kvstore: 'file:///data/em.zarr/s1/', create: true,
 *   dtype: s0.dtype, schema: { domain: { shape: downsampledShape(s0.shape, [2, 2, 2]) } } });
 * await downsampleVolume(s0, s1, { factors: [2, 2, 2] });
 * ```
 * @throws UnsupportedError for float16/bool, `mode` on floats, or rank > 4; SpecError for a
 *   destination of the wrong shape or bad factors, or a task that does not fit `memoryLimit`;
 *   AbortError when `signal` fires; read/write errors of either array.
 */
export async function downsampleVolume(src: Volume, dst: Volume, options: DownsampleOptions): Promise<CopyProgress> {
  const factors = normalizeFactors(options.factors, src.rank);
  const method = options.method ?? defaultDownsampleMethod(src.dtype);
  if (method !== 'mean' && method !== 'mode') throw new SpecError('method', `must be "mean" or "mode", got ${JSON.stringify(method)}`);
  if (src.dtype === 'float16' || src.dtype === 'bool') throw new UnsupportedError(`downsampling ${src.dtype} is not supported`);
  if (method === 'mode' && src.dtype.startsWith('float')) throw new UnsupportedError('mode downsampling needs an integer dtype (label volumes)');
  if (src.rank > 4) throw new UnsupportedError('downsampling supports rank <= 4');
  if (dst.dtype !== src.dtype) throw new SpecError('dtype', `destination dtype ${dst.dtype} differs from source dtype ${src.dtype}`);
  const want = downsampledShape(src.shape, factors);
  if (want.some((n, i) => n !== dst.shape[i]) || dst.rank !== src.rank) {
    throw new SpecError('shape', `destination shape [${dst.shape}] is not the downsampled shape [${want}]`);
  }
  await loadCore();
  const slo = src.domain.inclusiveMin;
  const shi = src.domain.exclusiveMax;
  const dlo = dst.domain.inclusiveMin;
  const plan = WriteChunkPlan.of(dst);
  const cell = plan.cellShape.map((c, d) => Math.min(c, plan.hi[d]! - plan.lo[d]!));
  const slabs = slabbing(src, dst, factors, cell);
  const shard = writeChunkBytes(dst);
  const sourceOf = (region: CopyTask['region']) =>
    region.map(([a, b], d) => [slo[d]! + (a - dlo[d]!) * factors[d]!, Math.min(slo[d]! + (b - dlo[d]!) * factors[d]!, shi[d]!)] as const);
  const reduce = (block: NdArray) => downsample(block.data as DownsampleArray, block.shape, factors, method, 'C');
  return runTasks(
    dst,
    {
      async produce(region, signal) {
        const shape = region.map(([a, b]) => b - a);
        if (src.rank === 0 || shape[0]! <= slabs.rows) {
          return new NdArray(src.dtype, reduce(await src.slice(sourceOf(region)).read({ signal })) as never, shape);
        }
        // Slab by slab along the first dimension: each slab is a C-contiguous part of the result.
        const out = NdArray.zeros(src.dtype, shape);
        const rowElems = shape.slice(1).reduce((n, s) => n * s, 1);
        for (let r = region[0]![0]; r < region[0]![1]; r += slabs.rows) {
          throwIfAborted(signal);
          const part = [[r, Math.min(r + slabs.rows, region[0]![1])] as const, ...region.slice(1)];
          const data = reduce(await src.slice(sourceOf(part)).read({ signal }));
          (out.data as DownsampleArray).set(data as never, (r - region[0]![0]) * rowElems);
        }
        return out;
      },
      // One source slab (with its chunks in flight) and its reduction, the shard being filled,
      // then its encoded chunks, the assembled shard and the store's copy.
      taskBytes: readPeakBytes(src, slabs.slabBytes) + slabs.slabBytes / Math.max(1, factors.reduce((n, f) => n * f, 1)) + 4 * shard,
    },
    options,
  );
}
