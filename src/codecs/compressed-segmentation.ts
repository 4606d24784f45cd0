import { bytesOf, dtypeSize, viewAs } from '../array/dtype.js';
import { fOrderStrides, NdArray, product } from '../array/ndarray.js';
import { MetadataError, UnsupportedError } from '../errors.js';
import { copyStrided } from '../array/copy.js';
import { decodeCompressedSegmentation, encodeCompressedSegmentation } from '../wasm/compressed-segmentation.js';
import { loadCore } from '../wasm/core.js';
import type { ArrayBytesCodec, ChunkSpec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { describeJson } from '../util/json.js';

/**
 * `compressed_segmentation{block_size}` array->bytes codec (Neuroglancer's segmentation
 * encoding, uint32/uint64): the chunk is [x, y, z, channel] (rank 3 means one channel) in
 * Fortran order. Encoding and decoding run in the wasm core (`src/wasm/compressed-segmentation.ts`),
 * which rejects hostile input with CorruptionError naming the key and offending offset.
 */
export class CompressedSegmentationCodec implements ArrayBytesCodec {
  readonly kind = 'array-bytes';
  readonly name = 'compressed_segmentation';
  readonly honorsOrder = true;
  constructor(readonly blockSize: readonly [number, number, number]) {}

  private volume(shape: readonly number[]): number[] {
    return shape.length === 3 ? [...shape, 1] : [...shape];
  }

  encode(a: NdArray, spec: ChunkSpec): Uint8Array {
    const vol = this.volume(spec.shape);
    const f = fOrderStrides(a.shape);
    let data = a.data as Uint32Array | BigUint64Array;
    const contiguousF = a.offset === 0 && data.length === product(a.shape) && a.strides.every((s, d) => a.shape[d]! <= 1 || s === f[d]);
    if (!contiguousF) {
      const size = dtypeSize(a.dtype);
      const copy = a.dtype === 'uint64' ? new BigUint64Array(product(a.shape)) : new Uint32Array(product(a.shape));
      copyStrided(
        bytesOf(copy), 0, f.map((s) => s * size),
        bytesOf(a.data), a.offset * size, a.strides.map((s) => s * size),
        a.shape, size,
      );
      data = copy;
    }
    return encodeCompressedSegmentation(data, vol, this.blockSize);
  }

  decode(b: Uint8Array, spec: ChunkSpec, ctx?: CodecContext): NdArray {
    const vol = this.volume(spec.shape);
    const dtype = spec.dtype as 'uint32' | 'uint64';
    const into = ctx?.output?.(product(spec.shape) * dtypeSize(dtype));
    // the consumer's order (e.g. C order of a read's result) when asked: no transposing copy later
    const strides = ctx?.order?.length === spec.shape.length ? packedStrides(spec.shape, ctx.order) : fOrderStrides(spec.shape);
    const volStrides = spec.shape.length === 3 ? [...strides, product(spec.shape)] : strides;
    const data = decodeCompressedSegmentation(b, vol, this.blockSize, dtype, ctx?.key ?? '<chunk>', into && viewAs(dtype, into), volStrides);
    return new NdArray(spec.dtype, data as never, spec.shape, strides);
  }

  /**
   * Worst case: per channel a 4-byte offset; per block an 8-byte header; per element 32-bit
   * encoded values plus one lookup-table entry.
   */
  maxEncodedSize(spec: ChunkSpec): number {
    const [x, y, z, c] = this.volume(spec.shape) as [number, number, number, number];
    const bs = this.blockSize;
    const blocks = Math.ceil(x / bs[0]) * Math.ceil(y / bs[1]) * Math.ceil(z / bs[2]);
    return c * (4 + 8 * blocks + x * y * z * (4 + dtypeSize(spec.dtype)));
  }

  toJSON(): CodecJSON {
    return { name: 'compressed_segmentation', configuration: { block_size: [...this.blockSize] } };
  }
}

/** Element strides packing `shape` with its dims in `order` (outermost first). */
function packedStrides(shape: readonly number[], order: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(0);
  let s = 1;
  for (let i = order.length - 1; i >= 0; i--) {
    strides[order[i]!] = s;
    s *= shape[order[i]!]!;
  }
  return strides;
}

export const factory: CodecFactory = async (config, spec) => {
  if (spec.dtype !== 'uint32' && spec.dtype !== 'uint64') {
    throw new UnsupportedError(`compressed_segmentation encodes uint32 or uint64, not ${spec.dtype}`);
  }
  if (spec.shape.length !== 3 && spec.shape.length !== 4) {
    throw new MetadataError('compressed_segmentation', `chunks are [x, y, z] or [x, y, z, channel], got rank ${spec.shape.length}`);
  }
  const bs = config.block_size ?? [8, 8, 8];
  if (!Array.isArray(bs) || bs.length !== 3 || !bs.every((v) => Number.isInteger(v) && v >= 1 && v <= 0xffff)) {
    throw new MetadataError('compressed_segmentation', `block_size must be 3 positive integers, got ${describeJson(bs)}`);
  }
  await loadCore(); // async compile: works on a browser main thread
  return new CompressedSegmentationCodec(bs as [number, number, number]);
};
