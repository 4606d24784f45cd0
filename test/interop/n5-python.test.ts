import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DataType } from '../../src/array/dtype.js';
import { shapePositions } from '../../src/array/grid.js';
import { NdArray } from '../../src/array/ndarray.js';
import type { OpenMode } from '../../src/drivers/driver.js';
import { driver as n5, type N5Driver } from '../../src/drivers/n5.js';
import { FileStore } from '../../src/kvstore/file.js';
import { open } from '../../src/index.js';

/**
 * N5 interop with Debian's python3-zarr (zarr 2.13 `zarr.N5Store`), both directions. zarr
 * exposes N5 arrays with the dimensions reversed (C order): zarr[j, i] is N5 element (i, j).
 */
const PY = '/usr/bin/python3';
const OPEN: OpenMode = { open: true, create: false, deleteExisting: false, assumeMetadata: false };
const CREATE: OpenMode = { open: false, create: true, deleteExisting: false, assumeMetadata: false };
const dir = mkdtempSync(path.join(tmpdir(), 'volstore-n5-interop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const python = (script: string, ...args: string[]): Buffer => execFileSync(PY, ['-c', script, ...args], { maxBuffer: 1 << 28 });

/** Arrays python writes: name, numpy dtype, zarr shape (C order), chunks, numcodecs compressor. */
const PY_ARRAYS: [string, DataType, string, number[], number[], string][] = [
  ['u16_raw', 'uint16', 'uint16', [7, 5], [3, 2], 'None'],
  ['i32_gzip', 'int32', 'int32', [5, 9, 4], [2, 4, 3], 'numcodecs.GZip(5)'],
  ['i8_zlib', 'int8', 'int8', [11, 3], [4, 2], 'numcodecs.Zlib(3)'],
  ['f64_bz2', 'float64', 'float64', [6, 7], [4, 4], 'numcodecs.BZ2(5)'],
  ['u8_xz', 'uint8', 'uint8', [13, 10], [5, 3], 'numcodecs.LZMA(preset=2)'],
  ['u64_blosc', 'uint64', 'uint64', [6, 5, 3], [4, 2, 2], "numcodecs.Blosc(cname='zstd', clevel=3, shuffle=1)"],
  ['f32_zstd', 'float32', 'float32', [9, 4], [4, 3], 'numcodecs.Zstd(level=3)'],
  ['i16_lz4', 'int16', 'int16', [10, 6], [3, 4], 'numcodecs.LZ4()'],
];

const pyValues = (dtype: string): string =>
  dtype.startsWith('float') ? '(np.arange(n) * 1.25 - 7.5)' : dtype === 'uint64' ? '(np.arange(n, dtype="uint64") * np.uint64(0x100000001))' : '(np.arange(n) * 37 - 11)';

describe('python zarr N5Store writes, volstore reads', () => {
  const root = path.join(dir, 'py.n5');
  const script = `
import sys, warnings, numpy as np, zarr, numcodecs
warnings.simplefilter('ignore')
store = zarr.N5Store(sys.argv[1])
g = zarr.group(store=store)
${PY_ARRAYS.map(([name, , np, shape, chunks, comp]) => `
n = ${shape.reduce((a, b) => a * b, 1)}
a = ${pyValues(np)}.astype('${np}').reshape(${JSON.stringify(shape)})
z = g.create_dataset('${name}', shape=${JSON.stringify(shape)}, chunks=${JSON.stringify(chunks)}, dtype='${np}', compressor=${comp})
z[...] = a
z.attrs['note'] = 'from python'`).join('\n')}
`;
  python(script, root);

  for (const [name, dtype, np, shape] of PY_ARRAYS) {
    it(`${name}`, async () => {
      const store = new FileStore(path.join(root, name));
      const d = (await n5.open({ store, spec: { driver: 'n5' }, mode: OPEN, schema: {}, storeFillChunks: false })) as N5Driver;
      expect(d.grid.dtype).toBe(dtype);
      expect(d.grid.shape).toEqual([...shape].reverse());
      expect(d.attributes.note).toBe('from python');
      const want = python(`import sys, numpy as np, zarr\na = zarr.open(zarr.N5Store(sys.argv[1]), mode='r')['${name}'][...]\nsys.stdout.buffer.write(np.ascontiguousarray(a.T).astype(a.dtype.newbyteorder('<')).tobytes(order='F'))`, root);
      // want: N5 order (transpose of zarr), flattened with N5 dim 0 fastest = zarr's C order.
      const got = await readAllF(d);
      expect(Buffer.from(got).equals(want)).toBe(true);
      void np;
    });
  }
});

describe('volstore writes, python zarr N5Store reads', () => {
  // zarr 2.13's N5Store only opens datasets under a root whose attributes.json has "n5": creating
  // the first dataset through open() creates that container root (nothing is written by hand).
  const root = path.join(dir, 'vs.n5');
  const CASES: [string, DataType, number[], number[], Record<string, unknown>][] = [
    ['raw', 'uint16', [5, 7, 3], [2, 3, 2], { type: 'raw' }],
    ['gzip', 'int32', [9, 4], [4, 3], { type: 'gzip', level: 4 }],
    ['zlib', 'uint8', [10, 3], [3, 3], { type: 'gzip', useZlib: true }],
    ['bzip2', 'float32', [6, 6], [4, 5], { type: 'bzip2', blockSize: 9 }],
    ['gzip64', 'int64', [7, 2], [3, 2], { type: 'gzip' }],
    ['blosc', 'uint64', [8, 5], [3, 2], { type: 'blosc', cname: 'lz4', clevel: 5, shuffle: 1, blocksize: 0 }],
    ['zstd', 'float64', [4, 9], [3, 4], { type: 'zstd', level: 5 }],
  ];
  for (const [name, dtype, dims, block, compression] of CASES) {
    it(`${name} ${dtype}`, async () => {
      const vol = await open({
        driver: 'n5', kvstore: { driver: 'file', path: root }, path: name, create: true,
        metadata: { dimensions: dims, blockSize: block, dataType: dtype, compression, extra: [1, 2] },
      });
      const d = vol.driver as N5Driver;
      const store = d.store;
      const value = (i: number): number => (dtype.startsWith('float') ? i * 0.5 - 3 : (i * 13 + 1) % (dtype === 'uint8' ? 256 : 30000));
      // Element at N5 index (i0, i1, ...) = value(F-order flat index).
      const grid = dims.map((s, i) => Math.ceil(s / block[i]!));
      for (const pos of cartesian(grid)) {
        const a = NdArray.zeros(dtype, block);
        for (const idx of cartesian(block)) {
          const g = idx.map((v, k) => pos[k]! * block[k]! + v);
          if (g.some((v, k) => v >= dims[k]!)) continue;
          let flat = 0;
          for (let k = dims.length - 1; k >= 0; k--) flat = flat * dims[k]! + g[k]!;
          a.set(idx, dtype === 'int64' || dtype === 'uint64' ? BigInt(value(flat)) : value(flat));
        }
        await store.write(d.keyOf(pos), await d.encodeChunk(a, pos));
      }
      const out = python(`import sys, numpy as np, zarr\nz = zarr.open(zarr.N5Store(sys.argv[1]), mode='r')['${name}']\nassert list(z.shape) == ${JSON.stringify([...dims].reverse())}, z.shape\nassert z.attrs['extra'] == [1, 2]\na = z[...]\nsys.stdout.buffer.write(np.ascontiguousarray(a).astype('<f8').tobytes())`, root);
      const got = new Float64Array(out.buffer, out.byteOffset, out.length / 8);
      expect(Array.from(got)).toEqual(Array.from({ length: got.length }, (_, i) => value(i)));
    });
  }
});

describe('the N5 container volstore creates', () => {
  it('root attributes.json has the version n5-java writes; python opens the container as a group', () => {
    const root = path.join(dir, 'vs.n5');
    expect(JSON.parse(readFileSync(path.join(root, 'attributes.json'), 'utf8'))).toEqual({ n5: '4.0.0' });
    const out = python(`import sys, zarr\ng = zarr.open_group(zarr.N5Store(sys.argv[1]), mode='r')\nprint(','.join(sorted(g.array_keys())))`, root);
    expect(out.toString().trim().split(',')).toEqual(['bzip2', 'blosc', 'gzip', 'gzip64', 'raw', 'zlib', 'zstd'].sort());
  });

  it('a dataset at the container root: python opens the root itself as the array', async () => {
    const root = path.join(dir, 'root-array.n5');
    const vol = await open({
      driver: 'n5', kvstore: { driver: 'file', path: root }, create: true,
      metadata: { dimensions: [5, 3], blockSize: [2, 2], dataType: 'int16', compression: { type: 'gzip' } },
    });
    const data = NdArray.zeros('int16', [5, 3]);
    (data.data as Int16Array).forEach((_, i, a) => (a[i] = i * 3 - 7));
    await vol.write(data);
    const out = python(`import sys, numpy as np, zarr\na = zarr.open(zarr.N5Store(sys.argv[1]), mode='r')\nassert isinstance(a, zarr.Array), type(a)\nsys.stdout.buffer.write(np.ascontiguousarray(a[...].T).astype('<i2').tobytes())`, root);
    // python's view is the transpose ([3, 5] in C order); .T restores volstore's order.
    expect(Array.from(new Int16Array(out.buffer, out.byteOffset, out.length / 2))).toEqual(Array.from(data.data as Int16Array));
  });
});

it('writing xz is a typed UnsupportedError (the xz codec decodes only)', async () => {
  const store = new FileStore(path.join(dir, 'xz-write'));
  const d = (await n5.open({
    store, spec: { driver: 'n5', metadata: { dimensions: [4], blockSize: [2], dataType: 'uint8', compression: { type: 'xz' } } },
    mode: CREATE, schema: {}, storeFillChunks: false,
  })) as N5Driver;
  await expect(d.encodeChunk(NdArray.zeros('uint8', [2]), [0])).rejects.toMatchObject({ code: 'unsupported' });
});

function cartesian(shape: readonly number[]): number[][] {
  return [...shapePositions(shape)];
}

/** The whole array in N5 F order (dim 0 fastest), little-endian bytes. */
async function readAllF(d: N5Driver): Promise<Uint8Array> {
  const { shape, chunkShape, dtype } = d.grid;
  const out = NdArray.zeros(dtype, [...shape].reverse()); // C order of reversed dims == F order
  const grid = shape.map((s, i) => Math.ceil(s / chunkShape[i]!));
  for (const pos of cartesian(grid)) {
    const r = await d.store.read(d.keyOf(pos));
    if (r.state !== 'value') continue;
    const c = await d.decodeChunk(r.value, pos);
    for (const idx of cartesian(chunkShape)) {
      const g = idx.map((v, k) => pos[k]! * chunkShape[k]! + v);
      if (g.some((v, k) => v >= shape[k]!)) continue;
      out.set([...g].reverse(), c.get(idx));
    }
  }
  const data = out.data;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
