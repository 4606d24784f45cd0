import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NdArray } from '../../src/array/ndarray.js';
import { type CompressedSegmentationCodec, factory } from '../../src/codecs/compressed-segmentation.js';
import { CorruptionError, UnsupportedError } from '../../src/errors.js';
import { fixture as fixturePath } from '../fixture-path.js';

const FIXTURE = fixturePath('neuroglancer/64x64x64-raw-uint64-segmentation.dat');

function fixture(): BigUint64Array {
  const b = readFileSync(FIXTURE);
  return new BigUint64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

describe('compressed_segmentation codec', () => {
  for (const bs of [[8, 8, 8], [16, 16, 16], [4, 4, 4], [8, 8, 1]] as const) {
    it(`round trips the 64^3 FIB-25 uint64 fixture, block ${bs.join('x')}`, async () => {
      const data = fixture();
      const spec = { dtype: 'uint64' as const, shape: [64, 64, 64, 1], fillValue: 0 };
      const codec = (await factory({ block_size: bs }, spec)) as CompressedSegmentationCodec;
      const a = new NdArray('uint64', data, spec.shape, [1, 64, 4096, 262144]);
      const enc = codec.encode(a, spec);
      console.log(`compressed_segmentation uint64 64^3 block ${bs.join('x')}: ${enc.length} bytes (raw ${data.byteLength}, ${(data.byteLength / enc.length).toFixed(1)}x)`);
      const back = codec.decode(enc, spec, { key: 'k' });
      expect(back.strides).toEqual([1, 64, 4096, 262144]);
      expect(Buffer.from((back.data as BigUint64Array).buffer).equals(Buffer.from(data.buffer))).toBe(true);
      // As uint32 (low words), the same codec path.
      const lo = Uint32Array.from(data, (v) => Number(v & 0xffffffffn));
      const s32 = { ...spec, dtype: 'uint32' as const };
      const c32 = (await factory({ block_size: bs }, s32)) as CompressedSegmentationCodec;
      const e32 = c32.encode(new NdArray('uint32', lo, spec.shape, [1, 64, 4096, 262144]), s32);
      expect(Array.from(c32.decode(e32, s32).data as Uint32Array)).toEqual(Array.from(lo));
    });
  }

  it('encodes C-ordered / strided input and partial (cropped) chunks with 2 channels', async () => {
    const shape = [5, 3, 7, 2];
    const spec = { dtype: 'uint32' as const, shape, fillValue: 0 };
    const codec = (await factory({ block_size: [2, 2, 4] }, spec)) as CompressedSegmentationCodec;
    const a = NdArray.zeros('uint32', shape); // C order
    for (let x = 0; x < 5; x++) for (let y = 0; y < 3; y++) for (let z = 0; z < 7; z++) for (let c = 0; c < 2; c++) a.set([x, y, z, c], (x * 3 + y + z * 11 + c * 1000) % 13);
    const back = codec.decode(codec.encode(a, spec), spec);
    expect(back.toFlat()).toEqual(a.toFlat());
  });

  it('a block header pointing outside the buffer is a CorruptionError naming the key', async () => {
    const spec = { dtype: 'uint32' as const, shape: [8, 8, 8, 1], fillValue: 0 };
    const codec = (await factory({}, spec)) as CompressedSegmentationCodec;
    const enc = codec.encode(NdArray.zeros('uint32', spec.shape, 5), spec);
    const w = new Uint32Array(enc.buffer.slice(0));
    w[1] = 0xfffff0; // block 0: lookup table offset far past the end
    expect(() => codec.decode(new Uint8Array(w.buffer), spec, { key: 'seg/0-8_0-8_0-8' })).toThrow(CorruptionError);
    expect(() => codec.decode(new Uint8Array(w.buffer), spec, { key: 'seg/0-8_0-8_0-8' })).toThrow(/seg\/0-8_0-8_0-8/);
    w[0] = 1000; // channel offset past the end
    expect(() => codec.decode(new Uint8Array(w.buffer), spec, { key: 'k' })).toThrow(CorruptionError);
    expect(() => codec.decode(enc.subarray(0, 6), spec, { key: 'k' })).toThrow(CorruptionError);
  });

  it('rejects other dtypes', async () => {
    await expect(factory({}, { dtype: 'uint8', shape: [1, 1, 1, 1], fillValue: 0 })).rejects.toThrow(UnsupportedError);
  });
});
