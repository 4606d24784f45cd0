/**
 * Decoding straight into a read's result (ChunkDriver.decodeChunkInto, CodecWorkerPool.decodeInto):
 * codec workers decode each chunk and copy it into the result themselves (shared memory), or the
 * decoded chunk comes back and is placed here (a caller's plain `out`). Reads through a pool
 * that takes every chunk must equal reads with no pool, byte for byte, for every format and
 * codec, every dtype, random strided / transposed / integer-indexed views, fresh results and
 * caller-owned outputs of any strides; an aborted read never leaves a worker writing into an
 * `out` the caller reuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesOf, type DataType, dtypeSize, isBigIntDtype } from '../../src/array/dtype.js';
import { cOrderStrides, fOrderStrides, NdArray, product, toCOrder } from '../../src/array/ndarray.js';
import { Context } from '../../src/context/context.js';
import { buildPrecomputedVolume, PRECOMPUTED_DATA_TYPES } from '../../src/drivers/precomputed-info.js';
import { N5_DATA_TYPES } from '../../src/drivers/n5.js';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KvStoreError } from '../../src/errors.js';
import { AbortError, open } from '../../src/index.js';
import { mulberry32 } from '../../src/testing/prng.js';
import type { Volume } from '../../src/volume.js';
import { CodecWorkerPool } from '../../src/workers/pool.js';
import { ALL_DTYPES, freshName } from '../core/helpers.js';
import { registerTestCodecs } from '../workers/test-codecs.js';

/** A Context whose arrays use `pool` for their codecs. */
class PoolContext extends Context {
  constructor(private readonly pool: CodecWorkerPool, json: Record<string, unknown> = {}) {
    super(json);
  }

  override get codecPool(): CodecWorkerPool {
    return this.pool;
  }
}

// every chunk goes to the workers (no size crossover; three workers, from which plain chunks
// are placed by workers too), and a pool that is off (inline)
const pooled = new CodecWorkerPool({ size: 3, minDecodeBytes: 0, minEncodeBytes: 0, minPlaceBytes: 0 }); // 3: plain chunks go to workers too
const inline = new CodecWorkerPool({ size: 0 });
const pooledContext = new PoolContext(pooled);
const inlineContext = new PoolContext(inline);

beforeAll(async () => {
  expect(await pooled.warm()).toBe(true);
});
afterAll(() => pooled.close());

/** Random elements with runs (so compressors have something to find), any dtype. */
function randomArray(dtype: DataType, shape: readonly number[], seed: number, max = 1000): NdArray {
  const r = mulberry32(seed);
  const a = NdArray.zeros(dtype, shape);
  const d = a.data as unknown as { [i: number]: number | bigint; length: number };
  let v = 0;
  for (let i = 0; i < d.length; i++) {
    if (r() < 0.3) v = Math.floor(r() * max);
    if (dtype === 'bool') d[i] = v & 1;
    else if (isBigIntDtype(dtype)) d[i] = BigInt(v) << 20n;
    else if (dtype === 'float16') d[i] = 0x3c00 + (v & 0x3ff);
    else if (dtype.startsWith('float')) d[i] = v / 8 - 40;
    else if (dtype === 'int8') d[i] = (v % 256) - 128;
    else if (dtype === 'uint8') d[i] = v % 256;
    else if (dtype === 'int16' || dtype === 'int32') d[i] = v - 500;
    else d[i] = v;
  }
  return a;
}

/** The bytes of `a` in C order. */
function cBytes(a: NdArray): Buffer {
  const c = toCOrder(a);
  return Buffer.from(bytesOf(c.data));
}

/** A random view: strided slices (steps 1-3), sometimes an integer index, sometimes transposed. */
function randomView(vol: Volume, r: () => number): Volume {
  const sel = vol.shape.map((n) => {
    const p = r();
    if (p < 0.15) return Math.floor(r() * n);
    const a = Math.floor(r() * (n - 1));
    const b = a + 1 + Math.floor(r() * (n - a));
    return [a, b, 1 + Math.floor(r() * 3)] as [number, number, number];
  });
  let v = vol.slice(sel);
  if (v.rank > 1 && r() < 0.5) {
    const perm = [...Array(v.rank).keys()].sort(() => r() - 0.5);
    v = v.transpose(perm);
  }
  return v;
}

