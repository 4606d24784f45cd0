/**
 * Issue 8 §5: `copy` to neuroglancer_precomputed keeps the source's resolution and voxel
 * offset (OME-Zarr multiscales on zarr v2 / v3, N5 pixelResolution / resolution, precomputed
 * info); `info` shows the sharding of sharded precomputed scales.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NdArray, open, type Volume } from '../../src/index.js';
import { voxelGeometry } from '../../src/jobs/geometry.js';
import { cli } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-format-gaps-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ZYX = [6, 5, 4];

function data(): NdArray {
  const a = NdArray.zeros('uint16', ZYX);
  (a.data as Uint16Array).forEach((_, i, d) => (d[i] = i + 1));
  return a;
}

async function readInfo(p: string): Promise<{ scales: { key: string; resolution: number[]; voxel_offset: number[]; size: number[] }[] }> {
  return JSON.parse(await readFile(path.join(p, 'info'), 'utf8'));
}

/** Every voxel of the [x, y, z, c] precomputed copy equals the [z, y, x] source at its offset. */
async function expectSameVoxels(pc: Volume, src: NdArray, offset: number[]): Promise<void> {
  expect(pc.domain.inclusiveMin).toEqual([...offset, 0]);
  const got = await pc.read();
  for (let z = 0; z < ZYX[0]!; z++) for (let y = 0; y < ZYX[1]!; y++) for (let x = 0; x < ZYX[2]!; x++) {
    expect(got.get([x, y, z, 0])).toBe(src.get([z, y, x]));
  }
}

describe('copy to precomputed keeps resolution and voxel offset', () => {
  it('OME-Zarr 0.4 (zarr v2 group .zattrs multiscales, nanometres, translation)', async () => {
    const root = path.join(dir, 'ome04.zarr');
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, '.zgroup'), JSON.stringify({ zarr_format: 2 }));
    await writeFile(path.join(root, '.zattrs'), JSON.stringify({
      multiscales: [{
        version: '0.4',
        axes: [{ name: 'z', type: 'space', unit: 'nanometer' }, { name: 'y', type: 'space', unit: 'nanometer' }, { name: 'x', type: 'space', unit: 'nanometer' }],
        datasets: [
          { path: 's0', coordinateTransformations: [{ type: 'scale', scale: [40, 8, 8] }, { type: 'translation', translation: [400, 80, 16] }] },
          { path: 's1', coordinateTransformations: [{ type: 'scale', scale: [80, 16, 16] }] },
        ],
      }],
    }));
    const s0 = await open({ driver: 'zarr', kvstore: `file://${root}/s0/`, create: true, dtype: 'uint16', schema: { domain: { shape: ZYX }, chunk_layout: { chunk: { shape: [3, 3, 3] } } } });
    const d = data();
    await s0.write(d);
    expect(await voxelGeometry(s0)).toMatchObject({ resolution: [40, 8, 8], offset: [10, 10, 2], axes: ['z', 'y', 'x'] });
    const pc = path.join(dir, 'ome04-pc');
    const r = await cli(['copy', `${root}/s0`, pc, '-d', 'neuroglancer_precomputed', '-q']);
    expect(r.code, r.err).toBe(0);
    const info = await readInfo(pc);
    expect(info.scales[0]).toMatchObject({ key: '8_8_40', resolution: [8, 8, 40], voxel_offset: [2, 10, 10], size: [4, 5, 6] });
    await expectSameVoxels(await open(`file://${pc}/`), d, [2, 10, 10]);
    // --resolution overrides what the metadata says.
    const over = path.join(dir, 'ome04-pc-over');
    expect((await cli(['copy', `${root}/s0`, over, '-d', 'neuroglancer_precomputed', '--resolution', '1,2,3', '-q'])).code).toBe(0);
    expect((await readInfo(over)).scales[0]!.resolution).toEqual([1, 2, 3]);
  });

  it('OME-Zarr 0.5 (zarr v3 group attributes.ome, micrometres, dimension_names)', async () => {
    const root = path.join(dir, 'ome05.zarr');
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, 'zarr.json'), JSON.stringify({
      zarr_format: 3,
      node_type: 'group',
      attributes: { ome: { version: '0.5', multiscales: [{ axes: [{ name: 'z', type: 'space', unit: 'micrometer' }, { name: 'y', type: 'space', unit: 'micrometer' }, { name: 'x', type: 'space', unit: 'micrometer' }], datasets: [{ path: '0', coordinateTransformations: [{ type: 'scale', scale: [0.04, 0.008, 0.008] }] }] }] } },
    }));
    const s0 = await open({ driver: 'zarr3', kvstore: `file://${root}/0/`, create: true, dtype: 'uint16', schema: { domain: { shape: ZYX, labels: ['z', 'y', 'x'] }, chunk_layout: { chunk: { shape: [3, 3, 3] } } } });
    const d = data();
    await s0.write(d);
    const pc = path.join(dir, 'ome05-pc');
    expect((await cli(['copy', `${root}/0`, pc, '-d', 'neuroglancer_precomputed', '-q'])).code).toBe(0);
    const s = (await readInfo(pc)).scales[0]!;
    expect(s.resolution.map((v) => Number(v.toFixed(6)))).toEqual([8, 8, 40]);
    expect(s.voxel_offset).toEqual([0, 0, 0]);
    await expectSameVoxels(await open(`file://${pc}/`), d, [0, 0, 0]);
  });

  it('N5 pixelResolution (dimensions in attributes.json order = [x, y, z])', async () => {
    const n5 = path.join(dir, 'em.n5', 'raw');
    const xyz = await open({ driver: 'n5', kvstore: `file://${n5}/`, create: true, dtype: 'uint16', schema: { domain: { shape: [4, 5, 6] }, chunk_layout: { chunk: { shape: [2, 2, 2] } } } });
    const d = data();
    await xyz.transpose([2, 1, 0]).write(d); // N5 volume seen as [z, y, x] gets the [z, y, x] data
    const attrsPath = path.join(n5, 'attributes.json');
    const attrs = JSON.parse(await readFile(attrsPath, 'utf8'));
    await writeFile(attrsPath, JSON.stringify({ ...attrs, axes: ['x', 'y', 'z'], pixelResolution: { dimensions: [4, 4, 30], unit: 'nm' } }));
    const pc = path.join(dir, 'n5-pc');
    const r = await cli(['copy', n5, pc, '-d', 'neuroglancer_precomputed', '-q']);
    expect(r.code, r.err).toBe(0);
    expect((await readInfo(pc)).scales[0]).toMatchObject({ resolution: [4, 4, 30], size: [4, 5, 6] });
    await expectSameVoxels(await open(`file://${pc}/`), d, [0, 0, 0]);
  });

  it('precomputed to precomputed keeps resolution and voxel_offset; downsample scales the resolution', async () => {
    const a = path.join(dir, 'pc-a');
    const src = await open({ driver: 'neuroglancer_precomputed', kvstore: `file://${a}/`, create: true, multiscale_metadata: { data_type: 'uint16', num_channels: 1 }, scale_metadata: { size: [4, 5, 6], voxel_offset: [100, 200, 300], resolution: [6, 6, 30], chunk_size: [2, 2, 2], encoding: 'raw' } });
    const d = data();
    await src.slice([null, null, null, 0]).transpose([2, 1, 0]).write(d);
    const c = path.join(dir, 'pc-c');
    const r = await cli(['copy', a, c, '-d', 'neuroglancer_precomputed', '-q']);
    expect(r.code, r.err).toBe(0);
    expect((await readInfo(c)).scales[0]).toMatchObject({ resolution: [6, 6, 30], voxel_offset: [100, 200, 300] });
    await expectSameVoxels(await open(`file://${c}/`), d, [100, 200, 300]);
    const ds = await cli(['downsample', a, c, '-d', 'neuroglancer_precomputed', '-f', '2,2,1', '-q']);
    expect(ds.code, ds.err).toBe(0);
    expect((await readInfo(c)).scales[1]).toMatchObject({ key: '12_12_30', resolution: [12, 12, 30], voxel_offset: [50, 100, 300], size: [2, 3, 6] });
  });
});

