/**
 * Prefix decoding of zstd chunks (CodecContext.neededBytes): a read that places only a chunk's
 * leading planes decodes the chunk only until those are out. Every view must equal the source
 * byte for byte (XY/XZ/YZ, strided, reversed, transposed, first/last planes, edge chunks,
 * uint8/int16/float32), on data written by zarr-python (numcodecs Zstd, fixture), by zarrita
 * (zarr v3, numcodecs.js zstd) and by volstore itself (zarr v3, sharded too); that the prefix
 * path is taken is shown by zstdDecodeCounts (inline) and, in codec workers, by a chunk whose
 * tail is corrupt: its first planes read, its last planes give CorruptionError.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import FileSystemStore from '@zarrita/storage/fs';
import * as zarr from 'zarrita';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataType } from '../../src/array/dtype.js';
import { NdArray, product } from '../../src/array/ndarray.js';
import type { ChunkPlacement } from '../../src/array/place.js';
import { CodecChain } from '../../src/codecs/chain.js';
import type { CodecJSON } from '../../src/codecs/codec.js';
import { configureNativeCodecs, nativeZstd } from '../../src/codecs/native.js';
import { zstdDecodeCounts, zstdDecodeFrames } from '../../src/codecs/zstd.js';
import { Context } from '../../src/context/context.js';
import { registerShardingCodec } from '../../src/sharding/zarr3.js';
import { CorruptionError, open } from '../../src/index.js';
import type { Volume } from '../../src/volume.js';
import { CodecWorkerPool } from '../../src/workers/pool.js';
import { fixture } from '../fixture-path.js';

/** A Context whose arrays use `pool` for their codecs. */
class PoolContext extends Context {
  constructor(private readonly pool: CodecWorkerPool, json: Record<string, unknown> = {}) {
    super(json);
  }

  override get codecPool(): CodecWorkerPool {
    return this.pool;
  }
}

const inline = new CodecWorkerPool({ size: 0 });
const pooled = new CodecWorkerPool({ size: 2, minDecodeBytes: 0, minEncodeBytes: 0, minPlaceBytes: 0 });
const ROOT = mkdtempSync(path.join(tmpdir(), 'volstore-zstd-prefix-'));
const FIXTURE = fixture('numcodecs', 'zstd-prefix.zarr');

beforeAll(async () => {
  expect(await nativeZstd(), 'native zstd (zstd-napi) loads').toBeDefined();
  expect(await pooled.warm()).toBe(true);
});
afterAll(async () => {
  await pooled.close();
  rmSync(ROOT, { recursive: true, force: true });
});

type Sel = number | null | [number, number] | [number, number, number];
interface View {
  name: string;
  sel: Sel[];
  perm?: number[];
}

/** The element indices of one dimension a selection takes (volstore's slice semantics). */
function indices(s: Sel, n: number): number[] | number {
  if (typeof s === 'number') return s;
  if (s === null) return Array.from({ length: n }, (_, i) => i);
  const [a, b, step = 1] = s;
  const out: number[] = [];
  for (let i = a; step > 0 ? i < b : i > b; i += step) out.push(i);
  return out;
}

/** The view of `src` (reference, element by element), flat in C order. */
function expected(src: NdArray, v: View): number[] {
  const idx = v.sel.map((s, k) => indices(s, src.shape[k]!));
  const kept = idx.map((x, k) => (typeof x === 'number' ? -1 : k)).filter((k) => k >= 0);
  const shape = kept.map((k) => (idx[k] as number[]).length);
  const perm = v.perm ?? kept.map((_, i) => i);
  const outShape = perm.map((p) => shape[p]!);
  const out: number[] = [];
  const pos = new Array<number>(outShape.length).fill(0);
  for (let n = 0; n < product(outShape); n++) {
    let r = n;
    for (let d = outShape.length - 1; d >= 0; d--) {
      pos[d] = r % outShape[d]!;
      r = Math.floor(r / outShape[d]!);
    }
    const at = idx.map((x, k) => {
      if (typeof x === 'number') return x;
      const j = kept.indexOf(k); // result dim before the transpose
      return x[pos[perm.indexOf(j)]!]!;
    });
    out.push(Number(src.get(at)));
  }
  return out;
}

