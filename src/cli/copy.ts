/**
 * `volstore copy` and `volstore downsample`: thin shells over the library jobs (src/jobs/:
 * `planJob`, `publishJobMetadata`, `runJob`). This file turns flags into job options, refuses
 * destinations that would lose data, and reports progress and the summary.
 */
import { realpathSync } from 'node:fs';
import { type DataType, dtypeSize } from '../array/dtype.js';
import type { CodecJSON } from '../codecs/codec.js';
import { Context } from '../context/context.js';
import { SpecError, VolstoreError } from '../errors.js';
import { defaultDownsampleMethod, normalizeFactors } from '../jobs/downsample.js';
import { type VoxelGeometry, voxelGeometry } from '../jobs/geometry.js';
import { deleteJobOutput, type JobPlanOptions, type JobSummary, type LevelGeometry, planJob, publishJobMetadata, refuseNonEmpty, runJob } from '../jobs/job.js';
import { locationOverlap, storageLocation } from '../jobs/location.js';
import { StoreTally } from '../jobs/stats.js';
import { open } from '../open.js';
import { DRIVER_ALIASES, type Spec } from '../spec/spec.js';
import { log } from '../util/log.js';
import type { Volume } from '../volume.js';
import { type CliIO, type CommandContext, type OptionDef, type OptionValues, parseNumberArg, parseShapeArg, parseSpecArg, UsageError } from './args.js';
import { contextFromFlags, withContext } from './context-flags.js';
import { parseBytesArg, parseDurationArg, type TaskSelection, taskFromFlags } from './job-flags.js';
import { formatBytes, type ProgressReporter, progressReporter } from './progress.js';

/** `--codec zstd:3 | gzip:5 | blosc:zstd:5 | raw` as bytes->bytes codecs. @throws UsageError. */
export function codecArg(s: string, dtype: DataType): CodecJSON[] {
  const [name, a, b] = s.split(':');
  const level = (v: string | undefined, dflt: number): number => {
    const n = v === undefined ? dflt : Number(v);
    if (!Number.isInteger(n)) throw new UsageError(`--codec: bad level in "${s}"`);
    return n;
  };
  switch (name) {
    case 'raw':
      return [];
    case 'zstd':
      return [{ name: 'zstd', configuration: { level: level(a, 3), checksum: false } }];
    case 'gzip':
      return [{ name: 'gzip', configuration: { level: level(a, 5) } }];
    case 'blosc':
      return [{ name: 'blosc', configuration: { cname: a ?? 'zstd', clevel: level(b, 5), shuffle: dtypeSize(dtype) === 1 ? 'bitshuffle' : 'shuffle', typesize: dtypeSize(dtype), blocksize: 0 } }];
    default:
      throw new UsageError(`--codec: unknown codec "${s}" (zstd:LEVEL, gzip:LEVEL, blosc:CNAME:LEVEL, raw)`);
  }
}

/** Options shared by `copy` and `downsample` that shape the destination. */
export const DESTINATION_OPTIONS: OptionDef[] = [
  { name: 'driver', short: 'd', type: 'string', value: 'NAME', help: 'destination format: zarr3 (default), zarr, n5, neuroglancer_precomputed' },
  { name: 'chunk-shape', type: 'string', value: 'a,b,c', help: "read chunk shape (default: the source's)" },
  { name: 'shard-shape', type: 'string', value: 'a,b,c', help: 'zarr3: shard shape, a multiple of the chunk shape;\nprecomputed: about this many voxels per shard [x,y,z]' },
  { name: 'codec', type: 'string', value: 'CODEC', help: 'zstd:LEVEL (default zstd:3), gzip:LEVEL, blosc:CNAME:LEVEL, raw' },
  { name: 'encoding', type: 'string', value: 'ENC', help: 'precomputed: raw (default), jpeg, png, compressed_segmentation' },
  { name: 'sharding', type: 'string', value: 'auto|none', help: 'precomputed: auto = hashed shards of ~1 GiB' },
  { name: 'resolution', type: 'string', value: 'x,y,z', help: 'precomputed: nm per voxel (default: from the source metadata, else 1,1,1)' },
  { name: 'concurrency', type: 'string', value: 'N', help: 'write chunks (shards) in flight (default 4)' },
  { name: 'checksum', type: 'boolean', help: 'zarr3: a crc32c on every chunk, so a corrupted read is detected\n(and read again) instead of decoded' },
  { name: 'overwrite', type: 'boolean', help: 'replace an existing destination (it is deleted first; one task only)' },
];

