import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { allocSharedTypedArray, type DataType, bytesOf, dtypeSize } from '../../array/dtype.js';
import { cOrderStrides, NdArray, product } from '../../array/ndarray.js';
import type { ChunkPlacement } from '../../array/place.js';
import { CodecChain } from '../../codecs/chain.js';
import type { CodecJSON } from '../../codecs/codec.js';
import { setNodeZlibEnabled } from '../../codecs/compression-util.js';
import { configureNativeCodecs, nativeCodecsEnabled, nativeZstd } from '../../codecs/native.js';
import { CodecWorkerPool, DEFAULT_MIN_POOLED_BYTES } from '../../workers/pool.js';
import { generateSegmentation } from '../seg-gen.js';
import { mbPerSec, measureInterleaved, median, type Contender } from '../timing.js';
import type { BenchOptions, Measured, Workload, WorkloadResult } from '../types.js';
import { generateVolume } from '../volume-gen.js';
import { BenchVerificationError } from './zarr3-file.js';

/**
 * Issue 11: chunk codecs on their own, per codec and chunk size: volstore's decode and encode
 * speed inline with the portable WASM/JS codecs, inline with the native ones (zstd-napi,
 * node:zlib), and in the codec worker pool (one worker per core), next to Debian's `zstd -b`
 * and `gzip` on the same chunk bytes in the same run; then the crossover: from which chunk size
 * the pool beats decoding inline (what sets DEFAULT_MIN_POOLED_BYTES).
 */

interface CodecCase {
  name: string;
  codecs: CodecJSON[];
  dtype: DataType;
  /** Native backend exists for this codec (an inline-native row is shown). */
  native: boolean;
  /** The Debian CLI measured against it. */
  cli?: 'zstd' | 'gzip';
  /** Chunk edges to measure (cubes). */
  edges: number[];
}

const bytesLE: CodecJSON = { name: 'bytes', configuration: { endian: 'little' } };

const CASES: CodecCase[] = [
  { name: 'zstd(3)', codecs: [bytesLE, { name: 'zstd', configuration: { level: 3 } }], dtype: 'uint8', native: true, cli: 'zstd', edges: [64, 128] },
  { name: 'gzip(6)', codecs: [bytesLE, { name: 'gzip', configuration: { level: 6 } }], dtype: 'uint8', native: true, cli: 'gzip', edges: [64, 128] },
  { name: 'lz4', codecs: [bytesLE, { name: 'lz4' }], dtype: 'uint8', native: false, edges: [64] },
  { name: 'blosc(lz4, shuffle)', codecs: [bytesLE, { name: 'blosc', configuration: { cname: 'lz4', clevel: 5, shuffle: 'shuffle', typesize: 1 } }], dtype: 'uint8', native: false, edges: [64] },
  { name: 'blosc(zstd, shuffle)', codecs: [bytesLE, { name: 'blosc', configuration: { cname: 'zstd', clevel: 5, shuffle: 'shuffle', typesize: 1 } }], dtype: 'uint8', native: true, edges: [64] },
  { name: 'compressed_segmentation', codecs: [{ name: 'compressed_segmentation', configuration: { block_size: [8, 8, 8] } }], dtype: 'uint64', native: false, edges: [64] },
];

/**
 * How long the pool decodes the target case's chunks before its steady-state rounds are timed
 * (each worker's JIT warm-up; see run).
 */
const STEADY_WARMUP_MS = 1500;

/** Chunk edges of the crossover sweep (zstd(3), uint8). */
const CROSSOVER_EDGES = [16, 24, 32, 48, 64, 96, 128];

