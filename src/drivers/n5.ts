import { type DataType, dtypeSize, toElement } from '../array/dtype.js';
import type { NdArray } from '../array/ndarray.js';
import { CodecChain } from '../codecs/chain.js';
import type { ChainRunner, CodecJSON } from '../codecs/codec.js';
import {
  MetadataError,
  SpecError,
  UnsupportedError,
  ConditionFailedError,
} from '../errors.js';
import { type KvStore, rmwPause } from '../kvstore/kvstore.js';
import {
  ChainsByExtent, checkChunkBytes, checkGridSchema, chunkExtent, CodecChainDriver, cropToExtent, encodeJson, keyUrl, openOrCreate, parseJsonBytes,
} from './common.js';
import type { DriverModule, DriverOpenRequest, Schema } from './driver.js';
import type { ChunkDriver, ChunkGrid } from '../io/chunk-driver.js';
import { describeJson } from '../util/json.js';

/**
 * N5 driver (https://github.com/saalfeldlab/n5, TensorStore's `n5` driver).
 *
 * - Metadata: `attributes.json` with `dimensions`, `blockSize`, `dataType`, `compression`; every
 *   other key is a user attribute, preserved and exposed as {@link N5Driver.attributes}.
 * - Dimensions are exposed in attributes.json order (dimensions[0] is the fastest-varying axis on
 *   disk), as TensorStore does. Block data is big-endian with dimension 0 fastest, so a decoded
 *   block is returned as a Fortran-strided NdArray over the block: no transposing copy.
 * - Block key: grid indices joined by '/', attributes.json order (`0/4/1`).
 * - Edge blocks: written cropped (as the spec says); read cropped or padded (zarr-python pads).
 * - Compressions map to canonical codecs: raw (none), gzip -> `gzip` (`useZlib` -> `zlib`),
 *   bzip2 -> `bz2`, xz -> `xz`, lz4 -> `lz4`, blosc -> `blosc`, zstd -> `zstd`.
 */

export const ATTRIBUTES_KEY = 'attributes.json';

/**
 * The N5 format version volstore writes into a container's root attributes.json (`"n5"`), as
 * n5-java 3.x does (its N5Reader.VERSION); zarr-python's N5Store requires the key at the root.
 */
export const N5_VERSION = '4.0.0';

export const N5_DATA_TYPES: readonly DataType[] = [
  'uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'int64', 'float32', 'float64',
];

/** The array keys of attributes.json. */
const ARRAY_KEYS = ['dimensions', 'blockSize', 'dataType', 'compression'] as const;
/** Keys of attributes.json that are not user attributes: the array keys and the format version. */
const RESERVED_KEYS: readonly string[] = [...ARRAY_KEYS, 'n5'];

export interface N5Compression {
  type: string;
  [k: string]: unknown;
}

export interface N5Metadata {
  dimensions: number[];
  blockSize: number[];
  dataType: DataType;
  compression: N5Compression;
}

/** TensorStore's default compression for new N5 arrays. */
export const DEFAULT_N5_COMPRESSION: N5Compression = { type: 'blosc', cname: 'lz4', clevel: 5, shuffle: 1 };

const BLOSC_SHUFFLE = ['noshuffle', 'shuffle', 'bitshuffle'] as const;

/**
 * Translates an N5 `compression` object to the canonical codec JSON (null for raw).
 * Throws MetadataError for malformed parameters, UnsupportedError for unknown types.
 */
