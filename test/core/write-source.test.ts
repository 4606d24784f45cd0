/** write() takes an NdArray of the view's shape or a scalar; anything else is a typed error, never silently wrong data. */
import { describe, expect, it } from 'vitest';
import { NdArray, open, VolstoreError } from '../../src/index.js';

describe('write() sources', () => {
  it('a bare typed array or another object is a SpecError naming what it got; nothing is written', async () => {
    const vol = await open({
      driver: 'zarr3', kvstore: 'memory://write-source/a/', create: true, dtype: 'uint8',
      schema: { domain: { shape: [4, 4] }, chunk_layout: { read_chunk: { shape: [2, 2] } } },
    });
    await vol.write(NdArray.zeros('uint8', [4, 4], 7));
    for (const bad of [new Uint8Array(16), [1, 2, 3], 'x', null, undefined, { data: new Uint8Array(16) }]) {
      const p = vol.write(bad as never);
      await expect(p).rejects.toThrow(VolstoreError);
      await expect(vol.write(bad as never)).rejects.toThrow(/NdArray of the view's shape or a scalar/);
    }
    await expect(vol.write(new Uint8Array(16) as never)).rejects.toThrow(/bare Uint8Array/);
    expect([...(await vol.read()).toFlat()]).toEqual(new Array(16).fill(7));
    await vol.write(true);
    expect([...(await vol.read()).toFlat()]).toEqual(new Array(16).fill(1));
  });
});