/** Context resources from `--timeout` / `--retries`. */
export function networkContext(values: OptionValues): Record<string, Record<string, unknown>> {
  return contextFromFlags({
    timeout: typeof values.timeout === 'string' ? parseNumberArg(values.timeout, '--timeout', { min: 0 }) : undefined,
    retries: typeof values.retries === 'string' ? parseNumberArg(values.retries, '--retries', { integer: true }) : undefined,
  });
}

/** The canonical form of an absolute local path: symlinks of its longest existing prefix resolved. */
export function canonicalLocalPath(p: string): string {
  const segs = p.split('/').filter(Boolean);
  for (let i = segs.length; i >= 0; i--) {
    try {
      const head = realpathSync(`/${segs.slice(0, i).join('/')}`);
      return [head.replace(/\/+$/, ''), ...segs.slice(i)].join('/') || '/';
    } catch {
      // not there (yet): try the parent
    }
  }
  return p;
}

/**
 * Refuses a destination that is the source, inside it, or contains it (writing there, and
 * above all `--overwrite`'s delete, would destroy the source). Two scales of one precomputed
 * volume share a location and are told apart by `sameScale`.
 * @throws SpecError naming the destination.
 */
export function refuseOverlap(srcSpec: Spec, dstSpec: Spec, sameScale: () => boolean): void {
  const a = storageLocation(srcSpec, canonicalLocalPath);
  const b = storageLocation(dstSpec, canonicalLocalPath);
  const rel = locationOverlap(b, a);
  const where = `/${b.segments.join('/')}`;
  if (rel === 'same' && !sameScale()) return;
  if (rel === 'same') throw new SpecError('destination', `${where} is the source itself`);
  if (rel === 'a-inside-b') throw new SpecError('destination', `${where} is inside the source`);
  if (rel === 'b-inside-a') throw new SpecError('destination', `${where} contains the source`);
}

/** Dimension order that shows a source as [x, y, z(, rest)] for a precomputed destination. */
function xyzOrder(vol: Volume, axes: readonly string[] | undefined): number[] | undefined {
  for (const names of [vol.dimensionNames, axes]) {
    if (!names || names.length !== vol.rank) continue;
    const idx = ['x', 'y', 'z'].map((n) => names.indexOf(n));
    if (idx.every((i) => i >= 0)) return [...idx, ...names.map((_, i) => i).filter((i) => !idx.includes(i))];
  }
  return vol.rank === 3 ? [2, 1, 0] : undefined; // zarr / N5-from-zarr C order is [z, y, x]
}

function destinationDriver(values: OptionValues, dst: Spec): string {
  const d = (values.driver as string | undefined) ?? (dst.driver as string | undefined) ?? 'zarr3';
  const canonical = DRIVER_ALIASES[d];
  if (!canonical) throw new UsageError(`--driver: unknown driver "${d}" (zarr3, zarr, n5, neuroglancer_precomputed)`);
  return canonical;
}

interface Prepared {
  src: Volume;
  srcSpec: Spec;
  dstSpec: Spec;
  driver: string;
  /** View order applied to the source (precomputed destinations). */
  order: number[] | undefined;
  geometry: VoxelGeometry | undefined;
  /** Counts the source's reads for the summary. */
  sourceTally: StoreTally;
}

/** Opens the source, refuses overlapping destinations, and orients the source for the format. */
async function prepare(ctx: CommandContext, wantGeometry: boolean): Promise<Prepared> {
  const net = networkContext(ctx.values);
  const srcSpec = withContext(parseSpecArg(ctx.positionals[0]!), net);
  const dstSpec = withContext(parseSpecArg(ctx.positionals[1]!), net);
  const driver = destinationDriver(ctx.values, dstSpec);
  // Opening the source only reads. A destination at or around it is refused before anything is
  // written; two scales of one precomputed volume are told apart once the scale keys are known.
  const sourceTally = new StoreTally();
  let src = await open(srcSpec, { wrapKvStore: sourceTally.wrap });
  const bothPrecomputed = src.driver.driverName === 'neuroglancer_precomputed' && driver === 'neuroglancer_precomputed';
  refuseOverlap(srcSpec, dstSpec, () => !bothPrecomputed);
  let geometry: VoxelGeometry | undefined;
  let order: number[] | undefined;
  if (driver === 'neuroglancer_precomputed' || wantGeometry) geometry = await voxelGeometry(src);
  if (driver === 'neuroglancer_precomputed' && src.driver.driverName !== 'neuroglancer_precomputed') {
    order = xyzOrder(src, geometry?.axes);
    if (order) src = src.transpose(order);
  }
  return { src, srcSpec, dstSpec, driver, order, geometry, sourceTally };
}

