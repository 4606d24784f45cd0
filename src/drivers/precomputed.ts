import { type DataType, dtypeSize } from '../array/dtype.js';
import { type NdArray, product } from '../array/ndarray.js';
import { CodecChain } from '../codecs/chain.js';
import type { ChainRunner, ChunkSpec, CodecJSON } from '../codecs/codec.js';
import { registerBuiltinCodecs } from '../codecs/registry.js';
import { AlreadyExistsError, MetadataError, SpecError } from '../errors.js';
import { ChainsByExtent, checkGridSchema, chunkExtent, CodecChainDriver, cropToExtent, keyUrl, openOrCreate, padToChunk } from './common.js';
import { decodedBytesBound, MAX_CHUNK_BYTES } from '../limits.js';
import type { KvStore } from '../kvstore/kvstore.js';
import { Uint64ShardedStore } from '../sharding/precomputed-store.js';
import { chunkIdKey } from '../sharding/precomputed.js';
import { loadCore } from '../wasm/core.js';
import { compressedMortonCode } from '../wasm/kernels.js';
import type { DriverModule, DriverOpenRequest } from './driver.js';
import type { ChunkDriver, ChunkGrid } from '../io/chunk-driver.js';
import {
  checkInfoCompatible,
  createMultiscale,
  createScale,
  INFO_KEY,
  type MultiscaleInfo,
  parseInfo,
  parseMultiscaleMetadataSpec,
  parseScaleMetadataSpec,
  type PrecomputedInfo,
  type PrecomputedScale,
  scaleGridShape,
  scaleMismatch,
  selectScale,
} from './precomputed-info.js';
import { chunksInBoxShard, shardShapeInChunks } from '../sharding/precomputed.js';
import { describeJson } from '../util/json.js';

/**
 * Neuroglancer precomputed driver (TensorStore's `neuroglancer_precomputed`): one scale of a
 * multiscale volume, exposed as rank 4 `[x, y, z, channel]` with origin `[...voxel_offset, 0]`.
 *
 * Keys: unsharded chunks are `<scale key>/<x0>-<x1>_<y0>-<y1>_<z0>-<z1>` (voxel coordinates
 * including voxel_offset, clipped to the volume). Sharded scales go through a
 * {@link Uint64ShardedStore} rooted at `<scale key>/`, whose keys are the chunk's compressed
 * Morton code as 16 hex digits.
 *
 * Edge chunks are stored cropped: `decodeChunk` pads them to the full chunk (fill 0) and
 * `encodeChunk` crops. Encodings: raw (`bytes` little-endian, F order), compressed_segmentation,
 * jpeg, png — all codecs of the one registry.
 */

export class PrecomputedDriver extends CodecChainDriver implements ChunkDriver {
  readonly driverName = 'neuroglancer_precomputed';
  readonly grid: ChunkGrid;
  readonly codecs: readonly CodecJSON[];
  readonly scale: PrecomputedScale;
  /** Chunk grid extent [gx, gy, gz]. */
  readonly gridShape: [number, number, number];
  private readonly chains: ChainsByExtent;

  constructor(
    /** The store at the volume root (where `info` lives). */
    readonly baseStore: KvStore,
    readonly store: KvStore,
    readonly info: PrecomputedInfo,
    readonly scaleIndex: number,
    /** The chain of full (interior) chunks; edge chunks get one per stored extent. */
    chain: CodecChain,
    readonly storeFillChunks: boolean,
    runner?: ChainRunner,
  ) {
    super(chain, runner);
    const scale = info.scales[scaleIndex]!;
    this.scale = scale;
    const nc = info.num_channels;
    const chunk = scale.chunk_sizes[0]!;
    this.gridShape = scaleGridShape(scale);
    const box = scale.sharding ? shardShapeInChunks(this.gridShape, scale.sharding) : undefined;
    this.grid = {
      dtype: info.data_type,
      shape: [...scale.size, nc],
      origin: [...scale.voxel_offset, 0],
      chunkShape: [...chunk, nc],
      writeChunkShape: box ? [...box.map((b, i) => b * chunk[i]!), nc] : [...chunk, nc],
      fillValue: 0,
      dimensionNames: ['x', 'y', 'z', 'channel'],
    };
    this.codecs = [chain.arrayBytes.codec.toJSON()];
    this.chains = new ChainsByExtent(chain.toJSON(), chain.spec, INFO_KEY);
  }

  /** The voxel box [start, end) of a chunk, clipped to the volume, in voxel_offset coordinates. */
  chunkBox(chunk: readonly number[]): { start: number[]; end: number[] } {
    const { voxel_offset, size } = this.scale;
    const c = this.scale.chunk_sizes[0]!;
    const start = [0, 1, 2].map((d) => voxel_offset[d]! + chunk[d]! * c[d]!);
    const end = [0, 1, 2].map((d) => Math.min(start[d]! + c[d]!, voxel_offset[d]! + size[d]!));
    return { start, end };
  }

