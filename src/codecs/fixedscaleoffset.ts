import {
  type DataType,
  type TypedArray,
  allocTypedArray,
  float16BitsToNumber,
  float32ToFloat16Bits,
  isBigIntDtype,
  isFloatDtype,
} from '../array/dtype.js';
import { NdArray } from '../array/ndarray.js';
import { SpecError, UnsupportedError } from '../errors.js';
import type { ArrayArrayCodec, ChunkSpec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { castElements, contiguousData, dtypeOption } from './elements.js';
import { describeJson } from '../util/json.js';

/**
 * `fixedscaleoffset{offset, scale, dtype, astype}`: numcodecs' FixedScaleOffset filter.
 * Encode: round((x - offset) * scale) (ties to even) cast to `astype`; decode: y / scale + offset
 * cast to `dtype`. Arithmetic follows numpy's promotion for an array with Python scalars, as
 * numcodecs does: a float `dtype` computes in that precision (float32 rounds each step); an
 * integer `astype` divides in float64 on decode.
 */
export class FixedScaleOffsetCodec implements ArrayArrayCodec {
  readonly kind = 'array-array';
  readonly name = 'fixedscaleoffset';
  constructor(
    readonly offset: number,
    readonly scale: number,
    readonly dtype: DataType,
    readonly astype: DataType,
  ) {}

  resolve(input: ChunkSpec): ChunkSpec {
    return { dtype: this.astype, shape: input.shape, fillValue: input.fillValue };
  }

  encode(a: NdArray, input: ChunkSpec, _ctx?: CodecContext): NdArray {
    const src = toNumbers(contiguousData(a), this.dtype);
    const r = rounder(this.dtype, Number.isInteger(this.offset) && Number.isInteger(this.scale));
    const out = new Float64Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = roundHalfEven(r(r(src[i]! - this.offset) * this.scale));
    return new NdArray(this.astype, castElements(out, 'float64', this.astype), input.shape);
  }

  decode(a: NdArray, input: ChunkSpec, _ctx?: CodecContext): NdArray {
    const enc = toNumbers(contiguousData(a), this.astype);
    // int astype / python scalar -> float64 in numpy; a float astype keeps its precision
    const r = isFloatDtype(this.astype) ? rounder(this.astype, false) : (x: number) => x;
    const out = new Float64Array(enc.length);
    for (let i = 0; i < enc.length; i++) out[i] = r(r(enc[i]! / this.scale) + this.offset);
    return new NdArray(this.dtype, castElements(out, 'float64', this.dtype), input.shape);
  }

  toJSON(): CodecJSON {
    return { name: 'fixedscaleoffset', configuration: { offset: this.offset, scale: this.scale, dtype: this.dtype, astype: this.astype } };
  }
}

/** The rounding numpy applies after each operation on an array of `dtype` with Python scalars. */
function rounder(dtype: DataType, integerScalars: boolean): (x: number) => number {
  if (dtype === 'float32') return Math.fround;
  if (dtype === 'float16') return (x) => float16BitsToNumber(float32ToFloat16Bits(x));
  if (!isFloatDtype(dtype) && integerScalars && !isBigIntDtype(dtype)) {
    // integer array op integer scalar stays in the integer type and wraps
    const tmp = allocTypedArray(dtype, 1) as unknown as number[];
    return (x) => ((tmp[0] = x), tmp[0]!);
  }
  return (x) => x;
}

/** numpy.around: round half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function toNumbers(data: TypedArray, dtype: DataType): Float64Array {
  if (dtype === 'float16') return Float64Array.from(data as Uint16Array, float16BitsToNumber);
  if (isBigIntDtype(dtype)) return Float64Array.from(data as BigInt64Array, Number);
  return Float64Array.from(data as ArrayLike<number>);
}

function numberOption(config: Record<string, unknown>, key: string, dflt: number): number {
  const v = config[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new SpecError(`codecs.fixedscaleoffset.${key}`, `expected a finite number, got ${describeJson(v)}`);
  return v;
}

export const factory: CodecFactory = (config, spec) => {
  const dtype = dtypeOption('fixedscaleoffset', config, 'dtype', spec.dtype);
  const astype = dtypeOption('fixedscaleoffset', config, 'astype', dtype);
  if (dtype !== spec.dtype) throw new SpecError('codecs.fixedscaleoffset.dtype', `"${dtype}" differs from the array's data type "${spec.dtype}"`);
  if (dtype === 'bool' || astype === 'bool') throw new UnsupportedError('codec "fixedscaleoffset": bool is not supported');
  const scale = numberOption(config, 'scale', 1);
  if (scale === 0) throw new SpecError('codecs.fixedscaleoffset.scale', 'must not be 0');
  return new FixedScaleOffsetCodec(numberOption(config, 'offset', 0), scale, dtype, astype);
};