export function n5CompressionToCodec(c: unknown, dtype: DataType, field = `${ATTRIBUTES_KEY} compression`): CodecJSON | null {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new MetadataError(field, 'must be an object with a "type"');
  const comp = c as Record<string, unknown>;
  const int = (k: string, dflt: number, min: number, max: number): number => {
    const v = comp[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new MetadataError(field, `"${k}" must be an integer in [${min}, ${max}], got ${describeJson(v)}`);
    }
    return v;
  };
  switch (comp.type) {
    case 'raw':
      return null;
    case 'gzip': {
      let level = int('level', -1, -1, 9);
      if (level === -1) level = 6; // zlib's default, what -1 means to Java's Deflater
      const useZlib = comp.useZlib ?? false;
      if (typeof useZlib !== 'boolean') throw new MetadataError(field, '"useZlib" must be a boolean');
      return { name: useZlib ? 'zlib' : 'gzip', configuration: { level } };
    }
    case 'bzip2':
      return { name: 'bz2', configuration: { level: int('blockSize', 9, 1, 9) } };
    case 'xz':
      return { name: 'xz', configuration: { preset: int('preset', 6, 0, 9) } };
    case 'lz4':
      // Note: n5-java frames lz4 as LZ4BlockOutputStream; zarr-python's N5Store uses numcodecs'
      // LZ4 framing. The `lz4` codec decides what it accepts.
      int('blockSize', 65536, 1, 2 ** 31 - 1);
      return { name: 'lz4', configuration: {} };
    case 'blosc': {
      const cname = comp.cname ?? 'lz4';
      if (typeof cname !== 'string') throw new MetadataError(field, '"cname" must be a string');
      const shuffle = int('shuffle', 1, 0, 2);
      return {
        name: 'blosc',
        configuration: {
          cname,
          clevel: int('clevel', 5, 0, 9),
          shuffle: BLOSC_SHUFFLE[shuffle],
          typesize: dtypeSize(dtype),
          blocksize: int('blocksize', 0, 0, 2 ** 31 - 1),
        },
      };
    }
    case 'zstd':
      return { name: 'zstd', configuration: { level: int('level', 3, -131072, 22) } };
    default:
      throw new UnsupportedError(`N5 compression type ${describeJson(comp.type)} is not supported (${field})`);
  }
}

/**
 * The N5 `compression` object for a canonical bytes->bytes codec (null/undefined = raw): the
 * inverse of {@link n5CompressionToCodec}, for tools that pick codecs by canonical name
 * (`volstore copy --driver n5`). Throws UnsupportedError for codecs N5 cannot name.
 */
export function codecToN5Compression(codec: CodecJSON | null | undefined): N5Compression {
  if (!codec) return { type: 'raw' };
  const c = codec.configuration ?? {};
  switch (codec.name) {
    case 'gzip':
    case 'zlib':
      return { type: 'gzip', level: (c.level as number | undefined) ?? -1, useZlib: codec.name === 'zlib' };
    case 'bz2':
      return { type: 'bzip2', blockSize: (c.level as number | undefined) ?? 9 };
    case 'xz':
      return { type: 'xz', preset: (c.preset as number | undefined) ?? 6 };
    case 'lz4':
      return { type: 'lz4', blockSize: 65536 };
    case 'zstd':
      return { type: 'zstd', level: (c.level as number | undefined) ?? 3 };
    case 'blosc': {
      const shuffle = BLOSC_SHUFFLE.indexOf((c.shuffle as (typeof BLOSC_SHUFFLE)[number] | undefined) ?? 'shuffle');
      return { type: 'blosc', cname: c.cname ?? 'lz4', clevel: c.clevel ?? 5, shuffle: shuffle < 0 ? 1 : shuffle, blocksize: c.blocksize ?? 0 };
    }
    default:
      throw new UnsupportedError(`codec "${codec.name}" has no N5 compression type`);
  }
}

function isIntArray(v: unknown, min: number): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= min);
}

