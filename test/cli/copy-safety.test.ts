/**
 * `volstore copy` never loses data: an existing destination is refused (intact, attributes
 * included) unless --overwrite; a destination that is the source, inside it or around it is
 * refused whatever the flags, however the two are spelled.
 */
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { copyVolume, NdArray, open, SpecError } from '../../src/index.js';
import { cli, spawnCli } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-copy-safety-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SHAPE = [8, 8, 8];
const values = (seed: number) => {
  const a = NdArray.zeros('uint16', SHAPE);
  (a.data as Uint16Array).forEach((_, i, d) => (d[i] = (i * 7 + seed) % 60000));
  return a;
};

/** A zarr v2 array with .zattrs at `p`, filled from `seed`. */
async function makeZarr2(p: string, seed: number): Promise<void> {
  const v = await open({ driver: 'zarr', kvstore: `file://${p}/`, create: true, delete_existing: true, dtype: 'uint16', schema: { domain: { shape: SHAPE }, chunk_layout: { chunk: { shape: [4, 4, 4] } } } });
  await v.write(values(seed));
  await writeFile(path.join(p, '.zattrs'), JSON.stringify({ owner: 'lab', seed }));
}

async function contents(p: string): Promise<number[]> {
  return (await (await open(`file://${p}/`)).read()).toFlat() as number[];
}

let src: string;
beforeEach(async () => {
  src = path.join(dir, `src-${Math.random().toString(36).slice(2)}.zarr`);
  await makeZarr2(src, 1);
});

describe('copy onto an existing destination', () => {
  it('is refused (exit 1, naming --overwrite) and the destination keeps its data and .zattrs', async () => {
    const dst = path.join(dir, 'existing.zarr');
    await makeZarr2(dst, 2);
    const before = await contents(dst);
    for (const driver of ['zarr', 'zarr3', 'n5']) {
      const r = await cli(['copy', src, dst, '--driver', driver, '--quiet']);
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(/AlreadyExistsError.*not empty.*--overwrite/);
      expect(await contents(dst)).toEqual(before);
      expect(JSON.parse(await readFile(path.join(dst, '.zattrs'), 'utf8'))).toEqual({ owner: 'lab', seed: 2 });
    }
  });

  it('a non-empty directory that is not an array is refused too', async () => {
    const dst = path.join(dir, 'notes');
    await mkdir(dst, { recursive: true });
    await writeFile(path.join(dst, 'README.txt'), 'keep me');
    const r = await cli(['copy', src, dst, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/README\.txt/);
    expect(await readFile(path.join(dst, 'README.txt'), 'utf8')).toBe('keep me');
  });

  it('--overwrite replaces it', async () => {
    const dst = path.join(dir, 'replaced.zarr');
    await makeZarr2(dst, 2);
    const r = await cli(['copy', src, dst, '--overwrite', '--driver', 'zarr', '--quiet']);
    expect(r.code, r.err).toBe(0);
    expect(await contents(dst)).toEqual(await contents(src));
  });

  it('a precomputed scale that exists is refused; a new scale in the same volume is added', async () => {
    const pc = path.join(dir, `pc-${Math.random().toString(36).slice(2)}`);
    expect((await cli(['copy', src, pc, '-d', 'neuroglancer_precomputed', '--resolution', '4,4,4', '-q'])).code).toBe(0);
    const again = await cli(['copy', src, pc, '-d', 'neuroglancer_precomputed', '--resolution', '4,4,4', '-q']);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already exists.*--overwrite/);
    expect((await cli(['copy', src, pc, '-d', 'neuroglancer_precomputed', '--resolution', '8,8,8', '-q'])).code).toBe(0);
    const info = JSON.parse(await readFile(path.join(pc, 'info'), 'utf8'));
    expect(info.scales.map((s: { key: string }) => s.key)).toEqual(['4_4_4', '8_8_8']);
    // A copy from one scale of the volume onto itself is refused; to another scale it is not.
    const self = await cli(['copy', `{"driver":"neuroglancer_precomputed","kvstore":"file://${pc}/","scale_index":0}`, pc, '-d', 'neuroglancer_precomputed', '--resolution', '4,4,4', '--overwrite', '-q']);
    expect(self.code).toBe(1);
    expect(self.err).toMatch(/is the source itself/);
    const other = await cli(['copy', `{"driver":"neuroglancer_precomputed","kvstore":"file://${pc}/","scale_index":0}`, pc, '-d', 'neuroglancer_precomputed', '--resolution', '8,8,8', '--overwrite', '-q']);
    expect(other.code, other.err).toBe(0);
  });
});

describe('copy onto the source itself', () => {
  it('is refused however the destination is spelled, with or without --overwrite, and the source is intact', async () => {
    const before = await contents(src);
    const spellings = [src, `${src}/`, `file://${src}`, `file://${src}/`, `${src}/./`, `${path.dirname(src)}/../${path.basename(path.dirname(src))}/${path.basename(src)}`, `{"driver":"zarr","kvstore":{"driver":"file","path":"${src}"}}`, `{"driver":"zarr","kvstore":"file://${path.dirname(src)}/","path":"${path.basename(src)}"}`];
    for (const dst of spellings) {
      for (const extra of [[], ['--overwrite']]) {
        const r = await cli(['copy', src, dst, '--driver', 'zarr', '--quiet', ...extra]);
        expect(r.code, `${dst} ${extra}`).toBe(1);
        expect(r.err).toMatch(/is the source itself/);
      }
    }
    expect(await contents(src)).toEqual(before);
  });

  it('relative paths and symlinked directories are resolved before comparing', async () => {
    const link = path.join(dir, `link-${Math.random().toString(36).slice(2)}`);
    await symlink(path.dirname(src), link);
    const before = await contents(src);
    const viaLink = await cli(['copy', src, path.join(link, path.basename(src)), '--overwrite', '-q']);
    expect(viaLink.code).toBe(1);
    expect(viaLink.err).toMatch(/is the source itself/);
    // As a user types it: relative to the working directory.
    const rel = await spawnCli(['copy', `./${path.basename(src)}`, path.basename(src), '--overwrite'], { cwd: path.dirname(src) });
    expect(rel.code).toBe(1);
    expect(rel.err).toMatch(/is the source itself/);
    expect(await contents(src)).toEqual(before);
  });

  it('a destination inside the source, or containing it, is refused', async () => {
    const inside = await cli(['copy', src, `${src}/nested`, '--overwrite', '-q']);
    expect(inside.code).toBe(1);
    expect(inside.err).toMatch(/is inside the source/);
    const parent = path.dirname(src);
    const around = await cli(['copy', src, parent, '--overwrite', '-q']);
    expect(around.code).toBe(1);
    expect(around.err).toMatch(/contains the source/);
    expect(await contents(src)).toHaveLength(512);
  });

  it('copyVolume refuses two views of one stored array', async () => {
    const v = await open(`file://${src}/`);
    const w = await open(`file://${src}/`);
    await expect(copyVolume(v, w)).rejects.toThrow(SpecError);
    await expect(copyVolume(v, w)).rejects.toThrow(/same array/);
  });
});
