import { Context } from '../../context/context.js';
import { NdArray } from '../../array/ndarray.js';
import { open } from '../../open.js';
import { startEmulator, type Emulator } from '../../testing/index.js';
import type { Volume } from '../../volume.js';
import { planReads, type Box, type FileRead } from '../io-ceiling.js';
import { mbPerSec, measured, measureInterleaved, type Contender } from '../timing.js';
import type { BenchOptions, ResultRow, Workload, WorkloadResult } from '../types.js';
import { generateVolume } from '../volume-gen.js';
import { classifyEmulatorRequests, costPerTB } from '../cost.js';
import { assertBytesEqual, BenchVerificationError } from './zarr3-file.js';

/**
 * Issue 5: the zarr3-file uint8 volume (zstd(3), 64^3 chunks) on the built-in GCS/S3 emulator
 * with 20 ms first-byte latency, unsharded and in 256^3 shards: full read and XY slice by
 * volstore (its `gcs` store, and its `http` store on the emulator's S3 path-style URLs), zarrita
 * (FetchStore on the same URLs) and raw GETs of the same objects / byte ranges (the ceiling);
 * request counts from the emulator counters around each run. The edge is min(--size, 256):
 * the default 512 becomes 256^3 (16.8 MB) to keep the workload well under two minutes.
 */

const CHUNK = 64;
const SHARD = 256;
const MAX_EDGE = 256;
const LATENCY_MS = 20;
const CONCURRENCY = 32;
const BUCKET = 'bench';

interface LayoutDef {
  name: string;
  sharded: boolean;
}

function codecs(sharded: boolean): unknown[] {
  const inner = [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd', configuration: { level: 3, checksum: false } }];
  if (!sharded) return inner;
  return [{
    name: 'sharding_indexed',
    configuration: {
      chunk_shape: [CHUNK, CHUNK, CHUNK],
      codecs: inner,
      index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }],
      index_location: 'end',
    },
  }];
}

function asBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  throw new BenchVerificationError(`reader returned ${Object.prototype.toString.call(data)}, expected Uint8Array`);
}

