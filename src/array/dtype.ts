/**
 * Data types, named as TensorStore names them. 64-bit integers use BigInt64Array /
 * BigUint64Array; float16 values are held as their raw IEEE binary16 bits in a Uint16Array
 * exposed through the `float16` dtype (see `float16.ts` for exact conversion).
 */
export type DataType =
  | 'bool'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float16'
  | 'float32'
  | 'float64';

export const DATA_TYPES: readonly DataType[] = [
  'bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
  'float16', 'float32', 'float64',
];

/** The typed array holding an NdArray's elements: one per {@link DataType} (bool as Uint8Array, float16 as Uint16Array bits, 64-bit integers as BigInt64Array / BigUint64Array). */
export type TypedArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** The typed array type that holds each dtype. */
export interface TypedArrayFor {
  bool: Uint8Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  float16: Uint16Array;
  float32: Float32Array;
  float64: Float64Array;
}

/** A scalar of a dtype as JS sees it: number, bigint (64-bit ints) or boolean. */
export type Scalar = number | bigint | boolean;

type TypedArrayCtor = {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

const CTORS: Record<DataType, TypedArrayCtor> = {
  bool: Uint8Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
};

export function isDataType(x: unknown): x is DataType {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(CTORS, x);
}

/** Bytes per element. */
export function dtypeSize(dtype: DataType): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

export function isBigIntDtype(dtype: DataType): dtype is 'int64' | 'uint64' {
  return dtype === 'int64' || dtype === 'uint64';
}

export function isFloatDtype(dtype: DataType): dtype is 'float16' | 'float32' | 'float64' {
  return dtype === 'float16' || dtype === 'float32' || dtype === 'float64';
}

/** Allocates a zeroed typed array of `length` elements. */
export function allocTypedArray<D extends DataType>(dtype: D, length: number): TypedArrayFor[D] {
  return new CTORS[dtype](length) as TypedArrayFor[D];
}

/**
 * Allocates a zeroed typed array of `length` elements over a SharedArrayBuffer, so that codec
 * workers can write it (see `sharedMemoryAvailable` in `place.ts` for where that exists).
 * @throws TypeError where SharedArrayBuffer does not exist; RangeError when it cannot be allocated.
 */
export function allocSharedTypedArray<D extends DataType>(dtype: D, length: number): TypedArrayFor[D] {
  const ctor = CTORS[dtype];
  return new ctor(new SharedArrayBuffer(length * ctor.BYTES_PER_ELEMENT), 0, length) as TypedArrayFor[D];
}

/**
 * Views `bytes` as a typed array of `dtype` in platform (little-endian) order. Copies when the
 * byte offset is not aligned to the element size.
 */
export function viewAs<D extends DataType>(dtype: D, bytes: Uint8Array): TypedArrayFor[D] {
  const ctor = CTORS[dtype];
  const size = ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  if (bytes.byteOffset % size !== 0) bytes = bytes.slice();
  return new ctor(bytes.buffer, bytes.byteOffset, bytes.byteLength / size) as TypedArrayFor[D];
}

/** The raw bytes under a typed array (no copy). */
export function bytesOf(a: TypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Converts a JS scalar to the element representation stored in the dtype's typed array. */
export function toElement(dtype: DataType, v: Scalar): number | bigint {
  if (isBigIntDtype(dtype)) {
    if (typeof v === 'bigint') return dtype === 'uint64' ? BigInt.asUintN(64, v) : BigInt.asIntN(64, v);
    if (typeof v === 'boolean') return v ? 1n : 0n;
    if (!Number.isInteger(v)) throw new TypeError(`${v} is not an integer for ${dtype}`);
    return BigInt(v);
  }
  if (dtype === 'float16') return float32ToFloat16Bits(Number(v));
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (dtype === 'bool') return v ? 1 : 0;
  return v;
}

/** Converts a stored element back to its JS scalar. */
export function fromElement(dtype: DataType, e: number | bigint): Scalar {
  if (dtype === 'bool') return e !== 0;
  if (dtype === 'float16') return float16BitsToNumber(Number(e));
  return e;
}

// ---- float16 (IEEE 754 binary16), exact in both directions (round half to even on encode) ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Exact conversion of binary16 bits to a JS number. */
export function float16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Rounds a number to the nearest binary16 (ties to even) and returns its bits. */
export function float32ToFloat16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  f32[0] = x; // first round to f32; double rounding f64->f32->f16 is exact for all f16 ties we emit below
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** Whether `b`'s memory is a SharedArrayBuffer (other threads, codec workers, may read and write it). */
export function isSharedMemory(b: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer === 'function' && b.buffer instanceof SharedArrayBuffer;
}
