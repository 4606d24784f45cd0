import { type DataType, type Scalar, isDataType } from '../array/dtype.js';
import type { Schema } from '../drivers/driver.js';
import { SpecError } from '../errors.js';
import { IndexDomain } from '../index-space/index.js';
import { type KvStoreSpec, kvstoreFromUrl, parseKvStore } from '../kvstore/spec.js';
import { describeJson, jsonBoundsProblem } from '../util/json.js';
import type { RecheckCache } from '../cache/pool.js';

/**
 * TensorStore spec JSON (and URL) parsing: one place for keys, validation and defaults.
 * https://google.github.io/tensorstore/spec.html
 */
export type Spec = Record<string, unknown>;

export interface ParsedSpec {
  /** Undefined: detect from the metadata found. */
  driver: string | undefined;
  kvstore: KvStoreSpec;
  /** The driver-level `path`, joined under kvstore.path. */
  path: string;
  context: Record<string, unknown>;
  open: boolean;
  create: boolean;
  deleteExisting: boolean;
  assumeMetadata: boolean;
  /** `recheck_cached_data` (default true): see `RecheckCache` in src/cache/pool.ts. */
  recheckCachedData: RecheckCache;
  /** `recheck_cached_metadata` (default "open"). */
  recheckCachedMetadata: RecheckCache;
  fillMissingDataReads: boolean;
  storeDataEqualToFillValue: boolean;
  schema: Schema;
  transform: unknown;
  /** The spec as given (object form), for driver-specific keys. */
  raw: Spec;
}

export const DRIVER_ALIASES: Record<string, string> = {
  zarr: 'zarr',
  zarr2: 'zarr',
  zarr3: 'zarr3',
  n5: 'n5',
  neuroglancer_precomputed: 'neuroglancer_precomputed',
  'neuroglancer-precomputed': 'neuroglancer_precomputed',
  hdf5: 'hdf5',
};

const COMMON_KEYS = new Set([
  'driver', 'kvstore', 'path', 'context', 'dtype', 'rank', 'schema', 'transform', 'open', 'create',
  'delete_existing', 'assume_metadata', 'assume_cached_metadata', 'recheck_cached_data', 'recheck_cached_metadata',
  'fill_missing_data_reads', 'store_data_equal_to_fill_value', 'cache_pool', 'data_copy_concurrency',
  'file_io_concurrency', 'metadata_cache_pool',
]);

/**
 * Parses a URL: `file:///abs/p/`, `memory://name/`, `gs://bucket/p/`, `s3://bucket/p/`,
 * `https://host/p/`, and TensorStore's pipeline form `<kvstore url>|<driver>:` (e.g.
 * `gs://b/p/|zarr3:`). Returns a spec object.
 */
export function parseUrl(url: string): Spec {
  const parts = url.split('|');
  const kv = kvstoreFromUrl(parts[0]!);
  const spec: Spec = { kvstore: kv };
  if (parts.length > 2) throw new SpecError('url', `only "<kvstore url>|<driver>:" pipelines are supported: ${url}`);
  if (parts.length === 2) {
    const m = /^([a-z0-9_-]+):(.*)$/.exec(parts[1]!);
    const driver = m && DRIVER_ALIASES[m[1]!];
    if (!m || !driver) throw new SpecError('url', `unknown driver scheme "${parts[1]}" (use zarr:, zarr2:, zarr3:, n5:, neuroglancer-precomputed:, hdf5:)`);
    spec.driver = driver;
    if (m[2]) spec.path = m[2];
  }
  return spec;
}

function bool(spec: Spec, key: string, dflt: boolean): boolean {
  const v = spec[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new SpecError(key, `must be true or false, got ${describeJson(v)}`);
  return v;
}

/**
 * A `recheck_cached_*` value as TensorStore documents it: true, false, "open", or a time bound
 * in seconds since the Unix epoch (a finite number).
 */
function recheck(spec: Spec, key: string, dflt: RecheckCache): RecheckCache {
  const v = spec[key];
  if (v === undefined) return dflt;
  if (typeof v === 'boolean' || v === 'open' || (typeof v === 'number' && Number.isFinite(v))) return v;
  throw new SpecError(key, `must be true, false, "open" or a time in seconds since the Unix epoch, got ${describeJson(v)}`);
}

function parseShape(v: unknown, field: string, allowZero = true): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x) && x >= (allowZero ? 0 : 1))) {
    throw new SpecError(field, `must be a list of ${allowZero ? 'non-negative' : 'positive'} integers, got ${describeJson(v)}`);
  }
  return v as number[];
}

function chunkShapeOf(v: unknown, field: string): number[] | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null) throw new SpecError(field, 'must be an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['shape', 'shape_soft_constraint', 'aspect_ratio', 'elements', 'elements_soft_constraint', 'aspect_ratio_soft_constraint'].includes(k)) throw new SpecError(`${field}.${k}`, 'unknown chunk constraint');
  if (o.shape === undefined) return undefined;
  return parseShape(o.shape, `${field}.shape`);
}

