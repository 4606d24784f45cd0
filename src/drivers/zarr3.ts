import { type DataType, type Scalar, isDataType } from '../array/dtype.js';
import { CodecChain } from '../codecs/chain.js';
import type { ChainRunner, ChunkSpec, CodecJSON } from '../codecs/codec.js';
import { registerShardingCodec, ShardFormat } from '../sharding/zarr3.js';
import { MetadataError, UnsupportedError } from '../errors.js';
import type { KvStore } from '../kvstore/kvstore.js';
import { ShardedStore } from '../sharding/zarr3-store.js';
import {
  CodecChainDriver,
  checkChunkBytes, checkSchema, defaultChunkShape, expectArray, expectShape, fillValueToJson, keyUrl, openOrCreate, parseFillValue,
} from './common.js';
import { isCodecRegistered } from '../codecs/codec.js';
import { registerBuiltinCodecs } from '../codecs/registry.js';
import type { DriverModule, DriverOpenRequest } from './driver.js';
import type { ChunkDriver, ChunkGrid } from '../io/chunk-driver.js';
import { describeJson } from '../util/json.js';

const KEY = 'zarr.json';

/** Parsed zarr v3 array metadata. https://zarr-specs.readthedocs.io/en/latest/v3/core/v3.0.html */
export interface Zarr3Metadata {
  shape: number[];
  dtype: DataType;
  chunkShape: number[];
  keyEncoding: 'default' | 'v2';
  separator: string;
  fillValue: Scalar;
  codecs: CodecJSON[];
  dimensionNames: (string | null)[] | undefined;
  attributes: Record<string, unknown>;
}

const ARRAY_KEYS = new Set([
  'zarr_format', 'node_type', 'shape', 'data_type', 'chunk_grid', 'chunk_key_encoding', 'fill_value',
  'codecs', 'attributes', 'dimension_names', 'storage_transformers',
]);

/** Codec names that turn an array into bytes (the one codec a chain must have). */
const ARRAY_TO_BYTES = new Set(['bytes', 'sharding_indexed', 'compressed_segmentation', 'jpeg', 'png']);
/** Codec names that map arrays to arrays (they come before the array->bytes codec). */
const ARRAY_TO_ARRAY = new Set(['transpose', 'delta', 'fixedscaleoffset', 'bitround']);

/**
 * TensorStore's defaults: a list with no array->bytes codec gets `bytes` (after the
 * array->array codecs), and `bytes` without `endian` is little-endian.
 */
function withDefaultBytes(codecs: CodecJSON[]): CodecJSON[] {
  const out = codecs.map((c) => (c.name === 'bytes' && c.configuration?.endian === undefined ? { name: 'bytes', configuration: { ...c.configuration, endian: 'little' } } : c));
  if (out.some((c) => ARRAY_TO_BYTES.has(c.name))) return out;
  const at = out.findIndex((c) => !ARRAY_TO_ARRAY.has(c.name));
  out.splice(at < 0 ? out.length : at, 0, { name: 'bytes', configuration: { endian: 'little' } });
  return out;
}

/**
 * Canonical codec JSON of a `codecs` list, with TensorStore's defaults applied. An unregistered
 * codec name is UnsupportedError naming `where` (the metadata key's URL, i.e. which array) and
 * the codec's position.
 */
function normalizeCodecs(v: unknown, key: string, field = 'codecs', where = key): CodecJSON[] {
  return withDefaultBytes(normalizeCodecList(v, key, field, where));
}

function normalizeCodecList(v: unknown, key: string, field: string, where: string): CodecJSON[] {
  registerBuiltinCodecs();
  registerShardingCodec();
  return expectArray(v, key, field).map((c, i) => {
    if (typeof c === 'string') return { name: c };
    if (typeof c !== 'object' || c === null || typeof (c as CodecJSON).name !== 'string') {
      throw new MetadataError(key, `"${field}[${i}]" must be {name, configuration}, got ${describeJson(c)}`);
    }
    const { name, configuration } = c as CodecJSON;
    // zarr-python 3 names numcodecs codecs "numcodecs.<id>"; ours share the registry.
    const canonical = name.startsWith('numcodecs.') ? name.slice('numcodecs.'.length) : name;
    if (!isCodecRegistered(canonical)) {
      throw new UnsupportedError(`metadata "${where}": unsupported codec ${describeJson(name)} at "${field}[${i}]"`);
    }
    const conf = { ...(configuration ?? {}) };
    if (canonical === 'sharding_indexed') {
      if (conf.codecs !== undefined) conf.codecs = normalizeCodecs(conf.codecs, key, `${field}[${i}].configuration.codecs`, where);
      if (conf.index_codecs !== undefined) conf.index_codecs = normalizeCodecs(conf.index_codecs, key, `${field}[${i}].configuration.index_codecs`, where);
    }
    if (canonical === 'delta' || canonical === 'fixedscaleoffset') {
      // numcodecs configs use numpy typestrs; the registry wants dtype names.
      for (const f of ['dtype', 'astype']) if (typeof conf[f] === 'string') conf[f] = numpyToDtype(conf[f] as string) ?? conf[f];
    }
    return { name: canonical, configuration: conf };
  });
}

