/**
 * Writes that encode in the codec worker pool (views of the source gathered into the worker's
 * lane, the fill check in the worker, N5 and precomputed edge chunks cropped per stored extent)
 * store exactly the bytes inline writes store: same keys, same values, for every format, full
 * and partial (read-modify-write) writes, strided and transposed sources, and chunks equal to
 * the fill value left out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DataType, isBigIntDtype } from '../../src/array/dtype.js';
import { NdArray } from '../../src/array/ndarray.js';
import { Context } from '../../src/context/context.js';
import { buildPrecomputedVolume } from '../../src/drivers/precomputed-info.js';
import { copyVolume, downsampleVolume, open } from '../../src/index.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { mulberry32 } from '../../src/testing/prng.js';
import { CodecWorkerPool } from '../../src/workers/pool.js';
import { freshName } from '../core/helpers.js';

class PoolContext extends Context {
  constructor(private readonly pool: CodecWorkerPool) {
    super();
  }

  override get codecPool(): CodecWorkerPool {
    return this.pool;
  }
}

const pooled = new CodecWorkerPool({ size: 2, minDecodeBytes: 0, minEncodeBytes: 0, minPlaceBytes: 0 });
const inlineContext = new PoolContext(new CodecWorkerPool({ size: 0 }));
const pooledContext = new PoolContext(pooled);
beforeAll(async () => {
  expect(await pooled.warm()).toBe(true);
});
afterAll(() => pooled.close());

/** Values with runs and a zero region (whole chunks equal to the fill value). */
function data(dtype: DataType, shape: readonly number[], seed: number): NdArray {
  const r = mulberry32(seed);
  const a = NdArray.zeros(dtype, shape);
  const d = a.data as unknown as { [i: number]: number | bigint; length: number };
  let v = 0;
  for (let i = 0; i < d.length; i++) {
    if (r() < 0.3) v = Math.floor(r() * 200);
    const x = i < d.length / 3 ? 0 : v; // the first third is fill
    d[i] = isBigIntDtype(dtype) ? BigInt(x) : x;
  }
  return a;
}

/** Every key and value under `prefix` of the shared memory store. */
async function stored(prefix: string): Promise<Map<string, Buffer>> {
  const store = new MemoryStore('');
  const out = new Map<string, Buffer>();
  for await (const k of store.list(prefix)) {
    const r = await store.read(k);
    if (r.state === 'value') out.set(k.slice(prefix.length), Buffer.from(r.value));
  }
  return out;
}

/** Writes the same things through both contexts; expects identical stores. */
async function expectSameStores(make: (kvstore: string) => Record<string, unknown>, shape: number[], dtype: DataType, seed: number, what: string): Promise<void> {
  const names = [freshName('wpool-a'), freshName('wpool-b')];
  for (const [i, context] of [inlineContext, pooledContext].entries()) {
    const kvstore = `memory://${names[i]}/`;
    const vol = await open({ ...make(kvstore), create: true } as never, { context });
    const src = data(dtype, shape, seed);
    await vol.write(src);
    // a transposed view of a bigger array as the source of a partial write (read-modify-write)
    const r = mulberry32(seed + 1);
    const sel = shape.map((n) => {
      const a = Math.floor(r() * (n - 1));
      return [a, a + 1 + Math.floor(r() * (n - a - 1))] as [number, number];
    });
    const sub = vol.slice(sel);
    const rev = [...Array(shape.length).keys()].reverse();
    const big = data(dtype, sub.shape.slice().reverse().map((n) => n + 1), seed + 2);
    const view = new NdArray(dtype, big.data, sub.shape, rev.map((k) => big.strides[k]!));
    await sub.write(view);
  }
  const [a, b] = [await stored(`${names[0]}/`), await stored(`${names[1]}/`)];
  expect([...b.keys()].sort(), `${what}: keys`).toEqual([...a.keys()].sort());
  for (const [k, v] of a) expect(b.get(k)!.equals(v), `${what}: ${k}`).toBe(true);
}

