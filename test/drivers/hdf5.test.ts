/**
 * The hdf5 driver on fixtures written by h5py (test/fixtures/hdf5/make_fixtures.py): every
 * dtype and byte order, chunked (gzip, shuffle, lzf, fletcher32, scaleoffset) and contiguous
 * and compact layouts, edge chunks, scalar/1-d/empty datasets, links, dimension labels, the
 * CREMI-style sample with resolution/offset attributes; region reads through transforms and
 * read({out}); generations and reopening of a rewritten file; bytes mode (memory://);
 * format detection; listing; bad input; HDF5 -> sharded zarr3, read back by zarrita.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as zarr from 'zarrita';
import FileSystemStore from '@zarrita/storage/fs';
import type { DataType } from '../../src/array/dtype.js';
import { Context, MemoryStore, MetadataError, NdArray, NotFoundError, ReadOnlyError, SpecError, UnsupportedError, CorruptionError, open } from '../../src/index.js';
import { contiguousChunkShape, hdf5Spatial, listHdf5Datasets, readChunkShape, spatialFromAttributes } from '../../src/drivers/hdf5.js';
import { openFileStore } from '../../src/drivers/hdf5-location.js';
import { GcsStore } from '../../src/kvstore/gcs.js';
import { startEmulator } from '../../src/testing/index.js';
import { bigValue, fixtureValue, h5, h5url, sampleLabel, sampleRaw } from './hdf5-fixtures.js';

/** Whether the optional h5wasm-plugins package (LZF, Blosc, Zstd...) is installed. */
const PLUGINS = (() => {
  try {
    createRequire(import.meta.url).resolve('h5wasm-plugins');
    return true;
  } catch {
    return false;
  }
})();

const tmp = mkdtempSync(path.join(tmpdir(), 'volstore-hdf5-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const DTYPE_SHAPE = [6, 10, 13];
const KINDS: DataType[] = ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float16', 'float32', 'float64', 'bool'];

function flatIndex(shape: readonly number[], idx: readonly number[]): number {
  let f = 0;
  for (let i = 0; i < shape.length; i++) f = f * shape[i]! + idx[i]!;
  return f;
}

/** Every element of `a` (a view of the formula array at `lo`, step `step`) against the formula. */
function expectFormula(a: NdArray, kind: DataType, shape: readonly number[], lo: readonly number[], step: readonly number[] = lo.map(() => 1)): void {
  const bad: string[] = [];
  const idx = a.shape.map(() => 0);
  for (let n = 0; n < a.size; n++) {
    const src = idx.map((v, i) => lo[i]! + v * step[i]!);
    let want = fixtureValue(kind, flatIndex(shape, src));
    if (kind === 'float16' || kind === 'float32' || kind === 'float64') want = Number(want);
    const got = a.get(idx);
    if (got !== want && bad.length < 5) bad.push(`[${src}] got ${got} want ${want}`);
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d]! < a.shape[d]!) break;
      idx[d] = 0;
    }
  }
  expect(bad).toEqual([]);
}

