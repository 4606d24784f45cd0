import { bytesOf, dtypeSize } from '../array/dtype.js';
import { NdArray, cOrderStrides, isAllFill, product, toCOrder } from '../array/ndarray.js';
import { CorruptionError, MetadataError } from '../errors.js';
import { copyStrided } from '../array/copy.js';
import { shapePositions } from '../array/grid.js';
import { MAX_SHARD_INDEX_BYTES } from '../limits.js';
import { CodecChain } from '../codecs/chain.js';
import { type ArrayBytesCodec, type ChunkSpec, type CodecContext, type CodecFactory, type CodecJSON, isCodecRegistered, registerCodec } from '../codecs/codec.js';

/** An empty inner chunk's index entry: offset = nbytes = 2^64 - 1. */
export const EMPTY = 0xffff_ffff_ffff_ffffn;

const DEFAULT_INDEX_CODECS: CodecJSON[] = [
  { name: 'bytes', configuration: { endian: 'little' } },
  { name: 'crc32c' },
];

/**
 * zarr v3 `sharding_indexed`: the shard geometry, the inner chunk codec chain and the index
 * codec chain. Shared by the whole-shard codec below and the sharded store adapter
 * (`./zarr3-store.ts`) that reads inner chunks with byte ranges.
 * https://zarr-specs.readthedocs.io/en/latest/v3/codecs/sharding-indexed/v1.0.html
 */
export class ShardFormat {
  private constructor(
    readonly shardShape: readonly number[],
    readonly chunkShape: readonly number[],
    readonly chunksPerShard: readonly number[],
    readonly innerCodecs: readonly CodecJSON[],
    readonly inner: CodecChain,
    readonly indexCodecs: readonly CodecJSON[],
    readonly index: CodecChain,
    readonly indexLocation: 'start' | 'end',
    readonly indexSize: number,
  ) {}

  get numChunks(): number {
    return product(this.chunksPerShard);
  }

  static async create(config: Record<string, unknown>, spec: ChunkSpec, field = 'sharding_indexed'): Promise<ShardFormat> {
    const allowed = new Set(['chunk_shape', 'codecs', 'index_codecs', 'index_location']);
    for (const k of Object.keys(config)) if (!allowed.has(k)) throw new MetadataError(`${field}.${k}`, 'unknown sharding_indexed option');
    const chunkShape = config.chunk_shape;
    const rank = spec.shape.length;
    if (!Array.isArray(chunkShape) || chunkShape.length !== rank || !chunkShape.every((c) => Number.isSafeInteger(c) && c > 0)) {
      throw new MetadataError(`${field}.chunk_shape`, `must be ${rank} positive integers, got ${JSON.stringify(chunkShape)}`);
    }
    const cps = spec.shape.map((s, i) => {
      if (s % chunkShape[i] !== 0) {
        throw new MetadataError(`${field}.chunk_shape`, `inner chunk shape ${chunkShape} does not divide the shard shape ${spec.shape}`);
      }
      return s / chunkShape[i];
    });
    const indexBytes = product(cps) * 16;
    if (indexBytes > MAX_SHARD_INDEX_BYTES) {
      throw new MetadataError(
        `${field}.chunk_shape`,
        `${product(cps)} inner chunks per shard ([${cps.join(', ')}]) make a ${indexBytes}-byte shard index, more than the ${MAX_SHARD_INDEX_BYTES}-byte limit (MAX_SHARD_INDEX_BYTES): use larger inner chunks or smaller shards`,
      );
    }
    const loc = config.index_location ?? 'end';
    if (loc !== 'start' && loc !== 'end') throw new MetadataError(`${field}.index_location`, `must be "start" or "end", got ${JSON.stringify(loc)}`);
    if (!Array.isArray(config.codecs)) throw new MetadataError(`${field}.codecs`, 'must be a list of codecs');
    const innerCodecs = config.codecs as CodecJSON[];
    const indexCodecs = (config.index_codecs as CodecJSON[] | undefined) ?? DEFAULT_INDEX_CODECS;
    if (!Array.isArray(indexCodecs)) throw new MetadataError(`${field}.index_codecs`, 'must be a list of codecs');
    const inner = await CodecChain.create(innerCodecs, { ...spec, shape: chunkShape as number[] }, `${field}.codecs`);
    const indexSpec: ChunkSpec = { dtype: 'uint64', shape: [...cps, 2], fillValue: EMPTY };
    const index = await CodecChain.create(indexCodecs, indexSpec, `${field}.index_codecs`);
    const indexSize = index.fixedEncodedSize(product(cps) * 16);
    if (indexSize === undefined) {
      throw new MetadataError(`${field}.index_codecs`, 'index codecs must have a fixed encoded size (bytes, crc32c)');
    }
    return new ShardFormat(spec.shape, chunkShape as number[], cps, innerCodecs, inner, indexCodecs, index, loc, indexSize);
  }