/** An output for `view` laid out in Fortran order over shared memory, or in C order over a plain ArrayBuffer. */
function outFor(view: Volume, shared: boolean): NdArray {
  const shape = view.shape;
  if (!shared) return NdArray.zeros(view.dtype, shape, undefined);
  const data = NdArray.zeros(view.dtype, [product(shape)], undefined, true).data;
  return new NdArray(view.dtype, data, shape, fOrderStrides(shape));
}

/**
 * Reads `views` of the array at `spec` with the pool and without: fresh results, shared
 * Fortran-strided outs and plain C-order outs must all equal the inline read.
 */
async function expectSameReads(spec: Record<string, unknown>, seed: number, what: string): Promise<void> {
  const p = await open(spec as never, { context: pooledContext });
  const q = await open(spec as never, { context: inlineContext });
  const r = mulberry32(seed);
  const views: [Volume, Volume][] = [[p, q]];
  for (let i = 0; i < 3; i++) {
    const s = Math.floor(r() * 2 ** 31);
    views.push([randomView(p, mulberry32(s)), randomView(q, mulberry32(s))]);
  }
  for (const [vp, vq] of views) {
    const expected = cBytes(await vq.read());
    const label = `${what} view ${JSON.stringify(vq.spec().transform)}`;
    expect(cBytes(await vp.read()).equals(expected), `${label}: fresh`).toBe(true);
    for (const shared of [true, false]) {
      const out = outFor(vp, shared);
      const got = await vp.read({ out });
      expect(got).toBe(out);
      expect(cBytes(out).equals(expected), `${label}: ${shared ? 'shared F-order' : 'plain C-order'} out`).toBe(true);
    }
  }
}

const bytesLE = { name: 'bytes', configuration: { endian: 'little' } };
const bytesBE = { name: 'bytes', configuration: { endian: 'big' } };

/** zarr v3 codec lists for a dtype: compressors, filters, transposes, checksums, raw, sharded. */
function zarr3Chains(dtype: DataType): unknown[][] {
  const size = dtypeSize(dtype);
  const chains: unknown[][] = [
    [bytesLE, { name: 'zstd', configuration: { level: 1 } }],
    [bytesBE, { name: 'gzip', configuration: { level: 1 } }],
    [{ name: 'transpose', configuration: { order: [2, 0, 1] } }, bytesLE, { name: 'blosc', configuration: { cname: 'lz4', clevel: 5, shuffle: 'bitshuffle', typesize: size } }],
    [bytesLE, { name: 'blosc', configuration: { cname: 'zlib', clevel: 3, shuffle: 'shuffle', typesize: size } }],
    [bytesLE, { name: 'crc32c' }],
    [bytesLE],
    [{ name: 'sharding_indexed', configuration: { chunk_shape: [4, 5, 3], codecs: [bytesLE, { name: 'zstd' }], index_codecs: [bytesLE, { name: 'crc32c' }] } }],
  ];
  if (!isBigIntDtype(dtype) && dtype !== 'bool' && dtype !== 'float16') chains.push([{ name: 'delta', configuration: { dtype } }, bytesLE, { name: 'lz4' }]);
  return chains;
}

