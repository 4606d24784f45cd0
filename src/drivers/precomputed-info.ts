import { type DataType, dtypeSize } from '../array/dtype.js';
import { MetadataError, SpecError, UnsupportedError } from '../errors.js';
import { checkChunkBytes } from './common.js';
import { parseShardingSpec, type Uint64ShardingSpec } from '../sharding/precomputed.js';
import type { Schema } from './driver.js';
import { chooseShardingParams, rectangularShardingParams, totalMortonBits } from '../sharding/precomputed.js';
import { describeJson } from '../util/json.js';

/**
 * The neuroglancer precomputed `info` file
 * (https://github.com/google/neuroglancer/blob/master/src/datasource/precomputed/volume.md):
 * parsing and validation, scale selection from TensorStore's `scale_index` / `scale_metadata` /
 * `multiscale_metadata` spec keys, and creation of a new volume or a new scale.
 */

export const INFO_KEY = 'info';
export const PRECOMPUTED_DATA_TYPES: readonly DataType[] = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'uint64', 'float32'];
export type PrecomputedEncoding = 'raw' | 'jpeg' | 'png' | 'compressed_segmentation';
const ENCODINGS: readonly PrecomputedEncoding[] = ['raw', 'jpeg', 'png', 'compressed_segmentation'];

export interface PrecomputedScale {
  key: string;
  size: [number, number, number];
  voxel_offset: [number, number, number];
  resolution: [number, number, number];
  chunk_sizes: [number, number, number][];
  encoding: PrecomputedEncoding;
  compressed_segmentation_block_size?: [number, number, number];
  jpeg_quality?: number;
  png_level?: number;
  sharding?: Uint64ShardingSpec;
  [extra: string]: unknown;
}

/** The multiscale members of `info` (everything but `scales`; other members are kept). */
export interface MultiscaleInfo {
  '@type'?: 'neuroglancer_multiscale_volume';
  type: string;
  data_type: DataType;
  num_channels: number;
  [extra: string]: unknown;
}

export interface PrecomputedInfo extends MultiscaleInfo {
  scales: PrecomputedScale[];
}

/** TensorStore's `scale_metadata` spec member (every field optional). */
export interface ScaleMetadataSpec {
  key?: string;
  size?: number[];
  voxel_offset?: number[];
  resolution?: number[];
  chunk_size?: number[];
  encoding?: PrecomputedEncoding;
  compressed_segmentation_block_size?: number[];
  jpeg_quality?: number;
  png_level?: number;
  sharding?: Uint64ShardingSpec | null;
}

/** TensorStore's `multiscale_metadata` spec member. */
export interface MultiscaleMetadataSpec {
  type?: string;
  data_type?: DataType;
  num_channels?: number;
}

const isInt = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
function vec3Int(v: unknown, min: number, field: string, where: string): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => isInt(x, min))) {
    throw new MetadataError(where, `"${field}" must be 3 integers >= ${min}, got ${describeJson(v)}`);
  }
  return v as [number, number, number];
}
function vec3Num(v: unknown, field: string, where: string): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
    throw new MetadataError(where, `"${field}" must be 3 positive numbers, got ${describeJson(v)}`);
  }
  return v as [number, number, number];
}

/** Throws UnsupportedError/MetadataError when an encoding cannot hold the dtype/channels. */
export function checkEncoding(encoding: PrecomputedEncoding, dtype: DataType, numChannels: number, where = INFO_KEY): void {
  if (encoding === 'compressed_segmentation' && dtype !== 'uint32' && dtype !== 'uint64') {
    throw new MetadataError(where, `compressed_segmentation needs uint32 or uint64, not ${dtype}`);
  }
  if (encoding === 'jpeg' && (dtype !== 'uint8' || (numChannels !== 1 && numChannels !== 3))) {
    throw new MetadataError(where, `jpeg needs uint8 with 1 or 3 channels, not ${dtype} with ${numChannels}`);
  }
  if (encoding === 'png' && ((dtype !== 'uint8' && dtype !== 'uint16') || numChannels < 1 || numChannels > 4)) {
    throw new MetadataError(where, `png needs uint8 or uint16 with 1-4 channels, not ${dtype} with ${numChannels}`);
  }
}