function viewOf(vol: Volume, v: View): Volume {
  const s = vol.slice(v.sel as never);
  return v.perm ? s.transpose(v.perm) : s;
}

/** A 3-d array from f(z, y, x). */
function source(dtype: DataType, shape: number[], f: (z: number, y: number, x: number) => number): NdArray {
  const a = NdArray.zeros(dtype, shape);
  const d = a.data as unknown as number[];
  let i = 0;
  for (let z = 0; z < shape[0]!; z++) for (let y = 0; y < shape[1]!; y++) for (let x = 0; x < shape[2]!; x++) d[i++] = f(z, y, x);
  return a;
}

const u8Source = source('uint8', [96, 80, 72], (z, y, x) => (7 * z + 13 * y + 3 * x + ((z * y * x) % 5)) % 251);
const i16Source = source('int16', [50, 64, 48], (z, y, x) => 100 * z - 7 * y + x - 2000);
const f4Source = source('float32', [24, 32, 64], (z, y, x) => z - y / 4 + x / 16);
const u2Source = source('uint16', [50, 64, 48], (z, y, x) => 1000 * z + 10 * y + x);

/** Views over a [Z, Y, X] array whose chunks are `c` planes deep along z. */
function viewsFor(shape: number[], c: number): View[] {
  const [Z, Y, X] = shape as [number, number, number];
  return [
    { name: 'XY first plane', sel: [0, null, null] },
    { name: 'XY plane 5', sel: [5, null, null] },
    { name: 'XY last plane of a chunk', sel: [c - 1, null, null] },
    { name: 'XY first plane of the second chunk', sel: [Math.min(c, Z - 1), null, null] },
    { name: 'XY last plane of the array', sel: [Z - 1, null, null] },
    { name: 'XZ', sel: [null, 5, null] },
    { name: 'YZ', sel: [null, null, 7] },
    { name: 'strided z', sel: [[1, Math.min(Z, 30), 7], null, null] },
    { name: 'reversed z, y range, reversed strided x', sel: [[Math.min(20, Z - 1), 2, -1], [3, Math.min(40, Y)], [X - 2, 10, -3]] },
    { name: 'two planes transposed', sel: [[3, 5], null, null], perm: [2, 1, 0] },
    { name: 'XY plane transposed', sel: [2, null, null], perm: [1, 0] },
    { name: 'box across a chunk boundary', sel: [[Math.max(0, c - 4), Math.min(Z, c + 6)], [3, Y - 2], [1, X - 1]] },
  ];
}

async function checkViews(vol: Volume, src: NdArray, views: View[]): Promise<void> {
  for (const v of views) {
    const got = await viewOf(vol, v).read();
    expect(got.toFlat().map(Number), v.name).toEqual(expected(src, v));
  }
}

/** zstdDecodeCounts difference over `fn`. */
async function counted(fn: () => Promise<unknown>): Promise<{ whole: number; prefix: number; prefixBytes: number }> {
  const a = zstdDecodeCounts();
  await fn();
  const b = zstdDecodeCounts();
  return { whole: b.whole - a.whole, prefix: b.prefix - a.prefix, prefixBytes: b.prefixBytes - a.prefixBytes };
}

function openFixture(name: string, context: Context): Promise<Volume> {
  return open({ driver: 'zarr', kvstore: `file://${FIXTURE}/${name}/` } as never, { context });
}

