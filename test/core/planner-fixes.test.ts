/** Regression tests for bugs the property tests found in the I/O planner and drivers. */
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { freshName } from './helpers.js';

describe('planner regressions', () => {
  it('a scalar write of -0.0 stores -0.0 (float16/32/64), not +0', async () => {
    for (const dtype of ['float16', 'float32', 'float64'] as const) {
      const vol = await open({ driver: 'zarr3', kvstore: `memory://${freshName('negzero')}/`, create: true, dtype, schema: { domain: { shape: [4] }, chunk_layout: { write_chunk: { shape: [2] } } } });
      await vol.slice([[1, 3]]).write(-0);
      const got = (await vol.read()).toFlat();
      expect(got.map((x) => Object.is(x, -0)), dtype).toEqual([false, true, true, false]);
    }
  });
});
