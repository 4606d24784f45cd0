import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, NdArray, NotFoundError, open, openGroup } from '../../src/index.js';
import { fixture } from '../fixture-path.js';

const FIXTURES = fixture('zarr-python');

describe('groups', () => {
  it('zarr v2 group with consolidated .zmetadata: attributes and members without listing', async () => {
    const g = await openGroup(`file://${FIXTURES}/v2.zarr`);
    expect(g.format).toBe('zarr');
    expect(g.consolidated).toBeDefined();
    const members = await g.members();
    expect(members).toContainEqual({ name: '3d.chunked.i2', kind: 'array' });
    expect(members).toContainEqual({ name: 'my group with spaces', kind: 'group' });
    expect((await (await g.open('2d.chunked.ragged.i2')).read()).toFlat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('zarr v3 group: members by listing; inline consolidated metadata; nested group; attributes', async () => {
    const root = await openGroup(`file://${FIXTURES}/v3.zarr`);
    expect(root.format).toBe('zarr3');
    expect(root.consolidated).toBeUndefined();
    expect(await root.members()).toContainEqual({ name: '1d.contiguous.f2.le', kind: 'array' });
    const c = await root.openGroup('consolidated');
    expect(c.attributes).toEqual({ answer: 42 });
    expect(await c.members()).toEqual([
      { name: '1d.chunked.i2', kind: 'array' },
      { name: '2d.contiguous.i2', kind: 'array' },
      { name: 'nested', kind: 'group' },
    ]);
    expect((await (await c.open('2d.contiguous.i2')).read()).toFlat()).toEqual([1, 2, 3, 4]);
    const spaces = await root.openGroup('my group with spaces');
    expect(spaces.format).toBe('zarr3');
  });

  it('creates groups in each format, refuses to clobber, and errors on a missing group', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-groups-'));
    try {
      for (const format of ['zarr', 'zarr3', 'n5'] as const) {
        const url = `file://${dir}/${format}/`;
        const g = await openGroup({ kvstore: url, format, create: true, attributes: { who: format } });
        expect(g.format).toBe(format);
        expect((await openGroup(url)).attributes).toMatchObject({ who: format });
        await expect(openGroup({ kvstore: url, format, create: true })).rejects.toBeInstanceOf(AlreadyExistsError);
        const a = await open({ driver: format, kvstore: `${url}arr/`, create: true, dtype: 'uint16', schema: { domain: { shape: [4, 4] }, chunk_layout: { chunk: { shape: [2, 2] } } } });
        await a.write(NdArray.zeros('uint16', [4, 4], 3));
        expect(await g.members()).toEqual([{ name: 'arr', kind: 'array' }]);
        expect((await (await g.open('arr')).read()).toFlat()).toEqual(new Array(16).fill(3));
      }
      await expect(openGroup(`file://${dir}/nothing/`)).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exposes array attributes', async () => {
    const v = await open(`file://${FIXTURES}/v3.zarr/1d.contiguous.i4`);
    expect(v.attributes).toBeTypeOf('object');
  });
});
