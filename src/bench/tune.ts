/**
 * `volstore tune`: chooses chunk shape, shard shape and codec for a volume, an access mix, a
 * storage target and limits. It
 *
 * 1. calibrates the model (model.ts) on the target: request latency and transfer rate of the
 *    store, decode / encode rate and compression ratio of each codec on a sample of the data
 *    (synthetic data like the real thing, or a block of an existing dataset);
 * 2. sweeps the candidates (chunk shapes of several sizes and aspect ratios, shards of several
 *    sizes or none, codecs) and predicts each one's time per access of the mix, requests,
 *    objects, cost per TB and memory, exactly from the geometry and the measured rates;
 * 3. ranks the candidates that meet the limits (max objects, max cost per TB, max memory) by
 *    predicted time; candidates within `tolerance` of the best are equivalent, and among those
 *    the one with the smallest write chunk wins (less write amplification for partial updates,
 *    less memory, more parallel writers);
 * 4. measures the top candidates with the bench engine on the sample (as many as `budgetS`
 *    allows) and reports predicted next to measured, so the ranking can be checked.
 */
import { DEFAULT_REQUEST_CONCURRENCY } from '../limits.js';
import { dtypeSize, type DataType } from '../array/dtype.js';
import { NdArray, toCOrder } from '../array/ndarray.js';
import { CodecChain } from '../codecs/chain.js';
import { Context } from '../context/context.js';
import { DEFAULT_COALESCE_LIMIT } from '../sharding/coalesce.js';
import { openKvStore } from '../kvstore/open.js';
import { open } from '../open.js';
import type { Spec } from '../spec/spec.js';
import { accessName, type MixEntry, spatialAxes, type Strategy } from './access.js';
import { type GcsPrices, GCS_PRICES } from './cost.js';
import { runEngine } from './engine.js';
import { type CodecChoice, createSpec, type Layout, parseCodec, shapeName } from './layout.js';
import { type Calibration, type CandidateLayout, predict, predictedCost, ratioOf } from './model.js';
import { openTarget, type StoreKind } from './target.js';
import { percentile } from './timing.js';
import { BenchInputError } from './errors.js';
import type { TuneCandidate, TuneResult } from './types.js';

/** The result types, defined with the other report shapes in types.ts. */
export type { TuneCandidate, TuneResult } from './types.js';
import { syntheticVolume } from './volume-gen.js';

/** Options of {@link tune}. */
export interface TuneOptions {
  /** Volume shape [z, y, x] (from `--from` when absent). */
  shape?: number[];
  dtype?: DataType;
  /** An existing dataset to sample (its shape and dtype are the defaults; a central block is the sample). */
  from?: Spec;
  mix: MixEntry[];
  /** The mix as the user wrote it (for the report). */
  mixText: string;
  store: StoreKind;
  latencyMs?: number;
  bandwidthMbps?: number;
  /** Limits; a candidate that breaks one is ranked after every one that does not. */
  maxObjects?: number;
  maxCostPerTB?: number;
  maxMemoryBytes?: number;
  /** Seconds for calibration and measurement together (the model sweep itself is instant). */
  budgetS: number;
  /** Codecs to consider (default raw, zstd:3, blosc:lz4). */
  codecs?: CodecChoice[];
  /** Chunk sizes to consider, bytes (default 64 KiB .. 4 MiB by 4x). */
  chunkBytes?: number[];
  /** Shard edge targets, voxels (default 256, 512, 1024, 2048), plus unsharded. */
  shardEdges?: number[];
  /** Edge of the cubic sample measured (default 256, at most the volume's). */
  sampleEdge?: number;
  /** Measure at most this many top candidates (default 4; 0 = model only). */
  measureTop?: number;
  /** Relative score difference within which candidates are equivalent (default 0.1). */
  tolerance?: number;
  strategy?: Strategy;
  prices?: GcsPrices;
  seed: number;
  tmpRoot: string;
  log: (msg: string) => void;
  progress?: (fraction: number) => void;
}

