import type { BytesBytesCodec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { corrupt, intOption } from './compression-util.js';

/**
 * `shuffle{elementsize}`: numcodecs' Shuffle filter. Encode transposes the bytes of
 * `elementsize`-byte elements (all first bytes, then all second bytes, ...); decode undoes it.
 * The input length must be a multiple of `elementsize` (numcodecs raises otherwise).
 */
export class ShuffleCodec implements BytesBytesCodec {
  readonly kind = 'bytes-bytes';
  readonly name = 'shuffle';
  constructor(readonly elementsize: number) {}

  encode(b: Uint8Array, ctx?: CodecContext): Uint8Array {
    this.check(b, ctx);
    return this.elementsize <= 1 ? b.slice() : byteShuffle(b, this.elementsize);
  }

  decode(b: Uint8Array, ctx?: CodecContext): Uint8Array {
    this.check(b, ctx);
    return this.elementsize <= 1 ? b.slice() : byteUnshuffle(b, this.elementsize);
  }

  encodedSize(n: number): number {
    return n;
  }

  private check(b: Uint8Array, ctx?: CodecContext): void {
    if (this.elementsize > 1 && b.length % this.elementsize !== 0) {
      throw corrupt('shuffle', ctx, `${b.length} bytes is not a multiple of elementsize ${this.elementsize}`);
    }
  }

  toJSON(): CodecJSON {
    return { name: 'shuffle', configuration: { elementsize: this.elementsize } };
  }
}

/**
 * Byte transpose of the first `n * size` bytes of `src` (n = floor(len / size)) into `dst`;
 * trailing bytes are copied unchanged (the blosc convention; numcodecs never has any).
 * Element-major loops (sequential reads of each element, `size` sequential write streams),
 * unrolled for 2, 4 and 8 bytes: ~2.5x the stream-major loop for 8-byte elements.
 */
export function byteShuffle(src: Uint8Array, size: number, dst = new Uint8Array(src.length)): Uint8Array {
  const n = Math.floor(src.length / size);
  if (size === 2) {
    for (let i = 0, p = 0; i < n; i++, p += 2) {
      dst[i] = src[p]!;
      dst[n + i] = src[p + 1]!;
    }
  } else if (size === 4) {
    const n2 = 2 * n, n3 = 3 * n;
    for (let i = 0, p = 0; i < n; i++, p += 4) {
      dst[i] = src[p]!;
      dst[n + i] = src[p + 1]!;
      dst[n2 + i] = src[p + 2]!;
      dst[n3 + i] = src[p + 3]!;
    }
  } else if (size === 8) {
    const n2 = 2 * n, n3 = 3 * n, n4 = 4 * n, n5 = 5 * n, n6 = 6 * n, n7 = 7 * n;
    for (let i = 0, p = 0; i < n; i++, p += 8) {
      dst[i] = src[p]!;
      dst[n + i] = src[p + 1]!;
      dst[n2 + i] = src[p + 2]!;
      dst[n3 + i] = src[p + 3]!;
      dst[n4 + i] = src[p + 4]!;
      dst[n5 + i] = src[p + 5]!;
      dst[n6 + i] = src[p + 6]!;
      dst[n7 + i] = src[p + 7]!;
    }
  } else {
    for (let i = 0, p = 0; i < n; i++) for (let j = 0; j < size; j++, p++) dst[j * n + i] = src[p]!;
  }
  for (let p = n * size; p < src.length; p++) dst[p] = src[p]!;
  return dst;
}

/** Inverse of {@link byteShuffle} (same layout rules), into `dst`. */
export function byteUnshuffle(src: Uint8Array, size: number, dst = new Uint8Array(src.length)): Uint8Array {
  const n = Math.floor(src.length / size);
  if (size === 2) {
    for (let i = 0, p = 0; i < n; i++, p += 2) {
      dst[p] = src[i]!;
      dst[p + 1] = src[n + i]!;
    }
  } else if (size === 4) {
    const n2 = 2 * n, n3 = 3 * n;
    for (let i = 0, p = 0; i < n; i++, p += 4) {
      dst[p] = src[i]!;
      dst[p + 1] = src[n + i]!;
      dst[p + 2] = src[n2 + i]!;
      dst[p + 3] = src[n3 + i]!;
    }
  } else if (size === 8) {
    const n2 = 2 * n, n3 = 3 * n, n4 = 4 * n, n5 = 5 * n, n6 = 6 * n, n7 = 7 * n;
    for (let i = 0, p = 0; i < n; i++, p += 8) {
      dst[p] = src[i]!;
      dst[p + 1] = src[n + i]!;
      dst[p + 2] = src[n2 + i]!;
      dst[p + 3] = src[n3 + i]!;
      dst[p + 4] = src[n4 + i]!;
      dst[p + 5] = src[n5 + i]!;
      dst[p + 6] = src[n6 + i]!;
      dst[p + 7] = src[n7 + i]!;
    }
  } else {
    for (let i = 0, p = 0; i < n; i++) for (let j = 0; j < size; j++, p++) dst[p] = src[j * n + i]!;
  }
  for (let p = n * size; p < src.length; p++) dst[p] = src[p]!;
  return dst;
}

export const factory: CodecFactory = (config) => new ShuffleCodec(intOption('shuffle', config, 'elementsize', 4, 0, 2 ** 16));
