import { allocTypedArray, bytesOf, dtypeSize, viewAs } from '../array/dtype.js';
import { copyStrided } from '../array/copy.js';
import { fOrderStrides, NdArray, product } from '../array/ndarray.js';
import { CorruptionError, MetadataError, UnsupportedError } from '../errors.js';
import { decodedBytesBound } from '../limits.js';
import { describeJson } from '../util/json.js';
import { type ArrayBytesCodec, type BytesBytesCodec, type ChunkSpec, type CodecContext, type CodecFactory, type CodecJSON, createCodec } from './codec.js';

/**
 * N5 block framing (https://github.com/saalfeldlab/n5 "file-system specification"): every block
 * object is a big-endian header followed by the (compressed) element data.
 *
 *     uint16 mode        0 = default, 1 = varlength, 2 = object
 *     uint16 ndim
 *     uint32 size[ndim]  the block's actual extent, attributes.json order
 *     uint32 count       (mode 1 only) number of elements
 *
 * The spec says edge blocks are cropped to the dataset; zarr-python's N5Store writes them padded
 * to the full block size and says so in the header. Readers must accept both.
 */
export interface N5BlockHeader {
  mode: 0 | 1;
  /** The block extent stored in the header, attributes.json order. */
  shape: number[];
  /** Elements the data holds: product(shape) for mode 0, the explicit count for mode 1. */
  numElements: number;
  /** Byte offset of the (compressed) data. */
  dataOffset: number;
}

/**
 * Parses a block header. Throws CorruptionError naming `key` when the header is truncated, has
 * the wrong rank or claims a shape larger than `blockSize`; UnsupportedError for mode 2.
 */
export function parseN5BlockHeader(bytes: Uint8Array, key: string, blockSize: readonly number[]): N5BlockHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) throw new CorruptionError(key, `N5 block of ${bytes.byteLength} bytes is shorter than its header`);
  const mode = view.getUint16(0);
  const ndim = view.getUint16(2);
  if (mode === 2) {
    throw new UnsupportedError(`N5 block "${key}" uses mode 2 (object): not a numeric array block`);
  }
  if (mode !== 0 && mode !== 1) throw new CorruptionError(key, `unknown N5 block mode ${mode}`);
  if (ndim !== blockSize.length) {
    throw new CorruptionError(key, `N5 block header has ${ndim} dimensions, the dataset has ${blockSize.length}`);
  }
  let offset = 4;
  const headerEnd = offset + 4 * ndim + (mode === 1 ? 4 : 0);
  if (bytes.byteLength < headerEnd) {
    throw new CorruptionError(key, `N5 block of ${bytes.byteLength} bytes is shorter than its ${headerEnd}-byte header`);
  }
  const shape: number[] = [];
  let product = 1;
  for (let d = 0; d < ndim; d++, offset += 4) {
    const s = view.getUint32(offset);
    if (s > blockSize[d]!) {
      throw new CorruptionError(key, `N5 block header shape [${readShape(view, ndim)}] exceeds blockSize [${blockSize.join(', ')}]`);
    }
    shape.push(s);
    product *= s;
  }
  let numElements = product;
  if (mode === 1) {
    numElements = view.getUint32(offset);
    offset += 4;
  }
  return { mode: mode as 0 | 1, shape, numElements, dataOffset: offset };
}

function readShape(view: DataView, ndim: number): string {
  const out: number[] = [];
  for (let d = 0; d < ndim; d++) out.push(view.getUint32(4 + 4 * d));
  return out.join(', ');
}

/** Builds a mode-0 header for a block of `shape` (attributes.json order). */
export function encodeN5BlockHeader(shape: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0);
  view.setUint16(2, shape.length);
  shape.forEach((s, d) => view.setUint32(4 + 4 * d, s));
  return out;
}

/**
 * `n5_block{compression}`: the N5 block as an array->bytes codec, so that N5 chunks run through a
 * CodecChain like every other format (and so in the codec worker pool): the header above, then
 * the block's elements big-endian with dimension 0 fastest (Fortran order of attributes.json
 * order), compressed with `compression` (canonical codec JSON of a bytes->bytes codec, or null
 * for raw). The N5 driver's own: no other format names it.
 *
 * - decode: `spec.shape` is the block size; a block whose header says a smaller (cropped) extent
 *   comes back as a full block, zero outside that extent (N5's fill value). The decompressor's
 *   output is bounded by the block size (decompression bombs stop there).
 * - encode: writes a mode-0 block of `spec.shape` (the driver passes a chain per stored extent,
 *   the in-domain part of an edge block).
 */
