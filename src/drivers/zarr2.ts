import { type DataType, type Scalar, dtypeSize } from '../array/dtype.js';
import { CodecChain } from '../codecs/chain.js';
import type { ChainRunner, CodecJSON } from '../codecs/codec.js';
import { MetadataError, UnsupportedError } from '../errors.js';
import type { KvStore } from '../kvstore/kvstore.js';
import { CodecChainDriver, checkChunkBytes, checkSchema, defaultChunkShape, expectShape, fillValueToJson, openOrCreate, parseFillValue, readJson } from './common.js';
import type { DriverModule, DriverOpenRequest } from './driver.js';
import type { ChunkDriver, ChunkGrid } from '../io/chunk-driver.js';
import { numpyToDtype } from './zarr3.js';
import { describeJson } from '../util/json.js';

const KEY = '.zarray';

/** Parsed zarr v2 `.zarray`. https://zarr-specs.readthedocs.io/en/latest/v2/v2.0.html */
export interface Zarr2Metadata {
  shape: number[];
  chunks: number[];
  dtype: DataType;
  /** numpy typestr as stored, e.g. "<u2". */
  typestr: string;
  order: 'C' | 'F';
  separator: '.' | '/';
  fillValue: Scalar;
  compressor: Record<string, unknown> | null;
  filters: Record<string, unknown>[] | null;
}

const ZARRAY_KEYS = new Set(['zarr_format', 'shape', 'chunks', 'dtype', 'compressor', 'fill_value', 'order', 'filters', 'dimension_separator']);

export function parseTypestr(t: unknown, key: string): { dtype: DataType; endian: 'little' | 'big' | undefined } {
  if (typeof t !== 'string') {
    throw new UnsupportedError(`metadata "${key}": unsupported dtype ${describeJson(t)} (structured dtypes are not supported)`);
  }
  const dtype = numpyToDtype(t);
  if (!dtype || t.length < 2 || !'<>|'.includes(t[0]!)) {
    throw new UnsupportedError(`metadata "${key}": unsupported dtype "${t}" (volstore supports bool, int8-64, uint8-64, float16/32/64; not strings, objects, complex or datetimes)`);
  }
  const endian = t[0] === '<' ? 'little' : t[0] === '>' ? 'big' : undefined;
  if (endian === undefined && dtypeSize(dtype) > 1) throw new MetadataError(key, `dtype "${t}" needs a byte order`);
  return { dtype, endian };
}

export function parseZarr2Metadata(json: Record<string, unknown>, key = KEY): Zarr2Metadata {
  if (json.zarr_format !== 2) throw new MetadataError(key, `"zarr_format" must be 2, got ${describeJson(json.zarr_format)}`);
  for (const k of Object.keys(json)) if (!ZARRAY_KEYS.has(k)) throw new MetadataError(key, `unknown field "${k}"`);
  for (const k of ['shape', 'chunks', 'dtype']) if (json[k] === undefined) throw new MetadataError(key, `missing "${k}"`);
  const shape = expectShape(json.shape, key, 'shape');
  const chunks = expectShape(json.chunks, key, 'chunks', shape.length, true);
  const { dtype } = parseTypestr(json.dtype, key);
  checkChunkBytes(chunks, dtype, key, 'chunks');
  const order = json.order ?? 'C';
  if (order !== 'C' && order !== 'F') throw new MetadataError(key, `"order" must be "C" or "F", got ${describeJson(order)}`);
  const sep = json.dimension_separator ?? '.';
  if (sep !== '.' && sep !== '/') throw new MetadataError(key, `"dimension_separator" must be "." or "/", got ${describeJson(sep)}`);
  const compressor = json.compressor ?? null;
  if (compressor !== null && (typeof compressor !== 'object' || typeof (compressor as { id?: unknown }).id !== 'string')) {
    throw new MetadataError(key, `"compressor" must be null or {id, ...}, got ${describeJson(compressor)}`);
  }
  const filters = json.filters ?? null;
  if (filters !== null && (!Array.isArray(filters) || filters.some((f) => typeof f?.id !== 'string'))) {
    throw new MetadataError(key, `"filters" must be null or a list of {id, ...}`);
  }
  return {
    shape,
    chunks,
    dtype,
    typestr: json.dtype as string,
    order,
    separator: sep,
    fillValue: parseFillValue(json.fill_value, dtype, key),
    compressor: compressor as Record<string, unknown> | null,
    filters: filters as Record<string, unknown>[] | null,
  };
}

