/**
 * The codec worker pool (src/workers): results byte-identical to the inline path for every codec
 * and dtype (property test), typed errors across threads, abort freeing slots at once, crash
 * replacement with WorkerCrashError, fallback to inline when workers cannot start or cannot build
 * a chain, no deadlock for chains nesting chains, and integration through open() + Context.
 */
import fc from 'fast-check';
import { availableParallelism } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { allocSharedTypedArray, DATA_TYPES, type DataType, type Scalar, bytesOf, dtypeSize, isBigIntDtype } from '../../src/array/dtype.js';
import { cOrderStrides, NdArray, product } from '../../src/array/ndarray.js';
import type { ChunkPlacement } from '../../src/array/place.js';
import { CodecChain } from '../../src/codecs/chain.js';
import type { CodecJSON } from '../../src/codecs/codec.js';
import { AbortError, CodecError, Context, CorruptionError, open } from '../../src/index.js';
import { registerShardingCodec } from '../../src/sharding/zarr3.js';
import { mulberry32 } from '../../src/testing/prng.js';
import { RequestPriority } from '../../src/util/limiter.js';
import { nodePlatform } from '../../src/workers/node.js';
import { CodecWorkerPool, PIPELINE, WorkerCrashError, type WorkerPlatform } from '../../src/workers/pool.js';
import { freshName } from '../core/helpers.js';
import { registerTestCodecs } from './test-codecs.js';

registerTestCodecs();
registerShardingCodec();

const TEST_ENTRY = new URL('./test-worker.ts', import.meta.url);
const testPlatform = async () => nodePlatform(TEST_ENTRY);

const pools: CodecWorkerPool[] = [];
/** A started pool that takes every chunk (no size crossover), closed after the tests. */
async function pool(size: number, platform: () => Promise<WorkerPlatform | undefined> = testPlatform): Promise<CodecWorkerPool> {
  const p = new CodecWorkerPool({ size, minDecodeBytes: 0, minEncodeBytes: 0, platform });
  pools.push(p);
  await p.warm();
  return p;
}
afterAll(() => {
  for (const p of pools) p.close();
});

/** Random values of a dtype, structured enough for compressors to find runs. */
function randomArray(dtype: DataType, shape: number[], seed: number): NdArray {
  const r = mulberry32(seed);
  const a = NdArray.zeros(dtype, shape);
  const d = a.data as unknown as { [i: number]: number | bigint; length: number };
  let v = 0;
  for (let i = 0; i < d.length; i++) {
    if (r() < 0.3) v = Math.floor(r() * 200) - (dtype.startsWith('int') ? 100 : 0);
    if (dtype === 'bool') d[i] = v & 1;
    else if (isBigIntDtype(dtype)) d[i] = BigInt(v) * (dtype === 'uint64' ? 1n : -3n) + (dtype === 'uint64' ? 1n << 40n : 0n);
    else if (dtype === 'float16') d[i] = 0x3c00 + (v & 0x3ff); // finite binary16 values
    else if (dtype.startsWith('float')) d[i] = v / 8 + r() / 1024;
    else d[i] = v;
  }
  return a;
}

const bytesCodec: CodecJSON = { name: 'bytes', configuration: { endian: 'little' } };
const fillOf = (dtype: DataType): Scalar => (dtype === 'bool' ? false : isBigIntDtype(dtype) ? 0n : 0);

