import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DataType, viewAs } from '../../src/array/dtype.js';
import { NdArray } from '../../src/array/ndarray.js';
import type { ArrayArrayCodec, BytesBytesCodec, ChunkSpec, CodecJSON } from '../../src/codecs/codec.js';
import { load } from './helpers.js';
import { fixture } from '../fixture-path.js';

const ROOT = fixture('zarr-python/v2.zarr');
const DTYPES: Record<string, DataType> = { '<i2': 'int16', '<f4': 'float32', '<i4': 'int32', '<u1': 'uint8', '|u1': 'uint8' };

/** The canonical JSON for a v2 compressor/filter (what the zarr v2 driver produces). */
function canonical(c: Record<string, unknown>): CodecJSON {
  const { id, ...conf } = c;
  for (const k of ['dtype', 'astype']) if (typeof conf[k] === 'string') conf[k] = DTYPES[conf[k] as string];
  if (id === 'blosc') conf.shuffle = ['noshuffle', 'shuffle', 'bitshuffle'][conf.shuffle as number];
  return { name: id as string, configuration: conf };
}

async function readV2(name: string): Promise<unknown[]> {
  const meta = JSON.parse(readFileSync(path.join(ROOT, name, '.zarray'), 'utf8'));
  const spec: ChunkSpec = { dtype: DTYPES[meta.dtype]!, shape: meta.chunks, fillValue: 0 };
  let bytes: Uint8Array = readFileSync(path.join(ROOT, name, '0'));
  if (meta.compressor) bytes = await ((await load(meta.compressor.id, canonical(meta.compressor).configuration, spec)) as BytesBytesCodec).decode(bytes, { key: `${name}/0` });
  // filters run in reverse on decode; bytes->bytes filters act on the bytes before the array view
  const filters = [...(meta.filters ?? [])].reverse();
  let arr: NdArray | undefined;
  for (const f of filters) {
    const json = canonical(f);
    const codec = await load(json.name, json.configuration, spec);
    if (codec.kind === 'bytes-bytes') {
      bytes = await codec.decode(bytes);
    } else {
      const aa = codec as ArrayArrayCodec;
      const encodedSpec = aa.resolve(spec);
      arr ??= new NdArray(encodedSpec.dtype, viewAs(encodedSpec.dtype, bytes), spec.shape);
      arr = await aa.decode(arr, spec);
    }
  }
  arr ??= new NdArray(spec.dtype, viewAs(spec.dtype, bytes), spec.shape);
  expect(arr.dtype).toBe(spec.dtype);
  return arr.toFlat();
}

describe('zarr-python v2 fixtures decode through the codec registry modules', () => {
  for (const c of ['zlib', 'blosc', 'lz4', 'zstd', 'shuffle', 'delta']) {
    it(`1d.contiguous.${c}.i2`, async () => {
      expect(await readV2(`1d.contiguous.${c}.i2`)).toEqual([1, 2, 3, 4]);
    });
  }
  it('1d.contiguous.delta.shuffle.i2', async () => {
    expect(await readV2('1d.contiguous.delta.shuffle.i2')).toEqual([10, 20, 30, 40]);
  });
  it('1d.contiguous.fixedscaleoffset.f4', async () => {
    const v = (await readV2('1d.contiguous.fixedscaleoffset.f4')) as number[];
    expect(v).toEqual([1000, 1000.1, 1000.2, 1000.3].map(Math.fround));
  });
  it('1d.contiguous.bitround.f4', async () => {
    const v = (await readV2('1d.contiguous.bitround.f4')) as number[];
    [1.1, 2.2, 3.3, 4.4].forEach((x, i) => expect(Math.abs(v[i]! - x)).toBeLessThan(x / 8));
    // keepbits 3: every value has at most 3 mantissa bits set
    const bits = new Uint32Array(Float32Array.from(v).buffer);
    for (const b of bits) expect(b & ((1 << 20) - 1)).toBe(0);
  });
});
