import type { BytesBytesCodec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { corrupt, guardDecode, guardEncode, intOption, limitOf, readU32LE, tooLarge, unsupported } from './compression-util.js';
import { describeJson } from '../util/json.js';
import { nativeZstd } from './native.js';

/**
 * `zstd{level, checksum}`: under Node through native libzstd (`zstd-napi`, see `native.ts`),
 * elsewhere, or when that cannot load, through numcodecs' wasm zstd (loaded on first use). Both
 * decode one or more frames, with or without a content size in the header (streaming frames, as
 * the zstd CLI and some writers produce). `checksum: true` asks for a content checksum on encode,
 * which the wasm build cannot write: it throws UnsupportedError on both paths (so a spec behaves
 * the same in Node and in browsers); frames that carry one decode fine.
 */
export class ZstdCodec implements BytesBytesCodec {
  readonly kind = 'bytes-bytes';
  readonly name = 'zstd';
  /** Honours CodecContext.neededBytes (see {@link zstdDecodeFrames}). */
  readonly decodesPrefix = true;
  constructor(
    readonly level: number,
    readonly checksum: boolean,
  ) {}

  encode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardEncode('zstd', ctx, async () => {
      if (this.checksum) throw unsupported('zstd', 'writing frames with checksum: true is not supported');
      const native = await nativeZstd();
      if (native) return native.encode(b, this.level);
      return (await zstd(this.level)).encode(b);
    });
  }

  decode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardDecode('zstd', ctx, () => zstdDecodeFrames(b, ctx));
  }

  toJSON(): CodecJSON {
    return { name: 'zstd', configuration: { level: this.level, checksum: this.checksum } };
  }
}

/**
 * Decodes one or more zstd frames (skippable frames allowed). The frame and block headers are
 * walked first ({@link zstdDecodedBound}): a truncated or malformed structure, or more output
 * than `ctx.maxDecodedBytes`, throws CorruptionError before anything is decoded (the wasm
 * decoder cannot be stopped part way, and its heap never shrinks). Decoder failures are
 * CorruptionError too, and when every frame declares its content size the output must have
 * exactly that many bytes. The result is a fresh copy holding only bytes the decoder wrote.
 *
 * With `ctx.neededBytes` and native libzstd, a chunk whose frames all declare their size, carry
 * no checksum and hold several blocks is decoded only until that many bytes are out (see
 * {@link prefixWorthIt}): the result then has the declared length but only its first
 * `neededBytes` bytes hold data (CodecChain crops the chunk to them). Corruption in the part
 * decoded still throws CorruptionError; the blocks after it are not decoded.
 */
export async function zstdDecodeFrames(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
  if (b.length < 9 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) {
    throw corrupt('zstd', ctx, 'not a zstd frame (bad magic or too short)');
  }
  const claimed = frameContentSize(b);
  if (claimed !== undefined && claimed > 2 ** 31) throw corrupt('zstd', ctx, `frame header claims ${claimed} bytes`);
  const limit = limitOf(ctx);
  const needed = ctx?.neededBytes;
  const ends: number[] | undefined = needed !== undefined ? [] : undefined; // block ends, for a prefix decode
  const bound = zstdDecodedBound(b, ctx, ends);
  if (bound.exact > limit) throw tooLarge('zstd', ctx, `frame headers declare ${bound.exact} bytes, which`);
  const native = await nativeZstd();
  if (native && needed !== undefined && ends && prefixWorthIt(bound, needed)) {
    // Only a prefix is read: decode until it is out (the block holding its last byte), into a
    // buffer of the declared size. Nothing checks the rest of the frame; the headers were walked.
    let out: Uint8Array;
    try {
      out = native.decodePrefix(b, needed, bound.exact, ends, ctx?.output?.(bound.exact));
    } catch (e) {
      throw corrupt('zstd', ctx, e instanceof Error ? e.message : String(e), e);
    }
    counts.prefix++;
    counts.prefixBytes += needed;
    return out;
  }
  counts.whole++;
  const capacity = Math.min(bound.upper, limit);
  if (native && capacity <= NATIVE_MAX_CAPACITY) {
    // Decode into a buffer of the bounded size: libzstd stops with an error rather than write
    // past it, so the block headers' loose upper bound (which assumes full 128 KiB blocks)
    // need not reject anything up front.
    let out: Uint8Array;
    try {
      out = native.decode(b, capacity, ctx?.output?.(capacity));
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (bound.upper > limit && /too small/i.test(message)) throw tooLarge('zstd', ctx);
      throw corrupt('zstd', ctx, message, e);
    }
    if (bound.sized && out.length !== bound.exact) throw corrupt('zstd', ctx, `decoded ${out.length} bytes, the frame headers declare ${bound.exact}`);
    return out;
  }
  // The wasm decoder cannot be stopped part way (and its heap never shrinks): bound the output
  // from the frame and block headers before decoding anything.
  if (Number.isFinite(limit) && bound.upper > limit + BLOCK_MAX) throw tooLarge('zstd', ctx, `up to ${bound.upper} bytes (from the block headers)`);
  if (bound.upper > 2 ** 31) throw corrupt('zstd', ctx, `frames declare up to ${bound.upper} bytes`);
  let out: Uint8Array;
  try {
    out = await (await zstd(0)).decode(b);
  } catch (e) {
    throw corrupt('zstd', ctx, e instanceof Error ? e.message : String(e), e);
  }
  if (out.length > limit) throw tooLarge('zstd', ctx);
  if (bound.sized && out.length !== bound.exact) throw corrupt('zstd', ctx, `decoded ${out.length} bytes, the frame headers declare ${bound.exact}`);
  return out;
}