/** Codec chains for a dtype and shape: every codec the registry has, where it applies. */
function chainsFor(dtype: DataType, shape: number[]): CodecJSON[][] {
  const size = dtypeSize(dtype);
  const chains: CodecJSON[][] = [
    [bytesCodec, { name: 'zstd', configuration: { level: 3 } }],
    [bytesCodec, { name: 'gzip', configuration: { level: 5 } }],
    [bytesCodec, { name: 'zlib', configuration: { level: 1 } }],
    [bytesCodec, { name: 'lz4', configuration: { acceleration: 1 } }],
    [bytesCodec, { name: 'bz2', configuration: { level: 5 } }],
    [bytesCodec, { name: 'blosc', configuration: { cname: 'zstd', clevel: 5, shuffle: 'shuffle', typesize: size } }],
    [bytesCodec, { name: 'blosc', configuration: { cname: 'lz4', clevel: 5, shuffle: 'bitshuffle', typesize: size } }],
    [bytesCodec, { name: 'blosc', configuration: { cname: 'zlib', clevel: 3, shuffle: 'noshuffle', typesize: size } }],
    [bytesCodec, { name: 'shuffle', configuration: { elementsize: size } }, { name: 'zstd', configuration: { level: 1 } }, { name: 'crc32c' }],
    [{ name: 'transpose', configuration: { order: shape.map((_, i) => shape.length - 1 - i) } }, { name: 'bytes', configuration: { endian: 'big' } }, { name: 'gzip' }],
  ];
  if (dtype !== 'bool' && !isBigIntDtype(dtype) && dtype !== 'float16') {
    chains.push([{ name: 'delta', configuration: { dtype } }, bytesCodec, { name: 'zstd', configuration: { level: 1 } }]);
  }
  if (dtype === 'float32' || dtype === 'float64') chains.push([{ name: 'bitround', configuration: { keepbits: 6 } }, bytesCodec, { name: 'lz4' }]);
  if ((dtype === 'uint32' || dtype === 'uint64') && (shape.length === 3 || shape.length === 4)) {
    chains.push([{ name: 'compressed_segmentation', configuration: { block_size: [2, 3, 2] } }, { name: 'gzip' }]);
  }
  const channels = shape[shape.length - 1]!;
  if (dtype === 'uint8' && shape.length === 4 && (channels === 1 || channels === 3)) chains.push([{ name: 'jpeg', configuration: { quality: 80 } }]);
  if ((dtype === 'uint8' || dtype === 'uint16') && shape.length === 4 && channels <= 4) chains.push([{ name: 'png', configuration: { level: 3 } }]);
  return chains;
}

/** Same dtype, shape, strides, offset and bytes. */
function expectIdentical(a: NdArray, b: NdArray): void {
  expect([b.dtype, b.shape, b.strides, b.offset]).toEqual([a.dtype, a.shape, a.strides, a.offset]);
  expect(Buffer.from(bytesOf(b.data)).equals(Buffer.from(bytesOf(a.data)))).toBe(true);
}

/** Encodes and decodes `a` inline and through `p`; expects identical bytes and arrays. */
async function expectSameAsInline(p: CodecWorkerPool, codecs: CodecJSON[], a: NdArray): Promise<void> {
  const chain = await CodecChain.create(codecs, { dtype: a.dtype, shape: a.shape, fillValue: fillOf(a.dtype) });
  const what = `${JSON.stringify(codecs)} ${a.dtype} [${a.shape}]`;
  const inlineBytes = await chain.encodeInline(a);
  const before = p.stats.completed;
  const pooledBytes = await chain.encode(a, { runner: p });
  expect(Buffer.from(pooledBytes).equals(Buffer.from(inlineBytes)), `${what}: encode`).toBe(true);
  const inlineArr = await chain.decodeInline(inlineBytes);
  const pooledArr = await chain.decode(inlineBytes, { runner: p, key: 'k' });
  expectIdentical(inlineArr, pooledArr);
  // decodeInto (the read path) places the chunk into a bigger result, reversed along the last
  // dimension: into shared memory (the worker writes it) and into ordinary memory (the chunk
  // comes back in the task's lane and is placed here)
  const size = dtypeSize(a.dtype);
  const outShape = a.shape.map((n) => n + 1);
  const dstStrides = cOrderStrides(outShape).map((x) => x * size);
  const last = a.shape.length - 1;
  const placement: ChunkPlacement = {
    shape: [...a.shape],
    dstOffset: dstStrides.reduce((s, x) => s + x, 0),
    dstStrides,
    start: a.shape.map((n, i) => (i === last ? n - 1 : 0)),
    dims: a.shape.map((_, i) => i),
    steps: a.shape.map((_, i) => (i === last ? -1 : 1)),
  };
  const expected = new Uint8Array(product(outShape) * size);
  await chain.decodeInto(inlineBytes, { key: 'k' }, { dst: expected, placement });
  const lanePlaced = p.stats.laneDecoded;
  for (const dst of [bytesOf(allocSharedTypedArray(a.dtype, product(outShape))), new Uint8Array(product(outShape) * size)]) {
    await chain.decodeInto(inlineBytes, { runner: p, key: 'k' }, { dst, placement });
    expect(Buffer.from(dst).equals(Buffer.from(expected)), `${what}: decodeInto ${dst.buffer instanceof SharedArrayBuffer ? 'shared' : 'ordinary'} memory`).toBe(true);
  }
  expect(p.stats.completed, `${what}: ran in a worker`).toBe(before + 4);
  expect(p.stats.laneDecoded, `${what}: the ordinary-memory result came back in the lane`).toBe(lanePlaced + 1);
}

