import { unzlibSync, zlibSync } from 'fflate';
import { dtypeSize } from '../array/dtype.js';
import { SpecError } from '../errors.js';
import type { BytesBytesCodec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { adler32, corrupt, guardDecode, guardEncode, intOption, keyOf, limitOf, nodeDeflate, nodeZlib, readU32LE, tooLarge, unsupported, writeU32LE } from './compression-util.js';
import { nativeZstd } from './native.js';
import { blosclzDecode, lz4DecodeBlock, snappyDecode } from './lz-blocks.js';
import { lz4 } from './lz4.js';
import { byteShuffle, byteUnshuffle } from './shuffle.js';
import { zstd, zstdDecodeFrames } from './zstd.js';
import { describeJson } from '../util/json.js';

/**
 * `blosc{cname, clevel, shuffle, typesize, blocksize}`: blosc1 frames
 * (https://github.com/Blosc/c-blosc/blob/main/README_CHUNK_FORMAT.rst).
 *
 * Decoding uses numcodecs' wasm c-blosc. Encoding does NOT hand the shuffle to it, because that
 * build always shuffles with typesize 4 (see shared/FORMATS.md): volstore writes the frame itself,
 * shuffling (byte or bit) with the real `typesize` per block, compressing each block (split into
 * `typesize` streams as c-blosc does) with lz4 (lz4 and lz4hc share the LZ4 format), zlib (node:zlib, or fflate)
 * or zstd (wasm), and recording `typesize` and the shuffle flags in the header, so every standard
 * decoder unshuffles correctly. `blosclz` and `snappy` have no standalone encoder here: without
 * shuffle, or with typesize 4, numcodecs' own blosc writes them; otherwise the streams are written
 * in LZ4 format (the header says so, and decoders follow the header, not the metadata).
 */
export type BloscShuffle = 'noshuffle' | 'shuffle' | 'bitshuffle';
const CNAMES = ['blosclz', 'lz4', 'lz4hc', 'snappy', 'zlib', 'zstd'] as const;
type Cname = (typeof CNAMES)[number];

const HEADER = 16;
const MIN_BUFFERSIZE = 128;
const MAX_SPLITS = 16;
const FLAG_SHUFFLE = 0x01;
const FLAG_MEMCPYED = 0x02;
const FLAG_BITSHUFFLE = 0x04;
const FLAG_DONT_SPLIT = 0x10;
const FORMAT_CODE: Record<Cname, number> = { blosclz: 0, lz4: 1, lz4hc: 1, snappy: 2, zlib: 3, zstd: 4 };

export interface BloscOptions {
  cname: Cname;
  clevel: number;
  shuffle: BloscShuffle;
  typesize: number;
  blocksize: number;
}

export class BloscCodec implements BytesBytesCodec {
  readonly kind = 'bytes-bytes';
  readonly name = 'blosc';
  constructor(readonly options: BloscOptions) {}

  encode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardEncode('blosc', ctx, () => bloscEncode(b, this.options));
  }

  decode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardDecode('blosc', ctx, () => bloscDecode(b, ctx));
  }

  toJSON(): CodecJSON {
    return { name: 'blosc', configuration: { ...this.options } };
  }
}

// ---- decoder ----

/** c-blosc 1.x writes format version 2; version 1 frames (c-blosc < 1.7) share its layout. */
const MAX_VERSION = 2;
const FLAG_FUTURE = 0x08;
const FORMAT_NAMES = ['blosclz', 'lz4', 'snappy', 'zlib', 'zstd'];

/**
 * Decodes a blosc1 frame entirely in volstore's own code (header, block offsets, split streams,
 * unshuffle and bit-unshuffle), following c-blosc 1.x's decoder (`blosc_d`). Each stream is
 * decoded into a fresh, zeroed JavaScript buffer and must produce exactly its share of the block;
 * any inconsistency (a block or stream outside the frame, a stream that decodes to another size,
 * a future format version or flag) throws CorruptionError naming the key and the block. So every
 * returned byte is determined by the input: nothing comes from memory of an earlier decode (as
 * it did with numcodecs' wasm c-blosc, which ignored the decompressor's error code).
 */