describe('hdf5 driver: reading h5py fixtures', () => {
  for (const kind of KINDS) {
    it(`${kind}: whole dataset and a ragged-edge region (chunked, gzip)`, async () => {
      const vol = await open(h5url('dtypes.h5', kind));
      expect(vol.dtype).toBe(kind);
      expect(vol.shape).toEqual(DTYPE_SHAPE);
      // HDF5 chunks [4, 4, 5]; read grid: whole multiples of them (small chunks are read together)
      expect((vol.driver as { info?: { chunks: unknown } }).info?.chunks).toEqual([4, 4, 5]);
      expect(vol.chunkLayout.readChunk.shape).toEqual([8, 16, 20]);
      expectFormula(await vol.read(), kind, DTYPE_SHAPE, [0, 0, 0]);
      expectFormula(await vol.slice([[3, 6], [2, 9], [4, 13]]).read(), kind, DTYPE_SHAPE, [3, 2, 4]);
    });
  }

  for (const kind of ['uint16', 'float32', 'int64'] as DataType[]) {
    it(`${kind}: contiguous (big-endian where written so), strided region`, async () => {
      const vol = await open({ driver: 'hdf5', kvstore: { driver: 'file', path: h5('dtypes.h5') }, path: `contiguous/${kind}` });
      expect(vol.dtype).toBe(kind);
      expectFormula(await vol.read(), kind, DTYPE_SHAPE, [0, 0, 0]);
      expectFormula(await vol.slice([[1, 6, 2], [0, 10, 3], [12, null, 1]]).read(), kind, DTYPE_SHAPE, [1, 0, 12], [2, 3, 1]);
    });
  }

  const LAYOUTS: [string, DataType, number[] | null, string[]][] = [
    ['contiguous_u16', 'uint16', null, []],
    ['gzip_shuffle_i32', 'int32', [7, 16, 16], ['shuffle', 'deflate']],
    ['fletcher32_f32', 'float32', [10, 10, 10], ['fletcher32']],
    ['scaleoffset_i16', 'int16', [10, 20, 25], ['scaleoffset']],
  ];
  for (const [name, kind, chunks, filters] of LAYOUTS) {
    it(`layouts.h5 ${name}: ${filters.join('+') || 'contiguous'}, transposed and strided views`, async () => {
      const vol = await open(h5url('layouts.h5', name));
      const shape = [30, 40, 50];
      expect(vol.dtype).toBe(kind);
      expect((vol.driver as { info?: { chunks: unknown } }).info?.chunks).toEqual(chunks);
      expect(vol.codec.map((c) => (c.configuration as { name: string }).name)).toEqual(filters);
      expectFormula(await vol.read(), kind, shape, [0, 0, 0]);
      expectFormula(await vol.slice([[5, 29, 3], [1, 40, 7], [3, 47, 2]]).read(), kind, shape, [5, 1, 3], [3, 7, 2]);
      // transposed view: element [x, y, z] of the view is [z, y, x] of the array
      const t = await vol.transpose([2, 1, 0]).slice([[10, 12], [0, 3], [20, 22]]).read();
      for (let x = 0; x < 2; x++) for (let y = 0; y < 3; y++) for (let z = 0; z < 2; z++) {
        const want = fixtureValue(kind, flatIndex(shape, [20 + z, y, 10 + x]));
        expect(t.get([x, y, z])).toBe(want);
      }
    });
  }

  it('LZF (h5py\'s own filter): read with the optional h5wasm-plugins, else a typed error naming the package', async () => {
    if (PLUGINS) {
      const vol = await open(h5url('layouts.h5', 'lzf_u8'));
      expectFormula(await vol.read(), 'uint8', [30, 40, 50], [0, 0, 0]);
      return;
    }
    const e = await open(h5url('layouts.h5', 'lzf_u8')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UnsupportedError);
    expect((e as Error).message).toMatch(/layouts\.h5\|hdf5:lzf_u8: .*"lzf" \(id 32000\).*h5wasm-plugins/);
  });

  it('scalar, 1-d, empty, chunks larger than the extent, unwritten chunks, compact layout', async () => {
    const s = await open(h5url('layouts.h5', 'scalar_f64'));
    expect(s.shape).toEqual([]);
    expect((await s.read()).get([])).toBe(3.5);
    const v = await open(h5url('layouts.h5', 'vector_i32'));
    expectFormula(await v.slice([[60, 200]]).read(), 'int32', [1000], [60]);
    const e = await open(h5url('layouts.h5', 'empty_u8'));
    expect(e.shape).toEqual([0, 5]);
    expect((await e.read()).size).toBe(0);
    const b = await open(h5url('layouts.h5', 'big_chunk_u8'));
    expect((b.driver as { info?: { chunks: unknown } }).info?.chunks).toEqual([8, 8]);
    expectFormula(await b.read(), 'uint8', [5, 7], [0, 0]);
    const u = await open(h5url('layouts.h5', 'unwritten_u16'));
    expect(Array.from((await u.read()).data as Uint16Array).every((x) => x === 0)).toBe(true);
    const c = await open(h5url('layouts.h5', 'compact_i16'));
    expectFormula(await c.read(), 'int16', [3, 4], [0, 0]);
  });

  it('soft and hard links open the datasets they point to; dimension labels become dimension names', async () => {
    const soft = await open(h5url('layouts.h5', 'links/soft'));
    expectFormula(await soft.slice([[0, 2], [0, 2], [0, 2]]).read(), 'uint16', [30, 40, 50], [0, 0, 0]);
    const hard = await open(h5url('layouts.h5', 'links/hard'));
    expectFormula(await hard.read(), 'int32', [1000], [0]);
    const lab = await open(h5url('layouts.h5', 'labelled_u8'));
    expect(lab.dimensionNames).toEqual(['z', 'y', 'x']);
    const a = await lab.slice({ y: [1, 3] }).read();
    expect(a.shape).toEqual([4, 2, 6]);
    expectFormula(a, 'uint8', [4, 5, 6], [0, 1, 0]);
  });

  it('read({out}) into a caller-owned strided array', async () => {
    const vol = await open(h5url('layouts.h5', 'gzip_shuffle_i32'));
    const big = NdArray.zeros('int32', [4, 6, 10]);
    // out = a transposed view over `big` (strides not C order)
    const out = new NdArray('int32', big.data, [10, 6, 4], [1, 10, 60]);
    await vol.slice([[3, 13], [5, 11], [20, 24]]).transpose([0, 1, 2]).read({ out });
    for (let i = 0; i < 10; i++) for (let j = 0; j < 6; j++) for (let k = 0; k < 4; k++) {
      expect(out.get([i, j, k])).toBe(fixtureValue('int32', flatIndex([30, 40, 50], [3 + i, 5 + j, 20 + k])));
    }
  });

  it('CREMI-style sample: uint64 labels above 2^53, resolution/offset exposed', async () => {
    const raw = await open(h5url('sample.h5', 'volumes/raw'));
    expect(raw.attributes).toEqual({ resolution: [40, 4, 4] });
    expect(hdf5Spatial(raw.driver)).toEqual({ attributes: ['resolution'], resolution: [40, 4, 4], unit: 'nm', dimensionUnits: [[40, 'nm'], [4, 'nm'], [4, 'nm']] });
    const a = await raw.slice([[7, 12], [30, 70], [90, 100]]).read();
    for (let z = 0; z < 5; z++) for (let y = 0; y < 40; y += 3) for (let x = 0; x < 10; x++) expect(a.get([z, y, x])).toBe(sampleRaw(7 + z, 30 + y, 90 + x));
    const lab = await open({ driver: 'hdf5', kvstore: `file://${h5('sample.h5')}`, path: '/volumes/labels/neuron_ids' });
    expect(lab.dtype).toBe('uint64');
    const sp = hdf5Spatial(lab.driver)!;
    expect(sp.offset).toEqual([80, 40, 40]);
    expect(sp.voxelOffset).toEqual([2, 10, 10]);
    const l = await lab.slice([[17, 20], [95, 100], [0, 100, 9]]).read();
    for (let z = 0; z < 3; z++) for (let y = 0; y < 5; y++) for (let x = 0; x < 12; x++) expect(l.get([z, y, x])).toBe(sampleLabel(17 + z, 95 + y, x * 9));
    expect(sampleLabel(19, 99, 99) > 2n ** 53n).toBe(true);
  });

  it('spec(): driver, file kvstore and dataset path; the spec reopens the same dataset', async () => {
    const vol = await open(h5url('sample.h5', 'volumes/raw'));
    const spec = vol.spec();
    expect(spec).toMatchObject({ driver: 'hdf5', kvstore: { driver: 'file', path: h5('sample.h5') }, path: 'volumes/raw' });
    const again = await open(spec);
    expect((await again.slice([1, 2, 3]).read()).get([])).toBe(sampleRaw(1, 2, 3));
  });

  it('a user block before the superblock (signature at byte 512) opens, also by detection', async () => {
    const vol = await open({ kvstore: `file://${h5('userblock.h5')}`, path: 'data' });
    expect(vol.driver.driverName).toBe('hdf5');
    expectFormula(await vol.read(), 'uint8', [4, 4], [0, 0]);
  });

  it('format detection: no driver named, an HDF5 file behind the kvstore', async () => {
    const vol = await open({ kvstore: `file://${h5('dtypes.h5')}`, path: 'uint64' });
    expect(vol.driver.driverName).toBe('hdf5');
    expectFormula(await vol.slice([[0, 1], [0, 1], [0, 5]]).read(), 'uint64', DTYPE_SHAPE, [0, 0, 0]);
    // a zarr directory is still detected as zarr, not probed as HDF5
    await expect(open(`file://${h5('dtypes.h5')}`)).rejects.toThrow(/name a dataset inside .*dtypes\.h5, e\.g\. "bool"/);
  });
});