/**
 * Whether a decode of only the first `needed` bytes (CodecContext.neededBytes) is worth doing
 * and safe: every frame declares its content size (so the output length is known and checked
 * by the array->bytes codec), none carries a content checksum (a prefix cannot be verified),
 * the prefix may end before the last block (a decode stops only at a block's end: else the
 * whole frame is decoded anyway, and the one-shot API does that a little faster), and the
 * whole is at most {@link PREFIX_MAX_BYTES} (the streaming decoder buffers a window, up to the
 * frame's size, in the thread's context).
 */
function prefixWorthIt(bound: ZstdBound, needed: number): boolean {
  return bound.sized && !bound.checksum && needed > 0 && needed <= bound.beforeLastBlock && needed < bound.exact && bound.exact <= PREFIX_MAX_BYTES;
}

/** Largest chunk (decoded bytes) decoded only as far as needed: 64 MiB. */
const PREFIX_MAX_BYTES = 64 * 1024 * 1024;

const counts = { whole: 0, prefix: 0, prefixBytes: 0 };

/**
 * How zstd chunks were decoded on this thread since it started (not in codec workers): `whole`
 * decodes, `prefix` decodes that stopped after the bytes a read needed (CodecContext.neededBytes),
 * and the bytes those asked for. For tests and benchmarks; a copy.
 */
export function zstdDecodeCounts(): { whole: number; prefix: number; prefixBytes: number } {
  return { ...counts };
}