  keyOf(chunk: readonly number[]): string {
    if (this.scale.sharding) return chunkIdKey(compressedMortonCode(chunk.slice(0, 3), this.gridShape));
    const { start, end } = this.chunkBox(chunk);
    return `${this.scale.key}/${start[0]}-${end[0]}_${start[1]}-${end[1]}_${start[2]}-${end[2]}`;
  }

  /** Chunks are stored cropped at the volume's edge: a chain per stored extent. */
  protected override chainFor(chunk: readonly number[]): CodecChain | Promise<CodecChain> {
    const ext = chunkExtent(this.grid, chunk);
    return ext.every((e, d) => e === this.grid.chunkShape[d]) ? this.chain : this.chains.get(ext);
  }

  /** Encodes the in-volume part of a full chunk (edge chunks are stored cropped). */
  protected override toStored(array: NdArray, chunk: readonly number[]): NdArray {
    return cropToExtent(array, chunkExtent(this.grid, chunk));
  }

  /** A decoded (cropped at the volume's edge) chunk, padded to the full chunk with 0. */
  protected override fromStored(array: NdArray): NdArray {
    return padToChunk(this.grid, array);
  }

  spec(): Record<string, unknown> {
    const { key, size, voxel_offset, resolution, chunk_sizes, encoding, sharding } = this.scale;
    const scale_metadata: Record<string, unknown> = { key, size, voxel_offset, resolution, chunk_size: chunk_sizes[0], encoding };
    if (this.scale.compressed_segmentation_block_size) scale_metadata.compressed_segmentation_block_size = this.scale.compressed_segmentation_block_size;
    if (this.scale.jpeg_quality !== undefined) scale_metadata.jpeg_quality = this.scale.jpeg_quality;
    if (this.scale.png_level !== undefined) scale_metadata.png_level = this.scale.png_level;
    scale_metadata.sharding = sharding ?? null;
    return {
      driver: 'neuroglancer_precomputed',
      kvstore: this.baseStore.spec(),
      scale_index: this.scaleIndex,
      multiscale_metadata: { type: this.info.type, data_type: this.info.data_type, num_channels: this.info.num_channels },
      scale_metadata,
    };
  }
}

/** Canonical codec JSON of a scale's encoding. */
export function scaleCodecJSON(scale: PrecomputedScale): CodecJSON {
  switch (scale.encoding) {
    case 'raw':
      return { name: 'bytes', configuration: { endian: 'little' } };
    case 'compressed_segmentation':
      return { name: 'compressed_segmentation', configuration: { block_size: scale.compressed_segmentation_block_size ?? [8, 8, 8] } };
    case 'jpeg':
      return { name: 'jpeg', configuration: { quality: scale.jpeg_quality ?? 75 } };
    case 'png':
      return { name: 'png', configuration: scale.png_level === undefined ? {} : { level: scale.png_level } };
  }
}

function codecSpec(info: PrecomputedInfo, scale: PrecomputedScale): ChunkSpec {
  return { dtype: info.data_type as DataType, shape: [...scale.chunk_sizes[0]!, info.num_channels], fillValue: 0 };
}

/**
 * The codec chain of a scale's full chunks. Raw chunks are `bytes` little-endian in Fortran
 * order [x, y, z, channel]: a `transpose` reversing the dims in front of `bytes`, so the chain
 * decodes to a Fortran-strided view with no copy (the copy into the result transposes once).
 */
function makeChain(info: PrecomputedInfo, scale: PrecomputedScale): Promise<CodecChain> {
  registerBuiltinCodecs();
  const json = scaleCodecJSON(scale);
  const spec = codecSpec(info, scale);
  const codecs = scale.encoding === 'raw' ? [{ name: 'transpose', configuration: { order: [3, 2, 1, 0] } }, json] : [json];
  return CodecChain.create(codecs, spec, INFO_KEY);
}