describe('writes encoding in the pool', () => {
  it('store the same bytes as inline writes: zarr v3, N5, precomputed', async () => {
    const before = pooled.stats.completed;
    const bytes = { name: 'bytes', configuration: { endian: 'little' } };
    const z3 = (codecs: unknown[], chunk: number[]) => (kvstore: string) => ({
      driver: 'zarr3', kvstore, metadata: { shape: [12, 10, 9], data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: chunk } }, codecs, fill_value: 0 },
    });
    await expectSameStores(z3([bytes, { name: 'zstd' }], [4, 5, 4]), [12, 10, 9], 'uint16', 1, 'zarr3 zstd');
    await expectSameStores(z3([{ name: 'transpose', configuration: { order: [2, 1, 0] } }, { name: 'bytes', configuration: { endian: 'big' } }, { name: 'gzip' }], [4, 5, 4]), [12, 10, 9], 'uint16', 2, 'zarr3 transpose gzip');
    await expectSameStores(
      z3([{ name: 'sharding_indexed', configuration: { chunk_shape: [4, 5, 3], codecs: [bytes, { name: 'zstd' }], index_codecs: [bytes, { name: 'crc32c' }] } }], [8, 10, 6]),
      [12, 10, 9], 'uint16', 3, 'zarr3 sharded',
    );
    for (const compression of [{ type: 'gzip' }, { type: 'zstd' }, { type: 'raw' }]) {
      await expectSameStores(
        (kvstore) => ({ driver: 'n5', kvstore, metadata: { dimensions: [12, 10, 9], blockSize: [5, 4, 4], dataType: 'int32', compression } }),
        [12, 10, 9], 'int32', 4, `n5 ${compression.type}`,
      );
    }
    for (const [encoding, dtype, channels] of [['raw', 'float32', 2], ['compressed_segmentation', 'uint64', 1], ['png', 'uint16', 2], ['jpeg', 'uint8', 3]] as const) {
      for (const sharding of ['none', 'rectangular'] as const) {
        const { spec } = buildPrecomputedVolume({ dtype, shape: [12, 10, 9, channels], chunk: [5, 4, 4], encoding, blockSize: [2, 2, 2], sharding, shardShape: [10, 8, 8] });
        await expectSameStores((kvstore) => ({ ...spec, kvstore }), [12, 10, 9, channels], dtype, 5, `precomputed ${encoding} ${sharding}`);
      }
    }
    expect(pooled.stats.completed - before).toBeGreaterThan(100); // the pooled side did encode in workers
  });
});

describe('jobs through the pool', () => {
  it('copyVolume and downsampleVolume decode and encode in the workers (the read result is shared memory the workers encode from)', async () => {
    const shape = [32, 40, 24];
    const meta = (chunk: number[], s: number[]) => ({ shape: s, data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: chunk } }, codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd' }] });
    const src = await open({ driver: 'zarr3', kvstore: `memory://${freshName('job-src')}/`, create: true, metadata: meta([16, 20, 12], shape) } as never, { context: inlineContext });
    const a = data('uint16', shape, 9);
    await src.write(a);
    const srcPooled = await open(src.spec() as never, { context: pooledContext });
    const dst = await open({ driver: 'zarr3', kvstore: `memory://${freshName('job-dst')}/`, create: true, metadata: meta([8, 10, 12], shape) } as never, { context: pooledContext });
    const before = { ...pooled.stats };
    await copyVolume(srcPooled, dst);
    expect(pooled.stats.placed - before.placed).toBeGreaterThan(0);
    expect(pooled.stats.completed - before.completed).toBeGreaterThan(pooled.stats.placed - before.placed); // encodes too
    const back = await (await open(dst.spec() as never, { context: inlineContext })).read();
    expect(Buffer.from(back.data.buffer as ArrayBuffer, back.data.byteOffset, back.data.byteLength).equals(Buffer.from(a.data.buffer as ArrayBuffer))).toBe(true);
    // downsampling 2x: same bytes as without workers
    const half = [16, 20, 12];
    const outs = [];
    for (const context of [pooledContext, inlineContext]) {
      const d = await open({ driver: 'zarr3', kvstore: `memory://${freshName('job-ds')}/`, create: true, metadata: meta([8, 10, 12], half) } as never, { context });
      await downsampleVolume(await open(src.spec() as never, { context }), d, { factors: [2, 2, 2] });
      outs.push(await d.read());
    }
    expect(Buffer.from(new Uint8Array(outs[0]!.data.buffer, outs[0]!.data.byteOffset, outs[0]!.data.byteLength)).equals(Buffer.from(new Uint8Array(outs[1]!.data.buffer, outs[1]!.data.byteOffset, outs[1]!.data.byteLength)))).toBe(true);
  });
});
