import { Gunzip, gzipSync } from 'fflate';
import type { BytesBytesCodec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import {
  callNode,
  concatBytes,
  corrupt,
  crc32,
  guardDecode,
  guardEncode,
  intOption,
  nodeDeflate,
  nodeZlib,
  pushLimited,
  readU32LE,
} from './compression-util.js';
import { VolstoreError } from '../errors.js';

/**
 * `gzip{level}` (RFC 1952). Encodes one member at `level` (0-9): under Node with node:zlib
 * (native), elsewhere with fflate. Decodes any number of concatenated members (as `gzip -d` and
 * Python do), checking each member's CRC-32 and length; under Node, decoding goes through
 * node:zlib, which is ~1.7x faster and runs off the main thread.
 */
export class GzipCodec implements BytesBytesCodec {
  readonly kind = 'bytes-bytes';
  readonly name = 'gzip';
  constructor(readonly level: number) {}

  encode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardEncode('gzip', ctx, async () => {
      const node = await nodeZlib();
      if (node) return nodeDeflate(node.gzipSync.bind(node), b, this.level);
      // no modification time (fflate writes the current time unless told 0): the same chunk
      // always encodes to the same bytes, as with node:zlib
      return gzipSync(b, { level: this.level as 0, mtime: 0 });
    });
  }

  decode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardDecode('gzip', ctx, async () => {
      if (b.length < 18 || b[0] !== 0x1f || b[1] !== 0x8b) throw corrupt('gzip', ctx, 'not a gzip stream (bad magic or too short)');
      const node = await nodeZlib();
      if (node) return callNode(node.gunzip.bind(node), b, 'gzip', ctx);
      return gunzipMembers(b, ctx);
    });
  }

  toJSON(): CodecJSON {
    return { name: 'gzip', configuration: { level: this.level } };
  }
}

/**
 * Inflates every member with fflate (stopping past `ctx.maxDecodedBytes`), then checks each member's trailer (fflate does not). */
export function gunzipMembers(b: Uint8Array, ctx?: CodecContext): Uint8Array {
  const chunks: Uint8Array[] = [];
  let produced = 0;
  // [input offset where member k starts, output offset where member k starts]
  const members: [number, number][] = [[0, 0]];
  const g = new Gunzip((chunk) => {
    if (chunk.length) chunks.push(chunk);
    produced += chunk.length;
  });
  g.onmember = (offset) => members.push([offset, produced]);
  try {
    pushLimited(g, b, () => produced, 'gzip', ctx);
  } catch (e) {
    if (e instanceof VolstoreError) throw e;
    throw corrupt('gzip', ctx, (e as Error).message, e);
  }
  const out = concatBytes(chunks);
  for (let k = 0; k < members.length; k++) {
    const inEnd = k + 1 < members.length ? members[k + 1]![0] : b.length;
    const outStart = members[k]![1];
    const outEnd = k + 1 < members.length ? members[k + 1]![1] : out.length;
    if (inEnd - 8 < members[k]![0] + 10) throw corrupt('gzip', ctx, `member ${k} is truncated`);
    const crc = readU32LE(b, inEnd - 8);
    const isize = readU32LE(b, inEnd - 4);
    if (isize !== (outEnd - outStart) >>> 0) throw corrupt('gzip', ctx, `member ${k}: length ${outEnd - outStart} does not match trailer ${isize} (truncated or trailing bytes?)`);
    if (crc32(out.subarray(outStart, outEnd)) !== crc) throw corrupt('gzip', ctx, `member ${k}: CRC-32 mismatch`);
  }
  return out;
}

export const factory: CodecFactory = (config) => new GzipCodec(intOption('gzip', config, 'level', 6, 0, 9));
