import { dtypeSize, type TypedArray } from '../array/dtype.js';
import { isAllFill, NdArray, product } from '../array/ndarray.js';
import { type ChunkPlacement, placeChunk, placementOrder, placementPrefix } from '../array/place.js';
import { MetadataError, VolstoreError } from '../errors.js';
import { decodedBytesBound } from '../limits.js';
import type { ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec, ChunkSpec, CodecContext, CodecJSON, DecodeTarget, RunnableChain } from './codec.js';
import { createCodec, ScratchPool } from './codec.js';
import { registerBuiltinCodecs } from './registry.js';

/**
 * A validated codec pipeline: array->array*, exactly one array->bytes, bytes->bytes*.
 * Built from canonical codec JSON by every format driver. `decode`/`encode` offer the whole
 * chunk to `ctx.runner` (a worker pool) first; without one, or when it declines, they run on the
 * calling thread.
 */
export class CodecChain implements RunnableChain {
  private constructor(
    readonly spec: ChunkSpec,
    private readonly arrayArray: { codec: ArrayArrayCodec; input: ChunkSpec }[],
    readonly arrayBytes: { codec: ArrayBytesCodec; input: ChunkSpec },
    private readonly bytesBytes: BytesBytesCodec[],
  ) {}

  /** `field` names where the codecs came from, for errors (e.g. `.zarray compressor`). */
  static async create(codecs: readonly CodecJSON[], spec: ChunkSpec, field = 'codecs'): Promise<CodecChain> {
    registerBuiltinCodecs();
    const aa: { codec: ArrayArrayCodec; input: ChunkSpec }[] = [];
    let ab: { codec: ArrayBytesCodec; input: ChunkSpec } | undefined;
    const bb: BytesBytesCodec[] = [];
    let cur = spec;
    for (const [i, json] of codecs.entries()) {
      let codec;
      try {
        codec = await createCodec(json, cur);
      } catch (e) {
        if (e instanceof VolstoreError) throw e;
        throw new MetadataError(`${field}[${i}]`, `invalid codec ${JSON.stringify(json)}: ${(e as Error).message}`, { cause: e });
      }
      if (codec.kind === 'array-array') {
        if (ab) throw new MetadataError(`${field}[${i}]`, `array->array codec "${codec.name}" after the array->bytes codec`);
        aa.push({ codec, input: cur });
        cur = codec.resolve(cur);
      } else if (codec.kind === 'array-bytes') {
        if (ab) throw new MetadataError(`${field}[${i}]`, `second array->bytes codec "${codec.name}" (only one allowed)`);
        ab = { codec, input: cur };
      } else {
        if (!ab) throw new MetadataError(`${field}[${i}]`, `bytes->bytes codec "${codec.name}" before the array->bytes codec`);
        bb.push(codec);
      }
    }
    if (!ab) throw new MetadataError(field, 'no array->bytes codec (e.g. "bytes")');
    return new CodecChain(spec, aa, ab, bb);
  }

  /**
   * Whether coding a chunk is more than a copy: any array->array codec, an array->bytes codec
   * other than `bytes`, or a bytes->bytes codec other than `crc32c`. Only such chains are worth
   * a trip to a worker.
   */
  get costly(): boolean {
    return (
      this.arrayArray.length > 0 ||
      this.arrayBytes.codec.name !== 'bytes' ||
      this.bytesBytes.some((c) => c.name !== 'crc32c')
    );
  }

  /**
   * Whether the stored bytes ARE the chunk: a lone `bytes` codec in little-endian (or
   * single-byte) order, nothing before or after it (no checksum, no compression). Then a byte
   * range of a stored chunk is a run of whole planes of its first dimension.
   */
  get plain(): boolean {
    const ab = this.arrayBytes.codec as ArrayBytesCodec & { endian?: string };
    return (
      this.arrayArray.length === 0 && this.bytesBytes.length === 0 && ab.name === 'bytes' &&
      (ab.endian !== 'big' || dtypeSize(this.spec.dtype) === 1)
    );
  }

  /** Encodes one chunk: through `ctx.runner` when it takes it, else {@link encodeInline}. */
  encode(a: NdArray, ctx?: CodecContext): Promise<Uint8Array> {
    const pooled = ctx?.runner?.encode(this, a, ctx);
    return pooled ?? this.encodeInline(a, ctx);
  }

  /**
   * Encodes one chunk unless it equals the fill value everywhere (then null: store nothing),
   * through `ctx.runner` when it takes it (the worker checks), else here.
   */
  async encodeUnlessFill(a: NdArray, ctx?: CodecContext): Promise<Uint8Array | null> {
    const pooled = ctx?.runner?.encodeUnlessFill?.(this, a, ctx);
    if (pooled) return pooled;
    if (isAllFill(a, this.spec.fillValue)) return null;
    return this.encodeInline(a, ctx);
  }