const KiB = 1024;
const DEFAULT_CHUNK_BYTES = [64 * KiB, 256 * KiB, 1024 * KiB, 4096 * KiB];
const DEFAULT_SHARD_EDGES = [128, 256, 512, 1024, 2048];

const pow2Floor = (n: number) => 2 ** Math.floor(Math.log2(Math.max(1, n)));
const vol = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const ceilTo = (n: number, m: number) => Math.ceil(n / m) * m;

/**
 * Chunk shapes of about `bytes` bytes in four aspects: a cube, and flat along z, y or x
 * (a quarter of the cube's edge along that axis, twice along the others); each clamped to the
 * volume (rounded up to a power of two) and deduplicated.
 */
export function chunkCandidates(bytes: number, dtype: DataType, shape: readonly number[]): number[][] {
  const elems = Math.max(1, Math.floor(bytes / dtypeSize(dtype)));
  const a = pow2Floor(Math.cbrt(elems));
  const cap = shape.map((s) => 2 ** Math.ceil(Math.log2(Math.max(1, s))));
  const out = new Map<string, number[]>();
  const add = (c: number[]) => {
    const cl = c.map((v, d) => Math.max(1, Math.min(v, cap[d]!)));
    out.set(cl.join('x'), cl);
  };
  add([a, a, a]);
  if (a >= 8) {
    add([a / 4, a * 2, a * 2]);
    add([a * 2, a / 4, a * 2]);
    add([a * 2, a * 2, a / 4]);
  }
  return [...out.values()];
}

/** Shards for a chunk: none, and for each edge target the chunk multiple nearest a cube of that edge (clamped to the volume). */
export function shardCandidates(chunk: readonly number[], shape: readonly number[], edges: readonly number[]): (number[] | undefined)[] {
  const out = new Map<string, number[] | undefined>([['none', undefined]]);
  for (const e of edges) {
    const s = chunk.map((c, d) => Math.min(ceilTo(shape[d]!, c), Math.max(c, Math.floor(e / c) * c)));
    if (vol(s) / vol(chunk) < 2) continue; // a shard of one chunk is just a chunk with an index
    out.set(s.join('x'), s);
  }
  return [...out.values()];
}