describe('zstd prefix decoding: data written by zarr-python (numcodecs Zstd)', () => {
  it('uint8 64^3 chunks: an XY plane decodes only a prefix of each chunk it touches; every view equals the source', async () => {
    const vol = await openFixture('u8', new PoolContext(inline));
    // z=5: 2 x 2 chunks, each needed up to its 6th plane (6 x 64 x 64 bytes of 256 KiB)
    expect(await counted(() => vol.slice([5, null, null]).read())).toEqual({ whole: 0, prefix: 4, prefixBytes: 4 * 6 * 4096 });
    // an XZ plane needs every z plane of its chunks: decoded whole, except the edge chunks
    // (stored full size), of whose 64 planes only the 32 in the array are read
    expect(await counted(() => vol.slice([null, 5, null]).read())).toEqual({ whole: 2, prefix: 2, prefixBytes: 2 * 32 * 4096 });
    expect(await counted(() => vol.slice([[0, 64], 5, null]).read())).toEqual({ whole: 2, prefix: 0, prefixBytes: 0 });
    // the last plane of a chunk: whole; plane 36 needs more than the first 128 KiB block
    // can hold (the frames have two), so the one-shot decoder decodes it whole too
    expect((await counted(() => vol.slice([63, null, null]).read())).prefix).toBe(0);
    expect(await counted(() => vol.slice([36, null, null]).read())).toEqual({ whole: 4, prefix: 0, prefixBytes: 0 });
    // z=95, plane 31 of the edge chunk (stored full size): a prefix
    expect(await counted(() => vol.slice([95, null, null]).read())).toEqual({ whole: 0, prefix: 4, prefixBytes: 4 * 32 * 4096 });
    await checkViews(vol, u8Source, viewsFor(u8Source.shape as number[], 64));
  });

  it('int16 and float32 chunks: prefixes in element bytes, every view equals the source', async () => {
    const i16 = await openFixture('i16', new PoolContext(inline));
    expect(await counted(() => i16.slice([3, null, null]).read())).toEqual({ whole: 0, prefix: 1, prefixBytes: 4 * 64 * 48 * 2 });
    await checkViews(i16, i16Source, viewsFor([50, 64, 48], 40));
    const f4 = await openFixture('f4', new PoolContext(inline));
    expect(await counted(() => f4.slice([2, null, null]).read())).toEqual({ whole: 0, prefix: 1, prefixBytes: 3 * 32 * 64 * 4 });
    await checkViews(f4, f4Source, viewsFor([24, 32, 64], 24));
  });

  it('big-endian and F-order chunks are decoded whole, and read right', async () => {
    const be = await openFixture('u2be', new PoolContext(inline));
    expect(await counted(() => be.slice([3, null, null]).read())).toEqual({ whole: 1, prefix: 0, prefixBytes: 0 });
    await checkViews(be, u2Source, viewsFor([50, 64, 48], 40).slice(0, 4));
    const f = await openFixture('u8f', new PoolContext(inline));
    expect(await counted(() => f.slice([3, null, null]).read())).toEqual({ whole: 1, prefix: 0, prefixBytes: 0 });
    const ref = await (await openFixture('u8', new PoolContext(inline))).slice([[0, 64], [0, 64], [0, 64]]).read();
    for (const z of [0, 3, 63]) expect((await f.slice([z, null, null]).read()).toFlat(), `F order z=${z}`).toEqual(ref.toFlat().slice(z * 4096, (z + 1) * 4096));
  });

  it('through codec workers: the same views, byte for byte', async () => {
    const vol = await openFixture('u8', new PoolContext(pooled));
    await checkViews(vol, u8Source, viewsFor(u8Source.shape as number[], 64));
    const f4 = await openFixture('f4', new PoolContext(pooled));
    await checkViews(f4, f4Source, viewsFor([24, 32, 64], 24));
  });

  it('with chunks cached, reads decode and keep whole chunks: a later read of another plane from the cache is right', async () => {
    const ctx = new PoolContext(inline, { cache_pool: { total_bytes_limit: 64 << 20 } });
    const vol = await openFixture('u8', ctx);
    expect(await counted(() => vol.slice([5, null, null]).read())).toEqual({ whole: 4, prefix: 0, prefixBytes: 0 });
    const before = ctx.stats().hits;
    const c = await counted(async () => {
      for (const v of [{ name: 'z=60 from cache', sel: [60, null, null] }, { name: 'XZ from cache', sel: [[0, 64], 9, null] }] as View[]) {
        expect((await viewOf(vol, v).read()).toFlat().map(Number), v.name).toEqual(expected(u8Source, v));
      }
    });
    expect(c).toEqual({ whole: 0, prefix: 0, prefixBytes: 0 });
    expect(ctx.stats().hits - before).toBe(4 + 2);
    // the same through workers (they return the chunk to cache it: whole)
    const pctx = new PoolContext(pooled, { cache_pool: { total_bytes_limit: 64 << 20 } });
    const pvol = await openFixture('u8', pctx);
    await pvol.slice([5, null, null]).read();
    const v: View = { name: 'z=60 from the cache', sel: [60, null, null] };
    expect((await viewOf(pvol, v).read()).toFlat().map(Number)).toEqual(expected(u8Source, v));
    expect(pctx.stats().hits).toBe(4);
  });

  it('a chunk corrupt after its first block: leading planes read (in workers too), a plane in the corrupt part gives CorruptionError naming the chunk', async () => {
    const dir = path.join(ROOT, 'tail-corrupt');
    cpSync(path.join(FIXTURE, 'u8'), dir, { recursive: true });
    const key = path.join(dir, '0.0.0');
    writeFileSync(key, corruptTail(new Uint8Array(readFileSync(key))));
    for (const pool of [inline, pooled]) {
      const vol = await open({ driver: 'zarr', kvstore: `file://${dir}/` } as never, { context: new PoolContext(pool) });
      const v: View = { name: 'z=4', sel: [4, [0, 64], [0, 64]] };
      expect((await viewOf(vol, v).read()).toFlat().map(Number)).toEqual(expected(u8Source, v));
      const err = await vol.slice([40, [0, 64], [0, 64]]).read().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptionError);
      expect(String((err as Error).message)).toContain('0.0.0');
    }
  });
});

