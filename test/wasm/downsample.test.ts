import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { UnsupportedError } from '../../src/errors.js';
import { loadCore } from '../../src/wasm/core.js';
import { downsample, downsampledShape, type DownsampleArray } from '../../src/wasm/downsample.js';
import { downsampleRef } from './reference.js';

beforeAll(async () => {
  await loadCore();
});

const CTORS = {
  uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array, uint32: Uint32Array,
  int32: Int32Array, uint64: BigUint64Array, int64: BigInt64Array, float32: Float32Array, float64: Float64Array,
} as const;
type Name = keyof typeof CTORS;

function randomArray(name: Name, n: number, seed: number, labels: number): DownsampleArray {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const C = CTORS[name];
  if (name === 'uint64' || name === 'int64') {
    const a = new C(n) as BigUint64Array | BigInt64Array;
    for (let i = 0; i < n; i++) {
      const v = labels ? BigInt(next() % labels) * 0x1234567890abn : (BigInt(next()) << 32n) | BigInt(next());
      a[i] = name === 'int64' ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v);
    }
    return a;
  }
  const a = new (C as Float64ArrayConstructor)(n);
  for (let i = 0; i < n; i++) {
    const r = next();
    a[i] = name.startsWith('float') ? (r / 2 ** 32 - 0.5) * 1e6 : labels ? (r % labels) * 3 - 4 : r;
  }
  // integer typed arrays wrap the raw uint32 draws into their range
  return name.startsWith('float') ? a : (new (C as unknown as new (x: ArrayLike<number>) => DownsampleArray)(a));
}

describe('downsample', () => {
  it('matches the TS reference for every dtype, rank 1..4, odd shapes, both methods', () => {
    const names = Object.keys(CTORS) as Name[];
    fc.assert(fc.property(
      fc.constantFrom(...names), fc.constantFrom('mean', 'mode'),
      fc.array(fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 4 }),
      fc.integer(), fc.constantFrom(0, 3),
      (name, method, dims, seed, labels) => {
        if (method === 'mode' && name.startsWith('float')) return;
        const shape = dims.map((d) => d[0]), factors = dims.map((d) => d[1]);
        const n = shape.reduce((a, b) => a * b, 1);
        const data = randomArray(name, n, seed, method === 'mode' ? labels : 0);
        const got = downsample(data, shape, factors, method);
        const want = downsampleRef(data, shape, factors, method);
        expect(got.constructor).toBe(data.constructor);
        expect(Array.from(got as ArrayLike<unknown>)).toEqual(Array.from(want as ArrayLike<unknown>));
      }), { numRuns: 600 });
  });

  it('rounds integer means half to even, averages partial edges, picks the smallest of tied modes', () => {
    expect([...downsample(Uint8Array.of(1, 2, 2, 3, 5), [5], [2], 'mean')]).toEqual([2, 2, 5]); // 1.5->2, 2.5->2
    expect([...downsample(Int16Array.of(-1, -2, -3, -4), [4], [2], 'mean')]).toEqual([-2, -4]); // -1.5->-2, -3.5->-4
    expect([...downsample(Uint32Array.of(9, 9, 4, 4, 7, 1, 1), [7], [4], 'mode')]).toEqual([4, 1]);
    expect([...downsample(BigInt64Array.of(-5n, 3n), [2], [2], 'mode')]).toEqual([-5n]);
    expect([...downsample(BigUint64Array.of(2n ** 64n - 1n, 2n ** 64n - 1n), [2], [2], 'mean')]).toEqual([2n ** 64n - 1n]);
  });

  it('takes Fortran-order data with order "F"', () => {
    // F order [x=4, y=2]: x fastest
    const f = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    expect([...downsample(f, [4, 2], [2, 2], 'mean', 'F')]).toEqual([3.5, 5.5]);
    expect([...downsample(f, [4, 2], [2, 1], 'mean', 'F')]).toEqual([1.5, 3.5, 5.5, 7.5]);
    expect(downsampledShape([5, 3, 1], [2, 2, 2])).toEqual([3, 2, 1]);
  });

  it('rejects mode on floats and bad arguments', () => {
    expect(() => downsample(new Float32Array(4), [4], [2], 'mode')).toThrow(UnsupportedError);
    expect(() => downsample(new Uint8Array(4), [4], [0], 'mean')).toThrow(RangeError);
    expect(() => downsample(new Uint8Array(4), [5], [2], 'mean')).toThrow(RangeError);
    expect(() => downsample(new Uint8Array(32), [2, 2, 2, 2, 2], [1, 1, 1, 1, 1], 'mean')).toThrow(RangeError);
  });
});