export async function bloscDecode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
  if (b.length < HEADER) throw corrupt('blosc', ctx, `${b.length} bytes is too short for a blosc header`);
  const version = b[0]!;
  const flags = b[2]!;
  const typesize = b[3]!;
  const nbytes = readU32LE(b, 4);
  const blocksize = readU32LE(b, 8);
  const cbytes = readU32LE(b, 12);
  if (version === 0 || version > MAX_VERSION) {
    throw version > MAX_VERSION && version <= 5
      ? unsupported('blosc', `"${keyOf(ctx)}" is a blosc2 chunk (format version ${version}); only blosc1 frames are supported`)
      : corrupt('blosc', ctx, `unknown blosc format version ${version}`);
  }
  if (cbytes !== b.length) throw corrupt('blosc', ctx, `header says ${cbytes} compressed bytes, got ${b.length}`);
  if (nbytes > 2 ** 31 - 1) throw corrupt('blosc', ctx, `header claims ${nbytes} bytes`);
  if (nbytes > limitOf(ctx)) throw tooLarge('blosc', ctx, `header claims ${nbytes} bytes, which`);
  if (nbytes === 0) return new Uint8Array(0);
  if (flags & FLAG_FUTURE) throw corrupt('blosc', ctx, `unknown header flags 0x${flags.toString(16)}`);
  if (typesize === 0) throw corrupt('blosc', ctx, 'typesize 0');
  if (blocksize === 0 || blocksize > nbytes) throw corrupt('blosc', ctx, `block size ${blocksize} for ${nbytes} bytes`);
  if (flags & FLAG_MEMCPYED) {
    if (cbytes !== HEADER + nbytes) throw corrupt('blosc', ctx, `memcpyed frame of ${cbytes} bytes holds ${nbytes} bytes plus the header`);
    return b.slice(HEADER);
  }
  const format = (flags >> 5) & 7;
  const decodeStream = STREAM_DECODERS[format];
  if (!decodeStream) throw corrupt('blosc', ctx, `unknown compressor format ${format}`);
  if (b[1] !== 1) throw corrupt('blosc', ctx, `unknown ${FORMAT_NAMES[format]} format version ${b[1]}`);
  const nblocks = Math.ceil(nbytes / blocksize);
  if (nblocks > (cbytes - HEADER) / 4) throw corrupt('blosc', ctx, `${nblocks} blocks do not fit in ${cbytes} bytes`);
  const doShuffle = (flags & FLAG_SHUFFLE) !== 0 && typesize > 1;
  const out = new Uint8Array(nbytes);
  const tmp = doShuffle || flags & FLAG_BITSHUFFLE ? new Uint8Array(blocksize) : undefined;
  const dontSplit = (flags & FLAG_DONT_SPLIT) !== 0;
  for (let k = 0; k < nblocks; k++) {
    const leftover = k === nblocks - 1 && nbytes % blocksize !== 0;
    const bsize = leftover ? nbytes % blocksize : blocksize;
    const dest = out.subarray(k * blocksize, k * blocksize + bsize);
    const doBitShuffle = !doShuffle && (flags & FLAG_BITSHUFFLE) !== 0 && bsize >= typesize;
    const target = doShuffle || doBitShuffle ? tmp!.subarray(0, bsize) : dest;
    const nsplits = !dontSplit && typesize <= MAX_SPLITS && bsize / typesize >= MIN_BUFFERSIZE && !leftover ? typesize : 1;
    const neblock = bsize / nsplits;
    if (!Number.isInteger(neblock)) throw corrupt('blosc', ctx, `block size ${bsize} is not a multiple of typesize ${typesize}`);
    let p = readU32LE(b, HEADER + 4 * k);
    for (let j = 0; j < nsplits; j++) {
      if (p < HEADER + 4 * nblocks || p > cbytes - 4) throw corrupt('blosc', ctx, `block ${k} stream ${j} starts at ${p}, outside the frame`);
      const n = readU32LE(b, p);
      p += 4;
      if (n > cbytes - p) throw corrupt('blosc', ctx, `block ${k} stream ${j} of ${n} bytes runs past the end of the frame`);
      const stream = b.subarray(p, p + n);
      const part = target.subarray(j * neblock, (j + 1) * neblock);
      if (n === neblock) part.set(stream);
      else {
        const got = await decodeStream(stream, part, ctx);
        if (got !== neblock) {
          throw corrupt('blosc', ctx, `block ${k} stream ${j}: ${FORMAT_NAMES[format]} data ${got < 0 ? 'is corrupt' : `decodes to ${got} bytes, not ${neblock}`}`);
        }
      }
      p += n;
    }
    if (doShuffle) byteUnshuffle(target, typesize, dest);
    else if (doBitShuffle) bitUnshuffle(target, typesize, dest);
  }
  return out;
}