export function serializeZarr2Metadata(m: Zarr2Metadata): Record<string, unknown> {
  return {
    zarr_format: 2,
    shape: m.shape,
    chunks: m.chunks,
    dtype: m.typestr,
    compressor: m.compressor,
    fill_value: fillValueToJson(m.fillValue, m.dtype),
    order: m.order,
    filters: m.filters,
    dimension_separator: m.separator,
  };
}

const BLOSC_SHUFFLE: Record<number, string> = { 0: 'noshuffle', 1: 'shuffle', 2: 'bitshuffle' };

/** A numcodecs compressor/filter config to the registry's canonical codec JSON. */
export function numcodecsToCanonical(c: Record<string, unknown>, itemsize: number, key: string, field: string): CodecJSON {
  const { id, ...rest } = c as { id: string } & Record<string, unknown>;
  switch (id) {
    case 'blosc': {
      let shuffle = (rest.shuffle as number | undefined) ?? 1;
      if (shuffle === -1) shuffle = itemsize === 1 ? 2 : 1; // AUTOSHUFFLE
      const name = BLOSC_SHUFFLE[shuffle];
      if (!name) throw new MetadataError(key, `"${field}.shuffle" ${shuffle} is not -1, 0, 1 or 2`);
      return { name: 'blosc', configuration: { cname: rest.cname ?? 'lz4', clevel: rest.clevel ?? 5, shuffle: name, typesize: itemsize, blocksize: rest.blocksize ?? 0 } };
    }
    case 'zlib':
    case 'gzip':
      return { name: id, configuration: { level: rest.level ?? 1 } };
    case 'bz2':
      return { name: 'bz2', configuration: { level: rest.level ?? 1 } };
    case 'lz4':
      return { name: 'lz4', configuration: { acceleration: rest.acceleration ?? 1 } };
    case 'zstd':
      return { name: 'zstd', configuration: { level: rest.level ?? 1, checksum: rest.checksum ?? false } };
    case 'shuffle':
      return { name: 'shuffle', configuration: { elementsize: rest.elementsize ?? itemsize } };
    case 'delta':
    case 'fixedscaleoffset': {
      const conf: Record<string, unknown> = { ...rest };
      for (const f of ['dtype', 'astype']) {
        if (typeof conf[f] === 'string') {
          const d = numpyToDtype(conf[f] as string);
          if (!d) throw new UnsupportedError(`metadata "${key}": ${field} ${id} has unsupported ${f} "${conf[f]}"`);
          conf[f] = d;
        }
      }
      if (conf.astype === undefined) conf.astype = conf.dtype;
      return { name: id, configuration: conf };
    }
    case 'bitround':
      return { name: 'bitround', configuration: { keepbits: rest.keepbits } };
    case 'lzma':
      return lzmaToXz(rest, key, field);
    default:
      throw new UnsupportedError(`metadata "${key}": unsupported ${field} "${id}" (decoding it would give wrong data)`);
  }
}

/** Python's `lzma` constants that numcodecs' LZMA config carries. */
const LZMA_FORMAT_XZ = 1;
const LZMA_FILTER_LZMA2 = 0x21;
const LZMA_FORMATS: Record<number, string> = { 0: 'FORMAT_AUTO', 1: 'FORMAT_XZ', 2: 'FORMAT_ALONE', 3: 'FORMAT_RAW' };

/**
 * numcodecs' `LZMA` compressor ({id: 'lzma', format, check, preset, filters}) as the canonical
 * `xz` codec: chunks in the .xz container (format 1, numcodecs' default) with any integrity check
 * and a filter chain of LZMA2 alone (the default when `filters` is null) are read by the xz
 * decoder; legacy .lzma (FORMAT_ALONE), raw streams and other filters (delta, BCJ) are
 * UnsupportedError naming the field. Writing xz is not supported (UnsupportedError on write).
 */
