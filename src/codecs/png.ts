import { unzlibSync, zlibSync } from 'fflate';
import { bytesOf, type DataType, dtypeSize } from '../array/dtype.js';
import { NdArray, product } from '../array/ndarray.js';
import { CorruptionError, MetadataError, UnsupportedError } from '../errors.js';
import { copyStrided } from '../array/copy.js';
import type { ArrayBytesCodec, ChunkSpec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { crc32 } from './compression-util.js';
import { describeJson } from '../util/json.js';

/**
 * Layout of an image-encoded chunk (neuroglancer precomputed `jpeg` and `png` encodings):
 * a chunk of shape [x, y, z, channel] (F order) is an image `x` pixels wide and `y*z` rows
 * high with the channels interleaved per pixel. Generalised to any rank >= 2: the first
 * dimension is the width, the last the channels, the product of the others the height.
 */
export interface ImageLayout {
  width: number;
  height: number;
  channels: number;
  /** Element strides of the chunk dimensions inside the interleaved pixel buffer. */
  strides: number[];
}

export function imageLayout(shape: readonly number[], codec: string): ImageLayout {
  if (shape.length < 2) throw new MetadataError('encoding', `${codec}: chunks need a channel dimension (rank >= 2)`);
  const channels = shape[shape.length - 1]!;
  const width = shape[0]!;
  const height = product(shape.slice(1, -1));
  const strides: number[] = [];
  let s = channels;
  for (let d = 0; d < shape.length - 1; d++) {
    strides.push(s);
    s *= shape[d]!;
  }
  strides.push(1);
  return { width, height, channels, strides };
}

/** Copies an NdArray (any strides) into an interleaved pixel buffer. */
export function toInterleaved(a: NdArray, layout: ImageLayout): Uint8Array {
  const size = dtypeSize(a.dtype);
  const out = new Uint8Array(layout.width * layout.height * layout.channels * size);
  copyStrided(
    out, 0, layout.strides.map((s) => s * size),
    bytesOf(a.data), a.offset * size, a.strides.map((s) => s * size),
    a.shape, size,
  );
  return out;
}

// ---- PNG (https://www.w3.org/TR/png/), written on fflate so it runs in browsers too ----

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
/** PNG colour type by channel count (gray, gray+alpha, RGB, RGBA). */
const COLOR_TYPE_OF_CHANNELS: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };
const CHANNELS_OF_COLOR_TYPE: Record<number, number> = { 0: 1, 4: 2, 2: 3, 6: 4 };

export interface DecodedPng {
  width: number;
  height: number;
  channels: number;
  bitDepth: number;
  /** Samples in row-major, channel-interleaved order; 16-bit samples in native order. */
  data: Uint8Array | Uint16Array;
}

/**
 * Decodes a non-interlaced PNG of colour type gray, gray+alpha, RGB or RGBA. Gray images of
 * bit depth 1, 2 or 4 give their raw sample values (0..2^depth-1) as uint8. Throws
 * CorruptionError (naming `key`) for truncated or inconsistent input and bad CRCs,
 * UnsupportedError for palette or interlaced images.
 */
