import { type DataType, type Scalar, float16BitsToNumber, isBigIntDtype, isFloatDtype } from '../../src/array/dtype.js';
import { forEachIndex, NdArray, product } from '../../src/array/ndarray.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { mulberry32 } from '../../src/testing/prng.js';

export const ALL_DTYPES: readonly DataType[] = [
  'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float16', 'float32', 'float64',
];

/** mulberry32 (the emulator's seeded PRNG): values generated per property run from one seed. */
export const rng = mulberry32;

/** A random value of `dtype`, exactly representable in it (full range, incl. extremes). */
export function randomValue(dtype: DataType, r: () => number): Scalar {
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = r();
  switch (dtype) {
    case 'bool':
      return r() < 0.5;
    case 'int8':
      return pick < 0.1 ? (r() < 0.5 ? -128 : 127) : int(-128, 127);
    case 'uint8':
      return pick < 0.1 ? 255 : int(0, 255);
    case 'int16':
      return pick < 0.1 ? (r() < 0.5 ? -32768 : 32767) : int(-32768, 32767);
    case 'uint16':
      return pick < 0.1 ? 65535 : int(0, 65535);
    case 'int32':
      return pick < 0.1 ? (r() < 0.5 ? -(2 ** 31) : 2 ** 31 - 1) : int(-(2 ** 31), 2 ** 31 - 1);
    case 'uint32':
      return pick < 0.1 ? 2 ** 32 - 1 : int(0, 2 ** 32 - 1);
    case 'int64': {
      if (pick < 0.1) return r() < 0.5 ? -(2n ** 63n) : 2n ** 63n - 1n;
      return BigInt.asIntN(64, (BigInt(int(0, 2 ** 32 - 1)) << 32n) | BigInt(int(0, 2 ** 32 - 1)));
    }
    case 'uint64': {
      if (pick < 0.1) return 2n ** 64n - 1n;
      return (BigInt(int(0, 2 ** 32 - 1)) << 32n) | BigInt(int(0, 2 ** 32 - 1));
    }
    case 'float16': {
      if (pick < 0.03) return NaN;
      if (pick < 0.06) return r() < 0.5 ? Infinity : -Infinity;
      // any finite binary16 bit pattern
      let bits: number;
      do bits = int(0, 0xffff);
      while ((bits & 0x7c00) === 0x7c00);
      return float16BitsToNumber(bits);
    }
    case 'float32': {
      if (pick < 0.03) return NaN;
      if (pick < 0.06) return -0;
      return Math.fround((r() - 0.5) * 10 ** int(-5, 30));
    }
    case 'float64':
      if (pick < 0.03) return NaN;
      if (pick < 0.06) return r() < 0.5 ? Infinity : -0;
      return (r() - 0.5) * 10 ** int(-20, 200);
  }
}

/** A small "typical" fill value of a dtype (0 is most common). */
export function randomFill(dtype: DataType, r: () => number): Scalar {
  const p = r();
  if (dtype === 'bool') return p < 0.3;
  if (p < 0.5) return isBigIntDtype(dtype) ? 0n : 0;
  if (isFloatDtype(dtype) && p < 0.65) return NaN;
  const v = dtype.startsWith('uint') ? Math.floor(r() * 100) : Math.floor(r() * 200) - 100;
  return isBigIntDtype(dtype) ? BigInt(v) : v;
}

/** Equality as stored: NaN equals NaN, -0 differs from 0. */
export function same(a: Scalar, b: Scalar): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  return a === b;
}

/** First mismatch between two flat arrays, for a readable failure message. */
export function firstMismatch(actual: readonly Scalar[], expected: readonly Scalar[]): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    if (!same(actual[i]!, expected[i]!)) return `element ${i}: got ${show(actual[i]!)}, expected ${show(expected[i]!)}`;
  }
  return undefined;
}

const show = (v: Scalar): string => (Object.is(v, -0) ? '-0' : typeof v === 'bigint' ? `${v}n` : String(v));

/** An NdArray from flat C-order scalars. */
export function fromFlat(dtype: DataType, shape: readonly number[], flat: readonly Scalar[]): NdArray {
  if (product(shape) !== flat.length) throw new Error('flat length mismatch');
  const a = NdArray.zeros(dtype, shape);
  forEachIndex(shape, (k, idx) => a.set(idx, flat[k]!));
  return a;
}

/** The process-wide memory store `memory://` specs resolve to (keys are `<name>/<key>`). */
export const sharedMemory = (): MemoryStore => new MemoryStore('');

export async function keysUnder(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const k of sharedMemory().list(prefix)) out.push(k.slice(prefix.length));
  return out.sort();
}

let uniq = 0;
/** A fresh memory:// URL name. */
export function freshName(tag: string): string {
  return `${tag}-${process.pid}-${++uniq}-${Math.floor(Math.random() * 1e9)}`;
}
