/**
 * Reading an HDF5 dataset is bounded in memory: a child process reads the whole 512 MiB
 * big-gzip.h5 dataset (1024 gzip chunks of 512 KiB) slab by slab into one reused 32 MiB buffer,
 * checks values in every slab, and reports its peak RSS. The file is a copy of the ~0.6 MB
 * fixture grown to 1.5 GiB with a sparse tail (HDF5 accepts bytes past its end of data), so
 * a reader that loaded the file whole would also blow the bound. The peak must stay within
 * 160 MiB of the RSS the child had before opening it (library already loaded). (A memory bound, not a timing one.)
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { h5, h5url } from './hdf5-fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'volstore-hdf5-mem-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BOUND_MIB = 160;

describe('hdf5: bounded memory', () => {
  it(`reads a 512 MiB dataset with peak RSS growth under ${BOUND_MIB} MiB`, () => {
    const file = path.join(tmp, 'big-padded.h5');
    copyFileSync(h5('big-gzip.h5'), file);
    truncateSync(file, 1.5 * 2 ** 30);
    const child = path.join(tmp, 'child.mts');
    const index = pathToFileURL(path.join(ROOT, 'src/index.ts')).href;
    writeFileSync(
      child,
      `import { open, NdArray } from ${JSON.stringify(index)};
// Load the library on a small file first; the baseline is taken before the big file is opened.
await (await open(${JSON.stringify(h5url('userblock.h5', 'data'))})).read();
const base = process.memoryUsage().rss;
const vol = await open(${JSON.stringify(`file://${file}|hdf5:data`)});
const [Z, Y, X] = vol.shape;
const slab = 32;
const out = NdArray.zeros('uint8', [slab, Y, X]);
let checked = 0, bad = 0;
for (let z = 0; z < Z; z += slab) {
  await vol.slice([[z, z + slab], null, null]).read({ out });
  const d = out.data;
  for (let zz = 0; zz < slab; zz += 5) for (let y = 0; y < Y; y += 61) for (let x = 0; x < X; x += 67) {
    const want = (Math.floor((z + zz) / 32) * 7 + Math.floor(y / 128) * 3 + Math.floor(x / 128)) % 251;
    checked++;
    if (d[(zz * Y + y) * X + x] !== want) bad++;
  }
}
const peak = process.resourceUsage().maxRSS * 1024;
process.stdout.write(JSON.stringify({ bytes: Z * Y * X, base, peak, checked, bad }) + '\\n');
`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', child], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { bytes: number; base: number; peak: number; checked: number; bad: number };
    expect(m.bytes).toBe(512 * 2 ** 20);
    expect(m.checked).toBeGreaterThan(10_000);
    expect(m.bad).toBe(0);
    const growthMiB = (m.peak - m.base) / 2 ** 20;
    expect(growthMiB, `peak RSS grew by ${growthMiB.toFixed(0)} MiB while reading 512 MiB`).toBeLessThan(BOUND_MIB);
  });
});
