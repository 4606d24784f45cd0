/**
 * Property tests of the whole write/read path (spec -> driver -> planner -> codecs -> store)
 * against a plain reference: a flat C-order JS array and index arithmetic.
 *
 * Every run creates an array (zarr v3 with random codecs, optional and nested sharding, or
 * zarr v2 with random order / separator / compressor), applies a few writes to random views
 * (intervals, integer indices, strides of either sign, transposes; arrays or scalars, so
 * partial chunks are read-modify-written over existing data), and after each write reads the
 * whole array back (through a freshly opened handle) and one random view, comparing with the
 * reference. Finally it checks that exactly the chunks (shards) not equal to the fill value
 * are stored.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DataType, type Scalar, dtypeSize } from '../../src/array/dtype.js';
import { product } from '../../src/array/ndarray.js';
import { open, type Volume } from '../../src/index.js';
import { fillValueToJson } from '../../src/drivers/common.js';
import type { SelectionTerm } from '../../src/index-space/index.js';
import {
  ALL_DTYPES, firstMismatch, freshName, fromFlat, keysUnder, randomFill, randomValue, rng, same,
} from './helpers.js';

type Term = { k: 'all' } | { k: 'idx'; i: number } | { k: 'iv'; start: number; stop: number; step: number };
interface Region {
  terms: Term[];
  /** Permutation of the kept dims (new dim i = old kept dim perm[i]), or null. */
  perm: number[] | null;
}