describe('decode into the result', () => {
  it('zarr v3: pooled reads equal inline reads for every codec, dtype and random strided views', async () => {
    let n = 0;
    for (const dtype of ALL_DTYPES) {
      for (const codecs of zarr3Chains(dtype)) {
        const sharded = (codecs[0] as { name: string }).name === 'sharding_indexed';
        const name = freshName('into-z3');
        const shape = [10, 9, 11];
        const spec = { driver: 'zarr3', kvstore: `memory://${name}/` };
        const w = await open({
          ...spec, create: true,
          metadata: { shape, data_type: dtype, chunk_grid: { name: 'regular', configuration: { chunk_shape: sharded ? [8, 10, 6] : [4, 5, 3] } }, codecs, fill_value: 0 },
        } as never, { context: inlineContext });
        await w.write(randomArray(dtype, shape, ++n));
        await expectSameReads(spec, n, `zarr3 ${dtype} ${JSON.stringify(codecs)}`);
      }
    }
    expect(pooled.stats.placed).toBeGreaterThan(0);
  });

  it('N5: pooled reads equal inline reads for every compression and dtype', async () => {
    let n = 100;
    for (const dtype of N5_DATA_TYPES) {
      for (const compression of [{ type: 'raw' }, { type: 'gzip', level: 1 }, { type: 'zstd', level: 1 }, { type: 'blosc', cname: 'zstd', clevel: 3, shuffle: 1 }]) {
        const spec = { driver: 'n5', kvstore: `memory://${freshName('into-n5')}/` };
        const shape = [10, 9, 11];
        const w = await open({ ...spec, create: true, metadata: { dimensions: shape, blockSize: [4, 5, 3], dataType: dtype, compression } } as never, { context: inlineContext });
        await w.write(randomArray(dtype, shape, ++n));
        await expectSameReads(spec, n, `n5 ${dtype} ${compression.type}`);
      }
    }
  });

  it('precomputed: pooled reads equal inline reads (raw, compressed_segmentation, jpeg, png; unsharded and sharded)', async () => {
    let n = 200;
    const cases: { dtype: DataType; encoding: 'raw' | 'compressed_segmentation' | 'jpeg' | 'png'; channels: number }[] = [
      ...PRECOMPUTED_DATA_TYPES.map((dtype) => ({ dtype, encoding: 'raw' as const, channels: 2 })),
      { dtype: 'uint32', encoding: 'compressed_segmentation', channels: 1 },
      { dtype: 'uint64', encoding: 'compressed_segmentation', channels: 2 },
      { dtype: 'uint8', encoding: 'jpeg', channels: 1 },
      { dtype: 'uint8', encoding: 'jpeg', channels: 3 },
      { dtype: 'uint8', encoding: 'png', channels: 4 },
      { dtype: 'uint16', encoding: 'png', channels: 1 },
    ];
    for (const c of cases) {
      for (const sharding of ['none', 'rectangular'] as const) {
        const kvstore = `memory://${freshName('into-pc')}/`;
        const shape = [10, 9, 11, c.channels];
        const { spec } = buildPrecomputedVolume({
          dtype: c.dtype, shape, chunk: [4, 5, 3], encoding: c.encoding, blockSize: [2, 3, 2], sharding, shardShape: [8, 10, 6],
        });
        const w = await open({ ...spec, kvstore, create: true } as never, { context: inlineContext });
        await w.write(randomArray(c.dtype, shape, ++n, c.encoding === 'compressed_segmentation' ? 6 : 1000));
        await expectSameReads({ driver: 'neuroglancer_precomputed', kvstore }, n, `precomputed ${c.encoding} ${c.dtype} x${c.channels} ${sharding}`);
      }
    }
  });

  it('a big fresh read of a pooled array is shared memory that workers wrote; small ones are plain', async () => {
    const pool = new CodecWorkerPool({ size: 2 }); // the default crossover
    try {
      expect(await pool.warm()).toBe(true);
      const spec = { driver: 'zarr3', kvstore: `memory://${freshName('into-big')}/` };
      const shape = [128, 128, 64];
      const w = await open({
        ...spec, create: true,
        metadata: { shape, data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: [64, 64, 64] } }, codecs: [bytesLE, { name: 'zstd' }] },
      } as never, { context: inlineContext });
      const a = randomArray('uint16', shape, 7);
      await w.write(a);
      const vol = await open(spec as never, { context: new PoolContext(pool) });
      const big = await vol.read();
      expect(big.data.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(big.data).toBeInstanceOf(Uint16Array);
      expect(big.strides).toEqual(cOrderStrides(shape));
      expect(cBytes(big).equals(cBytes(a))).toBe(true);
      expect(pool.stats.placed).toBe(4);
      // a slice smaller than one pooled chunk: an ordinary ArrayBuffer, decoded here
      const small = await vol.slice([[0, 4], [0, 4], [0, 4]]).read();
      expect(small.data.buffer).toBeInstanceOf(ArrayBuffer);
    } finally {
      pool.close();
    }
  });
});

describe('decode into the result with the chunk cache on', () => {
  it('workers place the chunk and hand it back for the cache; cached reads equal uncached ones', async () => {
    const context = new PoolContext(pooled, { cache_pool: { total_bytes_limit: 64 * 1024 * 1024 } });
    const spec = { driver: 'zarr3', kvstore: `memory://${freshName('into-cache')}/` };
    const shape = [12, 10, 9];
    const w = await open({
      ...spec, create: true,
      metadata: { shape, data_type: 'int32', chunk_grid: { name: 'regular', configuration: { chunk_shape: [4, 5, 3] } }, codecs: [bytesLE, { name: 'zstd' }] },
    } as never, { context: inlineContext });
    const a = randomArray('int32', shape, 77);
    await w.write(a);
    const vol = await open(spec as never, { context });
    const placed0 = pooled.stats.placed;
    const first = await vol.slice([[1, 12, 2], [0, 10], [2, 9]]).read();
    expect(pooled.stats.placed - placed0).toBeGreaterThan(0); // workers placed chunks...
    expect(context.cachePool.misses).toBeGreaterThan(0);
    const second = await vol.read(); // ...and the cache kept them: no decoding now for those
    expect(context.cachePool.hits).toBeGreaterThan(0);
    expect(cBytes(second).equals(cBytes(a))).toBe(true);
    expect(cBytes(first).equals(cBytes(await (await open(spec as never, { context: inlineContext })).slice([[1, 12, 2], [0, 10], [2, 9]]).read()))).toBe(true);
  });
});