/** Validates the array part of attributes.json. Throws MetadataError naming the field. */
export function parseN5Metadata(json: unknown, key = ATTRIBUTES_KEY): { metadata: N5Metadata; attributes: Record<string, unknown> } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new MetadataError(key, 'must be a JSON object');
  const j = json as Record<string, unknown>;
  if (j.dimensions === undefined) throw new MetadataError(key, 'no "dimensions": this is a group, not a dataset');
  if (!isIntArray(j.dimensions, 0)) throw new MetadataError(key, '"dimensions" must be an array of non-negative integers');
  if (!isIntArray(j.blockSize, 1)) throw new MetadataError(key, '"blockSize" must be an array of positive integers');
  if (j.blockSize.length !== j.dimensions.length) {
    throw new MetadataError(key, `"blockSize" has rank ${j.blockSize.length}, "dimensions" has rank ${j.dimensions.length}`);
  }
  const dataType = j.dataType;
  if (typeof dataType !== 'string' || !N5_DATA_TYPES.includes(dataType as DataType)) {
    throw new MetadataError(key, `unsupported "dataType" ${describeJson(dataType)}`);
  }
  checkChunkBytes(j.blockSize, dataType as DataType, key, 'blockSize');
  const compression = (j.compression ?? { type: 'raw' }) as N5Compression;
  n5CompressionToCodec(compression, dataType as DataType, `${key} compression`);
  const attributes: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(j)) if (!RESERVED_KEYS.includes(k)) attributes[k] = v;
  return {
    metadata: { dimensions: j.dimensions, blockSize: j.blockSize, dataType: dataType as DataType, compression },
    attributes,
  };
}

/** Spells out the defaults of a compression (zarr-python's N5Store needs e.g. gzip's "level"). */
function withDefaults(c: unknown): unknown {
  if (typeof c !== 'object' || c === null) return c;
  const comp = c as Record<string, unknown>;
  const defaults: Record<string, Record<string, unknown>> = {
    gzip: { level: -1, useZlib: false },
    bzip2: { blockSize: 9 },
    xz: { preset: 6 },
    lz4: { blockSize: 65536 },
    blosc: { cname: 'lz4', clevel: 5, shuffle: 1, blocksize: 0 },
    zstd: { level: 3 },
  };
  return { ...(defaults[comp.type as string] ?? {}), ...comp };
}

function defaultBlockSize(dimensions: readonly number[]): number[] {
  // About 1 Mi elements per block, capped by the extent.
  const side = Math.max(1, Math.floor(2 ** (20 / Math.max(1, dimensions.length))));
  return dimensions.map((d) => Math.max(1, Math.min(side, d)));
}

function sameJSON(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}

/** Checks stored metadata against the spec's `metadata` (the schema is checked on the grid); throws MetadataError. */
function checkSpecMetadata(m: N5Metadata, specMeta: Record<string, unknown>): void {
  for (const k of ARRAY_KEYS) {
    const want = specMeta[k];
    if (want === undefined) continue;
    const have = m[k];
    const equal = k === 'compression'
      ? sameJSON(n5CompressionToCodec(want, m.dataType, 'metadata.compression'), n5CompressionToCodec(have, m.dataType))
      : sameJSON(want, have);
    if (!equal) {
      throw new MetadataError(ATTRIBUTES_KEY, `"${k}" is ${describeJson(have)}, the spec requires ${describeJson(want)}`);
    }
  }
}