  /** Decodes an encoded index into a flat C-order [offset, nbytes] array of 2 * numChunks. */
  async decodeIndex(bytes: Uint8Array, key: string): Promise<BigUint64Array> {
    if (bytes.byteLength !== this.indexSize) {
      throw new CorruptionError(key, `shard index is ${bytes.byteLength} bytes, expected ${this.indexSize}`);
    }
    const arr = toCOrder(await this.index.decode(bytes, { key: `${key} (shard index)` }));
    return arr.data as BigUint64Array;
  }

  async encodeIndex(entries: BigUint64Array): Promise<Uint8Array> {
    return this.index.encode(new NdArray('uint64', entries, [...this.chunksPerShard, 2]));
  }

  /**
   * Parses a whole shard's index and checks every entry lies within the shard's data region.
   * Returns the entries (flat [offset, nbytes] pairs).
   */
  async parseShard(shard: Uint8Array, key: string): Promise<BigUint64Array> {
    if (shard.byteLength < this.indexSize) {
      throw new CorruptionError(key, `shard is ${shard.byteLength} bytes, smaller than its ${this.indexSize}-byte index`);
    }
    const indexBytes = this.indexLocation === 'start' ? shard.subarray(0, this.indexSize) : shard.subarray(shard.byteLength - this.indexSize);
    const entries = await this.decodeIndex(indexBytes, key);
    this.checkEntries(entries, shard.byteLength, key);
    return entries;
  }

  /** Throws CorruptionError for an entry outside [dataStart, dataEnd) of a shard of `size` bytes. */
  checkEntries(entries: BigUint64Array, size: number | undefined, key: string): void {
    const lo = this.indexLocation === 'start' ? this.indexSize : 0;
    const hi = size === undefined ? Number.MAX_SAFE_INTEGER : this.indexLocation === 'end' ? size - this.indexSize : size;
    for (let i = 0; i < entries.length; i += 2) {
      const off = entries[i]!;
      const n = entries[i + 1]!;
      if (off === EMPTY && n === EMPTY) continue;
      if (off + n > BigInt(hi) || off < BigInt(lo)) {
        throw new CorruptionError(key, `shard index entry ${i / 2} points at bytes [${off}, ${off + n}), outside the shard's data region [${lo}, ${hi})`);
      }
    }
  }

  /** Assembles a shard from encoded inner chunks (by C-order local index); undefined = empty. */
  async assemble(chunks: readonly (Uint8Array | undefined)[]): Promise<Uint8Array> {
    const entries = new BigUint64Array(this.numChunks * 2).fill(EMPTY);
    let dataBytes = 0;
    for (const c of chunks) if (c) dataBytes += c.byteLength;
    const out = new Uint8Array(dataBytes + this.indexSize);
    let pos = this.indexLocation === 'start' ? this.indexSize : 0;
    for (let i = 0; i < this.numChunks; i++) {
      const c = chunks[i];
      if (!c) continue;
      out.set(c, pos);
      entries[2 * i] = BigInt(pos);
      entries[2 * i + 1] = BigInt(c.byteLength);
      pos += c.byteLength;
    }
    const index = await this.encodeIndex(entries);
    out.set(index, this.indexLocation === 'start' ? 0 : dataBytes);
    return out;
  }

