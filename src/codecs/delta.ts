import { type DataType, allocTypedArray, isBigIntDtype, isFloatDtype } from '../array/dtype.js';
import { NdArray } from '../array/ndarray.js';
import { SpecError, UnsupportedError } from '../errors.js';
import type { ArrayArrayCodec, ChunkSpec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { castElements, contiguousData, dtypeOption } from './elements.js';

/**
 * `delta{dtype, astype}`: numcodecs' Delta filter over the flattened (C order) elements. Encode
 * keeps the first element and stores each later one as the difference from its predecessor,
 * computed in `dtype` (integers wrap) and cast to `astype`; decode is the cumulative sum, in
 * `dtype`. `astype` defaults to `dtype`; the decoded dtype must equal the chunk's dtype.
 */
export class DeltaCodec implements ArrayArrayCodec {
  readonly kind = 'array-array';
  readonly name = 'delta';
  constructor(
    readonly dtype: DataType,
    readonly astype: DataType,
  ) {}

  resolve(input: ChunkSpec): ChunkSpec {
    return { dtype: this.astype, shape: input.shape, fillValue: input.fillValue };
  }

  encode(a: NdArray, input: ChunkSpec, _ctx?: CodecContext): NdArray {
    const src = contiguousData(a) as ArrayLike<number | bigint>;
    const n = src.length;
    const diff = allocTypedArray(this.dtype, n) as unknown as (number | bigint)[];
    if (n > 0) diff[0] = src[0]!;
    if (isBigIntDtype(this.dtype)) {
      for (let i = 1; i < n; i++) diff[i] = (src[i] as bigint) - (src[i - 1] as bigint); // typed array wraps
    } else if (this.dtype === 'float32') {
      for (let i = 1; i < n; i++) diff[i] = Math.fround((src[i] as number) - (src[i - 1] as number));
    } else if (this.dtype === 'float16') {
      throw new UnsupportedError('codec "delta": float16 is not supported');
    } else {
      for (let i = 1; i < n; i++) diff[i] = (src[i] as number) - (src[i - 1] as number); // typed array wraps ints
    }
    const out = castElements(diff as unknown as ArrayLike<number | bigint>, this.dtype, this.astype);
    return new NdArray(this.astype, out, input.shape);
  }

  decode(a: NdArray, input: ChunkSpec, _ctx?: CodecContext): NdArray {
    const enc = castElements(contiguousData(a) as ArrayLike<number | bigint>, this.astype, this.dtype) as unknown as (number | bigint)[];
    const n = enc.length;
    const out = allocTypedArray(this.dtype, n) as unknown as (number | bigint)[];
    if (isBigIntDtype(this.dtype)) {
      let s = 0n;
      for (let i = 0; i < n; i++) out[i] = s = BigInt.asUintN(64, s + (enc[i] as bigint));
    } else if (this.dtype === 'float32') {
      let s = 0;
      for (let i = 0; i < n; i++) out[i] = s = Math.fround(s + (enc[i] as number));
    } else if (isFloatDtype(this.dtype)) {
      let s = 0;
      for (let i = 0; i < n; i++) out[i] = s = s + (enc[i] as number);
    } else {
      // integer cumulative sums wrap modulo 2^bits; |0 keeps the running sum exact
      let s = 0;
      for (let i = 0; i < n; i++) out[i] = s = (s + (enc[i] as number)) | 0;
    }
    return new NdArray(this.dtype, out as unknown as NdArray['data'], input.shape);
  }

  toJSON(): CodecJSON {
    return { name: 'delta', configuration: { dtype: this.dtype, astype: this.astype } };
  }
}

export const factory: CodecFactory = (config, spec) => {
  const dtype = dtypeOption('delta', config, 'dtype', spec.dtype);
  const astype = dtypeOption('delta', config, 'astype', dtype);
  if (dtype !== spec.dtype) throw new SpecError('codecs.delta.dtype', `"${dtype}" differs from the array's data type "${spec.dtype}"`);
  if (dtype === 'bool' || dtype === 'float16' || astype === 'bool' || astype === 'float16') {
    throw new UnsupportedError(`codec "delta": ${dtype} -> ${astype} is not supported`);
  }
  return new DeltaCodec(dtype, astype);
};