/** '<i2' / '|u1' / 'int16' -> 'int16' (undefined if not a numeric dtype). */
export function numpyToDtype(s: string): DataType | undefined {
  if (isDataType(s)) return s;
  const m = /^[<>|=]?([biuf])(\d+)$/.exec(s);
  if (!m) return undefined;
  const [, kind, n] = m;
  const bits = Number(n) * 8;
  const d = kind === 'b' ? 'bool' : kind === 'f' ? `float${bits}` : `${kind === 'u' ? 'uint' : 'int'}${bits}`;
  return isDataType(d) ? d : undefined;
}

/**
 * Parses and validates zarr.json array metadata. Errors name `key`; an unknown codec's error
 * names `where` (pass the key's URL so that it says which array).
 */
export function parseZarr3Metadata(json: Record<string, unknown>, key = KEY, where = key): Zarr3Metadata {
  if (json.zarr_format !== 3) throw new MetadataError(key, `"zarr_format" must be 3, got ${describeJson(json.zarr_format)}`);
  if (json.node_type !== 'array') {
    throw new MetadataError(key, `"node_type" is ${describeJson(json.node_type)}, not "array"`);
  }
  for (const [k, v] of Object.entries(json)) {
    if (!ARRAY_KEYS.has(k) && !(typeof v === 'object' && v !== null && (v as { must_understand?: boolean }).must_understand === false)) {
      throw new MetadataError(key, `unknown metadata field "${k}" (zarr v3 extensions need must_understand: false)`);
    }
  }
  const shape = expectShape(json.shape, key, 'shape');
  const dt = json.data_type;
  if (dt === undefined) throw new MetadataError(key, 'missing "data_type"');
  if (!isDataType(dt)) {
    throw new UnsupportedError(`metadata "${key}": unsupported data_type ${describeJson(dt)} (volstore supports bool, int8-64, uint8-64, float16/32/64)`);
  }
  const grid = json.chunk_grid as { name?: string; configuration?: { chunk_shape?: unknown } } | undefined;
  if (!grid || grid.name !== 'regular') throw new MetadataError(key, `"chunk_grid" must be {name: "regular", ...}, got ${describeJson(grid)}`);
  const chunkShape = expectShape(grid.configuration?.chunk_shape, key, 'chunk_grid.configuration.chunk_shape', shape.length, true);
  const kenc = (json.chunk_key_encoding ?? { name: 'default' }) as { name?: string; configuration?: { separator?: string } };
  if (kenc.name !== 'default' && kenc.name !== 'v2') throw new MetadataError(key, `unsupported "chunk_key_encoding" ${describeJson(kenc)}`);
  const separator = kenc.configuration?.separator ?? (kenc.name === 'default' ? '/' : '.');
  if (separator !== '/' && separator !== '.') throw new MetadataError(key, `"chunk_key_encoding.configuration.separator" must be "/" or ".", got ${describeJson(separator)}`);
  const st = json.storage_transformers;
  if (st !== undefined && (!Array.isArray(st) || st.length > 0)) throw new UnsupportedError(`metadata "${key}": storage_transformers are not supported`);
  let dimensionNames: (string | null)[] | undefined;
  if (json.dimension_names !== undefined && json.dimension_names !== null) {
    const names = expectArray(json.dimension_names, key, 'dimension_names');
    if (names.length !== shape.length || !names.every((n) => n === null || typeof n === 'string')) {
      throw new MetadataError(key, `"dimension_names" must be ${shape.length} strings or nulls`);
    }
    dimensionNames = names as (string | null)[];
  }
  if (json.codecs === undefined) throw new MetadataError(key, 'missing "codecs"');
  return {
    shape,
    dtype: dt,
    chunkShape,
    keyEncoding: kenc.name,
    separator,
    fillValue: parseFillValue(json.fill_value, dt, key),
    codecs: normalizeCodecs(json.codecs, key, 'codecs', where),
    dimensionNames,
    attributes: (json.attributes as Record<string, unknown>) ?? {},
  };
}

/** JSON has no -0.0: zarr v3 allows a float fill value as its raw bits in hex. */
const NEG_ZERO_BITS: Partial<Record<DataType, string>> = { float16: '0x8000', float32: '0x80000000', float64: '0x8000000000000000' };

