import type { DataType, Scalar } from '../array/dtype.js';
import type { LocalFile } from '../kvstore/kvstore.js';
import type { NdArray } from '../array/ndarray.js';
import type { ChunkPlacement } from '../array/place.js';
import { UnsupportedError } from '../errors.js';
import type { RequestPriority } from '../util/limiter.js';

/**
 * One codec registry serves every format. A zarr v2 compressor or filter, a zarr v3 codec, an
 * N5 compression and a precomputed encoding are all codecs here, created from a canonical JSON
 * `{name, configuration}` (zarr v3 style). Format drivers translate their own metadata to the
 * canonical form; codecs never see format-specific JSON.
 *
 * Canonical names and configurations:
 * - array -> array: `transpose{order: number[]}`, `delta{dtype}`,
 *   `fixedscaleoffset{offset, scale, dtype, astype}`, `bitround{keepbits}` (decode = identity)
 * - array -> bytes: `bytes{endian: 'little'|'big'}`, `sharding_indexed{...}`,
 *   `compressed_segmentation{block_size}`, `jpeg{quality}`, `png{level}`
 * - bytes -> bytes: `gzip{level}`, `zlib{level}`, `bz2{level}`, `lz4{acceleration}`,
 *   `zstd{level, checksum}`, `blosc{cname, clevel, shuffle: 'noshuffle'|'shuffle'|'bitshuffle',
 *   typesize, blocksize}`, `xz{preset}`, `crc32c`, `shuffle{elementsize}`
 */
export interface CodecJSON {
  name: string;
  configuration?: Record<string, unknown>;
}

/** What a codec in a chain sees as its decoded representation. */
export interface ChunkSpec {
  dtype: DataType;
  shape: readonly number[];
  fillValue: Scalar;
}

export interface CodecContext {
  /** For messages: the key (or key prefix) of the chunk being coded. */
  key?: string;
  signal?: AbortSignal;
  /**
   * Decoding only: the most bytes a bytes->bytes decoder may produce. Set by CodecChain.decode
   * from the chunk's known raw size (see `decodedBytesBound` in `src/limits.ts`); a decoder
   * whose output would exceed it stops and throws CorruptionError naming the key and the limit,
   * so a decompression bomb never inflates. Undefined = no bound (callers outside a chain).
   */
  maxDecodedBytes?: number;
  /**
   * Where a whole chain's decode/encode may run instead of the calling thread (a worker pool,
   * `src/workers`). `CodecChain` offers it every chunk; the runner takes the ones worth moving
   * and declines the rest (which then run inline). Never set inside a worker, so work a worker
   * runs never waits for the pool (no deadlock).
   */
  runner?: ChainRunner;
  /**
   * Decoding only: reusable buffers the chain's decoders may write their outputs into, instead
   * of fresh allocations (whose first touch costs page faults on every chunk). Set only where
   * the decoded chunk is consumed before the next decode with the same scratch (a codec worker
   * placing chunks into a read's result); the chain hands each codec its own buffer through
   * {@link CodecContext.output}.
   */
  scratch?: ScratchBuffers;
  /**
   * Set by CodecChain for one codec from `scratch`: a buffer of exactly `bytes` bytes (8-byte
   * aligned, contents undefined) this codec may return its output in, or undefined (allocate).
   * Valid until the next decode with the same scratch.
   */
  output?: (bytes: number) => Uint8Array | undefined;
  /**
   * Decoding only: the chunk's dims in the memory order its consumer will copy them in,
   * outermost first (see `placementOrder` in `src/array/place.ts`). A decoder that writes
   * elements one at a time (compressed_segmentation) may lay its output out in that order, so
   * the copy into a read's result moves whole rows instead of transposing; the strides of the
   * array it returns are authoritative either way.
   */
  order?: readonly number[];
  /**
   * Decoding only: the priority of the load this decode serves ('prefetch' until a demand read
   * joins it, then raised). A runner (the codec worker pool) never lets prefetch decodes occupy
   * every worker, so a demand read's chunks start decoding at once.
   */
  priority?: RequestPriority;
  /**
   * Decoding only: the chunk's consumer reads only its first `neededBytes` decoded bytes (a
   * prefix of whole slabs, see `CodecChain.neededBytes`). A bytes->bytes decoder that can stop
   * early (zstd with native libzstd) may then return a buffer of the FULL decoded length of
   * which only that prefix holds data (the rest is undefined); one that cannot ignores it.
   * `CodecChain` sets it for its last decoder only, on chains whose decoded bytes are the chunk
   * in C order, and hands the consumer a chunk cropped to the prefix; nothing else sets it
   * (callers of `CodecChain.decodeInline` pass it there, never to a codec directly).
   */
  neededBytes?: number;
}

/**
 * Reusable decode buffers, one per slot (a chain gives each of its codecs a slot), grown as
 * needed and kept. Outputs over {@link ScratchBuffers.MAX_BYTES} are not served (the codec
 * allocates), so a huge chunk never pins its size in a worker.
 */
