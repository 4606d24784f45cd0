import { zlibSync } from 'fflate';
import { dtypeSize } from '../array/dtype.js';
import { SpecError } from '../errors.js';
import type { BytesBytesCodec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { corrupt, guardDecode, guardEncode, intOption, limitOf, nodeDeflate, nodeZlib, readU32LE, tooLarge, writeU32LE } from './compression-util.js';
import { lz4 } from './lz4.js';
import { byteShuffle } from './shuffle.js';
import { nativeZstd } from './native.js';
import { zstd } from './zstd.js';

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
    return guardDecode('blosc', ctx, async () => {
      if (b.length < HEADER) throw corrupt('blosc', ctx, `${b.length} bytes is too short for a blosc header`);
      const nbytes = readU32LE(b, 4);
      const blocksize = readU32LE(b, 8);
      const cbytes = readU32LE(b, 12);
      if (b[0] === 0 || b[0]! > 4) throw corrupt('blosc', ctx, `unknown blosc format version ${b[0]}`);
      if (cbytes !== b.length) throw corrupt('blosc', ctx, `header says ${cbytes} compressed bytes, got ${b.length}`);
      if (nbytes > 2 ** 31 - 1) throw corrupt('blosc', ctx, `header claims ${nbytes} bytes`);
      if (nbytes > limitOf(ctx)) throw tooLarge('blosc', ctx, `header claims ${nbytes} bytes, which`);
      if (nbytes === 0) return new Uint8Array(0);
      if (b[2]! & FLAG_MEMCPYED) {
        if (b.length < HEADER + nbytes) throw corrupt('blosc', ctx, 'memcpyed frame is truncated');
        return b.slice(HEADER, HEADER + nbytes);
      }
      if (blocksize === 0) throw corrupt('blosc', ctx, 'block size 0');
      const nblocks = Math.ceil(nbytes / blocksize);
      if (HEADER + 4 * nblocks > b.length) throw corrupt('blosc', ctx, `${nblocks} blocks do not fit in ${b.length} bytes`);
      for (let i = 0; i < nblocks; i++) {
        const start = readU32LE(b, HEADER + 4 * i);
        if (start < HEADER + 4 * nblocks || start >= b.length) throw corrupt('blosc', ctx, `block ${i} starts at ${start}, outside the frame`);
      }
      let out: Uint8Array;
      try {
        out = await (await bloscWasm()).decode(b);
      } catch (e) {
        throw corrupt('blosc', ctx, e instanceof Error ? e.message : String(e), e);
      }
      if (out.length !== nbytes) throw corrupt('blosc', ctx, `decoded ${out.length} bytes, header says ${nbytes}`);
      return out;
    });
  }

  toJSON(): CodecJSON {
    return { name: 'blosc', configuration: { ...this.options } };
  }
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
  // c-blosc splits byte-shuffled (or unshuffled) blocks into typesize streams; bit-shuffled
  // blocks are written as one stream, which decoders honour through the DONT_SPLIT flag.
  const split = shuffle !== 'bitshuffle' && typesize <= MAX_SPLITS && blocksize / typesize >= MIN_BUFFERSIZE;
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
      // gather byte j of 8 consecutive elements, then spread their bits over 8 planes
      let lo = 0;
      let hi = 0;
      const base = ib * 8 * typesize + j;
      for (let t = 0; t < 4; t++) lo |= src[base + t * typesize]! << (8 * t);
      for (let t = 0; t < 4; t++) hi |= src[base + (t + 4) * typesize]! << (8 * t);
      for (let k = 0; k < 8; k++) {
        let v = 0;
        for (let t = 0; t < 4; t++) v |= ((lo >>> (8 * t + k)) & 1) << t;
        for (let t = 0; t < 4; t++) v |= ((hi >>> (8 * t + k)) & 1) << (t + 4);
        dst[(j * 8 + k) * rowBytes + ib] = v;
      }
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
    throw new SpecError('codecs.blosc.cname', `expected one of ${CNAMES.join(', ')}, got ${JSON.stringify(cname)}`);
  }
  const typesize = intOption('blosc', config, 'typesize', dtypeSize(spec.dtype), 1, 2 ** 31);
  let shuffle = config.shuffle ?? 'shuffle';
  if (shuffle === -1) shuffle = typesize === 1 ? 'bitshuffle' : 'shuffle'; // numcodecs AUTOSHUFFLE
  if (typeof shuffle === 'number') shuffle = (['noshuffle', 'shuffle', 'bitshuffle'] as const)[shuffle] ?? String(shuffle);
  if (shuffle !== 'noshuffle' && shuffle !== 'shuffle' && shuffle !== 'bitshuffle') {
    throw new SpecError('codecs.blosc.shuffle', `expected "noshuffle", "shuffle" or "bitshuffle", got ${JSON.stringify(shuffle)}`);
  }
  return new BloscCodec({
    cname: cname as Cname,
    clevel: intOption('blosc', config, 'clevel', 5, 0, 9),
    shuffle,
    typesize,
    blocksize: intOption('blosc', config, 'blocksize', 0, 0, 2 ** 31),
  });
};