  /** Encodes one chunk on the calling thread (nested chains may still use `ctx.runner`). */
  async encodeInline(a: NdArray, ctx?: CodecContext): Promise<Uint8Array> {
    for (const { codec, input } of this.arrayArray) a = await codec.encode(a, input, ctx);
    let b = await this.arrayBytes.codec.encode(a, this.arrayBytes.input, ctx);
    for (const codec of this.bytesBytes) b = await codec.encode(b, ctx);
    return b;
  }

  /**
   * The most bytes any bytes->bytes decoder of this chain may produce for one chunk: a generous
   * bound over what the array->bytes codec can have encoded (exactly the raw size for `bytes`).
   */
  get maxDecodedBytes(): number {
    const { codec, input } = this.arrayBytes;
    const encoded = codec.maxEncodedSize?.(input) ?? maxEncodedSizeDefault(input);
    return decodedBytesBound(encoded);
  }

  /** Decodes one chunk: through `ctx.runner` when it takes it, else {@link decodeInline}. */
  decode(b: Uint8Array, ctx?: CodecContext): Promise<NdArray> {
    const pooled = ctx?.runner?.decode(this, b, ctx);
    return pooled ?? this.decodeInline(b, ctx);
  }

  /**
   * Decodes one chunk and copies the part `target.placement` selects into `target.dst`: in a
   * worker of `ctx.runner` when it takes the chunk (writing the result directly when it is
   * shared memory), else here. Resolves to the decoded chunk when `target.keep`. A worker's
   * write into `target.dst` is over when the promise settles (also on abort).
   */
  async decodeInto(b: Uint8Array, ctx: CodecContext | undefined, target: DecodeTarget): Promise<NdArray | undefined> {
    const pooled = ctx?.runner?.decodeInto?.(this, b, ctx, target);
    if (pooled) return pooled;
    const keep = target.keep === true;
    const hints = this.placementHints(target.placement, keep);
    if (keep) {
      const a = await this.decodeInline(b, hints.order || hints.neededBytes !== undefined ? { ...ctx, ...hints } : ctx);
      placeChunk(target.dst, target.placement, a);
      return a;
    }
    // a chunk only placed decodes into reused scratch (ctx.scratch), its own while in flight
    const scratch = inlineScratch.take();
    try {
      placeChunk(target.dst, target.placement, await this.decodeInline(b, { ...ctx, ...hints, scratch }));
    } finally {
      inlineScratch.give(scratch);
    }
    return undefined;
  }

  /**
   * What decoding a chunk for placement `p` may use (CodecContext fields): the memory order the
   * copy will walk (`order`, for chains that honour it) and the bytes it reads (`neededBytes`).
   * A chunk that is also kept (cached) must be whole: no `neededBytes` then.
   */
  placementHints(p: ChunkPlacement, keep: boolean): { order?: readonly number[]; neededBytes?: number } {
    return { order: this.honorsOrder ? placementOrder(p) : undefined, neededBytes: keep ? undefined : this.neededBytes(p) };
  }

  /**
   * Whether this chain can decode a prefix of a chunk (see CodecContext.neededBytes): no
   * array->array codec, a `bytes` codec that does not swap (so the decoded bytes are the chunk
   * in C order), and one bytes->bytes codec that can stop early (zstd).
   */
  get prefixDecodable(): boolean {
    const ab = this.arrayBytes.codec as ArrayBytesCodec & { endian?: string };
    return (
      this.arrayArray.length === 0 && ab.name === 'bytes' && (ab.endian !== 'big' || dtypeSize(this.spec.dtype) === 1) &&
      this.bytesBytes.length === 1 && this.bytesBytes[0]!.decodesPrefix === true
    );
  }

  /**
   * The decoded bytes of one chunk a placement needs, when this chain can decode a prefix
   * ({@link prefixDecodable}) and the placement reads less than every slab of the chunk's first
   * dimension of extent above 1 (see `placementPrefix`): the bytes of the slabs up to the last
   * one it takes. Undefined: decode the chunk whole. Pass it as `CodecContext.neededBytes` to
   * {@link decodeInline} (the codec worker does, from a task's placement).
   */
  neededBytes(p: ChunkPlacement): number | undefined {
    if (!this.prefixDecodable) return undefined;
    const prefix = placementPrefix(p, this.spec.shape);
    return prefix && prefix.count * this.slabBytes(prefix.dim);
  }

  /** Bytes of one slab of the chunk along `dim` (every dimension after it, whole). */
  private slabBytes(dim: number): number {
    return product(this.spec.shape.slice(dim + 1)) * dtypeSize(this.spec.dtype);
  }

