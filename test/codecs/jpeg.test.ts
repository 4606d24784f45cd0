import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NdArray } from '../../src/array/ndarray.js';
import { factory, jpegComponents, type JpegCodec } from '../../src/codecs/jpeg.js';
import { CorruptionError } from '../../src/errors.js';
import { fixture } from '../fixture-path.js';

const IMAGES = fixture('images');
const hasPil = (() => {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import PIL, numpy']);
    return true;
  } catch {
    return false;
  }
})();
const pil = (input: Uint8Array, mode = ''): Uint8Array => {
  const py = `import sys, io, numpy as np\nfrom PIL import Image\nim = Image.open(io.BytesIO(sys.stdin.buffer.read()))\n${mode ? `assert im.mode == '${mode}', im.mode\n` : ''}sys.stdout.buffer.write(np.array(im).astype('u1').tobytes())`;
  return new Uint8Array(execFileSync('/usr/bin/python3', ['-c', py], { input, maxBuffer: 1 << 26 }));
};

describe('jpeg codec', () => {
  it.skipIf(!hasPil)('decodes the D75 fixture like libjpeg (PIL), within IDCT rounding', async () => {
    const bytes = new Uint8Array(readFileSync(path.join(IMAGES, 'D75_08b.jpeg')));
    expect(jpegComponents(bytes, 'x')).toEqual({ width: 306, height: 172, components: 3 });
    // As a precomputed chunk: x=306, y=172, z=1, 3 channels.
    const spec = { dtype: 'uint8' as const, shape: [306, 172, 1, 3], fillValue: 0 };
    const codec = (await factory({}, spec)) as JpegCodec;
    const a = codec.decode(bytes, spec);
    const ref = pil(bytes, 'RGB');
    let maxDiff = 0, sum = 0;
    for (let y = 0; y < 172; y++) for (let x = 0; x < 306; x++) for (let c = 0; c < 3; c++) {
      const d = Math.abs(Number(a.get([x, y, 0, c])) - ref[(y * 306 + x) * 3 + c]!);
      maxDiff = Math.max(maxDiff, d);
      sum += d;
    }
    expect(maxDiff).toBeLessThanOrEqual(4);
    expect(sum / ref.length).toBeLessThan(0.5);
  });

  it.skipIf(!hasPil)('writes true 1-component grayscale JPEGs that libjpeg reads as mode L', async () => {
    const shape = [37, 11, 3, 1];
    const spec = { dtype: 'uint8' as const, shape, fillValue: 0 };
    const codec = (await factory({ quality: 95 }, spec)) as JpegCodec;
    const a = NdArray.zeros('uint8', shape);
    for (let x = 0; x < 37; x++) for (let y = 0; y < 11; y++) for (let z = 0; z < 3; z++) a.set([x, y, z, 0], (x * 5 + y * 3 + z * 40) & 255);
    const bytes = codec.encode(a, spec);
    expect(jpegComponents(bytes, 'k').components).toBe(1);
    const ref = pil(bytes, 'L');
    const ours = codec.decode(bytes, spec);
    let maxErr = 0, maxRef = 0;
    for (let z = 0; z < 3; z++) for (let y = 0; y < 11; y++) for (let x = 0; x < 37; x++) {
      const v = Number(a.get([x, y, z, 0]));
      maxErr = Math.max(maxErr, Math.abs(Number(ours.get([x, y, z, 0])) - v));
      maxRef = Math.max(maxRef, Math.abs(Number(ours.get([x, y, z, 0])) - ref[(z * 11 + y) * 37 + x]!));
    }
    expect(maxRef).toBeLessThanOrEqual(2); // jpeg-js and libjpeg agree on our stream
    expect(maxErr).toBeLessThanOrEqual(24); // lossy, but close at quality 95
  });

  it.skipIf(!hasPil)('writes 3-component YCbCr JPEGs that libjpeg (PIL) and jpeg-js decode alike', async () => {
    const shape = [40, 12, 2, 3];
    const spec = { dtype: 'uint8' as const, shape, fillValue: 0 };
    const codec = (await factory({ quality: 90 }, spec)) as JpegCodec;
    const a = NdArray.zeros('uint8', shape);
    for (let x = 0; x < 40; x++) for (let y = 0; y < 12; y++) for (let z = 0; z < 2; z++) {
      a.set([x, y, z, 0], (x * 6) & 255);
      a.set([x, y, z, 1], (y * 20 + z * 30) & 255);
      a.set([x, y, z, 2], 100);
    }
    const bytes = codec.encode(a, spec);
    expect(jpegComponents(bytes, 'k').components).toBe(3);
    const ref = pil(bytes, 'RGB');
    const ours = codec.decode(bytes, spec);
    let maxRef = 0, maxErr = 0;
    for (let z = 0; z < 2; z++) for (let y = 0; y < 12; y++) for (let x = 0; x < 40; x++) for (let c = 0; c < 3; c++) {
      const v = Number(ours.get([x, y, z, c]));
      maxRef = Math.max(maxRef, Math.abs(v - ref[((z * 12 + y) * 40 + x) * 3 + c]!));
      maxErr = Math.max(maxErr, Math.abs(v - Number(a.get([x, y, z, c]))));
    }
    expect(maxRef).toBeLessThanOrEqual(3);
    expect(maxErr).toBeLessThanOrEqual(40);
  });

  it('round trips 3-channel chunks approximately; flat images exactly', async () => {
    const shape = [16, 8, 2, 3];
    const spec = { dtype: 'uint8' as const, shape, fillValue: 0 };
    const codec = (await factory({ quality: 100 }, spec)) as JpegCodec;
    const a = NdArray.zeros('uint8', shape, 77);
    const back = codec.decode(codec.encode(a, spec), spec);
    for (const v of back.toFlat()) expect(Math.abs(Number(v) - 77)).toBeLessThanOrEqual(1);
    const g = { dtype: 'uint8' as const, shape: [9, 9, 1, 1], fillValue: 0 };
    const gc = (await factory({}, g)) as JpegCodec;
    expect(gc.decode(gc.encode(NdArray.zeros('uint8', g.shape, 200), g), g).toFlat().every((v) => v === 200)).toBe(true);
  });

  it('rejects wrong dtypes/channels and hostile input with typed errors', async () => {
    expect(() => factory({}, { dtype: 'uint16', shape: [2, 2, 1, 1], fillValue: 0 })).toThrow(/jpeg/);
    expect(() => factory({}, { dtype: 'uint8', shape: [2, 2, 1, 2], fillValue: 0 })).toThrow(/channels/);
    const spec = { dtype: 'uint8' as const, shape: [8, 8, 1, 1], fillValue: 0 };
    const codec = (await factory({}, spec)) as JpegCodec;
    expect(() => codec.decode(new Uint8Array([1, 2, 3]), spec, { key: 'k' })).toThrow(CorruptionError);
    const good = codec.encode(NdArray.zeros('uint8', spec.shape, 9), spec);
    expect(() => codec.decode(good, { ...spec, shape: [8, 4, 1, 1] }, { key: 'k' })).toThrow(/8x8/);
    expect(() => codec.decode(good.subarray(0, good.length - 40), spec, { key: 'k' })).toThrow();
  });
});