function parseScale(json: unknown, i: number, dtype: DataType, numChannels: number): PrecomputedScale {
  const where = `${INFO_KEY} scales[${i}]`;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new MetadataError(where, 'must be an object');
  const s = json as Record<string, unknown>;
  if (typeof s.key !== 'string' || s.key === '') throw new MetadataError(where, '"key" must be a non-empty string');
  const size = vec3Int(s.size, 0, 'size', where);
  const voxel_offset = s.voxel_offset === undefined ? ([0, 0, 0] as [number, number, number]) : (() => {
    const v = s.voxel_offset;
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x))) {
      throw new MetadataError(where, `"voxel_offset" must be 3 integers, got ${describeJson(v)}`);
    }
    return v as [number, number, number];
  })();
  const resolution = vec3Num(s.resolution, 'resolution', where);
  if (!Array.isArray(s.chunk_sizes) || s.chunk_sizes.length === 0) throw new MetadataError(where, '"chunk_sizes" must be a non-empty array');
  const chunk_sizes = s.chunk_sizes.map((c) => vec3Int(c, 1, 'chunk_sizes', where));
  if (!ENCODINGS.includes(s.encoding as PrecomputedEncoding)) {
    throw new UnsupportedError(`${where}: encoding ${describeJson(s.encoding)} is not supported (raw, jpeg, png, compressed_segmentation)`);
  }
  const encoding = s.encoding as PrecomputedEncoding;
  checkEncoding(encoding, dtype, numChannels, where);
  const out: PrecomputedScale = { ...s, key: s.key, size, voxel_offset, resolution, chunk_sizes, encoding } as PrecomputedScale;
  if (encoding === 'compressed_segmentation') {
    out.compressed_segmentation_block_size = vec3Int(s.compressed_segmentation_block_size, 1, 'compressed_segmentation_block_size', where);
  }
  if (s.jpeg_quality !== undefined && !(isInt(s.jpeg_quality, 0) && s.jpeg_quality <= 100)) throw new MetadataError(where, '"jpeg_quality" must be 0-100');
  if (s.png_level !== undefined && !(isInt(s.png_level, 0) && s.png_level <= 9)) throw new MetadataError(where, '"png_level" must be 0-9');
  if (s.sharding !== undefined && s.sharding !== null) {
    out.sharding = parseShardingSpec(s.sharding, `${where} sharding`);
    if (chunk_sizes.length !== 1) throw new MetadataError(where, 'a sharded scale must have exactly one chunk size');
  } else delete out.sharding;
  for (let d = 0; d < 3; d++) {
    if (!Number.isSafeInteger(voxel_offset[d]! + size[d]!)) {
      throw new MetadataError(where, `"voxel_offset" + "size" of dimension ${d} (${voxel_offset[d]! + size[d]!}) is not a safe integer`);
    }
  }
  checkChunkBytes([...chunk_sizes[0]!, numChannels], dtype, where, 'chunk_sizes[0] x num_channels');
  if (out.sharding) {
    const bits = totalMortonBits(scaleGridShape(out));
    if (bits > 64) throw new MetadataError(where, `the chunk grid needs ${bits}-bit chunk ids, more than the 64 sharding allows ("size" too large for "chunk_sizes")`);
  }
  return out;
}

/** Parses and validates an `info` file. Throws MetadataError naming the field. */
export function parseInfo(json: unknown): PrecomputedInfo {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new MetadataError(INFO_KEY, 'must be a JSON object');
  const j = json as Record<string, unknown>;
  if (j['@type'] !== undefined && j['@type'] !== 'neuroglancer_multiscale_volume') {
    throw new MetadataError(INFO_KEY, `"@type" is ${describeJson(j['@type'])}, not "neuroglancer_multiscale_volume"`);
  }
  if (typeof j.type !== 'string') throw new MetadataError(INFO_KEY, '"type" must be a string ("image" or "segmentation")');
  if (!PRECOMPUTED_DATA_TYPES.includes(j.data_type as DataType)) throw new MetadataError(INFO_KEY, `unsupported "data_type" ${describeJson(j.data_type)}`);
  if (!isInt(j.num_channels, 1)) throw new MetadataError(INFO_KEY, '"num_channels" must be a positive integer');
  if (!Array.isArray(j.scales)) throw new MetadataError(INFO_KEY, '"scales" must be an array');
  const dtype = j.data_type as DataType;
  const scales = j.scales.map((s, i) => parseScale(s, i, dtype, j.num_channels as number));
  return { ...j, type: j.type, data_type: dtype, num_channels: j.num_channels as number, scales };
}