/** Decodes one stream into `dst` (exactly its length): bytes written, or -1 when corrupt. */
type StreamDecoder = (src: Uint8Array, dst: Uint8Array, ctx: CodecContext | undefined) => number | Promise<number>;

const STREAM_DECODERS: (StreamDecoder | undefined)[] = [
  blosclzDecode,
  lz4DecodeBlock,
  snappyDecode,
  async (src, dst) => {
    // A zlib stream (c-blosc calls zlib's uncompress): inflate, then check length and Adler-32.
    // Native zlib under Node (synchronous: blocks are small, and in the pool this is a worker's
    // thread; ~2x fflate), fflate elsewhere.
    if (src.length < 6 || (src[0]! & 0x0f) !== 8 || ((src[0]! << 8) | src[1]!) % 31 !== 0) return -1;
    const node = await nodeZlib();
    let raw: Uint8Array;
    try {
      // zlib itself checks the Adler-32 trailer; output past dst.length stops it (ERR_BUFFER_TOO_LARGE)
      if (node) raw = node.inflateSync(src, { maxOutputLength: dst.length + 1 });
      else raw = unzlibSync(src, { out: new Uint8Array(dst.length + 1) });
    } catch {
      return -1;
    }
    if (raw.length !== dst.length) return raw.length > dst.length ? -1 : raw.length;
    if (!node) {
      const p = src.length - 4;
      if (adler32(raw) !== ((src[p]! << 24) | (src[p + 1]! << 16) | (src[p + 2]! << 8) | src[p + 3]!) >>> 0) return -1;
    }
    dst.set(raw);
    return raw.length;
  },
  async (src, dst, ctx) => {
    let raw: Uint8Array;
    try {
      raw = await zstdDecodeFrames(src, { ...ctx, maxDecodedBytes: dst.length });
    } catch {
      return -1;
    }
    if (raw.length !== dst.length) return -1;
    dst.set(raw);
    return raw.length;
  },
];

/**
 * Inverse of {@link bitShuffle} (c-blosc 1.x): when the block holds a multiple of 8 whole
 * elements they are gathered back from the 8*typesize bit planes and trailing bytes are copied;
 * otherwise the block is copied.
 */
export function bitUnshuffle(src: Uint8Array, typesize: number, dst = new Uint8Array(src.length)): Uint8Array {
  const n = Math.floor(src.length / typesize);
  const m = n % 8 === 0 ? n : 0;
  const rowBytes = m / 8;
  for (let j = 0; j < typesize; j++) {
    const plane = j * 8 * rowBytes;
    for (let ib = 0; ib < rowBytes; ib++) {
      // planes 8j+7 .. 8j+0 (byte ib) -> byte j of elements 8ib .. 8ib+7
      const p = plane + ib;
      const hi = (src[p + 7 * rowBytes]! << 24) | (src[p + 6 * rowBytes]! << 16) | (src[p + 5 * rowBytes]! << 8) | src[p + 4 * rowBytes]!;
      const lo = (src[p + 3 * rowBytes]! << 24) | (src[p + 2 * rowBytes]! << 16) | (src[p + rowBytes]! << 8) | src[p]!;
      transpose8(hi, lo, dst, ib * 8 * typesize + j, typesize);
    }
  }
  for (let p = m * typesize; p < src.length; p++) dst[p] = src[p]!;
  return dst;
}