/** Schema constraints from `schema`, `dtype` and `rank`. */
export function parseSchema(spec: Spec): Schema {
  const schema: Schema = {};
  const s = (spec.schema ?? {}) as Record<string, unknown>;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new SpecError('schema', 'must be an object');
  const known = ['dtype', 'rank', 'domain', 'chunk_layout', 'codec', 'fill_value', 'dimension_units'];
  for (const k of Object.keys(s)) if (!known.includes(k)) throw new SpecError(`schema.${k}`, 'unknown schema key');
  const dtype = spec.dtype ?? s.dtype;
  if (dtype !== undefined) {
    if (!isDataType(dtype)) throw new SpecError(spec.dtype !== undefined ? 'dtype' : 'schema.dtype', `unsupported dtype ${describeJson(dtype)}`);
    schema.dtype = dtype as DataType;
  }
  const rank = spec.rank ?? s.rank;
  if (rank !== undefined) {
    if (!Number.isInteger(rank) || (rank as number) < 0) throw new SpecError('rank', 'must be a non-negative integer');
    schema.rank = rank as number;
  }
  if (s.domain !== undefined) {
    const d = IndexDomain.fromJSON(s.domain, 'schema.domain');
    schema.domain = { inclusiveMin: [...d.inclusiveMin], shape: d.shape, labels: [...d.labels] };
  }
  if (s.chunk_layout !== undefined) {
    const cl = s.chunk_layout as Record<string, unknown>;
    for (const k of Object.keys(cl)) if (!['grid_origin', 'inner_order', 'read_chunk', 'write_chunk', 'codec_chunk', 'chunk', 'rank'].includes(k)) throw new SpecError(`schema.chunk_layout.${k}`, 'unknown chunk_layout key');
    schema.readChunkShape = chunkShapeOf(cl.read_chunk, 'schema.chunk_layout.read_chunk') ?? chunkShapeOf(cl.chunk, 'schema.chunk_layout.chunk');
    schema.writeChunkShape = chunkShapeOf(cl.write_chunk, 'schema.chunk_layout.write_chunk') ?? chunkShapeOf(cl.chunk, 'schema.chunk_layout.chunk');
  }
  if (s.codec !== undefined) schema.codec = s.codec as Record<string, unknown>;
  if (s.fill_value !== undefined) {
    const f = s.fill_value;
    if (typeof f === 'number' || typeof f === 'boolean') schema.fillValue = f as Scalar;
    else if (f === 'NaN' || f === 'Infinity' || f === '-Infinity') schema.fillValue = Number(f === 'NaN' ? NaN : f === 'Infinity' ? Infinity : -Infinity);
    else throw new SpecError('schema.fill_value', `unsupported fill value ${describeJson(f)}`);
  }
  if (s.dimension_units !== undefined) schema.dimensionUnits = s.dimension_units as unknown[];
  return schema;
}

/** Parses and validates a spec; `driverKeys` lists each driver's extra top-level keys. */
export function parseSpec(input: Spec | string, driverKeys: Record<string, readonly string[]>): ParsedSpec {
  const spec: Spec = typeof input === 'string' ? parseUrl(input) : { ...input };
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new SpecError('spec', 'must be a JSON object or URL string');
  const tooBig = jsonBoundsProblem(spec);
  if (tooBig) throw new SpecError('spec', `rejected: ${tooBig}`);
  let driver: string | undefined;
  if (spec.driver !== undefined) {
    driver = typeof spec.driver === 'string' ? DRIVER_ALIASES[spec.driver] : undefined;
    if (!driver) throw new SpecError('driver', `unknown driver ${describeJson(spec.driver)} (known: zarr, zarr3, n5, neuroglancer_precomputed, hdf5)`);
  }
  const extra = new Set(driver ? driverKeys[driver] ?? [] : Object.values(driverKeys).flat());
  for (const k of Object.keys(spec)) {
    if (!COMMON_KEYS.has(k) && !extra.has(k)) {
      throw new SpecError(k, driver ? `unknown key for driver "${driver}"` : 'unknown spec key');
    }
  }
  if (spec.kvstore === undefined) throw new SpecError('kvstore', 'required (a kvstore spec or URL)');
  const kvstore = parseKvStore(spec.kvstore, 'kvstore');
  const path = spec.path ?? '';
  if (typeof path !== 'string') throw new SpecError('path', 'must be a string');
  const context = spec.context ?? {};
  if (typeof context !== 'object' || context === null || Array.isArray(context)) throw new SpecError('context', 'must be an object');
  const hasOpen = spec.open !== undefined;
  const hasCreate = spec.create !== undefined;
  const create = bool(spec, 'create', false);
  // TensorStore: open defaults to true unless create is given without open.
  const open = bool(spec, 'open', !(hasCreate && create && !hasOpen));
  const deleteExisting = bool(spec, 'delete_existing', false);
  if (deleteExisting && (!create || (hasOpen && open))) throw new SpecError('delete_existing', 'requires create: true and open: false');
  return {
    driver,
    kvstore,
    path,
    context: context as Record<string, unknown>,
    open: deleteExisting ? false : open,
    create,
    deleteExisting,
    assumeMetadata: bool(spec, 'assume_metadata', false),
    recheckCachedData: recheck(spec, 'recheck_cached_data', true),
    recheckCachedMetadata: recheck(spec, 'recheck_cached_metadata', 'open'),
    fillMissingDataReads: bool(spec, 'fill_missing_data_reads', true),
    storeDataEqualToFillValue: bool(spec, 'store_data_equal_to_fill_value', false),
    schema: parseSchema(spec),
    transform: spec.transform,
    raw: spec,
  };
}
