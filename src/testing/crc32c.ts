/**
 * CRC-32C for the emulator's `crc32c` object fields and `x-goog-hash` headers: the project's
 * one CRC-32C implementation, the WASM kernel (src/wasm/kernels.ts).
 */
import { crc32c } from '../wasm/kernels.js';

export { crc32c };

/** The GCS encoding of a CRC-32C: base64 of the 4 big-endian bytes. */
export function crc32cBase64(data: Uint8Array): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32c(data), 0);
  return b.toString('base64');
}
