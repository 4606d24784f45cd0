/**
 * Jobs that scale out: a copy, a downsampled level or a whole multiscale pyramid, split into
 * shard-aligned tasks that run in any number of processes with no coordinator.
 *
 * 1. {@link planJob} (every task, no writes): the levels the job writes, the spec of each, and
 *    the exact metadata objects the drivers would create for them, built in a private memory
 *    store; plus the pyramid's group metadata (OME-Zarr 0.5 `multiscales` for zarr3, N5
 *    `scales` / `downsamplingFactors`, one precomputed `info` holding every scale) and the job's
 *    digest.
 * 2. {@link publishJobMetadata}: every metadata object is created under "must not exist" by the
 *    first task to get there; the others verify it equals theirs (see metadata.ts).
 * 3. {@link runJob}: for each level in order, the task's share of the level's write chunks
 *    (plan.ts), each shard read, produced (copied or downsampled) and written whole. A level
 *    k+1 task first waits for the level-k manifests of the tasks owning the shards it reads
 *    (computed from the factors, not guessed), then writes its own manifest when its share is
 *    done (manifest.ts). `resume` skips shares with a manifest and shards that are present and
 *    decode.
 *
 * Levels run as **tasks that wait on their inputs**, not as one job per level: one
 * `kubectl apply` (or `gcloud run jobs execute`) builds the whole pyramid; a task starts level
 * k+1 as soon as the few tasks it depends on finished level k (with contiguous shares that is
 * itself and a neighbour), instead of waiting at a barrier for the slowest task of the level;
 * and restarts (preemption, Kubernetes backoffLimitPerIndex, Cloud Run retries) rerun the same
 * index with `--resume`, which is all the waiting tasks need.
 */
import type { PrecomputedDriver } from '../drivers/precomputed.js';
import { shardShapeInChunks } from '../sharding/precomputed.js';
import { AlreadyExistsError, CodecError, CorruptionError, MetadataError, SpecError, throwIfAborted } from '../errors.js';
import { type BatchUpdatable, isBatchUpdatable, type KvStore } from '../kvstore/kvstore.js';
import { openKvStore } from '../kvstore/open.js';
import { joinPath, type KvStoreSpec } from '../kvstore/spec.js';
import { Context } from '../context/context.js';
import { DRIVER_SPEC_KEYS, open } from '../open.js';
import { parseSpec, parseUrl, type Spec } from '../spec/spec.js';
import { log } from '../util/log.js';
import type { Volume } from '../volume.js';
import { copyVolume, type CopyProgress, type JobOptions } from './copy.js';
import { type ArrayShapeSource, destinationSpec, type DestinationOptions } from './destination.js';
import { defaultDownsampleMethod, type DownsampleMethod, downsampledShape, downsampleVolume, normalizeFactors } from './downsample.js';
import { manifestKey, MANIFEST_DIR, readManifest, type TaskManifest, waitForManifests, writeManifest } from './manifest.js';
import { jobDigest, jsonBytes, type MetadataObjects, publishMetadata, type PublishResult, scratchMetadata } from './metadata.js';
import { ownerOf, shareOf, viewReadChunk, WriteChunkPlan } from './plan.js';
import { addCounters, emptyCounters, type StoreCounters, subtractCounters } from '../kvstore/counting.js';
import { StoreTally } from './stats.js';

/** What a job does: copy, downsample once, or build a pyramid. */
export type JobKind = 'copy' | 'downsample' | 'pyramid';

/** Physical geometry of the first level a job writes, in the destination view's dimension order. */
export interface LevelGeometry {
  /** Nanometres per voxel per dimension (undefined for channels or when unknown). */
  resolution?: readonly (number | undefined)[];
  /** Origin in voxels per dimension. */
  offset?: readonly number[];
  /** Axis names per dimension ('' when unknown). */
  axes?: readonly string[];
}

/** Options of {@link planJob}: the destination's format options plus what the job computes. */
export interface JobPlanOptions extends Omit<DestinationOptions, 'resolution' | 'voxelOffset' | 'overwrite' | 'attributes'> {
  /**
   * Integer factors per source view dimension (fewer entries are padded with 1): a downsample
   * job writes `src / factors`; a pyramid divides by them from each level to the next.
   */
  factors?: readonly number[];
  /**
   * A pyramid of this many levels (>= 2) including level 0 (the source's resolution, copied):
   * zarr3 `s0..`, N5 `s0..`, or precomputed scales. Undefined: a single array.
   */
  levels?: number;
  /** `mean` or `mode`; default by dtype (labels vote). */
  method?: DownsampleMethod;
  /** Geometry of the first level written (resolution, offset, axis names). */
  geometry?: LevelGeometry;
  /**
   * Precomputed pyramids: the source is a scale of the destination volume itself, which is
   * level 0; the job adds levels 1.. to its `info` and does not copy level 0.
   */
  reuseSourceLevel?: boolean;
}

