/**
 * The bench engine: times access patterns on any layout or dataset, per access, and turns what
 * the stores saw into throughput, latency percentiles, requests and bytes per access, read and
 * write amplification, cache hit rate and estimated GCS cost. `volstore bench --spec/--shape...`
 * runs it on the user's layout or dataset, the `layouts` workload on a fixed set of layouts,
 * and `volstore tune` on the candidates it checks.
 *
 * A layout it creates holds synthetic data (EM-like images or segmentations, volume-gen.ts) and
 * every read it times is checked against that data (the first accesses of each pattern, byte
 * for byte) and, with `compare: ['zarrita']`, against zarrita; an existing dataset is only read.
 */
import { bytesOf, type DataType, dtypeSize } from '../array/dtype.js';
import { NdArray, toCOrder } from '../array/ndarray.js';
import { Context } from '../context/context.js';
import type { KvStore } from '../kvstore/kvstore.js';
import { open } from '../open.js';
import type { Spec } from '../spec/spec.js';
import type { EmulatorCounters } from '../testing/index.js';
import { Volume } from '../volume.js';
import { type AccessPattern, accessBoxes, accessName, type Box, boxSize, spatialAxes, type Strategy } from './access.js';
import { classifyEmulatorRequests, classifyKvOperations, costPerTB, type KvOperationCounts, kvOperationCounts, type GcsPrices, GCS_PRICES, type OperationCounts } from './cost.js';
import { addCounters, CountingStore, emptyCounters, type StoreCounters, subtractCounters } from '../kvstore/counting.js';
import { createSpec, type Layout, layoutName, objectCount } from './layout.js';
import { openTarget, type StoreKind, type Target } from './target.js';
import { latencyPercentiles, measured, median, mbPerSec } from './timing.js';
import { BenchInputError } from './errors.js';
import { type AccessMetrics, type Measured, type ResultRow, type WorkloadResult } from './types.js';
import { syntheticVolume } from './volume-gen.js';
import { assertBytesEqual, BenchVerificationError } from './verify.js';

/** Prefetch policies `--prefetch` accepts. */
export type PrefetchPolicy = 'off' | 'neighbors' | 'sequential';

/**
 * Parses `--prefetch`: `off`, or a policy of `Volume.withPrefetch()` (applied to each read
 * pass by {@link withPrefetchPolicy}).
 * @throws BenchInputError for an unknown policy.
 */
export function parsePrefetch(text: string): PrefetchPolicy {
  if (text !== 'off' && text !== 'neighbors' && text !== 'sequential') {
    throw new BenchInputError(`--prefetch: "${text}" is not a policy (off, neighbors, sequential)`);
  }
  return text;
}

/**
 * The one place `--prefetch` maps to the API: a handle on `vol` whose reads drive the policy
 * (`vol.withPrefetch(policy)`), or `vol` itself for `off`.
 * @throws BenchInputError when the policy needs a cache and `--cache-bytes` is 0.
 */
export function withPrefetchPolicy(vol: Volume, policy: PrefetchPolicy | undefined): Volume {
  if (policy === undefined || policy === 'off') return vol;
  if (!vol.context.cachePool.cachesChunks) throw new BenchInputError(`--prefetch ${policy} needs a cache: give --cache-bytes`);
  return vol.withPrefetch(policy);
}

/** Options of {@link runEngine}. */
export interface EngineOptions {
  /** Name of the workload in the report. */
  name: string;
  description?: string;
  /**
   * An existing dataset to read (TensorStore spec JSON or URL as parsed by the CLI): only read,
   * no write pass, nothing deleted. With `create: true`, a layout to create at the spec's
   * location (any driver; 3-d, other dimensions of size 1), filled with synthetic data, written,
   * read, and left there.
   */
  spec?: Spec;
  /** Layouts to create on the target store (when no `spec`), each written and then read. */
  layouts: Layout[];
  store: StoreKind;
  latencyMs?: number;
  bandwidthMbps?: number;
  faults?: string;
  /** Read patterns, each timed separately (a row per layout and pattern). */
  reads: AccessPattern[];
  /** How created layouts are written (a row per layout), or 'none'. Default `full`. */
  write?: AccessPattern | 'none';
  strategy: Strategy;
  /** Per read pattern, at most this many decoded bytes per pass (caps the number of accesses). */
  totalReadBytes: number;
  /** Most accesses per pattern and pass (default 256). */
  maxAccesses?: number;
  /** Timed passes over each pattern's accesses. */
  repeat: number;
  /** Untimed accesses before the timed passes of each read pattern (JIT, metadata). */
  warmup: number;
  /** Accesses in flight at once. */
  concurrency: number;
  /** Blocks written at once in the write pass (default `concurrency`). */
  writeConcurrency?: number;
  /** `cache_pool.total_bytes_limit` (bytes; 0 = no cache). */
  cacheBytes?: number;
  /** `data_copy_concurrency.limit`: decode workers. */
  workers?: number;
  prefetch?: PrefetchPolicy;
  /** Peers to run the same accesses with. */
  compare?: 'zarrita'[];
  /** Replay the store reads of each pattern's first pass without decoding: the I/O ceiling. Default true. */
  ceiling?: boolean;
  seed: number;
  prices?: GcsPrices;
  tmpRoot: string;
  log: (msg: string) => void;
  progress?: (fraction: number) => void;
}

