/**
 * `volstore copy` and `volstore downsample`: thin shells over the library jobs
 * (`copyVolume`, `downsampleVolume` in src/jobs/). This file only turns flags into a
 * destination spec, refuses destinations that would lose data, and reports progress.
 */
import { realpathSync } from 'node:fs';
import { type DataType, dtypeSize } from '../array/dtype.js';
import type { CodecJSON } from '../codecs/codec.js';
import { Context } from '../context/context.js';
import { AlreadyExistsError, SpecError, VolstoreError } from '../errors.js';
import { copyVolume, type CopyProgress } from '../jobs/copy.js';
import { destinationSpec, type DestinationOptions } from '../jobs/destination.js';
import { defaultDownsampleMethod, downsampledShape, downsampleVolume, normalizeFactors } from '../jobs/downsample.js';
import { type VoxelGeometry, voxelGeometry } from '../jobs/geometry.js';
import { locationOverlap, storageLocation } from '../jobs/location.js';
import { openKvStore } from '../kvstore/open.js';
import { DRIVER_SPEC_KEYS, open } from '../open.js';
import { DRIVER_ALIASES, parseSpec, type Spec } from '../spec/spec.js';
import { log } from '../util/log.js';
import type { Volume } from '../volume.js';
import { type CliIO, type CommandContext, type OptionDef, type OptionValues, parseNumberArg, parseShapeArg, parseSpecArg, UsageError } from './args.js';
import { contextFromFlags, withContext } from './context-flags.js';
import { formatBytes, progressReporter } from './progress.js';

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
  { name: 'overwrite', type: 'boolean', help: 'replace an existing destination (it is deleted first)' },
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

/**
 * Without `--overwrite`: refuses a destination where anything is stored. A precomputed volume
 * (an `info` there) is left to the driver, which adds a new scale but refuses an existing one.
 * @throws AlreadyExistsError naming the destination and what was found.
 */
export async function refuseExisting(spec: Spec): Promise<void> {
  const parsed = parseSpec(spec, DRIVER_SPEC_KEYS);
  const store = await openKvStore(parsed.kvstore, parsed.path, new Context(parsed.context));
  if (parsed.driver === 'neuroglancer_precomputed' && (await store.read('info')).state === 'value') return;
  for await (const key of store.list('')) {
    throw new AlreadyExistsError(store.url, `the destination is not empty (it holds "${key}"); pass --overwrite to replace it`);
  }
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
}

/** Opens the source, refuses overlapping destinations, and orients the source for the format. */
async function prepare(ctx: CommandContext): Promise<Prepared & { geometry: VoxelGeometry | undefined }> {
  const net = networkContext(ctx.values);
  const srcSpec = withContext(parseSpecArg(ctx.positionals[0]!), net);
  const dstSpec = withContext(parseSpecArg(ctx.positionals[1]!), net);
  const driver = destinationDriver(ctx.values, dstSpec);
  // Opening the source only reads. A destination at or around it is refused before anything is
  // written; two scales of one precomputed volume are told apart once the scale key is known.
  let src = await open(srcSpec);
  const bothPrecomputed = src.driver.driverName === 'neuroglancer_precomputed' && driver === 'neuroglancer_precomputed';
  refuseOverlap(srcSpec, dstSpec, () => !bothPrecomputed);
  let geometry: VoxelGeometry | undefined;
  let order: number[] | undefined;
  if (driver === 'neuroglancer_precomputed') {
    geometry = await voxelGeometry(src);
    if (src.driver.driverName !== 'neuroglancer_precomputed') {
      order = xyzOrder(src, geometry?.axes);
      if (order) src = src.transpose(order);
    }
  }
  return { src, srcSpec, dstSpec, driver, order, geometry };
}

/**
 * Flags -> destination options, checked before any I/O; the result completes them with the
 * source's dtype (blosc's typesize) and the precomputed geometry (`--resolution` wins).
 * @throws UsageError for a malformed option value.
 */
function destinationFlags(values: OptionValues): (driver: string, dtype: DataType, geometry: { resolution?: number[]; offset?: number[] }) => DestinationOptions {
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
  return (driver, dtype, geometry) => ({
    driver,
    chunkShape,
    shardShape,
    codecs: codec !== undefined ? codecArg(codec, dtype) : undefined,
    encoding: values.encoding as string | undefined,
    sharding: values.sharding as string | undefined,
    resolution: resolution ?? geometry.resolution,
    voxelOffset: geometry.offset,
    overwrite: values.overwrite === true,
  });
}

/** Resolution and offset of the [x, y, z] destination, from the source geometry seen in `order`. */
function xyzGeometry(
  geometry: VoxelGeometry | undefined,
  order: number[] | undefined,
  factors: readonly number[] | undefined,
): { resolution?: number[]; offset?: number[] } {
  if (!geometry) return {};
  const ord = order ?? geometry.resolution.map((_, i) => i);
  const res = ord.slice(0, 3).map((k, i) => (geometry.resolution[k] ?? NaN) * (factors?.[i] ?? 1));
  const off = ord.slice(0, 3).map((k, i) => Math.floor((geometry.offset[k] ?? 0) / (factors?.[i] ?? 1)));
  return { resolution: res.every((r) => r > 0) ? res : undefined, offset: off.some((o) => o !== 0) ? off : undefined };
}