/**
 * Transposes an 8x8 bit matrix given as bytes b7..b4 (`x`, b7 in the top byte) and b3..b0 (`y`):
 * writes out[at + t*stride] = the byte whose bit k is bit t of b_k, for t = 0..7 (Hacker's
 * Delight `transpose8rS32`). The relation is symmetric, so it both shuffles and unshuffles.
 */
function transpose8(x: number, y: number, out: Uint8Array, at: number, stride: number): void {
  let t = (x ^ (x >>> 7)) & 0x00aa00aa;
  x = x ^ t ^ (t << 7);
  t = (y ^ (y >>> 7)) & 0x00aa00aa;
  y = y ^ t ^ (t << 7);
  t = (x ^ (x >>> 14)) & 0x0000cccc;
  x = x ^ t ^ (t << 14);
  t = (y ^ (y >>> 14)) & 0x0000cccc;
  y = y ^ t ^ (t << 14);
  t = (x & 0xf0f0f0f0) | ((y >>> 4) & 0x0f0f0f0f);
  y = ((x << 4) & 0xf0f0f0f0) | (y & 0x0f0f0f0f);
  x = t;
  out[at] = y & 0xff;
  out[at + stride] = (y >>> 8) & 0xff;
  out[at + 2 * stride] = (y >>> 16) & 0xff;
  out[at + 3 * stride] = y >>> 24;
  out[at + 4 * stride] = x & 0xff;
  out[at + 5 * stride] = (x >>> 8) & 0xff;
  out[at + 6 * stride] = (x >>> 16) & 0xff;
  out[at + 7 * stride] = x >>> 24;
}

// ---- encoder ----