describe('hdf5 driver: listing datasets (volstore info)', () => {
  it('lists every dataset with dtype, shape, chunks, filters, attributes and support', async () => {
    const list = await listHdf5Datasets(h5url('sample.h5'));
    expect(list.map((d) => d.path)).toEqual(['annotations/ids', 'annotations/types', 'volumes/labels/clefts', 'volumes/labels/neuron_ids', 'volumes/raw']);
    const raw = list.find((d) => d.path === 'volumes/raw')!;
    expect(raw).toMatchObject({
      url: h5url('sample.h5', 'volumes/raw'),
      dtype: 'uint8',
      hdf5Type: '|u1',
      shape: [20, 100, 100],
      chunks: [5, 32, 32],
      readChunks: [20, 128, 128], // [5, 32, 32] chunks of 5 KiB, read 64 at a time
      attributes: { resolution: [40, 4, 4] },
      supported: true,
    });
    expect(raw.filters).toEqual([{ id: 1, name: 'deflate', cd_values: [4], supported: true }]);
    const types = list.find((d) => d.path === 'annotations/types')!;
    expect(types.supported).toBe(false);
    expect(types.problem).toMatch(/string/);
    const labels = list.find((d) => d.path === 'volumes/labels/neuron_ids')!;
    expect(labels.hdf5Type).toBe('<u8');
    expect(labels.filters.map((f) => f.name)).toEqual(['shuffle', 'deflate']);
    expect(labels.spatial?.voxelOffset).toEqual([2, 10, 10]);
    // a spec works as well as a URL; the dataset path in a URL is ignored
    const again = await listHdf5Datasets({ driver: 'hdf5', kvstore: { driver: 'file', path: h5('sample.h5') }, path: 'volumes/raw' });
    expect(again.length).toBe(5);
  });

  it('small HDF5 chunks are read several at a time: whole multiples up to 1 MiB', () => {
    expect(readChunkShape([1, 64, 64], [64, 512, 512], 1)).toEqual([64, 128, 128]);
    expect(readChunkShape([64, 64, 64], [512, 512, 512], 1)).toEqual([64, 64, 64]); // 256 KiB: as is
    expect(readChunkShape([4, 4, 5], [6, 10, 13], 8)).toEqual([8, 16, 20]); // stops at the extent
    for (const [c, s, n] of [[[1, 64, 64], [64, 512, 512], 1], [[3, 7, 11], [1000, 1000, 1000], 2], [[10], [100000], 8]] as [number[], number[], number][]) {
      const r = readChunkShape(c, s, n);
      expect(r.every((x, i) => x % c[i]! === 0)).toBe(true);
      expect(r.reduce((a, b) => a * b, n)).toBeLessThanOrEqual(1 << 20);
    }
  });

  it('contiguous datasets get a synthetic 1-2 MiB read grid keeping whole rows', () => {
    expect(contiguousChunkShape([125, 1250, 1250], 1)).toEqual([32, 40, 1250]);
    expect(contiguousChunkShape([30, 40, 50], 2)).toEqual([30, 40, 50]);
    expect(contiguousChunkShape([10, 4_000_000], 1)).toEqual([1, 2_000_000]);
    for (const [shape, size] of [[[125, 1250, 1250], 1], [[1000, 1000, 1000], 8], [[7, 3, 1 << 22], 2]] as [number[], number][]) {
      const c = contiguousChunkShape(shape, size);
      const bytes = c.reduce((a, b) => a * b, size);
      expect(bytes).toBeLessThanOrEqual(2 << 20);
      expect(bytes > 1 << 19 || c.every((x, i) => x === shape[i])).toBe(true);
    }
  });

  it('openFileStore: the store whose key "" is the file, for path-based and http kvstores', async () => {
    const ctx = new Context();
    expect((await openFileStore({ driver: 'http', base_url: 'https://example.org/d/sample%20A.h5', path: '' }, ctx)).url).toBe('https://example.org/d/sample A.h5');
    expect((await openFileStore({ driver: 'file', path: '/data/sample_A.hdf' }, ctx)).spec()).toEqual({ driver: 'file', path: '/data/sample_A.hdf' });
    expect((await openFileStore({ driver: 'gcs', bucket: 'b', path: 'em/a.h5' }, ctx)).url).toMatch(/em\/a\.h5$/);
    await expect(openFileStore({ driver: 'file', path: '/data/dir/' }, ctx)).rejects.toBeInstanceOf(SpecError);
    await expect(openFileStore({ driver: 'http', base_url: 'https://example.org/d/', path: '' }, ctx)).rejects.toBeInstanceOf(SpecError);
  });

  it('spatialFromAttributes: CREMI nm, ilastik element_size_um, mismatched rank ignored', () => {
    expect(spatialFromAttributes({ element_size_um: [0.04, 0.004, 0.004] }, 3)).toMatchObject({ unit: 'um', resolution: [0.04, 0.004, 0.004] });
    expect(spatialFromAttributes({ resolution: [4, 4] }, 3)).toBeUndefined();
    const s = spatialFromAttributes({ resolution: [40, 4, 4], offset: [1, 2, 3] }, 3)!;
    expect(s.offset).toEqual([1, 2, 3]);
    expect(s.voxelOffset).toBeUndefined(); // 1/40 is not a whole voxel
  });
});

