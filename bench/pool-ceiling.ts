/**
 * How far a codec worker pool can go on this machine: the `codecs` workload's target case (61
 * zstd(3) 64^3 uint8 chunks, each decoded into its spot of a shared result) timed four ways in
 * interleaved rounds, then the raw scaling of decode + place on dedicated threads.
 *
 *   npx tsx bench/pool-ceiling.ts [--rounds N] [--threads N]
 *
 * - inline: `chain.decodeInto` on the calling thread (what the pool is measured against);
 * - pool: the same through volstore's CodecWorkerPool (messages per task, lanes, batching);
 * - counter: no messages per chunk at all. The calling thread copies every chunk's bytes into
 *   one shared buffer (the copy the pool's lanes make: chunk bytes in ordinary memory cannot be
 *   read by another thread), bumps a generation word, and N dedicated threads take chunk indices
 *   from an atomic counter, decode (native zstd) and place; the last one posts one message. An
 *   upper bound for any pool design fed with in-memory chunk bytes;
 * - counter, bytes already shared: the same without the copy (chunk bytes already in shared
 *   memory, as when workers read chunk files themselves).
 *
 * Then each of 1 and N threads decodes and places its own copy of the chunks back to back for
 * a fixed time, with no coordination at all: the hardware's own scaling of this work.
 * Numbers are medians; compare ratios within one run (do not run it beside a test suite).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, workerData, type Worker } from 'node:worker_threads';
import { bytesOf } from '../src/array/dtype.js';
import { NdArray, product } from '../src/array/ndarray.js';
import { type ChunkPlacement, placeChunk } from '../src/array/place.js';
import { median } from '../src/bench/timing.js';
import { chunksOf, placementsOf, zstdCliBench } from '../src/bench/workloads/codecs.js';
import { CodecChain } from '../src/codecs/chain.js';
import { nativeZstd } from '../src/codecs/native.js';
import { startNodeWorker } from '../src/workers/node.js';
import { CodecWorkerPool } from '../src/workers/pool.js';

const E = 64;
const CODECS = [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd', configuration: { level: 3 } }];

/** What a thread of this script is sent. */
interface ThreadData {
  mode: 'counter' | 'solo';
  /** counter: [next chunk, chunk count, chunks done, generation]; solo: [ready threads, threads]. */
  control: SharedArrayBuffer;
  /** counter: all chunks' bytes back to back (shared); solo: the chunks (copied to this thread). */
  input: SharedArrayBuffer | Uint8Array[];
  offsets: number[];
  result: SharedArrayBuffer;
  placements: ChunkPlacement[];
  soloMs: number;
}

async function thread(d: ThreadData): Promise<void> {
  const zstd = await nativeZstd();
  if (!zstd) throw new Error('native zstd (zstd-napi) did not load');
  const c = new Int32Array(d.control);
  const dst = new Uint8Array(d.result);
  const scratch = new Uint8Array(E ** 3);
  const chunk = new NdArray('uint8', scratch, [E, E, E]);
  const one = (src: Uint8Array, i: number) => {
    zstd.decode(src, E ** 3, scratch);
    placeChunk(dst, d.placements[i]!, chunk);
  };
  if (d.mode === 'solo') {
    const chunks = d.input as Uint8Array[];
    for (let r = 0; r < 50; r++) chunks.forEach(one); // warm
    Atomics.add(c, 0, 1);
    while (Atomics.load(c, 0) < c[1]!) Atomics.wait(c, 0, Atomics.load(c, 0), 1); // start together
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < d.soloMs) {
      chunks.forEach(one);
      n += chunks.length;
    }
    parentPort!.postMessage((n * E ** 3) / (performance.now() - t0) / 1e3);
    return;
  }
  const bytes = new Uint8Array(d.input as SharedArrayBuffer);
  let generation = 0;
  parentPort!.postMessage('ready');
  for (;;) {
    Atomics.wait(c, 3, generation);
    generation = Atomics.load(c, 3);
    const count = c[1]!;
    for (let i = Atomics.add(c, 0, 1); i < count; i = Atomics.add(c, 0, 1)) {
      one(bytes.subarray(d.offsets[i]!, d.offsets[i + 1]!), i);
      if (Atomics.add(c, 2, 1) === count - 1) parentPort!.postMessage('done');
    }
  }
}

