import { importNodeOnly } from '../util/node-only.js';
import type { BytesBytesCodec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { corrupt, guardDecode, guardEncode, intOption } from './compression-util.js';

/**
 * `bz2{level}`: bzip2 streams. Decodes with seek-bzip (all concatenated streams, CRCs checked);
 * encodes with compressjs' Bzip2 at block size `level` x 100 kB (output verified readable by
 * Python's bz2). Both libraries load on first use.
 */
export class Bz2Codec implements BytesBytesCodec {
  readonly kind = 'bytes-bytes';
  readonly name = 'bz2';
  constructor(readonly level: number) {}

  encode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardEncode('bz2', ctx, async () => {
      // compressjs is AMD/CommonJS and needs Node's `path`: bz2 encoding is Node-only.
      const mod = await importNodeOnly<{ default: CompressJs }>('compressjs');
      const compressjs = mod.default;
      return Uint8Array.from(compressjs.Bzip2.compressFile(b, null, this.level));
    });
  }

  decode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardDecode('bz2', ctx, async () => {
      if (b.length < 14 || b[0] !== 0x42 || b[1] !== 0x5a || b[2] !== 0x68) throw corrupt('bz2', ctx, 'not a bzip2 stream (bad magic or too short)');
      // @ts-expect-error seek-bzip ships no type declarations (shape declared below)
      const { default: bunzip } = (await import('seek-bzip')) as { default: SeekBzip };
      try {
        const out = bunzip.decode(b, undefined, true); // all concatenated streams, like Python
        return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      } catch (e) {
        throw corrupt('bz2', ctx, e instanceof Error ? e.message : String(e), e);
      }
    });
  }

  toJSON(): CodecJSON {
    return { name: 'bz2', configuration: { level: this.level } };
  }
}

interface CompressJs {
  Bzip2: { compressFile(input: Uint8Array, output: null, blockSize: number): ArrayLike<number> };
}
interface SeekBzip {
  decode(input: Uint8Array, output: undefined, multistream: boolean): Uint8Array;
}

export const factory: CodecFactory = (config) => new Bz2Codec(intOption('bz2', config, 'level', 9, 1, 9));
