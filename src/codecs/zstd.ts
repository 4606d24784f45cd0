import type { BytesBytesCodec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { corrupt, guardDecode, guardEncode, intOption, unsupported } from './compression-util.js';

/**
 * `zstd{level, checksum}` via numcodecs' wasm zstd (loaded on first use). Decodes one or more
 * frames, with or without a content size in the header (streaming frames, as the zstd CLI and
 * some writers produce). `checksum: true` asks for a content checksum on encode, which the wasm
 * build cannot write: it throws UnsupportedError; frames that carry one decode fine.
 */
export class ZstdCodec implements BytesBytesCodec {
  readonly kind = 'bytes-bytes';
  readonly name = 'zstd';
  constructor(
    readonly level: number,
    readonly checksum: boolean,
  ) {}

  encode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardEncode('zstd', ctx, async () => {
      if (this.checksum) throw unsupported('zstd', 'writing frames with checksum: true is not supported');
      return (await zstd(this.level)).encode(b);
    });
  }

  decode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardDecode('zstd', ctx, async () => {
      if (b.length < 9 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) {
        throw corrupt('zstd', ctx, 'not a zstd frame (bad magic or too short)');
      }
      const claimed = frameContentSize(b);
      if (claimed !== undefined && claimed > 2 ** 31) throw corrupt('zstd', ctx, `frame header claims ${claimed} bytes`);
      try {
        return await (await zstd(this.level)).decode(b);
      } catch (e) {
        throw corrupt('zstd', ctx, e instanceof Error ? e.message : String(e), e);
      }
    });
  }

  toJSON(): CodecJSON {
    return { name: 'zstd', configuration: { level: this.level, checksum: this.checksum } };
  }
}

/** Frame_Content_Size of the first frame (RFC 8878 3.1.1.1), or undefined when absent. */
export function frameContentSize(b: Uint8Array): number | undefined {
  const fhd = b[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const didFlag = fhd & 3;
  if (fcsFlag === 0 && !single) return undefined;
  let p = 5 + (single ? 0 : 1) + [0, 1, 2, 4][didFlag]!;
  const n = fcsFlag === 0 ? 1 : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
  if (p + n > b.length) return undefined;
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + b[p + i]!;
  return n === 2 ? v + 256 : v;
}

type Codec = { encode(b: Uint8Array): Promise<Uint8Array> | Uint8Array; decode(b: Uint8Array): Promise<Uint8Array> | Uint8Array };
const instances = new Map<number, Promise<Codec>>();

/** A numcodecs Zstd instance at `level` (the wasm module initialises on its first call). */
export function zstd(level: number): Promise<Codec> {
  let p = instances.get(level);
  if (!p) {
    p = import('numcodecs/zstd').then((m) => m.default.fromConfig({ id: 'zstd', level }));
    instances.set(level, p);
  }
  return p;
}

export const factory: CodecFactory = (config) => {
  const checksum = config.checksum ?? false;
  if (typeof checksum !== 'boolean') throw unsupported('zstd', `checksum must be a boolean, got ${JSON.stringify(checksum)}`);
  return new ZstdCodec(intOption('zstd', config, 'level', 0, -131072, 22), checksum);
};
