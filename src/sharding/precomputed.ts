import { SpecError } from '../errors.js';
import { MetadataError } from '../errors.js';
import { MAX_SHARD_INDEX_BYTES } from '../limits.js';
import { murmurhash3_x86_128_uint64 } from '../wasm/kernels.js';

/**
 * `neuroglancer_uint64_sharded_v1` layout: the sharding spec, chunk ids, hashing and shard names
 * (https://github.com/google/neuroglancer/blob/master/src/datasource/precomputed/sharded.md).
 * The store adapter over it is `./precomputed-store.ts`.
 */

export interface Uint64ShardingSpec {
  '@type': 'neuroglancer_uint64_sharded_v1';
  preshift_bits: number;
  hash: 'identity' | 'murmurhash3_x86_128';
  minishard_bits: number;
  shard_bits: number;
  minishard_index_encoding?: 'raw' | 'gzip';
  data_encoding?: 'raw' | 'gzip';
}

/** Validates a `sharding` object of a precomputed scale; throws MetadataError naming `field`. */
export function parseShardingSpec(json: unknown, field = 'sharding'): Uint64ShardingSpec {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new MetadataError(field, 'must be an object');
  const j = json as Record<string, unknown>;
  if (j['@type'] !== 'neuroglancer_uint64_sharded_v1') {
    throw new MetadataError(field, `"@type" must be "neuroglancer_uint64_sharded_v1", got ${JSON.stringify(j['@type'])}`);
  }
  const int = (k: string, max: number): number => {
    const v = j[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
      throw new MetadataError(field, `"${k}" must be an integer in [0, ${max}], got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const oneOf = <T extends string>(k: string, values: readonly T[], dflt?: T): T => {
    const v = j[k] ?? dflt;
    if (!values.includes(v as T)) throw new MetadataError(field, `"${k}" must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  };
  const spec: Uint64ShardingSpec = {
    '@type': 'neuroglancer_uint64_sharded_v1',
    preshift_bits: int('preshift_bits', 64),
    hash: oneOf('hash', ['identity', 'murmurhash3_x86_128'] as const),
    minishard_bits: int('minishard_bits', 32),
    shard_bits: int('shard_bits', 64),
    minishard_index_encoding: oneOf('minishard_index_encoding', ['raw', 'gzip'] as const, 'raw'),
    data_encoding: oneOf('data_encoding', ['raw', 'gzip'] as const, 'raw'),
  };
  if (spec.minishard_bits + spec.shard_bits > 64) throw new MetadataError(field, 'minishard_bits + shard_bits exceeds 64');
  if (16 * 2 ** spec.minishard_bits > MAX_SHARD_INDEX_BYTES) {
    throw new MetadataError(field, `"minishard_bits" ${spec.minishard_bits} makes a ${16 * 2 ** spec.minishard_bits}-byte shard index, more than the ${MAX_SHARD_INDEX_BYTES}-byte limit (MAX_SHARD_INDEX_BYTES)`);
  }
  return spec;
}

/** The adapter key of a chunk id: 16 lowercase hex digits. */
export function chunkIdKey(id: bigint): string {
  return id.toString(16).padStart(16, '0');
}

const KEY_RE = /^[0-9a-f]{16}$/;

/** Parses a key made by {@link chunkIdKey}; throws RangeError otherwise. */
export function parseChunkIdKey(key: string): bigint {
  if (!KEY_RE.test(key)) throw new RangeError(`sharded chunk key "${key}" is not 16 lowercase hex digits`);
  return BigInt(`0x${key}`);
}

export const MASK64 = (1n << 64n) - 1n;

/** The shard and minishard numbers of a chunk id. */
export function shardOf(spec: Uint64ShardingSpec, id: bigint): { shard: bigint; minishard: number } {
  const shifted = spec.preshift_bits >= 64 ? 0n : (id & MASK64) >> BigInt(spec.preshift_bits);
  const h = spec.hash === 'identity' ? shifted : murmurhash3_x86_128_uint64(shifted);
  const minishard = Number(h & ((1n << BigInt(spec.minishard_bits)) - 1n));
  const shard = (h >> BigInt(spec.minishard_bits)) & ((1n << BigInt(spec.shard_bits)) - 1n);
  return { shard, minishard };
}

/** The file name of a shard: lowercase hex zero-padded to ceil(shard_bits/4) digits + `.shard`. */
export function shardFileName(spec: Uint64ShardingSpec, shard: bigint): string {
  return `${shard.toString(16).padStart(Math.ceil(spec.shard_bits / 4), '0')}.shard`;
}

/**
 * Choosing `neuroglancer_uint64_sharded_v1` parameters for a precomputed scale.
 *
 * Chunk ids are compressed Morton codes of the chunk grid position: `bits[d] = ceil(log2(grid[d]))`
 * bits per dimension, interleaved x, y, z, skipping a dimension once its bits run out. With the
 * identity hash, the low `k = preshift_bits + minishard_bits` bits of the id select a chunk within
 * a shard and the next `shard_bits` the shard; when those cover every id bit, each shard is an
 * axis-aligned box of chunks ({@link mortonPrefixBox}), which makes writes local: a writer of a box
 * rewrites whole shards. With murmurhash3 the shards are spread pseudo-randomly (good for
 * balancing reads, useless for local writes).
 */

/** Bits per dimension of the compressed Morton code of a chunk grid. */
export function gridBits(gridShape: readonly number[]): number[] {
  return gridShape.map((g) => (g <= 1 ? 0 : Math.ceil(Math.log2(g))));
}

export function totalMortonBits(gridShape: readonly number[]): number {
  return gridBits(gridShape).reduce((a, b) => a + b, 0);
}

/** The box of chunks (per dimension) spanned by the low `k` bits of the compressed Morton code. */
export function mortonPrefixBox(gridShape: readonly number[], k: number): number[] {
  const bits = gridBits(gridShape);
  const count = bits.map(() => 0);
  const maxBits = Math.max(0, ...bits);
  let left = k;
  for (let i = 0; i < maxBits && left > 0; i++) {
    for (let d = 0; d < bits.length && left > 0; d++) {
      if (i < bits[d]!) {
        count[d]!++;
        left--;
      }
    }
  }
  return count.map((c) => 2 ** c);
}

/**
 * The shard shape in chunks when every shard is a box (identity hash, and preshift + minishard +
 * shard bits cover the whole chunk id), else undefined.
 */
export function shardShapeInChunks(gridShape: readonly number[], sharding: Uint64ShardingSpec): number[] | undefined {
  if (sharding.hash !== 'identity') return undefined;
  const k = sharding.preshift_bits + sharding.minishard_bits;
  if (k + sharding.shard_bits < totalMortonBits(gridShape)) return undefined;
  return mortonPrefixBox(gridShape, k);
}

export interface ShardingOptions {
  /** Chunk grid extent [gx, gy, gz] = ceil(size / chunk_size). */
  gridShape: readonly number[];
  /** Uncompressed bytes per chunk (chunk volume x channels x dtype size). */
  chunkBytes: number;
  /** Target uncompressed bytes per shard. Default 1 GiB. Ignored when `chunksPerShard` is set. */
  targetShardBytes?: number;
  /** Target chunks per shard. */
  chunksPerShard?: number;
  hash?: 'identity' | 'murmurhash3_x86_128';
  minishardIndexEncoding?: 'raw' | 'gzip';
  dataEncoding?: 'raw' | 'gzip';
}

/** Chunks per minishard aimed for: a 64-entry minishard index is 1.5 KiB, one small read. */
const MINISHARD_CHUNKS_LOG2 = 6;
/** Preshift: 2^3 consecutive Morton ids (a 2x2x2 block of chunks) stay in one minishard. */
const PRESHIFT_BITS = 3;

function base(options: ShardingOptions, hash: Uint64ShardingSpec['hash']): Pick<Uint64ShardingSpec, '@type' | 'hash' | 'minishard_index_encoding' | 'data_encoding'> {
  return {
    '@type': 'neuroglancer_uint64_sharded_v1',
    hash,
    minishard_index_encoding: options.minishardIndexEncoding ?? 'gzip',
    data_encoding: options.dataEncoding ?? 'raw',
  };
}

function targetChunks(options: ShardingOptions): number {
  if (options.chunksPerShard !== undefined) {
    if (!(options.chunksPerShard >= 1)) throw new SpecError('sharding.chunks_per_shard', 'must be >= 1');
    return Math.floor(options.chunksPerShard);
  }
  const target = options.targetShardBytes ?? 2 ** 30;
  if (!(target > 0) || !(options.chunkBytes > 0)) throw new SpecError('sharding', 'shard and chunk sizes must be positive');
  return Math.max(1, Math.floor(target / options.chunkBytes));
}

/**
 * Picks preshift/minishard/shard bits for about `chunksPerShard` (or `targetShardBytes` worth of)
 * chunks per shard. Hashed (default murmurhash3_x86_128): shard_bits = ceil(log2(chunks /
 * per-shard)); within a shard, about 64 chunks per minishard and 2x2x2 chunk blocks kept together
 * by the preshift. With `hash: 'identity'` this delegates to {@link rectangularShardingParams}
 * with the Morton box nearest the target (box shards).
 */
export function chooseShardingParams(options: ShardingOptions): Uint64ShardingSpec {
  const hash = options.hash ?? 'murmurhash3_x86_128';
  const total = totalMortonBits(options.gridShape);
  const perShardLog2 = Math.min(total, Math.floor(Math.log2(targetChunks(options))));
  if (hash === 'identity') {
    return rectangularShardingParams(options.gridShape, mortonPrefixBox(options.gridShape, perShardLog2), options);
  }
  const numChunks = options.gridShape.reduce((a, b) => a * b, 1);
  const shardBits = Math.max(0, Math.ceil(Math.log2(Math.max(1, numChunks / 2 ** perShardLog2))));
  const within = Math.max(0, total - shardBits);
  const minishardBits = Math.max(0, Math.min(within - MINISHARD_CHUNKS_LOG2, 20));
  const preshiftBits = Math.min(PRESHIFT_BITS, Math.max(0, within - minishardBits));
  return { ...base(options, hash), preshift_bits: preshiftBits, minishard_bits: minishardBits, shard_bits: shardBits };
}

/**
 * Identity-hash parameters whose shards are boxes of chunks: the largest Morton box that fits in
 * `shardShape` (chunks per dimension; rounded down to the box sizes the Morton order allows).
 * Every shard then holds box-aligned chunks only, so writing a box-aligned region writes whole
 * shards without reading them.
 */
export function rectangularShardingParams(
  gridShape: readonly number[],
  shardShape: readonly number[],
  options: Omit<ShardingOptions, 'gridShape' | 'chunkBytes'> & { chunkBytes?: number } = {},
): Uint64ShardingSpec {
  if (shardShape.length !== gridShape.length || shardShape.some((s) => !(s >= 1))) {
    throw new SpecError('shard_shape', `must be ${gridShape.length} positive chunk counts, got ${JSON.stringify(shardShape)}`);
  }
  const total = totalMortonBits(gridShape);
  let k = 0;
  for (let j = 1; j <= total; j++) {
    const box = mortonPrefixBox(gridShape, j);
    // A dimension whose wanted extent covers the grid may take all its bits.
    if (box.every((b, d) => b <= shardShape[d]! || shardShape[d]! >= gridShape[d]!)) k = j;
    else break;
  }
  const minishardBits = Math.max(0, k - PRESHIFT_BITS);
  const preshiftBits = k - minishardBits;
  return {
    ...base({ gridShape, chunkBytes: 1, ...options }, 'identity'),
    preshift_bits: preshiftBits,
    minishard_bits: minishardBits,
    shard_bits: total - k,
  };
}

/** The (dimension, bit level) of each compressed Morton code bit, lowest first. */
export function mortonBitOrder(gridShape: readonly number[]): [number, number][] {
  const bits = gridBits(gridShape);
  const out: [number, number][] = [];
  const maxBits = Math.max(0, ...bits);
  for (let i = 0; i < maxBits; i++) for (let d = 0; d < bits.length; d++) if (i < bits[d]!) out.push([d, i]);
  return out;
}

/**
 * For box shards (see {@link shardShapeInChunks}): the number of in-grid chunks of shard number
 * `shard`, i.e. how many chunk writes make the shard complete.
 */
export function chunksInBoxShard(gridShape: readonly number[], sharding: Uint64ShardingSpec, shard: bigint): number | undefined {
  const box = shardShapeInChunks(gridShape, sharding);
  if (!box) return undefined;
  const k = sharding.preshift_bits + sharding.minishard_bits;
  const order = mortonBitOrder(gridShape);
  const origin = gridShape.map(() => 0);
  for (let j = k; j < order.length; j++) {
    if ((shard >> BigInt(j - k)) & 1n) {
      const [d, level] = order[j]!;
      origin[d]! += 2 ** level;
    }
  }
  let n = 1;
  for (let d = 0; d < gridShape.length; d++) n *= Math.max(0, Math.min(box[d]!, gridShape[d]! - origin[d]!));
  return n;
}