/** Validates the `scale_metadata` spec member. */
export function parseScaleMetadataSpec(v: unknown): ScaleMetadataSpec {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SpecError('scale_metadata', 'must be an object');
  const s = v as Record<string, unknown>;
  const known = ['key', 'size', 'voxel_offset', 'resolution', 'chunk_size', 'encoding', 'compressed_segmentation_block_size', 'jpeg_quality', 'png_level', 'sharding'];
  for (const k of Object.keys(s)) if (!known.includes(k)) throw new SpecError(`scale_metadata.${k}`, 'unknown member');
  if (s.encoding !== undefined && !ENCODINGS.includes(s.encoding as PrecomputedEncoding)) {
    throw new SpecError('scale_metadata.encoding', `must be one of ${ENCODINGS.join(', ')}`);
  }
  try {
    if (s.sharding !== undefined && s.sharding !== null) parseShardingSpec(s.sharding, 'scale_metadata.sharding');
  } catch (e) {
    throw new SpecError('scale_metadata.sharding', (e as Error).message);
  }
  return s as ScaleMetadataSpec;
}

export function parseMultiscaleMetadataSpec(v: unknown): MultiscaleMetadataSpec {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SpecError('multiscale_metadata', 'must be an object');
  const m = v as Record<string, unknown>;
  for (const k of Object.keys(m)) if (!['type', 'data_type', 'num_channels'].includes(k)) throw new SpecError(`multiscale_metadata.${k}`, 'unknown member');
  if (m.data_type !== undefined && !PRECOMPUTED_DATA_TYPES.includes(m.data_type as DataType)) {
    throw new SpecError('multiscale_metadata.data_type', `unsupported ${describeJson(m.data_type)}`);
  }
  if (m.num_channels !== undefined && !isInt(m.num_channels, 1)) throw new SpecError('multiscale_metadata.num_channels', 'must be a positive integer');
  return m as MultiscaleMetadataSpec;
}

const eq = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const sameRes = (a: readonly number[], b: readonly number[]): boolean =>
  a.every((x, i) => Math.abs(x - b[i]!) <= 1e-6 * Math.max(1, Math.abs(x)));

/** Returns a message for the first `scale_metadata` field a scale contradicts, else undefined. */
export function scaleMismatch(scale: PrecomputedScale, m: ScaleMetadataSpec): string | undefined {
  if (m.key !== undefined && m.key !== scale.key) return `key is "${scale.key}", not "${m.key}"`;
  if (m.size !== undefined && !eq(m.size, scale.size)) return `size is ${describeJson(scale.size)}, not ${describeJson(m.size)}`;
  if (m.voxel_offset !== undefined && !eq(m.voxel_offset, scale.voxel_offset)) return `voxel_offset is ${describeJson(scale.voxel_offset)}`;
  if (m.resolution !== undefined && !sameRes(m.resolution, scale.resolution)) return `resolution is ${describeJson(scale.resolution)}`;
  if (m.chunk_size !== undefined && !scale.chunk_sizes.some((c) => eq(c, m.chunk_size))) return `chunk_sizes are ${describeJson(scale.chunk_sizes)}`;
  if (m.encoding !== undefined && m.encoding !== scale.encoding) return `encoding is ${scale.encoding}, not ${m.encoding}`;
  if (m.compressed_segmentation_block_size !== undefined && !eq(m.compressed_segmentation_block_size, scale.compressed_segmentation_block_size)) {
    return `compressed_segmentation_block_size is ${describeJson(scale.compressed_segmentation_block_size)}`;
  }
  if (m.jpeg_quality !== undefined && m.jpeg_quality !== (scale.jpeg_quality ?? 75)) return `jpeg_quality is ${scale.jpeg_quality ?? 75}`;
  if (m.sharding !== undefined && !eq(normSharding(m.sharding), normSharding(scale.sharding))) return `sharding is ${describeJson(scale.sharding ?? null)}`;
  return undefined;
}

function normSharding(s: Uint64ShardingSpec | null | undefined): unknown {
  return s ? parseShardingSpec(s) : null;
}

/**
 * The scale a spec selects (TensorStore's rules): `scale_index` if given; else the first scale
 * whose key equals `scale_metadata.key`; else, if `scale_metadata.resolution` is given, the first
 * scale with that resolution; else scale 0. Returns undefined when nothing matches (creating then
 * adds a scale).
 */