export function serializeZarr3Metadata(m: Zarr3Metadata): Record<string, unknown> {
  return {
    zarr_format: 3,
    node_type: 'array',
    shape: m.shape,
    data_type: m.dtype,
    chunk_grid: { name: 'regular', configuration: { chunk_shape: m.chunkShape } },
    chunk_key_encoding: { name: m.keyEncoding, configuration: { separator: m.separator } },
    fill_value: Object.is(m.fillValue, -0) ? NEG_ZERO_BITS[m.dtype] ?? 0 : fillValueToJson(m.fillValue, m.dtype),
    codecs: m.codecs,
    attributes: m.attributes,
    ...(m.dimensionNames ? { dimension_names: m.dimensionNames } : {}),
  };
}

/** The chunk key of a grid position under a zarr v3 chunk key encoding. */
export function zarr3ChunkKey(pos: readonly number[], encoding: 'default' | 'v2', sep: string): string {
  if (encoding === 'default') return pos.length === 0 ? 'c' : `c${sep}${pos.join(sep)}`;
  return pos.length === 0 ? '0' : pos.join(sep);
}

class Zarr3Driver extends CodecChainDriver implements ChunkDriver {
  readonly driverName = 'zarr3';
  constructor(
    readonly grid: ChunkGrid,
    readonly store: KvStore,
    private readonly base: KvStore,
    inner: CodecChain,
    private readonly key: (chunk: readonly number[]) => string,
    readonly storeFillChunks: boolean,
    readonly metadata: Zarr3Metadata,
    runner?: ChainRunner,
  ) {
    super(inner, runner);
  }

  keyOf(chunk: readonly number[]): string {
    return this.key(chunk);
  }

  override describeChunk(chunk: readonly number[]): string {
    const key = this.key(chunk);
    return this.store instanceof ShardedStore ? this.store.describeKey(key) : key;
  }

  get codecs(): readonly CodecJSON[] {
    return this.metadata.codecs;
  }

  /** Unsharded arrays with a lone little-endian `bytes` codec (see ChunkDriver.plainChunks). */
  get plainChunks(): boolean {
    return !(this.store instanceof ShardedStore) && this.chain.plain;
  }

  get attributes(): Readonly<Record<string, unknown>> {
    return this.metadata.attributes;
  }

  spec(): Record<string, unknown> {
    return { driver: 'zarr3', kvstore: this.base.spec(), metadata: serializeZarr3Metadata(this.metadata) };
  }
}

/**
 * Builds the planner's view of a zarr v3 array: with sharding, the read chunk is the innermost
 * chunk and the store is a (possibly nested) ShardedStore adapter over the base store.
 */
export async function zarr3ChunkDriver(base: KvStore, m: Zarr3Metadata, storeFillChunks: boolean, runner?: ChainRunner): Promise<ChunkDriver> {
  registerShardingCodec();
  let spec: ChunkSpec = { dtype: m.dtype, shape: m.chunkShape, fillValue: m.fillValue };
  let codecs = m.codecs;
  let store: KvStore = base;
  let shardKeyOf = (pos: readonly number[]): string => zarr3ChunkKey(pos, m.keyEncoding, m.separator);
  let depth = 0;
  for (;;) {
    const abIndex = codecs.findIndex((c) => c.name === 'sharding_indexed');
    if (abIndex < 0) break;
    if (abIndex !== 0 || codecs.length !== 1) {
      throw new UnsupportedError(`metadata "${KEY}": sharding_indexed must be the only codec at its level (codecs before or after it are not supported)`);
    }
    const format = await ShardFormat.create(codecs[0]!.configuration ?? {}, spec, `codecs${'[0].configuration.codecs'.repeat(depth)}[0].configuration`);
    store = new ShardedStore(store, format, shardKeyOf);
    shardKeyOf = ShardedStore.keyOf;
    spec = { ...spec, shape: format.chunkShape };
    codecs = format.innerCodecs as CodecJSON[];
    depth++;
  }
  const field = depth === 0 ? 'chunk_grid.configuration.chunk_shape' : `codecs${'[0].configuration.codecs'.repeat(depth - 1)}[0].configuration.chunk_shape`;
  checkChunkBytes(spec.shape, m.dtype, KEY, field);
  const inner = await CodecChain.create(codecs, spec);
  const grid: ChunkGrid = {
    dtype: m.dtype,
    shape: m.shape,
    origin: m.shape.map(() => 0),
    chunkShape: spec.shape,
    writeChunkShape: m.chunkShape,
    fillValue: m.fillValue,
    dimensionNames: m.dimensionNames ?? m.shape.map(() => null),
  };
  return new Zarr3Driver(grid, store, base, inner, depth > 0 ? ShardedStore.keyOf : shardKeyOf, storeFillChunks, m, runner);
}

