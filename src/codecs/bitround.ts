import { type DataType, allocTypedArray } from '../array/dtype.js';
import { NdArray } from '../array/ndarray.js';
import { SpecError, UnsupportedError } from '../errors.js';
import type { ArrayArrayCodec, ChunkSpec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { contiguousData } from './elements.js';
import { describeJson } from '../util/json.js';

const MANTISSA_BITS: Partial<Record<DataType, number>> = { float16: 10, float32: 23, float64: 52 };

/**
 * `bitround{keepbits}`: numcodecs' BitRound. Encode keeps `keepbits` mantissa bits, rounding the
 * dropped ones half to even on the integer view of each float (as numcodecs does, so a carry may
 * reach the exponent); decode is the identity. Floats only.
 */
export class BitRoundCodec implements ArrayArrayCodec {
  readonly kind = 'array-array';
  readonly name = 'bitround';
  constructor(
    readonly keepbits: number,
    readonly dtype: DataType,
  ) {}

  resolve(input: ChunkSpec): ChunkSpec {
    return input;
  }

  encode(a: NdArray, input: ChunkSpec, _ctx?: CodecContext): NdArray {
    const bits = MANTISSA_BITS[this.dtype]!;
    const src = contiguousData(a);
    const out = allocTypedArray(this.dtype, src.length);
    const drop = bits - this.keepbits;
    if (drop === 0) {
      (out as Float32Array).set(src as Float32Array);
    } else if (this.dtype === 'float64') {
      const i64 = new BigInt64Array((src as Float64Array).slice().buffer);
      const mask = (-1n >> BigInt(drop)) << BigInt(drop);
      const d = BigInt(drop);
      const half = (1n << (d - 1n)) - 1n;
      for (let i = 0; i < i64.length; i++) {
        const b = i64[i]!;
        i64[i] = BigInt.asIntN(64, b + ((b >> d) & 1n) + half) & mask;
      }
      (out as Float64Array).set(new Float64Array(i64.buffer));
    } else {
      // float32 via an Int32 view; float16 values are already raw bits in a Uint16Array
      const ints = this.dtype === 'float32' ? new Int32Array((src as Float32Array).slice().buffer) : Int16Array.from(src as Uint16Array);
      const mask = (-1 >> drop) << drop;
      const half = (1 << (drop - 1)) - 1;
      for (let i = 0; i < ints.length; i++) {
        const b = ints[i]!;
        ints[i] = (b + ((b >> drop) & 1) + half) & mask; // typed array store wraps like numpy
      }
      if (this.dtype === 'float32') (out as Float32Array).set(new Float32Array(ints.buffer));
      else (out as Uint16Array).set(new Uint16Array(ints.buffer));
    }
    return new NdArray(this.dtype, out, input.shape);
  }

  decode(a: NdArray, _input: ChunkSpec, _ctx?: CodecContext): NdArray {
    return a;
  }

  toJSON(): CodecJSON {
    return { name: 'bitround', configuration: { keepbits: this.keepbits } };
  }
}

export const factory: CodecFactory = (config, spec) => {
  const bits = MANTISSA_BITS[spec.dtype];
  if (bits === undefined) throw new UnsupportedError(`codec "bitround": only float arrays can be bit-rounded, not ${spec.dtype}`);
  const k = config.keepbits;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k > bits) {
    throw new SpecError('codecs.bitround.keepbits', `expected an integer in [0, ${bits}] for ${spec.dtype}, got ${describeJson(k)}`);
  }
  return new BitRoundCodec(k, spec.dtype);
};
