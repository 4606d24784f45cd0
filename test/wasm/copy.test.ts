import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { copyStrided } from '../../src/array/copy.js';
import { loadCore } from '../../src/wasm/core.js';
import { copyStridedRef } from './reference.js';

beforeAll(async () => {
  await loadCore();
});

/**
 * A random copy: a region of `shape` inside a source array and a destination array, each laid
 * out in some axis permutation, possibly flipped (negative strides) and padded (gaps), so the
 * destination never aliases itself (overlapping writes would make the order observable).
 */
const copyCase = fc.record({
  shape: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 0, maxLength: 4 }),
  elemSize: fc.constantFrom(1, 2, 4, 8, 3),
  swap: fc.boolean(),
  seed: fc.integer(),
  big: fc.boolean(),
}).chain((c) => fc.record({
  c: fc.constant(c),
  // big: make the innermost extent large enough to reach the wasm path
  shape: fc.constant(c.big && c.shape.length ? [...c.shape.slice(0, -1), 40 + c.shape[c.shape.length - 1]! * 13] : c.shape),
  dperm: fc.shuffledSubarray([...c.shape.keys()], { minLength: c.shape.length, maxLength: c.shape.length }),
  sperm: fc.shuffledSubarray([...c.shape.keys()], { minLength: c.shape.length, maxLength: c.shape.length }),
  dflip: fc.array(fc.boolean(), { minLength: c.shape.length, maxLength: c.shape.length }),
  sflip: fc.array(fc.boolean(), { minLength: c.shape.length, maxLength: c.shape.length }),
  dpad: fc.array(fc.nat(2), { minLength: c.shape.length, maxLength: c.shape.length }),
  spad: fc.array(fc.nat(2), { minLength: c.shape.length, maxLength: c.shape.length }),
  extra: fc.nat(16),
}));

function layout(shape: number[], perm: number[], flip: boolean[], pad: number[], elem: number) {
  const strides = new Array<number>(shape.length).fill(0);
  let acc = elem;
  for (let k = perm.length - 1; k >= 0; k--) {
    const d = perm[k]!;
    strides[d] = acc;
    acc *= shape[d]! + pad[d]!;
  }
  let offset = 0;
  for (let d = 0; d < shape.length; d++) if (flip[d]) { offset += strides[d]! * (shape[d]! - 1); strides[d] = -strides[d]!; }
  return { strides, offset, size: acc };
}

/** Fast equality for big byte arrays (toEqual on typed arrays is slow): first differing index. */
function expectSame(a: Uint8Array, b: Uint8Array): void {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  expect(i === a.length && a.length === b.length ? -1 : i).toBe(-1);
}

describe('copyStrided', () => {
  it('matches the TS reference for random layouts, element sizes, flips and swaps', () => {
    fc.assert(fc.property(copyCase, ({ c, shape: shapeRO, dperm, sperm, dflip, sflip, dpad, spad, extra }) => {
      const shape = [...shapeRO];
      const d = layout(shape, dperm, dflip, dpad, c.elemSize);
      const s = layout(shape, sperm, sflip, spad, c.elemSize);
      const src = new Uint8Array(s.size + extra).map((_, i) => (i * 131 + c.seed) & 255);
      const a = new Uint8Array(d.size + extra).fill(7);
      const b = a.slice();
      copyStrided(a, d.offset + extra, d.strides, src, s.offset + extra, s.strides, shape, c.elemSize, c.swap);
      copyStridedRef(b, d.offset + extra, d.strides, src, s.offset + extra, s.strides, shape, c.elemSize, c.swap);
      expectSame(a, b);
    }), { numRuns: 400 });
  });

  it('copies short aligned rows (the word loops) of every length, odd and even row counts, both ways', () => {
    // rows of 8..512 bytes in 8-byte steps (the 64-byte-row and 64-byte-block loops among them)
    // and 4-byte steps (32-bit words), scattered into and gathered out of a wider array
    for (const run of [8, 16, 24, 32, 36, 60, 64, 72, 128, 136, 192, 256, 512]) {
      for (const rows of [1, 2, 3, 7, 8]) {
        for (const planes of [1, 3]) {
          const shape = [planes, rows, run];
          const wide = [rows * (run + 64) * 2, run + 64, 1];
          const packed = [rows * run, run, 1];
          const src = new Uint8Array(planes * rows * (run + 64) * 2 + 64).map((_, i) => (i * 37 + run) & 255);
          for (const [dst, ds, ss, dOff, sOff] of [[planes * rows * (run + 64) * 2 + 64, wide, packed, 64, 0], [planes * rows * run, packed, wide, 0, 64]] as const) {
            const a = new Uint8Array(dst).fill(7);
            const b = a.slice();
            copyStrided(a, dOff, ds, src, sOff, ss, shape, 1);
            copyStridedRef(b, dOff, ds, src, sOff, ss, shape, 1, false);
            expectSame(a, b);
          }
        }
      }
    }
  });

  it('handles big transposed, swapped and strided copies (wasm path)', () => {
    for (const elem of [1, 2, 4, 8]) for (const swap of [false, true]) {
      const [n0, n1, n2] = [33, 47, 29];
      const src = new Uint8Array(n0 * n1 * n2 * elem).map((_, i) => (i * 7919) & 255);
      const a = new Uint8Array(src.length), b = new Uint8Array(src.length);
      // dst C order, src Fortran order (a full transpose)
      const dS = [n1 * n2 * elem, n2 * elem, elem], sS = [elem, n0 * elem, n0 * n1 * elem];
      copyStrided(a, 0, dS, src, 0, sS, [n0, n1, n2], elem, swap);
      copyStridedRef(b, 0, dS, src, 0, sS, [n0, n1, n2], elem, swap);
      expectSame(a, b);
      // contiguous swap (SIMD path) with a sub-region
      a.fill(1); b.fill(1);
      copyStrided(a, elem, [n2 * elem, elem], src, 3 * elem, [n2 * elem, elem], [n0 * n1 - 1, n2 - 1], elem, swap);
      copyStridedRef(b, elem, [n2 * elem, elem], src, 3 * elem, [n2 * elem, elem], [n0 * n1 - 1, n2 - 1], elem, swap);
      expectSame(a, b);
    }
  });

  it('swaps/transposes a chunk into a sparse big array (wasm staging + row scatter)', () => {
    for (const elem of [2, 4, 8]) for (const transpose of [false, true]) {
      const [c0, c1, c2] = [5, 6, 40], [b1, b2] = [50, 300];
      const src = new Uint8Array(c0 * c1 * c2 * elem).map((_, i) => (i * 13) & 255);
      const a = new Uint8Array(c0 * b1 * b2 * elem).fill(9), b = a.slice();
      const dS = [b1 * b2 * elem, b2 * elem, elem];
      const sS = transpose ? [elem, c0 * elem, c0 * c1 * elem] : [c1 * c2 * elem, c2 * elem, elem];
      const off = (3 * b2 + 7) * elem;
      copyStrided(a, off, dS, src, 0, sS, [c0, c1, c2], elem, true);
      copyStridedRef(b, off, dS, src, 0, sS, [c0, c1, c2], elem, true);
      expectSame(a, b);
    }
  });

  it('copies rank 0 and empty shapes', () => {
    const a = new Uint8Array(4), src = Uint8Array.of(1, 2, 3, 4);
    copyStrided(a, 0, [], src, 0, [], [], 4, true);
    expect([...a]).toEqual([4, 3, 2, 1]);
    copyStrided(a, 0, [4], src, 0, [4], [0], 4, false);
    expect([...a]).toEqual([4, 3, 2, 1]);
  });
});
