/**
 * Creating a destination array shaped like a source: the spec `volstore copy` and
 * `volstore downsample` open their destination with.
 */
import { type DataType, dtypeSize } from '../array/dtype.js';
import type { CodecJSON } from '../codecs/codec.js';
import { buildPrecomputedVolume, type PrecomputedEncoding, type PrecomputedVolumeOptions } from '../drivers/precomputed-info.js';
import { SpecError } from '../errors.js';
import { parseUrl, type Spec } from '../spec/spec.js';
import type { Volume } from '../volume.js';

/** What a destination is created from: a Volume, or a description of one (downsample). */
export type ArrayShapeSource = Pick<Volume, 'shape' | 'dtype' | 'chunkLayout' | 'dimensionNames' | 'fillValue'>;

/** Formats a destination can be created in. */
export const DESTINATION_DRIVERS = ['zarr3', 'zarr', 'n5', 'neuroglancer_precomputed'] as const;

const PRECOMPUTED_ENCODINGS: readonly PrecomputedEncoding[] = ['raw', 'jpeg', 'png', 'compressed_segmentation'];

/** Options of {@link destinationSpec}. */
export interface DestinationOptions {
  /** Format of the destination. Default: the driver the destination spec names, else zarr3. */
  driver?: string;
  /** Read (inner) chunk shape, in the source's dimension order. Default: the source's read chunk. */
  chunkShape?: readonly number[];
  /**
   * Write chunk (shard) shape: zarr3 sharding_indexed shards (a multiple of the chunk shape), or
   * about this many voxels per precomputed shard [x, y, z]. Default: unsharded.
   */
  shardShape?: readonly number[];
  /** Bytes->bytes codecs (compression) after the array->bytes codec. Default zstd level 3. */
  codecs?: readonly CodecJSON[];
  /** Precomputed encoding (raw, jpeg, png, compressed_segmentation). Default raw. */
  encoding?: string;
  /** Precomputed sharding: `auto` (hashed, ~1 GiB shards) or `none` (default, unless shardShape). */
  sharding?: string;
  /** Precomputed `resolution` in nanometres per voxel [x, y, z]. Default [1, 1, 1]. */
  resolution?: readonly number[];
  /** Precomputed `voxel_offset` [x, y, z] (the destination's origin). Default [0, 0, 0]. */
  voxelOffset?: readonly number[];
  /**
   * zarr3: append a `crc32c` codec to every chunk's codecs, so a flipped or truncated chunk is
   * detected on read (CorruptionError) instead of decoded into wrong values. Shard indexes carry
   * one whatever this says. Other formats: SpecError (they have no chunk checksum).
   */
  checksum?: boolean;
  /**
   * User attributes stored with the array: zarr3 `attributes`, extra keys of N5 attributes.json
   * (e.g. `downsamplingFactors`). SpecError for zarr v2 and precomputed.
   */
  attributes?: Record<string, unknown>;
  /**
   * Replace whatever exists at the destination (TensorStore's `delete_existing`). Default false:
   * opening the spec fails with AlreadyExistsError when the destination array exists.
   */
  overwrite?: boolean;
}

/** Default compression of created destinations. */
export const DEFAULT_DESTINATION_CODECS: readonly CodecJSON[] = [{ name: 'zstd', configuration: { level: 3, checksum: false } }];

const BYTES_LE: CodecJSON = { name: 'bytes', configuration: { endian: 'little' } };

function typestr(d: DataType): string {
  if (d === 'bool') return '|b1';
  const size = dtypeSize(d);
  return `${size === 1 ? '|' : '<'}${d.startsWith('float') ? 'f' : d.startsWith('uint') ? 'u' : 'i'}${size}`;
}

/**
 * The TensorStore spec that creates an array at `dst` (a URL or a spec naming at least the
 * kvstore) with `src`'s dtype, shape, dimension names and fill value. Without `overwrite`
 * the spec has `create: true, open: false`, so opening it never touches existing data: it
 * fails with AlreadyExistsError instead. A precomputed destination must be seen [x, y, z] or
 * [x, y, z, channel] (transpose a zarr [z, y, x] source first).
 * @throws SpecError for option combinations the format cannot hold (naming the option).
 */