/** What the engine learned about one layout, for tune's model check and the notes. */
export interface LayoutStats {
  name: string;
  /** Decoded bytes of the volume. */
  decodedBytes: number;
  /** Stored bytes of its data objects (metadata excluded); undefined for datasets it did not write. */
  storedBytes?: number;
  /** Data objects stored. */
  objects?: number;
  compressionRatio?: number;
  /** Per pattern (by access name): mean latency per access (ms) over the timed passes, and per-access figures. */
  patterns: Record<string, { meanMs: number; p50Ms: number; p95Ms: number; requestsPerAccess: number; storedBytesPerAccess: number; decodedBytesPerAccess: number }>;
}

/** Result of {@link runEngine}: the workload result (rows, notes) and per-layout stats. */
export interface EngineResult {
  result: WorkloadResult;
  layouts: LayoutStats[];
}

type ZarritaModule = typeof import('zarrita');

interface Peer {
  name: 'zarrita';
  read(box: Box): Promise<Uint8Array>;
}

/** zarrita on the same location, when it can reach it (file or emulator / HTTP URLs). */
async function zarritaPeer(kvstore: Record<string, unknown>, emulatorUrl?: string): Promise<Peer | string> {
  let zarr: ZarritaModule;
  try {
    zarr = await import('zarrita');
  } catch {
    return 'zarrita is not installed (npm i -D zarrita @zarrita/storage)';
  }
  let store: unknown;
  if (kvstore.driver === 'file') {
    const FS = (await import('@zarrita/storage/fs')).default as unknown as new (root: string) => unknown;
    store = new FS(String(kvstore.path));
  } else if (kvstore.driver === 'gcs' && emulatorUrl) {
    const Fetch = (await import('@zarrita/storage/fetch')).default;
    store = new Fetch(`${emulatorUrl}/s3/${String(kvstore.bucket)}/${String(kvstore.path ?? '')}`);
  } else if (kvstore.driver === 'http') {
    const Fetch = (await import('@zarrita/storage/fetch')).default;
    store = new Fetch(String(kvstore.base_url) + String(kvstore.path ?? ''));
  } else {
    return `zarrita cannot reach a ${String(kvstore.driver)} kvstore here (file, http and the built-in emulator only)`;
  }
  let arr: unknown;
  try {
    arr = await zarr.open(store as never, { kind: 'array' });
  } catch (e) {
    return `zarrita could not open the array: ${(e as Error).message}`;
  }
  return {
    name: 'zarrita',
    async read(box) {
      const r = await zarr.get(arr as never, box.map(([lo, hi]) => zarr.slice(lo, hi)));
      const d = r.data as unknown as { buffer: ArrayBufferLike; byteOffset: number; byteLength: number };
      return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    },
  };
}

/** Runs `fn` over `items` with `concurrency` in flight; returns each item's latency (ms), in item order. */
async function timedPool<T>(items: readonly T[], concurrency: number, fn: (t: T, i: number) => Promise<void>, onDone?: () => void): Promise<number[]> {
  const lat = new Array<number>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const t0 = performance.now();
      await fn(items[i]!, i);
      lat[i] = performance.now() - t0;
      onDone?.();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return lat;
}

/** A strided view of `src` (C order over `shape`) restricted to `box`. */
function boxView(src: NdArray, box: Box): NdArray {
  const offset = box.reduce((a, [lo], d) => a + lo * src.strides[d]!, 0);
  return new NdArray(src.dtype, src.data, box.map(([lo, hi]) => hi - lo), src.strides, offset);
}

const rawBytes = (a: NdArray) => bytesOf(toCOrder(a).data);

const peakRss = () => process.resourceUsage().maxRSS * 1024;

