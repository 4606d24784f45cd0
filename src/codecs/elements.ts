/**
 * Element helpers shared by the numcodecs-style array -> array codecs (delta, fixedscaleoffset,
 * bitround): contiguous element access, numpy-style casts and the `dtype`/`astype` options.
 */
import {
  type DataType,
  type TypedArray,
  allocTypedArray,
  float16BitsToNumber,
  float32ToFloat16Bits,
  isBigIntDtype,
  isDataType,
  isFloatDtype,
} from '../array/dtype.js';
import { type NdArray, toCOrder } from '../array/ndarray.js';
import { SpecError } from '../errors.js';
import { describeJson } from '../util/json.js';

/** The elements of `a` in C order, as a typed array (no copy when `a` is already contiguous). */
export function contiguousData(a: NdArray): TypedArray {
  return toCOrder(a).data as TypedArray;
}

/**
 * numpy `astype` between dtypes: integer targets wrap, floats to integers truncate toward zero
 * (NaN and out-of-range values are undefined in numpy; here they become 0 or wrap), float32 and
 * float16 round to nearest even.
 */
export function castElements(src: ArrayLike<number | bigint>, from: DataType, to: DataType): TypedArray {
  const n = src.length;
  const out = allocTypedArray(to, n);
  if (from === to) {
    (out as unknown as { set(a: ArrayLike<number | bigint>): void }).set(src);
    return out as TypedArray;
  }
  const get: (i: number) => number | bigint =
    from === 'float16' ? (i) => float16BitsToNumber(src[i] as number) : (i) => src[i]!;
  const o = out as unknown as (number | bigint)[];
  if (isBigIntDtype(to)) {
    for (let i = 0; i < n; i++) {
      const v = get(i);
      o[i] = typeof v === 'bigint' ? v : Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
    }
  } else if (to === 'float16') {
    for (let i = 0; i < n; i++) o[i] = float32ToFloat16Bits(Number(get(i)));
  } else if (isFloatDtype(to)) {
    for (let i = 0; i < n; i++) o[i] = Number(get(i));
  } else if (to === 'bool') {
    for (let i = 0; i < n; i++) o[i] = get(i) ? 1 : 0;
  } else {
    for (let i = 0; i < n; i++) {
      const v = get(i);
      o[i] = typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : Math.trunc(v);
    }
  }
  return out as TypedArray;
}

export function dtypeOption(codec: string, config: Record<string, unknown>, key: string, dflt: DataType): DataType {
  const v = config[key] ?? dflt;
  if (!isDataType(v)) throw new SpecError(`codecs.${codec}.${key}`, `expected a data type name, got ${describeJson(v)}`);
  return v;
}
