import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NdArray, open } from '../../src/index.js';
import { fixture } from '../fixture-path.js';

const FIXTURES = fixture('tensorstore-n5');
const dir = mkdtempSync(path.join(tmpdir(), 'volstore-n5-api-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('n5 through the public API', () => {
  for (const c of ['raw', 'gzip', 'bzip2', 'xz', 'blosc']) {
    it(`open + read the TensorStore golden file (${c})`, async () => {
      const vol = await open({ driver: 'n5', kvstore: { driver: 'file', path: `${path.join(FIXTURES, c)}/` } });
      const a = await vol.read();
      expect(a.shape).toEqual([5, 4]);
      expect(a.toFlat()).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });
  }

  it('create, write a region, reopen and read', async () => {
    const spec = {
      driver: 'n5', kvstore: { driver: 'file', path: `${dir}/a.n5/` },
      metadata: { dimensions: [10, 7], blockSize: [4, 3], dataType: 'int16', compression: { type: 'zstd' } },
    };
    const vol = await open({ ...spec, create: true });
    const src = NdArray.zeros('int16', [10, 7]);
    for (let i = 0; i < 10; i++) for (let j = 0; j < 7; j++) src.set([i, j], i * 100 - j);
    await vol.write(src);
    const again = await open({ driver: 'n5', kvstore: { driver: 'file', path: `${dir}/a.n5/` } });
    expect((await again.read()).toFlat()).toEqual(src.toFlat());
  });
});
