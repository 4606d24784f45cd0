/**
 * The array-layer pieces of decoding into a result: placements in chunk coordinates
 * (placeChunk, placementOrder, placementRunBytes), the copy kernel's 64-bit word loops (every
 * byte pattern survives, NaN payloads included), and isAllFill on strided views without copies.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyStrided, everyRun, float64CopiesBits } from '../../src/array/copy.js';
import { bytesOf, DATA_TYPES, type DataType, dtypeSize } from '../../src/array/dtype.js';
import { cOrderStrides, fOrderStrides, isAllFill, NdArray, product, toCOrder } from '../../src/array/ndarray.js';
import { type ChunkPlacement, placeChunk, placementOrder, placementRunBytes } from '../../src/array/place.js';
import { mulberry32 } from '../../src/testing/prng.js';

/** Random bytes, including every NaN pattern class for 8-byte words. */
function randomBytes(n: number, seed: number): Uint8Array {
  const r = mulberry32(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  const nans = [[1, 0, 0, 0, 0, 0, 0xf0, 0x7f], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0xff, 0xff, 0xf7, 0xff, 0xff, 0xff, 0xf7, 0xff], [0, 0, 0, 0, 0, 0, 0xf8, 0x7f]];
  for (let i = 0; i + 8 <= n; i += 24) b.set(nans[(i / 24) % nans.length]!, i);
  return b;
}

describe('copy kernel word loops', () => {
  it('this engine copies every bit pattern through Float64Array (V8)', () => {
    expect(float64CopiesBits()).toBe(true);
  });

  it('copies short rows byte-exact, NaN patterns included (8- and 4-byte words, and bytes)', () => {
    for (const [row, align] of [[64, 8], [128, 8], [512, 8], [32, 4], [60, 4], [17, 1]] as const) {
      const rows = 40;
      const src = randomBytes(rows * row, row);
      const dst = new Uint8Array(rows * 1024 + align);
      // rows of `row` bytes into a destination with 1024-byte row pitch, at an offset of `align`
      copyStrided(dst, align, [1024, 1], src, 0, [row, 1], [rows, row], 1);
      for (let i = 0; i < rows; i++) {
        expect(Buffer.from(dst.subarray(align + i * 1024, align + i * 1024 + row)).equals(Buffer.from(src.subarray(i * row, (i + 1) * row))), `row ${row}`).toBe(true);
      }
    }
  });
});

/** The elements a placement selects, placed by a plain loop over view points (the reference). */
function referencePlace(dst: Uint8Array, p: ChunkPlacement, chunk: NdArray): void {
  const size = dtypeSize(chunk.dtype);
  const src = bytesOf(chunk.data);
  const rank = p.shape.length;
  const idx = new Array<number>(rank).fill(0);
  if (p.shape.some((n) => n === 0)) return;
  for (;;) {
    let d = p.dstOffset;
    for (let j = 0; j < rank; j++) d += idx[j]! * p.dstStrides[j]!;
    let s = chunk.offset;
    for (let k = 0; k < p.start.length; k++) s += chunk.strides[k]! * (p.start[k]! + (p.dims[k]! >= 0 ? p.steps[k]! * idx[p.dims[k]!]! : 0));
    dst.set(src.subarray(s * size, s * size + size), d);
    let j = rank - 1;
    for (; j >= 0; j--) if (++idx[j]! < p.shape[j]!) break; else idx[j] = 0;
    if (j < 0) return;
  }
}