/** Builds attributes.json for a new array from spec `metadata` and `schema`. */
function createMetadata(specMeta: Record<string, unknown>, schema: Schema): Record<string, unknown> {
  const dimensions = specMeta.dimensions ?? schema.domain?.shape;
  if (!isIntArray(dimensions, 0)) throw new SpecError('metadata.dimensions', 'required to create an N5 array (or schema.domain.shape)');
  if (schema.rank !== undefined && schema.rank !== dimensions.length) throw new SpecError('rank', `rank ${schema.rank} != ${dimensions.length}`);
  if (schema.domain?.inclusiveMin?.some((x) => x !== 0)) throw new SpecError('schema.domain', 'N5 domains start at 0');
  const dataType = specMeta.dataType ?? schema.dtype;
  if (dataType === undefined) throw new SpecError('metadata.dataType', 'required to create an N5 array (or dtype)');
  if (schema.dtype !== undefined && dataType !== schema.dtype) throw new SpecError('dtype', `${schema.dtype} != metadata.dataType ${dataType}`);
  if (schema.fillValue !== undefined && Number(schema.fillValue) !== 0) {
    throw new SpecError('schema.fill_value', 'N5 arrays have fill value 0');
  }
  const blockSize = specMeta.blockSize ?? schema.readChunkShape ?? schema.writeChunkShape ?? defaultBlockSize(dimensions);
  const out: Record<string, unknown> = {
    ...specMeta,
    dimensions,
    blockSize,
    dataType,
    compression: withDefaults(specMeta.compression ?? DEFAULT_N5_COMPRESSION),
  };
  if (schema.domain?.labels && out.axes === undefined) out.axes = schema.domain.labels;
  try {
    parseN5Metadata(out);
  } catch (e) {
    if (e instanceof MetadataError) throw new SpecError('metadata', e.message);
    throw e;
  }
  return out;
}

/**
 * The N5 implementation of {@link ChunkDriver}; `attributes` are the user attributes. Blocks go
 * through a CodecChain of the `n5_block` codec (header + compressed big-endian Fortran-order
 * elements, `src/codecs/n5-block.ts`), so they decode and encode in the codec worker pool like
 * every format's chunks: one chain decodes every block (whatever extent its header says),
 * writing uses one per stored extent (edge blocks are written cropped).
 */
export class N5Driver extends CodecChainDriver implements ChunkDriver {
  readonly driverName = 'n5';
  readonly grid: ChunkGrid;
  readonly codecs: readonly CodecJSON[];
  private readonly encodeChains: ChainsByExtent;

  constructor(
    readonly store: KvStore,
    readonly metadata: N5Metadata,
    readonly attributes: Readonly<Record<string, unknown>>,
    chain: CodecChain,
    readonly storeFillChunks: boolean,
    runner?: ChainRunner,
  ) {
    super(chain, runner);
    const axes = attributes.axes;
    const rank = metadata.dimensions.length;
    this.grid = {
      dtype: metadata.dataType,
      shape: metadata.dimensions,
      origin: new Array<number>(rank).fill(0),
      chunkShape: metadata.blockSize,
      writeChunkShape: metadata.blockSize,
      fillValue: 0,
      dimensionNames: Array.isArray(axes) && axes.length === rank
        ? axes.map((a) => (typeof a === 'string' ? a : null))
        : new Array<null>(rank).fill(null),
    };
    const compression = n5CompressionToCodec(metadata.compression, metadata.dataType);
    this.codecs = [
      { name: 'bytes', configuration: { endian: 'big' } },
      ...(compression ? [compression] : []),
    ];
    this.encodeChains = new ChainsByExtent(chain.toJSON(), chain.spec);
  }

  keyOf(chunk: readonly number[]): string {
    return chunk.join('/');
  }

  /** The in-bounds extent of a block (what the spec says a block header holds). */
  blockExtent(chunk: readonly number[]): number[] {
    return chunkExtent(this.grid, chunk);
  }

  protected override chainFor(chunk: readonly number[], encode: boolean): CodecChain | Promise<CodecChain> {
    if (!encode) return this.chain;
    const extent = this.blockExtent(chunk);
    return extent.every((e, d) => e === this.grid.chunkShape[d]) ? this.chain : this.encodeChains.get(extent);
  }

  protected override toStored(array: NdArray, chunk: readonly number[]): NdArray {
    return cropToExtent(array, this.blockExtent(chunk));
  }

  spec(): Record<string, unknown> {
    return { driver: 'n5', kvstore: this.store.spec(), metadata: { ...this.metadata } };
  }
}

