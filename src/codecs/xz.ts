import type { BytesBytesCodec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { VolstoreError } from '../errors.js';
import { concatBytes, corrupt, guardDecode, intOption, keyOf, limitOf, tooLarge, unsupported } from './compression-util.js';

/**
 * `xz{preset}`: .xz containers (as Python's lzma, numcodecs' `LZMA` and N5 write). Read-only:
 * decoded with the xz-decompress wasm build (xz-embedded; loaded on first use), streamed so that
 * output past `maxDecodedBytes` stops the decoder. Only the bytes the decoder reports as written
 * are returned. A valid stream using a filter xz-embedded lacks (delta) is UnsupportedError.
 * Encoding throws UnsupportedError: no maintained npm xz encoder runs here (@napi-rs/lzma 1.4,
 * the last for Node 20, writes only uncompressed LZMA2 chunks; 1.5 needs Node 22; lzma-native is
 * unmaintained).
 */
export class XzCodec implements BytesBytesCodec {
  readonly kind = 'bytes-bytes';
  readonly name = 'xz';
  constructor(readonly preset: number) {}

  encode(_b: Uint8Array, _ctx?: CodecContext): Uint8Array {
    throw unsupported('xz', 'encoding (writing) xz is not supported; xz chunks are read-only');
  }

  decode(b: Uint8Array, ctx?: CodecContext): Promise<Uint8Array> {
    return guardDecode('xz', ctx, async () => {
      const magic = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
      if (b.length < 32 || magic.some((m, i) => b[i] !== m)) throw corrupt('xz', ctx, 'not an xz stream (bad magic or too short)');
      const mod = (await import('xz-decompress')) as unknown as { XzReadableStream?: XzCtor; default?: { XzReadableStream: XzCtor } };
      const Xz = mod.XzReadableStream ?? mod.default!.XzReadableStream;
      const input = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(b);
          c.close();
        },
      });
      const parts: Uint8Array[] = [];
      const limit = limitOf(ctx);
      let produced = 0;
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      try {
        reader = new Xz(input).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parts.push(value);
          produced += value.length;
          if (produced > limit) {
            // cancel() frees the decoder context and its global lock (else later decodes wait forever)
            await reader.cancel().catch(() => undefined);
            throw tooLarge('xz', ctx);
          }
        }
      } catch (e) {
        if (e instanceof VolstoreError) throw e;
        const message = e instanceof Error ? e.message : String(e);
        const code = /error code (\d+)/.exec(message)?.[1];
        // xz-embedded's XZ_OPTIONS_ERROR: a valid stream using a filter or option it lacks
        if (code === '6') throw unsupported('xz', `"${keyOf(ctx)}" uses xz filters or options this decoder lacks (it reads LZMA2 chains)`);
        throw corrupt('xz', ctx, XZ_ERRORS[code ?? ''] ?? message, e);
      }
      return concatBytes(parts);
    });
  }

  toJSON(): CodecJSON {
    return { name: 'xz', configuration: { preset: this.preset } };
  }
}

/** xz-embedded's return codes, for messages. */
const XZ_ERRORS: Record<string, string> = {
  '2': 'unsupported integrity check type',
  '3': 'the decoder ran out of memory (dictionary size in the header too large?)',
  '4': 'the dictionary size in the header exceeds the decoder limit',
  '5': 'not an xz stream (bad header)',
  '7': 'corrupt compressed data or a failed integrity check',
  '8': 'truncated stream',
};

type XzCtor = new (s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;

export const factory: CodecFactory = (config) => new XzCodec(intOption('xz', config, 'preset', 6, 0, 9));