/** New metadata from the spec's `metadata` and `schema`. */
function buildMetadata(req: DriverOpenRequest): Zarr3Metadata {
  const given = (req.spec.metadata ?? {}) as Record<string, unknown>;
  const key = 'metadata';
  const s = req.schema;
  const dt = given.data_type ?? s.dtype;
  if (dt === undefined) throw new MetadataError(key, 'creating a zarr3 array needs "metadata.data_type" or "dtype"');
  const shape = given.shape ?? s.domain?.shape;
  if (shape === undefined) throw new MetadataError(key, 'creating a zarr3 array needs "metadata.shape" or "schema.domain"');
  const rank = (shape as unknown[]).length;
  const writeChunk = s.writeChunkShape;
  const readChunk = s.readChunkShape;
  let codecs = given.codecs as unknown[] | undefined;
  let chunkShape = (given.chunk_grid as { configuration?: { chunk_shape?: number[] } } | undefined)?.configuration?.chunk_shape;
  if (!chunkShape) chunkShape = writeChunk ?? readChunk ?? defaultChunkShape(shape as number[]);
  if (!codecs) {
    const inner = (s.codec?.codecs as unknown[] | undefined) ?? [{ name: 'bytes', configuration: { endian: 'little' } }];
    if (writeChunk && readChunk && writeChunk.some((w, i) => w !== readChunk[i])) {
      codecs = [{ name: 'sharding_indexed', configuration: { chunk_shape: readChunk, codecs: inner, index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }], index_location: 'end' } }];
    } else {
      codecs = inner;
    }
  }
  const json: Record<string, unknown> = {
    zarr_format: 3,
    node_type: 'array',
    shape,
    data_type: dt,
    chunk_grid: { name: 'regular', configuration: { chunk_shape: chunkShape } },
    chunk_key_encoding: given.chunk_key_encoding ?? { name: 'default' },
    fill_value: given.fill_value ?? (s.fillValue !== undefined ? fillValueToJson(s.fillValue, dt as DataType) : null),
    codecs,
    attributes: given.attributes ?? {},
    dimension_names: given.dimension_names ?? (s.domain?.labels ? s.domain.labels.map((l) => l || null) : undefined),
  };
  if (json.dimension_names === undefined) delete json.dimension_names;
  for (const k of Object.keys(given)) {
    if (!ARRAY_KEYS.has(k) || k === 'zarr_format' || k === 'node_type') {
      if (k !== 'zarr_format' && k !== 'node_type') throw new MetadataError(`metadata.${k}`, 'unknown zarr3 metadata field');
    }
  }
  if (rank !== (chunkShape as unknown[]).length) throw new MetadataError('metadata.chunk_grid', `chunk shape rank ${(chunkShape as unknown[]).length} differs from shape rank ${rank}`);
  return parseZarr3Metadata(json, key);
}

export const driver: DriverModule = {
  name: 'zarr3',
  specKeys: ['metadata'],
  async open(req: DriverOpenRequest): Promise<ChunkDriver> {
    const m = await openOrCreate({
      store: req.store,
      metadataKey: KEY,
      mode: req.mode,
      signal: req.signal,
      cache: req.metadataCache,
      parse: (json) => {
        const m = parseZarr3Metadata(json, KEY, keyUrl(req.store, KEY));
        checkAgainstSpec(m, req);
        return m;
      },
      build: () => buildMetadata(req),
      serialize: serializeZarr3Metadata,
    });
    const d = await zarr3ChunkDriver(req.store, m, req.storeFillChunks, req.context?.codecPool);
    checkSchema(req.schema, KEY, { dtype: m.dtype, shape: m.shape, labels: m.dimensionNames, chunkShape: d.grid.chunkShape, writeChunkShape: d.grid.writeChunkShape });
    return d;
  },
};

/** Existing metadata must agree with every field the spec's `metadata` gives. */
function checkAgainstSpec(m: Zarr3Metadata, req: DriverOpenRequest): void {
  const given = req.spec.metadata as Record<string, unknown> | undefined;
  if (!given) return;
  const actual = serializeZarr3Metadata(m);
  for (const [k, v] of Object.entries(given)) {
    if (k === 'codecs' || k === 'attributes') continue;
    if (JSON.stringify(actual[k]) !== JSON.stringify(k === 'data_type' ? v : v)) {
      throw new MetadataError(KEY, `"${k}" is ${describeJson(actual[k])}, but the spec's metadata requires ${describeJson(v)}`);
    }
  }
}