describe('placeChunk', () => {
  it('places like the element-by-element reference, for random chunk layouts and placements (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<DataType>('uint8', 'uint16', 'float32', 'uint64'),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.integer(),
        (dtype, chunkShape, fOrder, seed) => {
          const r = mulberry32(seed);
          const size = dtypeSize(dtype);
          const chunk = new NdArray(dtype, new (NdArray.zeros(dtype, [1]).data.constructor as new (b: ArrayBuffer) => never)(randomBytes(product(chunkShape) * size, seed).buffer as ArrayBuffer), chunkShape, fOrder ? fOrderStrides(chunkShape) : cOrderStrides(chunkShape));
          // per chunk dim: fixed, or moving with a view dim (distinct), step +-1 or +-2
          const viewDims: number[] = [];
          const dims = chunkShape.map(() => (r() < 0.25 ? -1 : viewDims.push(viewDims.length) - 1));
          const steps = dims.map((j) => (j < 0 ? 0 : (r() < 0.5 ? 1 : 2) * (r() < 0.3 ? -1 : 1)));
          const shape = viewDims.map(() => 0);
          const start = chunkShape.map((n, k) => {
            if (dims[k]! < 0) return Math.floor(r() * n);
            const s = steps[k]!;
            const count = 1 + Math.floor(r() * Math.floor((n - 1) / Math.abs(s) + 1));
            shape[dims[k]!] = count;
            const span = Math.abs(s) * (count - 1);
            const lo = Math.floor(r() * (n - span));
            return s > 0 ? lo : lo + span;
          });
          const perm = viewDims.map((j) => j).sort(() => r() - 0.5);
          const dstStrides = new Array<number>(shape.length);
          let acc = size;
          for (const j of perm) { dstStrides[j] = acc; acc *= shape[j]! + 1; }
          const p: ChunkPlacement = { shape, dstOffset: 3 * size, dstStrides, start, dims, steps };
          const a = new Uint8Array(acc + 4 * size);
          const b = new Uint8Array(acc + 4 * size);
          placeChunk(a, p, chunk);
          referencePlace(b, p, chunk);
          expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
          // walking order and row length are properties of the placement alone
          expect([...placementOrder(p)].sort()).toEqual([...chunkShape.keys()]);
          expect(placementRunBytes(p, size) % size).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a placement reaching outside the chunk (RangeError, no write)', () => {
    const chunk = NdArray.zeros('uint8', [4, 4], 1);
    const dst = new Uint8Array(64);
    expect(() => placeChunk(dst, { shape: [5], dstOffset: 0, dstStrides: [1], start: [0, 0], dims: [0, -1], steps: [1, 0] }, chunk)).toThrow(RangeError);
    expect(dst.every((x) => x === 0)).toBe(true);
  });

  it('placementOrder walks the destination outermost first; placementRunBytes is the contiguous row', () => {
    const p: ChunkPlacement = { shape: [2, 3, 4], dstOffset: 0, dstStrides: [96, 32, 8], start: [0, 0, 0, 0], dims: [2, 0, 1, -1], steps: [1, 1, 1, 0] };
    expect(placementOrder(p)).toEqual([3, 1, 2, 0]);
    expect(placementRunBytes(p, 8)).toBe(8 * 4 * 3 * 2);
    expect(placementRunBytes({ ...p, dstStrides: [8, 16, 48] }, 8)).toBe(8 * 2 * 3 * 4);
    expect(placementRunBytes({ ...p, dstStrides: [200, 40, 8] }, 8)).toBe(32);
  });
});

describe('isAllFill on views', () => {
  it('agrees with a C-order copy for random strided views, fills and dtypes (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...DATA_TYPES), fc.integer(), fc.boolean(), (dtype, seed, plant) => {
        const r = mulberry32(seed);
        const fills = [0, 1, -0, 7];
        const fill = dtype === 'bool' ? r() < 0.5 : dtype.endsWith('64') && dtype !== 'float64' ? BigInt(Math.floor(r() * 3)) : fills[Math.floor(r() * fills.length)]!;
        const shape = [1 + Math.floor(r() * 5), 1 + Math.floor(r() * 6), 1 + Math.floor(r() * 7)];
        const base = NdArray.zeros(dtype, shape.map((n) => n * 2), fill);
        if (plant) {
          // one element differs, somewhere the view may or may not cover
          const d = base.data as unknown as { [i: number]: number | bigint; length: number };
          const i = Math.floor(r() * d.length);
          d[i] = typeof d[i] === 'bigint' ? (d[i] as bigint) + 1n : dtype === 'bool' ? 1 - (d[i] as number) : (d[i] as number) + 1;
        }
        const steps = shape.map(() => 1 + Math.floor(r() * 2));
        const offs = shape.map((n, k) => Math.floor(r() * (shape[k]! * 2 - (n - 1) * steps[k]!)));
        const bs = base.strides;
        const view = new NdArray(dtype, base.data, shape, bs.map((s, k) => s * steps[k]!), offs.reduce((o, x, k) => o + x * bs[k]!, 0));
        const copy = toCOrder(view);
        expect(isAllFill(view, fill)).toBe(isAllFill(copy, fill));
      }),
      { numRuns: 400 },
    );
  });

  it('everyRun visits each byte of a strided array once, and stops early', () => {
    const seen = new Uint8Array(200);
    everyRun(4, [40, 8, 2], [3, 4, 2], 2, (start, length) => {
      for (let i = start; i < start + length; i++) seen[i]!++;
      return true;
    });
    const expected = new Uint8Array(200);
    for (let a = 0; a < 3; a++) for (let b = 0; b < 4; b++) for (let c = 0; c < 2; c++) for (let e = 0; e < 2; e++) expected[4 + 40 * a + 8 * b + 2 * c + e]!++;
    expect([...seen]).toEqual([...expected]);
    let calls = 0;
    expect(everyRun(0, [16, 1], [5, 8], 1, () => ++calls < 2)).toBe(false);
    expect(calls).toBe(2);
  });
});
