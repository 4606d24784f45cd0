/**
 * Scalar and byte kernels of the wasm core: CRC-32C and the neuroglancer sharding hashes.
 * All functions are synchronous; in a browser main thread `await loadCore()` first.
 */
import { coreSync } from './core.js';

/** Bytes streamed through wasm memory per step, so a big input never grows the module. */
const CRC_STEP = 1 << 16;

/**
 * CRC-32C (Castagnoli) of `bytes`. `init` continues a previous result:
 * `crc32c(b, crc32c(a)) === crc32c(concat(a, b))`. Returns an unsigned 32-bit number.
 */
export function crc32c(bytes: Uint8Array, init = 0): number {
  const core = coreSync();
  const n = bytes.length;
  const buf = core.alloc(Math.min(n, CRC_STEP));
  try {
    let crc = init >>> 0;
    for (let off = 0; off < n; off += CRC_STEP) {
      const end = Math.min(n, off + CRC_STEP);
      core.u8().set(bytes.subarray(off, end), buf);
      crc = core.exports.vs_crc32c(buf, end - off, crc) >>> 0;
    }
    return crc;
  } finally {
    core.free(buf);
  }
}

function checkSeed(seed: number): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`murmurhash3 seed ${seed} is not a uint32`);
  return seed;
}

function splitU64(id: bigint): [number, number] {
  if (id < 0n || id > 0xffffffffffffffffn) throw new RangeError(`chunk id ${id} is not a uint64`);
  return [Number(id & 0xffffffffn), Number(id >> 32n)];
}

/**
 * MurmurHash3_x86_128 of the 8-byte little-endian `id`, all four state words seeded with `seed`;
 * returns the four output words out[0..3] (unsigned).
 */
export function murmurhash3_x86_128_uint64_words(id: bigint, seed = 0): [number, number, number, number] {
  const core = coreSync();
  const [lo, hi] = splitU64(id);
  const p = core.exports.vs_murmur3_u64(lo, hi, checkSeed(seed));
  const w = new Uint32Array(core.exports.memory.buffer, p, 4);
  return [w[0]!, w[1]!, w[2]!, w[3]!];
}

/**
 * The neuroglancer_uint64_sharded_v1 `murmurhash3_x86_128` hash of a chunk id: MurmurHash3_x86_128
 * of the 8-byte LE id, keeping the low 64 bits `(out[1] << 32) | out[0]`.
 */
export function murmurhash3_x86_128_uint64(id: bigint, seed = 0): bigint {
  const [a, b] = murmurhash3_x86_128_uint64_words(id, seed);
  return (BigInt(b) << 32n) | BigInt(a);
}

/**
 * Compressed Morton code of grid position `pos` in a grid of `gridShape` chunks (neuroglancer
 * sharded chunk id): bit i of each dim whose extent needs more than i bits, interleaved with dim 0
 * first. Throws RangeError if a position is outside the grid or the code needs more than 64 bits.
 */
export function compressedMortonCode(pos: readonly number[], gridShape: readonly number[]): bigint {
  const rank = pos.length;
  if (gridShape.length !== rank || rank > 32) throw new RangeError('compressedMortonCode: pos and gridShape must have the same rank (<= 32)');
  for (let d = 0; d < rank; d++) {
    const g = gridShape[d]!, p = pos[d]!;
    if (!Number.isInteger(g) || g < 1 || g > 0xffffffff) throw new RangeError(`grid extent ${g} of dim ${d} is not a positive uint32`);
    if (!Number.isInteger(p) || p < 0 || p >= g) throw new RangeError(`position ${p} of dim ${d} is outside the grid extent ${g}`);
  }
  const core = coreSync();
  const prm = new Uint32Array(core.exports.memory.buffer, core.params, 64);
  for (let d = 0; d < rank; d++) {
    prm[d] = pos[d]!;
    prm[32 + d] = gridShape[d]!;
  }
  const p = core.exports.vs_compressed_morton(core.params, core.params + 128, rank);
  if (p === 0) throw new RangeError(`compressed Morton code of grid ${JSON.stringify(gridShape)} needs more than 64 bits`);
  const w = new Uint32Array(core.exports.memory.buffer, p, 2);
  return (BigInt(w[1]!) << 32n) | BigInt(w[0]!);
}
