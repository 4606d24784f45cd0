import { CorruptionError, UnsupportedError } from '../errors.js';
import { type DataType, allocTypedArray, bytesOf, dtypeSize } from './dtype.js';
import { NdArray, cOrderStrides, fOrderStrides, product, toCOrder } from './ndarray.js';

/**
 * NumPy `.npy` files (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 * `encodeNpy` writes format 1.0, C order, little-endian, header padded to a multiple of 64 bytes.
 * `decodeNpy` reads versions 1.0, 2.0 and 3.0, C or Fortran order, either byte order; it throws
 * CorruptionError for malformed input and UnsupportedError for dtypes volstore has no type for.
 */
const DESCR: Record<DataType, string> = {
  bool: '|b1', int8: '|i1', uint8: '|u1', int16: '<i2', uint16: '<u2', int32: '<i4', uint32: '<u4',
  int64: '<i8', uint64: '<u8', float16: '<f2', float32: '<f4', float64: '<f8',
};
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/**
 * Encodes an array as a NumPy `.npy` file (version 1.0, C order, little-endian; any strides in).
 * @throws UnsupportedError when the header would not fit format 1.0 (arrays of rank > ~6000).
 */
export function encodeNpy(a: NdArray): Uint8Array {
  const c = toCOrder(a);
  const shape = c.shape.length === 1 ? `(${c.shape[0]},)` : `(${c.shape.join(', ')})`;
  let header = `{'descr': '${DESCR[c.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  if (header.length > 0xffff) throw new UnsupportedError('npy header too long for format 1.0');
  const data = bytesOf(c.data).subarray(0, c.size * dtypeSize(c.dtype));
  const out = new Uint8Array(total + data.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(data, total); // platform (little-endian) order
  return out;
}

/**
 * Decodes a NumPy `.npy` file (versions 1-3, C or Fortran order, either byte order) into an
 * array of native byte order.
 * @throws CorruptionError naming `key` for a malformed header or truncated data;
 *   UnsupportedError for dtypes volstore has no type for (strings, objects, complex).
 */
export function decodeNpy(bytes: Uint8Array, key = '<npy>'): NdArray {
  const bad = (msg: string) => new CorruptionError(key, `npy: ${msg}`);
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) throw bad('bad magic');
  const major = bytes[6]!;
  let hlen: number;
  let start: number;
  if (major === 1) {
    hlen = bytes[8]! | (bytes[9]! << 8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad('truncated header');
    hlen = (bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16) | (bytes[11]! << 24)) >>> 0;
    start = 12;
  } else throw new UnsupportedError(`npy format version ${major}.${bytes[7]} is not supported`);
  if (start + hlen > bytes.length) throw bad('truncated header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + hlen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(`cannot parse header ${JSON.stringify(header)}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((s) => !Number.isSafeInteger(s) || s < 0)) throw bad(`bad shape (${shapeText})`);
  const m = /^([<>|=])([biuf])(\d+)$/.exec(descr);
  const dtype = m ? parseDescr(m[2]!, Number(m[3])) : undefined;
  if (!m || !dtype) throw new UnsupportedError(`npy dtype '${descr}' is not supported`);
  const size = dtypeSize(dtype);
  const n = product(shape);
  const dataStart = start + hlen;
  if (bytes.length - dataStart < n * size) throw bad(`data is truncated: ${bytes.length - dataStart} bytes for ${n} x ${descr}`);
  const raw = bytes.slice(dataStart, dataStart + n * size);
  if (m[1] === '>' && size > 1) {
    for (let p = 0; p < raw.length; p += size) raw.subarray(p, p + size).reverse();
  }
  const data = allocTypedArray(dtype, n);
  bytesOf(data).set(raw);
  if (dtype === 'bool') for (let i = 0; i < n; i++) (data as Uint8Array)[i] = raw[i] ? 1 : 0;
  if (fortran === 'True' && shape.length > 1) {
    return toCOrder(new NdArray(dtype, data, shape, fOrderStrides(shape)));
  }
  return new NdArray(dtype, data, shape, cOrderStrides(shape));
}

function parseDescr(kind: string, size: number): DataType | undefined {
  if (kind === 'b') return size === 1 ? 'bool' : undefined;
  if (kind === 'f') return size === 2 ? 'float16' : size === 4 ? 'float32' : size === 8 ? 'float64' : undefined;
  const bits = size * 8;
  if (![8, 16, 32, 64].includes(bits)) return undefined;
  return `${kind === 'u' ? 'uint' : 'int'}${bits}` as DataType;
}
