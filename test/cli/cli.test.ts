import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNpy } from '../../src/array/npy.js';
import { NdArray, open } from '../../src/index.js';
import { fixture } from '../fixture-path.js';
import { cli, spawnCli } from './helpers.js';

const FIX = fixture();

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readNpy(p: string): Promise<NdArray> {
  return decodeNpy(new Uint8Array(await readFile(p)));
}

describe('volstore CLI', () => {
  it('info --json on a sharded zarr v3 fixture (as a child process, from the sources)', async () => {
    const r = await spawnCli(['info', '--json', `${FIX}/zarr-python/v3.zarr/3d.chunked.compressed.sharded.i2`]);
    expect(r.code, r.err).toBe(0);
    const info = JSON.parse(r.out);
    expect(info).toMatchObject({ driver: 'zarr3', dtype: 'int16', domain: { shape: [4, 4, 4] }, fill_value: 0 });
    expect(info.chunk_layout.write_chunk.shape).not.toEqual(info.chunk_layout.read_chunk.shape);
    expect(info.codecs[0].name).toBe('sharding_indexed');
  });

  it('info works for N5 and names an unknown spec key', async () => {
    const n5 = await cli(['info', `${FIX}/tensorstore-n5/gzip`, '--json']);
    expect(n5.code).toBe(0);
    expect(JSON.parse(n5.out)).toMatchObject({ driver: 'n5', dtype: 'uint16', domain: { shape: [5, 4] } });
    const bad = await cli(['info', '{"driver":"zarr3","kvstore":"memory://x/","bogus":1}']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/"bogus"/);
  });

  it('read --region writes C-order .npy in the array\'s own dimension order', async () => {
    const out = path.join(dir, 'f.npy');
    const r = await cli(['read', `${FIX}/zarr-python/v2.zarr/3d.chunked.mixed.i2.F`, '--region', '1,0:2,:', '--out', out]);
    expect(r.code).toBe(0);
    const a = await readNpy(out);
    expect(a.shape).toEqual([2, 3]);
    expect(a.toFlat()).toEqual([9, 10, 11, 12, 13, 14]);
    const bad = await cli(['read', `${FIX}/zarr-python/v2.zarr/3d.chunked.i2`, '--region', '0:9', '--out', out]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/out-of-bounds|outside/);
  });

  it('copy to zarr3 sharded, zarr v2, N5 and precomputed (raw, cseg, sharded) preserves every value', async () => {
    // A 3-D uint32 source with structure.
    const srcUrl = `file://${dir}/src.zarr/`;
    const shape = [20, 18, 22];
    const src = await open({ driver: 'zarr3', kvstore: srcUrl, create: true, dtype: 'uint32', schema: { domain: { shape }, chunk_layout: { chunk: { shape: [7, 9, 11] } } } });
    const data = NdArray.zeros('uint32', shape);
    (data.data as Uint32Array).forEach((_, i, a) => (a[i] = Math.floor(i / 97) % 13));
    await src.write(data);
    const cases: [string, string[]][] = [
      ['zarr3', ['--chunk-shape', '4,6,8', '--shard-shape', '8,12,16', '--codec', 'zstd:3']],
      ['zarr', ['--driver', 'zarr', '--chunk-shape', '5,5,5', '--codec', 'gzip:5']],
      ['n5', ['--driver', 'n5', '--chunk-shape', '8,8,8', '--codec', 'blosc:lz4:5']],
      ['pc-raw', ['--driver', 'neuroglancer_precomputed', '--chunk-shape', '8,8,8']],
      ['pc-cseg', ['--driver', 'neuroglancer_precomputed', '--encoding', 'compressed_segmentation', '--sharding', 'auto']],
      ['pc-box', ['--driver', 'neuroglancer_precomputed', '--encoding', 'compressed_segmentation', '--chunk-shape', '4,4,4', '--shard-shape', '8,8,8']],
    ];
    for (const [name, flags] of cases) {
      const dst = `${dir}/${name}/`;
      const r = await cli(['copy', srcUrl, dst, '--quiet', ...flags]);
      expect(r.code, `${name}: ${r.err}`).toBe(0);
      const out = path.join(dir, `${name}.npy`);
      expect((await cli(['read', dst, '--out', out])).code).toBe(0);
      const a = await readNpy(out);
      let flat = a.toFlat();
      if (name.startsWith('pc-')) {
        // precomputed is [x, y, z, c]: back to [z, y, x].
        expect(a.shape).toEqual([22, 18, 20, 1]);
        flat = [];
        for (let z = 0; z < 20; z++) for (let y = 0; y < 18; y++) for (let x = 0; x < 22; x++) flat.push(a.get([x, y, z, 0]));
      } else {
        expect(a.shape).toEqual(shape);
      }
      expect(flat, name).toEqual(data.toFlat());
    }
    const info = JSON.parse((await cli(['info', '--json', `${dir}/pc-box/`])).out);
    expect(info.driver).toBe('neuroglancer_precomputed');
  });

  it('downsample: mean of an image and mode of labels, chunk by chunk, equal to a whole-array reference', async () => {
    const shape = [9, 10, 11];
    const img = await open({ driver: 'zarr3', kvstore: `file://${dir}/img/`, create: true, dtype: 'uint16', schema: { domain: { shape }, chunk_layout: { chunk: { shape: [4, 4, 4] } } } });
    const data = NdArray.zeros('uint16', shape);
    (data.data as Uint16Array).forEach((_, i, a) => (a[i] = (i * 37) % 1000));
    await img.write(data);
    const f = [2, 3, 2];
    const ds = shape.map((n, i) => Math.ceil(n / f[i]!));
    expect((await cli(['downsample', `file://${dir}/img/`, `${dir}/img-s1/`, '--factors', f.join(','), '--chunk-shape', '2,2,2', '--quiet'])).code).toBe(0);
    const got = (await (await open(`file://${dir}/img-s1/`)).read()).toFlat();
    const want: number[] = [];
    for (let z = 0; z < ds[0]!; z++) for (let y = 0; y < ds[1]!; y++) for (let x = 0; x < ds[2]!; x++) {
      let sum = 0;
      let n = 0;
      for (let dz = 0; dz < f[0]!; dz++) for (let dy = 0; dy < f[1]!; dy++) for (let dx = 0; dx < f[2]!; dx++) {
        const [a, b, c] = [z * f[0]! + dz, y * f[1]! + dy, x * f[2]! + dx];
        if (a < shape[0]! && b < shape[1]! && c < shape[2]!) {
          sum += data.get([a, b, c]) as number;
          n++;
        }
      }
      const q = Math.floor(sum / n);
      const r = sum - q * n; // round to nearest, ties to even (the kernel's documented rule)
      want.push(2 * r > n || (2 * r === n && q % 2 === 1) ? q + 1 : q);
    }
    expect(got).toEqual(want);

    const labels = await open({ driver: 'zarr3', kvstore: `file://${dir}/lab/`, create: true, dtype: 'uint64', schema: { domain: { shape: [8, 8, 8] }, chunk_layout: { chunk: { shape: [4, 4, 4] } } } });
    const l = NdArray.zeros('uint64', [8, 8, 8]);
    // Each 2x2x2 block: 5 voxels of label A, 3 of label B -> mode A.
    for (let i = 0; i < 512; i++) {
      const [z, y, x] = [i >> 6, (i >> 3) & 7, i & 7];
      const block = BigInt(((z >> 1) * 16 + (y >> 1) * 4 + (x >> 1)) * 1000);
      (l.data as BigUint64Array)[i] = (z & 1) + (y & 1) + (x & 1) >= 2 ? block + 7n : block + 1n;
    }
    await labels.write(l);
    expect((await cli(['downsample', `file://${dir}/lab/`, `${dir}/lab-s1/`, '--factors', '2,2,2', '--quiet'])).code).toBe(0);
    const m = await (await open(`file://${dir}/lab-s1/`)).read();
    expect(m.shape).toEqual([4, 4, 4]);
    expect(m.toFlat()).toEqual(Array.from({ length: 64 }, (_, b) => BigInt(b * 1000) + 1n));
  });

  it('unknown command and bad flags are usage errors (exit 2)', async () => {
    expect((await cli(['frobnicate'])).code).toBe(2);
    const r = await cli(['copy', 'memory://a/', 'memory://b/', '--chunk-shape', 'x']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--chunk-shape expects comma-separated positive integers, got "x"/);
  });
});