/** The block chain of an N5 dataset: `n5_block` with its compression, over full blocks. */
async function blockChain(m: N5Metadata): Promise<CodecChain> {
  const compression = n5CompressionToCodec(m.compression, m.dataType);
  return CodecChain.create(
    [{ name: 'n5_block', configuration: { compression } }],
    { dtype: m.dataType, shape: m.blockSize, fillValue: toElement(m.dataType, 0) },
    `${ATTRIBUTES_KEY} compression`,
  );
}

interface OpenedN5 {
  metadata: N5Metadata;
  attributes: Record<string, unknown>;
  /** The attributes.json to store when creating. */
  json: Record<string, unknown>;
}

async function openN5(request: DriverOpenRequest): Promise<N5Driver> {
  const { store, mode, schema, signal } = request;
  const specMetaRaw = request.spec.metadata ?? {};
  if (typeof specMetaRaw !== 'object' || specMetaRaw === null || Array.isArray(specMetaRaw)) {
    throw new SpecError('metadata', 'must be an object (attributes.json fields)');
  }
  const specMeta = specMetaRaw as Record<string, unknown>;
  // A dataset at the container's root holds the format version itself (zarr-python's N5Store requires it there).
  const atRoot = request.container !== undefined && request.container.path.replace(/\/+$/, '') === '';
  let created = false;
  const opened = await openOrCreate<OpenedN5>({
    store,
    metadataKey: ATTRIBUTES_KEY,
    mode,
    signal,
    cache: request.metadataCache,
    // attributes.json without "dimensions" is a group's: creating the dataset keeps its attributes.
    parse: (json) => {
      if (json.dimensions === undefined) return undefined;
      const { metadata, attributes } = parseN5Metadata(json);
      checkSpecMetadata(metadata, specMeta);
      return { metadata, attributes, json };
    },
    build: (existing) => {
      created = true;
      const json = { ...(existing ?? {}), ...createMetadata(specMeta, schema) };
      if (atRoot && json.n5 === undefined) json.n5 = N5_VERSION;
      return { ...parseN5Metadata(json), json };
    },
    serialize: (m) => m.json,
    notFound: () => 'N5 dataset not found',
    alreadyExists: () => 'N5 dataset already exists',
  });
  const d = new N5Driver(store, opened.metadata, opened.attributes, await blockChain(opened.metadata), request.storeFillChunks, request.context?.codecPool);
  checkGridSchema(schema, ATTRIBUTES_KEY, d.grid);
  if (created && !mode.assumeMetadata && request.container && !atRoot) await ensureContainerVersion(await request.container.store(), signal);
  return d;
}

/**
 * Makes the container root's attributes.json carry the N5 version (`"n5"`), as n5-java's writer
 * does when it opens a container and zarr-python's N5Store expects: creates `{"n5": ...}` when
 * missing, adds the key (keeping every attribute) when absent, leaves an existing version alone.
 */
async function ensureContainerVersion(root: KvStore, signal: AbortSignal | undefined): Promise<void> {
  for (let attempt = 0; attempt < 16; attempt++) {
    const r = await root.read(ATTRIBUTES_KEY, { signal });
    let json: Record<string, unknown> = {};
    if (r.state === 'value') {
      const parsed = parseJsonBytes(r.value, keyUrl(root, ATTRIBUTES_KEY));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new MetadataError(keyUrl(root, ATTRIBUTES_KEY), 'the N5 container root attributes.json must be a JSON object');
      }
      json = parsed as Record<string, unknown>;
      if (json.n5 !== undefined) return;
    }
    const w = await root.write(ATTRIBUTES_KEY, encodeJson({ n5: N5_VERSION, ...json }), { ifEqual: r.generation, signal });
    if (w.ok) return;
    await rmwPause(attempt, signal);
  }
  throw new ConditionFailedError(keyUrl(root, ATTRIBUTES_KEY), 'the N5 container root attributes.json kept changing');
}

export const driver: DriverModule = {
  name: 'n5',
  specKeys: ['metadata'],
  open: openN5,
};