function start(data: ThreadData): Worker {
  return startNodeWorker(new URL(import.meta.url), data as unknown as Record<string, unknown>);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '40' }, threads: { type: 'string' } } });
  const rounds = Number(values.rounds);
  const threads = Number(values.threads ?? os.availableParallelism());
  const chunks = chunksOf('uint8', E, 16e6, 0);
  const chain = await CodecChain.create(CODECS, { dtype: 'uint8', shape: [E, E, E], fillValue: 0 });
  const encoded = await Promise.all(chunks.map((a) => chain.encodeInline(a)));
  const { volShape, placements } = placementsOf(chunks.length, E, 1);
  const rawBytes = chunks.length * E ** 3;
  const results = { inline: new SharedArrayBuffer(product(volShape)), other: new SharedArrayBuffer(product(volShape)) };
  const expected = new Uint8Array(results.inline);
  const offsets = [0];
  for (const b of encoded) offsets.push(offsets[offsets.length - 1]! + b.length);
  const shared = new SharedArrayBuffer(offsets[offsets.length - 1]!);
  const sharedBytes = new Uint8Array(shared);
  const control = new SharedArrayBuffer(16);
  const c = new Int32Array(control);
  const counterThreads = Array.from({ length: threads }, () =>
    start({ mode: 'counter', control, input: shared, offsets, result: results.other, placements, soloMs: 0 }));
  let finished: (() => void) | undefined;
  await Promise.all(counterThreads.map((w) => new Promise<void>((ready, fail) => {
    w.on('message', (m) => (m === 'ready' ? ready() : finished?.()));
    w.on('error', fail);
  })));
  const counter = (copy: boolean) => async () => {
    if (copy) encoded.forEach((b, i) => sharedBytes.set(b, offsets[i]));
    const done = new Promise<void>((r) => (finished = r));
    // the count and the done counter before the next index: a thread still leaving the last
    // batch may take index 0 as soon as it is reset, and its chunk then counts in this batch
    Atomics.store(c, 1, encoded.length);
    Atomics.store(c, 2, 0);
    Atomics.store(c, 0, 0);
    Atomics.add(c, 3, 1);
    Atomics.notify(c, 3);
    await done;
  };
  sharedBytes.set(Buffer.concat(encoded));
  const pool = new CodecWorkerPool({ size: threads, minDecodeBytes: 0 });
  await pool.warm();
  const into = (runner: CodecWorkerPool | undefined, result: SharedArrayBuffer) => () =>
    Promise.all(encoded.map((b, i) => chain.decodeInto(b, { runner }, { dst: new Uint8Array(result), placement: placements[i]! }))).then(() => undefined);
  const contenders: [string, () => Promise<void>][] = [
    ['inline (calling thread)', into(undefined, results.inline)],
    [`pool (${threads} workers)`, into(pool, results.other)],
    [`counter (${threads} threads)`, counter(true)],
    [`counter, bytes already shared`, counter(false)],
  ];
  // warm-up: every worker's JIT, for ~2 s; then each contender's result checked once (checks
  // between timed runs would change what they measure: the threads' idle time before a run)
  for (const until = performance.now() + 2000; performance.now() < until;) for (const [, run] of contenders) await run();
  for (const [name, run] of contenders.slice(1)) {
    new Uint8Array(results.other).fill(0);
    await run();
    if (!Buffer.from(results.other).equals(Buffer.from(expected))) throw new Error(`${name}: the result differs from the inline decode`);
  }
  const times = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of contenders) {
      const t0 = performance.now();
      await run();
      times.get(name)!.push(performance.now() - t0);
    }
  }
  pool.close();
  for (const w of counterThreads) void w.terminate();

  const inline = median(times.get(contenders[0]![0])!);
  console.log(`${chunks.length} zstd(3) ${E}^3 uint8 chunks (${(rawBytes / 1e6).toFixed(1)} MB decoded), ${rounds} interleaved rounds, medians:`);
  for (const [name] of contenders) {
    const ms = median(times.get(name)!);
    console.log(`  ${name.padEnd(32)} ${ms.toFixed(2).padStart(7)} ms  ${(rawBytes / ms / 1e3).toFixed(0).padStart(5)} MB/s  ${(inline / ms).toFixed(2)}x inline`);
  }

  // the hardware's own scaling: each thread decodes and places its own chunks, no coordination
  const solo = async (k: number) => {
    const ctl = new SharedArrayBuffer(8);
    new Int32Array(ctl)[1] = k;
    const rates = await Promise.all(Array.from({ length: k }, () => new Promise<number>((resolve, reject) => {
      const w = start({ mode: 'solo', control: ctl, input: encoded, offsets, result: new SharedArrayBuffer(product(volShape)), placements, soloMs: 3000 });
      w.on('message', (m: number) => { resolve(m); void w.terminate(); });
      w.on('error', reject);
    })));
    return rates.reduce((a, b) => a + b, 0);
  };
  const one = await solo(1);
  const all = await solo(threads);
  console.log(`decode + place, each thread on its own chunks for 3 s: 1 thread ${one.toFixed(0)} MB/s, ${threads} threads ${all.toFixed(0)} MB/s (${(all / one).toFixed(2)}x)`);

  if (existsSync('/usr/bin/zstd')) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'volstore-ceiling-'));
    try {
      const file = path.join(dir, 'chunks.raw');
      writeFileSync(file, Buffer.concat(chunks.map((a) => bytesOf(a.data))));
      const cli = zstdCliBench(file, 3, E ** 3)?.[1];
      if (cli) {
        console.log(`zstd -b3 decode, one thread: ${cli.toFixed(0)} MB/s; per thread above: 1 thread ${(one / cli).toFixed(2)}x, ${threads} threads ${(all / threads / cli).toFixed(2)}x`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  process.exit(0);
}

if (isMainThread) await main();
else await thread(workerData as ThreadData);