export function selectScale(info: PrecomputedInfo, scaleIndex: number | undefined, m: ScaleMetadataSpec): number | undefined {
  if (scaleIndex !== undefined) return scaleIndex < info.scales.length ? scaleIndex : undefined;
  if (m.key !== undefined) {
    const i = info.scales.findIndex((s) => s.key === m.key);
    return i < 0 ? undefined : i;
  }
  if (m.resolution !== undefined) {
    const i = info.scales.findIndex((s) => sameRes(s.resolution, m.resolution!));
    return i < 0 ? undefined : i;
  }
  return info.scales.length > 0 ? 0 : undefined;
}

/** Checks the multiscale fields and the schema against a parsed info + scale. */
export function checkInfoCompatible(info: PrecomputedInfo, scale: PrecomputedScale, mm: MultiscaleMetadataSpec, schema: Schema): void {
  if (mm.type !== undefined && mm.type !== info.type) throw new MetadataError(INFO_KEY, `type is "${info.type}", the spec requires "${mm.type}"`);
  if (mm.data_type !== undefined && mm.data_type !== info.data_type) throw new MetadataError(INFO_KEY, `data_type is ${info.data_type}, the spec requires ${mm.data_type}`);
  if (mm.num_channels !== undefined && mm.num_channels !== info.num_channels) {
    throw new MetadataError(INFO_KEY, `num_channels is ${info.num_channels}, the spec requires ${mm.num_channels}`);
  }
  if (schema.dtype !== undefined && schema.dtype !== info.data_type) throw new MetadataError(INFO_KEY, `dtype is ${info.data_type}, the spec requires ${schema.dtype}`);
  if (schema.rank !== undefined && schema.rank !== 4) throw new MetadataError(INFO_KEY, `precomputed volumes have rank 4 [x, y, z, channel], the spec requires ${schema.rank}`);
  const d = schema.domain;
  if (d?.shape && !eq(d.shape, [...scale.size, info.num_channels])) throw new MetadataError(INFO_KEY, `shape is ${describeJson([...scale.size, info.num_channels])}`);
  if (d?.inclusiveMin && !eq(d.inclusiveMin, [...scale.voxel_offset, 0])) throw new MetadataError(INFO_KEY, `origin is ${describeJson([...scale.voxel_offset, 0])}`);
  if (schema.readChunkShape && !eq(schema.readChunkShape, [...scale.chunk_sizes[0]!, info.num_channels])) {
    throw new MetadataError(INFO_KEY, `chunk shape is ${describeJson([...scale.chunk_sizes[0]!, info.num_channels])}`);
  }
  if (schema.fillValue !== undefined && Number(schema.fillValue) !== 0) throw new MetadataError(INFO_KEY, 'precomputed volumes have fill value 0');
}

function specVec(v: unknown, field: string, min: number): [number, number, number] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => isInt(x, min))) throw new SpecError(field, `must be 3 integers >= ${min}`);
  return v as [number, number, number];
}

/** The codec fields of a TensorStore `schema.codec` for this driver. */
function codecFromSchema(schema: Schema): Partial<ScaleMetadataSpec> {
  const c = schema.codec;
  if (!c) return {};
  const out: Partial<ScaleMetadataSpec> = {};
  if (c.encoding !== undefined) out.encoding = c.encoding as PrecomputedEncoding;
  if (c.jpeg_quality !== undefined) out.jpeg_quality = c.jpeg_quality as number;
  if (c.png_level !== undefined) out.png_level = c.png_level as number;
  return out;
}

/**
 * Builds the multiscale part of a new info from `multiscale_metadata` and the schema.
 * `data_type` comes from multiscale_metadata or `dtype`; `num_channels` from it or the domain.
 */
export function createMultiscale(mm: MultiscaleMetadataSpec, sm: ScaleMetadataSpec, schema: Schema): MultiscaleInfo {
  const dtype = mm.data_type ?? schema.dtype;
  if (dtype === undefined) throw new SpecError('multiscale_metadata.data_type', 'required to create a volume (or dtype)');
  if (!PRECOMPUTED_DATA_TYPES.includes(dtype)) throw new SpecError('dtype', `${dtype} is not a precomputed data type`);
  if (schema.dtype !== undefined && schema.dtype !== dtype) throw new SpecError('dtype', `${schema.dtype} != multiscale_metadata.data_type ${dtype}`);
  const numChannels = mm.num_channels ?? schema.domain?.shape?.[3] ?? 1;
  const encoding = sm.encoding ?? codecFromSchema(schema).encoding ?? 'raw';
  const type = mm.type ?? (encoding === 'compressed_segmentation' || dtype === 'uint64' ? 'segmentation' : 'image');
  return { '@type': 'neuroglancer_multiscale_volume', type, data_type: dtype, num_channels: numChannels };
}

