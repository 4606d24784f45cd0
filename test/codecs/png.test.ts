import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NdArray } from '../../src/array/ndarray.js';
import { decodePng, encodePng, factory, type PngCodec } from '../../src/codecs/png.js';
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

/** Pixels from an independent decoder: PIL for 8-bit and 16-bit gray, ImageMagick for 16-bit RGB. */
function reference(file: string, depth: number, channels: number): Uint8Array | Uint16Array {
  if (depth === 16 && channels === 3) {
    // PIL reads 16-bit RGB as 8-bit: ask ImageMagick (the real one) for 16-bit big-endian samples.
    const raw = execFileSync('/usr/bin/convert', [file, '-depth', '16', '-endian', 'MSB', 'rgb:-'], { maxBuffer: 1 << 26 });
    const out = new Uint16Array(raw.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = (raw[2 * i]! << 8) | raw[2 * i + 1]!;
    return out;
  }
  const py = `import sys, numpy as np\nfrom PIL import Image\na = np.array(Image.open(sys.argv[1]))\nsys.stdout.buffer.write(a.astype(sys.argv[2]).tobytes())`;
  const raw = execFileSync('/usr/bin/python3', ['-c', py, file, depth === 16 ? '<u2' : 'u1'], { maxBuffer: 1 << 26 });
  return depth === 16 ? new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2) : new Uint8Array(raw);
}

describe('png decoder against an independent decoder', () => {
  for (const [name, depth, channels] of [
    ['D75_01b.png', 1, 1], ['D75_04b.png', 8, 3], ['D75_08b.png', 8, 3], ['D75_08b_grey.png', 8, 1],
    ['D75_16b.png', 16, 3], ['D75_16b_grey.png', 16, 1],
  ] as const) {
    const needsMagick = depth === 16 && channels === 3;
    it.skipIf(!hasPil || (needsMagick && !existsSync('/usr/bin/convert')))(name, () => {
      const file = path.join(IMAGES, name);
      const img = decodePng(new Uint8Array(readFileSync(file)), name);
      expect([img.width, img.height, img.channels, img.bitDepth]).toEqual([306, 172, channels, depth]);
      const ref = reference(file, depth, channels);
      expect(img.data.length).toBe(ref.length);
      expect(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength).equals(Buffer.from(ref.buffer, ref.byteOffset, ref.byteLength))).toBe(true);
    });
  }
  it.skipIf(!hasPil)('our PNG output is read back identically by PIL', () => {
    const img = decodePng(new Uint8Array(readFileSync(path.join(IMAGES, 'D75_16b.png'))));
    const png = encodePng(img.data, img.width, img.height, img.channels, 9);
    const py = `import sys, numpy as np, io\nfrom PIL import Image\nim = Image.open(io.BytesIO(sys.stdin.buffer.read()))\nprint(im.mode, im.size)`;
    expect(execFileSync('/usr/bin/python3', ['-c', py], { input: png }).toString().trim()).toMatch(/\(306, 172\)/);
    const back = decodePng(png);
    expect(Array.from(back.data)).toEqual(Array.from(img.data));
  });
});

describe('png codec', () => {
  it('round trips uint8/uint16 with 1-4 channels through the [x, y, z, c] layout', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('uint8' as const, 'uint16' as const), fc.integer({ min: 1, max: 4 }),
        fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 })),
        fc.integer({ min: 0, max: 2 ** 31 }),
        async (dtype, c, [x, y, z], seed) => {
          const shape = [x, y, z, c];
          const spec = { dtype, shape, fillValue: 0 };
          const codec = (await factory({ level: 3 }, spec)) as PngCodec;
          const a = NdArray.zeros(dtype, shape);
          let s = seed;
          for (let i = 0; i < a.data.length; i++) {
            s = (s * 1103515245 + 12345) >>> 0;
            (a.data as Uint16Array)[i] = dtype === 'uint8' ? s >>> 24 : s >>> 16;
          }
          const back = codec.decode(codec.encode(a, spec), spec);
          expect(back.toFlat()).toEqual(a.toFlat());
        },
      ),
      { numRuns: 60 },
    );
  });
  it('hostile input: bad CRC, truncation, wrong size are CorruptionErrors naming the key', async () => {
    const spec = { dtype: 'uint8' as const, shape: [4, 2, 1, 1], fillValue: 0 };
    const codec = (await factory({}, spec)) as PngCodec;
    const good = codec.encode(NdArray.zeros('uint8', spec.shape, 7), spec);
    const flipped = good.slice();
    flipped[40] = flipped[40]! ^ 1;
    expect(() => codec.decode(flipped, spec, { key: 's/0-4_0-2_0-1' })).toThrow(/s\/0-4_0-2_0-1.*png/);
    expect(() => codec.decode(good.subarray(0, 30), spec)).toThrow(CorruptionError);
    expect(() => codec.decode(good, { ...spec, shape: [4, 3, 1, 1] })).toThrow(CorruptionError);
  });
});