/**
 * Flags -> destination options, checked before any I/O; completed with the source's dtype
 * (blosc's typesize) once it is open.
 * @throws UsageError for a malformed option value.
 */
function destinationFlags(values: OptionValues): { options: (driver: string, dtype: DataType) => JobPlanOptions; resolution: number[] | undefined } {
  const shape = (name: string) => (typeof values[name] === 'string' ? parseShapeArg(values[name] as string, `--${name}`) : undefined);
  const chunkShape = shape('chunk-shape');
  const shardShape = shape('shard-shape');
  const codec = values.codec as string | undefined;
  if (codec !== undefined) codecArg(codec, 'uint8'); // syntax now; the dtype-specific form below
  let resolution: number[] | undefined;
  if (typeof values.resolution === 'string') {
    resolution = values.resolution.split(',').map(Number);
    if (resolution.length !== 3 || resolution.some((x) => !Number.isFinite(x) || x <= 0)) throw new UsageError(`--resolution expects 3 positive numbers x,y,z, got "${values.resolution}"`);
  }
  return {
    resolution,
    options: (driver, dtype) => ({
      driver,
      chunkShape,
      shardShape,
      codecs: codec !== undefined ? codecArg(codec, dtype) : undefined,
      encoding: values.encoding as string | undefined,
      sharding: values.sharding as string | undefined,
      checksum: values.checksum === true ? true : undefined,
    }),
  };
}

/**
 * Geometry of the first level written, in the (oriented) source view's dimension order: the
 * source's geometry, times `factors` for a downsample; `--resolution` (precomputed, x,y,z) wins.
 */
function firstLevelGeometry(p: Prepared, factors: readonly number[] | undefined, resolutionFlag: number[] | undefined): LevelGeometry {
  const rank = p.src.rank;
  const ord = p.order ?? Array.from({ length: rank }, (_, i) => i);
  const g = p.geometry;
  const f = (d: number) => factors?.[d] ?? 1;
  const resolution = ord.map((k, d) => (g?.resolution[k] === undefined ? undefined : g.resolution[k]! * f(d)));
  if (resolutionFlag) resolutionFlag.forEach((r, d) => (resolution[d] = r));
  const offset = ord.map((k, d) => Math.floor((g?.offset[k] ?? 0) / f(d)));
  const axes = ord.map((k, d) => g?.axes[k] || p.src.dimensionNames[d] || '');
  return { resolution: resolution.every((r) => r === undefined) ? undefined : resolution, offset, axes };
}

function concurrencyOf(values: OptionValues): number | undefined {
  return typeof values.concurrency === 'string' ? parseNumberArg(values.concurrency, '--concurrency', { integer: true, min: 1 }) : undefined;
}

/** The job flags, checked before any I/O. */
interface JobFlags {
  task: TaskSelection;
  resume: boolean;
  /** More than one task, or resuming: existing metadata equal to the job's is accepted. */
  shared: boolean;
  overwrite: boolean;
  concurrency: number | undefined;
  memoryLimit: number | undefined;
  waitTimeoutMs: number | undefined;
  pollMs: number | undefined;
}

function jobFlags(values: OptionValues): JobFlags {
  const task = taskFromFlags(values);
  const resume = values.resume === true;
  const overwrite = values.overwrite === true;
  const shared = task.count > 1 || resume;
  if (overwrite && shared) {
    throw new UsageError('--overwrite cannot be combined with --resume or more than one task (one task would delete what another wrote): delete the destination first, then start the job');
  }
  return {
    task,
    resume,
    shared,
    overwrite,
    concurrency: concurrencyOf(values),
    memoryLimit: typeof values['memory-limit'] === 'string' ? parseBytesArg(values['memory-limit'], '--memory-limit') : undefined,
    waitTimeoutMs: typeof values['wait-timeout'] === 'string' ? parseDurationArg(values['wait-timeout'], '--wait-timeout') : undefined,
    pollMs: typeof values['wait-poll'] === 'string' ? parseDurationArg(values['wait-poll'], '--wait-poll') : undefined,
  };
}

