import { Context } from '../../context/context.js';
import { NdArray } from '../../array/ndarray.js';
import { open } from '../../open.js';
import { startEmulator, type Emulator } from '../../testing/index.js';
import type { Volume } from '../../volume.js';
import { mbPerSec } from '../timing.js';
import type { BenchOptions, Measured, ResultRow, Workload, WorkloadResult } from '../types.js';
import { generateVolume } from '../volume-gen.js';
import { assertBytesEqual, BenchVerificationError } from './zarr3-file.js';

/**
 * Issue 12: a viewer scrolling through a volume on remote storage. A zarr v3 uint8 volume of
 * [Z, 2Z, 2Z] ([512, 1024, 1024] at the default size: z, y, x), zstd(1), 64^3 chunks,
 * unsharded and in 256^3 shards, on the built-in GCS emulator with 20 ms first-byte latency.
 *
 * The simulated user: a viewer shows slice z = 0 of a 512 x 512 viewport (centred in y and x),
 * then the user scrolls steadily through `SLICES` (200) consecutive XY slices, one every
 * `TICK_MS` (20 ms). Slice i is due at t0 + i * TICK_MS; the viewer requests it when it is due or
 * when the previous slice is shown, whichever is later (it shows slices one at a time); its
 * latency is from when it was due to when its data is back. Latency counted from the due time,
 * not from the request, charges a slow slice's delay to the slices queued behind it, as the user
 * sees it (no coordinated omission). Why 20 ms: a brisk mouse-wheel scroll (50 slices/s, one
 * 64-deep chunk layer every 1.28 s), equal to the storage's first-byte latency, so a slice that
 * needs a round trip can never keep up while a cached one always can: exactly the gap a
 * prefetcher has to fill, with time to fill it (a chunk layer of the viewport loads in well
 * under 1.28 s).
 *
 * Contenders, each with its own Context (256 MiB cache pool, `recheck_cached_data: "open"`, as a
 * viewer of immutable data runs): volstore with prefetch off; volstore with
 * `withPrefetch({policy: 'neighbors', axis: 0, depth: 1})`; zarrita 0.7 with its default
 * FetchStore (no cache, no prefetch; its optional byte-caching extension is not enabled) on the
 * emulator's S3 URLs of the same objects. Rows: `op` = `scroll prefetch=off` and
 * `scroll prefetch=neighbors`, with `volstore.p50Ms/p95Ms/p99Ms` and `zarrita.p95Ms`.
 * Targets: prefetch p95 <= 1/3 of prefetch-off p95 and <= 1/5 of zarrita's.
 *
 * Only the chunks the viewport can reach are written (the scrolled z range plus one chunk layer
 * beyond, 512 x 512 in y and x): the rest of the volume is never read by any contender.
 */

const CHUNK = 64;
const SHARD = 256;
const LATENCY_MS = 20;
const TICK_MS = 20;
const MAX_SLICES = 200;
const CACHE_BYTES = 256 * 1024 * 1024;
const BUCKET = 'viewer-scroll';