async function openPrecomputed(request: DriverOpenRequest): Promise<PrecomputedDriver> {
  const { store, mode, schema, signal, spec } = request;
  const sm = parseScaleMetadataSpec(spec.scale_metadata);
  const mm = parseMultiscaleMetadataSpec(spec.multiscale_metadata);
  const scaleIndex = spec.scale_index;
  if (scaleIndex !== undefined && !(Number.isInteger(scaleIndex) && (scaleIndex as number) >= 0)) {
    throw new SpecError('scale_index', 'must be a non-negative integer');
  }
  await loadCore(); // Morton codes and murmurhash run in the wasm core
  const url = keyUrl(store, INFO_KEY);
  const wanted = { scale_index: scaleIndex, ...sm };
  // The info may hold other scales: a missing scale is added to it (conditionally on its generation).
  const { info, index } = await openOrCreate<{ info: PrecomputedInfo; index: number }>({
    store,
    metadataKey: INFO_KEY,
    mode,
    signal,
    cache: request.metadataCache,
    parse: (json) => {
      const info = parseInfo(json);
      const index = selectScale(info, scaleIndex as number | undefined, sm);
      if (index === undefined) return undefined;
      const scale = info.scales[index]!;
      const why = scaleMismatch(scale, sm);
      if (why) throw new MetadataError(INFO_KEY, `scale ${index} ("${scale.key}"): ${why}`);
      checkInfoCompatible(info, scale, mm, schema);
      return { info, index };
    },
    build: (existing) => {
      const info = existing ? parseInfo(existing) : undefined;
      if (info && scaleIndex !== undefined && scaleIndex !== info.scales.length) {
        throw new SpecError('scale_index', `scale ${scaleIndex} does not exist; a new scale gets index ${info.scales.length}`);
      }
      let multi: MultiscaleInfo;
      if (info) {
        const { scales: _scales, ...rest } = info; // keep every other member (mesh, skeletons, ...)
        multi = rest;
        checkMultiscale(info, mm, schema.dtype);
      } else multi = createMultiscale(mm, sm, schema);
      const scale = createScale(multi, sm, schema);
      if (info?.scales.some((s) => s.key === scale.key)) throw new AlreadyExistsError(url, `a scale with key "${scale.key}" already exists`);
      const next: PrecomputedInfo = { ...multi, scales: [...(info?.scales ?? []), scale] };
      return { info: next, index: next.scales.length - 1 };
    },
    serialize: (m) => m.info,
    // delete_existing: drop the selected scale's chunks and recreate the scale in place.
    deleteExisting: async (existing) => {
      if (!existing) return undefined;
      const info = parseInfo(existing);
      const index = selectScale(info, scaleIndex as number | undefined, sm);
      if (index === undefined) return existing;
      await store.deleteRange(`${info.scales[index]!.key}/`, { signal });
      return { ...info, scales: info.scales.filter((_, i) => i !== index) };
    },
    notFound: (existing) => (existing ? `no scale matches ${describeJson(wanted)}` : 'precomputed info not found'),
    alreadyExists: (m) => `scale ${m.index} ("${m.info.scales[m.index]!.key}") already exists`,
  });
  const d = await build(request, info, index);
  checkGridSchema(schema, INFO_KEY, d.grid);
  return d;
}

function checkMultiscale(info: PrecomputedInfo, mm: { type?: string; data_type?: DataType; num_channels?: number }, dtype?: DataType): void {
  const want = { type: mm.type, data_type: mm.data_type ?? dtype, num_channels: mm.num_channels };
  for (const [k, v] of Object.entries(want)) {
    if (v !== undefined && v !== info[k]) throw new MetadataError(INFO_KEY, `${k} is ${describeJson(info[k])}, the spec requires ${describeJson(v)}`);
  }
}

async function build(request: DriverOpenRequest, info: PrecomputedInfo, index: number): Promise<PrecomputedDriver> {
  const scale = info.scales[index]!;
  const chain = await makeChain(info, scale);
  const codec = chain.arrayBytes.codec;
  let store = request.store;
  if (scale.sharding) {
    const sharding = scale.sharding;
    const grid = scaleGridShape(scale);
    const chunkRaw = product([...scale.chunk_sizes[0]!, info.num_channels]) * dtypeSize(info.data_type);
    store = new Uint64ShardedStore(request.store, sharding, {
      prefix: `${scale.key}/`,
      // a stored chunk is the codec's output (at most ~4x raw for compressed_segmentation)
      maxChunkBytes: decodedBytesBound(codec.maxEncodedSize?.(codecSpec(info, scale)) ?? 4 * chunkRaw + 65536),
      maxMinishardIndexBytes: Math.min(24 * product(grid), MAX_CHUNK_BYTES) + 65536,
      chunksInShard: (cell) => {
        const name = cell.slice(scale.key.length + 1, -'.shard'.length);
        return chunksInBoxShard(grid, sharding, BigInt(`0x${name}`));
      },
    });
  }
  return new PrecomputedDriver(request.store, store, info, index, chain, request.storeFillChunks, request.context?.codecPool);
}

export const driver: DriverModule = {
  name: 'neuroglancer_precomputed',
  specKeys: ['scale_index', 'scale_metadata', 'multiscale_metadata'],
  open: openPrecomputed,
};