/**
 * Plans, creates (or verifies) the destination metadata and runs this process's task, with
 * progress per level on standard error. Returns the job summary.
 */
async function runJobCommand(io: CliIO, values: OptionValues, p: Prepared, flags: JobFlags, plan: JobPlanOptions, label: string): Promise<JobSummary> {
  const layout = await planJob(p.src, p.dstSpec, plan);
  if (p.driver === 'neuroglancer_precomputed' && p.src.driver.driverName === 'neuroglancer_precomputed') {
    // Same precomputed volume: only other scales may be written.
    const srcKey = (p.src.driver as unknown as { scale: { key: string } }).scale.key;
    refuseOverlap(p.srcSpec, p.dstSpec, () => layout.levels.some((l) => !l.existing && l.name === srcKey));
  }
  log.debug(`job ${layout.digest}: ${layout.levels.map((l) => `${l.name || '(array)'} ${JSON.stringify(l.createSpec)}`).join('; ')}`);
  const context = new Context(layout.context);
  if (!flags.shared) {
    if (flags.overwrite) await deleteJobOutput(layout, context);
    else await refuseNonEmpty(layout, context);
  }
  // After --overwrite, precomputed scales were recreated by the driver: publishing verifies them.
  const metadataTally = new StoreTally();
  await publishJobMetadata(layout, { allowExisting: flags.shared || flags.overwrite, context, tally: metadataTally });
  const quiet = values.quiet === true || values.json === true;
  let reporter: ProgressReporter | undefined;
  const prefix = flags.task.count > 1 ? `task ${flags.task.index}/${flags.task.count} ` : '';
  try {
    return await runJob(layout, p.src, {
      task: flags.task,
      resume: flags.resume,
      concurrency: flags.concurrency,
      memoryLimit: flags.memoryLimit,
      waitTimeoutMs: flags.waitTimeoutMs,
      pollMs: flags.pollMs,
      context,
      sourceTally: p.sourceTally,
      metadataTally,
      onLevel: (l) => {
        reporter?.stop();
        reporter = progressReporter(io, `${prefix}${layout.kind === 'pyramid' ? `level ${l.index} (${l.name})` : label}`, { quiet });
      },
      onProgress: (_l, pr) => reporter?.update(pr),
      onWaiting: (l, missing, ms) => {
        if (!quiet) io.stderr.write(`${prefix}level ${l.index}: waiting for ${missing.length} task(s) of level ${l.index - 1} (${Math.round(ms / 1000)} s so far): ${missing[0]}${missing.length > 1 ? ', ...' : ''}\n`);
      },
    });
  } finally {
    reporter?.stop();
  }
}

/** The summary fields every job prints with `--json`. */
function jobJson(s: JobSummary): Record<string, unknown> {
  const t = s.totals;
  return {
    job: s.job,
    task: s.task,
    objects: t.objectsWritten,
    bytesWritten: t.bytesWritten,
    requests: t.requests,
    retries: t.retries,
    tasksRetried: t.tasksRetried,
    shardsSkipped: t.shardsSkipped,
    levels: s.levels,
  };
}

/** "; 120 requests, 3 retried, 5 shards already complete" when there were any, else ''. */
function requestsNote(s: JobSummary): string {
  const t = s.totals;
  const parts: string[] = [];
  if (t.requests > 0) parts.push(`${t.requests} requests, ${t.retries} retried`);
  if (t.tasksRetried > 0) parts.push(`${t.tasksRetried} shards read again after a checksum error`);
  if (t.shardsSkipped > 0) parts.push(`${t.shardsSkipped} shards already complete`);
  return parts.length ? `; ${parts.join(', ')}` : '';
}