/** Random region of an array of `shape`, from a PRNG (fast-check supplies the seed). */
function randomRegion(shape: readonly number[], r: () => number): Region {
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const terms: Term[] = shape.map((n) => {
    const p = r();
    if (p < 0.25) return { k: 'all' };
    if (p < 0.4) return { k: 'idx', i: int(0, n - 1) };
    if (p < 0.75) {
      const start = int(0, n);
      return { k: 'iv', start, stop: int(start, n), step: 1 };
    }
    const step = (r() < 0.5 ? -1 : 1) * int(1, 4);
    if (step > 0) {
      const start = int(0, n);
      return { k: 'iv', start, stop: int(start, n), step };
    }
    const start = int(0, n - 1);
    return { k: 'iv', start, stop: int(-1, start), step };
  });
  const kept = terms.filter((t) => t.k !== 'idx').length;
  let perm: number[] | null = null;
  if (kept > 1 && r() < 0.4) {
    perm = [...Array(kept).keys()];
    for (let i = perm.length - 1; i > 0; i--) {
      const j = int(0, i);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
  }
  return { terms, perm };
}

function applyRegion(v: Volume, reg: Region): Volume {
  let out = v.slice(reg.terms.map((t): SelectionTerm => (t.k === 'all' ? null : t.k === 'idx' ? t.i : [t.start, t.stop, t.step] as const)));
  if (reg.perm) out = out.transpose(reg.perm);
  return out;
}

/** Per view dim, the array coordinates it visits (in order), plus the fixed coordinates. */
function regionCoords(shape: readonly number[], reg: Region): { dims: number[]; coords: number[][]; fixed: (number | undefined)[] } {
  const dims: number[] = [];
  const coords: number[][] = [];
  const fixed: (number | undefined)[] = shape.map(() => undefined);
  reg.terms.forEach((t, d) => {
    if (t.k === 'idx') {
      fixed[d] = t.i;
      return;
    }
    const list: number[] = [];
    if (t.k === 'all') for (let i = 0; i < shape[d]!; i++) list.push(i);
    else if (t.step > 0) for (let i = t.start; i < t.stop; i += t.step) list.push(i);
    else for (let i = t.start; i > t.stop; i += t.step) list.push(i);
    dims.push(d);
    coords.push(list);
  });
  if (reg.perm) return { dims: reg.perm.map((p) => dims[p]!), coords: reg.perm.map((p) => coords[p]!), fixed };
  return { dims, coords, fixed };
}

/** Flat reference offsets of the view's elements, in the view's C order. */
function viewOffsets(shape: readonly number[], reg: Region): { viewShape: number[]; offsets: number[] } {
  const { dims, coords, fixed } = regionCoords(shape, reg);
  const strides: number[] = [];
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  let base = 0;
  fixed.forEach((f, d) => {
    if (f !== undefined) base += f * strides[d]!;
  });
  const viewShape = coords.map((c) => c.length);
  const offsets: number[] = [];
  const rec = (i: number, off: number) => {
    if (i === dims.length) {
      offsets.push(off);
      return;
    }
    for (const c of coords[i]!) rec(i + 1, off + c * strides[dims[i]!]!);
  };
  if (product(viewShape) > 0) rec(0, base);
  return { viewShape, offsets };
}

interface Case {
  dtype: DataType;
  shape: number[];
  chunk: number[];
  /** zarr3 only: shard grid and an optional middle level (nested sharding). */
  shard?: number[];
  mid?: number[];
  indexLocation: 'start' | 'end';
  indexCrc: boolean;
  format: 'zarr3' | 'zarr2';
  transpose: number[] | null;
  endian: 'little' | 'big';
  compressors: ('gzip' | 'zstd' | 'crc32c')[];
  v2: { order: 'C' | 'F'; sep: '.' | '/'; compressor: 'zlib' | 'zstd' | null };
  seed: number;
  ops: number;
}

const MAX_DIM = [20, 20, 12, 7];

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    dtype: fc.constantFrom(...ALL_DTYPES),
    rank: fc.integer({ min: 1, max: 4 }),
    format: fc.constantFrom('zarr3' as const, 'zarr3' as const, 'zarr2' as const),
    seed: fc.integer(),
    ops: fc.integer({ min: 1, max: 3 }),
  })
  .chain(({ dtype, rank, format, seed, ops }) =>
    fc
      .record({
        shape: fc.array(fc.integer({ min: 1, max: MAX_DIM[rank - 1]! }), { minLength: rank, maxLength: rank }),
        chunkFrac: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: rank, maxLength: rank }),
        shardMul: fc.option(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: rank, maxLength: rank }), { nil: undefined }),
        midMul: fc.option(fc.array(fc.integer({ min: 1, max: 2 }), { minLength: rank, maxLength: rank }), { nil: undefined }),
        indexLocation: fc.constantFrom('start' as const, 'end' as const),
        indexCrc: fc.boolean(),
        transpose: fc.option(fc.shuffledSubarray([...Array(rank).keys()], { minLength: rank, maxLength: rank }), { nil: null }),
        endian: fc.constantFrom('little' as const, 'big' as const),
        compressors: fc.subarray(['gzip', 'zstd', 'crc32c'] as ('gzip' | 'zstd' | 'crc32c')[]),
        v2: fc.record({
          order: fc.constantFrom('C' as const, 'F' as const),
          sep: fc.constantFrom('.' as const, '/' as const),
          compressor: fc.constantFrom('zlib' as const, 'zstd' as const, null),
        }),
      })
      .map(({ shape, chunkFrac, shardMul, midMul, ...rest }): Case => {
        // Chunks of 1..dim+2 elements, biased small so arrays span several chunks.
        const chunk = shape.map((n, i) => 1 + Math.floor(chunkFrac[i]! ** 1.5 * (n + 2)));
        const c: Case = { dtype, format, seed, ops, shape, chunk, ...rest };
        if (format === 'zarr3' && shardMul) {
          if (midMul && shardMul.some((m) => m > 1)) {
            c.mid = chunk.map((x, i) => x * midMul[i]!);
            c.shard = c.mid.map((x, i) => x * shardMul[i]!);
          } else {
            c.shard = chunk.map((x, i) => x * shardMul[i]!);
          }
        }
        return c;
      }),
  );

function innerCodecs(c: Case): unknown[] {
  const codecs: unknown[] = [];
  if (c.transpose) codecs.push({ name: 'transpose', configuration: { order: c.transpose } });
  codecs.push({ name: 'bytes', configuration: dtypeSize(c.dtype) > 1 || c.endian === 'big' ? { endian: c.endian } : {} });
  for (const k of c.compressors) {
    if (k === 'gzip') codecs.push({ name: 'gzip', configuration: { level: 1 } });
    else if (k === 'zstd') codecs.push({ name: 'zstd', configuration: { level: 1, checksum: false } });
    else codecs.push({ name: 'crc32c' });
  }
  return codecs;
}

