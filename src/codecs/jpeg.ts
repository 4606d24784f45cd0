import jpegjs from 'jpeg-js';
import { NdArray } from '../array/ndarray.js';
import { CodecError, CorruptionError, MetadataError, UnsupportedError, VolstoreError } from '../errors.js';
import type { ArrayBytesCodec, ChunkSpec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { checkImageDtype, imageLayout, toInterleaved } from './png.js';
import { describeJson } from '../util/json.js';

/**
 * `jpeg{quality}` array->bytes codec (neuroglancer precomputed `jpeg` encoding): uint8 chunks
 * with 1 or 3 channels, laid out as an image `x` wide and `y*z` high (see `imageLayout`).
 * Decoding uses npm `jpeg-js` (pure JS, Node and browsers). Encoding uses this module's own
 * baseline encoder: 1-channel chunks become true 1-component (grayscale) JPEGs, which TensorStore
 * and Neuroglancer require (jpeg-js only writes 3 components, and rebuilds its tables on every
 * call); 3-channel chunks become YCbCr 4:4:4.
 */

/** The number of colour components a JPEG declares in its frame header (SOFn). */
export function jpegComponents(b: Uint8Array, key: string): { width: number; height: number; components: number } {
  let i = 2;
  if (b[0] !== 0xff || b[1] !== 0xd8) throw new CorruptionError(key, 'jpeg: missing SOI marker');
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) throw new CorruptionError(key, `jpeg: expected a marker at byte ${i}`);
    const m = b[i + 1]!;
    if (m === 0xff) {
      i++;
      continue;
    }
    const len = (b[i + 2]! << 8) | b[i + 3]!;
    const isSof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (isSof) {
      if (i + 10 > b.length) break;
      return { height: (b[i + 5]! << 8) | b[i + 6]!, width: (b[i + 7]! << 8) | b[i + 8]!, components: b[i + 9]! };
    }
    i += 2 + len;
  }
  throw new CorruptionError(key, 'jpeg: no frame header (SOF) found');
}

export class JpegCodec implements ArrayBytesCodec {
  readonly kind = 'array-bytes';
  readonly name = 'jpeg';
  constructor(readonly quality: number) {}

  encode(a: NdArray, spec: ChunkSpec, ctx?: CodecContext): Uint8Array {
    const layout = imageLayout(spec.shape, 'jpeg');
    const pixels = toInterleaved(a, layout);
    const { width, height, channels } = layout;
    try {
      return encodeBaselineJpeg(pixels, width, height, channels as 1 | 3, this.quality);
    } catch (e) {
      throw new CodecError('jpeg', `encode failed for "${ctx?.key ?? '<chunk>'}": ${(e as Error).message}`, { cause: e });
    }
  }

  decode(b: Uint8Array, spec: ChunkSpec, ctx?: CodecContext): NdArray {
    const key = ctx?.key ?? '<chunk>';
    const layout = imageLayout(spec.shape, 'jpeg');
    const { width, height, channels } = layout;
    const info = jpegComponents(b, key);
    if (info.width !== width || info.height !== height) {
      throw new CorruptionError(key, `jpeg is ${info.width}x${info.height}, the chunk needs ${width}x${height}`);
    }
    if (info.components !== channels) {
      throw new CorruptionError(key, `jpeg has ${info.components} components, the chunk has ${channels} channels`);
    }
    let img: { width: number; height: number; data: Uint8Array };
    try {
      img = jpegjs.decode(b, {
        useTArray: true,
        formatAsRGBA: false,
        maxResolutionInMP: Math.max(1, Math.ceil((width * height) / 1e6)),
        maxMemoryUsageInMB: Math.max(64, Math.ceil((width * height * 16) / 2 ** 20)),
      });
    } catch (e) {
      if (e instanceof VolstoreError) throw e;
      throw new CorruptionError(key, `jpeg: ${(e as Error).message ?? String(e)}`, { cause: e });
    }
    // jpeg-js always returns RGB; a grayscale image has R = G = B = Y.
    let data = img.data;
    if (channels === 1) {
      data = new Uint8Array(width * height);
      for (let p = 0; p < data.length; p++) data[p] = img.data[3 * p]!;
    }
    return new NdArray('uint8', data, spec.shape, layout.strides);
  }