  /** Local C-order index of an inner chunk within its shard, and the shard position. */
  locate(chunk: readonly number[]): { shard: number[]; local: number } {
    const shard: number[] = [];
    let local = 0;
    for (let d = 0; d < chunk.length; d++) {
      const c = this.chunksPerShard[d]!;
      shard.push(Math.floor(chunk[d]! / c));
      local = local * c + (chunk[d]! - shard[d]! * c);
    }
    return { shard, local };
  }
}

/**
 * The whole-shard codec: encodes/decodes a shard-shaped array in one go. The I/O planner does
 * not use it for reads (it goes through the sharded store adapter to fetch only the inner
 * chunks it needs); it serves callers that hold whole shard bytes.
 */
export class ShardingCodec implements ArrayBytesCodec {
  readonly kind = 'array-bytes';
  readonly name = 'sharding_indexed';
  constructor(readonly format: ShardFormat, private readonly spec: ChunkSpec) {}

  async encode(a: NdArray, spec: ChunkSpec, ctx?: CodecContext): Promise<Uint8Array> {
    const f = this.format;
    const size = dtypeSize(spec.dtype);
    const parts: (NdArray | undefined)[] = [];
    const cStr = cOrderStrides(f.chunkShape).map((s) => s * size);
    for (const pos of shapePositions(f.chunksPerShard)) {
      const part = NdArray.zeros(spec.dtype, f.chunkShape);
      const off = pos.reduce((s, p, d) => s + p * f.chunkShape[d]! * a.strides[d]!, a.offset);
      copyStrided(bytesOf(part.data), 0, cStr, bytesOf(a.data), off * size, a.strides.map((s) => s * size), f.chunkShape, size);
      parts.push(isAllFill(part, spec.fillValue) ? undefined : part);
    }
    const encoded: (Uint8Array | undefined)[] = [];
    for (const p of parts) encoded.push(p ? await f.inner.encode(p, ctx) : undefined);
    return f.assemble(encoded);
  }

  async decode(b: Uint8Array, spec: ChunkSpec, ctx?: CodecContext): Promise<NdArray> {
    const f = this.format;
    const key = ctx?.key ?? '?';
    const entries = await f.parseShard(b, key);
    const out = NdArray.zeros(spec.dtype, spec.shape, spec.fillValue);
    const size = dtypeSize(spec.dtype);
    let i = 0;
    const jobs: Promise<void>[] = [];
    for (const p of shapePositions(f.chunksPerShard)) {
      const off = entries[2 * i]!;
      const n = entries[2 * i + 1]!;
      i++;
      if (off === EMPTY && n === EMPTY) continue;
      jobs.push(
        f.inner.decode(b.subarray(Number(off), Number(off + n)), { ...ctx, key: `${key}[${p}]` }).then((c) => {
          const dOff = p.reduce((s, q, d) => s + q * f.chunkShape[d]! * out.strides[d]!, 0);
          copyStrided(bytesOf(out.data), dOff * size, out.strides.map((s) => s * size), bytesOf(c.data), c.offset * size, c.strides.map((s) => s * size), f.chunkShape, size);
        }),
      );
    }
    await Promise.all(jobs);
    return out;
  }

  /** Every inner chunk at its chain's decoded-size bound, plus the index. */
  maxEncodedSize(): number {
    return this.format.numChunks * this.format.inner.maxDecodedBytes + this.format.indexSize;
  }

  toJSON(): CodecJSON {
    const f = this.format;
    return {
      name: 'sharding_indexed',
      configuration: { chunk_shape: [...f.chunkShape], codecs: f.innerCodecs, index_codecs: f.indexCodecs, index_location: f.indexLocation },
    };
  }
}

export const factory: CodecFactory = async (config, spec) => new ShardingCodec(await ShardFormat.create(config, spec), spec);

/**
 * Registers `sharding_indexed` (the whole-shard codec) in the one codec registry, so codec chains
 * may nest shards. Explicit and idempotent; the zarr3 driver calls it before building chains.
 */
export function registerShardingCodec(): void {
  if (!isCodecRegistered('sharding_indexed')) registerCodec('sharding_indexed', async () => factory);
}