/** Frame_Content_Size of the first frame (RFC 8878 3.1.1.1), or undefined when absent. */
export function frameContentSize(b: Uint8Array): number | undefined {
  const fhd = b[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const didFlag = fhd & 3;
  if (fcsFlag === 0 && !single) return undefined;
  let p = 5 + (single ? 0 : 1) + [0, 1, 2, 4][didFlag]!;
  const n = fcsFlag === 0 ? 1 : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
  if (p + n > b.length) return undefined;
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + b[p + i]!;
  return n === 2 ? v + 256 : v;
}

/** Largest decoded size of one zstd block (RFC 8878 3.1.1.2.4). */
const BLOCK_MAX = 128 * 1024;

/**
 * The largest output buffer the native path allocates up front (2 GiB, MAX_CHUNK_BYTES); an
 * unbounded decode (no limit in the context) whose block headers allow more goes to WASM, which
 * grows its output as it goes.
 */
const NATIVE_MAX_CAPACITY = 2 ** 31;

/**
 * Bounds the decoded size of a sequence of zstd (and skippable) frames by walking the frame and
 * block headers, without decoding: `exact` sums the Frame_Content_Size of frames that declare
 * one (the decoder checks it) and the sizes of raw/RLE blocks of the others; `upper` adds
 * min(window, 128 KiB) per compressed block of frames without a content size. A valid encoder
 * fills its blocks, so `upper` overshoots the true size by less than one block per frame.
 * `sized` is true when the headers fix every frame's size (then the output is `exact` bytes).
 * `checksum` says whether any frame carries a content checksum; `blocks` counts the blocks.
 * With `blockEnds`, pushes the offset in `b` just past each block. Throws CorruptionError for
 * truncated or reserved structures.
 */
export function zstdDecodedBound(b: Uint8Array, ctx?: CodecContext, blockEnds?: number[]): ZstdBound {
  let exact = 0;
  let upper = 0;
  let sized = true;
  let anyChecksum = false;
  let blocks = 0;
  let blocksUpper = 0;
  let lastBlockUpper = 0;
  let p = 0;
  const need = (n: number, what: string): void => {
    if (p + n > b.length) throw corrupt('zstd', ctx, `truncated ${what} at byte ${p}`);
  };
  while (p < b.length) {
    need(4, 'frame magic');
    const magic = readU32LE(b, p);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      need(8, 'skippable frame');
      p += 8 + readU32LE(b, p + 4);
      if (p > b.length) throw corrupt('zstd', ctx, 'truncated skippable frame');
      continue;
    }
    if (magic !== 0xfd2fb528) throw corrupt('zstd', ctx, `bad frame magic 0x${magic.toString(16)} at byte ${p}`);
    p += 4;
    need(1, 'frame header');
    const fhd = b[p]!;
    const fcsFlag = fhd >> 6;
    const single = (fhd >> 5) & 1;
    const checksum = (fhd >> 2) & 1;
    if (fhd & 0x08) throw corrupt('zstd', ctx, 'reserved frame header bit set');
    const didBytes = [0, 1, 2, 4][fhd & 3]!;
    const fcsBytes = fcsFlag === 0 ? single : [0, 2, 4, 8][fcsFlag]!;
    need(1 + (single ? 0 : 1) + didBytes + fcsBytes, 'frame header');
    p += 1;
    let window = Infinity;
    if (!single) {
      const wd = b[p]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
      p += 1;
    }
    p += didBytes;
    let fcs: number | undefined;
    if (fcsBytes) {
      let v = 0;
      for (let i = fcsBytes - 1; i >= 0; i--) v = v * 256 + b[p + i]!;
      fcs = fcsBytes === 2 ? v + 256 : v;
      p += fcsBytes;
    }
    const blockMax = Math.min(window, fcs ?? Infinity, BLOCK_MAX);
    let frameExact = 0;
    let frameUpper = 0;
    for (let last = 0; !last; ) {
      need(3, 'block header');
      const h = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
      p += 3;
      last = h & 1;
      const type = (h >> 1) & 3;
      const size = h >>> 3;
      if (type === 3) throw corrupt('zstd', ctx, `reserved block type at byte ${p - 3}`);
      if (type === 0 || type === 2) need(size, 'block');
      else need(1, 'RLE block');
      p += type === 1 ? 1 : size;
      blocks++;
      lastBlockUpper = type === 2 ? blockMax : size;
      blocksUpper += lastBlockUpper;
      blockEnds?.push(p);
      if (type === 2) frameUpper += blockMax;
      else frameExact += size;
    }
    if (checksum) {
      need(4, 'content checksum');
      p += 4;
      anyChecksum = true;
    }
    if (fcs !== undefined) {
      exact += fcs;
      upper += fcs;
    } else {
      exact += frameExact;
      upper += frameExact + frameUpper;
      if (frameUpper > 0) sized = false;
    }
  }
  return { exact, upper, sized, checksum: anyChecksum, blocks, beforeLastBlock: blocksUpper - lastBlockUpper };
}

/** What {@link zstdDecodedBound} finds in the frame and block headers. */
export interface ZstdBound {
  /** Decoded bytes the headers fix (content sizes; raw/RLE blocks of frames without one). */
  exact: number;
  /** At most this many decoded bytes. */
  upper: number;
  /** Every frame's size is fixed: the output has exactly `exact` bytes. */
  sized: boolean;
  /** Some frame carries a content checksum. */
  checksum: boolean;
  /** Blocks in all frames. */
  blocks: number;
  /**
   * At most this many bytes come out before the last block (window-bounded block sizes; raw
   * and RLE blocks exactly): a prefix longer than this needs every block.
   */
  beforeLastBlock: number;
}

type Codec = { encode(b: Uint8Array): Promise<Uint8Array> | Uint8Array; decode(b: Uint8Array): Promise<Uint8Array> | Uint8Array };
const instances = new Map<number, Promise<Codec>>();

/** A numcodecs Zstd instance at `level` (the wasm module initialises on its first call). */
export function zstd(level: number): Promise<Codec> {
  let p = instances.get(level);
  if (!p) {
    p = import('numcodecs/zstd').then((m) => m.default.fromConfig({ id: 'zstd', level }));
    instances.set(level, p);
  }
  return p;
}

export const factory: CodecFactory = (config) => {
  const checksum = config.checksum ?? false;
  if (typeof checksum !== 'boolean') throw unsupported('zstd', `checksum must be a boolean, got ${describeJson(checksum)}`);
  return new ZstdCodec(intOption('zstd', config, 'level', 0, -131072, 22), checksum);
};