export class ScratchBuffers {
  /** Largest output served from scratch, bytes (64 MiB). */
  static readonly MAX_BYTES = 64 * 1024 * 1024;
  private readonly buffers: Uint8Array[] = [];

  /** `bytes` bytes of slot `slot`'s buffer (offset 0), or undefined when too big. */
  get(slot: number, bytes: number): Uint8Array | undefined {
    if (bytes > ScratchBuffers.MAX_BYTES) return undefined;
    let b = this.buffers[slot];
    if (!b || b.length < bytes) this.buffers[slot] = b = new Uint8Array(Math.max(bytes, Math.min(2 * (b?.length ?? 0), ScratchBuffers.MAX_BYTES)));
    return b.subarray(0, bytes);
  }

  /** Bytes held. */
  get bytes(): number {
    return this.buffers.reduce((n, b) => n + (b?.length ?? 0), 0);
  }
}

/**
 * Scratch sets for decodes on the calling thread whose chunk is placed and dropped
 * (`CodecChain.decodeInto` without `keep`): each decode in flight takes a set of its own (decodes
 * interleave at every await) and gives it back once the chunk is placed. Fresh buffers per chunk
 * cost page faults and garbage collections: with them, decoding and placing a 64^3 zstd chunk
 * took 1.25-1.4x as long here.
 * Sets given back are kept up to {@link ScratchPool.KEEP_BYTES} in all; the rest are dropped.
 */
export class ScratchPool {
  /** Bytes of idle scratch kept for reuse (32 MiB). */
  static readonly KEEP_BYTES = 32 * 1024 * 1024;
  private readonly idle: ScratchBuffers[] = [];
  private idleBytes = 0;

  take(): ScratchBuffers {
    const s = this.idle.pop();
    if (s) this.idleBytes -= s.bytes;
    return s ?? new ScratchBuffers();
  }

  give(s: ScratchBuffers): void {
    const n = s.bytes;
    if (this.idleBytes + n > ScratchPool.KEEP_BYTES) return;
    this.idle.push(s);
    this.idleBytes += n;
  }

  /** Bytes of idle scratch held. */
  get bytes(): number {
    return this.idleBytes;
  }
}

/**
 * Where {@link ChainRunner.decodeInto} / `CodecChain.decodeInto` put a decoded chunk: a strided
 * box of a read's result.
 */
export interface DecodeTarget {
  /**
   * The result's bytes. A worker writes them itself only when they are shared memory (a
   * SharedArrayBuffer); otherwise the decoded chunk comes back and is placed on this thread.
   */
  dst: Uint8Array;
  placement: ChunkPlacement;
  /** Also return the decoded chunk (to cache it); else decodeInto resolves to undefined. */
  keep?: boolean;
  /**
   * `dst` was just allocated for this read (its pages not touched yet): writing it first costs
   * page faults, worth doing on a worker's core even when the chunk needs no decoding.
   */
  fresh?: boolean;
}

/** What a {@link ChainRunner} needs of a codec chain (CodecChain implements it). */
export interface RunnableChain {
  /** The decoded representation (dtype, shape, fill value). */
  readonly spec: ChunkSpec;
  /** The canonical codec JSON (a worker rebuilds the chain from it). */
  toJSON(): CodecJSON[];
  /** Whether decoding is more than a copy (a compressor, a transpose, an array->bytes codec other than `bytes`). */
  readonly costly: boolean;
  /** Runs the chain on the calling thread, ignoring any runner. */
  decodeInline(b: Uint8Array, ctx?: CodecContext): Promise<NdArray>;
  /**
   * Decodes and places one chunk (through `ctx.runner` when it takes it, else on the calling
   * thread with the placement's order and prefix hints); see CodecChain.decodeInto.
   */
  decodeInto(b: Uint8Array, ctx: CodecContext | undefined, target: DecodeTarget): Promise<NdArray | undefined>;
  encodeInline(a: NdArray, ctx?: CodecContext): Promise<Uint8Array>;
}

/**
 * Runs whole-chain decodes/encodes elsewhere (a worker pool). Each method returns undefined to
 * decline (the caller runs the chain inline), or the result's promise. The promise rejects with
 * the same typed errors the inline path throws (plus WorkerCrashError when a worker dies).
 */
