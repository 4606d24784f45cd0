/**
 * The performance model behind `volstore tune`: what one access of a pattern costs on a layout,
 * from counts that follow from the geometry alone (chunks touched, requests after sharding's
 * index caching and range merging, stored and decoded bytes) and a few rates measured once on
 * the target store and a sample of the data (request latency, transfer rate, decode rate and
 * compression ratio per codec, per-chunk overhead).
 *
 *   time(access) = index rounds x L + ceil(data requests / P) x L + stored bytes / B
 *                  + chunks x h + decoded bytes / decode rate + returned bytes / copy rate
 *
 * L = request latency, P = requests in flight (the store's concurrency limit), B = transfer rate.
 * Decoding is counted as if on one core (conservative, and stable on a busy machine). Because
 * the counts are exact and deterministic, a candidate's rank can only move by noise in the
 * rates, which scale all candidates of a codec alike; what separates layouts (requests x L,
 * bytes read per byte wanted) does not depend on the clock.
 */
import { type DataType, dtypeSize } from '../array/dtype.js';
import { COALESCE_GAP, mergeRanges } from '../sharding/coalesce.js';
import { type AccessPattern, accessBoxes, accessName, type Box, boxSize, type MixEntry, spatialAxes, type Strategy } from './access.js';
import { costPerTB, type CostEstimate, type GcsPrices, GCS_PRICES } from './cost.js';
import type { CodecChoice } from './layout.js';

/** Rates measured on the target store and the sample (see tune.ts `calibrate`). */
export interface Calibration {
  /** Latency of one small request (ms): first byte plus per-request overhead. */
  requestLatencyMs: number;
  /** Transfer rate of large reads with several in flight (MB/s, MB = 1e6 bytes). */
  bandwidthMBps: number;
  /** Requests in flight at once (the store's concurrency limit). */
  concurrency: number;
  /** Largest merged ranged read of a shard (the store's coalesce limit, bytes). */
  coalesceLimit: number;
  /** Fixed cost per chunk read (µs): planning, dispatch, assembly. */
  perChunkUs: number;
  /** Copy rate of decoded bytes into the result (MB/s). */
  copyMBps: number;
  /** Per codec name: decode / encode rate (MB/s of decoded bytes) and compression ratio per chunk shape ("64x64x64"). */
  codecs: Record<string, { decodeMBps: number; encodeMBps: number; ratio: Record<string, number> }>;
  /** One line for humans. */
  summary: string;
}

/** A candidate layout: read chunk, optional shard, codec. */
export interface CandidateLayout {
  chunk: number[];
  shard?: number[];
  codec: CodecChoice;
}

/** Predicted figures of one pattern (per access, averaged over the modelled accesses). */
export interface PatternPrediction {
  ms: number;
  requests: number;
  storedBytes: number;
  /** Decoded bytes of the chunks touched. */
  decodedBytes: number;
  /** Bytes the access returns. */
  returnedBytes: number;
  chunks: number;
  accesses: number;
}

/** Predicted figures of a candidate under an access mix. */
export interface Prediction {
  /** Mix-weighted time per access (ms): the score (lower is better). */
  msPerAccess: number;
  requestsPerAccess: number;
  storedBytesPerAccess: number;
  returnedBytesPerAccess: number;
  byPattern: Record<string, PatternPrediction & { weight: number }>;
}

/** The compression ratio of a codec for a chunk shape (nearest measured shape by volume when that one was not measured). */
export function ratioOf(cal: Calibration, codec: string, chunk: readonly number[]): number {
  const c = cal.codecs[codec];
  if (!c) throw new RangeError(`no calibration for codec ${codec}`);
  const k = chunk.join('x');
  if (c.ratio[k] !== undefined) return c.ratio[k]!;
  const vol = chunk.reduce((a, b) => a * b, 1);
  let best: number | undefined;
  let bestD = Infinity;
  for (const [key, r] of Object.entries(c.ratio)) {
    const v = key.split('x').reduce((a, b) => a * Number(b), 1);
    const d = Math.abs(Math.log(v / vol));
    if (d < bestD) {
      bestD = d;
      best = r;
    }
  }
  return best ?? 1;
}