function diffEmu(b: EmulatorCounters | undefined, a: EmulatorCounters | undefined): { byKind: Record<string, number>; total: number; bytesOut: number; bytesIn: number; faults: Record<string, number> } | undefined {
  if (!a || !b) return undefined;
  const byKind: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.requests.byKind)) {
    const d = v - (a.requests.byKind[k] ?? 0);
    if (d) byKind[k] = d;
  }
  const faults: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.faults)) {
    const d = v - (a.faults[k] ?? 0);
    if (d) faults[k] = d;
  }
  return { byKind, total: b.requests.total - a.requests.total, bytesOut: b.bytesOut - a.bytesOut, bytesIn: b.bytesIn - a.bytesIn, faults };
}

/** Requests by kind at the kvstore interface. */
function kvKinds(k: KvOperationCounts): Record<string, number> {
  const out: Record<string, number> = {};
  if (k.reads) out.read = k.reads;
  if (k.writes) out.write = k.writes;
  if (k.lists) out.list = k.lists;
  if (k.deletes) out.delete = k.deletes;
  return out;
}

interface PassFigures {
  latencies: number[];
  passMs: number[];
  counts: StoreCounters;
  emu?: ReturnType<typeof diffEmu>;
  cache?: { hits: number; misses: number };
}

/** Counters of a wrapped store; sizes of the data objects last written (for stored bytes). */
class Instrument {
  readonly counts = emptyCounters();
  readonly sizes = new Map<string, number>();
  /** Store reads of the recorded pass: the store read from (unwrapped), key, byte range. */
  log?: { store: KvStore; key: string; range: unknown }[];

  wrap = (s: KvStore): KvStore => {
    const self = this;
    const c = new CountingStore(s, this.counts);
    const write = c.write.bind(c);
    const read = c.read.bind(c);
    c.write = async (key, value, o) => {
      const r = await write(key, value, o);
      if (!/(^|\/)(zarr\.json|\.zarray|\.zattrs|\.zgroup|attributes\.json|info)$/.test(key)) self.sizes.set(key, value.byteLength);
      return r;
    };
    c.read = async (key, o) => {
      self.log?.push({ store: s, key, range: o?.byteRange });
      return read(key, o);
    };
    return c;
  };

  get storedBytes(): number {
    let n = 0;
    for (const v of this.sizes.values()) n += v;
    return n;
  }
}

function contextJson(o: EngineOptions, storeKind: StoreKind): Record<string, unknown> {
  const ctx: Record<string, unknown> = {};
  if (o.cacheBytes) ctx.cache_pool = { total_bytes_limit: o.cacheBytes };
  if (o.workers) ctx.data_copy_concurrency = { limit: o.workers };
  if (storeKind === 'gcs-emulator') ctx.gcs_request_retries = { max_retries: 32, initial_delay: '1ms', max_delay: '20ms' };
  return ctx;
}

/**
 * Runs the engine: for each layout (or the dataset), the write pass (created layouts) and every
 * read pattern, with per-access timing and the store's counters around each timed pass.
 * @throws BenchInputError for options that do not fit the data (a non-3-d dataset, a volume
 *   too large to generate); BenchVerificationError when a reader returns wrong bytes.
 */
export async function runEngine(o: EngineOptions): Promise<EngineResult> {
  if (o.prefetch !== undefined && o.prefetch !== 'off' && !((o.cacheBytes ?? 0) > 0)) {
    throw new BenchInputError(`--prefetch ${o.prefetch} needs a cache: give --cache-bytes`);
  }
  const prices = o.prices ?? GCS_PRICES;
  const result: WorkloadResult = {
    name: o.name,
    description: o.description ?? '',
    params: {
      store: o.store, latencyMs: o.latencyMs, bandwidthMbps: o.bandwidthMbps, faults: o.faults,
      reads: o.reads.map(accessName), write: o.write === 'none' ? 'none' : accessName(o.write ?? { kind: 'full' }),
      strategy: o.strategy, totalReadBytes: o.totalReadBytes, repeat: o.repeat, warmup: o.warmup, concurrency: o.concurrency,
      cacheBytes: o.cacheBytes ?? 0, workers: o.workers, prefetch: o.prefetch ?? 'off', compare: o.compare ?? [], seed: o.seed,
    },
    rows: [],
    notes: [],
    profiles: [],
  };
  const stats: LayoutStats[] = [];
  const target = o.spec ? undefined : await openTarget({ kind: o.store, tmpRoot: o.tmpRoot, latencyMs: o.latencyMs, bandwidthMbps: o.bandwidthMbps, faults: o.faults, seed: o.seed });
  if (target) result.notes.push(`store: ${target.description}`);
  const creates = !o.spec || (o.spec as { create?: unknown }).create === true;
  const steps = Math.max(1, (o.spec ? 1 : o.layouts.length) * ((!creates || o.write === 'none' ? 0 : 1) + o.reads.length));
  let step = 0;
  const progress = (within: number) => o.progress?.(Math.min(1, (step + within) / steps));
  try {
    if (o.spec && (o.spec as { create?: unknown }).create === true) {
      stats.push(await benchLayout(o, specSource(o.spec), undefined, result, prices, () => step++, progress));
    } else if (o.spec) {
      stats.push(await benchDataset(o, o.spec, result, prices, () => step++, progress));
    } else {
      for (const [i, layout] of o.layouts.entries()) {
        stats.push(await benchLayout(o, layoutSource(layout, target!, `l${i}`), layout, result, prices, () => step++, progress));
      }
    }
  } finally {
    await target?.close();
  }
  result.notes.push(
    `peak RSS is the whole process's (process.resourceUsage().maxRSS) when the row was measured: it includes the generated volume and everything measured before it in this process`,
  );
  return { result, layouts: stats };
}