/** `volstore copy <src> <dst>`. */
export async function copyCommand(ctx: CommandContext): Promise<number> {
  const { values, io } = ctx;
  const flags = jobFlags(values);
  const dest = destinationFlags(values);
  const p = await prepare(ctx, false);
  const plan: JobPlanOptions = { ...dest.options(p.driver, p.src.dtype), geometry: firstLevelGeometry(p, undefined, dest.resolution) };
  const s = await runJobCommand(io, values, p, flags, plan, 'copy');
  const level = s.levels[0]!;
  const summary = {
    source: p.src.driver.store.url,
    destination: s.destination,
    driver: p.driver,
    shape: level.shape,
    dtype: p.src.dtype,
    chunks: level.shards.written + level.shards.skipped,
    bytes: s.totals.arrayBytes,
    seconds: Number(s.seconds.toFixed(3)),
    ...jobJson(s),
  };
  if (values.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  else if (!values.quiet) {
    const who = flags.task.count > 1 ? `task ${flags.task.index} of ${flags.task.count}: ` : '';
    io.stderr.write(`${who}copied ${formatBytes(s.totals.arrayBytes)} (${summary.chunks} write chunks) to ${summary.destination} in ${s.seconds.toFixed(2)} s${requestsNote(s)}\n`);
  }
  return 0;
}

/** `volstore downsample <src> <dst> --factors a,b,c [--levels N]`. */
export async function downsampleCommand(ctx: CommandContext): Promise<number> {
  const { values, io } = ctx;
  if (typeof values.factors !== 'string') throw new UsageError('--factors is required (e.g. --factors 2,2,2)');
  const given = parseShapeArg(values.factors, '--factors');
  const levels = typeof values.levels === 'string' ? parseNumberArg(values.levels, '--levels', { integer: true, min: 2 }) : undefined;
  const flags = jobFlags(values);
  const dest = destinationFlags(values);
  if (values.method !== undefined && values.method !== 'mean' && values.method !== 'mode') throw new UsageError(`--method must be mean or mode, got "${String(values.method)}"`);
  const p = await prepare(ctx, levels !== undefined);
  // Factors are given in the source's own dimension order; follow the source's reorientation.
  let factors: number[];
  try {
    factors = normalizeFactors(given, p.src.rank);
  } catch (e) {
    if (e instanceof VolstoreError) throw new UsageError(`--factors: ${e.message.replace(/^spec field "factors": /, '')}`);
    throw e;
  }
  if (p.order) factors = p.order.map((k) => factors[k]!);
  if (levels !== undefined && factors.every((f) => f === 1)) throw new UsageError('--factors: a pyramid needs a factor above 1');
  const method = (values.method as 'mean' | 'mode' | undefined) ?? defaultDownsampleMethod(p.src.dtype);
  // A precomputed pyramid written into the source's own volume adds scales to it (level 0 is the source).
  const reuse =
    levels !== undefined &&
    p.driver === 'neuroglancer_precomputed' &&
    p.src.driver.driverName === 'neuroglancer_precomputed' &&
    locationOverlap(storageLocation(p.srcSpec, canonicalLocalPath), storageLocation(p.dstSpec, canonicalLocalPath)) === 'same';
  const plan: JobPlanOptions = {
    ...dest.options(p.driver, p.src.dtype),
    factors,
    levels,
    method,
    reuseSourceLevel: reuse || undefined,
    geometry: firstLevelGeometry(p, levels === undefined ? factors : undefined, dest.resolution),
  };
  const s = await runJobCommand(io, values, p, flags, plan, 'downsample');
  const last = s.levels.at(-1)!;
  const summary = {
    source: p.src.driver.store.url,
    destination: s.destination,
    driver: p.driver,
    factors,
    method,
    shape: levels === undefined ? last.shape : s.levels.map((l) => l.shape),
    dtype: p.src.dtype,
    chunks: s.levels.reduce((n, l) => n + l.shards.written + l.shards.skipped, 0),
    bytes: s.totals.arrayBytes,
    seconds: Number(s.seconds.toFixed(3)),
    ...jobJson(s),
  };
  if (values.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  else if (!values.quiet) {
    const who = flags.task.count > 1 ? `task ${flags.task.index} of ${flags.task.count}: ` : '';
    const what = levels === undefined
      ? `downsampled by [${factors}] (${method}) to [${last.shape}]`
      : `pyramid of ${s.levels.length} levels (${s.levels.map((l) => `${l.name} [${l.shape}]`).join(', ')}), ${method}`;
    io.stderr.write(`${who}${what}: ${formatBytes(s.totals.arrayBytes)} in ${s.seconds.toFixed(2)} s${requestsNote(s)}\n`);
  }
  return 0;
}
