import { importNodeOnly } from '../util/node-only.js';
import type { BytesBytesCodec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { corrupt, guardDecode, guardEncode, intOption, limitOf, tooLarge } from './compression-util.js';

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
      const out = new LimitedOutput(limitOf(ctx));
      try {
        bunzip.decode(b, out, true); // all concatenated streams, like Python
      } catch (e) {
        if (e === LIMIT) throw tooLarge('bz2', ctx);
        throw corrupt('bz2', ctx, e instanceof Error ? e.message : String(e), e);
      }
      return out.result();
    });
  }

  toJSON(): CodecJSON {
    return { name: 'bz2', configuration: { level: this.level } };
  }
}

const LIMIT = Symbol('bz2 output limit');

/**
 * A seek-bzip output stream (it calls writeByte per decoded byte) into a doubling buffer that
 * throws {@link LIMIT} on the first byte past `limit`, so a bomb stops right there.
 */
class LimitedOutput {
  private buf: Uint8Array;
  private pos = 0;
  constructor(private readonly limit: number) {
    this.buf = new Uint8Array(Math.min(65536, limit));
  }

  writeByte(v: number): void {
    if (this.pos >= this.buf.length) this.grow();
    this.buf[this.pos++] = v;
  }

  private grow(): void {
    if (this.pos >= this.limit) throw LIMIT;
    const next = new Uint8Array(Math.min(Math.max(2 * this.buf.length, 65536), this.limit));
    next.set(this.buf);
    this.buf = next;
  }

  flush(): void {}

  result(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

interface CompressJs {
  Bzip2: { compressFile(input: Uint8Array, output: null, blockSize: number): ArrayLike<number> };
}
interface SeekBzip {
  decode(input: Uint8Array, output: { writeByte(v: number): void }, multistream: boolean): unknown;
}

export const factory: CodecFactory = (config) => new Bz2Codec(intOption('bz2', config, 'level', 9, 1, 9));