export async function destinationSpec(dst: Spec | string, src: ArrayShapeSource, o: DestinationOptions = {}): Promise<Spec> {
  const base: Spec = typeof dst === 'string' ? parseUrl(dst) : { ...dst };
  const driver = o.driver ?? (base.driver as string | undefined) ?? 'zarr3';
  const shape = src.shape;
  const rank = shape.length;
  const chunk = o.chunkShape ? [...o.chunkShape] : [...src.chunkLayout.readChunk.shape];
  for (const [field, s] of [['chunkShape', o.chunkShape], ['shardShape', o.shardShape]] as const) {
    // Precomputed chunk and shard shapes are [x, y, z] whatever the channel dimension.
    if (s && s.length !== rank && !(driver === 'neuroglancer_precomputed' && s.length === 3)) throw new SpecError(field, `has ${s.length} entries, the array has rank ${rank}`);
    if (s && s.some((v) => !Number.isSafeInteger(v) || v < 1)) throw new SpecError(field, `must be positive integers, got [${s}]`);
  }
  const dtype = src.dtype;
  const codecs = [...(o.codecs ?? DEFAULT_DESTINATION_CODECS)];
  if (o.checksum && driver !== 'zarr3') throw new SpecError('checksum', `${driver} has no chunk checksum (zarr3 has: crc32c)`);
  if (o.checksum) codecs.push({ name: 'crc32c' });
  if (o.attributes && driver !== 'zarr3' && driver !== 'n5') throw new SpecError('attributes', `cannot store attributes with a ${driver} destination`);
  const labels = src.dimensionNames.some((l) => l) ? src.dimensionNames.map((l) => l || null) : undefined;
  const fill = typeof src.fillValue === 'bigint' ? Number(src.fillValue) : src.fillValue;
  const { delete_existing: _given, ...rest } = base;
  const common: Spec = { ...rest, driver, create: true, open: false, ...(o.overwrite ? { delete_existing: true } : {}) };
  switch (driver) {
    case 'zarr3': {
      const shard = o.shardShape;
      if (shard) {
        shard.forEach((s, i) => {
          if (s % chunk[i]! !== 0) throw new SpecError('shardShape', `[${shard}] is not a multiple of the chunk shape [${chunk}]`);
        });
      }
      return {
        ...common,
        metadata: {
          shape,
          data_type: dtype,
          chunk_grid: { name: 'regular', configuration: { chunk_shape: shard ?? chunk } },
          codecs: shard
            ? [{ name: 'sharding_indexed', configuration: { chunk_shape: chunk, codecs: [BYTES_LE, ...codecs], index_codecs: [BYTES_LE, { name: 'crc32c' }], index_location: 'end' } }]
            : [BYTES_LE, ...codecs],
          fill_value: typeof fill === 'number' && Number.isNaN(fill) ? 'NaN' : fill,
          ...(labels ? { dimension_names: labels } : {}),
          ...(o.attributes ? { attributes: o.attributes } : {}),
        },
      };
    }
    case 'zarr': {
      if (o.shardShape) throw new SpecError('shardShape', 'zarr v2 has no sharding');
      if (codecs.length > 1) throw new SpecError('codecs', 'zarr v2 takes one compressor');
      const c = codecs[0];
      const compressor = !c
        ? null
        : c.name === 'blosc'
          ? { id: 'blosc', cname: c.configuration!.cname, clevel: c.configuration!.clevel, shuffle: dtypeSize(dtype) === 1 ? 2 : 1, blocksize: 0 }
          : { id: c.name, level: c.configuration!.level };
      return { ...common, metadata: { shape, chunks: chunk, dtype: typestr(dtype), compressor, fill_value: fill, order: 'C', filters: null } };
    }
    case 'n5': {
      if (o.shardShape) throw new SpecError('shardShape', 'N5 has no sharding');
      if (codecs.length > 1) throw new SpecError('codecs', 'N5 takes one compression');
      const { codecToN5Compression } = await import('../drivers/n5.js');
      return { ...common, metadata: { ...(o.attributes ?? {}), dimensions: shape, blockSize: chunk, dataType: dtype, compression: codecToN5Compression(codecs[0]) } };
    }
    case 'neuroglancer_precomputed':
      return precomputedDestinationSpec(common, src, o);
    default:
      throw new SpecError('driver', `cannot create a "${driver}" destination (${DESTINATION_DRIVERS.join(', ')})`);
  }
}

/**
 * A precomputed destination: one scale, keyed by its resolution. Without `overwrite`, a scale
 * with that key in an existing `info` makes opening fail (AlreadyExistsError); other scales of
 * an existing volume are kept either way.
 */
function precomputedDestinationSpec(common: Spec, src: Pick<Volume, 'shape' | 'dtype'>, o: DestinationOptions): Spec {
  const encoding = o.encoding ?? 'raw';
  if (!(PRECOMPUTED_ENCODINGS as readonly string[]).includes(encoding)) {
    throw new SpecError('encoding', `must be one of ${PRECOMPUTED_ENCODINGS.join(', ')}, got "${encoding}"`);
  }
  if (o.sharding !== undefined && o.sharding !== 'auto' && o.sharding !== 'none') {
    throw new SpecError('sharding', `must be "auto" or "none", got "${o.sharding}"`);
  }
  const shape = src.shape;
  if (shape.length !== 3 && shape.length !== 4) throw new SpecError('driver', `neuroglancer_precomputed needs a rank 3 or 4 source, got rank ${shape.length}`);
  const resolution = o.resolution ? [...o.resolution] : [1, 1, 1];
  const opts: PrecomputedVolumeOptions = {
    dtype: src.dtype,
    shape,
    chunk: o.chunkShape?.slice(0, 3),
    encoding: encoding as PrecomputedEncoding,
    sharding: o.shardShape ? 'rectangular' : o.sharding === 'auto' ? 'auto' : 'none',
    shardShape: o.shardShape?.slice(0, 3),
    resolution,
    voxelOffset: o.voxelOffset ? [...o.voxelOffset] : undefined,
    key: resolution.map(String).join('_'),
  };
  const { spec } = buildPrecomputedVolume(opts);
  return { ...common, ...spec, driver: 'neuroglancer_precomputed' };
}