export function decodePng(bytes: Uint8Array, key = '<png>', maxPixels = 2 ** 31): DecodedPng {
  const bad = (m: string): CorruptionError => new CorruptionError(key, `png: ${m}`);
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw bad('not a PNG (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0, height = 0, bitDepth = 0, colorType = -1;
  const idat: Uint8Array[] = [];
  let sawEnd = false;
  while (pos < bytes.length && !sawEnd) {
    if (pos + 12 > bytes.length) throw bad(`truncated chunk header at byte ${pos}`);
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (pos + 12 + len > bytes.length) throw bad(`chunk "${type}" of ${len} bytes runs past the end`);
    const body = bytes.subarray(pos + 8, pos + 8 + len);
    const crc = view.getUint32(pos + 8 + len);
    if ((crc32(bytes.subarray(pos + 4, pos + 8 + len)) >>> 0) !== crc) throw bad(`CRC mismatch in chunk "${type}"`);
    if (type === 'IHDR') {
      if (len !== 13) throw bad('IHDR is not 13 bytes');
      const h = new DataView(body.buffer, body.byteOffset, 13);
      width = h.getUint32(0);
      height = h.getUint32(4);
      bitDepth = body[8]!;
      colorType = body[9]!;
      if (body[10] !== 0 || body[11] !== 0) throw bad('unknown compression or filter method');
      if (body[12] !== 0) throw new UnsupportedError(`png "${key}": interlaced (Adam7) images are not supported`);
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      sawEnd = true;
    }
    pos += 12 + len;
  }
  if (colorType === -1) throw bad('no IHDR chunk');
  if (colorType === 3) throw new UnsupportedError(`png "${key}": palette images are not supported`);
  const channels = CHANNELS_OF_COLOR_TYPE[colorType];
  if (channels === undefined) throw bad(`invalid colour type ${colorType}`);
  const depthOk = colorType === 0 ? [1, 2, 4, 8, 16].includes(bitDepth) : bitDepth === 8 || bitDepth === 16;
  if (!depthOk) throw bad(`invalid bit depth ${bitDepth} for colour type ${colorType}`);
  if (width === 0 || height === 0 || width * height > maxPixels) throw bad(`bad image size ${width}x${height}`);
  let compressed: Uint8Array;
  if (idat.length === 1) compressed = idat[0]!;
  else {
    compressed = new Uint8Array(idat.reduce((n, b) => n + b.length, 0));
    let o = 0;
    for (const b of idat) compressed.set(b, (o += b.length) - b.length);
  }
  const bitsPerPixel = channels * bitDepth;
  const rowBytes = Math.ceil((width * bitsPerPixel) / 8);
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const expected = (rowBytes + 1) * height;
  let raw: Uint8Array;
  try {
    raw = unzlibSync(compressed, { out: new Uint8Array(expected) });
  } catch (e) {
    throw bad(`zlib stream: ${(e as Error).message}`);
  }
  if (raw.length < expected) throw bad(`image data holds ${raw.length} bytes, ${width}x${height} needs ${expected}`);
  const pixels = new Uint8Array(rowBytes * height);
  unfilter(raw, pixels, rowBytes, height, bpp, bad);
  const samples = width * height * channels;
  if (bitDepth === 16) {
    const out = new Uint16Array(samples);
    for (let i = 0; i < samples; i++) out[i] = (pixels[2 * i]! << 8) | pixels[2 * i + 1]!;
    return { width, height, channels, bitDepth, data: out };
  }
  if (bitDepth === 8) return { width, height, channels, bitDepth, data: pixels };
  const out = new Uint8Array(samples);
  const mask = (1 << bitDepth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * bitDepth;
      out[y * width + x] = (pixels[y * rowBytes + (bit >> 3)]! >> (8 - bitDepth - (bit & 7))) & mask;
    }
  }
  return { width, height, channels, bitDepth, data: out };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function unfilter(raw: Uint8Array, out: Uint8Array, rowBytes: number, height: number, bpp: number, bad: (m: string) => Error): void {
  for (let y = 0; y < height; y++) {
    const f = raw[y * (rowBytes + 1)]!;
    const src = y * (rowBytes + 1) + 1;
    const dst = y * rowBytes;
    const prev = dst - rowBytes;
    for (let i = 0; i < rowBytes; i++) {
      const x = raw[src + i]!;
      const a = i >= bpp ? out[dst + i - bpp]! : 0;
      const b = y > 0 ? out[prev + i]! : 0;
      let v: number;
      switch (f) {
        case 0: v = x; break;
        case 1: v = x + a; break;
        case 2: v = x + b; break;
        case 3: v = x + ((a + b) >> 1); break;
        case 4: v = x + paeth(a, b, y > 0 && i >= bpp ? out[prev + i - bpp]! : 0); break;
        default: throw bad(`unknown filter type ${f} in row ${y}`);
      }
      out[dst + i] = v & 255;
    }
  }
}

/**
 * Encodes 8- or 16-bit samples (row-major, channels interleaved; 16-bit in native order) as a
 * PNG. Each row gets the filter with the smallest sum of absolute differences (libpng's
 * heuristic); `level` is the zlib level 0-9.
 */
export function encodePng(samples: Uint8Array | Uint16Array, width: number, height: number, channels: number, level = 6): Uint8Array {
  const colorType = COLOR_TYPE_OF_CHANNELS[channels];
  if (colorType === undefined) throw new UnsupportedError(`png: ${channels} channels (1-4 supported)`);
  const bitDepth = samples instanceof Uint16Array ? 16 : 8;
  const bpp = channels * (bitDepth / 8);
  const rowBytes = width * bpp;
  let pixels: Uint8Array;
  if (bitDepth === 16) {
    pixels = new Uint8Array(samples.length * 2);
    for (let i = 0; i < samples.length; i++) {
      pixels[2 * i] = samples[i]! >> 8;
      pixels[2 * i + 1] = samples[i]! & 255;
    }
  } else pixels = samples as Uint8Array;
  const filtered = new Uint8Array((rowBytes + 1) * height);
  const cand = new Uint8Array(rowBytes);
  for (let y = 0; y < height; y++) {
    const row = y * rowBytes;
    let bestSum = Infinity;
    for (let f = 0; f <= 4; f++) {
      let sum = 0;
      for (let i = 0; i < rowBytes; i++) {
        const x = pixels[row + i]!;
        const a = i >= bpp ? pixels[row + i - bpp]! : 0;
        const b = y > 0 ? pixels[row - rowBytes + i]! : 0;
        const c = y > 0 && i >= bpp ? pixels[row - rowBytes + i - bpp]! : 0;
        const v = (f === 0 ? x : f === 1 ? x - a : f === 2 ? x - b : f === 3 ? x - ((a + b) >> 1) : x - paeth(a, b, c)) & 255;
        cand[i] = v;
        sum += v < 128 ? v : 256 - v;
      }
      if (sum < bestSum) {
        bestSum = sum;
        filtered[y * (rowBytes + 1)] = f;
        filtered.set(cand, y * (rowBytes + 1) + 1);
      }
    }
  }
  const idat = zlibSync(filtered, { level: level as 6 });
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  const parts = [new Uint8Array(SIGNATURE), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  v.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)) >>> 0);
  return out;
}

