import { describe, expect, it } from 'vitest';
import { DATA_TYPES, allocTypedArray, isBigIntDtype, toElement } from '../../src/array/dtype.js';
import { NdArray } from '../../src/array/ndarray.js';
import { decodeNpy, encodeNpy } from '../../src/array/npy.js';
import { VolstoreError } from '../../src/errors.js';
import { hasPython, python } from '../codecs/helpers.js';

function sample(dtype: (typeof DATA_TYPES)[number], shape: number[]): NdArray {
  const a = NdArray.zeros(dtype, shape);
  const d = a.data as unknown as (number | bigint)[];
  for (let i = 0; i < a.size; i++) d[i] = isBigIntDtype(dtype) ? BigInt(i * 3 - 5) : (toElement(dtype, dtype === 'bool' ? i % 2 === 0 : i - 2) as number);
  return a;
}

describe('npy', () => {
  it('round-trips every dtype with a 64-byte aligned v1.0 header', () => {
    for (const dtype of DATA_TYPES) {
      const a = sample(dtype, [2, 3, 4]);
      const b = encodeNpy(a);
      expect(b[6]).toBe(1);
      expect((10 + (b[8]! | (b[9]! << 8))) % 64).toBe(0);
      const back = decodeNpy(b);
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual([2, 3, 4]);
      expect(back.toFlat()).toEqual(a.toFlat());
    }
  });

  it('copies non-contiguous arrays into C order', () => {
    const a = sample('int16', [3, 4]);
    const t = new NdArray('int16', a.data as Int16Array, [4, 3], [1, 4]); // transposed view
    expect(decodeNpy(encodeNpy(t)).toNested()).toEqual(t.toNested());
  });

  it('rejects garbage and truncation with typed errors', () => {
    const b = encodeNpy(sample('float32', [10]));
    expect(() => decodeNpy(b.subarray(0, b.length - 1))).toThrow(VolstoreError);
    expect(() => decodeNpy(new Uint8Array([1, 2, 3]))).toThrow(VolstoreError);
  });

  it.skipIf(!hasPython(['numpy']))('numpy loads our output and agrees; we load numpy v1/v2/v3, F order, big-endian', () => {
    const a = sample('float16', [2, 5]);
    const out = python('import numpy as np,io,sys,json; a=np.load(io.BytesIO(sys.stdin.buffer.read())); print(json.dumps([a.dtype.str, list(a.shape), a.tolist()]))', encodeNpy(a))!;
    expect(JSON.parse(out.toString())).toEqual(['<f2', [2, 5], a.toNested()]);
    const b = python('import numpy as np,io,sys; a=np.load(io.BytesIO(sys.stdin.buffer.read())); print(a.dtype.str, a.tolist())', encodeNpy(sample('bool', [4])))!;
    expect(b.toString().trim()).toBe('|b1 [True, False, True, False]');
    for (const [code, version] of [
      ["np.lib.format.write_array(f, np.asfortranarray(np.arange(24, dtype='>i4').reshape(2,3,4)), version=(1,0))", 1],
      ["np.lib.format.write_array(f, np.arange(24, dtype='>i4').reshape(2,3,4), version=(2,0))", 2],
      ["np.lib.format.write_array(f, np.arange(24, dtype='<i4').reshape(2,3,4), version=(3,0))", 3],
    ] as const) {
      const bytes = python(`import numpy as np,io,sys; f=io.BytesIO(); ${code}; sys.stdout.buffer.write(f.getvalue())`)!;
      expect(bytes[6]).toBe(version);
      const back = decodeNpy(new Uint8Array(bytes));
      expect(back.dtype).toBe('int32');
      expect(back.toFlat()).toEqual(Array.from({ length: 24 }, (_, i) => i));
    }
    expect(allocTypedArray('int8', 1)).toBeInstanceOf(Int8Array);
  });
});
