/**
 * `volstore copy` from HDF5 (h5py-written fixtures, test/fixtures/hdf5/make_fixtures.py): into
 * sharded zarr3 element for element with the CREMI attributes kept, into precomputed with the
 * resolution and voxel offset kept, and a 512 MiB dataset converted with bounded memory (peak
 * resident memory of a child process: a memory bound, not a timing one).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { fixture } from '../fixture-path.js';
import { cli, TSX } from './helpers.js';

const SAMPLE = fixture('hdf5/sample.h5');
const BIG = fixture('hdf5/big-gzip.h5');
const CHILD = path.resolve('test/jobs/rss-child.ts');
const MiB = 2 ** 20;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-hdf5-copy-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('volstore copy from HDF5', () => {
  it('to sharded zarr3: every element equal, CREMI attributes kept', async () => {
    const dst = path.join(dir, 'labels.zarr');
    const r = await cli(['copy', `${SAMPLE}|hdf5:volumes/labels/neuron_ids`, dst, '--driver', 'zarr3', '--chunk-shape', '10,50,50', '--shard-shape', '20,100,100', '-q']);
    expect(r.code, r.err).toBe(0);
    const a = await (await open(`file://${SAMPLE}|hdf5:volumes/labels/neuron_ids`)).read();
    const b = await (await open(`file://${dst}/`)).read();
    expect(b.dtype).toBe('uint64');
    expect(b.shape).toEqual([20, 100, 100]);
    expect(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength).equals(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength))).toBe(true);
    const meta = JSON.parse(await readFile(path.join(dst, 'zarr.json'), 'utf8'));
    expect(meta.attributes).toMatchObject({ resolution: [40, 4, 4], offset: [80, 40, 40] });
    expect(meta.codecs[0].name).toBe('sharding_indexed');
  });

  it('to neuroglancer precomputed: resolution and voxel offset in x, y, z', async () => {
    const dst = path.join(dir, 'seg');
    const r = await cli(['copy', `${SAMPLE}|hdf5:volumes/labels/neuron_ids`, dst, '--driver', 'neuroglancer_precomputed', '--encoding', 'compressed_segmentation', '-q']);
    expect(r.code, r.err).toBe(0);
    const info = JSON.parse(await readFile(path.join(dst, 'info'), 'utf8'));
    expect(info.scales[0]).toMatchObject({ resolution: [4, 4, 40], voxel_offset: [10, 10, 2], size: [100, 100, 20] });
  });

  it('converts a 512 MiB dataset in bounded memory', async () => {
    const dst = path.join(dir, 'big.zarr');
    const { code, baseRss, maxRss } = await new Promise<{ code: number; baseRss: number; maxRss: number }>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', TSX, CHILD, 'copy', `${BIG}|hdf5:data`, dst, '--driver', 'zarr3', '--chunk-shape', '64,128,128', '--shard-shape', '128,256,256', '--codec', 'raw', '--memory-limit', String(64 * MiB), '-q'],
        { maxBuffer: 1 << 20 },
        (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').at(-1)!))),
      );
    });
    expect(code).toBe(0);
    const grown = maxRss - baseRss;
    console.log(`HDF5 512 MiB -> zarr3: peak RSS ${(grown / MiB).toFixed(0)} MiB above the loaded baseline`);
    expect(grown).toBeLessThan(256 * MiB);
    // Spot checks against the source: a slab at each end.
    const src = await open(`file://${BIG}|hdf5:data`);
    const out = await open(`file://${dst}/`);
    for (const z of [0, 511]) {
      const a = await src.slice([z, [0, 1024], [0, 1024]]).read();
      const b = await out.slice([z, [0, 1024], [0, 1024]]).read();
      expect(Buffer.from(b.data as Uint8Array).equals(Buffer.from(a.data as Uint8Array))).toBe(true);
    }
  });
});