/** Writes a blosc1 frame with the shuffle done here at `o.typesize`. */
export async function bloscEncode(src: Uint8Array, o: BloscOptions): Promise<Uint8Array> {
  const nbytes = src.length;
  const typesize = o.typesize > 255 ? 1 : o.typesize;
  const shuffle = typesize === 1 && o.shuffle === 'shuffle' ? 'noshuffle' : o.shuffle;
  if (o.clevel === 0 || nbytes < MIN_BUFFERSIZE) return memcpyed(src, typesize, shuffle);
  if ((o.cname === 'blosclz' || o.cname === 'snappy') && (shuffle === 'noshuffle' || typesize === 4)) {
    const codec = await bloscWasm(o.cname, o.clevel, shuffle === 'noshuffle' ? 0 : shuffle === 'shuffle' ? 1 : 2, o.blocksize);
    return codec.encode(src);
  }
  const compress = await streamCompressor(o.cname, o.clevel);
  const blocksize = chooseBlocksize(nbytes, typesize, shuffle, o.blocksize);
  const nblocks = Math.ceil(nbytes / blocksize);
  // c-blosc 1.x (its default "forward compatible" split mode) splits blocks into typesize
  // streams except for zstd; bit-shuffled blocks are written here as one stream too. Decoders
  // follow the DONT_SPLIT flag. (One zstd stream per block also decodes ~10x faster here: each
  // stream is one call into the wasm decoder.)
  const split = shuffle !== 'bitshuffle' && o.cname !== 'zstd' && typesize <= MAX_SPLITS && blocksize / typesize >= MIN_BUFFERSIZE;
  let flags = (FORMAT_CODE[o.cname === 'blosclz' || o.cname === 'snappy' ? 'lz4' : o.cname] << 5) | (split ? 0 : FLAG_DONT_SPLIT);
  if (shuffle === 'shuffle') flags |= FLAG_SHUFFLE;
  if (shuffle === 'bitshuffle') flags |= FLAG_BITSHUFFLE;

  const parts: Uint8Array[] = [];
  let size = HEADER + 4 * nblocks;
  const starts: number[] = [];
  const tmp = new Uint8Array(blocksize);
  for (let k = 0; k < nblocks; k++) {
    starts.push(size);
    const block = src.subarray(k * blocksize, Math.min(nbytes, (k + 1) * blocksize));
    const leftover = block.length < blocksize;
    let data: Uint8Array = block;
    if (shuffle === 'shuffle') data = byteShuffle(block, typesize, tmp.subarray(0, block.length));
    else if (shuffle === 'bitshuffle') data = bitShuffle(block, typesize, tmp.subarray(0, block.length));
    const nsplits = split && !leftover ? typesize : 1;
    const neblock = data.length / nsplits;
    for (let j = 0; j < nsplits; j++) {
      const stream = data.subarray(j * neblock, (j + 1) * neblock);
      let c = await compress(stream);
      if (c.length === 0 || c.length >= neblock) c = stream.slice(); // stored: cbytes == neblock
      const len = new Uint8Array(4);
      writeU32LE(len, 0, c.length);
      parts.push(len, c);
      size += 4 + c.length;
      if (size > nbytes + HEADER) return memcpyed(src, typesize, shuffle);
    }
  }
  const out = new Uint8Array(size);
  writeHeader(out, flags, typesize, nbytes, blocksize, size);
  for (let k = 0; k < nblocks; k++) writeU32LE(out, HEADER + 4 * k, starts[k]!);
  let p = HEADER + 4 * nblocks;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

function memcpyed(src: Uint8Array, typesize: number, shuffle: BloscShuffle): Uint8Array {
  const out = new Uint8Array(HEADER + src.length);
  // The shuffle flags are informational here: decoders copy memcpyed frames as they are.
  const flags = FLAG_MEMCPYED | FLAG_DONT_SPLIT | (shuffle === 'shuffle' ? FLAG_SHUFFLE : shuffle === 'bitshuffle' ? FLAG_BITSHUFFLE : 0);
  writeHeader(out, flags, typesize, src.length, src.length, out.length);
  out.set(src, HEADER);
  return out;
}

function writeHeader(out: Uint8Array, flags: number, typesize: number, nbytes: number, blocksize: number, cbytes: number): void {
  out[0] = 2; // BLOSC_VERSION_FORMAT of c-blosc 1.x
  out[1] = 1; // compressor format version
  out[2] = flags;
  out[3] = typesize;
  writeU32LE(out, 4, nbytes);
  writeU32LE(out, 8, blocksize);
  writeU32LE(out, 12, cbytes);
}

/**
 * Block size: the requested one, else up to 256 KiB (what c-blosc picks for mid levels). A
 * multiple of typesize (x8 for bitshuffle, so every full block bit-transposes whole).
 */
function chooseBlocksize(nbytes: number, typesize: number, shuffle: BloscShuffle, requested: number): number {
  let bs = Math.min(nbytes, requested > 0 ? Math.max(requested, MIN_BUFFERSIZE) : 256 * 1024);
  const unit = shuffle === 'bitshuffle' ? 8 * typesize : typesize;
  if (bs > unit) bs -= bs % unit;
  else if (bs > typesize) bs -= bs % typesize;
  return bs;
}

/**
 * Bit transpose of one block as c-blosc 1.x's bitshuffle: when the block holds a multiple of 8
 * whole elements (n), they become 8*typesize bit planes of n/8 bytes each (plane 8*byte+bit,
 * element i at bit i%8 of byte i/8) and trailing bytes are copied; otherwise the block is copied.
 */
export function bitShuffle(src: Uint8Array, typesize: number, dst = new Uint8Array(src.length)): Uint8Array {
  const n = Math.floor(src.length / typesize);
  const m = n % 8 === 0 ? n : 0; // c-blosc 1.x copies a block whose element count is not a multiple of 8
  const rowBytes = m / 8;
  for (let j = 0; j < typesize; j++) {
    for (let ib = 0; ib < rowBytes; ib++) {
      // byte j of elements 8ib+7 .. 8ib -> planes 8j .. 8j+7 (byte ib)
      const p = ib * 8 * typesize + j;
      const hi = (src[p + 7 * typesize]! << 24) | (src[p + 6 * typesize]! << 16) | (src[p + 5 * typesize]! << 8) | src[p + 4 * typesize]!;
      const lo = (src[p + 3 * typesize]! << 24) | (src[p + 2 * typesize]! << 16) | (src[p + typesize]! << 8) | src[p]!;
      transpose8(hi, lo, dst, j * 8 * rowBytes + ib, rowBytes);
    }
  }
  for (let p = m * typesize; p < src.length; p++) dst[p] = src[p]!;
  return dst;
}

type StreamCompressor = (b: Uint8Array) => Promise<Uint8Array> | Uint8Array;

async function streamCompressor(cname: Cname, clevel: number): Promise<StreamCompressor> {
  switch (cname) {
    case 'zlib': {
      const node = await nodeZlib();
      if (node) return (b) => nodeDeflate(node.deflateSync.bind(node), b, clevel);
      return (b) => zlibSync(b, { level: clevel as 1 });
    }
    case 'zstd': {
      // c-blosc maps clevel 1..9 to zstd levels 1,3,5,...,17 and 9 to the maximum
      const level = clevel < 9 ? clevel * 2 - 1 : 22;
      const native = await nativeZstd();
      if (native) return (b) => native.encode(b, level);
      const z = await zstd(level);
      return (b) => z.encode(b);
    }
    default: {
      // lz4, lz4hc (same bit stream), and the stand-in for blosclz/snappy: one raw LZ4 block,
      // i.e. numcodecs' framing without its 4-byte size prefix.
      const l = await lz4(1);
      return async (b) => (await l.encode(b)).subarray(4);
    }
  }
}

type WasmBlosc = { encode(b: Uint8Array): Promise<Uint8Array>; decode(b: Uint8Array): Promise<Uint8Array> };
const wasmInstances = new Map<string, Promise<WasmBlosc>>();

/** numcodecs' wasm Blosc (decode works for any frame; encode is used for blosclz/snappy). */
function bloscWasm(cname = 'lz4', clevel = 5, shuffle = 0, blocksize = 0): Promise<WasmBlosc> {
  const key = `${cname}/${clevel}/${shuffle}/${blocksize}`;
  let p = wasmInstances.get(key);
  if (!p) {
    p = import('numcodecs/blosc').then(
      (m) => m.default.fromConfig({ id: 'blosc', cname, clevel, shuffle, blocksize }) as unknown as WasmBlosc,
    );
    wasmInstances.set(key, p);
  }
  return p;
}

export const factory: CodecFactory = (config, spec) => {
  const cname = config.cname ?? 'lz4';
  if (typeof cname !== 'string' || !(CNAMES as readonly string[]).includes(cname)) {
    throw new SpecError('codecs.blosc.cname', `expected one of ${CNAMES.join(', ')}, got ${describeJson(cname)}`);
  }
  const typesize = intOption('blosc', config, 'typesize', dtypeSize(spec.dtype), 1, 2 ** 31);
  let shuffle = config.shuffle ?? 'shuffle';
  if (shuffle === -1) shuffle = typesize === 1 ? 'bitshuffle' : 'shuffle'; // numcodecs AUTOSHUFFLE
  if (typeof shuffle === 'number') shuffle = (['noshuffle', 'shuffle', 'bitshuffle'] as const)[shuffle] ?? String(shuffle);
  if (shuffle !== 'noshuffle' && shuffle !== 'shuffle' && shuffle !== 'bitshuffle') {
    throw new SpecError('codecs.blosc.shuffle', `expected "noshuffle", "shuffle" or "bitshuffle", got ${describeJson(shuffle)}`);
  }
  return new BloscCodec({
    cname: cname as Cname,
    clevel: intOption('blosc', config, 'clevel', 5, 0, 9),
    shuffle,
    typesize,
    blocksize: intOption('blosc', config, 'blocksize', 0, 0, 2 ** 31),
  });
};