  toJSON(): CodecJSON {
    return { name: 'jpeg', configuration: { quality: this.quality } };
  }
}

export const factory: CodecFactory = (config, spec) => {
  checkImageDtype('jpeg', spec.dtype, ['uint8']);
  const quality = config.quality ?? 75;
  if (typeof quality !== 'number' || !Number.isInteger(quality) || quality < 0 || quality > 100) {
    throw new MetadataError('jpeg', `quality must be an integer 0-100, got ${describeJson(quality)}`);
  }
  const channels = spec.shape[spec.shape.length - 1];
  if (channels !== 1 && channels !== 3) throw new UnsupportedError(`jpeg encoding needs 1 or 3 channels, got ${channels}`);
  return new JpegCodec(quality);
};

// ---- Baseline grayscale JPEG encoder (ITU T.81, one component, standard Huffman tables) ----

const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
  28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
  54, 47, 55, 62, 63,
];
/** T.81 Annex K.1 luminance quantisation table, natural order. */
const LUMA_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51,
  87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101,
  72, 92, 95, 98, 112, 100, 103, 99,
];
/** T.81 Annex K.3 luminance DC and AC Huffman tables: code counts per length 1..16, values. */
const DC_COUNTS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_VALUES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_COUNTS = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const AC_VALUES = [
  0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14,
  0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09,
  0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a,
  0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65,
  0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
  0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9,
  0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca,
  0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
  0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
];

/** Canonical Huffman codes (T.81 Annex C): value -> [code, length]. */
function huffmanCodes(counts: number[], values: number[]): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  let code = 0, k = 0;
  for (let len = 1; len <= 16; len++) {
    for (let i = 0; i < counts[len - 1]!; i++) out.set(values[k++]!, [code++, len]);
    code <<= 1;
  }
  return out;
}
let tables: { dc: Map<number, [number, number]>; ac: Map<number, [number, number]>; cos: Float64Array } | undefined;

class BitWriter {
  private bytes: number[] = [];
  private acc = 0;
  private n = 0;
  write(code: number, len: number): void {
    for (let i = len - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((code >> i) & 1);
      if (++this.n === 8) this.flushByte();
    }
  }
  private flushByte(): void {
    this.bytes.push(this.acc);
    if (this.acc === 0xff) this.bytes.push(0); // byte stuffing
    this.acc = 0;
    this.n = 0;
  }
  finish(): number[] {
    if (this.n > 0) this.write((1 << (8 - this.n)) - 1, 8 - this.n); // pad with 1 bits
    return this.bytes;
  }
}

/**
 * Encodes an 8-bit image (row-major, channels interleaved) as a baseline JPEG: 1 channel as one
 * grayscale component, 3 channels (RGB) as YCbCr without subsampling. All components share the
 * standard luminance quantisation and Huffman tables (valid: the tables are declared in the file).
 */