/** Chunk index range [lo, hi) along one dimension that a box range touches. */
const span = ([lo, hi]: [number, number], c: number): [number, number] => [Math.floor(lo / c), Math.ceil(hi / c)];

/**
 * Counts of one access on a layout: chunks touched; requests and stored bytes (sharded: the
 * index of every shard not yet in `indexCache`, then one request per merged run of the touched
 * inner chunks, merged as the shard reader merges them: gaps up to COALESCE_GAP, runs up to the
 * coalesce limit). Inner chunks are stored in C order of their position in the shard, all of
 * the same encoded size.
 */
export function accessCounts(
  box: Box,
  l: { chunk: readonly number[]; shard?: readonly number[] },
  chunkStored: number,
  coalesceLimit: number,
  indexCache: Set<string>,
): { chunks: number; dataRequests: number; indexRequests: number; storedBytes: number } {
  const rank = box.length;
  const cr = box.map((r, d) => span(r, l.chunk[d]!));
  const chunks = cr.reduce((a, [lo, hi]) => a * (hi - lo), 1);
  if (!l.shard) return { chunks, dataRequests: chunks, indexRequests: 0, storedBytes: chunks * chunkStored };
  const per = l.shard.map((s, d) => s / l.chunk[d]!);
  const nInner = per.reduce((a, b) => a * b, 1);
  const indexBytes = nInner * 16 + 4;
  // shards touched: ranges of shard indices per dim
  const sr = cr.map(([lo, hi], d) => [Math.floor(lo / per[d]!), Math.ceil(hi / per[d]!)] as [number, number]);
  let dataRequests = 0, indexRequests = 0, storedBytes = 0;
  const shardPos = new Array<number>(rank).fill(0);
  const walk = (d: number) => {
    if (d === rank) {
      const key = shardPos.join(',');
      if (!indexCache.has(key)) {
        indexCache.add(key);
        indexRequests++;
        storedBytes += indexBytes;
      }
      // the touched inner sub-box of this shard, in local chunk coordinates
      const sub = cr.map(([lo, hi], dd) => [Math.max(lo, shardPos[dd]! * per[dd]!) - shardPos[dd]! * per[dd]!, Math.min(hi, (shardPos[dd]! + 1) * per[dd]!) - shardPos[dd]! * per[dd]!] as [number, number]);
      // one span per run along the last dimension (contiguous in C order)
      const spans: { offset: number; length: number }[] = [];
      const last = rank - 1;
      const runLen = sub[last]![1] - sub[last]![0];
      const pos = sub.map(([lo]) => lo);
      const rows = (dd: number) => {
        if (dd === last) {
          let lin = 0;
          for (let k = 0; k < rank; k++) lin = lin * per[k]! + (k === last ? sub[last]![0] : pos[k]!);
          spans.push({ offset: lin * chunkStored, length: runLen * chunkStored });
          return;
        }
        for (let i = sub[dd]![0]; i < sub[dd]![1]; i++) {
          pos[dd] = i;
          rows(dd + 1);
        }
      };
      rows(0);
      for (const m of mergeRanges(spans, coalesceLimit, COALESCE_GAP)) {
        dataRequests++;
        storedBytes += m.length;
      }
      return;
    }
    for (let i = sr[d]![0]; i < sr[d]![1]; i++) {
      shardPos[d] = i;
      walk(d + 1);
    }
  };
  walk(0);
  return { chunks, dataRequests, indexRequests, storedBytes };
}

/** Modelled accesses per pattern (random positions, seeded): enough to average, cheap to count. */
const MODEL_ACCESSES = 24;

/**
 * Predicts a candidate's figures under a mix on a volume of `shape` (3-d, [z, y, x]).
 * Accesses are drawn as the bench engine draws them (same generator, `strategy`, `seed`); the
 * shard index cache is shared across the accesses of a pattern, as a reader's is.
 */
