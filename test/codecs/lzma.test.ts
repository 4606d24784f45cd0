/**
 * zarr v2 `lzma` compressor (numcodecs LZMA): read against arrays Debian's python3-numcodecs
 * wrote (test/fixtures/numcodecs/make_lzma.py); unsupported formats and filters are typed errors
 * at open, and writing is UnsupportedError (no maintained xz encoder), losing nothing.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UnsupportedError, open } from '../../src/index.js';
import { fixture } from '../fixture-path.js';

const ROOT = fixture('numcodecs', 'lzma.zarr');
const url = (name: string) => `file://${ROOT}/${name}/`;
const tmp = mkdtempSync(path.join(tmpdir(), 'volstore-lzma-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('zarr v2 lzma compressor', () => {
  it('reads numcodecs LZMA() chunks (xz, CRC64, preset 6)', async () => {
    const v = await open(url('default'));
    expect(v.dtype).toBe('int16');
    expect(v.shape).toEqual([7, 5]);
    expect((await v.read()).toFlat()).toEqual(Array.from({ length: 35 }, (_, i) => i - 17));
  });

  it('reads preset 9 with a CRC32 check, and an explicit LZMA2-only filter chain', async () => {
    const a = await open(url('preset9'));
    expect((await a.read()).toFlat()).toEqual(Array.from({ length: 1000 }, (_, i) => (i * 7) % 256));
    const b = await open(url('lzma2only'));
    const want: number[] = [];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) want.push(i - j / 4);
    expect((await b.read()).toFlat()).toEqual(want);
  });

  it('refuses the delta filter and the legacy .lzma format at open with UnsupportedError naming the field', async () => {
    for (const [name, needle] of [['delta', 'filters'], ['alone', 'FORMAT_ALONE']] as const) {
      const e = await open(url(name)).catch((x: unknown) => x);
      expect(e, name).toBeInstanceOf(UnsupportedError);
      expect((e as Error).message).toContain('.zarray');
      expect((e as Error).message).toContain('compressor');
      expect((e as Error).message).toContain(needle);
    }
  });

  it('writing an lzma array is UnsupportedError and changes nothing', async () => {
    cpSync(path.join(ROOT, 'default'), path.join(tmp, 'default'), { recursive: true });
    const before = readdirSync(path.join(tmp, 'default')).sort();
    const v = await open(`file://${tmp}/default/`);
    await expect(v.slice([[0, 1], [0, 1]]).write(7)).rejects.toBeInstanceOf(UnsupportedError);
    expect(readdirSync(path.join(tmp, 'default')).sort()).toEqual(before);
    expect((await (await open(`file://${tmp}/default/`)).read()).toFlat()[0]).toBe(-17);
  });
});