/** Latency percentiles of one scroll, on top of the usual Measured fields. */
export interface LatencyMeasured extends Measured {
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function latencyMeasured(samples: number[], bytesPerSlice: number): LatencyMeasured {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  const p50 = percentile(sorted, 50);
  return {
    medianMs: round(p50),
    samplesMs: samples.map(round),
    bytes: bytesPerSlice,
    mbPerSec: mbPerSec(bytesPerSlice, p50),
    p50Ms: round(p50),
    p95Ms: round(percentile(sorted, 95)),
    p99Ms: round(percentile(sorted, 99)),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs the simulated user (see the module comment) with `read(z)`; returns per-slice latencies
 * in ms. Every slice is checked against `expected(z)`.
 */
async function scroll(slices: number, read: (z: number) => Promise<Uint8Array>, expected: (z: number) => Uint8Array, what: string): Promise<number[]> {
  assertBytesEqual(`${what} z=0`, await read(0), expected(0)); // the view opens (not counted)
  const latencies: number[] = [];
  const t0 = performance.now();
  for (let i = 1; i <= slices; i++) {
    const due = t0 + i * TICK_MS;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const data = await read(i);
    latencies.push(performance.now() - due);
    assertBytesEqual(`${what} z=${i}`, data, expected(i));
  }
  return latencies;
}

interface Usage {
  requests: number;
  bytesOut: number;
  seconds: number;
  stats?: ReturnType<Context['stats']>;
}

async function run(opts: BenchOptions): Promise<WorkloadResult> {
  const Z = Math.max(128, Math.min(512, opts.size));
  const Y = 2 * Z;
  const V = Z; // viewport edge (512 at the default size)
  const y0 = (Y - V) / 2;
  const slices = Math.min(MAX_SLICES, Z - 2);
  const written = Math.min(Z, (Math.ceil((slices + 1) / CHUNK) + 1) * CHUNK);
  const shard = Math.min(SHARD, Z);
  const log = opts.log;
  const result: WorkloadResult = {
    name: 'viewer-scroll',
    description:
      `a viewer scrolling ${slices} consecutive XY slices (${V}x${V}) of a zarr v3 [${Z}, ${Y}, ${Y}] uint8 volume (zstd, ${CHUNK}^3 chunks, ` +
      `unsharded and in ${shard}^3 shards) on the GCS emulator with ${LATENCY_MS} ms latency, one slice due every ${TICK_MS} ms; ` +
      `volstore with a 256 MiB cache, prefetch off vs neighbors, vs zarrita`,
    params: { shape: [Z, Y, Y], viewport: [V, V], slices, tickMs: TICK_MS, latencyMs: LATENCY_MS, chunk: CHUNK, shard, cacheBytes: CACHE_BYTES, writtenZ: written, seed: opts.seed },
    rows: [],
    notes: [
      `Simulated user: slice z=0 shown first (not counted), then slice i is due at t0 + i x ${TICK_MS} ms and requested when due or when slice i-1 is shown, ` +
        `whichever is later; latency = data back - due time (a slow slice delays the ones queued behind it, as the user sees it). ${TICK_MS} ms: a brisk ` +
        `mouse-wheel scroll, equal to the storage latency. One scroll per contender (${slices} samples each), in the order off, neighbors, zarrita; ` +
        `each volstore contender has its own Context (256 MiB cache, recheck_cached_data "open"). zarrita: default FetchStore, no cache. ` +
        `Only the chunks the viewport reaches (z < ${written}, ${V}x${V} in y and x) are written.`,
    ],
    profiles: [],
  };
  const emu: Emulator = await startEmulator({ buckets: [BUCKET], seed: opts.seed });
  try {
    const t0 = performance.now();
    const src = generateVolume([written, V, V], opts.seed);
    log(`generated the [${written}, ${V}, ${V}] region in ${(performance.now() - t0).toFixed(0)} ms; emulator at ${emu.url}`);
    const expected = (z: number) => src.subarray(z * V * V, (z + 1) * V * V);
    const zarr = await import('zarrita').catch(() => undefined);
    if (!zarr) result.notes.push('zarrita is not installed: no peer comparison (npm i -D zarrita)');
    for (const sharded of [false, true]) {
      const layout = sharded ? `zstd, ${shard}^3 shards of ${CHUNK}^3 chunks` : `zstd, ${CHUNK}^3 chunks`;
      const prefix = `${sharded ? 'sharded' : 'unsharded'}.zarr/`;
      const kv = { driver: 'gcs', bucket: BUCKET, path: prefix, endpoint: emu.url };
      const inner = [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd', configuration: { level: 1, checksum: false } }];
      const codecs = sharded
        ? [{ name: 'sharding_indexed', configuration: { chunk_shape: [CHUNK, CHUNK, CHUNK], codecs: inner, index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }], index_location: 'end' } }]
        : inner;
      emu.setLatency(0);
      let t1 = performance.now();
      const writer = await open({
        driver: 'zarr3', kvstore: kv, create: true, delete_existing: true, dtype: 'uint8',
        metadata: { shape: [Z, Y, Y], chunk_grid: { name: 'regular', configuration: { chunk_shape: sharded ? [shard, shard, shard] : [CHUNK, CHUNK, CHUNK] } }, codecs },
      } as never);
      await writer.slice([[0, written], [y0, y0 + V], [y0, y0 + V]]).write(new NdArray('uint8', src, [written, V, V]));
      log(`[${layout}] wrote in ${(performance.now() - t1).toFixed(0)} ms`);
      emu.setLatency(LATENCY_MS);

      const usage = new Map<string, Usage>();
      const counted = async (name: string, f: () => Promise<number[]>, context?: Context): Promise<number[]> => {
        const a = emu.counters();
        const t = performance.now();
        const lat = await f();
        const b = emu.counters();
        usage.set(name, { requests: b.requests.total - a.requests.total, bytesOut: b.bytesOut - a.bytesOut, seconds: (performance.now() - t) / 1e3, stats: context?.stats() });
        return lat;
      };
      const volstore = async (prefetch: boolean): Promise<number[]> => {
        const context = new Context({ cache_pool: { total_bytes_limit: CACHE_BYTES } });
        const name = `volstore prefetch=${prefetch ? 'neighbors' : 'off'}`;
        return counted(name, async () => {
          const vol: Volume = await open({ driver: 'zarr3', kvstore: kv, recheck_cached_data: 'open' } as never, { context });
          const viewer = prefetch ? vol.withPrefetch({ policy: 'neighbors', axis: 0, depth: 1 }) : vol;
          return scroll(slices, async (z) => (await viewer.slice([z, [y0, y0 + V], [y0, y0 + V]]).read()).data as Uint8Array, expected, `${layout} ${name}`);
        }, context);
      };
      t1 = performance.now();
      const off = await volstore(false);
      const on = await volstore(true);
      let zl: number[] | undefined;
      if (zarr) {
        const FetchStore = zarr.FetchStore;
        zl = await counted('zarrita', async () => {
          const arr = await zarr.open(new FetchStore(`${emu.url}/s3/${BUCKET}/${prefix}`) as never, { kind: 'array' });
          return scroll(slices, async (z) => {
            const r = await zarr.get(arr as never, [z, zarr.slice(y0, y0 + V), zarr.slice(y0, y0 + V)]);
            if (!(r.data instanceof Uint8Array)) throw new BenchVerificationError(`zarrita returned ${Object.prototype.toString.call(r.data)}`);
            return r.data;
          }, expected, `${layout} zarrita`);
        });
      }
      const mOff = latencyMeasured(off, V * V);
      const mOn = latencyMeasured(on, V * V);
      const mZ = zl && latencyMeasured(zl, V * V);
      const verified = `every slice of every contender = the generated volume${zl ? ' (zarrita too)' : ''}`;
      const rowOf = (op: string, m: LatencyMeasured, name: string): ResultRow => ({
        layout,
        op,
        decodedBytes: V * V,
        fileBytes: Math.round((usage.get(name)?.bytesOut ?? 0) / slices),
        volstore: m,
        ...(mZ ? { zarrita: mZ, vsZarrita: mZ.medianMs / m.medianMs } : {}),
        verified,
      });
      result.rows.push(rowOf('scroll prefetch=off', mOff, 'volstore prefetch=off'));
      const onRow = rowOf('scroll prefetch=neighbors', mOn, 'volstore prefetch=neighbors');
      const vsOff = mOff.p95Ms / mOn.p95Ms;
      const vsZ = mZ ? mZ.p95Ms / mOn.p95Ms : undefined;
      onRow.target = {
        text: `p95 <= 1/3 of prefetch=off (${vsOff.toFixed(1)}x lower)${vsZ !== undefined ? ` and <= 1/5 of zarrita (${vsZ.toFixed(1)}x lower)` : ''}`,
        met: vsOff >= 3 && (vsZ === undefined || vsZ >= 5),
      };
      result.rows.push(onRow);
      const fmt = (m: LatencyMeasured) => `p50 ${m.p50Ms.toFixed(1)} / p95 ${m.p95Ms.toFixed(1)} / p99 ${m.p99Ms.toFixed(1)} ms`;
      log(`[${layout}] off ${fmt(mOff)}; neighbors ${fmt(mOn)}${mZ ? `; zarrita ${fmt(mZ)}` : ''} (${((performance.now() - t1) / 1e3).toFixed(1)} s)`);
      for (const [name, u] of usage) {
        const s = u.stats;
        result.notes.push(
          `${layout}, ${name}: ${u.requests} requests, ${(u.bytesOut / 1e6).toFixed(1)} MB sent, ${u.seconds.toFixed(1)} s` +
            (s ? `; cache hits ${s.hits}, misses ${s.misses}, prefetch hits ${s.prefetchHits}, prefetch loads ${s.cache.prefetch.issued} (dropped ${s.cache.prefetch.dropped}, skipped ${s.cache.prefetch.skipped}), joined ${s.cache.joined}` : ''),
        );
      }
      (result.params.usage ??= {} as Record<string, unknown>);
      (result.params.usage as Record<string, unknown>)[layout] = Object.fromEntries(
        [...usage].map(([name, u]) => [name, { requests: u.requests, bytesOut: u.bytesOut, seconds: u.seconds, ...(u.stats ? { hits: u.stats.hits, misses: u.stats.misses, prefetchHits: u.stats.prefetchHits } : {}) }]),
      );
    }
  } finally {
    await emu.stop();
  }
  return result;
}

export const viewerScrollWorkload: Workload = {
  name: 'viewer-scroll',
  description: 'a viewer scrolling 200 XY slices on the GCS emulator (20 ms): per-slice latency p50/p95/p99, volstore prefetch off vs neighbors vs zarrita, unsharded and sharded',
  run,
};
