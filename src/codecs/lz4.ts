import type { BytesBytesCodec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { corrupt, guardDecode, guardEncode, intOption, limitOf, readU32LE, tooLarge } from './compression-util.js';
import { lz4DecodeBlock } from './lz-blocks.js';

/**
 * `lz4{acceleration}`: numcodecs' LZ4 framing, a uint32 LE decoded size followed by one LZ4
 * block. Encodes with numcodecs' wasm build (loaded on first use); decodes with volstore's own
 * bounds-checked block decoder (`lz-blocks.ts`) into a fresh buffer, and the block must produce
 * exactly the declared size (else CorruptionError naming the key).
 */
export class Lz4Codec implements BytesBytesCodec {
  readonly kind = 'bytes-bytes';
  readonly name = 'lz4';
  constructor(readonly acceleration: number) {}

  encode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardEncode('lz4', ctx, async () => (await lz4(this.acceleration)).encode(b));
  }

  decode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardDecode('lz4', ctx, async () => {
      if (b.length < 5) throw corrupt('lz4', ctx, `${b.length} bytes is too short for an LZ4 chunk`);
      const size = readU32LE(b, 0);
      // An LZ4 block expands at most ~255x; a larger claim is a garbled header, not data.
      if (size > 255 * (b.length - 4) + 16) throw corrupt('lz4', ctx, `header claims ${size} bytes from ${b.length - 4} compressed bytes`);
      if (size > limitOf(ctx)) throw tooLarge('lz4', ctx, `header claims ${size} bytes, which`);
      const out = new Uint8Array(size);
      const n = lz4DecodeBlock(b.subarray(4), out);
      if (n !== size) throw corrupt('lz4', ctx, n < 0 ? 'inconsistent LZ4 block (offset, length or end outside the data)' : `decoded ${n} bytes, header says ${size}`);
      return out;
    });
  }

  toJSON(): CodecJSON {
    return { name: 'lz4', configuration: { acceleration: this.acceleration } };
  }
}

type Codec = { encode(b: Uint8Array): Promise<Uint8Array> | Uint8Array; decode(b: Uint8Array): Promise<Uint8Array> | Uint8Array };
const instances = new Map<number, Promise<Codec>>();

/** A numcodecs LZ4 instance (the wasm module initialises on its first call). */
export function lz4(acceleration = 1): Promise<Codec> {
  let p = instances.get(acceleration);
  if (!p) {
    p = import('numcodecs/lz4').then((m) => m.default.fromConfig({ id: 'lz4', acceleration }));
    instances.set(acceleration, p);
  }
  return p;
}

export const factory: CodecFactory = (config) => new Lz4Codec(intOption('lz4', config, 'acceleration', 1, 1, 65537));