/** One array a job writes. */
export interface JobLevel {
  /** Position in the job (0 = first). */
  index: number;
  /** `s0`, `s1`, ... (zarr3 / N5 pyramids), the precomputed scale key, or '' (a single array). */
  name: string;
  /** Spec creating it (`create: true, open: false`), with the destination's kvstore. */
  createSpec: Spec;
  /** Spec opening it once created. */
  openSpec: Spec;
  /** Where its data comes from: the source volume, or an earlier level. */
  input: 'source' | number;
  /** Factors relative to the input (all 1: a copy). */
  factors: number[];
  /** Shape (the destination view's). */
  shape: number[];
  /** Already there: the source itself (a precomputed pyramid added to its own volume); not written. */
  existing: boolean;
}

/** Everything every task of a job computes the same way before writing anything. */
export interface JobLayout {
  kind: JobKind;
  /** Destination format: zarr3, zarr, n5 or neuroglancer_precomputed. */
  driver: string;
  /** The destination's kvstore (metadata keys are relative to its root). */
  kvstore: KvStoreSpec;
  /** The destination spec's `context` (timeouts, retries, concurrency). */
  context: Record<string, unknown>;
  /** The job's root inside the kvstore: the array, the pyramid group, the precomputed volume. */
  base: string;
  levels: JobLevel[];
  /** Metadata objects the job creates, by key relative to the kvstore root. */
  metadata: MetadataObjects;
  method: DownsampleMethod | undefined;
  /** Identity of the job (metadata, levels, factors, source): names its manifests. */
  digest: string;
  /** A rank-3 source written into a [x, y, z, channel] precomputed volume: levels are viewed at channel 0. */
  sliceChannel: boolean;
}

const OME_AXIS_TYPES: Record<string, string> = { x: 'space', y: 'space', z: 'space', c: 'channel', channel: 'channel', t: 'time', time: 'time' };

function defaultAxes(rank: number): string[] {
  const names = ['t', 'c', 'z', 'y', 'x'];
  return names.slice(5 - Math.min(rank, 5)).concat(Array.from({ length: Math.max(0, rank - 5) }, (_, i) => `d${i}`));
}

/** Cumulative factors of each level relative to the source. */
function cumulative(levels: readonly { factors: number[]; input: 'source' | number }[]): number[][] {
  const out: number[][] = [];
  for (const l of levels) out.push(l.input === 'source' ? [...l.factors] : l.factors.map((f, d) => f * out[l.input as number]![d]!));
  return out;
}

/**
 * Plans a job writing `src` (a copy, one downsampled level, or a pyramid) to `dst`: levels,
 * their specs, the metadata they need and the job digest. Every task computes the same plan.
 * Reads only (a precomputed `info` when adding to an existing volume).
 * @throws SpecError for options the format cannot hold (e.g. a zarr v2 pyramid, factors of the
 *   wrong rank) and for hashed precomputed sharding split across tasks (see runJob).
 */
