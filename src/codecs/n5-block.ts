import { CorruptionError, UnsupportedError } from '../errors.js';

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
