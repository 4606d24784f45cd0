import { allocSharedTypedArray, allocTypedArray, bytesOf, type DataType, dtypeSize, type Scalar, type TypedArrayFor, fromElement, toElement } from './dtype.js';
import { copyStrided } from './copy.js';
import { shapePositions } from './grid.js';

/**
 * A strided n-d view over a typed array. `strides` are in ELEMENTS (not bytes), may be
 * negative or zero, and `offset` is the element index of position [0, ..., 0].
 * Arrays returned by `read()` are C-order contiguous with offset 0.
 */
export class NdArray<D extends DataType = DataType> {
  constructor(
    readonly dtype: D,
    readonly data: TypedArrayFor[D],
    readonly shape: readonly number[],
    readonly strides: readonly number[] = cOrderStrides(shape),
    readonly offset = 0,
  ) {
    if (strides.length !== shape.length) throw new RangeError('strides and shape differ in rank');
  }

  /**
   * A zero-filled (or `fill`-filled) C-order array; with `shared`, over a SharedArrayBuffer
   * (codec workers can write it; TypeError where there is none).
   */
  static zeros<D extends DataType>(dtype: D, shape: readonly number[], fill?: Scalar, shared = false): NdArray<D> {
    const data = shared ? allocSharedTypedArray(dtype, product(shape)) : allocTypedArray(dtype, product(shape));
    if (fill !== undefined) {
      const e = toElement(dtype, fill);
      // Object.is: a -0.0 fill must not be skipped as if it were +0.
      if (!Object.is(e, 0) && e !== 0n) (data as { fill(v: number | bigint): unknown }).fill(e);
    }
    return new NdArray(dtype, data, shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return product(this.shape);
  }

  /** True if the elements are laid out in C order from `offset` with no gaps. */
  get isCContiguous(): boolean {
    return this.offset === 0 && this.data.length === this.size && sameStrides(this.strides, cOrderStrides(this.shape), this.shape);
  }

  /** Element at an index, as a JS scalar (boolean for bool, bigint for 64-bit ints). */
  get(index: readonly number[]): Scalar {
    let p = this.offset;
    for (let i = 0; i < index.length; i++) p += index[i]! * this.strides[i]!;
    return fromElement(this.dtype, this.data[p]!);
  }

  set(index: readonly number[], value: Scalar): void {
    let p = this.offset;
    for (let i = 0; i < index.length; i++) p += index[i]! * this.strides[i]!;
    (this.data as unknown as (number | bigint)[])[p] = toElement(this.dtype, value);
  }

  /** Returns the elements as a nested JS array (for tests and small arrays). */
  toNested(): unknown {
    const rec = (dim: number, p: number): unknown => {
      if (dim === this.rank) return fromElement(this.dtype, this.data[p]!);
      const out: unknown[] = [];
      for (let i = 0; i < this.shape[dim]!; i++) out.push(rec(dim + 1, p + i * this.strides[dim]!));
      return out;
    };
    return rec(0, this.offset);
  }

  /** Elements in C order as a flat JS array of scalars. */
  toFlat(): Scalar[] {
    const out: Scalar[] = [];
    forEachIndex(this.shape, (_idx, pos) => {
      out.push(fromElement(this.dtype, this.data[this.offset + dot(pos, this.strides)]!));
    });
    return out;
  }
}

export function product(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function cOrderStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function fOrderStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = 0; i < shape.length; i++) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

function sameStrides(a: readonly number[], b: readonly number[], shape: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (shape[i]! > 1 && a[i] !== b[i]) return false;
  return true;
}

function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Calls `fn` for every index of `shape` in C order (slow; for tests and small loops). */
export function forEachIndex(shape: readonly number[], fn: (flat: number, index: readonly number[]) => void): void {
  let flat = 0;
  for (const idx of shapePositions(shape)) fn(flat++, idx);
}

/** A C-contiguous array with offset 0 holding `a`'s elements (returns `a` itself when it already is one). */
export function toCOrder<D extends DataType>(a: NdArray<D>): NdArray<D> {
  if (a.isCContiguous) return a;
  const out = NdArray.zeros(a.dtype, a.shape);
  const size = out.data.BYTES_PER_ELEMENT;
  copyStrided(
    bytesOf(out.data), 0, out.strides.map((s) => s * size),
    bytesOf(a.data), a.offset * size, a.strides.map((s) => s * size),
    a.shape, size,
  );
  return out;
}

/**
 * True when every element of `a` equals `fill` bit for bit (for a NaN fill, any NaN matches).
 * Used to skip storing chunks equal to the fill value.
 */
export function isAllFill(a: NdArray, fill: Scalar): boolean {
  const f = NdArray.zeros(a.dtype, [1], fill).data[0]!;
  const c = toCOrder(a);
  if (typeof f === 'number' && Number.isNaN(f)) {
    const d = c.data as Float32Array | Float64Array | Uint16Array;
    if (a.dtype === 'float16') {
      for (let i = 0; i < d.length; i++) if ((d[i]! & 0x7c00) !== 0x7c00 || (d[i]! & 0x3ff) === 0) return false;
      return true;
    }
    for (let i = 0; i < d.length; i++) if (!Number.isNaN(d[i]!)) return false;
    return true;
  }
  const size = dtypeSize(a.dtype);
  const pattern = bytesOf(NdArray.zeros(a.dtype, [1], fill).data);
  const b = bytesOf(c.data);
  if (pattern.every((x) => x === 0) && b.byteOffset % 4 === 0) {
    const words = new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
    for (let i = words.length * 4; i < b.length; i++) if (b[i] !== 0) return false;
    return true;
  }
  for (let i = 0; i < b.length; i++) if (b[i] !== pattern[i % size]) return false;
  return true;
}