function sharding(chunkShape: number[], codecs: unknown[], c: Case): unknown {
  return {
    name: 'sharding_indexed',
    configuration: {
      chunk_shape: chunkShape,
      codecs,
      index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, ...(c.indexCrc ? [{ name: 'crc32c' }] : [])],
      index_location: c.indexLocation,
    },
  };
}

function specOf(c: Case, name: string, fill: Scalar): Record<string, unknown> {
  if (c.format === 'zarr2') {
    const size = dtypeSize(c.dtype);
    const kind = c.dtype === 'bool' ? 'b' : c.dtype.startsWith('float') ? 'f' : c.dtype.startsWith('uint') ? 'u' : 'i';
    const order = size === 1 ? '|' : c.endian === 'big' ? '>' : '<';
    return {
      driver: 'zarr',
      kvstore: `memory://${name}/`,
      create: true,
      metadata: {
        shape: c.shape,
        chunks: c.chunk,
        dtype: `${order}${kind}${size}`,
        order: c.v2.order,
        dimension_separator: c.v2.sep,
        compressor: c.v2.compressor === null ? null : c.v2.compressor === 'zlib' ? { id: 'zlib', level: 1 } : { id: 'zstd', level: 1 },
        fill_value: fillValueToJson(fill, c.dtype),
      },
    };
  }
  let codecs = innerCodecs(c);
  let gridChunk = c.chunk;
  if (c.shard) {
    if (c.mid) {
      codecs = [sharding(c.mid, [sharding(c.chunk, codecs, c)], c)];
    } else {
      codecs = [sharding(c.chunk, codecs, c)];
    }
    gridChunk = c.shard;
  }
  return {
    driver: 'zarr3',
    kvstore: `memory://${name}/`,
    create: true,
    metadata: {
      shape: c.shape,
      data_type: c.dtype,
      chunk_grid: { name: 'regular', configuration: { chunk_shape: gridChunk } },
      fill_value: fillValueToJson(fill, c.dtype),
      codecs,
    },
  };
}

/** The stored key of each top-level grid cell (chunk or shard) and the reference's offsets in it. */
function storedKeys(c: Case, ref: readonly Scalar[], fill: Scalar): { mustExist: string[]; mustNotExist: string[] } {
  const cell = c.shard ?? c.chunk;
  const grid = c.shape.map((n, i) => Math.ceil(n / cell[i]!));
  const mustExist: string[] = [];
  const mustNotExist: string[] = [];
  const strides: number[] = [];
  let s = 1;
  for (let d = c.shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= c.shape[d]!;
  }
  const pos = grid.map(() => 0);
  for (let k = 0; k < product(grid); k++) {
    // Is every element of this cell equal to the fill value?
    let allFill = true;
    const lo = pos.map((p, i) => p * cell[i]!);
    const hi = lo.map((l, i) => Math.min(l + cell[i]!, c.shape[i]!));
    const idx = [...lo];
    outer: for (;;) {
      const off = idx.reduce((a, x, i) => a + x * strides[i]!, 0);
      if (!same(ref[off]!, fill)) {
        allFill = false;
        break;
      }
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d]! < hi[d]!) continue outer;
        idx[d] = lo[d]!;
      }
      break;
    }
    const key = c.format === 'zarr2' ? pos.join(c.v2.sep) : `c/${pos.join('/')}`;
    (allFill ? mustNotExist : mustExist).push(key);
    for (let d = pos.length - 1; d >= 0; d--) {
      if (++pos[d]! < grid[d]!) break;
      pos[d] = 0;
    }
  }
  return { mustExist, mustNotExist };
}

