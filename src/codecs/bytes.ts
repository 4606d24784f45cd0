import { allocTypedArray, bytesOf, dtypeSize, viewAs } from '../array/dtype.js';
import { cOrderStrides, NdArray, product } from '../array/ndarray.js';
import { CorruptionError, MetadataError } from '../errors.js';
import { copyStrided } from '../array/copy.js';
import type { ArrayBytesCodec, ChunkSpec, CodecContext, CodecFactory, CodecJSON } from './codec.js';
import { describeJson } from '../util/json.js';

export type Endian = 'little' | 'big';

/**
 * zarr v3 `bytes`: the array in C order, little- or big-endian. Every format's raw layout is
 * this codec plus, where needed, a `transpose` in front of it (F order, N5, precomputed).
 */
export class BytesCodec implements ArrayBytesCodec {
  readonly kind = 'array-bytes';
  readonly name = 'bytes';
  constructor(readonly endian: Endian | undefined) {}

  private swaps(size: number): boolean {
    return size > 1 && this.endian === 'big';
  }

  encode(a: NdArray, spec: ChunkSpec): Uint8Array {
    const size = dtypeSize(spec.dtype);
    const swap = this.swaps(size);
    if (a.isCContiguous && !swap) {
      const b = bytesOf(a.data);
      return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice();
    }
    const out = new Uint8Array(product(a.shape) * size);
    copyStrided(
      out, 0, cOrderStrides(a.shape).map((s) => s * size),
      bytesOf(a.data), a.offset * size, a.strides.map((s) => s * size),
      a.shape, size, swap,
    );
    return out;
  }

  decode(b: Uint8Array, spec: ChunkSpec, ctx?: CodecContext): NdArray {
    const size = dtypeSize(spec.dtype);
    const n = product(spec.shape);
    if (b.byteLength !== n * size) {
      throw new CorruptionError(
        ctx?.key ?? '?',
        `decoded chunk has ${b.byteLength} bytes, expected ${n * size} (${spec.shape.join('x')} ${spec.dtype})`,
      );
    }
    if (this.swaps(size)) {
      const into = ctx?.output?.(n * size);
      const data = into ? viewAs(spec.dtype, into) : allocTypedArray(spec.dtype, n);
      const sh = [n];
      copyStrided(bytesOf(data), 0, [size], b, 0, [size], sh, size, true);
      return new NdArray(spec.dtype, data, spec.shape);
    }
    return new NdArray(spec.dtype, viewAs(spec.dtype, b), spec.shape);
  }

  /** Exactly the raw size. */
  maxEncodedSize(spec: ChunkSpec): number {
    return product(spec.shape) * dtypeSize(spec.dtype);
  }

  toJSON(): CodecJSON {
    return { name: 'bytes', configuration: this.endian ? { endian: this.endian } : {} };
  }
}

export const factory: CodecFactory = (config, spec) => {
  const endian = config.endian;
  if (endian !== undefined && endian !== 'little' && endian !== 'big') {
    throw new MetadataError('codecs', `bytes codec: endian must be "little" or "big", got ${describeJson(endian)}`);
  }
  if (endian === undefined && dtypeSize(spec.dtype) > 1) {
    throw new MetadataError('codecs', `bytes codec: "endian" is required for ${spec.dtype}`);
  }
  return new BytesCodec(endian);
};