export async function planJob(src: Volume, dst: Spec | string, o: JobPlanOptions = {}): Promise<JobLayout> {
  const base: Spec = typeof dst === 'string' ? parseUrl(dst) : { ...dst };
  const driver = o.driver ?? (base.driver as string | undefined) ?? 'zarr3';
  const { delete_existing: _d, create: _c, open: _o, ...baseSpec } = base;
  const parsed = parseSpec({ ...baseSpec, driver }, DRIVER_SPEC_KEYS);
  const rootPath = parsed.path;
  const kind: JobKind = o.levels !== undefined ? 'pyramid' : o.factors !== undefined ? 'downsample' : 'copy';
  if (kind === 'pyramid') {
    if (!Number.isSafeInteger(o.levels) || o.levels! < 2) throw new SpecError('levels', `a pyramid needs at least 2 levels (level 0 and one downsampled), got ${o.levels}`);
    if (!o.factors) throw new SpecError('factors', 'a pyramid needs downsampling factors');
    if (driver === 'zarr') throw new SpecError('driver', 'pyramids are written as zarr3 (OME-Zarr 0.5), n5 or neuroglancer_precomputed, not zarr v2');
  }
  if (o.reuseSourceLevel && (kind !== 'pyramid' || driver !== 'neuroglancer_precomputed')) {
    throw new SpecError('reuseSourceLevel', 'only a precomputed pyramid can reuse its source as level 0');
  }
  const precomputed = driver === 'neuroglancer_precomputed';
  const factors = o.factors ? normalizeFactors(o.factors, src.rank) : src.shape.map(() => 1);
  const method = kind === 'copy' ? undefined : (o.method ?? defaultDownsampleMethod(src.dtype));
  // The levels: inputs, factors, shapes.
  const specs: { input: 'source' | number; factors: number[]; shape: number[]; existing: boolean }[] = [];
  if (kind === 'copy') specs.push({ input: 'source', factors: src.shape.map(() => 1), shape: [...src.shape], existing: false });
  else if (kind === 'downsample') specs.push({ input: 'source', factors, shape: downsampledShape(src.shape, factors), existing: false });
  else {
    specs.push({ input: 'source', factors: src.shape.map(() => 1), shape: [...src.shape], existing: o.reuseSourceLevel === true });
    for (let k = 1; k < o.levels!; k++) specs.push({ input: k - 1, factors, shape: downsampledShape(specs[k - 1]!.shape, factors), existing: false });
  }
  const cum = cumulative(specs);
  // The first level's chunk shape serves every level of a pyramid (zarr3 shards must stay multiples of it).
  const readChunk = o.chunkShape ? [...o.chunkShape] : viewReadChunk(src);
  const g = o.geometry ?? {};
  const levels: JobLevel[] = [];
  for (let k = 0; k < specs.length; k++) {
    const s = specs[k]!;
    const rel = kind === 'pyramid' && !precomputed ? `s${k}` : '';
    const levelBase: Spec = { ...baseSpec, driver, path: joinPath(rootPath, rel) };
    // Geometry relative to the first level: level 0 of a downsample job is already reduced.
    const scale = cum[k]!.map((c, d) => c / (cum[0]![d] ?? 1));
    const res = g.resolution?.map((r, d) => (r === undefined ? undefined : r * scale[d]!));
    const off = g.offset?.map((x, d) => Math.floor(x / scale[d]!));
    const like: ArrayShapeSource = {
      shape: s.shape,
      dtype: src.dtype,
      chunkLayout: {
        ...src.chunkLayout,
        // A downsampled array keeps the chunk, clipped to its (smaller) shape; copies and pyramids keep it as is.
        readChunk: { shape: kind === 'downsample' ? readChunk.map((c, i) => Math.min(c, Math.max(1, s.shape[i]!))) : readChunk },
      },
      dimensionNames: src.dimensionNames,
      fillValue: src.fillValue,
    };
    let attributes: Record<string, unknown> | undefined;
    // A copy keeps the source's user attributes (zarr .zattrs / zarr.json attributes, N5 and
    // HDF5 attributes: e.g. CREMI's resolution and offset) where the destination stores them.
    if (kind === 'copy' && (driver === 'zarr3' || driver === 'n5') && Object.keys(src.attributes).length) attributes = { ...src.attributes };
    if (kind === 'pyramid' && driver === 'n5') {
      attributes = { downsamplingFactors: cum[k] };
      if (res && res.every((r) => r !== undefined)) attributes.pixelResolution = { dimensions: res, unit: 'nm' };
    }
    const xyz = (v: readonly (number | undefined)[] | undefined) => (v && v.slice(0, 3).every((x) => x !== undefined) ? (v.slice(0, 3) as number[]) : undefined);
    const createSpec = await destinationSpec(levelBase, like, {
      ...o,
      driver,
      chunkShape: kind === 'pyramid' || o.chunkShape ? readChunk : undefined,
      resolution: precomputed ? xyz(res) : undefined,
      voxelOffset: precomputed && off?.some((x) => x !== 0) ? off.slice(0, 3) : undefined,
      attributes,
      overwrite: false,
    });
    const name = precomputed ? String((createSpec.scale_metadata as { key?: string }).key) : rel;
    const { create: _cc, open: _oo, delete_existing: _dd, ...openable } = createSpec;
    levels.push({ index: k, name, createSpec, openSpec: { ...openable, open: true }, input: s.input, factors: s.factors, shape: s.shape, existing: s.existing });
  }
  if (precomputed) {
    const keys = new Set(levels.map((l) => l.name));
    if (keys.size !== levels.length) throw new SpecError('resolution', `pyramid levels need distinct precomputed scale keys (resolutions), got ${levels.map((l) => l.name).join(', ')}`);
  }
  // The metadata, as the drivers create it, in a private memory store. A precomputed scale is
  // added to the destination's existing info (other scales and members kept), as the driver would.
  const infoKey = joinPath(rootPath, 'info');
  let seed: Uint8Array | undefined;
  if (precomputed) {
    const root = await openKvStore(parsed.kvstore, '', new Context(parsed.context));
    const r = await root.read(infoKey);
    if (r.state === 'value') {
      let info: { scales?: { key?: string }[] };
      try {
        info = JSON.parse(new TextDecoder().decode(r.value)) as typeof info;
      } catch (e) {
        throw new MetadataError(`${root.url}${infoKey}`, `not valid JSON: ${(e as Error).message}`);
      }
      const ours = new Set(levels.filter((l) => !l.existing).map((l) => l.name));
      seed = jsonBytes({ ...info, scales: (info.scales ?? []).filter((s) => !ours.has(String(s.key))) });
    }
  }
  const metadata = await scratchMetadata(async (scratch) => {
    if (seed) {
      const store = await openKvStore(scratch, '', new Context());
      await store.write(infoKey, seed);
    }
    for (const l of levels) {
      if (l.existing) continue;
      const { context: _ctx, ...spec } = l.createSpec;
      await open({ ...spec, kvstore: scratch });
    }
  });
  const pyramidName = joinPath(parsed.kvstore.path, rootPath).replace(/\/+$/, '').split('/').pop() || 'volume';
  if (kind === 'pyramid') addGroupMetadata(metadata, driver, rootPath, pyramidName, levels, cum, g, method!, src.rank);
  const digest = await jobDigest({
    kind,
    driver,
    base: rootPath,
    method: method ?? null,
    levels: levels.map((l) => ({ name: l.name, input: l.input, factors: l.factors, shape: l.shape, existing: l.existing, spec: { ...l.createSpec, kvstore: null, context: null } })),
    group: [...metadata].filter(([k]) => k === joinPath(rootPath, 'zarr.json') || k === joinPath(rootPath, 'attributes.json')),
    source: { driver: src.driver.driverName, store: src.driver.store.url, dtype: src.dtype, shape: src.shape, transform: src.transform.toJSON() },
  });
  return {
    kind,
    driver,
    kvstore: parsed.kvstore,
    context: parsed.context,
    base: rootPath,
    levels,
    metadata,
    method,
    digest,
    sliceChannel: precomputed && src.rank === 3,
  };
}

