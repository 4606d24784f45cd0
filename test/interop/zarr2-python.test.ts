/**
 * zarr v2 interop with zarr-python (Debian's /usr/bin/python3: zarr 2.13 + numcodecs + numpy),
 * both directions, through a temp directory. Expected values travel as raw little-endian
 * C-order bytes (`<name>.bin`), so the comparison is bit-exact (NaN, -0, 64-bit extremes).
 *
 * python -> volstore: python writes ~160 arrays (dtypes int8..uint64, float16/32/64, bool, both
 * byte orders, order C/F, separators '.' and '/', compressors zlib/gzip/bz2/blosc(4 cnames,
 * every shuffle)/lz4/zstd/none, filters delta/shuffle, fill values incl. NaN, a missing chunk
 * row); volstore reads each and compares bytes.
 * volstore -> python: volstore writes the same variety (plus a partial overwrite), python reads
 * with zarr, compares bytes, fill_value, order and separator, and exits non-zero listing every
 * mismatch.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type DataType, type Scalar, bytesOf, dtypeSize, isBigIntDtype } from '../../src/array/dtype.js';
import { toCOrder } from '../../src/array/ndarray.js';
import { fillValueToJson } from '../../src/drivers/common.js';
import { open } from '../../src/index.js';
import { fromFlat, randomValue, rng } from '../core/helpers.js';

const PYTHON = '/usr/bin/python3';
const ROOT = mkdtempSync(path.join(tmpdir(), 'volstore-zarr2py-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

const PY_WRITE = String.raw`
import sys, json, os
import numpy as np, zarr
from numcodecs import Blosc, Zlib, GZip, BZ2, LZ4, Zstd, Delta, Shuffle
out = sys.argv[1]
dtypes = ['|i1', '<i2', '<i4', '<i8', '|u1', '<u2', '<u4', '<u8', '<f2', '<f4', '<f8', '|b1', '>i2', '>u4', '>f8', '>i8']
compressors = [None, Zlib(level=1), GZip(level=5), BZ2(level=9), LZ4(acceleration=1), Zstd(level=3),
  Blosc(cname='lz4', clevel=5, shuffle=Blosc.SHUFFLE), Blosc(cname='zstd', clevel=3, shuffle=Blosc.BITSHUFFLE),
  Blosc(cname='blosclz', clevel=9, shuffle=Blosc.NOSHUFFLE), Blosc(cname='zlib', clevel=1, shuffle=Blosc.AUTOSHUFFLE)]
shapes = [([7, 11], [3, 4]), ([5, 6, 7], [2, 6, 3]), ([23], [5])]
manifest = []
for i, dt in enumerate(dtypes):
  for j, comp in enumerate(compressors):
    k = i + j
    name = 'a%d_%d' % (i, j)
    shape, chunks = shapes[k % 3]
    dtype = np.dtype(dt)
    rng = np.random.default_rng(1000 * i + j)
    n = int(np.prod(shape))
    if dtype.kind == 'b':
      data = rng.random(n) < 0.5
      fill = bool(k % 2)
    elif dtype.kind in 'iu':
      info = np.iinfo(dtype)
      data = rng.integers(info.min, info.max, size=n, endpoint=True, dtype=dtype.newbyteorder('='))
      data[0] = info.min; data[1] = info.max
      fill = [0, 7, int(info.max)][k % 3]
    else:
      data = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, size=n)).astype(dtype.newbyteorder('='))
      data[0] = np.nan; data[1] = np.inf; data[2] = -np.inf; data[3] = -0.0
      fill = [0.0, float('nan'), -1.5][k % 3]
    data = data.reshape(shape)
    filters = None
    if k % 5 == 0 and dtype.kind in 'iu':
      filters = [Delta(dtype=dt)]
    elif k % 5 == 1:
      filters = [Shuffle(elementsize=dtype.itemsize)]
    order = 'CF'[k % 2]
    sep = './'[(i // 2 + j) % 2]
    z = zarr.open_array(os.path.join(out, name), mode='w', shape=shape, chunks=chunks, dtype=dt, compressor=comp,
                        filters=filters, order=order, fill_value=fill, dimension_separator=sep)
    # leave the first chunk row unwritten: those chunks are missing and read as the fill value
    expected = np.full(shape, fill, dtype=dtype)
    expected[chunks[0]:] = data[chunks[0]:]
    z[chunks[0]:] = data[chunks[0]:]
    with open(os.path.join(out, name + '.bin'), 'wb') as f:
      f.write(np.ascontiguousarray(expected.astype(dtype.newbyteorder('<'))).tobytes())
    manifest.append({'name': name, 'dtype': dt, 'shape': shape, 'order': order, 'sep': sep,
                     'compressor': None if comp is None else comp.get_config(), 'filters': None if filters is None else [f.get_config() for f in filters]})
json.dump(manifest, open(os.path.join(out, 'manifest.json'), 'w'))
print(len(manifest))
`;

const PY_VERIFY = String.raw`
import sys, json, os, math
import numpy as np, zarr
root = sys.argv[1]
failures = []
manifest = json.load(open(os.path.join(root, 'manifest.json')))
for m in manifest:
  name = m['name']
  try:
    z = zarr.open_array(os.path.join(root, name), mode='r')
    got = z[...]
    dtype = np.dtype(m['dtype'])
    if z.dtype != dtype: failures.append('%s: dtype %s != %s' % (name, z.dtype, dtype)); continue
    if list(z.shape) != m['shape']: failures.append('%s: shape %s' % (name, z.shape)); continue
    if z.order != m['order']: failures.append('%s: order %s != %s' % (name, z.order, m['order']))
    if z._dimension_separator != m['sep']: failures.append('%s: separator %s != %s' % (name, z._dimension_separator, m['sep']))
    fv, want_fv = z.fill_value, m['fill']
    if want_fv == 'NaN': same_fv = math.isnan(fv)
    elif isinstance(want_fv, str): same_fv = int(fv) == int(want_fv) and type(fv) is not float  # exact 64-bit integer
    else: same_fv = fv == want_fv
    if not same_fv: failures.append('%s: fill_value %r != %r' % (name, fv, want_fv))
    want = open(os.path.join(root, name + '.bin'), 'rb').read()
    have = np.ascontiguousarray(got.astype(dtype.newbyteorder('<'))).tobytes()
    if have != want:
      a = np.frombuffer(have, dtype=dtype.newbyteorder('<')); b = np.frombuffer(want, dtype=dtype.newbyteorder('<'))
      idx = [i for i in range(len(a)) if a[i:i+1].tobytes() != b[i:i+1].tobytes()][:3]
      failures.append('%s: values differ at %s: python %s, volstore wrote %s' % (name, idx, [a[i] for i in idx], [b[i] for i in idx]))
  except Exception as e:
    failures.append('%s: %s: %s' % (name, type(e).__name__, e))
print(json.dumps(failures, indent=1))
sys.exit(1 if failures else 0)
`;

function py(script: string, ...args: string[]): string {
  const file = path.join(ROOT, `script-${Math.random().toString(36).slice(2)}.py`);
  writeFileSync(file, script);
  return execFileSync(PYTHON, [file, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

const TYPESTR_TO_DTYPE: Record<string, DataType> = {
  i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64', u1: 'uint8', u2: 'uint16', u4: 'uint32', u8: 'uint64',
  f2: 'float16', f4: 'float32', f8: 'float64', b1: 'bool',
};

/** First differing element of two little-endian byte buffers of `dtype`. */
function firstDiff(a: Uint8Array, b: Uint8Array, size: number): string | undefined {
  if (a.length !== b.length) return `byte length ${a.length} != ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      const e = Math.floor(i / size);
      const hex = (x: Uint8Array) => Buffer.from(x.subarray(e * size, e * size + size)).toString('hex');
      return `element ${e}: volstore ${hex(a)}, python ${hex(b)} (LE hex)`;
    }
  }
  return undefined;
}

describe.skipIf(!existsSync(PYTHON))('zarr v2: python writes, volstore reads', () => {
  it('every dtype / order / separator / compressor / filter / fill value', async () => {
    const dir = path.join(ROOT, 'from-python');
    mkdirSync(dir);
    const count = Number(py(PY_WRITE, dir).trim());
    expect(count).toBe(160);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { name: string; dtype: string; shape: number[]; compressor: unknown; filters: unknown; order: string; sep: string }[];
    const failures: string[] = [];
    for (const m of manifest) {
      const what = `${m.name} ${m.dtype} order=${m.order} sep=${m.sep} compressor=${JSON.stringify(m.compressor)} filters=${JSON.stringify(m.filters)}`;
      try {
        const vol = await open(`file://${dir}/${m.name}/`);
        const dtype = TYPESTR_TO_DTYPE[m.dtype.slice(1)]!;
        expect(vol.dtype).toBe(dtype);
        expect(vol.shape).toEqual(m.shape);
        const got = bytesOf(toCOrder(await vol.read()).data);
        const want = new Uint8Array(readFileSync(path.join(dir, `${m.name}.bin`)));
        const d = firstDiff(got, want, dtypeSize(dtype));
        if (d) failures.push(`${what}: ${d}`);
      } catch (e) {
        failures.push(`${what}: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

interface WriteCase {
  name: string;
  typestr: string;
  dtype: DataType;
  shape: number[];
  chunks: number[];
  order: 'C' | 'F';
  sep: '.' | '/';
  compressor: Record<string, unknown> | null;
  filters: Record<string, unknown>[] | null;
  fill: Scalar;
}

const TS_TYPESTRS = ['|i1', '<i2', '<i4', '<i8', '|u1', '<u2', '<u4', '<u8', '<f2', '<f4', '<f8', '|b1', '>i2', '>u4', '>f8', '>i8'];
const TS_COMPRESSORS: (Record<string, unknown> | null)[] = [
  null, { id: 'zlib', level: 1 }, { id: 'gzip', level: 5 }, { id: 'bz2', level: 9 }, { id: 'lz4', acceleration: 1 }, { id: 'zstd', level: 3 },
  { id: 'blosc', cname: 'lz4', clevel: 5, shuffle: 1, blocksize: 0 }, { id: 'blosc', cname: 'zstd', clevel: 3, shuffle: 2, blocksize: 0 },
  { id: 'blosc', cname: 'blosclz', clevel: 9, shuffle: 0, blocksize: 0 }, { id: 'blosc', cname: 'zlib', clevel: 1, shuffle: -1, blocksize: 0 },
];
const SHAPES: [number[], number[]][] = [[[7, 11], [3, 4]], [[5, 6, 7], [2, 6, 3]], [[23], [5]]];

function writeCases(): WriteCase[] {
  const cases: WriteCase[] = [];
  TS_TYPESTRS.forEach((typestr, i) => {
    TS_COMPRESSORS.forEach((compressor, j) => {
      const k = i + j;
      const dtype = TYPESTR_TO_DTYPE[typestr.slice(1)]!;
      const [shape, chunks] = SHAPES[k % 3]!;
      const int = !dtype.startsWith('float') && dtype !== 'bool';
      let filters: Record<string, unknown>[] | null = null;
      if (k % 5 === 0 && int) filters = [{ id: 'delta', dtype: typestr }];
      else if (k % 5 === 1) filters = [{ id: 'shuffle', elementsize: dtypeSize(dtype) }];
      let fill: Scalar;
      if (dtype === 'bool') fill = k % 2 === 1;
      else if (int) {
        // 0, 7, or the dtype's maximum (2^63-1 / 2^64-1 need an exact JSON number).
        const bits = dtypeSize(dtype) * 8;
        const max = dtype.startsWith('uint') ? 2n ** BigInt(bits) - 1n : 2n ** BigInt(bits - 1) - 1n;
        fill = [0n, 7n, max][k % 3]!;
        if (!isBigIntDtype(dtype)) fill = Number(fill);
      } else fill = [0, NaN, -1.5][k % 3]!;
      cases.push({ name: `w${i}_${j}`, typestr, dtype, shape: shape!, chunks: chunks!, order: k % 2 ? 'F' : 'C', sep: (Math.floor(i / 2) + j) % 2 ? '/' : '.', compressor, filters, fill });
    });
  });
  return cases;
}

describe.skipIf(!existsSync(PYTHON))('zarr v2: volstore writes, python reads', () => {
  it('every dtype / order / separator / compressor / filter / fill value', async () => {
    const dir = path.join(ROOT, 'from-volstore');
    mkdirSync(dir);
    const manifest: unknown[] = [];
    const failures: string[] = [];
    let seed = 1;
    for (const c of writeCases()) {
      const what = `${c.name} ${c.typestr} compressor=${JSON.stringify(c.compressor)} filters=${JSON.stringify(c.filters)}`;
      try {
        const vol = await open({
          driver: 'zarr', kvstore: `file://${dir}/${c.name}/`, create: true,
          metadata: { shape: c.shape, chunks: c.chunks, dtype: c.typestr, order: c.order, dimension_separator: c.sep, compressor: c.compressor, filters: c.filters, fill_value: fillValueToJson(c.fill, c.dtype) },
        });
        const r = rng(seed++);
        const n = c.shape.reduce((a, b) => a * b, 1);
        const rowLen = n / c.shape[0]!;
        // the first chunk row stays fill (missing chunks); then a partial overwrite of row 3.
        const flat: Scalar[] = Array.from({ length: n }, (_, e) => (e < c.chunks[0]! * rowLen ? c.fill : randomValue(c.dtype, r)));
        await vol.write(fromFlat(c.dtype, c.shape, flat));
        const row = vol.slice([3]);
        const rowVals = Array.from({ length: rowLen }, () => randomValue(c.dtype, r));
        await row.write(fromFlat(c.dtype, row.shape, rowVals));
        rowVals.forEach((v, e) => (flat[3 * rowLen + e] = v));
        writeFileSync(path.join(dir, `${c.name}.bin`), bytesOf(fromFlat(c.dtype, c.shape, flat).data));
        manifest.push({ name: c.name, dtype: c.typestr, shape: c.shape, order: c.order, sep: c.sep, fill: typeof c.fill === 'bigint' ? c.fill.toString() : fillValueToJson(c.fill, c.dtype) });
      } catch (e) {
        failures.push(`${what}: volstore write failed: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
    expect(manifest.length + failures.length).toBe(160);
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    let pyOut = '[]';
    try {
      pyOut = py(PY_VERIFY, dir);
    } catch (e) {
      pyOut = String((e as { stdout?: string }).stdout ?? e);
    }
    expect([...failures, ...(JSON.parse(pyOut) as string[])]).toEqual([]);
  });
});
