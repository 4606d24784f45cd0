/**
 * Neuroglancer compressed_segmentation encode/decode on the wasm core (uint32 and uint64, any
 * block size, several channels). Format:
 * https://github.com/google/neuroglancer/blob/master/src/neuroglancer/sliceview/compressed_segmentation/README.md
 * plus the precomputed multi-channel header (one uint32 word offset per channel).
 *
 * Volumes are Fortran order: x fastest, then y, z, channel, i.e. `volumeSize = [x, y, z, channels]`.
 */
import { CodecError, CorruptionError } from '../errors.js';
import { type Core, coreSync } from './core.js';

export type CompressedSegmentationDType = 'uint32' | 'uint64';

function checkSizes(volumeSize: readonly number[], blockSize: readonly number[]): void {
  if (volumeSize.length !== 4 || blockSize.length !== 3) throw new RangeError('compressed_segmentation: volumeSize is [x,y,z,channels], blockSize is [bx,by,bz]');
  for (const v of volumeSize) if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new RangeError(`compressed_segmentation: bad volume size ${JSON.stringify(volumeSize)}`);
  for (const b of blockSize) if (!Number.isInteger(b) || b < 1 || b > 0xffff) throw new RangeError(`compressed_segmentation: bad block size ${JSON.stringify(blockSize)}`);
}

function writeSizes(core: Core, volumeSize: readonly number[], blockSize: readonly number[]): void {
  const p = core.paramsI32();
  for (let i = 0; i < 4; i++) p[i] = volumeSize[i]!;
  for (let i = 0; i < 3; i++) p[4 + i] = blockSize[i]!;
}

/**
 * Encodes a Fortran-order volume (`data.length === x*y*z*channels`) with the given block size.
 * Lookup tables identical between blocks of a channel are stored once. Throws RangeError on bad
 * sizes, CodecError if a lookup-table offset does not fit the format's 24 bits (chunk too big).
 */
export function encodeCompressedSegmentation(
  data: Uint32Array | BigUint64Array,
  volumeSize: readonly [number, number, number, number] | readonly number[],
  blockSize: readonly [number, number, number] | readonly number[],
): Uint8Array {
  checkSizes(volumeSize, blockSize);
  const [x, y, z, c] = volumeSize as [number, number, number, number];
  const count = x * y * z * c;
  if (data.length !== count) throw new RangeError(`compressed_segmentation: data has ${data.length} elements, volume ${JSON.stringify(volumeSize)} needs ${count}`);
  const wpv = data instanceof BigUint64Array ? 2 : 1;
  const [bx, by, bz] = blockSize as [number, number, number];
  const nblocks = Math.ceil(x / bx) * Math.ceil(y / by) * Math.ceil(z / bz);
  const bvox = bx * by * bz;
  // Worst case per block: header (2) + packed values (<= bvox words) + table (<= bvox values).
  const capWords = c + c * nblocks * (2 + bvox * (1 + wpv));
  const core = coreSync();
  const pin = core.alloc(data.byteLength);
  let pout = 0;
  try {
    pout = core.alloc(capWords * 4);
    core.u8().set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pin);
    writeSizes(core, volumeSize, blockSize);
    const words = core.exports.vs_cseg_encode(pin, wpv, core.params, core.params + 16, pout, capWords);
    if (words < 0) {
      const e = core.lastError();
      throw new CodecError('compressed_segmentation', e.code === 7
        ? `lookup table offset ${e.value} words exceeds the format's 24-bit limit: use smaller chunks`
        : `encoder failed with code ${e.code}`);
    }
    return core.u8().slice(pout, pout + words * 4);
  } finally {
    if (pout) core.free(pout);
    core.free(pin);
  }
}

/** Whether `strides` address each element of a `shape` volume once, within its packed size. */
function isPackedPermutation(shape: readonly number[], strides: readonly number[]): boolean {
  if (strides.length !== 4 || strides.some((s) => !Number.isInteger(s) || s < 0)) return false;
  const dims = shape.map((n, d) => ({ n, s: strides[d]! })).filter((d) => d.n > 1).sort((a, b) => a.s - b.s);
  let expect = 1;
  for (const d of dims) {
    if (d.s !== expect) return false;
    expect *= d.n;
  }
  return true;
}

const MESSAGES: Record<number, string> = {
  1: 'shorter than its channel offset header',
  2: 'channel offset (or its block headers) points past the end',
  3: 'block header has encoded bits not in {0,1,2,4,8,16,32}',
  4: 'block encoded values extend past the end',
  5: 'lookup table index points past the end',
};

