import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { CorruptionError } from '../../src/errors.js';
import { decodeCompressedSegmentation, encodeCompressedSegmentation } from '../../src/wasm/compressed-segmentation.js';
import { loadCore } from '../../src/wasm/core.js';
import { csegDecodeRef, csegEncodeRef } from './reference.js';
import { fixture } from '../fixture-path.js';

beforeAll(async () => {
  await loadCore();
});

const FIXTURE = fixture('neuroglancer/64x64x64-raw-uint64-segmentation.dat');

function sameArray(a: ArrayLike<unknown>, b: ArrayLike<unknown>): void {
  expect(a.length).toBe(b.length);
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  expect(i === a.length ? -1 : i).toBe(-1);
}

describe('compressed_segmentation fixture (64^3 FIB-25 uint64)', () => {
  const raw = readFileSync(FIXTURE);
  const u64 = new BigUint64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const u32 = Uint32Array.from(u64, (v) => Number(v & 0xffffffffn));
  const vol = [64, 64, 64, 1];
  for (const blk of [[8, 8, 8], [16, 16, 8], [64, 64, 64]]) {
    for (const [name, data] of [['uint64', u64], ['uint32', u32]] as const) {
      it(`round-trips ${name} with block ${blk.join('x')}`, () => {
        const enc = encodeCompressedSegmentation(data, vol, blk);
        console.log(`compressed_segmentation ${name} block ${blk.join('x')}: ${enc.length} bytes (raw ${data.byteLength})`);
        const dec = decodeCompressedSegmentation(enc, vol, blk, name);
        sameArray(dec, data);
        // the independent TS decoder reads our encoding too
        sameArray(csegDecodeRef(enc, vol, blk, name), data);
      });
    }
  }
});

const segCase = fc.record({
  vol: fc.tuple(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 3 })),
  blk: fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 5 })),
  labels: fc.integer({ min: 1, max: 300 }),
  wide: fc.boolean(),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

function makeData(c: { vol: readonly number[]; labels: number; wide: boolean; seed: number }) {
  const n = c.vol.reduce((a, b) => a * b, 1);
  let s = c.seed;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % c.labels;
  const ids = Array.from({ length: n }, rnd);
  return c.wide
    ? BigUint64Array.from(ids, (v) => (BigInt(v) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn)
    : Uint32Array.from(ids, (v) => (v * 2654435761) >>> 0);
}

describe('compressed_segmentation random volumes', () => {
  it('round-trips and agrees with the TS reference both ways', () => {
    fc.assert(fc.property(segCase, (c) => {
      const data = makeData(c);
      const dtype = c.wide ? 'uint64' : 'uint32';
      const enc = encodeCompressedSegmentation(data, c.vol, c.blk);
      sameArray(decodeCompressedSegmentation(enc, c.vol, c.blk, dtype), data);
      sameArray(csegDecodeRef(enc, c.vol, c.blk, dtype), data);
      const encRef = csegEncodeRef(data, c.vol, c.blk);
      sameArray(decodeCompressedSegmentation(encRef, c.vol, c.blk, dtype), data);
      expect(enc.length).toBeLessThanOrEqual(encRef.length); // table sharing only shrinks it
    }), { numRuns: 150 });
  });

  it('uses every bit width 0..32 correctly', () => {
    for (const labels of [1, 2, 3, 5, 17, 300, 70000]) {
      const vol = [70, 40, 26, 1];
      const n = 70 * 40 * 26;
      const data = Uint32Array.from({ length: n }, (_, i) => (i % labels) * 7);
      const enc = encodeCompressedSegmentation(data, vol, [70, 40, 26]);
      const bits = new Uint32Array(enc.buffer)[1]! >>> 24;
      expect(bits).toBe(labels === 1 ? 0 : [1, 2, 4, 8, 16, 32].find((b) => 2 ** b >= labels));
      sameArray(decodeCompressedSegmentation(enc, vol, [70, 40, 26], 'uint32'), data);
    }
  });
});

describe('compressed_segmentation hostile input', () => {
  const vol = [8, 8, 8, 1], blk = [4, 4, 4];
  const data = Uint32Array.from({ length: 512 }, (_, i) => (i >> 5) % 3);
  const good = encodeCompressedSegmentation(data, vol, blk);
  const words = () => new Uint32Array(good.slice().buffer);
  const bytes = (w: Uint32Array) => new Uint8Array(w.buffer);
  const fails = (enc: Uint8Array, re: RegExp) => {
    expect(() => decodeCompressedSegmentation(enc, vol, blk, 'uint32', 'seg/0-8_0-8_0-8')).toThrow(CorruptionError);
    expect(() => decodeCompressedSegmentation(enc, vol, blk, 'uint32', 'seg/0-8_0-8_0-8')).toThrow(re);
  };

  it('rejects a channel offset past the end', () => {
    const w = words(); w[0] = 1e6;
    fails(bytes(w), /seg\/0-8_0-8_0-8.*channel offset.*byte offset 0, value 1000000/);
  });
  it('rejects bad encoded bits', () => {
    const w = words(); w[1] = (w[1]! & 0xffffff) | (3 << 24);
    fails(bytes(w), /encoded bits.*byte offset 4, value 3/);
    w[1] = (w[1]! & 0xffffff) | (64 << 24);
    fails(bytes(w), /encoded bits/);
  });
  it('rejects encoded values past the end', () => {
    const w = words(); w[2] = 0xfffffff0;
    fails(bytes(w), /encoded values.*byte offset 8/);
  });
  it('rejects a lookup table past the end', () => {
    const w = words(); w[1] = (w[1]! & 0xff000000) | 0xffffff;
    fails(bytes(w), /lookup table.*byte offset 4/);
  });
  it('rejects table indices beyond the end (table at the very end of the buffer)', () => {
    const w = words();
    // point block 0 at the last word as its table with 2-bit indices: any index > 0 is out of range
    w[1] = (2 << 24) | (w.length - 1 - w[0]!);
    fails(bytes(w), /lookup table index/);
  });
  it('rejects truncation and odd lengths', () => {
    fails(good.subarray(0, 0), /shorter than its channel offset header/);
    fails(good.subarray(0, 20), /points past the end/);
    fails(good.subarray(0, good.length - 2), /multiple of 4/);
  });
  it('never crashes on random corruption', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.nat(255)), { minLength: 1, maxLength: 8 }), fc.nat(good.length), (edits, cut) => {
      const b = good.slice(0, cut - (cut % 4));
      for (const [i, v] of edits) if (i < b.length) b[i] = v;
      try {
        decodeCompressedSegmentation(b, vol, blk, 'uint32');
      } catch (e) {
        expect(e).toBeInstanceOf(CorruptionError);
      }
    }), { numRuns: 500 });
  });
});

describe('compressed_segmentation decode into a caller array', () => {
  it('fills `out` and rejects a wrong-sized one', () => {
    const data = BigUint64Array.from({ length: 6 * 5 * 4 * 2 }, (_, i) => BigInt(i % 7) << 40n);
    const vol = [6, 5, 4, 2];
    const enc = encodeCompressedSegmentation(data, vol, [4, 4, 4]);
    const out = new BigUint64Array(data.length);
    expect(decodeCompressedSegmentation(enc, vol, [4, 4, 4], 'uint64', 'k', out)).toBe(out);
    sameArray(out, data);
    expect(() => decodeCompressedSegmentation(enc, vol, [4, 4, 4], 'uint64', 'k', new BigUint64Array(3))).toThrow(RangeError);
  });
});