describe('info on sharded precomputed scales', () => {
  it('shows the sharding parameters (text and JSON) per scale', async () => {
    const src = path.join(dir, 'seg-src');
    const v = await open({ driver: 'zarr3', kvstore: `file://${src}/`, create: true, dtype: 'uint64', schema: { domain: { shape: [16, 16, 16], labels: ['z', 'y', 'x'] }, chunk_layout: { chunk: { shape: [8, 8, 8] } } } });
    await v.write(NdArray.zeros('uint64', [16, 16, 16], 7n));
    const pc = path.join(dir, 'seg-pc');
    expect((await cli(['copy', src, pc, '-d', 'neuroglancer_precomputed', '--encoding', 'compressed_segmentation', '--sharding', 'auto', '--chunk-shape', '4,4,4', '-q'])).code).toBe(0);
    const j = JSON.parse((await cli(['info', pc, '--json'])).out);
    expect(j.sharding).toMatchObject({ '@type': 'neuroglancer_uint64_sharded_v1', hash: 'murmurhash3_x86_128' });
    expect(j.scales).toHaveLength(1);
    expect(j.scales[0].sharding).toEqual(j.sharding);
    const t = (await cli(['info', pc])).out;
    expect(t).toMatch(/^sharding\s+neuroglancer_uint64_sharded_v1: shard_bits \d+, minishard_bits \d+, preshift_bits \d+, hash murmurhash3_x86_128/m);
    expect(t).toMatch(/^scale 0 \*\s+"1_1_1" size 16x16x16, .*compressed_segmentation, sharded/m);
    // An unsharded scale says so.
    const un = path.join(dir, 'seg-pc-unsharded');
    expect((await cli(['copy', src, un, '-d', 'neuroglancer_precomputed', '-q'])).code).toBe(0);
    expect((await cli(['info', un])).out).toMatch(/^sharding\s+none$/m);
  });
});