export class N5BlockCodec implements ArrayBytesCodec {
  readonly kind = 'array-bytes';
  readonly name = 'n5_block';
  constructor(readonly compressor: BytesBytesCodec | null) {}

  encode(a: NdArray, spec: ChunkSpec, ctx?: CodecContext): Uint8Array | Promise<Uint8Array> {
    const size = dtypeSize(spec.dtype);
    const extent = spec.shape;
    const raw = new Uint8Array(product(extent) * size);
    copyStrided(
      raw, 0, fOrderStrides(extent).map((s) => s * size),
      bytesOf(a.data), a.offset * size, a.strides.map((s) => s * size),
      extent, size, size > 1,
    );
    const header = encodeN5BlockHeader(extent);
    const frame = (data: Uint8Array): Uint8Array => {
      const out = new Uint8Array(header.byteLength + data.byteLength);
      out.set(header, 0);
      out.set(data, header.byteLength);
      return out;
    };
    if (!this.compressor) return frame(raw);
    return Promise.resolve(this.compressor.encode(raw, { key: ctx?.key, signal: ctx?.signal })).then(frame);
  }

  async decode(bytes: Uint8Array, spec: ChunkSpec, ctx?: CodecContext): Promise<NdArray> {
    const key = ctx?.key ?? '<chunk>';
    const blockSize = spec.shape;
    const { dtype } = spec;
    const size = dtypeSize(dtype);
    const header = parseN5BlockHeader(bytes, key, blockSize);
    let data = bytes.subarray(header.dataOffset);
    // The block holds at most product(blockSize) elements (a varlength count beyond that is
    // corrupt anyway): bound the decompressor's output by that, as CodecChain does.
    const total = product(blockSize);
    if (this.compressor) data = await this.compressor.decode(data, { key, signal: ctx?.signal, maxDecodedBytes: decodedBytesBound(total * size) });
    const needed = product(header.shape);
    if (header.numElements < needed) {
      throw new CorruptionError(key, `N5 varlength header counts ${header.numElements} elements for a [${header.shape.join(', ')}] block`);
    }
    if (header.numElements * size > data.byteLength) {
      throw new CorruptionError(
        key,
        `N5 block header claims ${header.numElements} ${dtype} elements ([${header.shape.join(', ')}]), the block holds ${Math.floor(data.byteLength / size)}`,
      );
    }
    const into = ctx?.output?.(total * size);
    const out = into ? viewAs(dtype, into) : allocTypedArray(dtype, total);
    const strides = fOrderStrides(blockSize);
    // Full (or zarr-python padded) blocks and cropped ones alike: copy the header's extent,
    // byte-swapped, into a full F-order block; the rest is the fill value 0.
    if (into && needed < total) into.fill(0);
    copyStrided(
      bytesOf(out), 0, strides.map((s) => s * size),
      data, 0, fOrderStrides(header.shape).map((s) => s * size),
      header.shape, size, size > 1,
    );
    return new NdArray(dtype, out, blockSize, strides);
  }

  toJSON(): CodecJSON {
    return { name: 'n5_block', configuration: { compression: this.compressor?.toJSON() ?? null } };
  }
}

/**
 * Creates `n5_block{compression}`: `compression` is the canonical JSON of a bytes->bytes codec
 * (built with the block's spec) or null. MetadataError / UnsupportedError when it is not one.
 */
export const factory: CodecFactory = async (config, spec) => {
  const c = config.compression;
  if (c === null || c === undefined) return new N5BlockCodec(null);
  if (typeof c !== 'object' || Array.isArray(c) || typeof (c as CodecJSON).name !== 'string') {
    throw new MetadataError('compression', `n5_block: "compression" must be codec JSON or null, got ${describeJson(c)}`);
  }
  const codec = await createCodec(c as CodecJSON, spec);
  if (codec.kind !== 'bytes-bytes') throw new UnsupportedError(`N5 compression maps to non-bytes codec "${codec.name}"`);
  return new N5BlockCodec(codec);
};