/** Opens the destination; adds the `--overwrite` hint to "already exists" errors. */
async function openDestination(spec: Spec, p: Prepared, overwrite: boolean): Promise<Volume> {
  if (p.driver === 'neuroglancer_precomputed' && p.src.driver.driverName === 'neuroglancer_precomputed') {
    // Same precomputed volume: only a different scale may be written.
    const key = (spec.scale_metadata as { key?: string } | undefined)?.key;
    refuseOverlap(p.srcSpec, p.dstSpec, () => key === (p.src.driver as unknown as { scale: { key: string } }).scale.key);
  }
  if (!overwrite) await refuseExisting(spec);
  log.debug(`destination spec ${JSON.stringify(spec)}`);
  let dst: Volume;
  try {
    dst = await open(spec);
  } catch (e) {
    if (e instanceof AlreadyExistsError && !/--overwrite/.test(e.message)) throw new AlreadyExistsError(e.key, `${e.message.replace(/^"[^"]*": /, '')}; pass --overwrite to replace it`);
    throw e;
  }
  // A precomputed destination is [x, y, z, channel]: copy a rank 3 source into channel 0.
  if (dst.rank === p.src.rank + 1 && dst.driver.driverName === 'neuroglancer_precomputed') dst = dst.slice([null, null, null, dst.domain.inclusiveMin[3]!]);
  return dst;
}

async function runWithProgress(
  io: CliIO,
  values: OptionValues,
  label: string,
  job: (onProgress: (p: CopyProgress) => void) => Promise<CopyProgress>,
): Promise<{ progress: CopyProgress; seconds: number }> {
  const reporter = progressReporter(io, label, { quiet: values.quiet === true || values.json === true });
  const t0 = performance.now();
  try {
    const progress = await job((p) => reporter.update(p));
    return { progress, seconds: (performance.now() - t0) / 1000 };
  } finally {
    reporter.stop();
  }
}

function concurrencyOf(values: OptionValues): number | undefined {
  return typeof values.concurrency === 'string' ? parseNumberArg(values.concurrency, '--concurrency', { integer: true, min: 1 }) : undefined;
}

/** `volstore copy <src> <dst>`. */
export async function copyCommand(ctx: CommandContext): Promise<number> {
  const { values, io } = ctx;
  const options = destinationFlags(values);
  const concurrency = concurrencyOf(values);
  const p = await prepare(ctx);
  const spec = await destinationSpec(p.dstSpec, p.src, options(p.driver, p.src.dtype, xyzGeometry(p.geometry, p.order, undefined)));
  const dst = await openDestination(spec, p, values.overwrite === true);
  const { progress, seconds } = await runWithProgress(io, values, 'copy', (onProgress) => copyVolume(p.src, dst, { concurrency, onProgress }));
  const summary = {
    source: p.src.driver.store.url,
    destination: dst.driver.store.url,
    driver: dst.driver.driverName,
    shape: dst.shape,
    dtype: dst.dtype,
    chunks: progress.chunksDone,
    bytes: progress.bytesDone,
    seconds: Number(seconds.toFixed(3)),
  };
  if (values.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  else if (!values.quiet) io.stderr.write(`copied ${formatBytes(progress.bytesDone)} (${progress.chunksDone} write chunks) to ${summary.destination} in ${seconds.toFixed(2)} s\n`);
  return 0;
}

/** `volstore downsample <src> <dst> --factors a,b,c`. */
export async function downsampleCommand(ctx: CommandContext): Promise<number> {
  const { values, io } = ctx;
  if (typeof values.factors !== 'string') throw new UsageError('--factors is required (e.g. --factors 2,2,2)');
  const given = parseShapeArg(values.factors, '--factors');
  const options = destinationFlags(values);
  const concurrency = concurrencyOf(values);
  if (values.method !== undefined && values.method !== 'mean' && values.method !== 'mode') throw new UsageError(`--method must be mean or mode, got "${String(values.method)}"`);
  const p = await prepare(ctx);
  // Factors are given in the source's own dimension order; follow the source's reorientation.
  let factors: number[];
  try {
    factors = normalizeFactors(given, p.src.rank);
  } catch (e) {
    if (e instanceof VolstoreError) throw new UsageError(`--factors: ${e.message.replace(/^spec field "factors": /, '')}`);
    throw e;
  }
  if (p.order) factors = p.order.map((k) => factors[k]!);
  const method = (values.method as 'mean' | 'mode' | undefined) ?? defaultDownsampleMethod(p.src.dtype);
  const shape = downsampledShape(p.src.shape, factors);
  const like = {
    shape,
    dtype: p.src.dtype,
    chunkLayout: { ...p.src.chunkLayout, readChunk: { shape: p.src.chunkLayout.readChunk.shape.map((c, i) => Math.min(c, Math.max(1, shape[i]!))) } },
    dimensionNames: p.src.dimensionNames,
    fillValue: p.src.fillValue,
  };
  const spec = await destinationSpec(p.dstSpec, like, options(p.driver, p.src.dtype, xyzGeometry(p.geometry, p.order, factors)));
  const dst = await openDestination(spec, p, values.overwrite === true);
  const { progress, seconds } = await runWithProgress(io, values, 'downsample', (onProgress) =>
    downsampleVolume(p.src, dst, { factors, method, concurrency, onProgress }),
  );
  const summary = {
    source: p.src.driver.store.url,
    destination: dst.driver.store.url,
    driver: dst.driver.driverName,
    factors,
    method,
    shape: dst.shape,
    dtype: dst.dtype,
    chunks: progress.chunksDone,
    bytes: progress.bytesDone,
    seconds: Number(seconds.toFixed(3)),
  };
  if (values.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  else if (!values.quiet) io.stderr.write(`downsampled by [${factors}] (${method}) to [${dst.shape}]: ${formatBytes(progress.bytesDone)} in ${seconds.toFixed(2)} s\n`);
  return 0;
}