describe('zstd prefix decoding: data written by zarrita and by volstore', () => {
  it('zarrita zarr3 uint8 (zstd level 3): XY planes decode prefixes, every view equals the source', async () => {
    const dir = path.join(ROOT, 'zarrita-u8');
    const shape = [100, 70, 90];
    const src = source('uint8', shape, (z, y, x) => (z * 31 + y * 17 + ((x * x) >> 3) + ((z ^ y ^ x) & 7)) & 255);
    const arr = await zarr.create(new FileSystemStore(dir), {
      shape, chunkShape: [64, 64, 64], dtype: 'uint8', fillValue: 0,
      codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd', configuration: { level: 3, checksum: false } }] as never,
    });
    await zarr.set(arr, null, { data: src.data as Uint8Array, shape, stride: [shape[1]! * shape[2]!, shape[2]!, 1] });
    const vol = await open({ driver: 'zarr3', kvstore: `file://${dir}/` } as never, { context: new PoolContext(inline) });
    expect(await counted(() => vol.slice([10, null, null]).read())).toEqual({ whole: 0, prefix: 4, prefixBytes: 4 * 11 * 4096 });
    // zarrita reads the same plane
    const za = await zarr.open(new FileSystemStore(dir), { kind: 'array' });
    expect((await vol.slice([70, null, null]).read()).toFlat()).toEqual(Array.from((await zarr.get(za, [70, null, null])).data as Uint8Array));
    await checkViews(vol, src, viewsFor(shape, 64));
    await checkViews(await open({ driver: 'zarr3', kvstore: `file://${dir}/` } as never, { context: new PoolContext(pooled) }), src, viewsFor(shape, 64).slice(0, 6));
  });

  it('volstore zarr3, uint16 unsharded and float32 in shards: prefixes, every view equals the source', async () => {
    const zstd = { name: 'zstd', configuration: { level: 3, checksum: false } };
    const bytes = { name: 'bytes', configuration: { endian: 'little' } };
    const u16 = source('uint16', [70, 64, 80], (z, y, x) => (z * 977 + y * 31 + x * 7 + ((z * x) % 13)) & 0xffff);
    const f32 = source('float32', [40, 64, 128], (z, y, x) => z * 0.5 - y * 0.25 + x / 64);
    const cases: [string, NdArray, unknown][] = [
      ['u16', u16, { shape: u16.shape, chunk_grid: { name: 'regular', configuration: { chunk_shape: [32, 64, 64] } }, codecs: [bytes, zstd] }],
      ['f32', f32, {
        shape: f32.shape, chunk_grid: { name: 'regular', configuration: { chunk_shape: [32, 64, 128] } },
        codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [16, 64, 64], codecs: [bytes, zstd], index_codecs: [bytes, { name: 'crc32c' }], index_location: 'end' } }],
      }],
    ];
    for (const [name, src, metadata] of cases) {
      const dir = path.join(ROOT, `own-${name}`);
      const w = await open({ driver: 'zarr3', kvstore: `file://${dir}/`, create: true, dtype: src.dtype, metadata } as never, { context: new PoolContext(inline) });
      await w.write(src);
      const vol = await open({ driver: 'zarr3', kvstore: `file://${dir}/` } as never, { context: new PoolContext(inline) });
      const c = await counted(() => vol.slice([1, null, null]).read());
      expect(c.whole, name).toBe(0);
      expect(c.prefix, name).toBeGreaterThan(0);
      const depth = name === 'u16' ? 32 : 16;
      await checkViews(vol, src, viewsFor(src.shape as number[], depth));
      await checkViews(await open({ driver: 'zarr3', kvstore: `file://${dir}/` } as never, { context: new PoolContext(pooled) }), src, viewsFor(src.shape as number[], depth).slice(0, 6));
    }
  });
});

