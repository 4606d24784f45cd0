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
 */
export function byteShuffle(src: Uint8Array, size: number, dst = new Uint8Array(src.length)): Uint8Array {
  const n = Math.floor(src.length / size);
  for (let j = 0; j < size; j++) {
    const base = j * n;
    for (let i = 0, p = j; i < n; i++, p += size) dst[base + i] = src[p]!;
  }
  for (let p = n * size; p < src.length; p++) dst[p] = src[p]!;
  return dst;
}

export function byteUnshuffle(src: Uint8Array, size: number, dst = new Uint8Array(src.length)): Uint8Array {
  const n = Math.floor(src.length / size);
  for (let j = 0; j < size; j++) {
    const base = j * n;
    for (let i = 0, p = j; i < n; i++, p += size) dst[p] = src[base + i]!;
  }
  for (let p = n * size; p < src.length; p++) dst[p] = src[p]!;
  return dst;
}

export const factory: CodecFactory = (config) => new ShuffleCodec(intOption('shuffle', config, 'elementsize', 4, 0, 2 ** 16));
