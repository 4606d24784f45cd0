import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import FileSystemStore from '@zarrita/storage/fs';
import * as zarr from 'zarrita';
import { describe, expect, it } from 'vitest';
import { open, UnsupportedError, VolstoreError } from '../../src/index.js';
import { fixture } from '../fixture-path.js';

const FIXTURES = fixture('zarr-python');

/** Values the fixtures README states, flattened in C order. */
function expected(name: string): unknown[] | undefined {
  const arange = (n: number) => [...Array(n).keys()];
  if (name.includes('.S7') || name.includes('.U') || name.includes('.O') || name.includes('string')) return undefined;
  if (name.startsWith('3d.contiguous.delta.i4')) return arange(27);
  if (name.startsWith('3d.chunked.compressed.sharded')) return arange(64);
  if (name.startsWith('3d.')) return arange(27);
  if (name.startsWith('2d.chunked.compressed.sharded.filled')) return arange(16);
  if (name.startsWith('2d.chunked.compressed.sharded')) return arange(16).map((x) => x + 1);
  if (name.startsWith('2d.') && name.includes('ragged')) return arange(9).map((x) => x + 1);
  if (name.startsWith('2d.')) return [1, 2, 3, 4];
  if (name === '1d.chunked.ragged.i2') return [1, 2, 3, 4, 5];
  if (name === '1d.chunked.filled.compressed.sharded.i2') return [1, 2, 0, 0];
  if (name.includes('delta.shuffle')) return [10, 20, 30, 40];
  if (name.endsWith('.u1')) return [255, 0, 255, 0];
  if (name.endsWith('.b1')) return [true, false, true, false];
  if (name.includes('.f4.') || name.includes('.f2.') || name.endsWith('sharded.f4')) return [-1000.5, 0, 1000.5, 0];
  if (name.endsWith('.f8')) return [1.5, 2.5, 3.5, 4.5];
  if (name.includes('fixedscaleoffset')) return [1000.0, 1000.1, 1000.2, 1000.3].map(Math.fround);
  if (name.includes('bitround')) return undefined; // lossy: compared with zarrita below
  return [1, 2, 3, 4];
}

function arrays(version: string): string[] {
  const root = path.join(FIXTURES, `${version}.zarr`);
  return readdirSync(root).filter((n) => statSync(path.join(root, n)).isDirectory() && !n.startsWith('my group') && n !== 'consolidated');
}

/** zarrita's result in logical C order (it may return F-ordered buffers with strides). */
async function zarritaRead(dir: string): Promise<unknown[]> {
  const arr = await zarr.open(new FileSystemStore(dir), { kind: 'array' });
  const r = (await zarr.get(arr)) as { data: ArrayLike<unknown>; shape: number[]; stride: number[] };
  const out: unknown[] = [];
  const n = r.shape.reduce((a, b) => a * b, 1);
  const idx = new Array(r.shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    let p = 0;
    for (let d = 0; d < idx.length; d++) p += idx[d] * r.stride[d]!;
    const data = r.data as ArrayLike<unknown> & { get?: (i: number) => unknown };
    const v = typeof data.get === 'function' ? data.get(p) : data[p];
    out.push(typeof v === 'number' && arr.dtype === 'bool' ? v !== 0 : v);
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < r.shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

for (const version of ['v2', 'v3']) {
  describe(`zarr-python ${version} fixtures`, () => {
    for (const name of arrays(version)) {
      const dir = path.join(FIXTURES, `${version}.zarr`, name);
      const want = expected(name);
      if (want === undefined && /\.(S7|U\d+|O)(\.|$)|string/.test(name)) {
        it(`${name}: string/object dtype is a typed unsupported error`, async () => {
          const err = await open(`file://${dir}`).catch((e) => e);
          expect(err).toBeInstanceOf(UnsupportedError);
          expect((err as Error).message).toMatch(/dtype|data_type/);
        });
        continue;
      }
      it(`${name} reads exactly`, async () => {
        const vol = await open(`file://${dir}`);
        const got = (await vol.read()).toFlat();
        if (want) expect(got).toEqual(want);
        if (name !== '1d.contiguous.f2.le') expect(got).toEqual(await zarritaRead(dir)); // zarrita lacks float16
      });
    }
  });
}

describe('fixture metadata', () => {
  it('exposes dtype, shape, chunk layout and codecs of a sharded v3 array', async () => {
    const vol = await open(`file://${path.join(FIXTURES, 'v3.zarr', '3d.chunked.compressed.sharded.i2')}`);
    expect(vol.dtype).toBe('int16');
    expect(vol.shape).toEqual([4, 4, 4]);
    expect(vol.codec[0]!.name).toBe('sharding_indexed');
    expect(vol.chunkLayout.writeChunk.shape.length).toBe(3);
  });

  it('opening a group as an array names the problem', async () => {
    const err = await open(`file://${path.join(FIXTURES, 'v2.zarr')}`).catch((e) => e);
    expect(err).toBeInstanceOf(VolstoreError);
    expect(String(err)).toMatch(/group/);
  });
});