describe('workers writing neighbouring chunks into one shared result', () => {
  it('never clobber each other (edge chunks sharing rows, copied through the wasm kernel)', async () => {
    // Chunks 64 wide in a result 90 wide: every row holds bytes of two chunks, placed by two
    // workers at once. The wasm copy used to read the destination span, fill in its chunk and
    // write the whole span back, undoing the other worker's bytes (~1% of such reads).
    const spec = { driver: 'zarr3', kvstore: `memory://${freshName('neighbours')}/` };
    const shape = [100, 70, 90];
    const w = await open({
      ...spec, create: true,
      metadata: { shape, data_type: 'uint8', chunk_grid: { name: 'regular', configuration: { chunk_shape: [64, 64, 64] } }, codecs: [bytesLE, { name: 'zstd', configuration: { level: 1 } }] },
    } as never, { context: inlineContext });
    const data = randomArray('uint8', shape, 8);
    await w.write(data);
    const vol = await open(spec as never, { context: pooledContext });
    const src = data.data as Uint8Array;
    let wrong = 0;
    const placed0 = pooled.stats.placed;
    for (let round = 0; round < 120; round++) {
      const reads = [0, 5, 63, 64, 99].map(async (z) => {
        const got = (await vol.slice([z, null, null]).read()).data as Uint8Array;
        if (!Buffer.from(got).equals(Buffer.from(src.subarray(z * 6300, (z + 1) * 6300)))) wrong++;
      });
      await Promise.all(reads);
    }
    expect(wrong).toBe(0);
    expect(pooled.stats.placed - placed0).toBeGreaterThan(500); // the workers wrote the results
  });
});

/**
 * Reads `vol` into the uint16 `out` once per entry of `afters`, aborting after that many pooled
 * tasks completed: each read that rejects must reject with AbortError, and once it has, nothing
 * may land in `out` (the caller reuses it at once). Counts the rejected reads and the aborts
 * that found tasks in the workers.
 */
async function abortRounds(vol: Volume, out: NdArray, afters: readonly number[]): Promise<{ rejected: number; inWorkers: number }> {
  let rejected = 0;
  let inWorkers = 0;
  for (const after of afters) {
    const ac = new AbortController();
    const done0 = pooled.stats.completed;
    let settled = false;
    const reading = vol.read({ out, signal: ac.signal }).then(() => 'done', (e: unknown) => e).finally(() => (settled = true));
    while (!settled && pooled.stats.completed - done0 < after) await new Promise((r) => setTimeout(r, 1));
    if (pooled.running > 0) inWorkers++;
    ac.abort();
    const result = await reading;
    if (result === 'done') continue; // finished before the abort landed
    expect(result).toBeInstanceOf(AbortError);
    rejected++;
    // the caller reuses its buffer at once...
    (out.data as Uint16Array).fill(0xbeef);
    // ...and whatever the workers were doing when the read was aborted has ended since
    while (pooled.running > 0 || pooled.executing > 0) await new Promise((r) => setTimeout(r, 2));
    await new Promise((r) => setTimeout(r, 20));
    expect((out.data as Uint16Array).every((x) => x === 0xbeef), `abort after ${after} chunks: a worker wrote into out after the read rejected`).toBe(true);
  }
  return { rejected, inWorkers };
}