describe('codec worker pool', () => {
  it('returns byte-identical results to the inline path: every codec x every dtype', async () => {
    const p = await pool(2);
    let cases = 0;
    for (const dtype of DATA_TYPES) {
      for (const shape of [[5, 4, 3, 3], [7, 6, 2, 1], [300]]) {
        for (const codecs of chainsFor(dtype, shape)) {
          await expectSameAsInline(p, codecs, randomArray(dtype, shape, cases++));
        }
      }
    }
    expect(cases).toBeGreaterThan(12 * 3 * 10);
    expect(p.stats.crashed).toBe(0);
  });

  it('returns byte-identical results to the inline path for random codecs, dtypes and shapes (property)', async () => {
    const p = await pool(2);
    const seen = new Set<string>();
    const arb = fc.record({
      dtype: fc.constantFrom(...DATA_TYPES),
      shape: fc.oneof(
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }),
        // [x, y, z, channel]: image and segmentation codecs apply
        fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom(1, 3)).map((t) => [...t]),
      ),
      seed: fc.integer(),
      pick: fc.nat(),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ dtype, shape, seed, pick }) => {
        const options = chainsFor(dtype, shape);
        const codecs = options[pick % options.length]!;
        seen.add(`${codecs.map((c) => c.name).join('+')}`);
        await expectSameAsInline(p, codecs, randomArray(dtype, shape, seed));
      }),
      { numRuns: 80 },
    );
    expect(seen.size).toBeGreaterThan(5);
    expect(p.stats.crashed).toBe(0);
    expect(p.workers).toBeLessThanOrEqual(2);
  });

  it('encodeUnlessFill: null for chunks equal to the fill value (checked in the worker), the inline bytes otherwise', async () => {
    const p = await pool(2);
    const before = p.stats.completed;
    for (const [dtype, fill] of [['uint16', 0], ['float32', -0], ['float32', NaN], ['int64', -3n], ['uint8', 7]] as [DataType, Scalar][]) {
      const chain = await CodecChain.create([bytesCodec, { name: 'zstd', configuration: { level: 1 } }], { dtype, shape: [6, 5, 4], fillValue: fill });
      const full = NdArray.zeros(dtype, [6, 5, 4], fill);
      expect(await chain.encodeUnlessFill(full, { runner: p }), `${dtype} ${String(fill)}`).toBeNull();
      // a strided view of fill values (a source holding the chunk), and one element off
      const big = NdArray.zeros(dtype, [12, 5, 8], fill);
      const view = new NdArray(dtype, big.data, [6, 5, 4], [big.strides[0]! * 2, big.strides[1]!, big.strides[2]! * 2]);
      expect(await chain.encodeUnlessFill(view, { runner: p })).toBeNull();
      (big.data as unknown as (number | bigint)[])[big.strides[0]! * 2] = isBigIntDtype(dtype) ? 5n : 5;
      const pooled = await chain.encodeUnlessFill(view, { runner: p });
      const inline = await chain.encodeUnlessFill(view);
      expect(pooled).not.toBeNull();
      expect(Buffer.from(pooled!).equals(Buffer.from(inline!))).toBe(true);
    }
    expect(p.stats.completed - before).toBe(15);
  });

  it('rethrows codec errors as the same typed errors the inline path throws', async () => {
    const p = await pool(1);
    const chain = await CodecChain.create([bytesCodec, { name: 'zstd' }, { name: 'crc32c' }], { dtype: 'uint16', shape: [100], fillValue: 0 });
    const good = await chain.encodeInline(randomArray('uint16', [100], 3));
    const bad = good.slice();
    bad[bad.length - 1]! ^= 1; // break the checksum
    const inline = await chain.decodeInline(bad, { key: 'c/1/2' }).catch((e: unknown) => e);
    const pooled = await chain.decode(bad, { key: 'c/1/2', runner: p }).catch((e: unknown) => e);
    expect(inline).toBeInstanceOf(CorruptionError);
    expect(pooled).toBeInstanceOf(CorruptionError);
    expect((pooled as CorruptionError).message).toBe((inline as CorruptionError).message);
    expect((pooled as CorruptionError).key).toBe('c/1/2');
    expect((pooled as CorruptionError).code).toBe('corruption');
    expect(p.stats.completed).toBe(1);
  });

  it('an aborted task frees its slot at once: queued, waiting in a worker, or running', async () => {
    const p = await pool(1);
    const spin = await CodecChain.create([bytesCodec, { name: 'test_spin' }], { dtype: 'uint8', shape: [4], fillValue: 0 });
    const zstd = await CodecChain.create([bytesCodec, { name: 'zstd' }], { dtype: 'uint8', shape: [1000], fillValue: 0 });
    const data = randomArray('uint8', [1000], 9);
    const encoded = await zstd.encodeInline(data);

    // the worker gets stuck in a synchronous decode that never ends...
    const stuck = new AbortController();
    const running = spin.decode(new Uint8Array([0xff, 1, 2, 3]), { runner: p, signal: stuck.signal });
    // ...with tasks sent behind it (in the worker's queue: its pipeline full), and two more in
    // the pool's queue
    const inWorker = new AbortController();
    const sentBehind = zstd.decode(encoded, { runner: p, signal: inWorker.signal });
    const fillers = Array.from({ length: PIPELINE - 2 }, () => zstd.decode(encoded, { runner: p }));
    const waiting = new AbortController();
    const queued = zstd.decode(encoded, { runner: p, signal: waiting.signal });
    const survivor = zstd.decode(encoded, { runner: p });
    expect([p.running, p.queued]).toEqual([PIPELINE, 2]);

    waiting.abort();
    await expect(queued).rejects.toBeInstanceOf(AbortError);
    expect([p.running, p.queued]).toEqual([PIPELINE, 1]);
    inWorker.abort();
    await expect(sentBehind).rejects.toBeInstanceOf(AbortError);
    // its place in the worker went to the survivor at once
    expect([p.running, p.queued]).toEqual([PIPELINE, 0]);

    // the stuck task runs in its worker once the worker has loaded the chain
    while (p.executing < 1) await new Promise((r) => setTimeout(r, 5));
    stuck.abort(new Error('user cancelled'));
    // the caller is released at once (the task's lane tells the worker not to write anything)...
    await expect(running).rejects.toBeInstanceOf(AbortError);
    // ...and the worker, still stuck after the grace period, is replaced: the survivor runs in
    // a new one although the old one never returned
    expectIdentical(data, await survivor);
    for (const f of fillers) expectIdentical(data, await f);
    expect(p.stats.abortedRunning).toBe(1);
    expect(p.stats.spawned).toBe(2);
    expect(p.workers).toBe(1);
    // an already-aborted signal never reaches a worker
    await expect(zstd.decode(encoded, { runner: p, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(p.stats.completed).toBe(1 + fillers.length);
  });

  it('prefetch decodes never take every worker: a demand decode runs at once; a prefetch a demand read joins goes ahead', async () => {
    const p = await pool(2);
    const spin = await CodecChain.create([bytesCodec, { name: 'test_spin' }], { dtype: 'uint8', shape: [4], fillValue: 0 });
    const zstd = await CodecChain.create([bytesCodec, { name: 'zstd' }], { dtype: 'uint8', shape: [1000], fillValue: 0 });
    const data = randomArray('uint8', [1000], 11);
    const encoded = await zstd.encodeInline(data);
    const ac = new AbortController();
    // prefetch decodes that never end: they fill one worker's pipeline, the last one waits
    const tickets = Array.from({ length: PIPELINE + 1 }, () => new RequestPriority('prefetch'));
    const stuck = tickets.map((priority) => spin.decode(new Uint8Array([0xff, 1, 2, 3]), { runner: p, signal: ac.signal, priority }).catch((e: unknown) => e));
    expect([p.running, p.queued]).toEqual([PIPELINE, 1]);
    // a demand decode finds the other worker free
    expectIdentical(await zstd.decode(encoded, { runner: p, key: 'demand' }), await zstd.decodeInline(encoded));
    expect([p.running, p.queued]).toEqual([PIPELINE, 1]);
    // raised to demand (a demand read joined that load): it goes to the free worker now
    tickets[PIPELINE]!.raise();
    expect([p.running, p.queued]).toEqual([PIPELINE + 1, 0]);
    ac.abort();
    for (const r of await Promise.all(stuck)) expect(r).toBeInstanceOf(AbortError);
  });

  it('knows its size before its platform has loaded: the cores the runtime reports', () => {
    const p = new CodecWorkerPool();
    expect(p.size).toBe(availableParallelism());
    expect(new CodecWorkerPool({ size: 3 }).size).toBe(3);
    p.close();
  });

  it('busy workers answer for several chunks in one message, and every chunk lands where the inline path puts it', async () => {
    const p = await pool(2);
    const e = 48;
    const n = 40;
    const chain = await CodecChain.create([bytesCodec, { name: 'zstd', configuration: { level: 3 } }], { dtype: 'uint16', shape: [e, e, e], fillValue: 0 });
    // smooth data with noise: decodes take a while (so tasks wait behind each other in a worker)
    const rand = mulberry32(21);
    const encoded = await Promise.all(Array.from({ length: n }, async (_, i) => {
      const a = NdArray.zeros('uint16', [e, e, e]);
      const d = a.data as Uint16Array;
      for (let k = 0; k < d.length; k++) d[k] = ((k >> 6) + i * 7 + Math.floor(rand() * 4)) & 0xffff;
      return chain.encodeInline(a);
    }));
    // chunk i at (i, 0, 0) of an [n*e, e, e] result, transposed in its last two axes
    const shape = [n * e, e, e];
    const strides = cOrderStrides(shape).map((x) => x * 2);
    const placement = (i: number): ChunkPlacement => ({ shape: [e, e, e], dstOffset: i * e * strides[0]!, dstStrides: [strides[0]!, strides[2]!, strides[1]!], start: [0, 0, 0], dims: [0, 1, 2], steps: [1, 1, 1] });
    const expected = new Uint8Array(n * e ** 3 * 2);
    await Promise.all(encoded.map((b, i) => chain.decodeInto(b, { key: `c/${i}` }, { dst: expected, placement: placement(i) })));
    const dst = bytesOf(allocSharedTypedArray('uint16', n * e ** 3));
    const placed = p.stats.placed;
    await Promise.all(encoded.map((b, i) => chain.decodeInto(b, { runner: p, key: `c/${i}` }, { dst, placement: placement(i) })));
    expect(p.stats.placed - placed).toBe(n);
    expect(p.stats.replyBatches).toBeGreaterThan(0);
    expect(Buffer.from(dst).equals(Buffer.from(expected))).toBe(true);
  });

  it('a crashing worker fails its task with WorkerCrashError and is replaced', async () => {
    const p = await pool(2);
    const crash = await CodecChain.create([bytesCodec, { name: 'test_crash' }], { dtype: 'uint8', shape: [3], fillValue: 0 });
    const ok = await crash.decode(new Uint8Array([1, 2, 3]), { runner: p });
    expect([...ok.data]).toEqual([1, 2, 3]);
    const err = await crash.decode(new Uint8Array([0xee, 0, 0]), { runner: p, key: 'x/0' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashError);
    expect(err).toBeInstanceOf(CodecError);
    expect((err as WorkerCrashError).code).toBe('codec');
    expect((err as Error).name).toBe('WorkerCrashError');
    expect((err as Error).message).toContain('x/0');
    expect(p.stats.crashed).toBe(1);
    // other tasks keep working, on a replacement worker
    expect(await p.warm()).toBe(true);
    const results = await Promise.all([1, 2, 3, 4].map((v) => crash.decode(new Uint8Array([v, v, v]), { runner: p })));
    expect(results.map((r) => r.data[0])).toEqual([1, 2, 3, 4]);
    expect(p.enabled).toBe(true);

    // tasks sent to a worker behind the one that kills it go to another worker
    const one = await pool(1);
    const both = await Promise.allSettled([0xee, 5, 6].map((v) => crash.decode(new Uint8Array([v, 0, 0]), { runner: one })));
    expect(both[0]!.status).toBe('rejected');
    expect((both[0] as PromiseRejectedResult).reason).toBeInstanceOf(WorkerCrashError);
    expect(both.slice(1).map((r) => (r as PromiseFulfilledResult<NdArray>).value.data[0])).toEqual([5, 6]);
    expect([one.stats.crashed, one.stats.spawned, one.stats.completed]).toEqual([1, 2, 2]);
  });

  it('a finished chunk\'s reply is not held back behind a slow task', async () => {
    const p = await pool(1);
    const fast = await CodecChain.create([bytesCodec, { name: 'test_crash' }], { dtype: 'uint8', shape: [3], fillValue: 0 }); // a copy, unless 0xee
    const slow = await CodecChain.create([bytesCodec, { name: 'test_slow' }], { dtype: 'uint8', shape: [3], fillValue: 0 }); // 30 ms
    const dst = bytesOf(allocSharedTypedArray('uint8', 3 * 8));
    const into = (chain: CodecChain, v: number, i: number) => chain.decodeInto(new Uint8Array([v, v, v]), { runner: p, key: `c/${i}` }, { dst, placement: { shape: [3], dstOffset: 3 * i, dstStrides: [1], start: [0], dims: [0], steps: [1] } });
    // the worker learns how long each chain's tasks take
    await Promise.all([into(fast, 1, 0), into(fast, 1, 1), into(slow, 2, 2)]);
    // a fast chunk with a slow one and a fast one behind it: its reply goes at once
    const a = into(fast, 3, 3);
    const b = into(slow, 4, 4);
    const c = into(fast, 5, 5);
    await a;
    expect([...dst.subarray(9, 12)]).toEqual([3, 3, 3]);
    let bDone = false;
    void b.then(() => (bDone = true));
    await new Promise((r) => setImmediate(r));
    expect(bDone).toBe(false);
    await Promise.all([b, c]);
    expect([...dst.subarray(12, 18)]).toEqual([4, 4, 4, 5, 5, 5]);
  });

  it('a worker that dies holding back finished chunks\' replies fails only the chunk it was running; the finished ones still resolve', async () => {
    const p = await pool(1);
    const crash = await CodecChain.create([bytesCodec, { name: 'test_crash' }], { dtype: 'uint8', shape: [3], fillValue: 0 });
    const dst = bytesOf(allocSharedTypedArray('uint8', 3 * 4));
    const placement = (i: number): ChunkPlacement => ({ shape: [3], dstOffset: 3 * i, dstStrides: [1], start: [0], dims: [0], steps: [1] });
    // chunk 0 finishes while three more wait in the worker (its reply is held back), chunk 1 kills it
    const values = [1, 0xee, 3, 4];
    const settled = await Promise.allSettled(values.map((v, i) => crash.decodeInto(new Uint8Array([v, v, v]), { runner: p, key: `c/${i}` }, { dst, placement: placement(i) })));
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const err = (settled[1] as PromiseRejectedResult).reason as Error;
    expect(err).toBeInstanceOf(WorkerCrashError);
    expect(err.message).toContain('c/1');
    expect([...dst.subarray(0, 3)]).toEqual([1, 1, 1]);
    expect([...dst.subarray(6)]).toEqual([3, 3, 3, 4, 4, 4]);
    expect(p.stats.crashed).toBe(1);
  });

  it('runs chunks inline when workers cannot start, or cannot build the chain', async () => {
    const chain = await CodecChain.create([bytesCodec, { name: 'gzip' }], { dtype: 'int32', shape: [50], fillValue: 0 });
    const a = randomArray('int32', [50], 4);
    const enc = await chain.encodeInline(a);
    // a worker script that does not exist (a bundle that did not ship it)
    const missing = await pool(2, async () => nodePlatform(new URL('./no-such-worker.js', import.meta.url)));
    expectIdentical(a, await chain.decode(enc, { runner: missing }));
    expect(missing.enabled).toBe(false);
    expect(missing.workers).toBe(0);
    expect(missing.decode(chain, enc, {})).toBeUndefined();
    // no worker support at all
    const none = await pool(2, async () => undefined);
    expectIdentical(a, await chain.decode(enc, { runner: none }));
    expect(none.enabled).toBe(false);

    // a codec registered only on this thread (the default worker entry does not know test_spin)
    const p = await pool(1, async () => nodePlatform());
    const local = await CodecChain.create([bytesCodec, { name: 'test_spin' }], { dtype: 'uint8', shape: [3], fillValue: 0 });
    expect([...(await local.decode(new Uint8Array([5, 6, 7]), { runner: p })).data]).toEqual([5, 6, 7]);
    expect(p.stats.inline).toBe(1);
    expect(p.enabled).toBe(true);
    // later chunks of that chain are not even offered to a worker
    expect(p.decode(local, new Uint8Array([1, 2, 3]), {})).toBeUndefined();
  });

  it('sends a chain descriptor once per worker, then only its id (also when the first task was skipped)', async () => {
    const posted: { worker: number; chain: unknown; type: string }[] = [];
    const spying = async (): Promise<WorkerPlatform> => {
      const inner = await testPlatform();
      let n = 0;
      return {
        cores: inner.cores,
        spawn: () => {
          const h = inner.spawn();
          const worker = n++;
          const post = h.post.bind(h);
          h.post = (m, t) => {
            for (const x of m.type === 'tasks' ? m.tasks : [m]) if ('chain' in x) posted.push({ worker, chain: x.chain, type: x.type });
            post(m, t);
          };
          return h;
        },
      };
    };
    const p = await pool(2, spying);
    const codecs: CodecJSON[] = [bytesCodec, { name: 'zstd', configuration: { level: 2 } }];
    const chain = await CodecChain.create(codecs, { dtype: 'uint16', shape: [16, 16], fillValue: 0 });
    const arrays = [1, 2, 3, 4, 5, 6, 7, 8].map((s) => randomArray('uint16', [16, 16], s));
    const encoded = await Promise.all(arrays.map((a) => chain.encode(a, { runner: p })));
    // a task aborted before it starts still delivers its descriptor
    const ac = new AbortController();
    const aborted = chain.decode(encoded[0]!, { runner: p, signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    const decoded = await Promise.all(encoded.map((b) => chain.decode(b, { runner: p })));
    for (let i = 0; i < arrays.length; i++) expectIdentical(arrays[i]!, decoded[i]!);
    for (const w of new Set(posted.map((x) => x.worker))) {
      const mine = posted.filter((x) => x.worker === w);
      expect(typeof mine[0]!.chain, `worker ${w}: first task carries the descriptor`).toBe('object');
      expect(mine.slice(1).every((x) => typeof x.chain === 'number'), `worker ${w}: later tasks carry the id`).toBe(true);
    }
    expect(posted.length).toBeGreaterThanOrEqual(16);
  });

  it('does not deadlock when a chain nests chains (whole-shard codec) on a one-worker pool', async () => {
    const p = await pool(1);
    const spec = { dtype: 'uint16' as const, shape: [32, 32], fillValue: 0 };
    const shard: CodecJSON = {
      name: 'sharding_indexed',
      configuration: { chunk_shape: [8, 8], codecs: [bytesCodec, { name: 'zstd' }], index_codecs: [bytesCodec, { name: 'crc32c' }] },
    };
    const chain = await CodecChain.create([shard], spec);
    const arrays = [1, 2, 3, 4, 5, 6].map((s) => randomArray('uint16', [32, 32], s));
    // encodes and decodes of whole shards in the worker, concurrently, with the runner in ctx
    const encoded = await Promise.all(arrays.map((a) => chain.encode(a, { runner: p })));
    const decoded = await Promise.all(encoded.map((b) => chain.decode(b, { runner: p })));
    for (let i = 0; i < arrays.length; i++) {
      expect(Buffer.from(encoded[i]!).equals(Buffer.from(await chain.encodeInline(arrays[i]!)))).toBe(true);
      expectIdentical(await chain.decodeInline(encoded[i]!), decoded[i]!);
    }
    expect(p.stats.completed).toBe(12);
  });

  it('open(): a Context with data_copy_concurrency routes big chunks through its pool, small ones inline', async () => {
    const context = new Context({ data_copy_concurrency: { limit: 2 } });
    const shared = context.codecPool;
    expect(await shared.warm()).toBe(true);
    expect(new Context({ data_copy_concurrency: { limit: 2 } }).codecPool).toBe(shared);
    const name = freshName('pooled');
    const shape = [128, 128, 64];
    const vol = await open(
      {
        driver: 'zarr3',
        kvstore: `memory://${name}/`,
        create: true,
        metadata: {
          shape,
          data_type: 'uint16',
          chunk_grid: { name: 'regular', configuration: { chunk_shape: [64, 64, 64] } }, // 512 KiB chunks: pooled
          codecs: [bytesCodec, { name: 'zstd', configuration: { level: 1 } }],
        },
      },
      { context },
    );
    const a = randomArray('uint16', shape, 21);
    const before = { ...shared.stats };
    await vol.write(a);
    const back = await vol.read();
    expect(Buffer.from(bytesOf(back.data)).equals(Buffer.from(bytesOf(a.data)))).toBe(true);
    expect(shared.stats.completed - before.completed).toBe(8); // 4 encodes + 4 decodes
    // 16^3 uint16 chunks (8 KiB) stay on the calling thread
    const small = await open(
      {
        driver: 'zarr3',
        kvstore: `memory://${name}-small/`,
        create: true,
        metadata: {
          shape: [32, 32, 32],
          data_type: 'uint16',
          chunk_grid: { name: 'regular', configuration: { chunk_shape: [16, 16, 16] } },
          codecs: [bytesCodec, { name: 'zstd' }],
        },
      },
      { context },
    );
    const s = randomArray('uint16', [32, 32, 32], 5);
    const mid = shared.stats.completed;
    await small.write(s);
    expect(Buffer.from(bytesOf((await small.read()).data)).equals(Buffer.from(bytesOf(s.data)))).toBe(true);
    expect(shared.stats.completed).toBe(mid);
    expect(product(shape)).toBe(a.data.length);
  });
});