async function runCase(c: Case): Promise<void> {
  const r = rng(c.seed);
  const fill = randomFill(c.dtype, r);
  const name = freshName('prop');
  const vol = await open(specOf(c, name, fill));
  const n = product(c.shape);
  const ref: Scalar[] = new Array(n).fill(fill);
  const fullRegion: Region = { terms: c.shape.map(() => ({ k: 'all' })), perm: null };
  const ctx = () => JSON.stringify(c);

  for (let op = 0; op < c.ops; op++) {
    const reg = op === 0 && r() < 0.2 ? fullRegion : randomRegion(c.shape, r);
    const { viewShape, offsets } = viewOffsets(c.shape, reg);
    const view = applyRegion(vol, reg);
    expect(view.shape, ctx()).toEqual(viewShape);
    const p = r();
    if (p < 0.15) {
      // A scalar broadcast (sometimes the fill value itself: chunks may become all-fill).
      const v = r() < 0.5 ? fill : randomValue(c.dtype, r);
      await view.write(v);
      for (const o of offsets) ref[o] = v;
    } else {
      // Mostly fill with a few random values, sometimes dense random data.
      const dense = r() < 0.5;
      const flat = offsets.map(() => (dense || r() < 0.2 ? randomValue(c.dtype, r) : fill));
      await view.write(fromFlat(c.dtype, viewShape, flat));
      offsets.forEach((o, i) => (ref[o] = flat[i]!));
    }
    // Whole array through a freshly opened handle (no shared state but the store).
    const reopened = await open({ driver: c.format === 'zarr2' ? 'zarr' : 'zarr3', kvstore: `memory://${name}/` });
    const all = (await reopened.read()).toFlat();
    const bad = firstMismatch(all, ref);
    expect(bad, `after write ${op}: ${bad} in ${ctx()} region ${JSON.stringify(reg)}`).toBeUndefined();
    // A random view.
    const rreg = randomRegion(c.shape, r);
    const rv = viewOffsets(c.shape, rreg);
    const got = await applyRegion(reopened, rreg).read();
    expect(got.shape, ctx()).toEqual(rv.viewShape);
    const badView = firstMismatch(got.toFlat(), rv.offsets.map((o) => ref[o]!));
    expect(badView, `view ${JSON.stringify(rreg)}: ${badView} in ${ctx()}`).toBeUndefined();
  }
  // Chunks (shards) equal to the fill value are not stored; all others are.
  const keys = new Set((await keysUnder(`${name}/`)).filter((k) => k !== 'zarr.json' && k !== '.zarray'));
  const { mustExist, mustNotExist } = storedKeys(c, ref, fill);
  for (const k of mustNotExist) expect(keys.has(k), `all-fill cell "${k}" is stored: ${ctx()}`).toBe(false);
  for (const k of mustExist) expect(keys.has(k), `cell "${k}" is missing: ${ctx()}`).toBe(true);
  expect(keys.size, `unexpected keys ${[...keys]}: ${ctx()}`).toBe(mustExist.length);
}

/** PROP_RUNS_SCALE=20 npx vitest run ... for a longer bug hunt. */
const SCALE = Number(process.env.PROP_RUNS_SCALE ?? 1);

describe('write/read round trips against a flat reference', () => {
  if (process.env.PROP_REPLAY) {
    it('replay', async () => {
      await runCase(JSON.parse(process.env.PROP_REPLAY!) as Case);
    });
  }

  it('zarr v3 and v2, random dtypes, shapes, codecs, shards and regions', async () => {
    await fc.assert(fc.asyncProperty(caseArb, runCase), { numRuns: 100 * SCALE });
  }, 60_000 * SCALE);

  it('zarr v3 sharded (incl. nested, index at start/end) with many partial writes', async () => {
    const sharded = caseArb.filter((c) => c.shard !== undefined).map((c) => ({ ...c, ops: 3 }));
    await fc.assert(fc.asyncProperty(sharded, runCase), { numRuns: 60 * SCALE });
  }, 60_000 * SCALE);

  it('zarr v2, every dtype, order C/F, both separators, zlib/zstd/none', async () => {
    const v2 = caseArb.map((c): Case => ({ ...c, format: 'zarr2', shard: undefined, mid: undefined }));
    await fc.assert(fc.asyncProperty(v2, runCase), { numRuns: 60 * SCALE });
  }, 60_000 * SCALE);
});
