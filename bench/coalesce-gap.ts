/**
 * Measures the gap threshold of byte-range coalescing (`COALESCE_GAP`, src/sharding/coalesce.ts):
 * reads of inner chunks out of zarr3 shards on the built-in GCS emulator with first-byte latency
 * and a per-connection bandwidth cap, for several thresholds, in one run (rounds interleaved).
 *
 *   npx tsx bench/coalesce-gap.ts [--latency 20] [--mbps 400] [--chunk 65536] [--shards 1,16] [--rounds 5]
 *
 * Access patterns through a 4x4x4 shard of `--chunk`-byte inner chunks (C order, z slowest):
 * - `xy`: one z layer of inner chunks (16 adjacent chunks: no gap to bridge);
 * - `xz`: one y row per z layer (4 runs of 4 chunks, gaps of 12 chunks);
 * - `yz`: one x column (16 single chunks, gaps of 3 chunks);
 * - `sparse`: 4 single chunks far apart (gaps of 15+ chunks).
 * `--shards` reads that many shards at once (16: the request limiter, 32 slots, is busy).
 * Thresholds: fixed ones, and `default` (what a store without `coalesceGap` gets: adaptive).
 * Prints per pattern and threshold: median ms, requests and bytes per shard read.
 */
import { NdArray } from '../src/array/ndarray.js';
import { open } from '../src/open.js';
import { GcsStore } from '../src/kvstore/gcs.js';
import type { KvStore, ReadOptions } from '../src/kvstore/kvstore.js';
import { ShardFormat } from '../src/sharding/zarr3.js';
import { ShardedStore } from '../src/sharding/zarr3-store.js';
import { startEmulator } from '../src/testing/index.js';
import { Limiter } from '../src/util/limiter.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}
const LATENCY = Number(arg('latency', '20'));
const MBPS = Number(arg('mbps', '400'));
const CHUNK = Number(arg('chunk', String(64 * 1024)));
const SHARDS = arg('shards', '1,16').split(',').map(Number);
const ROUNDS = Number(arg('rounds', '5'));
/** Fixed thresholds, and -1: the default (adaptive: COALESCE_GAP idle, COALESCE_GAP_BUSY busy). */
const GAPS = [0, 4095, 32 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024, -1];
const N = 4; // inner chunks per shard side

/** A store view with a given coalesceGap (the shard read path reads it from its base store). */
class GapStore implements KvStore {
  constructor(private readonly base: KvStore, readonly coalesceGap: number) {}
  readonly readOnly = true;
  get url(): string {
    return this.base.url;
  }
  read(key: string, options?: ReadOptions) {
    return this.base.read(key, options);
  }
  write(): never {
    throw new Error('read-only');
  }
  delete(): never {
    throw new Error('read-only');
  }
  deleteRange(): never {
    throw new Error('read-only');
  }
  list(): never {
    throw new Error('read-only');
  }
  spec() {
    return this.base.spec();
  }
}

const patterns: Record<string, number[][]> = {
  xy: Array.from({ length: N * N }, (_, i) => [1, Math.floor(i / N), i % N]),
  xz: Array.from({ length: N * N }, (_, i) => [Math.floor(i / N), 1, i % N]),
  yz: Array.from({ length: N * N }, (_, i) => [Math.floor(i / N), i % N, 1]),
  sparse: [[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]],
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const emu = await startEmulator({ buckets: ['gapbench'], bandwidthMbps: MBPS });
try {
  const maxShards = Math.max(...SHARDS);
  const side = Math.round(Math.cbrt(CHUNK)); // uint8 chunk of about CHUNK bytes, raw
  const kv = { driver: 'gcs', bucket: 'gapbench', path: 'g/', endpoint: emu.url };
  const w = await open({
    driver: 'zarr3', kvstore: kv, create: true, dtype: 'uint8',
    schema: { domain: { shape: [side * N * maxShards, side * N, side * N] }, chunk_layout: { write_chunk: { shape: [side * N, side * N, side * N] }, read_chunk: { shape: [side, side, side] } } },
  } as never);
  const data = NdArray.zeros('uint8', [side * N * maxShards, side * N, side * N]);
  (data.data as Uint8Array).forEach((_, i, a) => (a[i] = (i * 2654435761) >>> 24));
  await w.write(data);
  emu.setLatency(LATENCY);
  const format = await ShardFormat.create(
    { chunk_shape: [side, side, side], codecs: [{ name: 'bytes' }], index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }] },
    { dtype: 'uint8', shape: [side * N, side * N, side * N], fillValue: 0 },
  );
  console.log(`latency ${LATENCY} ms, ${MBPS} Mbps per connection, inner chunks ${side}^3 = ${side ** 3} B raw, ${ROUNDS} rounds, median ms (requests, MB) per read of the pattern in each shard`);
  for (const shards of SHARDS) {
    for (const [name, chunks] of Object.entries(patterns)) {
      const rows: string[] = [];
      const times = new Map<number, number[]>();
      const usage = new Map<number, { req: number; bytes: number }>();
      // One store (and its index cache) per threshold; indexes warmed first.
      const stores = new Map<number, ShardedStore>();
      for (const gap of GAPS) {
        const gcs = new GcsStore({ bucket: 'gapbench', path: 'g/', endpoint: emu.url, concurrency: new Limiter(32) });
        const st = new ShardedStore(gap < 0 ? gcs : new GapStore(gcs, gap), format, (pos) => `c/${pos.join('/')}`);
        for (let s = 0; s < shards; s++) await st.read(`${s * N},0,0`);
        stores.set(gap, st);
      }
      emu.setLatency(LATENCY);
      for (let round = 0; round < ROUNDS; round++) {
        for (const gap of GAPS) {
          const st = stores.get(gap)!;
          const a = emu.counters();
          const t0 = performance.now();
          await Promise.all(Array.from({ length: shards }, (_, s) => {
            const keys = chunks.map(([z, y, x]) => `${s * N + z!},${y},${x}`);
            return st.readCell(st.cellOf(keys[0]!), keys);
          }));
          const ms = performance.now() - t0;
          const b = emu.counters();
          (times.get(gap) ?? times.set(gap, []).get(gap)!).push(ms);
          usage.set(gap, { req: (b.requests.total - a.requests.total) / shards, bytes: (b.bytesOut - a.bytesOut) / shards });
        }
      }
      for (const gap of GAPS) {
        const u = usage.get(gap)!;
        rows.push(`gap ${(gap < 0 ? 'default' : String(gap)).padStart(7)}: ${median(times.get(gap)!).toFixed(1).padStart(7)} ms (${u.req.toFixed(1)} req, ${(u.bytes / 1e6).toFixed(2)} MB)`);
      }
      console.log(`\n${name}, ${shards} shard(s) at once:\n  ${rows.join('\n  ')}`);
    }
  }
} finally {
  await emu.stop();
}