async function pool<T>(items: readonly T[], concurrency: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await f(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

async function get(url: string, range?: string): Promise<number> {
  const res = await fetch(url, range ? { headers: { Range: range } } : undefined);
  if (res.status === 404) {
    await res.body?.cancel();
    return 0;
  }
  if (res.status !== 200 && res.status !== 206) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.arrayBuffer()).byteLength;
}

/**
 * The ceiling: plain GETs of exactly the objects the op needs, 32 at a time, no decoding; for a
 * slice of a shard, the shard index (fetched by a suffix range once, then kept in `indexes`,
 * as the readers keep theirs after the warm-up) and one GET per run of adjacent inner chunks.
 * Returns the bytes received.
 */
async function rawGets(base: string, reads: readonly FileRead[], nInner: number, indexes: Map<string, Buffer>): Promise<number> {
  let bytes = 0;
  const url = (key: string) => `${base}${key}`;
  const whole = reads.filter((r) => !r.inner).map((r) => r.file);
  const sliced = reads.filter((r) => r.inner);
  await pool(whole, CONCURRENCY, async (k) => void (bytes += await get(url(k))));
  if (sliced.length === 0) return bytes;
  const indexBytes = nInner * 16 + 4;
  const ranges: { key: string; range: string }[] = [];
  await pool(sliced, CONCURRENCY, async (r) => {
    let idx = indexes.get(r.file);
    if (!idx) {
      const res = await fetch(url(r.file), { headers: { Range: `bytes=-${indexBytes}` } });
      if (res.status === 404) return void (await res.body?.cancel());
      idx = Buffer.from(await res.arrayBuffer());
      bytes += idx.length;
      indexes.set(r.file, idx);
    }
    const spans: [number, number][] = [];
    for (const i of r.inner!) {
      const off = idx.readBigUInt64LE(i * 16);
      if (off === 0xffffffffffffffffn) continue;
      spans.push([Number(off), Number(off) + Number(idx.readBigUInt64LE(i * 16 + 8))]);
    }
    spans.sort((x, y) => x[0] - y[0]);
    for (let i = 0; i < spans.length; ) {
      let [lo, hi] = spans[i++]!;
      while (i < spans.length && spans[i]![0] <= hi) hi = Math.max(hi, spans[i++]![1]);
      ranges.push({ key: r.file, range: `bytes=${lo}-${hi - 1}` });
    }
  });
  await pool(ranges, CONCURRENCY, async (r) => void (bytes += await get(url(r.key), r.range)));
  return bytes;
}

interface Usage {
  requests: number;
  bytesOut: number;
  byKind: Record<string, number>;
  /** Requests of the reader's first run on this op (cold: before its shard-index cache filled). */
  firstRequests: number;
}

/** Wraps a contender's run so the emulator requests it made (its last run) are recorded. */
function counted<T>(emu: Emulator, usage: Map<string, Usage>, name: string, f: () => Promise<T>): () => Promise<T> {
  return async () => {
    const a = emu.counters();
    const r = await f();
    const b = emu.counters();
    const byKind: Record<string, number> = {};
    for (const [k, v] of Object.entries(b.requests.byKind)) {
      const d = v - (a.requests.byKind[k] ?? 0);
      if (d) byKind[k] = d;
    }
    const requests = b.requests.total - a.requests.total;
    usage.set(name, { requests, bytesOut: b.bytesOut - a.bytesOut, byKind, firstRequests: usage.get(name)?.firstRequests ?? requests });
    return r;
  };
}

async function run(opts: BenchOptions): Promise<WorkloadResult> {
  const n = Math.min(opts.size, MAX_EDGE);
  const shard = Math.min(SHARD, Math.ceil(n / CHUNK) * CHUNK); // a whole number of chunks
  const log = opts.log;
  const layouts: LayoutDef[] = [
    { name: `zstd, ${CHUNK}^3 chunks`, sharded: false },
    { name: `zstd, ${shard}^3 shards`, sharded: true },
  ];
  const result: WorkloadResult = {
    name: 'emulator',
    description:
      `zarr v3 ${n}^3 uint8, zstd(3), ${CHUNK}^3 chunks unsharded and in ${shard}^3 shards, on the built-in GCS/S3 emulator ` +
      `with ${LATENCY_MS} ms first-byte latency; volstore gcs / http stores vs zarrita FetchStore vs raw GETs`,
    params: { size: n, requestedSize: opts.size, chunk: CHUNK, shard, latencyMs: LATENCY_MS, concurrency: CONCURRENCY, seed: opts.seed, runs: opts.runs, warmup: opts.warmup },
    rows: [],
    notes: [],
    profiles: [],
  };
  const emu = await startEmulator({ buckets: [BUCKET], latencyMs: 0, seed: opts.seed });
  try {
    const t0 = performance.now();
    const src = generateVolume([n, n, n], opts.seed);
    log(`generated ${n}^3 volume in ${(performance.now() - t0).toFixed(0)} ms; emulator at ${emu.url}`);
    const zarr = await import('zarrita').catch(() => undefined);
    const FetchStore = zarr ? (await import('@zarrita/storage/fetch')).default : undefined;
    if (!zarr || !FetchStore) result.notes.push('zarrita is not installed: no peer comparison (npm i -D zarrita @zarrita/storage)');
    const k = n > 100 ? 100 : n >> 1;
    const s3Base = `${emu.url}/s3/${BUCKET}/`;
    result.notes.push(
      `volstore gcs = the gcs kvstore (JSON API media downloads, gcs_request_concurrency 64); volstore http = the http kvstore on the emulator's ` +
        `S3 path-style URLs (${'${url}'}/s3/${BUCKET}/KEY, http_request_concurrency 64); zarrita = FetchStore on the same URLs. ` +
        `readFile column = raw GETs of the same objects (sliced shards: the shard index, kept after the warm-up as the readers keep theirs, then one ranged GET per run of adjacent inner chunks), ` +
        `32 at a time, no decoding: the latency-bound ceiling. The zarrita columns are the same measurement in both rows of a layout/op. ` +
        `Requests per GB: per decoded GB (1e9 bytes of array data returned); counters are diffed around each reader's last timed run (warm: ` +
        `shard indexes and metadata already cached by every reader; volstore caches no chunk data); "first run" = the same reader's first (cold) run of the op.`,
    );

    for (const l of layouts) {
      const prefix = `${l.sharded ? 'sharded' : 'unsharded'}.zarr/`;
      const gcsSpec = { driver: 'zarr3', kvstore: { driver: 'gcs', bucket: BUCKET, path: prefix, endpoint: emu.url } };
      const gcsContext = () => new Context({ gcs_request_concurrency: { limit: CONCURRENCY } });
      emu.setLatency(0);
      let t1 = performance.now();
      const writer = await open({
        ...gcsSpec, create: true, delete_existing: true, dtype: 'uint8',
        metadata: {
          shape: [n, n, n],
          chunk_grid: { name: 'regular', configuration: { chunk_shape: l.sharded ? [shard, shard, shard] : [CHUNK, CHUNK, CHUNK] } },
          codecs: codecs(l.sharded),
        },
      } as never, { context: gcsContext() });
      await writer.write(new NdArray('uint8', src, [n, n, n]));
      const writeMs = performance.now() - t1;
      emu.setLatency(LATENCY_MS);
      const base = `${s3Base}${prefix}`;
      t1 = performance.now();
      const volGcs = await open(gcsSpec as never, { context: gcsContext() });
      const volHttp = await open({ driver: 'zarr3', kvstore: { driver: 'http', base_url: base } } as never, {
        context: new Context({ http_request_concurrency: { limit: CONCURRENCY } }),
      });
      const za = zarr && FetchStore ? await zarr.open(new FetchStore(base) as never, { kind: 'array' }) : undefined;
      log(`[${l.name}] wrote in ${writeMs.toFixed(0)} ms (no latency); opened 3 readers in ${(performance.now() - t1).toFixed(0)} ms (${LATENCY_MS} ms latency)`);

      const nInner = l.sharded ? (shard / CHUNK) ** 3 : 1;
      const layout = { dir: '', shape: [n, n, n], chunk: [CHUNK, CHUNK, CHUNK], shard: l.sharded ? [shard, shard, shard] : undefined };
      const keyOf = (f: string) => f.replace(/^\/+/, '');
      const ops: { name: string; box: Box; view: (v: Volume) => Volume; sel: (number | null)[]; expected: Uint8Array }[] = [
        { name: 'full read', box: [[0, n], [0, n], [0, n]], view: (v) => v, sel: [null, null, null], expected: src },
        {
          name: `XY slice (z=${k})`,
          box: [[k, k + 1], [0, n], [0, n]],
          view: (v) => v.slice([k, [0, n], [0, n]]),
          sel: [k, null, null],
          expected: src.subarray(k * n * n, (k + 1) * n * n),
        },
      ];
      for (const op of ops) {
        const reads = planReads(layout, op.box).map((r) => ({ ...r, file: keyOf(r.file) }));
        const usage = new Map<string, Usage>();
        const indexes = new Map<string, Buffer>();
        const vg = op.view(volGcs);
        const vh = op.view(volHttp);
        let fileBytes = 0;
        const contenders: Contender<Uint8Array | number>[] = [
          { name: 'volstore gcs', run: counted(emu, usage, 'volstore gcs', async () => asBytes((await vg.read()).data)) },
          { name: 'volstore http', run: counted(emu, usage, 'volstore http', async () => asBytes((await vh.read()).data)) },
        ];
        if (zarr && za) {
          contenders.push({ name: 'zarrita', run: counted(emu, usage, 'zarrita', async () => asBytes((await zarr.get(za as never, op.sel)).data)) });
        }
        contenders.push({ name: 'raw GETs', run: counted(emu, usage, 'raw GETs', async () => (fileBytes = await rawGets(base, reads, nInner, indexes))) });
        const checks: string[] = [];
        let volstoreBytes: Uint8Array | undefined;
        const small = op.name !== 'full read';
        const what = `${result.name} [${l.name}] ${op.name}`;
        const timings = await measureInterleaved(contenders, {
          runs: small ? opts.runs * 5 : opts.runs,
          warmup: small ? Math.max(opts.warmup, Math.min(3, opts.runs)) : opts.warmup,
          check: (name, r) => {
            if (name.startsWith('volstore')) {
              assertBytesEqual(`${what}: ${name} vs the generated volume`, r as Uint8Array, op.expected);
              volstoreBytes = r as Uint8Array;
              checks.push(`${name} = expected`);
            } else if (name === 'zarrita') {
              assertBytesEqual(`${what}: volstore vs zarrita`, volstoreBytes!, r as Uint8Array);
              checks.push('zarrita = volstore');
            }
          },
        });
        const z = timings.get('zarrita');
        const rg = timings.get('raw GETs')!;
        for (const which of ['volstore gcs', 'volstore http']) {
          const v = measured(timings.get(which)!, op.expected.length, { perAccess: small });
          const row: ResultRow = {
            layout: `${l.name}, ${which}`,
            op: op.name,
            decodedBytes: op.expected.length,
            fileBytes,
            volstore: v,
            zarrita: z && measured(z, op.expected.length, { perAccess: small }),
            readFile: measured(rg, fileBytes),
            vsZarrita: z && z.medianMs / v.medianMs,
            vsReadFile: rg.medianMs / v.medianMs,
            verified: checks.join(', '),
          };
          if (row.vsZarrita !== undefined) row.target = { text: '> 1x zarrita', met: row.vsZarrita > 1 };
          // one run = one access: the reader's last (warm) run, as the emulator counted it
          const u = usage.get(which);
          if (u) {
            row.access = {
              accesses: 1, concurrency: 1, requestsPerAccess: u.requests, storedBytesPerAccess: u.bytesOut,
              decodedBytesPerAccess: op.expected.length, storedMBPerSec: mbPerSec(u.bytesOut, v.medianMs), requestsByKind: u.byKind,
            };
            row.cost = costPerTB({ read: { ops: classifyEmulatorRequests(u.byKind, u.bytesOut), decodedBytes: op.expected.length } }, opts.prices);
          }
          result.rows.push(row);
        }
        const perGB = (u: Usage) => (u.requests / (op.expected.length / 1e9));
        const parts = [...usage].map(([name, u]) =>
          `${name} ${u.requests} requests (${perGB(u) >= 1000 ? perGB(u).toFixed(0) : perGB(u).toFixed(1)}/GB; ` +
            `${Object.entries(u.byKind).map(([kk, v]) => `${kk} ${v}`).join(', ')}; ${(u.bytesOut / 1e6).toFixed(2)} MB sent; first run ${u.firstRequests})`,
        );
        result.notes.push(`requests, ${l.name}, ${op.name}: ${parts.join('; ')}`);
        log(
          `[${l.name}] ${op.name}: ` +
            ['volstore gcs', 'volstore http', 'zarrita', 'raw GETs']
              .filter((c) => timings.has(c))
              .map((c) => `${c} ${timings.get(c)!.medianMs.toFixed(1)} ms / ${usage.get(c)?.requests} req`)
              .join(', '),
        );
        (result.params.requests ??= {} as Record<string, unknown>);
        (result.params.requests as Record<string, unknown>)[`${l.name} | ${op.name}`] = Object.fromEntries(
          [...usage].map(([name, u]) => [name, { requests: u.requests, requestsPerGB: perGB(u), firstRunRequests: u.firstRequests, bytesOut: u.bytesOut, byKind: u.byKind }]),
        );
      }
    }
  } finally {
    await emu.stop();
  }
  return result;
}

export const emulatorWorkload: Workload = {
  name: 'emulator',
  description: 'zarr v3 on the GCS/S3 emulator with 20 ms latency, unsharded vs sharded: full read, XY slice, requests per GB; volstore gcs/http vs zarrita fetch',
  run,
};