/** The candidate grid: chunk sizes x aspects x shards x codecs. */
export function candidateGrid(shape: readonly number[], dtype: DataType, o: Pick<TuneOptions, 'codecs' | 'chunkBytes' | 'shardEdges'>): CandidateLayout[] {
  const codecs = o.codecs ?? defaultCodecs(dtype);
  const out: CandidateLayout[] = [];
  const seen = new Set<string>();
  for (const b of o.chunkBytes ?? DEFAULT_CHUNK_BYTES) {
    for (const chunk of chunkCandidates(b, dtype, shape)) {
      for (const shard of shardCandidates(chunk, shape, o.shardEdges ?? DEFAULT_SHARD_EDGES)) {
        for (const codec of codecs) {
          const key = `${chunk.join('x')}|${shard?.join('x') ?? '-'}|${codec.name}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push({ chunk, shard, codec });
        }
      }
    }
  }
  return out;
}

/** raw, zstd(3) and blosc(lz4) (every dtype; TensorStore reads them all). */
export function defaultCodecs(dtype: DataType): CodecChoice[] {
  return ['raw', 'zstd:3', 'blosc:lz4'].map((c) => parseCodec(c, dtype));
}

/** Cuts a chunk of `shape` at `origin` from a C-order 3-d sample (wrapping around where it would leave it). */
function cutChunk(sample: NdArray, origin: readonly number[], shape: readonly number[]): NdArray {
  const fits = shape.every((s, d) => origin[d]! + s <= sample.shape[d]!);
  if (fits) {
    const offset = origin.reduce((a, o, d) => a + o * sample.strides[d]!, 0);
    return toCOrder(new NdArray(sample.dtype, sample.data, shape, sample.strides, offset));
  }
  const out = NdArray.zeros(sample.dtype, shape);
  const [Z, Y, X] = shape as [number, number, number];
  const [sz, sy, sx] = sample.shape as [number, number, number];
  const src = sample.data as unknown as ArrayLike<number | bigint>;
  const dst = out.data as unknown as (number | bigint)[];
  let i = 0;
  for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) {
    dst[i++] = src[(((origin[0]! + z) % sz) * sy + ((origin[1]! + y) % sy)) * sx + ((origin[2]! + x) % sx)]!;
  }
  return out;
}

/**
 * Times `fn` until at least `minMs` have passed (and at least once); returns ms per call: the
 * fastest round, which on a shared machine measures what the code costs rather than what the
 * neighbours took.
 */
async function rate(fn: () => Promise<void>, minMs = 60): Promise<number> {
  const times: number[] = [];
  const t0 = performance.now();
  do {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  } while (performance.now() - t0 < minMs && times.length < 50);
  return Math.min(...times);
}

/**
 * Measures the model's rates: the store's request latency and transfer rate (small and large
 * objects written to and read back from the target), and per codec its decode / encode rate
 * and compression ratio on chunks of the sample (one ratio per chunk shape in `chunkShapes`).
 */
export async function calibrate(
  target: { kvstore(name: string): Record<string, unknown> },
  sample: NdArray,
  codecs: readonly CodecChoice[],
  chunkShapes: readonly number[][],
  log: (m: string) => void,
): Promise<Calibration> {
  const ctx = new Context();
  const store = await openKvStore(target.kvstore('calibration') as never, '', ctx);
  // -- store: 16 small objects read one at a time (latency: the lower quartile, robust to a
  // neighbour's burst); 8 x 2 MB read 8 at a time (transfer: the fastest of 3 rounds)
  const small = new Uint8Array(4096).fill(7);
  const big = new Uint8Array(2_000_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  for (let i = 0; i < 16; i++) await store.write(`s${i}`, small);
  await Promise.all(Array.from({ length: 8 }, (_, i) => store.write(`b${i}`, big)));
  await store.read('s0'); // connection warm
  const lat: number[] = [];
  for (let r = 0; r < 2; r++) {
    for (let i = 0; i < 16; i++) {
      const t = performance.now();
      await store.read(`s${i}`);
      lat.push(performance.now() - t);
    }
  }
  const L = percentile(lat, 25);
  const bigTimes: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    await Promise.all(Array.from({ length: 8 }, (_, i) => store.read(`b${i}`)));
    bigTimes.push(performance.now() - t);
  }
  const tBig = Math.min(...bigTimes);
  // what is left after one latency is transfer; never faster than a memory copy would allow
  const bandwidthMBps = Math.min(20_000, (8 * big.length) / 1e3 / Math.max(0.05, tBig - L));
  await store.deleteRange('').catch(() => undefined);
  const coalesceLimit = store.coalesceLimit ?? DEFAULT_COALESCE_LIMIT;
  // requests in flight per read: the planner's chunk concurrency (volume.ts) within the store's default limit
  const concurrency = DEFAULT_REQUEST_CONCURRENCY;

  // -- codecs
  const dtype = sample.dtype;
  const item = dtypeSize(dtype);
  const codecRates: Calibration['codecs'] = {};
  const mid = [64, 64, 64].map((c, d) => Math.min(c, sample.shape[d]!));
  for (const codec of codecs) {
    const ratio: Record<string, number> = {};
    for (const full of chunkShapes) {
      // a chunk larger than the sample is measured at the sample's extent along that axis
      // (repeating the sample would flatter the compressor)
      const shape = full.map((c, d) => Math.min(c, sample.shape[d]!));
      // up to 4 chunks (at most ~8 MB decoded) from spread-out origins
      const n = Math.max(1, Math.min(4, Math.floor(8e6 / (vol(shape) * item))));
      let dec = 0, enc = 0;
      const chain = await CodecChain.create(codec.codecs as never, { dtype, shape, fillValue: 0 });
      for (let i = 0; i < n; i++) {
        const origin = shape.map((s, d) => Math.floor(((i * 0.37 + 0.1) % 1) * Math.max(0, sample.shape[d]! - s)));
        const bytes = await chain.encodeInline(cutChunk(sample, origin, shape));
        dec += vol(shape) * item;
        enc += bytes.byteLength;
      }
      ratio[full.join('x')] = dec / Math.max(1, enc);
    }
    const chain = await CodecChain.create(codec.codecs as never, { dtype, shape: mid, fillValue: 0 });
    const chunk = cutChunk(sample, [0, 0, 0], mid);
    let encoded = await chain.encodeInline(chunk);
    const encMs = await rate(async () => {
      encoded = await chain.encodeInline(chunk);
    });
    const decMs = await rate(async () => {
      await chain.decodeInline(encoded);
    });
    const bytes = vol(mid) * item;
    codecRates[codec.name] = { decodeMBps: bytes / 1e3 / Math.max(1e-3, decMs), encodeMBps: bytes / 1e3 / Math.max(1e-3, encMs), ratio };
    log(`calibration: ${codec.name} decode ${codecRates[codec.name]!.decodeMBps.toFixed(0)} MB/s, encode ${codecRates[codec.name]!.encodeMBps.toFixed(0)} MB/s, ratio ${Object.values(ratio).map((r) => r.toFixed(2)).join('/')}`);
  }
  // -- per-chunk overhead and copy rate: a 64^3 raw read from memory in 8^3 chunks vs in one chunk
  const { perChunkUs, copyMBps } = await chunkOverhead(dtype);
  const summary =
    `request latency ${L.toFixed(2)} ms, transfer ${bandwidthMBps.toFixed(0)} MB/s, ${concurrency} requests in flight, ` +
    `${perChunkUs.toFixed(0)} us per chunk, copy ${copyMBps.toFixed(0)} MB/s; ` +
    Object.entries(codecRates).map(([k, v]) => `${k} decode ${v.decodeMBps.toFixed(0)} MB/s`).join(', ');
  log(`calibration: ${summary}`);
  return { requestLatencyMs: L, bandwidthMBps, concurrency, coalesceLimit, perChunkUs, copyMBps, codecs: codecRates, summary };
}

async function chunkOverhead(dtype: DataType): Promise<{ perChunkUs: number; copyMBps: number }> {
  const n = 64;
  const data = syntheticVolume(dtype === 'uint64' || dtype === 'int64' || dtype === 'uint32' || dtype === 'int32' ? dtype : 'uint8', [n, n, n], 3);
  const mk = async (c: number) => {
    const v = await open({
      driver: 'zarr3', kvstore: { driver: 'memory', path: `volstore-tune-overhead-${process.pid}-${c}/` }, create: true, delete_existing: true,
      dtype: data.dtype, metadata: { shape: [n, n, n], chunk_grid: { name: 'regular', configuration: { chunk_shape: [c, c, c] } }, codecs: [{ name: 'bytes', configuration: { endian: 'little' } }] },
    } as never);
    await v.write(data);
    return v;
  };
  const small = await mk(8);
  const whole = await mk(n);
  const tSmall = await rate(async () => void (await small.read()), 80);
  const tWhole = await rate(async () => void (await whole.read()), 80);
  const chunks = (n / 8) ** 3;
  const perChunkUs = Math.min(500, Math.max(2, ((tSmall - tWhole) * 1e3) / (chunks - 1)));
  const copyMBps = Math.max(50, (n ** 3 * dtypeSize(data.dtype)) / 1e3 / Math.max(1e-3, tWhole));
  return { perChunkUs, copyMBps };
}

/** The sample: a block of edge `edge` from the dataset's centre (clamped), or synthetic data. */
async function sampleOf(o: TuneOptions, shape: readonly number[], dtype: DataType): Promise<NdArray> {
  const s = shape.map((x) => Math.min(x, o.sampleEdge ?? 256));
  if (!o.from) return syntheticVolume(dtype, s, o.seed);
  const v = await open(o.from);
  const axes = spatialAxes(v.rank, v.dimensionNames);
  const sel = v.shape.map((n, d) => {
    const lo = v.domain.inclusiveMin[d]!;
    const k = [axes.z, axes.y, axes.x].indexOf(d);
    if (k < 0) return lo; // channels: the first
    const e = s[k]!;
    const start = lo + Math.max(0, Math.floor((n - e) / 2));
    return [start, start + e] as const;
  });
  const a = await v.slice(sel as never).read();
  // order the spatial axes z, y, x
  const order = [axes.z, axes.y, axes.x].map((d) => sel.slice(0, d).filter((x) => typeof x !== 'number').length);
  const t = new NdArray(a.dtype, a.data, order.map((i) => a.shape[i]!), order.map((i) => a.strides[i]!), a.offset);
  return toCOrder(t);
}

/** The kvstore placeholder of the recommended spec for a store kind. */
function placeholderKvstore(store: StoreKind): Record<string, unknown> {
  if (store === 'gcs-emulator') return { driver: 'gcs', bucket: 'BUCKET', path: 'PATH/' };
  if (store === 'memory') return { driver: 'memory', path: 'PATH/' };
  return { driver: 'file', path: 'PATH/' };
}

const fmtB = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(1)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(0)} kB`);
const f2 = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/**
 * Runs the sweep.
 * @throws BenchInputError for a missing shape / dtype (without `from`), a non-3-d shape, or an empty candidate grid.
 */
export async function tune(o: TuneOptions): Promise<TuneResult> {
  const t0 = performance.now();
  const deadline = t0 + o.budgetS * 1e3;
  let shape = o.shape;
  let dtype = o.dtype;
  if (o.from) {
    const v = await open(o.from);
    const axes = spatialAxes(v.rank, v.dimensionNames);
    shape ??= [v.shape[axes.z]!, v.shape[axes.y]!, v.shape[axes.x]!];
    dtype ??= v.dtype;
  }
  if (!shape || !dtype) throw new BenchInputError('tune needs --shape and --dtype, or --from SPEC');
  if (shape.length !== 3) throw new BenchInputError(`--shape must be 3-d [z, y, x], got [${shape.join(', ')}]`);
  const prices = o.prices ?? GCS_PRICES;
  const item = dtypeSize(dtype);
  const grid = candidateGrid(shape, dtype, o);
  if (grid.length === 0) throw new BenchInputError('no candidate layouts (check --chunk-bytes / --codecs)');
  const notes: string[] = [];
  o.progress?.(0);

  const sample = await sampleOf(o, shape, dtype);
  o.log(`sample: ${sample.shape.join('x')} ${dtype}${o.from ? ' from the dataset' : ' (synthetic)'}; ${grid.length} candidates`);
  const target = await openTarget({ kind: o.store, tmpRoot: o.tmpRoot, latencyMs: o.latencyMs, bandwidthMbps: o.bandwidthMbps, seed: o.seed });
  let cal: Calibration;
  const candidates: TuneCandidate[] = [];
  try {
    const codecs = [...new Map(grid.map((c) => [c.codec.name, c.codec])).values()];
    const shapes = [...new Map(grid.map((c) => [c.chunk.join('x'), c.chunk])).values()];
    cal = await calibrate(target, sample, codecs, shapes, o.log);
    o.progress?.(0.3);

    // -- the sweep (model)
    for (const c of grid) {
      const predicted = predict(cal, shape, dtype, c, o.mix, { strategy: o.strategy, seed: o.seed });
      const ratio = ratioOf(cal, c.codec.name, c.chunk);
      const writeChunk = c.shard ?? c.chunk;
      const objects = shape.reduce((a, s, d) => a * Math.ceil(s / writeChunk[d]!), 1);
      const cost = predictedCost(predicted, { shape, chunk: c.chunk, shard: c.shard, ratio, itemSize: item }, prices);
      const wBytes = vol(writeChunk) * item;
      const memoryBytes = Math.max(wBytes + wBytes / ratio, cal.concurrency * vol(c.chunk) * item * 2);
      const violations: string[] = [];
      if (o.maxObjects !== undefined && objects > o.maxObjects) violations.push(`${objects} objects > ${o.maxObjects}`);
      if (o.maxCostPerTB !== undefined && cost.readPerTB! > o.maxCostPerTB) violations.push(`read $${f2(cost.readPerTB!)}/TB > $${o.maxCostPerTB}`);
      if (o.maxMemoryBytes !== undefined && memoryBytes > o.maxMemoryBytes) violations.push(`memory ${fmtB(memoryBytes)} > ${fmtB(o.maxMemoryBytes)}`);
      const layout: Layout = { dtype, shape, chunk: c.chunk, shard: c.shard, codec: c.codec };
      const spec = createSpec(layout, placeholderKvstore(o.store));
      candidates.push({
        readChunk: c.chunk, writeChunk, sharded: !!c.shard, codec: c.codec.name,
        codecJson: (spec.metadata as { codecs: unknown[] }).codecs, spec, objects, compressionRatio: ratio,
        memoryBytes, predicted, cost, violations, reasons: [],
      });
    }
    rank(candidates, o.tolerance ?? 0.1);
    o.progress?.(0.4);

    // -- measure the top candidates on the sample
    const top = candidates.filter((c) => c.violations.length === 0).slice(0, o.measureTop ?? 4);
    let measuredCount = 0;
    const sampleShape = [...sample.shape];
    for (const [i, c] of top.entries()) {
      const left = deadline - performance.now();
      if (left <= 0) {
        notes.push(`the budget (${o.budgetS} s) ran out after measuring ${measuredCount} of the top ${top.length} candidates`);
        break;
      }
      const clampShard = c.sharded ? c.writeChunk.map((w, d) => Math.min(w, ceilTo(sampleShape[d]!, c.readChunk[d]!))) : undefined;
      const sampleLayout: Layout = {
        dtype, shape: sampleShape, chunk: c.readChunk.map((x, d) => Math.min(x, 2 ** Math.ceil(Math.log2(sampleShape[d]!)))),
        shard: clampShard && vol(clampShard) > vol(c.readChunk) ? clampShard : undefined,
        codec: grid.find((g) => g.codec.name === c.codec)!.codec,
      };
      const logs: string[] = [];
      const r = await runEngine({
        name: 'tune-check', layouts: [sampleLayout], store: o.store, latencyMs: o.latencyMs, bandwidthMbps: o.bandwidthMbps,
        reads: o.mix.map((m) => m.access), write: { kind: 'full' }, strategy: o.strategy ?? 'random',
        totalReadBytes: 16e6, maxAccesses: 12, repeat: 1, warmup: 1, concurrency: 1, seed: o.seed, prices, tmpRoot: o.tmpRoot,
        ceiling: false, log: (m) => logs.push(m),
        progress: (f) => o.progress?.(0.4 + (0.6 * (i + f)) / top.length),
      }).catch((e: unknown) => {
        notes.push(`measuring ${c.readChunk.join('x')} in ${c.writeChunk.join('x')} ${c.codec} failed: ${(e as Error).message}`);
        return undefined;
      });
      if (!r) continue;
      const stats = r.layouts[0]!;
      const byPattern: NonNullable<TuneCandidate['measured']>['byPattern'] = {};
      let ms = 0;
      for (const m of o.mix) {
        const p = stats.patterns[accessName(m.access)]!;
        byPattern[accessName(m.access)] = { meanMs: p.meanMs, p50Ms: p.p50Ms, p95Ms: p.p95Ms, requestsPerAccess: p.requestsPerAccess, storedBytesPerAccess: p.storedBytesPerAccess };
        ms += m.weight * p.meanMs;
      }
      const predictedSample = predict(cal, sampleShape, dtype, { chunk: sampleLayout.chunk, shard: sampleLayout.shard, codec: sampleLayout.codec }, o.mix, { strategy: o.strategy, seed: o.seed });
      const wrow = r.result.rows.find((x) => x.op.startsWith('write'));
      c.measured = { msPerAccess: ms, predictedSampleMs: predictedSample.msPerAccess, sampleShape, byPattern, writeMBps: wrow?.volstore.mbPerSec };
      measuredCount++;
      o.log(`measured ${c.readChunk.join('x')} in ${c.writeChunk.join('x')} ${c.codec}: ${f2(ms)} ms/access on the sample (model: ${f2(predictedSample.msPerAccess)})`);
    }
    const m = candidates.filter((c) => c.measured);
    if (m.length >= 2) {
      const errs = m.map((c) => c.measured!.msPerAccess / c.measured!.predictedSampleMs);
      notes.push(`model check on the ${sampleShape.join('x')} sample: measured / predicted = ${errs.map((e) => e.toFixed(2)).join(', ')} for the top ${m.length} (1.00 = exact; the ranking uses the model on the full volume)`);
      const bestMeasured = [...m].sort((a, b) => a.measured!.msPerAccess - b.measured!.msPerAccess)[0]!;
      if (bestMeasured !== m[0] && bestMeasured.measured!.msPerAccess < 0.67 * m[0]!.measured!.msPerAccess) {
        notes.push(`on the sample, ${bestMeasured.readChunk.join('x')} in ${bestMeasured.writeChunk.join('x')} ${bestMeasured.codec} measured faster than the recommendation by more than 1.5x: the sample may be too small to show the full volume's request counts, or the machine was busy`);
      }
    }
  } finally {
    await target.close();
  }
  explain(candidates, cal, o, shape, dtype);
  o.progress?.(1);
  notes.unshift(
    `${candidates.length} candidates: chunk sizes ${(o.chunkBytes ?? DEFAULT_CHUNK_BYTES).map(fmtB).join(', ')} (cubic and flat along z, y, x), ` +
      `shards none / ~${(o.shardEdges ?? DEFAULT_SHARD_EDGES).join(', ')} voxels, codecs ${[...new Set(candidates.map((c) => c.codec))].join(', ')}; ` +
      `ranked by predicted time per access of the mix; within ${((o.tolerance ?? 0.1) * 100).toFixed(0)}% of the best, the smaller write chunk wins`,
  );
  return {
    input: {
      shape, dtype, mix: o.mixText, store: o.store, latencyMs: o.latencyMs, bandwidthMbps: o.bandwidthMbps,
      maxObjects: o.maxObjects, maxCostPerTB: o.maxCostPerTB, maxMemoryBytes: o.maxMemoryBytes, budgetS: o.budgetS,
      ...(o.from ? { from: o.from } : {}),
    },
    calibration: cal!,
    candidates,
    notes,
    durationSec: (performance.now() - t0) / 1e3,
  };
}

/**
 * Orders candidates in place: those meeting every limit first; among them, the ones whose
 * predicted time is within `tolerance` of the best come first, smallest write chunk first
 * (then fastest); then the rest by predicted time; candidates breaking a limit last, by time.
 */
export function rank(cs: TuneCandidate[], tolerance: number): void {
  const ok = cs.filter((c) => c.violations.length === 0);
  const bad = cs.filter((c) => c.violations.length > 0);
  const byTime = (a: TuneCandidate, b: TuneCandidate) => a.predicted.msPerAccess - b.predicted.msPerAccess;
  ok.sort(byTime);
  bad.sort(byTime);
  const best = ok[0]?.predicted.msPerAccess ?? Infinity;
  const tie = ok.filter((c) => c.predicted.msPerAccess <= best * (1 + tolerance));
  const rest = ok.filter((c) => c.predicted.msPerAccess > best * (1 + tolerance));
  tie.sort((a, b) => vol(a.writeChunk) - vol(b.writeChunk) || byTime(a, b));
  cs.splice(0, cs.length, ...tie, ...rest, ...bad);
}

/** Fills `reasons` of the top candidates with the numbers that put them there. */
function explain(cs: TuneCandidate[], cal: Calibration, o: TuneOptions, shape: readonly number[], dtype: DataType): void {
  const best = cs.find((c) => c.violations.length === 0);
  for (const c of cs.slice(0, 5)) {
    const r: string[] = [];
    const parts = Object.entries(c.predicted.byPattern).map(([k, p]) =>
      `${k} ${(p.weight * 100).toFixed(0)}%: ${f2(p.ms)} ms, ${f2(p.requests)} requests, ${fmtB(p.storedBytes)} fetched, ${f2(p.chunks)} chunks decoded`);
    r.push(`predicted ${f2(c.predicted.msPerAccess)} ms per access of the mix on ${shape.join('x')} ${dtype} (${parts.join('; ')})`);
    if (c.measured) {
      const mp = Object.entries(c.measured.byPattern).map(([k, p]) => `${k} mean ${f2(p.meanMs)} / p95 ${f2(p.p95Ms)} ms, ${f2(p.requestsPerAccess)} requests`);
      r.push(`measured on a ${c.measured.sampleShape.join('x')} sample: ${f2(c.measured.msPerAccess)} ms per access (model for the sample: ${f2(c.measured.predictedSampleMs)}); ${mp.join('; ')}` +
        (c.measured.writeMBps ? `; written at ${f2(c.measured.writeMBps)} MB/s` : ''));
    }
    r.push(`${c.objects} objects; compression ${f2(c.compressionRatio)}x; memory about ${fmtB(c.memoryBytes)}; ` +
      `GCS: read $${f2(c.cost.readPerTB!)}/TB (operations $${f2(c.cost.readOpsPerTB!)}), write $${f2(c.cost.writePerTB!)}/TB, storage $${f2(c.cost.storagePerTBMonth!)}/TB-month`);
    if (c === best) {
      const unsharded = cs.find((x) => !x.sharded && x !== c && x.violations.length === 0);
      const alt = cs.find((x) => x !== c && x.violations.length === 0);
      if (alt) r.push(`runner-up ${alt.readChunk.join('x')} in ${alt.writeChunk.join('x')} ${alt.codec}: ${f2(alt.predicted.msPerAccess)} ms per access, ${f2(alt.predicted.requestsPerAccess)} requests, ${alt.objects} objects`);
      if (c.sharded && unsharded) {
        r.push(`sharding: ${f2(c.predicted.requestsPerAccess)} requests per access vs ${f2(unsharded.predicted.requestsPerAccess)} for the best unsharded layout (${unsharded.readChunk.join('x')}), at ${f2(cal.requestLatencyMs)} ms per request`);
      }
      const limits = [
        o.maxObjects !== undefined ? `objects ${c.objects} <= ${o.maxObjects}` : '',
        o.maxCostPerTB !== undefined ? `read $${f2(c.cost.readPerTB!)}/TB <= $${o.maxCostPerTB}` : '',
        o.maxMemoryBytes !== undefined ? `memory ${fmtB(c.memoryBytes)} <= ${fmtB(o.maxMemoryBytes)}` : '',
      ].filter(Boolean);
      if (limits.length) r.push(`limits met: ${limits.join(', ')}; ${cs.filter((x) => x.violations.length).length} candidates break a limit`);
      r.push(`chunk shape ${shapeName(c.readChunk)}: ${c.readChunk[0]! < Math.min(c.readChunk[1]!, c.readChunk[2]!) ? 'flat along z (XY planes read few chunks)' : c.readChunk.every((x) => x === c.readChunk[0]) ? 'cubic' : 'flat along y or x'}`);
    }
    c.reasons = r;
  }
}