/** `n` cubic chunks of edge `e` cut from a generated volume (EM-like uint8, or segmentation ids). */
export function chunksOf(dtype: DataType, e: number, totalBytes: number, seed: number): NdArray[] {
  const count = Math.max(1, Math.round(totalBytes / (e ** 3 * (dtype === 'uint64' ? 8 : 1))));
  // one volume of 2 x 2 x k chunks, cut into chunks (distinct data per chunk, like a real volume)
  const k = Math.ceil(count / 4);
  const out: NdArray[] = [];
  if (dtype === 'uint64') {
    const seg = generateSegmentation([e * k, e * 2, e * 2], seed);
    for (let i = 0; i < count; i++) out.push(cut(new NdArray('uint64', seg.labels, [e * k, e * 2, e * 2]), e, i));
  } else {
    const vol = generateVolume([e * k, e * 2, e * 2], seed);
    for (let i = 0; i < count; i++) out.push(cut(new NdArray('uint8', vol, [e * k, e * 2, e * 2]), e, i));
  }
  return out;
}

/**
 * Where `count` chunks of edge `e` (elements of `size` bytes) go when decoded back into the
 * C-order [e*k, 2e, 2e] volume they were cut from (see chunksOf): the volume's shape and each
 * chunk's placement in it.
 */
export function placementsOf(count: number, e: number, size: number): { volShape: number[]; placements: ChunkPlacement[] } {
  const k = Math.ceil(count / 4);
  const volShape = [e * k, 2 * e, 2 * e];
  const strides = cOrderStrides(volShape).map((x) => x * size);
  const placements = Array.from({ length: count }, (_, i): ChunkPlacement => {
    const z0 = Math.floor(i / 4) * e, y0 = ((i >> 1) & 1) * e, x0 = (i & 1) * e;
    return { shape: [e, e, e], dstOffset: z0 * strides[0]! + y0 * strides[1]! + x0 * strides[2]!, dstStrides: strides, start: [0, 0, 0], dims: [0, 1, 2], steps: [1, 1, 1] };
  });
  return { volShape, placements };
}

/** Chunk `i` (z-major over the 2 x 2 grid of each z slab) of a [e*k, 2e, 2e] volume, as a C-order copy. */
function cut(v: NdArray, e: number, i: number): NdArray {
  const [, Y, X] = v.shape as [number, number, number];
  const z0 = Math.floor(i / 4) * e, y0 = ((i >> 1) & 1) * e, x0 = (i & 1) * e;
  const out = NdArray.zeros(v.dtype, [e, e, e]);
  const src = v.data as Uint8Array, dst = out.data as Uint8Array;
  for (let z = 0; z < e; z++) {
    for (let y = 0; y < e; y++) {
      const s = ((z0 + z) * Y + y0 + y) * X + x0;
      dst.set(src.subarray(s, s + e), (z * e + y) * e);
    }
  }
  return out;
}

/** Whether two 3-d arrays hold the same values (any strides: compressed_segmentation decodes F-order). */
function sameValues(a: NdArray, b: NdArray): boolean {
  const [X, Y, Z] = a.shape as [number, number, number];
  const [ax, ay, az] = a.strides as [number, number, number];
  const [bx, by, bz] = b.strides as [number, number, number];
  const ad = a.data as Uint8Array, bd = b.data as Uint8Array;
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      for (let z = 0; z < Z; z++) if (ad[a.offset + x * ax + y * ay + z * az] !== bd[b.offset + x * bx + y * by + z * bz]) return false;
    }
  }
  return true;
}

/**
 * Median CPU microseconds per chunk of `fn`: over all threads of the process (workers, libuv)
 * and on the calling thread alone. Per thread from /proc/self/task (Linux); elsewhere the
 * calling thread's share is unknown and counted as all of it.
 */
async function cpuPerChunk(fn: () => Promise<unknown>, chunks: number, runs: number): Promise<{ total: number; main: number }> {
  const totals: number[] = [];
  const mains: number[] = [];
  for (let i = 0; i < Math.max(3, runs); i++) {
    const t0 = threadTicks();
    const c0 = process.cpuUsage();
    await fn();
    const c = process.cpuUsage(c0);
    const t1 = threadTicks();
    const total = c.user + c.system;
    totals.push(total / chunks);
    mains.push(t0 && t1 ? Math.min(total, (t1.main - t0.main) * t1.usPerTick) / chunks : total / chunks);
  }
  return { total: median(totals), main: median(mains) };
}