/**
 * `png{level}` array->bytes codec: uint8 or uint16 chunks with 1-4 channels, laid out as
 * {@link imageLayout} describes (neuroglancer precomputed `png` encoding).
 */
export class PngCodec implements ArrayBytesCodec {
  readonly kind = 'array-bytes';
  readonly name = 'png';
  constructor(readonly level: number) {}

  encode(a: NdArray, spec: ChunkSpec): Uint8Array {
    const layout = imageLayout(spec.shape, 'png');
    const buf = toInterleaved(a, layout);
    const samples = spec.dtype === 'uint16' ? new Uint16Array(buf.buffer, buf.byteOffset, buf.byteLength / 2) : buf;
    return encodePng(samples, layout.width, layout.height, layout.channels, this.level);
  }

  decode(b: Uint8Array, spec: ChunkSpec, ctx?: CodecContext): NdArray {
    const key = ctx?.key ?? '<chunk>';
    const layout = imageLayout(spec.shape, 'png');
    const img = decodePng(b, key, layout.width * layout.height);
    if (img.width !== layout.width || img.height !== layout.height || img.channels !== layout.channels) {
      throw new CorruptionError(
        key,
        `png is ${img.width}x${img.height} with ${img.channels} channels, the chunk needs ${layout.width}x${layout.height} with ${layout.channels}`,
      );
    }
    const want = spec.dtype === 'uint16' ? 16 : 8;
    if ((img.bitDepth === 16) !== (want === 16)) {
      throw new CorruptionError(key, `png has bit depth ${img.bitDepth}, the chunk is ${spec.dtype}`);
    }
    return new NdArray(spec.dtype, img.data as never, spec.shape, layout.strides);
  }

  toJSON(): CodecJSON {
    return { name: 'png', configuration: { level: this.level } };
  }
}

export function checkImageDtype(codec: string, dtype: DataType, allowed: readonly DataType[]): void {
  if (!allowed.includes(dtype)) throw new UnsupportedError(`${codec} encoding supports ${allowed.join(', ')}, not ${dtype}`);
}

export const factory: CodecFactory = (config, spec) => {
  checkImageDtype('png', spec.dtype, ['uint8', 'uint16']);
  const level = config.level ?? 6;
  if (typeof level !== 'number' || !Number.isInteger(level) || level < 0 || level > 9) {
    throw new MetadataError('png', `level must be an integer 0-9, got ${describeJson(level)}`);
  }
  const channels = spec.shape[spec.shape.length - 1];
  if (channels === undefined || channels < 1 || channels > 4) throw new UnsupportedError(`png encoding needs 1-4 channels, got ${channels}`);
  return new PngCodec(level);
};

