import { runEngine } from '../engine.js';
import { type Layout, parseCodec } from '../layout.js';
import type { BenchOptions, Workload, WorkloadResult } from '../types.js';

/**
 * Issue 13: the same uint8 volume in four layouts on the built-in GCS emulator with 20 ms
 * first-byte latency, through the bench engine: written in write-chunk blocks (16 at a time),
 * then 8 XY planes and 8 64^3 blocks (random positions), one access at a time, by
 * volstore and zarrita (checked byte for byte), next to the I/O ceiling (the same store reads
 * without decoding). Per layout: MB/s, latency p50/p95/p99 per access, requests and bytes per
 * access, and estimated GCS cost per TB read, written and stored. The edge is min(--size, 256)
 * (16.8 MB) so the workload stays near half a minute.
 */
const MAX_EDGE = 256;
const LATENCY_MS = 20;

async function run(opts: BenchOptions): Promise<WorkloadResult> {
  const n = Math.min(MAX_EDGE, opts.size);
  const zstd = parseCodec('zstd:3');
  const shard = Math.min(256, Math.ceil(n / 64) * 64);
  const shape = [n, n, n];
  const layouts: Layout[] = [
    { dtype: 'uint8', shape, chunk: [32, 32, 32], codec: zstd },
    { dtype: 'uint8', shape, chunk: [64, 64, 64], codec: zstd },
    { dtype: 'uint8', shape, chunk: [128, 128, 128].map((c) => Math.min(c, n)), codec: zstd },
    { dtype: 'uint8', shape, chunk: [64, 64, 64], shard: [shard, shard, shard], codec: zstd },
  ];
  const { result } = await runEngine({
    name: 'layouts',
    description:
      `${n}^3 uint8 (EM-like), zstd(3), four layouts (32^3, 64^3, 128^3 chunks; 64^3 chunks in ${shard}^3 shards) on the built-in GCS emulator ` +
      `with ${LATENCY_MS} ms latency: write, XY planes, random 64^3 blocks; per-access latency, requests, cost; volstore vs zarrita vs the I/O ceiling`,
    layouts,
    store: 'gcs-emulator',
    latencyMs: LATENCY_MS,
    reads: [{ kind: 'xy' }, { kind: 'block', size: Math.min(64, n) }],
    write: { kind: 'full' },
    strategy: 'random',
    totalReadBytes: 64e6,
    maxAccesses: 8,
    repeat: 1,
    warmup: 1,
    concurrency: 1,
    writeConcurrency: 16,
    compare: ['zarrita'],
    seed: opts.seed,
    prices: opts.prices,
    tmpRoot: opts.tmpRoot,
    log: opts.log,
    progress: opts.progress,
  });
  result.params.size = n;
  result.params.requestedSize = opts.size;
  return result;
}

/** The `layouts` workload (see the module comment). */
export const layoutsWorkload: Workload = {
  name: 'layouts',
  description: 'four chunk/shard layouts on the GCS emulator with 20 ms latency: write and read MB/s, latency p50/p95/p99 per access, requests per access, GCS cost per TB; volstore vs zarrita',
  run,
};
