import { Unzlib, zlibSync } from 'fflate';
import { VolstoreError } from '../errors.js';
import type { BytesBytesCodec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { adler32, callNode, concatBytes, corrupt, guardDecode, guardEncode, intOption, nodeDeflate, nodeZlib, pushLimited } from './compression-util.js';

/**
 * `zlib{level}` (RFC 1950): deflate with a 2-byte header and an Adler-32 trailer. Encodes at
 * `level` (0-9) and decodes with node:zlib (native) under Node, else with fflate (plus an
 * Adler-32 check on decode).
 */
export class ZlibCodec implements BytesBytesCodec {
  readonly kind = 'bytes-bytes';
  readonly name = 'zlib';
  constructor(readonly level: number) {}

  encode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardEncode('zlib', ctx, async () => {
      const node = await nodeZlib();
      if (node) return nodeDeflate(node.deflateSync.bind(node), b, this.level);
      return zlibSync(b, { level: this.level as 0 });
    });
  }

  decode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardDecode('zlib', ctx, async () => {
      if (b.length < 6 || (b[0]! & 0x0f) !== 8 || ((b[0]! << 8) | b[1]!) % 31 !== 0) {
        throw corrupt('zlib', ctx, 'not a zlib stream (bad header or too short)');
      }
      const node = await nodeZlib();
      if (node) return callNode(node.inflate.bind(node), b, 'zlib', ctx);
      const parts: Uint8Array[] = [];
      let produced = 0;
      const strm = new Unzlib((chunk) => {
        if (chunk.length) parts.push(chunk);
        produced += chunk.length;
      });
      try {
        pushLimited(strm, b, () => produced, 'zlib', ctx);
      } catch (e) {
        if (e instanceof VolstoreError) throw e;
        throw corrupt('zlib', ctx, (e as Error).message, e);
      }
      const out = concatBytes(parts);
      // fflate does not verify the trailer; a truncated stream can still inflate "successfully".
      const p = b.length - 4;
      const want = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
      if (adler32(out) !== want) throw corrupt('zlib', ctx, 'Adler-32 mismatch (truncated or corrupt stream)');
      return out;
    });
  }

  toJSON(): CodecJSON {
    return { name: 'zlib', configuration: { level: this.level } };
  }
}

export const factory: CodecFactory = (config) => new ZlibCodec(intOption('zlib', config, 'level', 6, 0, 9));
