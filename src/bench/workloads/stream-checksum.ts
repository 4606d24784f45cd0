/**
 * The checksum the `stream` workload compares between the bytes written and the bytes read back:
 * a position-weighted sum of 32-bit words (mod 2^32) plus the trailing bytes, so misplaced data
 * is caught too. Not cryptographic; fast enough for gigabytes.
 */
export function slabChecksum(data: Uint8Array): number {
  const words = Math.floor(data.byteLength / 4);
  const aligned = data.byteOffset % 4 === 0;
  const w = aligned ? new Uint32Array(data.buffer, data.byteOffset, words) : new Uint32Array(data.slice(0, words * 4).buffer);
  let h = 0;
  for (let i = 0; i < words; i++) h = (h + Math.imul(w[i]!, (i % 65521) + 1)) >>> 0;
  for (let i = words * 4; i < data.byteLength; i++) h = (h + Math.imul(data[i]!, i + 1)) >>> 0;
  return h;
}
