import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DataType, bytesOf, viewAs } from '../../src/array/dtype.js';
import { NdArray } from '../../src/array/ndarray.js';
import type { ArrayArrayCodec, ChunkSpec } from '../../src/codecs/codec.js';
import { hasPython, load, python } from './helpers.js';

const PY = hasPython(['numcodecs', 'numpy']);

async function aa(name: string, conf: Record<string, unknown>, dtype: DataType, shape: number[]): Promise<[ArrayArrayCodec, ChunkSpec]> {
  const spec: ChunkSpec = { dtype, shape, fillValue: 0 };
  return [(await load(name, conf, spec)) as ArrayArrayCodec, spec];
}

/** numcodecs' encoding of `data` (raw little-endian bytes) with the codec built by `ctor`. */
function pyEncode(ctor: string, dtype: string, data: Uint8Array): Buffer {
  return python(`import numcodecs,numpy as np,sys; a=np.frombuffer(sys.stdin.buffer.read(), dtype='${dtype}').copy(); sys.stdout.buffer.write(np.ascontiguousarray(numcodecs.${ctor}.encode(a)).tobytes())`, data)!;
}

describe('array->array filters', () => {
  it('delta round-trips and wraps like numpy; resolve() gives astype', async () => {
    const [c, spec] = await aa('delta', { dtype: 'int16', astype: 'int8' }, 'int16', [6]);
    expect(c.resolve(spec).dtype).toBe('int8');
    expect(c.toJSON()).toEqual({ name: 'delta', configuration: { dtype: 'int16', astype: 'int8' } });
    for (const dtype of ['uint8', 'int16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64'] as const) {
      const [d, s] = await aa('delta', { dtype }, dtype, [50]);
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ minLength: 50 * 8, maxLength: 50 * 8 }), async (raw) => {
          const floats = Array.from({ length: 50 }, (_, i) => (raw[i]! - 128) / 4);
          const data =
            dtype === 'float32' ? Float32Array.from(floats) : dtype === 'float64' ? Float64Array.from(floats) : viewAs(dtype, raw.subarray(0, 50 * viewAs(dtype, raw).BYTES_PER_ELEMENT));
          const a = new NdArray(dtype, data, [50]);
          const back = await d.decode(await d.encode(a, s), s);
          expect(back.toFlat()).toEqual(a.toFlat());
        }),
        { numRuns: 20 },
      );
    }
  });

  it.skipIf(!PY)('delta, fixedscaleoffset and bitround encode exactly as numcodecs', async () => {
    const i16 = Int16Array.from({ length: 200 }, (_, i) => (i * i * 37) % 65536);
    let [c, spec] = await aa('delta', { dtype: 'int16', astype: 'int8' }, 'int16', [200]);
    let enc = await c.encode(new NdArray('int16', i16, [200]), spec);
    expect(Buffer.from(bytesOf(enc.data as Int8Array)).equals(pyEncode("Delta(dtype='<i2', astype='<i1')", '<i2', bytesOf(i16)))).toBe(true);

    const f32 = Float32Array.from({ length: 500 }, (_, i) => 1000 + Math.sin(i) * 3.3 + i * 0.05);
    [c, spec] = await aa('fixedscaleoffset', { offset: 1000, scale: 10, dtype: 'float32', astype: 'int16' }, 'float32', [500]);
    expect(c.resolve(spec).dtype).toBe('int16');
    enc = await c.encode(new NdArray('float32', f32, [500]), spec);
    expect(Buffer.from(bytesOf(enc.data as Int16Array)).equals(pyEncode("FixedScaleOffset(offset=1000, scale=10, dtype='<f4', astype='<i2')", '<f4', bytesOf(f32)))).toBe(true);
    const dec = await c.decode(enc, spec);
    const pyDec = python(`import numcodecs,numpy as np,sys; c=numcodecs.FixedScaleOffset(offset=1000, scale=10, dtype='<f4', astype='<i2'); sys.stdout.buffer.write(c.decode(sys.stdin.buffer.read()).tobytes())`, bytesOf(enc.data as Int16Array))!;
    expect(Buffer.from(bytesOf(dec.data as Float32Array)).equals(pyDec)).toBe(true);

    const f64 = Float64Array.from({ length: 300 }, (_, i) => (i - 150) * 1.2345678 + 1e-3 * i * i);
    [c, spec] = await aa('fixedscaleoffset', { offset: 2.5, scale: 100, dtype: 'float64', astype: 'int32' }, 'float64', [300]);
    enc = await c.encode(new NdArray('float64', f64, [300]), spec);
    expect(Buffer.from(bytesOf(enc.data as Int32Array)).equals(pyEncode("FixedScaleOffset(offset=2.5, scale=100, dtype='<f8', astype='<i4')", '<f8', bytesOf(f64)))).toBe(true);

    for (const [dtype, np, keep] of [['float32', '<f4', 3], ['float32', '<f4', 0], ['float64', '<f8', 10], ['float16', '<f2', 4]] as const) {
      const vals = Float64Array.from({ length: 256 }, (_, i) => (i - 128) * 0.37 + (i % 7) * 1e-3);
      let bytes: Uint8Array;
      if (dtype === 'float32') bytes = bytesOf(Float32Array.from(vals));
      else if (dtype === 'float64') bytes = bytesOf(vals);
      else bytes = new Uint8Array(python(`import numpy as np,sys; sys.stdout.buffer.write(np.frombuffer(sys.stdin.buffer.read(),'<f8').astype('<f2').tobytes())`, bytesOf(vals))!);
      const a = new NdArray(dtype, viewAs(dtype, bytes), [256]);
      [c, spec] = await aa('bitround', { keepbits: keep }, dtype, [256]);
      enc = await c.encode(a, spec);
      expect(Buffer.from(bytesOf(enc.data as Float32Array)).equals(pyEncode(`BitRound(keepbits=${keep})`, np, bytes))).toBe(true);
      expect(await c.decode(enc, spec)).toBe(enc);
    }
  });

  it('bitround and fixedscaleoffset reject bad configurations with typed errors', async () => {
    await expect(aa('bitround', { keepbits: 24 }, 'float32', [1])).rejects.toMatchObject({ code: 'spec' });
    await expect(aa('bitround', { keepbits: 3 }, 'int32', [1])).rejects.toMatchObject({ code: 'unsupported' });
    await expect(aa('fixedscaleoffset', { scale: 0, dtype: 'float32', astype: 'int16' }, 'float32', [1])).rejects.toMatchObject({ code: 'spec' });
  });
});