function lzmaToXz(c: Record<string, unknown>, key: string, field: string): CodecJSON {
  const format = c.format ?? LZMA_FORMAT_XZ;
  if (format !== LZMA_FORMAT_XZ) {
    throw new UnsupportedError(
      `metadata "${key}": ${field} lzma with format ${describeJson(format)} (${LZMA_FORMATS[format as number] ?? 'unknown'}) is not supported; only format 1 (FORMAT_XZ, the default) is`,
    );
  }
  const filters = c.filters ?? null;
  if (filters !== null) {
    if (!Array.isArray(filters) || filters.length === 0 || filters.some((f) => (f as { id?: unknown } | null)?.id !== LZMA_FILTER_LZMA2)) {
      throw new UnsupportedError(
        `metadata "${key}": ${field} lzma filters ${describeJson(filters)} are not supported; only an LZMA2 filter (id 33) alone is`,
      );
    }
  }
  const preset = typeof c.preset === 'number' && Number.isInteger(c.preset) ? c.preset & 0x1f : 6;
  return { name: 'xz', configuration: { preset: Math.min(preset, 9) } };
}

/** The canonical codec chain of a v2 array: [transpose (F)], filters, bytes, compressor. */
export function zarr2Codecs(m: Zarr2Metadata, key = KEY): CodecJSON[] {
  const { endian } = parseTypestr(m.typestr, key);
  const itemsize = dtypeSize(m.dtype);
  const codecs: CodecJSON[] = [];
  if (m.order === 'F' && m.shape.length > 1) codecs.push({ name: 'transpose', configuration: { order: [...m.shape.keys()].reverse() } });
  const aa: CodecJSON[] = [];
  const bb: CodecJSON[] = [];
  let bytesEndian = endian;
  for (const [i, f] of (m.filters ?? []).entries()) {
    const c = numcodecsToCanonical(f, itemsize, key, `filters[${i}]`);
    if (c.name === 'shuffle') bb.push(c);
    else {
      if (bb.length) throw new UnsupportedError(`metadata "${key}": filter "${c.name}" after a byte-level filter is not supported`);
      aa.push(c);
      const astype = (f as { astype?: unknown }).astype;
      if (typeof astype === 'string' && (astype[0] === '<' || astype[0] === '>')) bytesEndian = astype[0] === '<' ? 'little' : 'big';
    }
  }
  codecs.push(...aa, { name: 'bytes', configuration: bytesEndian ? { endian: bytesEndian } : {} }, ...bb);
  if (m.compressor) codecs.push(numcodecsToCanonical(m.compressor, itemsize, key, 'compressor'));
  return codecs;
}

class Zarr2Driver extends CodecChainDriver implements ChunkDriver {
  readonly driverName = 'zarr';
  constructor(
    readonly grid: ChunkGrid,
    readonly store: KvStore,
    chain: CodecChain,
    readonly storeFillChunks: boolean,
    readonly metadata: Zarr2Metadata,
    readonly codecs: readonly CodecJSON[],
    readonly attributes: Readonly<Record<string, unknown>>,
    runner?: ChainRunner,
  ) {
    super(chain, runner);
  }

  keyOf(chunk: readonly number[]): string {
    return chunk.length === 0 ? '0' : chunk.join(this.metadata.separator);
  }

  /** No compressor, no filters, order C, little-endian (see ChunkDriver.plainChunks). */
  get plainChunks(): boolean {
    return this.chain.plain;
  }

  spec(): Record<string, unknown> {
    return { driver: 'zarr', kvstore: this.store.spec(), metadata: serializeZarr2Metadata(this.metadata) };
  }
}

const DEFAULT_COMPRESSOR = { id: 'blosc', cname: 'lz4', clevel: 5, shuffle: 1, blocksize: 0 };

function dtypeToTypestr(d: DataType): string {
  if (d === 'bool') return '|b1';
  const size = dtypeSize(d);
  const kind = d.startsWith('float') ? 'f' : d.startsWith('uint') ? 'u' : 'i';
  return `${size === 1 ? '|' : '<'}${kind}${size}`;
}