/** A volume the engine creates and fills with synthetic data: a layout on a target, or a `--spec` with `create: true`. */
interface Created {
  name: string;
  /** Where zarrita can find it. */
  kvstore: Record<string, unknown>;
  target?: Target;
  storeKind: StoreKind;
  /** Write chunks in the grid (for the notes). */
  gridObjects?: number;
  openWriter(ctx: Context, wrap: (s: KvStore) => KvStore): Promise<Volume>;
  /** Opens it again for reading (after it was written). */
  openReader(ctx: Context, wrap: (s: KvStore) => KvStore, writer: Volume): Promise<Volume>;
}

/** A layout on the engine's target store. */
function layoutSource(layout: Layout, target: Target, slug: string): Created {
  const kvstore = target.kvstore(slug);
  return {
    name: layoutName(layout),
    kvstore,
    target,
    storeKind: target.kind,
    gridObjects: objectCount(layout),
    openWriter: (context, wrapKvStore) => open(createSpec(layout, kvstore) as never, { context, wrapKvStore }),
    openReader: (context, wrapKvStore) => open({ driver: 'zarr3', kvstore } as never, { context, wrapKvStore }),
  };
}

/**
 * A `--spec` with `create: true`: the user's own layout at the user's location. It is created as
 * the spec says (an existing array is only replaced if the spec itself says `delete_existing`),
 * written and read, and left there.
 */
function specSource(spec: Spec): Created {
  const kv = (spec as { kvstore?: unknown }).kvstore;
  return {
    name: `${String((spec as { driver?: unknown }).driver ?? 'array')} (--spec)`,
    kvstore: typeof kv === 'object' && kv !== null ? (kv as Record<string, unknown>) : {},
    storeKind: 'file',
    openWriter: (context, wrapKvStore) => open(spec, { context, wrapKvStore }),
    openReader: (context, wrapKvStore, writer) => open(writer.driver.spec() as Spec, { context, wrapKvStore }),
  };
}

/** Synthetic data for an array: 3-d over its dimensions larger than 1 (in the array's order), the others of size 1. */
function syntheticFor(dtype: DataType, shape: readonly number[], seed: number): NdArray {
  const big = shape.filter((s) => s > 1);
  const spatial = big.length === 3 ? big : shape.length === 3 ? [...shape] : undefined;
  if (!spatial || shape.filter((s) => s > 1).length > 3) {
    throw new BenchInputError(`the bench fills 3-d volumes (other dimensions of size 1); this array has shape [${shape.join(', ')}]`);
  }
  const v = syntheticVolume(dtype, spatial, seed);
  return new NdArray(v.dtype, v.data, shape);
}