describe('aborting a read that decodes into a caller-owned out', () => {
  it('waits for a decode already on its way into out (a slow decode on this thread) before it rejects', async () => {
    registerTestCodecs();
    const spec = { driver: 'zarr3', kvstore: `memory://${freshName('into-abort-slow')}/` };
    const shape = [8, 16, 16];
    const w = await open({
      ...spec, create: true,
      metadata: { shape, data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: [4, 16, 16] } }, codecs: [bytesLE, { name: 'test_slow' }] },
    } as never, { context: inlineContext });
    const data = randomArray('uint16', shape, 5);
    await w.write(data);
    const vol = await open(spec as never, { context: inlineContext });
    expect(cBytes(await vol.read()).equals(cBytes(data))).toBe(true);
    const out = NdArray.zeros('uint16', shape);
    const ac = new AbortController();
    const reading = vol.read({ out, signal: ac.signal }).then(() => 'done', (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 10)); // the chunks are decoding now (30 ms each)
    ac.abort();
    expect(await reading).toBeInstanceOf(AbortError);
    // the caller reuses its buffer at once: no decode of the aborted read may land in it later
    (out.data as Uint16Array).fill(0xbeef);
    await new Promise((r) => setTimeout(r, 80));
    expect((out.data as Uint16Array).every((x) => x === 0xbeef), 'a decode wrote into out after the read rejected').toBe(true);
  });

  it.each([['shared memory', true], ['ordinary memory', false]])('leaves nothing writing into it once the read rejected (%s)', async (_what, sharedOut) => {
    const spec = { driver: 'zarr3', kvstore: `memory://${freshName('into-abort')}/` };
    const shape = [64, 128, 128];
    const w = await open({
      ...spec, create: true,
      metadata: { shape, data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: [16, 32, 32] } }, codecs: [bytesLE, { name: 'gzip', configuration: { level: 1 } }] },
    } as never, { context: inlineContext });
    await w.write(randomArray('uint16', shape, 3));
    const vol = await open(spec as never, { context: pooledContext });
    const out = new NdArray('uint16', NdArray.zeros('uint16', [product(shape)], undefined, sharedOut).data, shape);
    const { rejected, inWorkers } = await abortRounds(vol, out, [0, 1, 3, 8, 20, 50]);
    expect(rejected).toBeGreaterThan(2);
    expect(inWorkers).toBeGreaterThan(0); // some aborts hit chunks workers were decoding
    expect(sharedOut ? pooled.stats.placed : pooled.stats.laneDecoded).toBeGreaterThan(0); // decoded into out, by workers or through lanes
    // the pool still works
    const back = await vol.read();
    expect(cBytes(back).equals(cBytes(randomArray('uint16', shape, 3)))).toBe(true);
  });
});

