/**
 * `crc32c` bytes -> bytes codec (zarr v3): encode appends the CRC-32C of the bytes as uint32
 * little-endian; decode VERIFIES it (zarrita and Neuroglancer only strip it) and throws
 * CorruptionError naming the key and both checksums on mismatch.
 * Spec: https://zarr-specs.readthedocs.io/en/latest/v3/codecs/crc32c/index.html
 */
import { CorruptionError } from '../errors.js';
import { crc32c } from '../wasm/kernels.js';
import { loadCore } from '../wasm/core.js';
import type { BytesBytesCodec, CodecContext, CodecFactory } from './codec.js';

const hex = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;

class Crc32cCodec implements BytesBytesCodec {
  readonly kind = 'bytes-bytes';
  readonly name = 'crc32c';

  encode(b: Uint8Array): Uint8Array {
    const out = new Uint8Array(b.length + 4);
    out.set(b);
    new DataView(out.buffer).setUint32(b.length, crc32c(b), true);
    return out;
  }

  decode(b: Uint8Array, ctx?: CodecContext): Uint8Array {
    const key = ctx?.key ?? '(unknown key)';
    if (b.length < 4) throw new CorruptionError(key, `crc32c: ${b.length} bytes is shorter than the 4-byte checksum`);
    const n = b.length - 4;
    const data = b.subarray(0, n);
    const expected = new DataView(b.buffer, b.byteOffset + n, 4).getUint32(0, true);
    const actual = crc32c(data);
    if (actual !== expected) throw new CorruptionError(key, `crc32c mismatch: stored ${hex(expected)}, computed ${hex(actual)}`);
    return data;
  }

  encodedSize(decodedSize: number): number {
    return decodedSize + 4;
  }

  toJSON() {
    return { name: 'crc32c' };
  }
}

/** Creates the crc32c codec (no configuration); loads the wasm core first. */
export const factory: CodecFactory = async () => {
  await loadCore();
  return new Crc32cCodec();
};
