/**
 * Codecs that misbehave on purpose, for the pool's tests: registered on the main thread by the
 * tests and in the workers by `test-worker.ts` (the pool's worker entry plus these).
 * - `test_spin{}`: bytes->bytes; decode copies its input after spinning forever when the first
 *   byte is 0xff (a worker stuck in a long synchronous decode), at once otherwise.
 * - `test_crash{}`: bytes->bytes; decode kills the thread it runs on (a worker crash) when the
 *   first byte is 0xee, else copies its input.
 * - `test_slow{}`: bytes->bytes; decode copies its input after a 30 ms timer (a slow decode that
 *   yields: an abort can land while it runs).
 */
import { isMainThread } from 'node:worker_threads';
import type { BytesBytesCodec, CodecFactory } from '../../src/codecs/codec.js';
import { isCodecRegistered, registerCodec } from '../../src/codecs/codec.js';

function passthrough(name: string, onDecode: (b: Uint8Array) => void): CodecFactory {
  return () =>
    ({
      kind: 'bytes-bytes',
      name,
      encode: (b: Uint8Array) => b.slice(),
      decode: (b: Uint8Array) => {
        onDecode(b);
        return b.slice();
      },
      toJSON: () => ({ name }),
    }) satisfies BytesBytesCodec;
}

export function registerTestCodecs(): void {
  if (isCodecRegistered('test_spin')) return;
  registerCodec('test_spin', async () =>
    passthrough('test_spin', (b) => {
      if (b[0] !== 0xff) return;
      if (isMainThread) throw new Error('test_spin: would hang the main thread');
      for (;;);
    }),
  );
  registerCodec('test_slow', async () => () => ({
    kind: 'bytes-bytes',
    name: 'test_slow',
    encode: (b: Uint8Array) => b.slice(),
    decode: async (b: Uint8Array) => {
      await new Promise((r) => setTimeout(r, 30));
      return b.slice();
    },
    toJSON: () => ({ name: 'test_slow' }),
  }) satisfies BytesBytesCodec);
  registerCodec('test_crash', async () =>
    passthrough('test_crash', (b) => {
      if (b[0] !== 0xee) return;
      // never take the test runner down if a test ever runs this inline
      if (isMainThread) throw new Error('test_crash: would crash the main thread');
      process.exit(7);
    }),
  );
}