async function benchLayout(
  o: EngineOptions, source: Created, layout: Layout | undefined, result: WorkloadResult, prices: GcsPrices,
  nextStep: () => void, progress: (f: number) => void,
): Promise<LayoutStats> {
  if (layout) {
    const bytes = layout.shape.reduce((a, b) => a * b, 1) * dtypeSize(layout.dtype);
    if (bytes > MAX_GENERATED) throw new BenchInputError(`--shape [${layout.shape.join(', ')}] is ${(bytes / 2 ** 30).toFixed(1)} GiB of ${layout.dtype}: the bench generates the volume in memory (4 GiB at most); bench a smaller sample`);
    if (layout.shape.length !== 3) throw new BenchInputError(`--shape must be 3-d [z, y, x], got [${layout.shape.join(', ')}]`);
  }
  const inst = new Instrument();
  const storeKind = source.storeKind;
  const ctx = () => new Context(contextJson(o, storeKind));
  const writer = await source.openWriter(ctx(), inst.wrap);
  const name = layout ? source.name : `${source.name} ${writer.shape.join('x')} ${writer.dtype}`;
  const dtype = writer.dtype;
  const shape = [...writer.shape];
  const origin = [...writer.domain.inclusiveMin];
  const decodedBytes = shape.reduce((a, b) => a * b, 1) * dtypeSize(dtype);
  if (decodedBytes > MAX_GENERATED) throw new BenchInputError(`the --spec array is ${(decodedBytes / 2 ** 30).toFixed(1)} GiB: the bench generates the volume in memory (4 GiB at most)`);
  const t0 = performance.now();
  const src = syntheticFor(dtype, shape, o.seed);
  o.log(`[${name}] generated ${shape.join('x')} ${dtype} in ${(performance.now() - t0).toFixed(0)} ms`);
  const axes = spatialAxes(shape.length, writer.dimensionNames);
  const writeChunk = [...writer.chunkLayout.writeChunk.shape];
  // boxes are in the array's coordinates; the source is indexed from 0
  const local = (box: Box): Box => box.map(([lo, hi], d) => [lo - origin[d]!, hi - origin[d]!]);
  const stats: LayoutStats = { name, decodedBytes, patterns: {} };
  const target = source.target;

  // -- write pass(es)
  const wp = o.write ?? { kind: 'full' };
  if (wp !== 'none') {
    const boxes = accessBoxes(wp, { origin, shape, axes, writeChunk, strategy: o.strategy, maxAccesses: Number.MAX_SAFE_INTEGER, seed: o.seed });
    const covered = boxes.reduce((a, b) => a + boxSize(b), 0);
    const passes: PassFigures[] = [];
    for (let r = 0; r < o.repeat; r++) {
      const c0 = { ...inst.counts };
      const e0 = target?.counters();
      let done = 0;
      const t1 = performance.now();
      const latencies = await timedPool(boxes, o.writeConcurrency ?? o.concurrency, async (box) => {
        await writer.slice(box).write(boxView(src, local(box)));
      }, () => progress(((r + ++done / boxes.length) / o.repeat)));
      const passMs = performance.now() - t1;
      passes.push({ latencies, passMs: [passMs], counts: subtractCounters(inst.counts, c0), emu: diffEmu(target?.counters(), e0) });
    }
    nextStep();
    stats.storedBytes = inst.storedBytes;
    stats.objects = inst.sizes.size;
    // every voxel was written (fill-value chunks may be skipped by the writer: ratio over what was stored)
    stats.compressionRatio = stats.storedBytes > 0 ? decodedBytes / stats.storedBytes : undefined;
    const wBytes = covered * dtypeSize(dtype);
    const row = rowOf({ ...o, concurrency: o.writeConcurrency ?? o.concurrency }, name, `write ${accessName(wp)}`, passes, wBytes, prices, {
      kind: 'write',
      storedBytes: stats.storedBytes,
      decodedTotal: decodedBytes,
      ratio: stats.compressionRatio,
    });
    row.verified = 'written; read back below';
    result.rows.push(row);
    result.notes.push(
      `${name}: ${stats.objects} objects, ${(stats.storedBytes / 1e6).toFixed(2)} MB stored for ${(decodedBytes / 1e6).toFixed(1)} MB of ${dtype} ` +
        `(compression ratio ${stats.compressionRatio?.toFixed(2) ?? 'n/a'}${source.gridObjects !== undefined ? `; ${source.gridObjects} write chunks in the grid` : ''})`,
    );
    o.log(`[${name}] write ${accessName(wp)}: ${row.volstore.medianMs.toFixed(0)} ms/pass (${row.volstore.mbPerSec.toFixed(0)} MB/s), p95 ${row.volstore.p95Ms?.toFixed(1)} ms/access, ${row.access?.requestsPerAccess.toFixed(1)} requests/access`);
  } else {
    // nothing to read back without data: write once, untimed
    await writer.write(src);
  }
  if (!layout) result.notes.push(`created from --spec at ${writer.driver.store.url} and left there`);

  // -- reads
  const peer = o.compare?.includes('zarrita') ? await zarritaPeer(source.kvstore, target?.emulator?.url) : undefined;
  if (typeof peer === 'string') result.notes.push(peer);
  for (const p of o.reads) {
    const reader = await source.openReader(ctx(), inst.wrap, writer);
    const row = await readPattern(o, reader, p, {
      layoutName: name,
      target,
      inst,
      writeChunk,
      origin,
      shape,
      axes,
      dtype,
      expected: (box) => rawBytes(boxView(src, local(box))),
      peer: typeof peer === 'string' ? undefined : peer,
      ratio: stats.compressionRatio,
      storedBytes: stats.storedBytes,
      decodedTotal: decodedBytes,
      prices,
      progress,
      notes: result.notes,
    });
    nextStep();
    result.rows.push(row);
    stats.patterns[accessName(p)] = patternStats(row);
  }
  return stats;
}