/** OME-Zarr 0.5 multiscales (zarr3) or N5 multiscale attributes (n5) on the pyramid's root. */
function addGroupMetadata(
  metadata: MetadataObjects,
  driver: string,
  root: string,
  name: string,
  levels: readonly JobLevel[],
  cum: readonly number[][],
  g: LevelGeometry,
  method: DownsampleMethod,
  rank: number,
): void {
  const res0 = g.resolution;
  const known = res0 !== undefined && res0.some((r) => r !== undefined);
  if (driver === 'zarr3') {
    const names = g.axes && g.axes.length === rank && g.axes.every((a) => a) ? [...g.axes] : defaultAxes(rank);
    const axes = names.map((name, d) => {
      const type = OME_AXIS_TYPES[name.toLowerCase()];
      return { name, ...(type ? { type } : {}), ...(type === 'space' && known && res0![d] !== undefined ? { unit: 'nanometer' } : {}) };
    });
    const datasets = levels.map((l, k) => {
      const scale = cum[k]!.map((c, d) => c * (res0?.[d] ?? 1));
      const off = g.offset?.map((x, d) => Math.floor(x / cum[k]![d]!) * scale[d]!);
      return {
        path: l.name,
        coordinateTransformations: [{ type: 'scale', scale }, ...(off && off.some((x) => x !== 0) ? [{ type: 'translation', translation: off }] : [])],
      };
    });
    const group = {
      zarr_format: 3,
      node_type: 'group',
      attributes: {
        ome: {
          version: '0.5',
          multiscales: [{ name, axes, datasets, type: method, metadata: { method: `volstore downsample (${method})`, factors: levels[1]?.factors } }],
        },
      },
    };
    metadata.set(joinPath(root, 'zarr.json'), jsonBytes(group));
  } else if (driver === 'n5') {
    const key = joinPath(root, 'attributes.json');
    const existing = metadata.get(key);
    const attrs: Record<string, unknown> = existing ? (JSON.parse(new TextDecoder().decode(existing)) as Record<string, unknown>) : {};
    attrs.multiScale = true;
    attrs.scales = cum.map((c) => [...c]);
    attrs.downsamplingMethod = method;
    if (known && res0!.every((r) => r !== undefined)) {
      attrs.resolution = [...res0!];
      attrs.units = res0!.map(() => 'nm');
    }
    metadata.set(key, jsonBytes(attrs));
  }
}

