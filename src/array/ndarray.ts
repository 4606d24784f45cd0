import { allocSharedTypedArray, allocTypedArray, bytesOf, type DataType, dtypeSize, type Scalar, type TypedArrayFor, fromElement, toElement } from './dtype.js';
import { copyStrided, everyRun } from './copy.js';
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
  if (typeof f === 'number' && Number.isNaN(f)) {
    const c = toCOrder(a);
    const d = c.data as Float32Array | Float64Array | Uint16Array;
    if (a.dtype === 'float16') {
      for (let i = 0; i < d.length; i++) if ((d[i]! & 0x7c00) !== 0x7c00 || (d[i]! & 0x3ff) === 0) return false;
      return true;
    }
    for (let i = 0; i < d.length; i++) if (!Number.isNaN(d[i]!)) return false;
    return true;
  }
  // Any strides (a view of a caller's array): compare run by run, no copy.
  const size = dtypeSize(a.dtype);
  const pattern = bytesOf(NdArray.zeros(a.dtype, [1], fill).data);
  const b = bytesOf(a.data);
  const zero = pattern.every((x) => x === 0);
  const words = new Int32Array(b.buffer, b.byteOffset & ~3, (b.byteLength + (b.byteOffset & 3)) >>> 2);
  const base = b.byteOffset;
  return everyRun(a.offset * size, a.strides.map((s) => s * size), a.shape, size, (start, length) => {
    let i = start;
    const end = start + length;
    if (zero) {
      // whole aligned words where they are, bytes at the ends
      for (; i < end && ((base + i) & 3) !== 0; i++) if (b[i] !== 0) return false;
      let w = (base + i - (base & ~3)) >>> 2;
      for (; i + 4 <= end; i += 4, w++) if (words[w] !== 0) return false;
      for (; i < end; i++) if (b[i] !== 0) return false;
      return true;
    }
    for (let k = 0; i < end; i++, k = k + 1 === size ? 0 : k + 1) if (b[i] !== pattern[k]) return false;
    return true;
  });
}
