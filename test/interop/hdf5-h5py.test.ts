/**
 * hdf5 driver against live h5py (Debian's /usr/bin/python3 with python3-h5py), through a temp
 * directory:
 * - h5py writes ~60 random datasets (dtypes int8..uint64, float16/32/64, bool, both byte orders;
 *   rank 0-4; contiguous or chunked with random chunk shapes; gzip levels, shuffle, fletcher32,
 *   lossless scaleoffset; random data incl. NaN and 64-bit extremes); volstore reads random
 *   (strided) regions of each, h5py reads the same regions, and the bytes must be identical.
 * - A 2 GiB contiguous dataset in a sparse file (h5py allocates it early and writes three
 *   planes): a child process reads those planes and a cross-plane region in place, with peak RSS
 *   growth far below the dataset and the file size.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesOf, dtypeSize } from '../../src/array/dtype.js';
import { toCOrder } from '../../src/array/ndarray.js';
import { open } from '../../src/index.js';
import { rng } from '../core/helpers.js';

const PYTHON = '/usr/bin/python3';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DIR = mkdtempSync(path.join(tmpdir(), 'volstore-hdf5py-'));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

const PY_WRITE = String.raw`
import sys, json
import numpy as np, h5py
out = sys.argv[1]
r = np.random.default_rng(20261130)
types = ['|i1', '<i2', '>i2', '<i4', '>i4', '<i8', '>i8', '|u1', '<u2', '>u2', '<u4', '<u8', '>u8', '<f2', '>f2', '<f4', '>f4', '<f8', '>f8', '|b1']
names = {'|i1': 'int8', 'i2': 'int16', 'i4': 'int32', 'i8': 'int64', '|u1': 'uint8', 'u2': 'uint16', 'u4': 'uint32', 'u8': 'uint64', 'f2': 'float16', 'f4': 'float32', 'f8': 'float64', '|b1': 'bool'}
manifest = []
with h5py.File(out, 'w') as f:
    for n in range(60):
        t = types[n % len(types)]
        dt = np.dtype(t)
        rank = int(r.integers(0, 5))
        shape = tuple(int(r.integers(1, 40 if rank < 3 else 17)) for _ in range(rank))
        if dt.kind == 'b':
            data = r.integers(0, 2, size=shape).astype(bool)
        elif dt.kind in 'iu':
            info = np.iinfo(dt)
            data = r.integers(info.min, info.max, size=shape, dtype=dt.newbyteorder('=') if dt.itemsize > 1 else dt, endpoint=True).astype(dt)
        else:
            data = (r.standard_normal(size=shape) * 1000).astype(dt)
            if data.size > 2:
                data.flat[0] = np.nan
                data.flat[1] = -0.0
        kw = {}
        layout = 'contiguous'
        if rank > 0 and r.random() < 0.75:
            kw['chunks'] = tuple(int(r.integers(1, s + 3)) for s in shape)
            layout = 'chunked'
            if r.random() < 0.6: kw['compression'] = 'gzip'; kw['compression_opts'] = int(r.integers(0, 10))
            if r.random() < 0.4: kw['shuffle'] = True
            if r.random() < 0.3: kw['fletcher32'] = True
            if dt.kind in 'iu' and not kw.get('fletcher32') and r.random() < 0.3: kw['scaleoffset'] = 0
            kw['maxshape'] = tuple(None for _ in shape)  # lets chunks exceed the extent
        name = 'g%d/d%02d' % (n % 3, n)
        f.create_dataset(name, data=data, **kw)
        key = t if t in names else t[1:]
        manifest.append({'name': name, 'dtype': names[key], 'shape': list(shape), 'layout': layout, 'filters': sorted(k for k in kw if k not in ('chunks', 'maxshape', 'compression_opts'))})
json.dump(manifest, open(out + '.json', 'w'))
`;

const PY_READ = String.raw`
import sys, json
import numpy as np, h5py
src, regions, outdir = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
with h5py.File(src, 'r') as f:
    for i, reg in enumerate(regions):
        d = f[reg['name']]
        sel = tuple(slice(a, b, s) for a, b, s in reg['sel'])
        a = d[sel] if sel else d[()]
        a = np.ascontiguousarray(np.asarray(a))
        if a.dtype.kind != 'b' and a.dtype.itemsize > 1: a = a.astype(a.dtype.newbyteorder('<'))
        open('%s/%d.bin' % (outdir, i), 'wb').write(a.tobytes())
`;

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  layout: string;
  filters: string[];
}

describe('hdf5 driver vs h5py', () => {
  it('random datasets, random strided regions: bytes identical to h5py reads', async () => {
    const file = path.join(DIR, 'random.h5');
    execFileSync(PYTHON, ['-c', PY_WRITE, file]);
    const manifest = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as Entry[];
    expect(manifest.length).toBe(60);
    expect(new Set(manifest.map((m) => m.layout))).toEqual(new Set(['contiguous', 'chunked']));
    const r = rng(7);
    const regions: { name: string; sel: [number, number, number][] }[] = [];
    for (const m of manifest) {
      for (let k = 0; k < 4; k++) {
        const sel = m.shape.map((s): [number, number, number] => {
          const a = Math.floor(r() * s);
          const b = a + 1 + Math.floor(r() * (s - a));
          return [a, b, 1 + Math.floor(r() * 3)];
        });
        regions.push({ name: m.name, sel });
      }
    }
    const regionsFile = path.join(DIR, 'regions.json');
    writeFileSync(regionsFile, JSON.stringify(regions));
    const outDir = mkdtempSync(path.join(DIR, 'h5py-'));
    execFileSync(PYTHON, ['-c', PY_READ, file, regionsFile, outDir]);
    const volumes = new Map<string, Awaited<ReturnType<typeof open>>>();
    const mismatches: string[] = [];
    for (const [i, reg] of regions.entries()) {
      let vol = volumes.get(reg.name);
      if (!vol) volumes.set(reg.name, (vol = await open(`file://${file}|hdf5:${reg.name}`)));
      const m = manifest.find((e) => e.name === reg.name)!;
      expect(vol.dtype, reg.name).toBe(m.dtype);
      expect(vol.shape, reg.name).toEqual(m.shape);
      const a = toCOrder(await vol.slice(reg.sel.map(([lo, hi, st]) => [lo, hi, st] as [number, number, number])).read());
      const ours = bytesOf(a.data).subarray(0, a.size * dtypeSize(a.dtype));
      const theirs = readFileSync(path.join(outDir, `${i}.bin`));
      if (!Buffer.from(ours.buffer, ours.byteOffset, ours.byteLength).equals(theirs)) {
        mismatches.push(`${reg.name} (${m.dtype} ${m.layout} ${m.filters.join('+')}) ${JSON.stringify(reg.sel)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('a 2 GiB contiguous dataset in a sparse file is read in place (peak RSS growth < 100 MiB)', () => {
    const file = path.join(DIR, 'sparse.h5');
    execFileSync(PYTHON, ['-c', String.raw`
import sys, numpy as np, h5py
with h5py.File(sys.argv[1], 'w') as f:
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    space = h5py.h5s.create_simple((2048, 1024, 1024))
    h5py.h5d.create(f.id, b'em', h5py.h5t.STD_U8LE, space, dcpl=dcpl)
    d = f['em']
    y, x = np.meshgrid(np.arange(1024), np.arange(1024), indexing='ij')
    for z in (0, 777, 2047):
        d[z] = ((y * 3 + x * 5 + z) % 256).astype('u1')
`, file]);
    const index = pathToFileURL(path.join(ROOT, 'src/index.ts')).href;
    const child = path.join(DIR, 'sparse-child.mts');
    writeFileSync(
      child,
      `import { open } from ${JSON.stringify(index)};
await (await open(${JSON.stringify(`file://${path.join(ROOT, 'test/fixtures/hdf5/userblock.h5')}|hdf5:data`)})).read();
const base = process.memoryUsage().rss;
const vol = await open(${JSON.stringify(`file://${file}|hdf5:em`)});
let bad = 0;
for (const z of [0, 777, 2047]) {
  const a = await vol.slice([z, null, null]).read();
  for (let y = 0; y < 1024; y += 13) for (let x = 0; x < 1024; x += 7) if (a.get([y, x]) !== (y * 3 + x * 5 + z) % 256) bad++;
}
const c = await vol.slice([[776, 779], [500, 520], [1000, 1024]]).read();
for (let z = 0; z < 3; z++) for (let y = 0; y < 20; y++) for (let x = 0; x < 24; x++) {
  const want = z === 1 ? ((500 + y) * 3 + (1000 + x) * 5 + 777) % 256 : null;
  if (want !== null && c.get([z, y, x]) !== want) bad++;
}
const peak = process.resourceUsage().maxRSS * 1024;
process.stdout.write(JSON.stringify({ bad, growth: peak - base, chunk: vol.chunkLayout.readChunk.shape }) + '\\n');
`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', child], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { bad: number; growth: number; chunk: number[] };
    expect(m.bad).toBe(0);
    expect(m.chunk).toEqual([32, 64, 1024]);
    expect(m.growth / 2 ** 20, 'peak RSS growth (MiB)').toBeLessThan(100);
  });
});