export function predict(
  cal: Calibration,
  shape: readonly number[],
  dtype: DataType,
  cand: CandidateLayout,
  mix: readonly MixEntry[],
  opts: { strategy?: Strategy; seed?: number; accesses?: number } = {},
): Prediction {
  const item = dtypeSize(dtype);
  const chunkBytes = cand.chunk.reduce((a, b) => a * b, 1) * item;
  const codec = cal.codecs[cand.codec.name];
  if (!codec) throw new RangeError(`no calibration for codec ${cand.codec.name}`);
  const chunkStored = chunkBytes / ratioOf(cal, cand.codec.name, cand.chunk);
  const L = cal.requestLatencyMs;
  const byPattern: Prediction['byPattern'] = {};
  const axes = spatialAxes(3);
  for (const { access, weight } of mix) {
    const boxes = accessBoxes(access, {
      origin: [0, 0, 0], shape, axes, writeChunk: cand.shard ?? cand.chunk,
      strategy: opts.strategy ?? 'random', maxAccesses: opts.accesses ?? MODEL_ACCESSES, seed: opts.seed ?? 1,
    });
    const cache = new Set<string>();
    const tot: PatternPrediction = { ms: 0, requests: 0, storedBytes: 0, decodedBytes: 0, returnedBytes: 0, chunks: 0, accesses: boxes.length };
    for (const box of boxes) {
      const c = accessCounts(box, cand, chunkStored, cal.coalesceLimit, cache);
      const decoded = c.chunks * chunkBytes;
      const returned = boxSize(box) * item;
      const ms =
        (c.indexRequests > 0 ? Math.ceil(c.indexRequests / cal.concurrency) * L : 0) +
        Math.ceil(c.dataRequests / cal.concurrency) * L +
        c.storedBytes / 1e3 / cal.bandwidthMBps +
        (c.chunks * cal.perChunkUs) / 1e3 +
        decoded / 1e3 / codec.decodeMBps +
        returned / 1e3 / cal.copyMBps;
      tot.ms += ms;
      tot.requests += c.dataRequests + c.indexRequests;
      tot.storedBytes += c.storedBytes;
      tot.decodedBytes += decoded;
      tot.returnedBytes += returned;
      tot.chunks += c.chunks;
    }
    const n = Math.max(1, boxes.length);
    byPattern[accessName(access)] = {
      ms: tot.ms / n, requests: tot.requests / n, storedBytes: tot.storedBytes / n, decodedBytes: tot.decodedBytes / n,
      returnedBytes: tot.returnedBytes / n, chunks: tot.chunks / n, accesses: boxes.length, weight,
    };
  }
  const sum = (f: (p: PatternPrediction & { weight: number }) => number) => Object.values(byPattern).reduce((a, p) => a + p.weight * f(p), 0);
  return {
    msPerAccess: sum((p) => p.ms),
    requestsPerAccess: sum((p) => p.requests),
    storedBytesPerAccess: sum((p) => p.storedBytes),
    returnedBytesPerAccess: sum((p) => p.returnedBytes),
    byPattern,
  };
}

/**
 * Estimated cost per TB of a candidate: reading with the mix (class B per request, egress of the
 * stored bytes fetched), writing (one class A upload per object, the volume written once in
 * write chunks) and storing (stored / decoded bytes).
 */
export function predictedCost(
  p: Prediction,
  l: { shape: readonly number[]; chunk: readonly number[]; shard?: readonly number[]; ratio: number; itemSize: number },
  prices: GcsPrices = GCS_PRICES,
): CostEstimate {
  const decoded = l.shape.reduce((a, b) => a * b, 1) * l.itemSize;
  const w = l.shard ?? l.chunk;
  const objects = l.shape.reduce((a, s, d) => a * Math.ceil(s / w[d]!), 1);
  return costPerTB(
    {
      read: { ops: { classA: 0, classB: p.requestsPerAccess, free: 0, egressBytes: p.storedBytesPerAccess }, decodedBytes: p.returnedBytesPerAccess },
      write: { ops: { classA: objects, classB: 0, free: 0, egressBytes: 0 }, decodedBytes: decoded },
      stored: { storedBytes: decoded / l.ratio, decodedBytes: decoded },
    },
    prices,
  );
}

/** `access` patterns of a mix, for the engine. */
export function mixPatterns(mix: readonly MixEntry[]): AccessPattern[] {
  return mix.map((m) => m.access);
}