  /**
   * Decodes one chunk on the calling thread (nested chains may still use `ctx.runner`). With
   * `ctx.scratch`, each codec may write its output into a reusable buffer of its own (slots:
   * 0 the array->bytes codec, 1.. the bytes->bytes codecs, then the array->array codecs), so
   * the result is valid only until the next decode with that scratch.
   *
   * With `ctx.neededBytes` (from {@link neededBytes}) on a {@link prefixDecodable} chain, the
   * decoder may stop after that many bytes, and the result is the chunk CROPPED to its leading
   * slabs holding them (a shorter first dimension of extent above 1): for placing, never for
   * keeping. Elsewhere the hint is ignored and the chunk decoded whole.
   */
  async decodeInline(b: Uint8Array, ctx?: CodecContext): Promise<NdArray> {
    const scratch = ctx?.scratch;
    const outputOf = (slot: number) => (scratch ? (n: number) => scratch.get(slot, n) : undefined);
    const needed = ctx?.neededBytes !== undefined && this.prefixDecodable ? ctx.neededBytes : undefined;
    // codecs see their own output buffer, never the scratch (a nested chain, the whole-shard
    // codec, must not reuse the buffers its caller's result lives in); the prefix hint goes to
    // the one decoder that may use it, never to a nested chain
    if (scratch || ctx?.neededBytes !== undefined) ctx = { ...ctx, scratch: undefined, neededBytes: undefined };
    if (this.bytesBytes.length) {
      const limit = Math.min(this.maxDecodedBytes, ctx?.maxDecodedBytes ?? Infinity);
      for (let i = this.bytesBytes.length - 1; i >= 0; i--) {
        b = await this.bytesBytes[i]!.decode(b, { ...ctx, maxDecodedBytes: limit, output: outputOf(1 + i), order: undefined, neededBytes: i === 0 ? needed : undefined });
      }
    }
    // a preferred layout applies to the array->bytes codec's output only when nothing reorders it after
    const order = this.arrayArray.length ? undefined : ctx?.order;
    let a = await this.arrayBytes.codec.decode(b, this.arrayBytes.input, { ...ctx, maxDecodedBytes: undefined, output: outputOf(0), order });
    // only the prefix may hold data: hand out just the slabs in it, so nothing can read past it
    if (needed !== undefined) a = this.cropToPrefix(a, needed);
    for (let i = this.arrayArray.length - 1; i >= 0; i--) {
      const { codec, input } = this.arrayArray[i]!;
      a = await codec.decode(a, input, { ...ctx, output: outputOf(1 + this.bytesBytes.length + i), order: undefined });
    }
    return a;
  }

  /**
   * `a` (a C-order chunk as the `bytes` codec returns it) cut to the leading slabs holding its
   * first `needed` bytes, along its first dimension of extent above 1.
   */
  private cropToPrefix(a: NdArray, needed: number): NdArray {
    const dim = a.shape.findIndex((n) => n > 1);
    if (dim < 0) return a;
    const count = Math.min(a.shape[dim]!, Math.ceil(needed / this.slabBytes(dim)));
    const shape = a.shape.map((n, k) => (k === dim ? count : n));
    const data = (a.data as TypedArray).subarray(a.offset, a.offset + product(shape));
    return new NdArray(a.dtype, data as never, shape);
  }

  /**
   * Whether decoding lays the chunk out in a given order (`CodecContext.order`): the array->bytes
   * codec does and no array->array codec reorders its output after.
   */
  get honorsOrder(): boolean {
    return this.arrayArray.length === 0 && this.arrayBytes.codec.honorsOrder === true;
  }

  /** The encoded size when every codec has a fixed size (e.g. a shard index), else undefined. */
  fixedEncodedSize(decodedBytes: number): number | undefined {
    let n = decodedBytes;
    for (const c of this.bytesBytes) {
      const m = c.encodedSize?.(n);
      if (m === undefined) return undefined;
      n = m;
    }
    return n;
  }

  get arrayArrayCodecs(): readonly ArrayArrayCodec[] {
    return this.arrayArray.map((x) => x.codec);
  }

  get bytesBytesCodecs(): readonly BytesBytesCodec[] {
    return this.bytesBytes;
  }

  toJSON(): CodecJSON[] {
    return [...this.arrayArray.map((x) => x.codec.toJSON()), this.arrayBytes.codec.toJSON(), ...this.bytesBytes.map((c) => c.toJSON())];
  }
}

/** Scratch for chunks decoded on this thread and only placed (see decodeInto). */
const inlineScratch = new ScratchPool();

/** For array->bytes codecs without their own bound (jpeg, png): 4 x raw + 64 KiB. */
function maxEncodedSizeDefault(spec: { dtype: Parameters<typeof dtypeSize>[0]; shape: readonly number[] }): number {
  return 4 * product(spec.shape) * dtypeSize(spec.dtype) + 65536;
}