/** The destination's root store (metadata keys and manifests resolve against it). */
async function rootStore(layout: JobLayout, context: Context, tally?: StoreTally): Promise<KvStore> {
  const s = await openKvStore(layout.kvstore, '', context);
  return tally ? tally.wrap(s) : s;
}

/**
 * Creates the job's metadata at the destination, or verifies what is there (see metadata.ts).
 * `allowExisting: false` (a single run that must not write into an existing array) turns
 * existing equal metadata into AlreadyExistsError.
 * @throws MetadataError naming the key and field when existing metadata differs.
 */
export async function publishJobMetadata(layout: JobLayout, options: { allowExisting?: boolean; signal?: AbortSignal; context?: Context; tally?: StoreTally } = {}): Promise<PublishResult> {
  const context = options.context ?? new Context(layout.context);
  const ownScales = new Set(layout.levels.filter((l) => !l.existing).map((l) => l.name));
  return publishMetadata(await rootStore(layout, context, options.tally), layout.metadata, { allowExisting: options.allowExisting, ownScales, signal: options.signal });
}

/**
 * Refuses a destination where anything is stored (a single run without `--overwrite` must not
 * mix with other data). A precomputed volume (its `info` present) is allowed: the job adds its
 * scales, and publishing refuses a scale that exists.
 * @throws AlreadyExistsError naming the destination and a key found.
 */
export async function refuseNonEmpty(layout: JobLayout, context = new Context(layout.context)): Promise<void> {
  const store = await rootStore(layout, context);
  const prefix = layout.base === '' ? '' : `${layout.base.replace(/\/+$/, '')}/`;
  if (layout.driver === 'neuroglancer_precomputed' && (await store.read(joinPath(layout.base, 'info'))).state === 'value') return;
  for await (const key of store.list(prefix)) {
    throw new AlreadyExistsError(`${store.url}${prefix}`, `the destination is not empty (it holds "${key.slice(prefix.length)}"); pass --overwrite to replace it`);
  }
}

/**
 * Deletes what the job would write, so a single run can start over (`--overwrite`): the whole
 * array or pyramid root for zarr / zarr3 / N5; for precomputed, the job's scales (their chunks and
 * their entries in `info`, other scales kept) and its manifests.
 */
export async function deleteJobOutput(layout: JobLayout, context = new Context(layout.context), signal?: AbortSignal): Promise<void> {
  const store = await rootStore(layout, context);
  const prefix = layout.base === '' ? '' : `${layout.base.replace(/\/+$/, '')}/`;
  if (layout.driver !== 'neuroglancer_precomputed') {
    await store.deleteRange(prefix, { signal });
    return;
  }
  await store.deleteRange(`${prefix}${MANIFEST_DIR}`, { signal });
  for (const l of layout.levels) {
    if (l.existing) continue;
    // The driver removes the scale (chunks and info entry) and recreates it empty.
    await open({ ...l.createSpec, delete_existing: true }, { context, signal });
  }
}