export function encodeBaselineJpeg(pixels: Uint8Array, width: number, height: number, channels: 1 | 3, quality: number): Uint8Array {
  tables ??= {
    dc: huffmanCodes(DC_COUNTS, DC_VALUES),
    ac: huffmanCodes(AC_COUNTS, AC_VALUES),
    cos: Float64Array.from({ length: 64 }, (_, i) => Math.cos(((2 * (i >> 3) + 1) * (i & 7) * Math.PI) / 16)),
  };
  const { dc, ac, cos } = tables;
  const q = Math.max(1, Math.min(100, quality));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - 2 * q; // IJG quality scaling
  const qt = LUMA_Q.map((v) => Math.max(1, Math.min(255, Math.floor((v * scale + 50) / 100))));
  const bits = new BitWriter();
  const block = new Float64Array(64);
  const rows = new Float64Array(64);
  const coef = new Int32Array(64);
  const prevDc = [0, 0, 0];
  const category = (v: number): number => (v === 0 ? 0 : 32 - Math.clz32(Math.abs(v)));
  const emitValue = (v: number, size: number): void => {
    if (size) bits.write(v < 0 ? v + (1 << size) - 1 : v, size);
  };
  // Component planes (level-shifted): Y for gray; Y, Cb, Cr (JFIF conversion) for RGB.
  const n = width * height;
  const planes: Float64Array[] = [];
  if (channels === 1) planes.push(Float64Array.from(pixels.subarray(0, n), (v) => v - 128));
  else {
    const Y = new Float64Array(n), Cb = new Float64Array(n), Cr = new Float64Array(n);
    for (let p = 0; p < n; p++) {
      const r = pixels[3 * p]!, g = pixels[3 * p + 1]!, b = pixels[3 * p + 2]!;
      Y[p] = 0.299 * r + 0.587 * g + 0.114 * b - 128;
      Cb[p] = -0.168736 * r - 0.331264 * g + 0.5 * b;
      Cr[p] = 0.5 * r - 0.418688 * g - 0.081312 * b;
    }
    planes.push(Y, Cb, Cr);
  }
  for (let by = 0; by < height; by += 8) {
    for (let bx = 0; bx < width; bx += 8) {
      for (let comp = 0; comp < planes.length; comp++) {
        const plane = planes[comp]!;
        for (let y = 0; y < 8; y++) {
          const yy = Math.min(by + y, height - 1); // replicate the edge into partial blocks
          for (let x = 0; x < 8; x++) block[y * 8 + x] = plane[yy * width + Math.min(bx + x, width - 1)]!;
        }
        encodeBlock(comp);
      }
    }
  }
  function encodeBlock(comp: number): void {
    // Separable 8x8 forward DCT-II (T.81 A.3.3), then quantisation.
    for (let y = 0; y < 8; y++) {
      for (let u = 0; u < 8; u++) {
        let r = 0;
        for (let x = 0; x < 8; x++) r += block[y * 8 + x]! * cos[x * 8 + u]!;
        rows[y * 8 + u] = r;
      }
    }
    for (let v = 0; v < 8; v++) {
      for (let u = 0; u < 8; u++) {
        let s = 0;
        for (let y = 0; y < 8; y++) s += rows[y * 8 + u]! * cos[y * 8 + v]!;
        const cu = u === 0 ? Math.SQRT1_2 : 1, cv = v === 0 ? Math.SQRT1_2 : 1;
        coef[v * 8 + u] = Math.round((0.25 * cu * cv * s) / qt[v * 8 + u]!);
      }
    }
    const diff = coef[0]! - prevDc[comp]!;
    prevDc[comp] = coef[0]!;
    const dcCat = category(diff);
    const [dcCode, dcLen] = dc.get(dcCat)!;
    bits.write(dcCode, dcLen);
    emitValue(diff, dcCat);
    let run = 0;
    for (let k = 1; k < 64; k++) {
      const v = coef[ZIGZAG[k]!]!;
      if (v === 0) {
        run++;
        continue;
      }
      while (run > 15) {
        const [c, l] = ac.get(0xf0)!;
        bits.write(c, l);
        run -= 16;
      }
      const cat = category(v);
      const [c, l] = ac.get((run << 4) | cat)!;
      bits.write(c, l);
      emitValue(v, cat);
      run = 0;
    }
    if (run > 0) {
      const [c, l] = ac.get(0x00)!;
      bits.write(c, l);
    }
  }
  const scan = bits.finish();
  const out: number[] = [0xff, 0xd8];
  const segment = (marker: number, body: number[]): void => {
    out.push(0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 255, ...body);
  };
  segment(0xdb, [0, ...ZIGZAG.map((i) => qt[i]!)]);
  const comps = planes.map((_, i) => [i + 1, 0x11, 0]).flat();
  segment(0xc0, [8, height >> 8, height & 255, width >> 8, width & 255, planes.length, ...comps]);
  segment(0xc4, [0x00, ...DC_COUNTS, ...DC_VALUES]);
  segment(0xc4, [0x10, ...AC_COUNTS, ...AC_VALUES]);
  segment(0xda, [planes.length, ...planes.map((_, i) => [i + 1, 0x00]).flat(), 0, 63, 0]);
  const result = new Uint8Array(out.length + scan.length + 2);
  result.set(out, 0);
  result.set(scan, out.length);
  result.set([0xff, 0xd9], out.length + scan.length);
  return result;
}