/** Largest volume the engine generates in memory (bytes). */
const MAX_GENERATED = 4 * 2 ** 30;

function patternStats(row: ResultRow): LayoutStats['patterns'][string] {
  const a = row.access!;
  const lat = row.volstore.samplesMs.length ? row.volstore.medianMs / a.accesses : NaN;
  return {
    meanMs: lat,
    p50Ms: row.volstore.p50Ms ?? NaN,
    p95Ms: row.volstore.p95Ms ?? NaN,
    requestsPerAccess: a.requestsPerAccess,
    storedBytesPerAccess: a.storedBytesPerAccess,
    decodedBytesPerAccess: a.decodedBytesPerAccess,
  };
}

async function benchDataset(
  o: EngineOptions, spec: Spec, result: WorkloadResult, prices: GcsPrices, nextStep: () => void, progress: (f: number) => void,
): Promise<LayoutStats> {
  const inst = new Instrument();
  const kv = (spec as { kvstore?: unknown }).kvstore;
  const ctx = () => new Context(contextJson(o, 'file'));
  const probe = await open(spec, { context: ctx(), wrapKvStore: inst.wrap });
  const name = `${String(probe.driver.spec().driver ?? 'dataset')} ${probe.shape.join('x')} ${probe.dtype}`;
  const axes = spatialAxes(probe.rank, probe.dimensionNames);
  const writeChunk = [...probe.chunkLayout.writeChunk.shape];
  const origin = [...probe.domain.inclusiveMin];
  const decodedBytes = probe.shape.reduce((a, b) => a * b, 1) * dtypeSize(probe.dtype);
  result.notes.push(
    `dataset ${probe.driver.store.url}: ${probe.dtype} [${probe.shape.join(', ')}], read chunk [${probe.chunkLayout.readChunk.shape.join(', ')}], ` +
      `write chunk [${writeChunk.join(', ')}]; read only (no write pass); axes z=${axes.z}, y=${axes.y}, x=${axes.x}`,
  );
  const stats: LayoutStats = { name, decodedBytes, patterns: {} };
  const driverSpec = probe.driver.spec() as { kvstore?: Record<string, unknown> };
  const peer = o.compare?.includes('zarrita') && typeof driverSpec.kvstore === 'object' ? await zarritaPeer(driverSpec.kvstore, undefined) : undefined;
  if (typeof peer === 'string') result.notes.push(peer);
  void kv;
  for (const p of o.reads) {
    const reader = await open(spec, { context: ctx(), wrapKvStore: inst.wrap });
    const row = await readPattern(o, reader, p, {
      layoutName: name, inst, writeChunk, origin, shape: [...probe.shape], axes, dtype: probe.dtype,
      peer: typeof peer === 'string' ? undefined : peer, prices, progress, notes: result.notes,
    });
    nextStep();
    result.rows.push(row);
    stats.patterns[accessName(p)] = patternStats(row);
  }
  return stats;
}

interface ReadContext {
  layoutName: string;
  target?: Target;
  inst: Instrument;
  writeChunk: readonly number[];
  origin: readonly number[];
  shape: readonly number[];
  axes: ReturnType<typeof spatialAxes>;
  dtype: DataType;
  /** The bytes a box must read as (created layouts). */
  expected?: (box: Box) => Uint8Array;
  peer?: Peer;
  ratio?: number;
  storedBytes?: number;
  decodedTotal?: number;
  prices: GcsPrices;
  progress: (f: number) => void;
  /** The workload's notes (a failing peer is noted here). */
  notes: string[];
}

const VERIFY_FIRST = 3;