function formatRes(r: number): string {
  return String(r);
}

/** Builds a new scale from `scale_metadata` and the schema, validated against the multiscale part. */
export function createScale(multi: MultiscaleInfo, sm: ScaleMetadataSpec, schema: Schema): PrecomputedScale {
  const dom = schema.domain;
  if (schema.rank !== undefined && schema.rank !== 4) throw new SpecError('rank', 'precomputed volumes have rank 4 [x, y, z, channel]');
  if (dom?.shape && dom.shape.length !== 4) throw new SpecError('schema.domain', 'precomputed volumes have rank 4 [x, y, z, channel]');
  if (dom?.shape && dom.shape[3] !== multi.num_channels) throw new SpecError('schema.domain', `channel extent ${dom.shape[3]} != num_channels ${multi.num_channels}`);
  if (schema.fillValue !== undefined && Number(schema.fillValue) !== 0) throw new SpecError('schema.fill_value', 'precomputed volumes have fill value 0');
  const size = specVec(sm.size, 'scale_metadata.size', 0) ?? (dom?.shape?.slice(0, 3) as [number, number, number] | undefined);
  if (!size) throw new SpecError('scale_metadata.size', 'required to create a scale (or schema.domain.shape)');
  const voxel_offset = (sm.voxel_offset ?? dom?.inclusiveMin?.slice(0, 3) ?? [0, 0, 0]) as [number, number, number];
  if (voxel_offset.length !== 3 || !voxel_offset.every((x) => Number.isSafeInteger(x))) throw new SpecError('scale_metadata.voxel_offset', 'must be 3 integers');
  const resolution = (sm.resolution ?? [1, 1, 1]) as [number, number, number];
  if (resolution.length !== 3 || !resolution.every((x) => typeof x === 'number' && x > 0)) throw new SpecError('scale_metadata.resolution', 'must be 3 positive numbers');
  const chunk = specVec(sm.chunk_size, 'scale_metadata.chunk_size', 1)
    ?? (schema.readChunkShape?.slice(0, 3) as [number, number, number] | undefined)
    ?? (size.map((s) => Math.max(1, Math.min(64, s))) as [number, number, number]);
  const codec = codecFromSchema(schema);
  const encoding = sm.encoding ?? codec.encoding ?? 'raw';
  try {
    checkEncoding(encoding, multi.data_type, multi.num_channels, 'scale_metadata.encoding');
  } catch (e) {
    throw new SpecError('scale_metadata.encoding', (e as Error).message);
  }
  const scale: PrecomputedScale = {
    key: sm.key ?? resolution.map(formatRes).join('_'),
    size,
    voxel_offset,
    resolution,
    chunk_sizes: [chunk],
    encoding,
  };
  if (encoding === 'compressed_segmentation') {
    scale.compressed_segmentation_block_size = (specVec(sm.compressed_segmentation_block_size, 'scale_metadata.compressed_segmentation_block_size', 1) ?? [8, 8, 8]);
  }
  const jq = sm.jpeg_quality ?? codec.jpeg_quality;
  if (encoding === 'jpeg' && jq !== undefined) scale.jpeg_quality = jq;
  const pl = sm.png_level ?? codec.png_level;
  if (encoding === 'png' && pl !== undefined) scale.png_level = pl;
  if (sm.sharding) scale.sharding = parseShardingSpec(sm.sharding, 'scale_metadata.sharding');
  // Validate the result the way a reader would.
  try {
    parseInfo({ ...multi, scales: [scale] });
  } catch (e) {
    throw new SpecError('scale_metadata', (e as Error).message);
  }
  return scale;
}

/** Chunk grid extent of a scale: ceil(size / chunk). */
export function scaleGridShape(scale: PrecomputedScale): [number, number, number] {
  const c = scale.chunk_sizes[0]!;
  return scale.size.map((s, i) => Math.ceil(s / c[i]!)) as [number, number, number];
}

// ---- what the CLI (`volstore copy --encoding ... --sharding auto`) calls ----

