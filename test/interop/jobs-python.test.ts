/**
 * A pyramid written by `volstore downsample --levels 3 -d n5`, split into three tasks, read by
 * Debian's python3-zarr (zarr 2.13 `zarr.N5Store`): the scale groups open, carry their
 * cumulative `downsamplingFactors`, and every level equals numpy's 2x2x2 mean of the level
 * before (`np.round`: half to even, as volstore rounds).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../cli/helpers.js';
import { makeSource } from '../jobs/helpers.js';

const PY = '/usr/bin/python3';
const dir = mkdtempSync(path.join(tmpdir(), 'volstore-jobs-python-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('N5 pyramid, python zarr reads it', () => {
  it('three tasks write s0..s2; zarr.N5Store sees the factors and numpy agrees on every mean', async () => {
    const src = path.join(dir, 'src.zarr');
    await makeSource(`file://${src}/`, [32, 48, 64], [8, 8, 8]);
    const dst = path.join(dir, 'pyr.n5');
    const args = ['downsample', src, dst, '-d', 'n5', '-f', '2,2,2', '--levels', '3', '--chunk-shape', '8,8,8', '--task-count', '3', '--wait-poll', '0.05', '-q'];
    const results = await Promise.all([0, 1, 2].map((i) => cli([...args, '--task-index', String(i)])));
    for (const r of results) expect(r.code, r.err).toBe(0);
    const script = `
import sys, json, warnings, numpy as np, zarr
warnings.simplefilter('ignore')
g = zarr.open(zarr.N5Store(sys.argv[1]), mode='r')
out = {'root': dict(g.attrs), 'levels': []}
prev = None
for name in ['s0', 's1', 's2']:
    a = g[name][...]
    ok = None
    if prev is not None:
        z, y, x = (s // 2 for s in prev.shape)
        mean = prev.astype('float64').reshape(z, 2, y, 2, x, 2).mean(axis=(1, 3, 5))
        ok = bool((np.round(mean).astype(a.dtype) == a).all())
    out['levels'].append({'name': name, 'shape': list(a.shape), 'factors': g[name].attrs['downsamplingFactors'], 'equalsNumpyMean': ok})
    prev = a
print(json.dumps(out))
`;
    const got = JSON.parse(execFileSync(PY, ['-c', script, dst]).toString()) as { root: Record<string, unknown>; levels: { name: string; shape: number[]; factors: number[]; equalsNumpyMean: boolean | null }[] };
    // (zarr's N5Store hides the "n5" version key of the root attributes.)
    expect(got.root).toMatchObject({ multiScale: true, scales: [[1, 1, 1], [2, 2, 2], [4, 4, 4]], downsamplingMethod: 'mean' });
    // zarr shows N5 dimensions reversed; volstore wrote the source's [32, 48, 64] as N5 dimensions.
    expect(got.levels).toEqual([
      { name: 's0', shape: [64, 48, 32], factors: [1, 1, 1], equalsNumpyMean: null },
      { name: 's1', shape: [32, 24, 16], factors: [2, 2, 2], equalsNumpyMean: true },
      { name: 's2', shape: [16, 12, 8], factors: [4, 4, 4], equalsNumpyMean: true },
    ]);
  });
});
