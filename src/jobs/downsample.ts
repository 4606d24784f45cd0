/**
 * Downsampling one pyramid level: reads the source one destination write chunk at a time and
 * writes it reduced by integer factors with the WebAssembly kernel.
 */
import type { DataType } from '../array/dtype.js';
import { NdArray } from '../array/ndarray.js';
import { SpecError, UnsupportedError } from '../errors.js';
import { loadCore } from '../wasm/core.js';
import { type DownsampleArray, type DownsampleMethod as KernelMethod, downsample, downsampledShape as kernelShape } from '../wasm/downsample.js';
import type { Volume } from '../volume.js';
import { type CopyProgress, type JobOptions, runTasks } from './copy.js';

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

/**
 * Writes `src` downsampled by integer `factors` into `dst`, whose shape must be
 * `ceil(src.shape / factors)` ({@link downsampledShape}). Source windows are aligned to the
 * factors, so tasks (destination write chunks) are independent and the result equals
 * downsampling the whole array at once; edge windows average or vote over the voxels that
 * exist. Returns the final progress.
 *
 * ```ts
 * const s0 = await open('file:///data/em.zarr/s0/');
 * const s1 = await open({ driver: 'zarr3', kvstore: 'file:///data/em.zarr/s1/', create: true,
 *   dtype: s0.dtype, schema: { domain: { shape: downsampledShape(s0.shape, [2, 2, 2]) } } });
 * await downsampleVolume(s0, s1, { factors: [2, 2, 2] });
 * ```
 * @throws UnsupportedError for float16/bool, `mode` on floats, or rank > 4; SpecError for a
 *   destination of the wrong shape or bad factors; AbortError when `signal` fires; read/write
 *   errors of either array.
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
  return runTasks(
    dst,
    async (region, signal) => {
      const srcRegion = region.map(([a, b], d) => {
        const s0 = slo[d]! + (a - dlo[d]!) * factors[d]!;
        return [s0, Math.min(slo[d]! + (b - dlo[d]!) * factors[d]!, shi[d]!)] as const;
      });
      const block = await src.slice(srcRegion).read({ signal });
      const out = downsample(block.data as DownsampleArray, block.shape, factors, method, 'C');
      return new NdArray(src.dtype, out as never, downsampledShape(block.shape, factors));
    },
    options,
  );
}