export interface ChainRunner {
  decode(chain: RunnableChain, b: Uint8Array, ctx: CodecContext): Promise<NdArray> | undefined;
  encode(chain: RunnableChain, a: NdArray, ctx: CodecContext): Promise<Uint8Array> | undefined;
  /**
   * Decodes and places the chunk into `target` (see {@link DecodeTarget}); resolves to the
   * decoded chunk when `target.keep`, else undefined. Settles only once nothing it started can
   * still write into `target.dst` (also when it rejects with AbortError), so a caller may reuse
   * the buffer as soon as it settles. Undefined: declined (the caller decodes and places).
   */
  decodeInto?(chain: RunnableChain, b: Uint8Array, ctx: CodecContext, target: DecodeTarget): Promise<NdArray | undefined> | undefined;
  /**
   * Reads a chunk's stored bytes from a local file itself (`file`, see KvStore.localFile: a
   * worker opens and reads it), decodes and places the chunk into `target`, in one task: the
   * calling thread neither reads the file nor handles its bytes. Only for a shared-memory target
   * that keeps nothing. Resolves 'placed', or 'missing' when there is no such regular file
   * (nothing written), or undefined when the caller must read the chunk itself after all (the
   * runner handed the task back, or the file no longer has `file.generation`); rejects with
   * KvStoreError (naming `ctx.key`) when the file cannot be read, and as decodeInto does
   * otherwise. Undefined: declined.
   */
  decodeFileInto?(chain: RunnableChain, file: LocalFile, ctx: CodecContext, target: DecodeTarget): Promise<'placed' | 'missing' | undefined> | undefined;
  /**
   * Whether a read of `chain` chunks with a result of `bytes` should allocate the result in
   * shared memory, for decodeInto (or, with `fileReads`, decodeFileInto: the chunks lie in local
   * files) to write directly (absent: never).
   */
  wantsSharedResult?(chain: RunnableChain, bytes: number, fileReads?: boolean): boolean;
  /**
   * Like encode, but resolves to null (nothing encoded) when the array equals the chain's fill
   * value everywhere, checked in the worker (the array is scanned where it is gathered anyway).
   */
  encodeUnlessFill?(chain: RunnableChain, a: NdArray, ctx: CodecContext): Promise<Uint8Array | null> | undefined;
}

export interface ArrayArrayCodec {
  readonly kind: 'array-array';
  readonly name: string;
  /** The representation this codec produces from `input` on encode. */
  resolve(input: ChunkSpec): ChunkSpec;
  encode(a: NdArray, input: ChunkSpec, ctx?: CodecContext): NdArray | Promise<NdArray>;
  /** `a` has the representation `resolve(input)`; returns one with `input`'s. */
  decode(a: NdArray, input: ChunkSpec, ctx?: CodecContext): NdArray | Promise<NdArray>;
  toJSON(): CodecJSON;
}

export interface ArrayBytesCodec {
  readonly kind: 'array-bytes';
  readonly name: string;
  encode(a: NdArray, spec: ChunkSpec, ctx?: CodecContext): Uint8Array | Promise<Uint8Array>;
  /** Returns an array of exactly `spec.shape` and `spec.dtype`. */
  decode(b: Uint8Array, spec: ChunkSpec, ctx?: CodecContext): NdArray | Promise<NdArray>;
  /** Whether decode lays its output out in `CodecContext.order` when given one (see there). */
  readonly honorsOrder?: boolean;
  /**
   * An upper bound of the encoded size of a `spec` array (what the bytes->bytes decoders after
   * this codec may produce). Absent: the chain assumes 4 x the raw size + 64 KiB.
   */
  maxEncodedSize?(spec: ChunkSpec): number;
  toJSON(): CodecJSON;
}

export interface BytesBytesCodec {
  readonly kind: 'bytes-bytes';
  readonly name: string;
  encode(b: Uint8Array, ctx?: CodecContext): Uint8Array | Promise<Uint8Array>;
  decode(b: Uint8Array, ctx?: CodecContext): Uint8Array | Promise<Uint8Array>;
  /**
   * Whether decode honours `CodecContext.neededBytes` (may stop after a prefix of its output,
   * returning a buffer of the full length whose rest is undefined). Absent: decodes whole.
   */
  readonly decodesPrefix?: boolean;
  /** Encoded size for a given decoded size when it is fixed (crc32c: +4), else undefined. */
  encodedSize?(decodedSize: number): number | undefined;
  toJSON(): CodecJSON;
}

export type Codec = ArrayArrayCodec | ArrayBytesCodec | BytesBytesCodec;

/**
 * Creates a codec from its canonical JSON. `spec` is the decoded representation the codec
 * will see (array codecs need it; bytes codecs may use `spec.dtype` for defaults such as
 * blosc's typesize).
 */
export type CodecFactory = (configuration: Record<string, unknown>, spec: ChunkSpec) => Codec | Promise<Codec>;

const FACTORIES = new Map<string, () => Promise<CodecFactory>>();

/**
 * Registers a codec loader. Loaders are dynamic imports, so a browser bundle pulls in only the
 * codecs it uses. Registration is explicit (see `registry.ts`), never an import side effect.
 */
export function registerCodec(name: string, load: () => Promise<CodecFactory>): void {
  FACTORIES.set(name, load);
}

export function isCodecRegistered(name: string): boolean {
  return FACTORIES.has(name);
}

/** Creates a codec from canonical JSON; throws UnsupportedError naming an unknown codec. */
export async function createCodec(json: CodecJSON, spec: ChunkSpec): Promise<Codec> {
  const load = FACTORIES.get(json.name);
  if (!load) throw new UnsupportedError(`unsupported codec "${json.name}"`);
  const factory = await load();
  return factory(json.configuration ?? {}, spec);
}