function buildMetadata(req: DriverOpenRequest): Zarr2Metadata {
  const given = (req.spec.metadata ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(given)) if (!ZARRAY_KEYS.has(k)) throw new MetadataError(`metadata.${k}`, 'unknown zarr v2 metadata field');
  const s = req.schema;
  const typestr = (given.dtype as string | undefined) ?? (s.dtype ? dtypeToTypestr(s.dtype) : undefined);
  if (!typestr) throw new MetadataError('metadata', 'creating a zarr array needs "metadata.dtype" or "dtype"');
  const shape = (given.shape as number[] | undefined) ?? s.domain?.shape;
  if (!shape) throw new MetadataError('metadata', 'creating a zarr array needs "metadata.shape" or "schema.domain"');
  const { dtype } = parseTypestr(typestr, 'metadata');
  const json = {
    zarr_format: 2,
    shape,
    chunks: given.chunks ?? s.readChunkShape ?? s.writeChunkShape ?? defaultChunkShape(shape),
    dtype: typestr,
    compressor: given.compressor !== undefined ? given.compressor : DEFAULT_COMPRESSOR,
    fill_value: given.fill_value !== undefined ? given.fill_value : s.fillValue !== undefined ? fillValueToJson(s.fillValue, dtype) : null,
    order: given.order ?? 'C',
    filters: given.filters ?? null,
    dimension_separator: given.dimension_separator ?? '.',
  };
  return parseZarr2Metadata(json, 'metadata');
}

export async function zarr2ChunkDriver(
  store: KvStore,
  m: Zarr2Metadata,
  storeFillChunks: boolean,
  labels?: readonly (string | null)[],
  attributes: Record<string, unknown> = {},
  runner?: ChainRunner,
): Promise<ChunkDriver> {
  const codecs = zarr2Codecs(m);
  const chain = await CodecChain.create(codecs, { dtype: m.dtype, shape: m.chunks, fillValue: m.fillValue }, KEY);
  const grid: ChunkGrid = {
    dtype: m.dtype,
    shape: m.shape,
    origin: m.shape.map(() => 0),
    chunkShape: m.chunks,
    writeChunkShape: m.chunks,
    fillValue: m.fillValue,
    dimensionNames: labels ?? m.shape.map(() => null),
  };
  return new Zarr2Driver(grid, store, chain, storeFillChunks, m, codecs, attributes, runner);
}

export const driver: DriverModule = {
  name: 'zarr',
  specKeys: ['metadata', 'key_encoding', 'metadata_key', 'field'],
  async open(req: DriverOpenRequest): Promise<ChunkDriver> {
    if (req.spec.field !== undefined) {
      throw new UnsupportedError(`spec field "field": selecting the field ${JSON.stringify(req.spec.field)} of a structured dtype is not supported (volstore reads numeric dtypes only)`);
    }
    // .zattrs is read alongside .zarray (one round trip, not two).
    const attrsP = req.mode.open ? readJson(req.store, '.zattrs', req.signal, req.metadataCache).catch(() => undefined) : Promise.resolve(undefined);
    const m = await openOrCreate({
      store: req.store,
      metadataKey: KEY,
      mode: req.mode,
      signal: req.signal,
      cache: req.metadataCache,
      parse: (json) => parseZarr2Metadata(json),
      build: () => buildMetadata(req),
      serialize: serializeZarr2Metadata,
    });
    // xarray convention: dimension names in .zattrs["_ARRAY_DIMENSIONS"].
    const attrs = await attrsP;
    const dims = attrs?.json._ARRAY_DIMENSIONS;
    const labels = Array.isArray(dims) && dims.length === m.shape.length && dims.every((d) => typeof d === 'string') ? (dims as string[]) : undefined;
    checkSchema(req.schema, KEY, { dtype: m.dtype, shape: m.shape, chunkShape: m.chunks });
    return zarr2ChunkDriver(req.store, m, req.storeFillChunks, labels, attrs?.json ?? {}, req.context?.codecPool);
  },
};