/**
 * The calling (main) thread's CPU time so far, microseconds, from /proc/self/task/<pid>/schedstat
 * (nanoseconds on the CPU), or undefined off Linux.
 */
function threadTicks(): { main: number; usPerTick: number } | undefined {
  try {
    const ns = Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
    return Number.isFinite(ns) ? { main: ns / 1000, usPerTick: 1 } : undefined;
  } catch {
    return undefined;
  }
}

/** MB/s of `zstd -b<level>` on `file` with blocks of `block` bytes: [compress, decompress]. */
export function zstdCliBench(file: string, level: number, block: number): [number, number] | undefined {
  const r = spawnSync('/usr/bin/zstd', [`-b${level}`, `-B${block}`, '-i1', file], { encoding: 'utf8' });
  const text = `${r.stdout}\n${r.stderr}`;
  const all = [...text.matchAll(/([\d.]+) MB\/s,\s+([\d.]+) MB\/s/g)];
  const m = all[all.length - 1];
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** Wall-clock median of `gzip` compressing `raw` / decompressing `gz` (to /dev/null), MB/s of raw bytes. */
function gzipCliBench(raw: string, gz: string, rawBytes: number, level: number, runs: number): [number, number] {
  const time = (args: string[]): number => {
    const xs: number[] = [];
    for (let i = 0; i < Math.max(3, runs); i++) {
      const t0 = performance.now();
      const r = spawnSync('/bin/sh', ['-c', `gzip ${args.join(' ')} > /dev/null`]);
      if (r.status !== 0) throw new Error(`gzip ${args.join(' ')}: ${r.stderr.toString()}`);
      xs.push(performance.now() - t0);
    }
    xs.sort((a, b) => a - b);
    return xs[xs.length >> 1]!;
  };
  return [mbPerSec(rawBytes, time([`-${level}`, '-c', raw])), mbPerSec(rawBytes, time(['-d', '-c', gz]))];
}

const fmt = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const ratio = (a: number | undefined, b: number | undefined) => (a && b ? `${(a / b).toFixed(2)}x` : '');

async function run(opts: BenchOptions): Promise<WorkloadResult> {
  const log = opts.log;
  // MB of raw chunk data per (codec, chunk size): enough for stable numbers, little enough to
  // keep the workload to seconds on the 2-core machine
  // (16 MB at the default size 512, 4 MB with --quick)
  const total = Math.max(0.5, Math.min(16, opts.size / 32)) * 1e6;
  // tiny runs (smoke tests) use small chunks only
  const edgeCap = opts.size >= 128 ? Infinity : 32;
  const warmMs = opts.size >= 128 ? STEADY_WARMUP_MS : 100; // smoke tests: a token warm-up
  const capped = (edges: number[]) => [...new Set(edges.map((e) => Math.min(e, edgeCap)))];
  const pool = new CodecWorkerPool({ minDecodeBytes: 0, minEncodeBytes: 0 });
  const nativeWas = nativeCodecsEnabled();
  await pool.warm();
  const native = await nativeZstd();
  const result: WorkloadResult = {
    name: 'codecs',
    description:
      'chunk codecs alone: decode / encode MB/s (of decoded bytes) inline with WASM/JS codecs, inline native (zstd-napi, node:zlib), ' +
      'and in the codec worker pool, vs Debian zstd -b / gzip on the same chunks; then the pool/inline crossover by chunk size',
    params: { mbPerCase: total / 1e6, runs: opts.runs, warmup: opts.warmup, nativeZstd: native?.version ?? 'unavailable' },
    rows: [],
    notes: [],
    profiles: [],
    tables: [],
  };
  const root = await mkdtemp(path.join(opts.tmpRoot, 'volstore-codecs-'));
  try {
    const header = [
      'codec', 'chunk', 'ratio',
      'dec wasm/js', 'dec native', 'dec pool', 'dec CLI',
      'into inline', 'into pool',
      'enc wasm/js', 'enc native', 'enc pool', 'enc CLI',
      'pool/native dec', 'into pool/inline', 'native/CLI dec', 'pool/native enc',
    ];
    const rows: string[][] = [];
    for (const c of CASES) {
      for (const e of capped(c.edges)) {
        const chunks = chunksOf(c.dtype, e, total, opts.seed);
        const spec = { dtype: c.dtype, shape: [e, e, e], fillValue: c.dtype === 'uint64' ? 0n : 0 };
        const chain = await CodecChain.create(c.codecs, spec);
        const rawBytes = chunks.length * product(spec.shape) * (c.dtype === 'uint64' ? 8 : 1);
        const encoded = await Promise.all(chunks.map((a) => chain.encodeInline(a)));
        const encBytes = encoded.reduce((s, b) => s + b.length, 0);
        log(`[${c.name} ${e}^3] ${chunks.length} chunks, ${(rawBytes / 1e6).toFixed(1)} MB raw, ratio ${(rawBytes / encBytes).toFixed(2)}`);
        const portable = (on: boolean) => {
          configureNativeCodecs({ enabled: !on && nativeWas });
          setNodeZlibEnabled(!on);
        };
        const decodeAll = (runner?: CodecWorkerPool) => async () => {
          const out = await Promise.all(encoded.map((b, i) => (runner ? chain.decode(b, { runner, key: `${i}` }) : chain.decodeInline(b, { key: `${i}` }))));
          return out;
        };
        const encodeAll = (runner?: CodecWorkerPool) => async () =>
          Promise.all(chunks.map((a, i) => (runner ? chain.encode(a, { runner, key: `${i}` }) : chain.encodeInline(a, { key: `${i}` }))));
        const withPortable = <T>(fn: () => Promise<T>) => async () => {
          portable(true);
          try {
            return await fn();
          } finally {
            portable(false);
          }
        };
        const check = (name: string, out: NdArray[]) => {
          for (let i = 0; i < out.length; i++) {
            if (!sameValues(out[i]!, chunks[i]!)) {
              throw new BenchVerificationError(`${c.name} ${e}^3: ${name} decoded chunk ${i} differently from the original`);
            }
          }
        };
        const dec: Contender<NdArray[]>[] = [
          { name: 'wasm', run: withPortable(decodeAll()) },
          ...(c.native ? [{ name: 'native', run: decodeAll() }] : []),
          { name: 'pool', run: decodeAll(pool) },
        ];
        const dt = await measureInterleaved(dec, { runs: opts.runs, warmup: Math.max(1, opts.warmup), check });
        const enc: Contender<Uint8Array[]>[] = [
          { name: 'wasm', run: withPortable(encodeAll()) },
          ...(c.native ? [{ name: 'native', run: encodeAll() }] : []),
          { name: 'pool', run: encodeAll(pool) },
        ];
        const et = await measureInterleaved(enc, { runs: opts.runs, warmup: Math.max(1, opts.warmup) });
        // decoding into a read's result (what reads do): each chunk placed at its spot in the
        // volume it was cut from, inline (decode + copy here) vs in the pool (workers decode into
        // reused buffers and copy into the shared result); the result is reused across runs
        const { volShape, placements } = placementsOf(chunks.length, e, dtypeSize(c.dtype));
        const results = new Map<string, Uint8Array>();
        const intoAll = (name: string, runner?: CodecWorkerPool) => async () => {
          let dst = results.get(name);
          if (!dst) results.set(name, (dst = bytesOf(allocSharedTypedArray(c.dtype, product(volShape)))));
          const target = dst;
          await Promise.all(encoded.map((b, i) => chain.decodeInto(b, { runner, key: `${i}` }, { dst: target, placement: placements[i]! })));
          return target;
        };
        // the target case gets more rounds: a run takes ~20 ms, and 3 medians of a
        // 2-core pool moved by +-20% between bench runs
        const targetCase = c.name === 'zstd(3)' && e === Math.min(64, edgeCap);
        const intoContenders = [{ name: 'inline', run: intoAll('inline') }, { name: 'pool', run: intoAll('pool', pool) }];
        let cold: Map<string, { medianMs: number }> | undefined;
        if (targetCase) {
          // the first rounds (what a short-lived process sees), then the steady state: each
          // worker is a V8 isolate of its own that compiles the decode path for itself, and
          // until it has (~1 s of decoding here) background compiles take a core from a 2-core
          // pool (measured: 61 chunks, 1.3-1.4x cold, 1.55-1.7x after 100 runs); the calling
          // thread's inline path is hot already from the rows above
          cold = await measureInterleaved(intoContenders, { runs: 3, warmup: 0 });
          const until = performance.now() + warmMs;
          while (performance.now() < until) await intoAll('pool', pool)();
        }
        const it = await measureInterleaved(
          intoContenders,
          {
            runs: targetCase ? Math.max(5 * opts.runs, 15) : opts.runs,
            warmup: targetCase ? Math.max(3, opts.warmup) : Math.max(1, opts.warmup),
            check: (name, r) => {
              if (name === 'pool' && !Buffer.from(r).equals(Buffer.from(results.get('inline')!))) {
                throw new BenchVerificationError(`${c.name} ${e}^3: the pool decoded into the result differently from the inline path`);
              }
            },
          },
        );
        const rate = (m: Map<string, { medianMs: number }>, k: string) => (m.has(k) ? mbPerSec(rawBytes, m.get(k)!.medianMs) : undefined);

        let cli: [number, number] | undefined;
        if (c.cli === 'zstd' && existsSync('/usr/bin/zstd')) {
          const file = path.join(root, `chunks-${e}.raw`);
          await writeFile(file, Buffer.concat(chunks.map((a) => bytesOf(a.data))));
          cli = zstdCliBench(file, 3, product(spec.shape));
        } else if (c.cli === 'gzip' && existsSync('/usr/bin/gzip')) {
          // gzip has no benchmark mode: time it on all chunks as one file (same bytes, same level)
          const raw = path.join(root, `chunks-${e}.raw`);
          const gz = `${raw}.gz`;
          await writeFile(raw, Buffer.concat(chunks.map((a) => bytesOf(a.data))));
          spawnSync('/bin/sh', ['-c', `gzip -6 -c ${raw} > ${gz}`]);
          cli = gzipCliBench(raw, gz, rawBytes, 6, opts.runs);
        }
        const dNative = rate(dt, 'native');
        const dPool = rate(dt, 'pool');
        const eNative = rate(et, 'native');
        const ePool = rate(et, 'pool');
        const iInline = rate(it, 'inline');
        const iPool = rate(it, 'pool');
        rows.push([
          c.name, `${e}^3 ${c.dtype}`, (rawBytes / encBytes).toFixed(2),
          fmt(rate(dt, 'wasm')), fmt(dNative), fmt(dPool), fmt(cli?.[1]),
          fmt(iInline), fmt(iPool),
          fmt(rate(et, 'wasm')), fmt(eNative), fmt(ePool), fmt(cli?.[0]),
          ratio(dPool, dNative ?? rate(dt, 'wasm')), ratio(iPool, iInline), ratio(dNative, cli?.[1]), ratio(ePool, eNative ?? rate(et, 'wasm')),
        ]);
        if (targetCase) {
          // issue 11's decode targets, on the chunks reads decode (64^3 uint8 zstd(3))
          const m = (t: { medianMs: number; samplesMs: number[] }): Measured => ({ medianMs: t.medianMs, samplesMs: t.samplesMs, bytes: rawBytes, mbPerSec: mbPerSec(rawBytes, t.medianMs) });
          const speedup = iPool! / iInline!;
          const coldSpeedup = rate(cold!, 'pool')! / rate(cold!, 'inline')!;
          result.params.coldPoolVsInline = Number(coldSpeedup.toFixed(2));
          result.rows.push({
            layout: `${c.name} ${e}^3 ${c.dtype}, ${chunks.length} chunks`,
            op: `decode into a result: pool (${pool.size} workers, warm) vs inline`,
            decodedBytes: rawBytes,
            fileBytes: encBytes,
            volstore: m(it.get('pool')!),
            target: { text: `>= 1.7x inline (${fmt(iInline)} MB/s): ${speedup.toFixed(2)}x (first rounds, workers cold: ${coldSpeedup.toFixed(2)}x)`, met: speedup >= 1.7 },
            verified: 'pool = inline = original chunks',
          });
          if (cli) {
            const perCore = iPool! / pool.size / cli[1];
            // the same per core of CPU time actually spent off the calling thread (workers, and
            // whatever else ran: V8's and libuv's threads), rather than per core of wall time,
            // which also counts the calling thread's share and idle moments: reported beside it
            const cpu = await cpuPerChunk(intoAll('pool', pool), chunks.length, opts.runs);
            const perCoreCpu = rawBytes / chunks.length / Math.max(1, cpu.total - cpu.main) / cli[1];
            result.params.perCoreDecodeByCpu = Number(perCoreCpu.toFixed(2));
            result.rows.push({
              layout: `${c.name} ${e}^3 ${c.dtype}, ${chunks.length} chunks`,
              op: `decode per core (pool MB/s / ${pool.size}) vs zstd -b3 (one thread, ${fmt(cli[1])} MB/s)`,
              decodedBytes: rawBytes,
              fileBytes: encBytes,
              volstore: m(it.get('pool')!),
              target: { text: `>= 0.80x zstd -b: ${perCore.toFixed(2)}x (per core of CPU time off the calling thread: ${perCoreCpu.toFixed(2)}x)`, met: perCore >= 0.8 },
              verified: 'pool = inline = original chunks',
            });
          }
        }
      }
    }
    result.tables!.push({
      title: `Codecs: MB/s of decoded bytes (${(total / 1e6).toFixed(0)} MB of chunks per row; pool = ${pool.size} workers)`,
      header,
      rows,
      footnote:
        'wasm/js: portable codecs on the calling thread (numcodecs WASM zstd/lz4/blosc, fflate); native: zstd-napi and node:zlib on the calling thread ' +
          '(into: decoding into a result volume at each chunk\'s spot, as reads do: inline = decode + copy on the calling thread, pool = workers decode into reused buffers and copy into the shared result; ' +
          `the zstd(3) ${Math.min(64, edgeCap)}^3 row's into columns are timed after the pool has decoded its chunks for ${warmMs / 1000} s, the workers' JIT warm-up: its first, cold rounds are params.coldPoolVsInline) ` +
        '(node:zlib inflate runs on libuv threads); pool: the codec worker pool, all chunks in flight; CLI: Debian zstd -b3 -B<chunk bytes> (one thread) or ' +
        'gzip -6 / gzip -d on the same bytes as one file (one process). pool/native = the pool\'s speed-up over the inline path (native where it exists).',
    });

    // crossover: zstd(3) chunks of growing size decoded into a result inline (native) vs in
    // the pool, as reads decode them
    const xrows: string[][] = [];
    let crossover: number | undefined;
    let cpuCrossover: number | undefined;
    const xchain = async (e: number) => CodecChain.create(CASES[0]!.codecs, { dtype: 'uint8', shape: [e, e, e], fillValue: 0 });
    for (const e of CROSSOVER_EDGES.filter((x) => x <= edgeCap)) {
      // at least 16 chunks: with 4 (128^3 in 8 MB) a 2-worker pool wins or loses on one slow chunk
      const chunks = chunksOf('uint8', e, Math.max(Math.min(total, 8e6), 16 * e ** 3), opts.seed + e);
      const chain = await xchain(e);
      const encoded = await Promise.all(chunks.map((a) => chain.encodeInline(a)));
      const rawBytes = chunks.length * e ** 3;
      // each chunk at its own spot of a [k*e, 2e, 2e] result, reused (no first touch)
      const { volShape, placements } = placementsOf(chunks.length, e, 1);
      const dst = new Uint8Array(new SharedArrayBuffer(product(volShape)));
      const decodeAll = (runner?: CodecWorkerPool) => () => Promise.all(encoded.map((b, i) => chain.decodeInto(b, { runner }, { dst, placement: placements[i]! })));
      const t = await measureInterleaved([{ name: 'inline', run: decodeAll() }, { name: 'pool', run: decodeAll(pool) }], { runs: Math.max(3, opts.runs), warmup: Math.max(1, opts.warmup) });
      const inl = mbPerSec(rawBytes, t.get('inline')!.medianMs);
      const pl = mbPerSec(rawBytes, t.get('pool')!.medianMs);
      if (crossover === undefined && pl > inl) crossover = e ** 3;
      if (pl <= inl) crossover = undefined; // the smallest size from which the pool keeps winning
      // CPU per chunk, by thread (load-independent, unlike wall time on a shared machine): the
      // 2-core model of the pool's wall time is max(calling thread, all threads / cores)
      const cpuInline = await cpuPerChunk(decodeAll(), chunks.length, opts.runs);
      const cpuPool = await cpuPerChunk(decodeAll(pool), chunks.length, opts.runs);
      const modelPool = Math.max(cpuPool.main, cpuPool.total / pool.size);
      const model = cpuInline.total / modelPool; // pool/inline with `size` idle cores
      if (cpuCrossover === undefined && model > 1) cpuCrossover = e ** 3;
      if (model <= 1) cpuCrossover = undefined;
      xrows.push([
        `${e}^3`, `${(e ** 3 / 1024).toFixed(0)} KiB`, String(chunks.length), fmt(inl), fmt(pl), ratio(pl, inl),
        cpuInline.total.toFixed(0), cpuPool.total.toFixed(0), cpuPool.main.toFixed(0), (cpuPool.total - cpuInline.total).toFixed(0), `${model.toFixed(2)}x`,
      ]);
    }
    result.tables!.push({
      title: 'Crossover: zstd(3) uint8 chunks decoded into a result inline (native) vs in the pool, by chunk size',
      header: ['chunk', 'decoded', 'chunks', 'inline MB/s', 'pool MB/s', 'pool/inline', 'inline CPU us', 'pool CPU us', 'pool calling-thread us', 'pool overhead us', 'CPU model pool/inline'],
      rows: xrows,
      footnote:
        `All chunks of a row in flight at once, each decoded into its spot of a reused result. CPU us = CPU time per chunk over all threads (workers included; ` +
        `per thread from /proc on Linux, else process.cpuUsage); CPU model = inline CPU / max(pool calling-thread CPU, pool CPU / ${pool.size}): the pool's speed-up when ` +
        `${pool.size} cores are free (what wall time shows on a quiet machine). DEFAULT_MIN_POOLED_BYTES (chunks smaller stay inline) is ${DEFAULT_MIN_POOLED_BYTES / 1024} KiB.`,
    });
    result.params.crossoverBytes = crossover ?? 'none (inline won at every size)';
    result.params.cpuModelCrossoverBytes = cpuCrossover ?? 'none';
    if (cpuCrossover !== undefined) {
      result.notes.push(`CPU model: with ${pool.size} free cores the pool beats inline decoding from ${(cpuCrossover / 1024).toFixed(0)} KiB chunks on`);
    }
    result.notes.push(
      crossover === undefined
        ? 'crossover: the pool did not beat inline decoding at any chunk size in this run (busy machine?)'
        : `crossover: the pool beats inline decoding from ${(crossover / 1024).toFixed(0)} KiB chunks on (default DEFAULT_MIN_POOLED_BYTES = ${DEFAULT_MIN_POOLED_BYTES / 1024} KiB)`,
    );
    if (!native) result.notes.push('native zstd (zstd-napi) is not installed or did not load: "native" zstd rows are missing');
  } finally {
    pool.close();
    configureNativeCodecs({ enabled: nativeWas });
    setNodeZlibEnabled(true);
    await rm(root, { recursive: true, force: true });
  }
  return result;
}

export const codecsWorkload: Workload = {
  name: 'codecs',
  description: 'chunk codecs alone (inline WASM/JS, inline native, worker pool) vs Debian zstd/gzip, and the pool crossover',
  run,
};