/** Options of {@link runJob}. */
export interface RunJobOptions extends Pick<JobOptions, 'concurrency' | 'memoryLimit' | 'corruptionAttempts' | 'signal'> {
  /** This process's task: index of count. Default `{index: 0, count: 1}`. */
  task?: { index: number; count: number };
  /**
   * Skip what is already done: a level share whose manifest exists, and shards that are
   * present and decode. Without it every shard of the share is written again (same bytes).
   */
  resume?: boolean;
  /** Longest wait for the tasks a level depends on, in milliseconds. Default 6 hours. */
  waitTimeoutMs?: number;
  /** Longest pause between two polls of a missing manifest, in milliseconds. Default 30 s. */
  pollMs?: number;
  /** Shared context for every volume the job opens (cache, limits). Default: one from the destination spec. */
  context?: Context;
  /** Called when a level starts (after waiting for its inputs). */
  onLevel?: (level: JobLevel, share: { start: number; end: number; total: number }) => void;
  /** Progress within the current level. */
  onProgress?: (level: JobLevel, progress: CopyProgress) => void;
  /** Called while waiting for other tasks' manifests (at the start and then once a minute). */
  onWaiting?: (level: JobLevel, missing: readonly string[], waitedMs: number) => void;
  /** The tally the source volume was opened with (`open(src, {wrapKvStore: tally.wrap})`): its reads count in the levels that read it. */
  sourceTally?: StoreTally;
  /** The tally {@link publishJobMetadata} wrote with: its counts join the totals. */
  metadataTally?: StoreTally;
  /**
   * Wraps the store of every level the job opens (under its counters), e.g. to inject faults in
   * a test or add instrumentation. Must forward every call.
   */
  wrapKvStore?: (store: KvStore) => KvStore;
}

/** What one task did on one level. */
export interface LevelSummary {
  level: number;
  name: string;
  shape: number[];
  /** Factors relative to the level's input (all 1: copied). */
  factors: number[];
  /** `written`: this run wrote the share; `resumed`: skipped, its manifest was there; `existing`: the source itself. */
  status: 'written' | 'resumed' | 'existing';
  /** The share: write chunks `[start, end)` of `total`. */
  share: { start: number; end: number; total: number };
  /** Write chunks written, and skipped as complete (resume). */
  shards: { written: number; skipped: number };
  /** Array bytes covered (elements x dtype size). */
  arrayBytes: number;
  /** Tasks run again after a checksum error. */
  tasksRetried: number;
  counters: StoreCounters;
  /** Seconds spent writing the level (waiting excluded). */
  seconds: number;
  /** Seconds spent waiting for other tasks' manifests. */
  waitedSeconds: number;
}

/** What one task of a job did. */
export interface JobSummary {
  job: string;
  /** The job's root: the array, the pyramid group or the precomputed volume. */
  destination: string;
  kind: JobKind;
  task: { index: number; count: number };
  levels: LevelSummary[];
  /** Sums over the levels and the metadata work. */
  totals: StoreCounters & { shardsWritten: number; shardsSkipped: number; tasksRetried: number; arrayBytes: number };
  seconds: number;
}

/** The base-store key of the write chunk (shard) of `dst` holding view position `at`. */
function objectKeyAt(dst: Volume, at: readonly number[]): string {
  const d = dst.driver;
  const g = d.grid;
  const pos = dst.transform.outputs.map((m, k) => {
    const x = m.kind === 'dim' ? m.offset + m.stride * at[m.inputDim]! : m.kind === 'constant' ? m.offset : 0;
    return Math.floor((x - g.origin[k]!) / g.chunkShape[k]!);
  });
  const key = d.keyOf(pos);
  return isBatchUpdatable(d.store) ? (d.store as KvStore & BatchUpdatable).cellOf(key) : key;
}

/**
 * Whether a shard of `dst` is complete: its object is present and the region decodes (index
 * checksums, chunk codecs and checksums all pass). A missing object (never written, or all
 * fill) or one that fails to decode is not: the task runs again.
 */
async function shardIsComplete(dst: Volume, base: KvStore, region: readonly (readonly [number, number])[], signal?: AbortSignal): Promise<boolean> {
  const key = objectKeyAt(dst, region.map(([a]) => a));
  const r = await base.read(key, { byteRange: { offset: 0, length: 1 }, signal });
  if (r.state !== 'value') return false;
  try {
    await dst.slice(region).read({ signal });
    return true;
  } catch (e) {
    if (!(e instanceof CorruptionError) && !(e instanceof CodecError)) throw e;
    log.warn(`${base.url}${key}: present but does not decode (${e.message}); writing it again`);
    return false;
  }
}

/** Whether `dst` is a precomputed scale with hashed sharding (shards that are not boxes of chunks). */
function hashedSharding(dst: Volume): boolean {
  if (dst.driver.driverName !== 'neuroglancer_precomputed') return false;
  const d = dst.driver as PrecomputedDriver;
  return d.scale.sharding !== undefined && shardShapeInChunks(d.gridShape, d.scale.sharding) === undefined;
}

/**
 * The tasks (of `count`) that write the shards of `from` read by the write chunks
 * `[start, end)` of `plan` (a level downsampled from `from` by `factors`): per shard, the
 * source region its windows cover, then the shards of `from` intersecting it, then their owners.
 */