/**
 * Decodes to a Fortran-order volume of `volumeSize` ([x,y,z,channels]). Hostile input never reads
 * out of bounds: a channel offset, block header, encoded values or lookup-table entry that points
 * outside `encoded`, or encoded bits not in {0,1,2,4,8,16,32}, throws CorruptionError naming `key`,
 * the byte offset of the offending word and its value. A length not a multiple of 4 is corrupt too.
 * `key` names the chunk in errors; `out` (optional, `dtype` and x*y*z*channels long) receives the
 * result instead of a new array. `strides` (optional, elements, for x, y, z, channel) lay the
 * result out in another order than Fortran's: a permutation of the packed layout (e.g. the order
 * a caller copies it out in), checked (RangeError otherwise). Returns the decoded array.
 */
export function decodeCompressedSegmentation(
  encoded: Uint8Array,
  volumeSize: readonly [number, number, number, number] | readonly number[],
  blockSize: readonly [number, number, number] | readonly number[],
  dtype: 'uint32',
  key?: string,
  out?: Uint32Array,
  strides?: readonly number[],
): Uint32Array;
export function decodeCompressedSegmentation(
  encoded: Uint8Array,
  volumeSize: readonly [number, number, number, number] | readonly number[],
  blockSize: readonly [number, number, number] | readonly number[],
  dtype: 'uint64',
  key?: string,
  out?: BigUint64Array,
  strides?: readonly number[],
): BigUint64Array;
export function decodeCompressedSegmentation(
  encoded: Uint8Array,
  volumeSize: readonly number[],
  blockSize: readonly number[],
  dtype: CompressedSegmentationDType,
  key?: string,
  out?: Uint32Array | BigUint64Array,
  strides?: readonly number[],
): Uint32Array | BigUint64Array;
export function decodeCompressedSegmentation(
  encoded: Uint8Array,
  volumeSize: readonly number[],
  blockSize: readonly number[],
  dtype: CompressedSegmentationDType,
  key = 'compressed_segmentation',
  out?: Uint32Array | BigUint64Array,
  strides?: readonly number[],
): Uint32Array | BigUint64Array {
  checkSizes(volumeSize, blockSize);
  if (dtype !== 'uint32' && dtype !== 'uint64') throw new RangeError(`compressed_segmentation: dtype ${String(dtype)} is not uint32 or uint64`);
  if (encoded.length % 4 !== 0) throw new CorruptionError(key, `compressed_segmentation: length ${encoded.length} bytes is not a multiple of 4`);
  const [x, y, z, c] = volumeSize as [number, number, number, number];
  const count = x * y * z * c;
  const wpv = dtype === 'uint64' ? 2 : 1;
  const st = strides ?? [1, x, x * y, x * y * z];
  if (!isPackedPermutation([x, y, z, c], st)) throw new RangeError(`compressed_segmentation: strides ${JSON.stringify(strides)} do not lay out a [${volumeSize.join(', ')}] volume`);
  if (out) {
    if (out.length !== count || (wpv === 2) !== out instanceof BigUint64Array) throw new RangeError(`compressed_segmentation: out must be a ${dtype} array of ${count} elements`);
  } else out = wpv === 2 ? new BigUint64Array(count) : new Uint32Array(count);
  if (count === 0) return out;
  const core = coreSync();
  const pin = core.alloc(encoded.length);
  let pout = 0;
  try {
    pout = core.alloc(out.byteLength);
    core.u8().set(encoded, pin);
    // The kernel writes every element of every block on success (its loops cover the whole
    // volume); zeroing first makes sure no earlier call's bytes can ever reach the result.
    core.u8().fill(0, pout, pout + out.byteLength);
    writeSizes(core, volumeSize, blockSize);
    const p = core.paramsI32();
    for (let i = 0; i < 4; i++) p[7 + i] = st[i]!;
    const rc = core.exports.vs_cseg_decode(pin, encoded.length / 4, wpv, core.params, core.params + 16, pout, core.params + 28);
    if (rc !== 0) {
      const e = core.lastError();
      throw new CorruptionError(key, `compressed_segmentation: ${MESSAGES[e.code] ?? `error ${e.code}`} (byte offset ${e.offset}, value ${e.value})`);
    }
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(core.u8().subarray(pout, pout + out.byteLength));
    return out;
  } finally {
    if (pout) core.free(pout);
    core.free(pin);
  }
}