async function readPattern(o: EngineOptions, vol: Volume, p: AccessPattern, c: ReadContext): Promise<ResultRow> {
  vol = withPrefetchPolicy(vol, o.prefetch);
  const item = dtypeSize(c.dtype);
  const probeBoxes = accessBoxes(p, { origin: c.origin, shape: c.shape, axes: c.axes, writeChunk: c.writeChunk, strategy: o.strategy, maxAccesses: 1, seed: o.seed });
  const perAccess = boxSize(probeBoxes[0]!) * item;
  const cap = Math.min(o.maxAccesses ?? 256, Math.max(1, Math.floor(o.totalReadBytes / Math.max(1, perAccess))));
  const boxes = accessBoxes(p, { origin: c.origin, shape: c.shape, axes: c.axes, writeChunk: c.writeChunk, strategy: o.strategy, maxAccesses: cap, seed: o.seed });
  const passBytes = boxes.reduce((a, b) => a + boxSize(b), 0) * item;
  const op = `read ${accessName(p)}`;
  const what = `${c.layoutName} ${op}`;
  const checks = new Set<string>();
  const firstResults = new Map<number, Uint8Array>();
  const check = (i: number, bytes: Uint8Array) => {
    if (i >= VERIFY_FIRST || firstResults.has(i)) return;
    if (c.expected) {
      assertBytesEqual(`${what}: volstore vs the generated volume (access ${i})`, bytes, c.expected(boxes[i]!));
      checks.add('volstore = expected');
    }
    firstResults.set(i, bytes);
  };

  // warm-up (metadata, JIT); also verifies
  for (let i = 0; i < Math.min(o.warmup, boxes.length); i++) check(i, rawBytes(await vol.slice(boxes[i]!).read()));

  const passes: PassFigures[] = [];
  const cache = vol.context.cachePool;
  for (let r = 0; r < o.repeat; r++) {
    const c0 = { ...c.inst.counts };
    const e0 = c.target?.counters();
    const h0 = { hits: cache.hits, misses: cache.misses };
    if (r === 0 && o.ceiling !== false) c.inst.log = [];
    let done = 0;
    const t1 = performance.now();
    const latencies = await timedPool(boxes, o.concurrency, async (box, i) => {
      const a = await vol.slice(box).read();
      if (r === 0) check(i, rawBytes(a));
    }, () => c.progress(((r + ++done / boxes.length) / (o.repeat + (c.peer ? 1 : 0)))));
    const passMs = performance.now() - t1;
    passes.push({
      latencies, passMs: [passMs], counts: subtractCounters(c.inst.counts, c0), emu: diffEmu(c.target?.counters(), e0),
      cache: { hits: cache.hits - h0.hits, misses: cache.misses - h0.misses },
    });
  }
  const replay = c.inst.log;
  c.inst.log = undefined;

  const row = rowOf(o, c.layoutName, op, passes, passBytes, c.prices, {
    kind: 'read', storedBytes: c.storedBytes, decodedTotal: c.decodedTotal, ratio: c.ratio, cacheBytes: o.cacheBytes,
  });

  // the I/O ceiling: the first pass's store reads again, straight from the store, no decoding,
  // with as many in flight as the accesses had (accesses in flight x requests per access, at
  // most the stores' usual 32)
  if (replay && replay.length) {
    const limit = Math.max(1, Math.min(32, Math.round(o.concurrency * (replay.length / Math.max(1, boxes.length)))));
    let bytes = 0;
    const runReplay = async () => {
      bytes = 0;
      await timedPool(replay, limit, async (x) => {
        const res = await x.store.read(x.key, x.range ? { byteRange: x.range as never } : undefined);
        if (res.state === 'value') bytes += res.value.byteLength;
      });
      return bytes;
    };
    const times: number[] = [];
    for (let r = 0; r < Math.max(1, Math.min(3, o.repeat)); r++) {
      const t = performance.now();
      await runReplay();
      times.push(performance.now() - t);
    }
    row.readFile = measured({ medianMs: median(times), samplesMs: times }, bytes);
    row.fileBytes = bytes;
    row.vsReadFile = row.readFile.medianMs / row.volstore.medianMs;
  }

  // peers: the same accesses, same concurrency, results checked against volstore's. A peer
  // that fails (zarrita does not retry an injected 503) gets a note, not a row.
  if (c.peer) {
    const peer = c.peer;
    const lat: number[] = [];
    const passMs: number[] = [];
    let done = 0;
    try {
      for (let r = 0; r < o.repeat; r++) {
      const t1 = performance.now();
      lat.push(...(await timedPool(boxes, o.concurrency, async (box, i) => {
        const bytes = await peer.read(box);
        const mine = firstResults.get(i);
        if (r === 0 && mine) {
          assertBytesEqual(`${what}: volstore vs ${peer.name} (access ${i})`, mine, bytes);
          checks.add(`${peer.name} = volstore`);
        }
      }, () => c.progress((o.repeat + ++done / boxes.length / o.repeat) / (o.repeat + 1)))));
      passMs.push(performance.now() - t1);
      }
      const z = measured({ medianMs: median(passMs), samplesMs: passMs }, passBytes);
      Object.assign(z, latencyPercentiles(lat));
      row.zarrita = z;
      row.vsZarrita = z.medianMs / row.volstore.medianMs;
    } catch (e) {
      if (e instanceof BenchVerificationError) throw e;
      c.notes.push(`${what}: ${peer.name} failed: ${(e as Error).message}`);
    }
  }
  row.verified = checks.size ? [...checks].join(', ') : c.expected ? 'not checked' : 'no reference (existing dataset, no peer)';
  o.log(
    `[${c.layoutName}] ${op}: ${boxes.length} accesses x ${o.repeat}, ${row.volstore.medianMs.toFixed(1)} ms/pass (${row.volstore.mbPerSec.toFixed(0)} MB/s), ` +
      `p50 ${row.volstore.p50Ms?.toFixed(1)} / p95 ${row.volstore.p95Ms?.toFixed(1)} ms, ${row.access?.requestsPerAccess.toFixed(1)} requests/access` +
      (row.zarrita ? `, zarrita p95 ${row.zarrita.p95Ms?.toFixed(1)} ms (${row.vsZarrita!.toFixed(2)}x)` : ''),
  );
  return row;
}

