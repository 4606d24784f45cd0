/**
 * CRC-32C (Castagnoli), table driven, for the emulator's `crc32c` object fields.
 *
 * The emulator deliberately does not depend on the shared WASM kernel (src/wasm/) so that it
 * works before that kernel is built; once the kernel is stable this should switch to it.
 */

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    // Reflected polynomial 0x82F63B78 (bit-reversed 0x1EDC6F41).
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Extends a running CRC-32C with `data`; start with 0. Returns an unsigned 32-bit value. */
export function crc32cUpdate(crc: number, data: Uint8Array): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32C of `data` as an unsigned 32-bit integer. */
export function crc32c(data: Uint8Array): number {
  return crc32cUpdate(0, data);
}

/** The GCS encoding of a CRC-32C: base64 of the 4 big-endian bytes. */
export function crc32cBase64(data: Uint8Array): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32c(data), 0);
  return b.toString('base64');
}