describe('file store: codec workers read the chunk files themselves (decodeFileInto)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'volstore-decodefile-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const fileSpec = (name: string, driver = 'zarr3') => ({ driver, kvstore: { driver: 'file', path: path.join(dir, name) } });

  it('zarr v3 and N5 on local files: pooled reads equal inline reads (missing chunks, edge chunks, random views); workers read the files', async () => {
    const read0 = pooled.stats.fileRead;
    let n = 100;
    for (const dtype of ['uint8', 'uint16', 'float32', 'int64'] as DataType[]) {
      for (const codecs of zarr3Chains(dtype).filter((c) => (c[0] as { name: string }).name !== 'sharding_indexed' && c.length > 1)) {
        const name = freshName('file-z3');
        const shape = [10, 9, 11];
        const w = await open({
          ...fileSpec(name), create: true,
          metadata: { shape, data_type: dtype, chunk_grid: { name: 'regular', configuration: { chunk_shape: [4, 5, 3] } }, codecs, fill_value: 0 },
        } as never, { context: inlineContext });
        // the first planes only: chunks beyond stay missing (fill value)
        await w.slice([[0, 6], null, null]).write(randomArray(dtype, [6, 9, 11], ++n));
        await expectSameReads(fileSpec(name), n, `zarr3 file ${dtype} ${JSON.stringify(codecs)}`);
      }
    }
    for (const compression of [{ type: 'gzip' }, { type: 'zstd' }, { type: 'blosc', cname: 'lz4', clevel: 5, shuffle: 1 }]) {
      const name = freshName('file-n5');
      const shape = [12, 7, 9];
      const w = await open({ ...fileSpec(name, 'n5'), create: true, metadata: { dimensions: shape, blockSize: [5, 4, 4], dataType: 'uint16', compression } } as never, { context: inlineContext });
      await w.write(randomArray('uint16', shape, ++n));
      await expectSameReads(fileSpec(name, 'n5'), n, `n5 file ${JSON.stringify(compression)}`);
    }
    expect(pooled.stats.fileRead - read0).toBeGreaterThan(100);
  });

  it('zarr v3 shards on local files: workers read inner chunks from the shard files (cached index); equal to inline reads', async () => {
    let n = 300;
    for (const dtype of ['uint8', 'uint16', 'float64'] as DataType[]) {
      const name = freshName('file-shard');
      const shape = [13, 10, 9];
      const codecs = [{ name: 'sharding_indexed', configuration: { chunk_shape: [4, 5, 3], codecs: [bytesLE, { name: 'zstd' }], index_codecs: [bytesLE, { name: 'crc32c' }] } }];
      const w = await open({ ...fileSpec(name), create: true, metadata: { shape, data_type: dtype, chunk_grid: { name: 'regular', configuration: { chunk_shape: [8, 10, 6] } }, codecs, fill_value: 0 } } as never, { context: inlineContext });
      await w.slice([null, [0, 7], null]).write(randomArray(dtype, [13, 7, 9], ++n)); // some inner chunks stay empty
      const read0 = pooled.stats.fileRead;
      await expectSameReads(fileSpec(name), n, `zarr3 sharded file ${dtype}`);
      expect(pooled.stats.fileRead - read0, dtype).toBeGreaterThan(10);
    }
  });

  it('a shard rewritten behind a reader with its index cached: the worker sees the generation changed and the read returns the new data', async () => {
    const name = freshName('file-shard-stale');
    const shape = [8, 8, 8];
    const meta = { shape, data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: [8, 8, 8] } }, codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [4, 4, 4], codecs: [bytesLE, { name: 'zstd' }], index_codecs: [bytesLE, { name: 'crc32c' }] } }] };
    const w = await open({ ...fileSpec(name), create: true, metadata: meta } as never, { context: inlineContext });
    await w.write(randomArray('uint16', shape, 1));
    const vol = await open(fileSpec(name) as never, { context: pooledContext });
    expect(cBytes(await vol.read()).equals(cBytes(randomArray('uint16', shape, 1)))).toBe(true);
    const read0 = pooled.stats.fileRead;
    expect(cBytes(await vol.read()).equals(cBytes(randomArray('uint16', shape, 1)))).toBe(true);
    expect(pooled.stats.fileRead - read0).toBe(8); // every inner chunk read by a worker, from the cached index
    // another writer (its own context: the reader's cached index is now stale)
    const other = await open(fileSpec(name) as never, { context: new Context() });
    await other.write(randomArray('uint16', shape, 2));
    expect(cBytes(await vol.read()).equals(cBytes(randomArray('uint16', shape, 2)))).toBe(true);
  });

  it('precomputed on local files (compressed_segmentation, jpeg, raw; unsharded): pooled reads equal inline reads; workers read the files', async () => {
    const read0 = pooled.stats.fileRead;
    let n = 400;
    for (const c of [
      { dtype: 'uint64', encoding: 'compressed_segmentation', channels: 1 },
      { dtype: 'uint8', encoding: 'jpeg', channels: 1 },
      { dtype: 'uint16', encoding: 'raw', channels: 1 },
    ] as const) {
      const path0 = path.join(dir, freshName('file-pc'));
      const shape = [10, 9, 11, c.channels];
      const { spec } = buildPrecomputedVolume({ dtype: c.dtype, shape, chunk: [4, 5, 3], encoding: c.encoding, blockSize: [2, 3, 2], sharding: 'none' });
      const kvstore = { driver: 'file', path: path0 };
      const w = await open({ ...spec, kvstore, create: true } as never, { context: inlineContext });
      await w.write(randomArray(c.dtype, shape, ++n, c.encoding === 'compressed_segmentation' ? 6 : 1000));
      await expectSameReads({ driver: 'neuroglancer_precomputed', kvstore }, n, `precomputed file ${c.encoding} ${c.dtype}`);
    }
    expect(pooled.stats.fileRead - read0).toBeGreaterThan(50);
  });

  it('two workers: raw chunks on local files are read and copied into the result by workers (no lane copies); raw chunks in memory stay on the calling thread', async () => {
    const two = new CodecWorkerPool({ size: 2, minDecodeBytes: 0, minPlaceBytes: 0 });
    try {
      expect(await two.warm()).toBe(true);
      const ctx = new PoolContext(two);
      const shape = [24, 20, 18];
      const data = randomArray('uint16', [16, 20, 18], 601);
      for (const sharded of [false, true]) {
        const name = freshName('file-raw-two');
        const codecs = sharded ? [{ name: 'sharding_indexed', configuration: { chunk_shape: [8, 10, 6], codecs: [bytesLE], index_codecs: [bytesLE, { name: 'crc32c' }] } }] : [bytesLE];
        const metadata = { shape, data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: sharded ? [16, 20, 12] : [8, 10, 6] } }, codecs, fill_value: 0 };
        const w = await open({ ...fileSpec(name), create: true, metadata } as never, { context: inlineContext });
        await w.slice([[0, 16], null, null]).write(data); // the planes beyond stay missing (fill value)
        const expected = cBytes(await (await open(fileSpec(name) as never, { context: inlineContext })).read());
        const vol = await open(fileSpec(name) as never, { context: ctx });
        await vol.read(); // (sharded: reads and caches the shard indexes)
        const s0 = { ...two.stats };
        const fresh = await vol.read();
        expect(fresh.data.buffer, `sharded ${sharded}`).toBeInstanceOf(SharedArrayBuffer);
        expect(cBytes(fresh).equals(expected), `sharded ${sharded}: fresh`).toBe(true);
        (fresh.data as Uint16Array).fill(7);
        expect(await vol.read({ out: fresh })).toBe(fresh);
        expect(cBytes(fresh).equals(expected), `sharded ${sharded}: into out`).toBe(true);
        // 12 stored chunks (2 x 2 x 3 of 8 x 10 x 6), read twice, each by a worker
        expect(two.stats.fileRead - s0.fileRead, `sharded ${sharded}`).toBe(24);
        expect(two.stats.laneDecoded - s0.laneDecoded).toBe(0);
        const views = [randomView(vol, mulberry32(602)), randomView(vol, mulberry32(603))];
        const inlineVol = await open(fileSpec(name) as never, { context: inlineContext });
        const inlineViews = [randomView(inlineVol, mulberry32(602)), randomView(inlineVol, mulberry32(603))];
        for (let i = 0; i < views.length; i++) expect(cBytes(await views[i]!.read()).equals(cBytes(await inlineViews[i]!.read()))).toBe(true);
        if (!sharded) {
          // a raw chunk file cut short: a typed error naming the chunk, from the worker that read it
          const chunk = path.join(dir, name, 'c', '1', '1', '2');
          await writeFile(chunk, (await readFile(chunk)).subarray(0, 100));
          const s1 = two.stats.fileRead;
          await expect(vol.read()).rejects.toMatchObject({ name: 'CorruptionError', message: expect.stringContaining('c/1/1/2') });
          expect(two.stats.fileRead).toBeGreaterThan(s1);
        }
      }
      // in memory there is no file for a worker to read (a plain chunk would cost a lane copy),
      // sharded or not: ordinary results, nothing sent to the workers
      for (const sharded of [false, true]) {
        const codecs = sharded ? [{ name: 'sharding_indexed', configuration: { chunk_shape: [8, 10, 6], codecs: [bytesLE], index_codecs: [bytesLE, { name: 'crc32c' }] } }] : [bytesLE];
        const metadata = { shape, data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: sharded ? [16, 20, 12] : [8, 10, 6] } }, codecs, fill_value: 0 };
        const mem = await open({ driver: 'zarr3', kvstore: { driver: 'memory', path: `${freshName('mem-raw-two')}/` }, create: true, metadata } as never, { context: ctx });
        await mem.slice([[0, 16], null, null]).write(data);
        const c0 = two.stats.completed;
        for (let i = 0; i < 2; i++) expect((await mem.read()).data.buffer, `memory, sharded ${sharded}`).toBeInstanceOf(ArrayBuffer);
        expect(cBytes(await mem.slice([[0, 16], null, null]).read()).equals(cBytes(data))).toBe(true);
        expect(two.stats.completed).toBe(c0);
      }
    } finally {
      two.close();
    }
  });

  it('a file_io_concurrency below the pool\'s workers is kept: the store reads, workers only decode', async () => {
    const name = freshName('file-limit');
    const shape = [16, 16, 16];
    const w = await open({ ...fileSpec(name), create: true, metadata: { shape, data_type: 'uint8', chunk_grid: { name: 'regular', configuration: { chunk_shape: [4, 16, 16] } }, codecs: [bytesLE, { name: 'zstd' }] } } as never, { context: inlineContext });
    await w.write(randomArray('uint8', shape, 12));
    const read0 = pooled.stats.fileRead;
    const placed0 = pooled.stats.placed;
    const limited = await open(fileSpec(name) as never, { context: new PoolContext(pooled, { file_io_concurrency: { limit: 2 } }) });
    expect(cBytes(await limited.read()).equals(cBytes(randomArray('uint8', shape, 12)))).toBe(true);
    expect(pooled.stats.fileRead - read0).toBe(0);
    expect(pooled.stats.placed - placed0).toBe(4); // decoded and placed by workers all the same
    const open32 = await open(fileSpec(name) as never, { context: pooledContext });
    expect(cBytes(await open32.read()).equals(cBytes(randomArray('uint8', shape, 12)))).toBe(true);
    expect(pooled.stats.fileRead - read0).toBe(4);
    // a limit of one read per worker is enough: a worker reads one file at a time (the tasks
    // waiting in its pipeline read nothing yet)
    const perWorker = await open(fileSpec(name) as never, { context: new PoolContext(pooled, { file_io_concurrency: { limit: pooled.size } }) });
    expect(cBytes(await perWorker.read()).equals(cBytes(randomArray('uint8', shape, 12)))).toBe(true);
    expect(pooled.stats.fileRead - read0).toBe(8);
  });

  it('a directory where a chunk file should be reads as missing; fill_missing_data_reads=false names the chunk', async () => {
    const name = freshName('file-dir');
    const shape = [8, 8, 8];
    const spec = fileSpec(name);
    const w = await open({ ...spec, create: true, metadata: { shape, data_type: 'uint8', chunk_grid: { name: 'regular', configuration: { chunk_shape: [4, 8, 8] } }, codecs: [bytesLE, { name: 'zstd' }], fill_value: 7 } } as never, { context: inlineContext });
    await w.slice([[0, 4], null, null]).write(randomArray('uint8', [4, 8, 8], 3));
    await mkdir(path.join(dir, name, 'c', '1', '0', '0'), { recursive: true }); // chunk c/1/0/0 is a directory
    const read0 = pooled.stats.fileRead;
    const got = await (await open(spec as never, { context: pooledContext })).read();
    expect(cBytes(got).subarray(0, 256).equals(cBytes(randomArray('uint8', [4, 8, 8], 3)))).toBe(true);
    expect([...(got.data as Uint8Array).subarray(256)].every((x) => x === 7)).toBe(true);
    expect(pooled.stats.fileRead - read0).toBe(1); // chunk 0 read by a worker; chunk 1 found missing there
    const strict = await open({ ...spec, fill_missing_data_reads: false } as never, { context: pooledContext });
    await expect(strict.read()).rejects.toThrow(/c\/1\/0\/0.*missing|missing.*c\/1\/0\/0/);
  });

  it('a corrupt chunk file is a CorruptionError and an unreadable one a KvStoreError, both naming the chunk', async () => {
    const name = freshName('file-bad');
    const shape = [8, 8, 8];
    const spec = fileSpec(name);
    const w = await open({ ...spec, create: true, metadata: { shape, data_type: 'uint8', chunk_grid: { name: 'regular', configuration: { chunk_shape: [4, 8, 8] } }, codecs: [bytesLE, { name: 'zstd' }] } } as never, { context: inlineContext });
    await w.write(randomArray('uint8', shape, 4));
    const vol = await open(spec as never, { context: pooledContext });
    const chunk = path.join(dir, name, 'c', '1', '0', '0');
    const good = await readFile(chunk);
    await writeFile(chunk, Buffer.concat([good.subarray(0, 12), Buffer.alloc(good.length - 12, 0xff)]));
    await expect(vol.read()).rejects.toMatchObject({ name: 'CorruptionError', message: expect.stringContaining('c/1/0/0') });
    await rm(chunk);
    await symlink(chunk, chunk); // a link to itself: open fails with ELOOP
    const err = await vol.read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvStoreError);
    expect((err as Error).message).toMatch(/c\/1\/0\/0/);
    expect((err as Error).message).toMatch(/ELOOP/);
  });

  it('aborting a read whose chunks workers are reading and placing: AbortError, nothing lands afterwards', async () => {
    const name = freshName('file-abort');
    const shape = [40, 64, 64];
    const spec = fileSpec(name);
    const w = await open({ ...spec, create: true, metadata: { shape, data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: [4, 32, 32] } }, codecs: [bytesLE, { name: 'zstd' }] } } as never, { context: inlineContext });
    await w.write(randomArray('uint16', shape, 9));
    const vol = await open(spec as never, { context: pooledContext });
    const out = new NdArray('uint16', NdArray.zeros('uint16', [product(shape)], undefined, true).data, shape);
    const { rejected } = await abortRounds(vol, out, [0, 2, 5, 10, 30]);
    expect(rejected).toBeGreaterThan(1);
    expect(cBytes(await vol.read()).equals(cBytes(randomArray('uint16', shape, 9)))).toBe(true);
  });
});