/** Sums the figures of several passes and builds the row. */
function rowOf(
  o: EngineOptions, layout: string, op: string, passes: PassFigures[], passBytes: number, prices: GcsPrices,
  x: { kind: 'read' | 'write'; storedBytes?: number; decodedTotal?: number; ratio?: number; cacheBytes?: number },
): ResultRow {
  const passMs = passes.flatMap((p) => p.passMs);
  const latencies = passes.flatMap((p) => p.latencies);
  const v: Measured = measured({ medianMs: median(passMs), samplesMs: passMs }, passBytes);
  Object.assign(v, latencyPercentiles(latencies));
  const n = passes.length;
  const accesses = passes[0]?.latencies.length ?? 0;
  const sum = kvOperationCounts(passes.reduce((a, p) => addCounters(a, p.counts), emptyCounters()));
  const emuAll = passes.every((p) => p.emu) ? passes.map((p) => p.emu!) : undefined;
  const emuKinds: Record<string, number> = {};
  const faults: Record<string, number> = {};
  let emuTotal = 0, emuOut = 0;
  for (const e of emuAll ?? []) {
    emuTotal += e.total;
    emuOut += e.bytesOut;
    for (const [k, c] of Object.entries(e.byKind)) emuKinds[k] = (emuKinds[k] ?? 0) + c;
    for (const [k, c] of Object.entries(e.faults)) faults[k] = (faults[k] ?? 0) + c;
  }
  const kvRequests = sum.reads + sum.writes + sum.lists + sum.deletes;
  const requests = emuAll ? emuTotal : kvRequests;
  const storedMoved = (x.kind === 'read' ? sum.readBytes : sum.writeBytes) / n;
  const totalMs = passMs.reduce((a, b) => a + b, 0);
  const access: AccessMetrics = {
    accesses,
    concurrency: o.concurrency,
    requestsPerAccess: requests / n / Math.max(1, accesses),
    storedBytesPerAccess: storedMoved / Math.max(1, accesses),
    decodedBytesPerAccess: passBytes / Math.max(1, accesses),
    storedMBPerSec: mbPerSec(storedMoved * n, totalMs),
    requestsByKind: Object.fromEntries(Object.entries(emuAll ? emuKinds : kvKinds(sum)).map(([k, c]) => [k, c / n])),
  };
  if (Object.keys(faults).length) access.faults = faults;
  if (x.kind === 'read' && x.ratio && passBytes > 0) access.amplification = (storedMoved * x.ratio) / passBytes;
  if (x.kind === 'write' && x.storedBytes && x.decodedTotal) access.amplification = storedMoved / (x.storedBytes * (passBytes / x.decodedTotal));
  const hits = passes.reduce((a, p) => a + (p.cache?.hits ?? 0), 0);
  const misses = passes.reduce((a, p) => a + (p.cache?.misses ?? 0), 0);
  if (x.cacheBytes && hits + misses > 0) access.cacheHitRate = hits / (hits + misses);
  const ops: OperationCounts = emuAll ? classifyEmulatorRequests(emuKinds, emuOut) : classifyKvOperations(sum);
  const decodedAll = passBytes * n;
  const cost = costPerTB(
    {
      ...(x.kind === 'read' ? { read: { ops, decodedBytes: decodedAll } } : { write: { ops, decodedBytes: decodedAll } }),
      ...(x.storedBytes && x.decodedTotal ? { stored: { storedBytes: x.storedBytes, decodedBytes: x.decodedTotal } } : {}),
    },
    prices,
  );
  return {
    layout,
    op,
    decodedBytes: passBytes,
    fileBytes: storedMoved,
    volstore: v,
    verified: '',
    access,
    cost,
    compressionRatio: x.ratio,
    peakRssBytes: peakRss(),
  };
}