export interface PrecomputedVolumeOptions {
  dtype: DataType;
  /** [x, y, z] or [x, y, z, channels]. */
  shape: readonly number[];
  /** [x, y, z] chunk size. Default 64^3 clipped to the shape. */
  chunk?: readonly number[];
  /** Default raw. */
  encoding?: PrecomputedEncoding;
  jpegQuality?: number;
  pngLevel?: number;
  /** compressed_segmentation block size. Default [8, 8, 8]. */
  blockSize?: readonly number[];
  resolution?: readonly number[];
  voxelOffset?: readonly number[];
  /** 'image' | 'segmentation'; default from the encoding/dtype. */
  type?: string;
  /** Scale key; default the resolution joined by '_'. */
  key?: string;
  /**
   * Sharding: undefined/'none' = unsharded; 'auto' = hashed (murmurhash3) parameters for
   * ~`targetShardBytes`; 'rectangular' = identity-hash box shards of about `shardShape` chunks
   * (or ~`targetShardBytes`); or explicit parameters.
   */
  sharding?: 'none' | 'auto' | 'rectangular' | Uint64ShardingSpec;
  /** Target uncompressed shard size for 'auto'/'rectangular'. Default 1 GiB. */
  targetShardBytes?: number;
  /** Shard shape in VOXELS [x, y, z] for 'rectangular' (`--shard-shape`). */
  shardShape?: readonly number[];
  /** gzip the chunk data inside shards. Default false. */
  shardDataGzip?: boolean;
}

/**
 * Builds a precomputed `info` (one scale) and the TensorStore spec members that create it:
 * `{driver, multiscale_metadata, scale_metadata}` (add `kvstore` and `create: true`). Throws
 * SpecError for combinations the format cannot hold (jpeg on uint16, ...).
 */
export function buildPrecomputedVolume(options: PrecomputedVolumeOptions): {
  info: PrecomputedInfo;
  spec: { driver: 'neuroglancer_precomputed'; multiscale_metadata: MultiscaleMetadataSpec; scale_metadata: ScaleMetadataSpec };
} {
  const shape = options.shape;
  if (shape.length !== 3 && shape.length !== 4) throw new SpecError('shape', 'must be [x, y, z] or [x, y, z, channels]');
  const numChannels = shape[3] ?? 1;
  const size = shape.slice(0, 3) as [number, number, number];
  const chunk = (options.chunk?.slice(0, 3) ?? size.map((s) => Math.max(1, Math.min(64, s)))) as [number, number, number];
  const encoding = options.encoding ?? 'raw';
  const mm: MultiscaleMetadataSpec = { data_type: options.dtype, num_channels: numChannels };
  if (options.type) mm.type = options.type;
  const sm: ScaleMetadataSpec = { size, chunk_size: chunk, encoding };
  if (options.key) sm.key = options.key;
  if (options.resolution) sm.resolution = [...options.resolution];
  if (options.voxelOffset) sm.voxel_offset = [...options.voxelOffset];
  if (encoding === 'jpeg' && options.jpegQuality !== undefined) sm.jpeg_quality = options.jpegQuality;
  if (encoding === 'png' && options.pngLevel !== undefined) sm.png_level = options.pngLevel;
  if (encoding === 'compressed_segmentation') sm.compressed_segmentation_block_size = [...(options.blockSize ?? [8, 8, 8])];
  const grid = size.map((s, i) => Math.max(1, Math.ceil(s / chunk[i]!)));
  const chunkBytes = chunk[0] * chunk[1] * chunk[2] * numChannels * dtypeSize(options.dtype);
  const sh = options.sharding;
  const enc = { dataEncoding: options.shardDataGzip ? ('gzip' as const) : ('raw' as const) };
  if (sh === 'auto') {
    sm.sharding = chooseShardingParams({ gridShape: grid, chunkBytes, targetShardBytes: options.targetShardBytes, ...enc });
  } else if (sh === 'rectangular') {
    const shardChunks = options.shardShape
      ? options.shardShape.map((v, i) => Math.max(1, Math.floor(v / chunk[i]!)))
      : undefined;
    sm.sharding = shardChunks
      ? rectangularShardingParams(grid, shardChunks, enc)
      : chooseShardingParams({ gridShape: grid, chunkBytes, targetShardBytes: options.targetShardBytes, hash: 'identity', ...enc });
  } else if (sh && sh !== 'none') {
    sm.sharding = parseShardingSpec(sh);
  }
  const multi = createMultiscale(mm, sm, {});
  const scale = createScale(multi, sm, {});
  return { info: { ...multi, scales: [scale] }, spec: { driver: 'neuroglancer_precomputed', multiscale_metadata: mm, scale_metadata: sm } };
}