describe('hdf5 driver: bad input gives typed errors naming the file and the dataset', () => {
  const bad = (name: string): string => h5url('bad.h5', name);

  it('not an HDF5 file', async () => {
    const f = path.join(tmp, 'notes.h5');
    writeFileSync(f, 'just some text, long enough to have bytes at offset 512? no.'.repeat(40));
    const e = await open(`file://${f}|hdf5:data`).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MetadataError);
    expect((e as Error).message).toContain(f);
    expect((e as Error).message).toMatch(/not an HDF5 file/);
    // detection does not claim it either
    await expect(open({ kvstore: `file://${f}`, path: 'data' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a missing file and a missing dataset', async () => {
    await expect(open(`file://${tmp}/nope.h5|hdf5:data`)).rejects.toThrow(NotFoundError);
    for (const p of ['volumes/nope', 'nope/deeper/still', 'volumes/raw/not_a_group']) {
      const e = await open(h5url('sample.h5', p)).catch((x: unknown) => x);
      expect(e, p).toBeInstanceOf(NotFoundError);
      expect((e as Error).message).toContain(`sample.h5|hdf5:${p}`);
    }
    const g = await open(h5url('sample.h5', 'volumes')).catch((x: unknown) => x);
    expect(g).toBeInstanceOf(NotFoundError);
    expect((g as Error).message).toMatch(/is a group, not a dataset/);
  });

  const UNSUPPORTED: [string, RegExp][] = [
    ['fixed_string', /string/],
    ['vlen_string', /variable-length string/],
    ['compound', /compound/],
    ['complex', /compound/],
    ['vlen_int', /variable-length/],
    ['enum', /enum/],
    ['array_dtype', /array/],
    ['null_space', /null dataspace/],
    ['unknown_filter', /filter .*id 40000.*cannot decode/],
  ];
  for (const [name, why] of UNSUPPORTED) {
    it(`${name}: UnsupportedError`, async () => {
      const e = await open(bad(name)).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(UnsupportedError);
      expect((e as Error).message).toContain(`bad.h5|hdf5:${name}`);
      expect((e as Error).message).toMatch(why);
    });
  }

  it('a corrupt compressed chunk: CorruptionError with the region and the library reason, other chunks still read', async () => {
    const vol = await open(bad('corrupt_gzip'));
    const e = await vol.read().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CorruptionError);
    expect((e as Error).message).toMatch(/bad\.h5\|hdf5:corrupt_gzip/);
    expect((e as Error).message).toMatch(/\[512:1024, 0:512\]/);
    expect((e as Error).message).toMatch(/filter|inflate|pipeline/i);
    const ok = await vol.slice([[0, 512], null]).read();
    expect(Array.from(ok.data as Uint8Array).every((x) => x === 7)).toBe(true);
  });

  it('no dataset path, create, writes: typed errors', async () => {
    await expect(open(h5url('bad.h5'))).rejects.toBeInstanceOf(SpecError);
    await expect(open({ driver: 'hdf5', kvstore: `file://${h5('sample.h5')}`, path: 'x', create: true, dtype: 'uint8' })).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(open({ driver: 'hdf5', kvstore: `file://${tmp}/`, path: 'x' })).rejects.toBeInstanceOf(SpecError);
    const vol = await open(h5url('sample.h5', 'volumes/raw'));
    await expect(vol.slice([0, 0, 0]).write(1)).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(open({ driver: 'hdf5', kvstore: `file://${h5('sample.h5')}`, path: 'volumes/raw', dtype: 'uint16' })).rejects.toBeInstanceOf(MetadataError);
  });
});

describe('hdf5 driver: generations and caching', () => {
  it('cached chunks are revalidated by the file generation; a rewritten file is reopened', async () => {
    const f = path.join(tmp, 'changing.h5');
    copyFileSync(h5('dtypes.h5'), f);
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 24 } });
    const vol = await open(`file://${f}|hdf5:uint16`, { context });
    const region = vol.slice([[0, 4], [0, 4], [0, 5]]);
    const first = await region.read();
    expectFormula(first, 'uint16', DTYPE_SHAPE, [0, 0, 0]);
    const hits = context.cachePool.hits;
    await region.read();
    expect(context.cachePool.hits).toBe(hits + 1);
    // Rewrite the file (same bytes, new mtime): a new generation, so the cached chunk is not
    // served; the library reopens the file.
    writeFileSync(f, readFileSync(h5('dtypes.h5')));
    const misses = context.cachePool.misses;
    expectFormula(await region.read(), 'uint16', DTYPE_SHAPE, [0, 0, 0]);
    expect(context.cachePool.misses).toBe(misses + 1);
    // A file whose dataset changed shape under an open volume: a typed error, not wrong data.
    const g = path.join(tmp, 'reshaped.h5');
    copyFileSync(h5('userblock.h5'), g);
    const small = await open(`file://${g}|hdf5:data`);
    expectFormula(await small.read(), 'uint8', [4, 4], [0, 0]);
    copyFileSync(h5('big-gzip.h5'), g); // its "data" is [512, 1024, 1024]
    const e = await small.read().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MetadataError);
    expect((e as Error).message).toMatch(/reshaped\.h5\|hdf5:data.*changed since it was opened/);
    // ...and a dataset that disappeared: NotFoundError.
    copyFileSync(h5('sample.h5'), g);
    await expect(small.read()).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('hdf5 driver: bytes mode (memory://, how browsers read picked or fetched files)', () => {
  it('reads a file placed whole in a memory store', async () => {
    const mem = new MemoryStore('');
    await mem.write('hdf5-bytes/layouts.h5', new Uint8Array(readFileSync(h5('layouts.h5'))));
    const vol = await open('memory://hdf5-bytes/layouts.h5|hdf5:gzip_shuffle_i32');
    expect((vol.driver.store as unknown as { source: { mode: string } }).source.mode).toBe('bytes');
    expectFormula(await vol.slice([[3, 20], [5, 6], [0, 50, 7]]).read(), 'int32', [30, 40, 50], [3, 5, 0], [1, 1, 7]);
    expectFormula(await (await open('memory://hdf5-bytes/layouts.h5|hdf5:scaleoffset_i16')).read(), 'int16', [30, 40, 50], [0, 0, 0]);
    const det = await open({ kvstore: 'memory://hdf5-bytes/layouts.h5', path: 'contiguous_u16' });
    expect(det.driver.driverName).toBe('hdf5');
    const list = await listHdf5Datasets('memory://hdf5-bytes/layouts.h5');
    expect(list.map((d) => d.path)).toContain('links/soft');
    expect(list.length).toBe(14);
  });
});

describe('hdf5 driver: a file on GCS (emulator) is fetched whole once, then read from memory', () => {
  it('gs://.../sample.h5|hdf5:volumes/raw', async () => {
    const emu = await startEmulator({ buckets: ['hdf5-files'] });
    try {
      const bytes = new Uint8Array(readFileSync(h5('sample.h5')));
      const w = await new GcsStore({ bucket: 'hdf5-files', endpoint: emu.url }).write('cremi/sample_A.hdf', bytes);
      expect(w.ok).toBe(true);
      emu.resetCounters();
      const kvstore = { driver: 'gcs', bucket: 'hdf5-files', path: 'cremi/sample_A.hdf', endpoint: emu.url };
      const vol = await open({ driver: 'hdf5', kvstore, path: 'volumes/raw' });
      const fetched = emu.counters().bytesOut;
      expect(fetched).toBeGreaterThanOrEqual(bytes.length); // the whole file, once
      expect(fetched).toBeLessThan(2 * bytes.length);
      const a = await vol.slice([[3, 5], [10, 90, 7], [50, 52]]).read();
      for (let z = 0; z < 2; z++) for (let y = 0; y < 12; y++) for (let x = 0; x < 2; x++) expect(a.get([z, y, x])).toBe(sampleRaw(3 + z, 10 + 7 * y, 50 + x));
      expect(emu.counters().bytesOut).toBe(fetched); // reads come from memory
      const list = await listHdf5Datasets({ kvstore });
      expect(list.map((d) => d.path)).toContain('volumes/labels/neuron_ids');
      await expect(open({ driver: 'hdf5', kvstore: { ...kvstore, path: 'cremi/missing.hdf' }, path: 'volumes/raw' })).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await emu.stop();
    }
  });
});

describe('hdf5 -> sharded zarr3 conversion through the library', () => {
  it('copies shard by shard; every element equal; zarrita reads the result', async () => {
    const src = await open(h5url('sample.h5', 'volumes/labels/neuron_ids'));
    const dstPath = path.join(tmp, 'labels.zarr');
    const shard = [8, 64, 64];
    const dst = await open({
      driver: 'zarr3',
      kvstore: `file://${dstPath}/`,
      create: true,
      metadata: {
        shape: src.shape,
        data_type: 'uint64',
        chunk_grid: { name: 'regular', configuration: { chunk_shape: shard } },
        codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [4, 32, 32], codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'gzip', configuration: { level: 1 } }], index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }] } }],
        attributes: { resolution: hdf5Spatial(src.driver)?.resolution },
      },
    });
    const shape = src.shape;
    for (let z = 0; z < shape[0]!; z += shard[0]!) for (let y = 0; y < shape[1]!; y += shard[1]!) for (let x = 0; x < shape[2]!; x += shard[2]!) {
      const sel: [number, number][] = [[z, Math.min(z + shard[0]!, shape[0]!)], [y, Math.min(y + shard[1]!, shape[1]!)], [x, Math.min(x + shard[2]!, shape[2]!)]];
      await dst.slice(sel).write(await src.slice(sel).read());
    }
    const ours = await (await open(`file://${dstPath}/`)).read();
    const theirs = await src.read();
    expect(Buffer.from(ours.data.buffer).equals(Buffer.from(theirs.data.buffer))).toBe(true);
    const arr = await zarr.open(new FileSystemStore(dstPath), { kind: 'array' });
    const got = await zarr.get(arr);
    expect(got.shape).toEqual(shape);
    const data = got.data as BigUint64Array;
    let bad = 0;
    for (let z = 0; z < 20; z++) for (let y = 0; y < 100; y++) for (let x = 0; x < 100; x++) if (data[(z * 100 + y) * 100 + x] !== sampleLabel(z, y, x)) bad++;
    expect(bad).toBe(0);
    expect(arr.attrs).toMatchObject({ resolution: [40, 4, 4] });
  });
});

describe('hdf5: big-gzip fixture sanity (the memory test reads it in a child)', () => {
  it('512 MiB dataset: a few regions read correctly', async () => {
    const vol = await open(h5url('big-gzip.h5', 'data'));
    expect(vol.shape).toEqual([512, 1024, 1024]);
    const a = await vol.slice([[31, 33], [127, 129], [1000, 1024]]).read();
    for (let z = 0; z < 2; z++) for (let y = 0; y < 2; y++) for (let x = 0; x < 24; x++) expect(a.get([z, y, x])).toBe(bigValue(31 + z, 127 + y, 1000 + x));
  });
});
