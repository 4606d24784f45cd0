/**
 * Downsampling by integer factors per axis on the wasm core, rank 1..4.
 *
 * - `mean` (images; every numeric dtype): integers are summed exactly and rounded to nearest,
 *   ties to even; floats are summed in float64 in C order over the window and divided by the
 *   count (float32 results rounded once at the end).
 * - `mode` (segmentations; integer dtypes): the most frequent value of the window; ties go to
 *   the SMALLEST value (numerically, so signed types compare as signed).
 *
 * Edge windows (when a factor does not divide the extent) use only the elements that exist, so
 * the output extent per axis is `ceil(n / f)`. `order` says how `data` is laid out: 'C' (default,
 * last axis fastest) or 'F' (first axis fastest, e.g. precomputed [x,y,z,channel]); `shape` and
 * `factors` are always given in the array's own axis order and the output has the same order.
 */
import { UnsupportedError } from '../errors.js';
import { coreSync } from './core.js';

export type DownsampleMethod = 'mean' | 'mode';
export type DownsampleArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | BigUint64Array | BigInt64Array | Float32Array | Float64Array;

function dtypeCode(a: DownsampleArray): number {
  if (a instanceof Uint8Array) return 0;
  if (a instanceof Int8Array) return 1;
  if (a instanceof Uint16Array) return 2;
  if (a instanceof Int16Array) return 3;
  if (a instanceof Uint32Array) return 4;
  if (a instanceof Int32Array) return 5;
  if (a instanceof BigUint64Array) return 6;
  if (a instanceof BigInt64Array) return 7;
  if (a instanceof Float32Array) return 8;
  if (a instanceof Float64Array) return 9;
  throw new UnsupportedError('downsample: unsupported array type');
}

/** Output shape of a downsample: `ceil(shape[i] / factors[i])`. */
export function downsampledShape(shape: readonly number[], factors: readonly number[]): number[] {
  return shape.map((n, i) => Math.ceil(n / factors[i]!));
}

/**
 * Downsamples `data` of `shape` by `factors` (same length, rank 1..4, positive integers).
 * Returns a new array of the same type and `downsampledShape(shape, factors)`. Throws RangeError
 * on bad shapes and UnsupportedError for `mode` on float arrays.
 */
export function downsample<T extends DownsampleArray>(
  data: T,
  shape: readonly number[],
  factors: readonly number[],
  method: DownsampleMethod,
  order: 'C' | 'F' = 'C',
): T {
  const rank = shape.length;
  if (rank < 1 || rank > 4 || factors.length !== rank) throw new RangeError(`downsample: rank ${rank} with ${factors.length} factors (rank must be 1..4)`);
  for (let i = 0; i < rank; i++) {
    if (!Number.isInteger(shape[i]) || shape[i]! < 0) throw new RangeError(`downsample: bad shape ${JSON.stringify(shape)}`);
    if (!Number.isInteger(factors[i]) || factors[i]! < 1) throw new RangeError(`downsample: bad factors ${JSON.stringify(factors)}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new RangeError(`downsample: data has ${data.length} elements, shape ${JSON.stringify(shape)} needs ${count}`);
  const code = dtypeCode(data);
  if (method === 'mode' && code >= 8) throw new UnsupportedError('downsample: mode is defined for integer dtypes only');
  if (method !== 'mean' && method !== 'mode') throw new RangeError(`downsample: unknown method ${String(method)}`);
  let window = 1;
  for (const f of factors) window *= f;
  if (window > 1 << 24) throw new RangeError('downsample: factors product exceeds 2^24');
  // The C kernel works in C order on 4 dims: F-order data is C-order data with axes reversed.
  const cShape = order === 'F' ? [...shape].reverse() : [...shape];
  const cFactors = order === 'F' ? [...factors].reverse() : [...factors];
  while (cShape.length < 4) { cShape.unshift(1); cFactors.unshift(1); }
  const outShape = downsampledShape(shape, factors);
  const outCount = outShape.reduce((a, b) => a * b, 1);
  const Ctor = data.constructor as new (n: number) => T;
  const out = new Ctor(outCount);
  if (outCount === 0) return out;
  const core = coreSync();
  const pin = core.alloc(data.byteLength);
  let pout = 0;
  try {
    pout = core.alloc(out.byteLength);
    core.u8().set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pin);
    const p = core.paramsI32();
    for (let i = 0; i < 4; i++) { p[i] = cShape[i]!; p[4 + i] = cFactors[i]!; }
    const rc = core.exports.vs_downsample(method === 'mean' ? 0 : 1, code, pin, pout, core.params, core.params + 16);
    if (rc !== 0) throw new RangeError('downsample: the wasm kernel rejected its arguments');
    new Uint8Array(out.buffer).set(core.u8().subarray(pout, pout + out.byteLength));
    return out;
  } finally {
    if (pout) core.free(pout);
    core.free(pin);
  }
}