export function inputOwners(plan: WriteChunkPlan, start: number, end: number, from: Volume, factors: readonly number[], dst: Volume, count: number): Set<number> {
  const fromPlan = WriteChunkPlan.of(from);
  const slo = from.domain.inclusiveMin;
  const shi = from.domain.exclusiveMax;
  const dlo = dst.domain.inclusiveMin;
  const owners = new Set<number>();
  for (let i = start; i < end; i++) {
    const region = plan.taskAt(i).region;
    const lo = region.map(([a], d) => slo[d]! + (a - dlo[d]!) * factors[d]!);
    const hi = region.map(([, b], d) => Math.min(slo[d]! + (b - dlo[d]!) * factors[d]!, shi[d]!));
    for (const c of fromPlan.cellsIn(lo, hi)) owners.add(ownerOf(c, fromPlan.count, count));
  }
  return owners;
}

/**
 * Runs this process's task of a planned job (after {@link publishJobMetadata}): each level in
 * order, waiting for the tasks it reads from, writing its share, then its manifest.
 * @throws SpecError for hashed precomputed sharding with more than one task (its shards are not
 *   boxes, so tasks cannot own them: use rectangular `shardShape`); KvStoreError when inputs do
 *   not appear within `waitTimeoutMs`; CorruptionError when a read keeps failing its checksum;
 *   storage errors; AbortError.
 */
