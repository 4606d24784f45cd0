/** Regression tests for bugs the property tests found in the I/O planner and drivers. */
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { freshName, sharedMemory } from './helpers.js';

describe('planner regressions', () => {
  it('a scalar write of -0.0 stores -0.0 (float16/32/64), not +0', async () => {
    for (const dtype of ['float16', 'float32', 'float64'] as const) {
      const vol = await open({ driver: 'zarr3', kvstore: `memory://${freshName('negzero')}/`, create: true, dtype, schema: { domain: { shape: [4] }, chunk_layout: { write_chunk: { shape: [2] } } } });
      await vol.slice([[1, 3]]).write(-0);
      const got = (await vol.read()).toFlat();
      expect(got.map((x) => Object.is(x, -0)), dtype).toEqual([false, true, true, false]);
    }
  });

  it('a -0.0 fill value reads back as -0.0 for missing chunks, and +0 chunks are stored', async () => {
    const name = freshName('negfill');
    const vol = await open({ driver: 'zarr3', kvstore: `memory://${name}/`, create: true, dtype: 'float32', schema: { domain: { shape: [4] }, chunk_layout: { chunk: { shape: [2] } }, fill_value: -0 } });
    expect((await vol.read()).toFlat().every((x) => Object.is(x, -0))).toBe(true);
    await vol.slice([[0, 2]]).write(0);
    const got = (await vol.read()).toFlat();
    expect(got.map((x) => Object.is(x, -0))).toEqual([false, false, true, true]);
    const reopened = await open(`memory://${name}/`);
    expect(Object.is(reopened.fillValue, -0)).toBe(true);
    expect((await reopened.read()).toFlat().map((x) => Object.is(x, -0))).toEqual([false, false, true, true]);
  });
});

describe('metadata regressions', () => {
  const mem = sharedMemory();
  it('int64/uint64 fill values beyond 2^53 in .zarray / zarr.json are read exactly', async () => {
    const cases: [string, string, string, bigint][] = [
      ['.zarray', '<i8', '9223372036854775807', 2n ** 63n - 1n],
      ['.zarray', '<i8', '-9223372036854775808', -(2n ** 63n)],
      ['.zarray', '<u8', '18446744073709551615', 2n ** 64n - 1n],
      ['zarr.json', 'uint64', '18446744073709551615', 2n ** 64n - 1n],
      ['zarr.json', 'int64', '9007199254740993', 9007199254740993n],
    ];
    for (const [key, dtype, literal, want] of cases) {
      const name = freshName('bigfill');
      const text = key === '.zarray'
        ? `{"zarr_format": 2, "shape": [3], "chunks": [2], "dtype": "${dtype}", "compressor": null, "fill_value": ${literal}, "order": "C", "filters": null}`
        : `{"zarr_format": 3, "node_type": "array", "shape": [3], "data_type": "${dtype}", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}}, "fill_value": ${literal}, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]}`;
      await mem.write(`${name}/${key}`, new TextEncoder().encode(text));
      const v = await open(`memory://${name}/`);
      expect(v.fillValue, `${key} ${literal}`).toBe(want);
      expect((await v.read()).toFlat()).toEqual([want, want, want]);
    }
  });

  it('an int64/uint64 fill value beyond 2^53 is written as an exact JSON number', async () => {
    for (const driver of ['zarr', 'zarr3']) {
      const name = freshName('bigfillw');
      await open({ driver, kvstore: `memory://${name}/`, create: true, dtype: 'uint64', schema: { domain: { shape: [3] } }, metadata: driver === 'zarr' ? { fill_value: '18446744073709551615', compressor: null } : { fill_value: '18446744073709551615' } });
      const r = await mem.read(`${name}/${driver === 'zarr' ? '.zarray' : 'zarr.json'}`);
      if (r.state !== 'value') throw new Error('no metadata');
      expect(new TextDecoder().decode(r.value)).toContain('"fill_value": 18446744073709551615');
      expect((await open(`memory://${name}/`)).fillValue).toBe(2n ** 64n - 1n);
    }
  });
});
