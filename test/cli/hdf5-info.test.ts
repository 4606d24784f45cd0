/**
 * `volstore info` on HDF5: a file named without a dataset lists its datasets (with what volstore
 * can and cannot read); a dataset shows its CREMI placement. The file was written by h5py
 * (test/fixtures/hdf5/make_fixtures.py).
 */
import { describe, expect, it } from 'vitest';
import { fixture } from '../fixture-path.js';
import { cli } from './helpers.js';

const SAMPLE = fixture('hdf5/sample.h5');

describe('volstore info on HDF5', () => {
  it('lists the datasets of a file named without a dataset path', async () => {
    const r = await cli(['info', '--json', SAMPLE]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { kind: string; datasets: { path: string; dtype: string | null; shape: number[]; supported: boolean; url: string }[] };
    expect(j.kind).toBe('hdf5-file');
    const byPath = new Map(j.datasets.map((d) => [d.path, d]));
    expect(byPath.get('volumes/raw')).toMatchObject({ dtype: 'uint8', shape: [20, 100, 100], supported: true });
    expect(byPath.get('volumes/labels/neuron_ids')).toMatchObject({ dtype: 'uint64', supported: true });
    expect(byPath.get('annotations/types')).toMatchObject({ dtype: null, supported: false });
    // Every listed URL opens the dataset it names.
    const raw = await cli(['info', '--json', byPath.get('volumes/raw')!.url]);
    expect(JSON.parse(raw.out)).toMatchObject({ kind: 'array', driver: 'hdf5', dtype: 'uint8' });
    const text = await cli(['info', SAMPLE]);
    expect(text.out).toMatch(/volumes\/labels\/clefts +uint64 20x100x100, chunks 10x50x50/);
    expect(text.out).toMatch(/annotations\/types +not readable: string/);
  });

  it('shows a dataset\'s resolution and voxel offset from its CREMI attributes', async () => {
    const r = await cli(['info', '--json', `${SAMPLE}|hdf5:volumes/labels/neuron_ids`]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).spatial).toMatchObject({ resolution: [40, 4, 4], unit: 'nm', offset: [80, 40, 40], voxelOffset: [2, 10, 10] });
    const text = await cli(['info', `${SAMPLE}|hdf5:volumes/labels/neuron_ids`]);
    expect(text.out).toMatch(/placement +resolution 40x4x4 nm, offset 80,40,40 nm, voxel offset 2,10,10/);
  });

  it('a missing dataset is a one-line error naming it', async () => {
    const r = await cli(['info', `${SAMPLE}|hdf5:volumes/nope`]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/volumes\/nope/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});