export async function runJob(layout: JobLayout, source: Volume, options: RunJobOptions = {}): Promise<JobSummary> {
  const t0 = Date.now();
  const task = { index: options.task?.index ?? 0, count: options.task?.count ?? 1 };
  shareOf(1, task.index, task.count); // validates index and count
  const context = options.context ?? new Context(layout.context);
  const signal = options.signal;
  const metaTally = new StoreTally();
  const root = await rootStore(layout, context, metaTally);
  const levelViews: (Volume | undefined)[] = [];
  const openLevel = async (l: JobLevel, tally: StoreTally, capture?: (s: KvStore) => void): Promise<Volume> => {
    let v = await open(l.openSpec, {
      context,
      signal,
      wrapKvStore: (s) => {
        const w = tally.wrap(options.wrapKvStore ? options.wrapKvStore(s) : s);
        capture?.(w);
        return w;
      },
    });
    if (layout.sliceChannel && v.rank === 4) v = v.slice([null, null, null, v.domain.inclusiveMin[3]!]);
    return v;
  };
  const summaries: LevelSummary[] = [];
  for (const l of layout.levels) {
    throwIfAborted(signal);
    const tally = new StoreTally();
    if (l.existing) {
      summaries.push({
        level: l.index, name: l.name, shape: l.shape, factors: l.factors, status: 'existing',
        share: { start: 0, end: 0, total: 0 }, shards: { written: 0, skipped: 0 }, arrayBytes: 0, tasksRetried: 0,
        counters: emptyCounters(), seconds: 0, waitedSeconds: 0,
      });
      levelViews[l.index] = source;
      continue;
    }
    let base: KvStore | undefined;
    const dst = await openLevel(l, tally, (s) => (base = s));
    const plan = WriteChunkPlan.of(dst);
    if (task.count > 1 && hashedSharding(dst)) {
      throw new SpecError('sharding', 'hashed precomputed sharding puts chunks from all over the volume into each shard, so tasks cannot own shards: use --shard-shape (rectangular shards) to split a job');
    }
    const [start, end] = shareOf(plan.count, task.index, task.count);
    const share = { start, end, total: plan.count };
    const ownKey = joinPath(layout.base, manifestKey(layout.digest, l.index, task.index, task.count));
    if (options.resume) {
      const m = await readManifest(root, ownKey, signal);
      if (m && m.job === layout.digest && m.range[0] === start && m.range[1] === end) {
        log.info(`level ${l.index}${l.name ? ` (${l.name})` : ''}: share ${start}..${end} complete (manifest ${ownKey}); skipping it`);
        summaries.push({
          level: l.index, name: l.name, shape: l.shape, factors: l.factors, status: 'resumed', share,
          shards: { written: 0, skipped: end - start }, arrayBytes: 0, tasksRetried: 0,
          counters: tally.snapshot(), seconds: 0, waitedSeconds: 0,
        });
        levelViews[l.index] = dst;
        continue;
      }
    }
    // Inputs: the source, or an earlier level (waiting for the tasks that write what we read).
    let input: Volume;
    let waitedMs = 0;
    if (l.input === 'source') input = source;
    else {
      const from = layout.levels[l.input]!;
      if (from.existing) input = source;
      else {
        if (task.count > 1) {
          const fromView = levelViews[from.index] ?? (await openLevel(from, tally));
          const owners = inputOwners(plan, start, end, fromView, l.factors, dst, task.count);
          owners.delete(task.index);
          if (owners.size > 0) {
            const keys = [...owners].sort((a, b) => a - b).map((j) => joinPath(layout.base, manifestKey(layout.digest, from.index, j, task.count)));
            log.info(`level ${l.index}: waiting for task(s) ${[...owners].sort((a, b) => a - b).join(', ')} of ${task.count} to finish level ${from.index}`);
            waitedMs = await waitForManifests(root, keys, {
              timeoutMs: options.waitTimeoutMs ?? 6 * 3600_000,
              maxPollMs: options.pollMs ?? 30_000,
              signal,
              onWaiting: (missing, ms) => options.onWaiting?.(l, missing, ms),
            });
          }
        }
        // Opened after the wait: no cached "missing" shard index from before its tasks finished.
        input = await openLevel(from, tally);
      }
    }
    options.onLevel?.(l, share);
    const t1 = Date.now();
    const sourceBefore = options.sourceTally?.snapshot();
    const jobOptions: JobOptions = {
      concurrency: options.concurrency,
      memoryLimit: options.memoryLimit,
      corruptionAttempts: options.corruptionAttempts,
      signal,
      share: task,
      onProgress: (p) => options.onProgress?.(l, p),
      isComplete: options.resume ? (t, s) => shardIsComplete(dst, base!, t.region, s) : undefined,
    };
    const isCopy = l.factors.every((f) => f === 1);
    let progress: CopyProgress;
    try {
      progress = isCopy ? await copyVolume(input, dst, jobOptions) : await downsampleVolume(input, dst, { ...jobOptions, factors: l.factors, method: layout.method });
    } catch (e) {
      // Name the level and the arrays: a key such as "c/0/0/0" alone does not say which level it is in.
      if (e instanceof CorruptionError) {
        const detail = e.message.replace(/^corrupt data at "[^"]*": /, '');
        throw new CorruptionError(e.key, `${detail} (level ${l.index}${l.name ? ` "${l.name}"` : ''}: reading ${input.driver.store.url}, writing ${dst.driver.store.url})`, { cause: e });
      }
      throw e;
    }
    const seconds = (Date.now() - t1) / 1000;
    let counters = tally.snapshot();
    if (options.sourceTally && sourceBefore) counters = addCounters(counters, subtractCounters(options.sourceTally.snapshot(), sourceBefore));
    const manifest: TaskManifest = {
      format: 'volstore-job-manifest/1',
      job: layout.digest,
      level: l.index,
      levelName: l.name,
      task,
      range: [start, end],
      shards: { written: progress.chunksDone - progress.chunksSkipped, skipped: progress.chunksSkipped, total: end - start },
      counters,
      seconds,
      finishedAt: new Date().toISOString(),
    };
    // Written last: the share is complete only once every shard above is.
    await writeManifest(root, ownKey, manifest, signal);
    summaries.push({
      level: l.index, name: l.name, shape: l.shape, factors: l.factors, status: 'written', share,
      shards: { written: manifest.shards.written, skipped: manifest.shards.skipped },
      arrayBytes: progress.bytesDone, tasksRetried: progress.tasksRetried, counters, seconds, waitedSeconds: waitedMs / 1000,
    });
    levelViews[l.index] = dst;
  }
  let totals = metaTally.snapshot();
  if (options.metadataTally) totals = addCounters(totals, options.metadataTally.snapshot());
  for (const s of summaries) totals = addCounters(totals, s.counters);
  return {
    job: layout.digest,
    destination: `${root.url}${layout.base.replace(/\/*$/, '/').replace(/^\/$/, '')}`,
    kind: layout.kind,
    task,
    levels: summaries,
    totals: {
      ...totals,
      shardsWritten: summaries.reduce((n, s) => n + s.shards.written, 0),
      shardsSkipped: summaries.reduce((n, s) => n + s.shards.skipped, 0),
      tasksRetried: summaries.reduce((n, s) => n + s.tasksRetried, 0),
      arrayBytes: summaries.reduce((n, s) => n + s.arrayBytes, 0),
    },
    seconds: (Date.now() - t0) / 1000,
  };
}