describe('zstd prefix decoding: the codec chain and the zstd codec', () => {
  const spec = { dtype: 'uint8' as const, shape: [64, 64, 64], fillValue: 0 };
  const bytes = { name: 'bytes', configuration: {} };
  const zstd = { name: 'zstd', configuration: { level: 3 } };
  const chunk = source('uint8', [64, 64, 64], (z, y, x) => (z * 5 + y * 3 + x + ((z * y + x) % 7)) & 255);
  /** The XY plane `z` of a 64^3 chunk into a 64 x 64 result, rows reversed when `reversed`. */
  const plane = (z: number, reversed = false): ChunkPlacement => ({
    shape: [64, 64], dstOffset: 0, dstStrides: [64, 1], start: [z, reversed ? 63 : 0, 0], dims: [-1, 0, 1], steps: [1, reversed ? -1 : 1, 1],
  });

  it('neededBytes: the leading planes a placement takes, on [bytes, zstd] chains only', async () => {
    const chain = await CodecChain.create([bytes, zstd], spec);
    expect(chain.neededBytes(plane(0))).toBe(4096);
    expect(chain.neededBytes(plane(9, true))).toBe(10 * 4096);
    expect(chain.neededBytes(plane(63))).toBeUndefined(); // every plane: decode whole
    // a YZ plane, transposed into the result: every z plane
    expect(chain.neededBytes({ shape: [64, 64], dstOffset: 0, dstStrides: [1, 64], start: [0, 0, 7], dims: [1, 0, -1], steps: [1, 1, 1] })).toBeUndefined();
    // z 20 down to 2 (reversed, strided)
    expect(chain.neededBytes({ shape: [7, 64], dstOffset: 0, dstStrides: [64, 1], start: [20, 0, 5], dims: [0, 1, -1], steps: [-3, 1, 1] })).toBe(21 * 4096);
    // nothing placed: no hint
    expect(chain.neededBytes({ ...plane(3), shape: [0, 64] })).toBeUndefined();
    // leading dims of extent 1: the prefix is along the first longer one
    const flat = await CodecChain.create([{ name: 'bytes', configuration: { endian: 'little' } }, zstd], { dtype: 'float32', shape: [1, 256, 512], fillValue: 0 });
    expect(flat.neededBytes({ shape: [512], dstOffset: 0, dstStrides: [4], start: [0, 10, 0], dims: [-1, -1, 0], steps: [1, 1, 1] })).toBe(11 * 512 * 4);
    const u16 = { dtype: 'uint16' as const, shape: [64, 64, 64], fillValue: 0 };
    const le = { name: 'bytes', configuration: { endian: 'little' } };
    expect((await CodecChain.create([le, zstd], u16)).neededBytes(plane(1))).toBe(2 * 4096 * 2);
    for (const codecs of [
      [{ name: 'bytes', configuration: { endian: 'big' } }, zstd], // byte swap over the whole chunk
      [{ name: 'transpose', configuration: { order: [2, 1, 0] } }, le, zstd], // not C order
      [le, { name: 'gzip', configuration: { level: 1 } }],
      [le, zstd, { name: 'crc32c' }],
      [le],
    ] as CodecJSON[][]) {
      expect((await CodecChain.create(codecs, u16)).neededBytes(plane(1)), JSON.stringify(codecs)).toBeUndefined();
    }
  });

  it('decodeInto places a prefix-decoded chunk exactly; with keep it decodes and returns the whole chunk', async () => {
    const chain = await CodecChain.create([bytes, zstd], spec);
    const encoded = await chain.encode(chunk);
    for (const [z, reversed] of [[0, false], [7, true], [31, false], [32, true], [63, false]] as const) {
      const dst = new Uint8Array(4096);
      const c = await counted(() => chain.decodeInto(encoded, { key: 'c/0' }, { dst, placement: plane(z, reversed) }));
      expect(c.prefix, `z=${z}`).toBe(z < 63 ? 1 : 0);
      const want = expected(chunk, { name: '', sel: [z, reversed ? [63, -1, -1] : null, null] });
      expect(Array.from(dst), `z=${z}`).toEqual(want);
    }
    const dst = new Uint8Array(4096);
    let kept: NdArray | undefined;
    const c = await counted(async () => (kept = await chain.decodeInto(encoded, { key: 'c/0' }, { dst, placement: plane(2), keep: true })));
    expect(c).toEqual({ whole: 1, prefix: 0, prefixBytes: 0 });
    expect(kept!.shape).toEqual([64, 64, 64]);
    expect(kept!.toFlat()).toEqual(chunk.toFlat());
  });

  it('decodeInline with neededBytes returns the chunk cropped to the planes holding them (native and WASM alike)', async () => {
    const chain = await CodecChain.create([bytes, zstd], spec);
    const encoded = await chain.encode(chunk);
    const a = await chain.decodeInline(encoded, { neededBytes: 5 * 4096 });
    expect(a.shape).toEqual([5, 64, 64]);
    expect(a.toFlat()).toEqual(chunk.toFlat().slice(0, 5 * 4096));
    configureNativeCodecs({ enabled: false });
    try {
      const c = await counted(async () => {
        const w = await chain.decodeInline(encoded, { neededBytes: 5 * 4096 });
        expect(w.shape).toEqual([5, 64, 64]);
        expect(w.toFlat()).toEqual(chunk.toFlat().slice(0, 5 * 4096));
      });
      expect(c).toEqual({ whole: 1, prefix: 0, prefixBytes: 0 });
    } finally {
      configureNativeCodecs({ enabled: true });
    }
    // the hint never reaches a nested chain: a sharded chain decodes its shard whole
    registerShardingCodec();
    const sharded = await CodecChain.create([{ name: 'sharding_indexed', configuration: { chunk_shape: [32, 64, 64], codecs: [bytes, zstd], index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }] } }], spec);
    const s = await sharded.encode(chunk);
    const whole = await counted(async () => {
      const a = await sharded.decodeInline(s, { neededBytes: 4096 });
      expect(a.shape).toEqual([64, 64, 64]);
      expect(a.toFlat()).toEqual(chunk.toFlat());
    });
    expect(whole).toEqual({ whole: 2, prefix: 0, prefixBytes: 0 });
  });

  it('a frame with a content checksum is decoded whole (and verified)', async () => {
    const binding = createRequire(import.meta.url)('zstd-napi/binding') as {
      CCtx: new () => { setParameter(p: number, v: number): void; compress2(d: Uint8Array, s: Uint8Array): number };
      CParameter: { checksumFlag: number; compressionLevel: number };
      compressBound(n: number): number;
    };
    const cctx = new binding.CCtx();
    cctx.setParameter(binding.CParameter.compressionLevel, 3);
    cctx.setParameter(binding.CParameter.checksumFlag, 1);
    const raw = chunk.data as Uint8Array;
    const buf = new Uint8Array(binding.compressBound(raw.length));
    const framed = buf.slice(0, cctx.compress2(buf, raw));
    expect(framed[4]! & 4, 'checksum flag set').toBe(4);
    const c = await counted(async () => {
      const out = await zstdDecodeFrames(framed, { key: 'k', neededBytes: 4096 });
      expect(out.length).toBe(raw.length);
      expect(Buffer.compare(Buffer.from(out), Buffer.from(raw))).toBe(0);
    });
    expect(c).toEqual({ whole: 1, prefix: 0, prefixBytes: 0 });
    // a flipped checksum is caught, which a prefix decode could not have done
    const bad = framed.slice();
    bad[bad.length - 1]! ^= 0xff;
    await expect(zstdDecodeFrames(bad, { key: 'k', neededBytes: 4096 })).rejects.toThrow(CorruptionError);
  });

  it('corruption inside the prefix gives CorruptionError naming the key, and the next decode starts clean', async () => {
    const chain = await CodecChain.create([bytes, zstd], spec);
    const encoded = await chain.encode(chunk);
    const fhd = encoded[4]!;
    const single = (fhd >> 5) & 1;
    const blockStart = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + [single, 2, 4, 8][fhd >> 6]!;
    const bad = encoded.slice();
    bad[blockStart + 3 + 1] = 0xff; // the first block's literals section
    const err = await zstdDecodeFrames(bad, { key: 'a/0.0.0', neededBytes: 4096 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as Error).message).toContain('a/0.0.0');
    // frames that end before the bytes needed (a short chunk): CorruptionError too
    const short = await zstdDecodeFrames(corruptTail(encoded), { key: 'a/short', neededBytes: 200_000 }).catch((e: unknown) => e);
    expect(short).toBeInstanceOf(CorruptionError);
    // the context was reset: the good frame decodes, in part and whole
    const part = await zstdDecodeFrames(encoded, { neededBytes: 8192 });
    expect(Array.from(part.subarray(0, 8192))).toEqual(Array.from((chunk.data as Uint8Array).subarray(0, 8192)));
    expect(Array.from(await zstdDecodeFrames(encoded))).toEqual(Array.from(chunk.data as Uint8Array));
  });
});

/**
 * `frame` (one frame with a content size, a compressed first block of 128 KiB and a last block)
 * with its last block replaced by an RLE block one byte short: the frame's size no longer
 * adds up, which a whole decode reports, while the first block decodes as before.
 */
function corruptTail(frame: Uint8Array): Uint8Array {
  const fhd = frame[4]!;
  const single = (fhd >> 5) & 1;
  const fcsBytes = [single, 2, 4, 8][fhd >> 6]!;
  let p = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]!;
  let fcs = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) fcs = fcs * 256 + frame[p + i]!;
  if (fcsBytes === 2) fcs += 256;
  p += fcsBytes;
  const h = frame[p]! | (frame[p + 1]! << 8) | (frame[p + 2]! << 16);
  expect(h & 1, 'first block is not the last').toBe(0);
  expect((h >> 1) & 3, 'first block compressed').toBe(2);
  const second = p + 3 + (h >>> 3);
  const size = fcs - 131072 - 1;
  const rle = (size << 3) | (1 << 1) | 1;
  return Uint8Array.from([...frame.subarray(0, second), rle & 0xff, (rle >> 8) & 0xff, (rle >> 16) & 0xff, 0x2a]);
}
