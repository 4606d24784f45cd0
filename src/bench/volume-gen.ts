import type { DataType } from '../array/dtype.js';
import { NdArray } from '../array/ndarray.js';
import { mulberry32 } from '../testing/prng.js';
import { generateSegmentation } from './seg-gen.js';

/**
 * A deterministic, structured uint8 test volume in C order [z, y, x]: a smooth background
 * (gradients along z and y plus a few separable low-frequency waves), soft-edged spherical
 * blobs of varying brightness, and sparse low-amplitude noise. zstd(3) compresses it about
 * 3.5x in 64^3 chunks (not 100x like a constant volume, not 1x like uniform noise), in the
 * range the issue asks for. The same (shape, seed) always gives the same bytes.
 */
export function generateVolume(shape: readonly [number, number, number], seed = 1): Uint8Array {
  const [Z, Y, X] = shape;
  const rand = mulberry32(seed);
  const out = new Uint8Array(Z * Y * X);
  const Q = 4;

  // Separable low-frequency waves: sum_k a_k * wx_k[x] * wy_k[y] * wz_k[z].
  const K = 3;
  const wave = (n: number): Float32Array => {
    const f = (1 + rand() * 3) * 2 * Math.PI;
    const p = rand() * 2 * Math.PI;
    const t = new Float32Array(n);
    for (let i = 0; i < n; i++) t[i] = Math.sin((f * i) / Math.max(1, n) + p);
    return t;
  };
  const wx = Array.from({ length: K }, () => wave(X));
  const wy = Array.from({ length: K }, () => wave(Y));
  const wz = Array.from({ length: K }, () => wave(Z));
  const amp = Array.from({ length: K }, () => 10 + rand() * 14);

  const x0 = wx[0]!, x1 = wx[1]!, x2 = wx[2]!;
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      const base = 50 + (40 * z) / Math.max(1, Z) + (25 * y) / Math.max(1, Y);
      const c0 = amp[0]! * wy[0]![y]! * wz[0]![z]!;
      const c1 = amp[1]! * wy[1]![y]! * wz[1]![z]!;
      const c2 = amp[2]! * wy[2]![y]! * wz[2]![z]!;
      const row = (z * Y + y) * X;
      for (let x = 0; x < X; x++) {
        // quantized to multiples of Q: smooth ramps become plateaus, as in real 8-bit data
        const v = ((base + c0 * x0[x]! + c1 * x1[x]! + c2 * x2[x]!) / Q) | 0;
        out[row + x] = v < 0 ? 0 : v * Q > 255 ? 255 : v * Q;
      }
    }
  }

  // Blobs: count scales with the volume, radius with the edge length.
  const edge = Math.cbrt(Z * Y * X);
  const nBlobs = Math.max(4, Math.round((60 * Z * Y * X) / 512 ** 3));
  for (let b = 0; b < nBlobs; b++) {
    const cz = rand() * Z, cy = rand() * Y, cx = rand() * X;
    const r = edge * (0.03 + rand() * 0.07);
    const level = 120 + rand() * 130;
    const z0 = Math.max(0, Math.floor(cz - r)), z1 = Math.min(Z, Math.ceil(cz + r + 1));
    const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(Y, Math.ceil(cy + r + 1));
    const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(X, Math.ceil(cx + r + 1));
    const r2 = r * r;
    for (let z = z0; z < z1; z++) {
      const dz2 = (z - cz) * (z - cz);
      for (let y = y0; y < y1; y++) {
        const dzy2 = dz2 + (y - cy) * (y - cy);
        if (dzy2 > r2) continue;
        const row = (z * Y + y) * X;
        for (let x = x0; x < x1; x++) {
          const d2 = dzy2 + (x - cx) * (x - cx);
          if (d2 > r2) continue;
          // soft edge: full level inside 70% of the radius, linear falloff to the rim
          const t = Math.sqrt(d2) / r;
          const w = t < 0.7 ? 1 : (1 - t) / 0.3;
          out[row + x] = (((out[row + x]! * (1 - w) + level * w) / Q) | 0) * Q;
        }
      }
    }
  }

  // Noise: -1..+2 on about 1 in 8 voxels, from a cheap LCG seeded from the PRNG.
  let s = (rand() * 2 ** 32) >>> 0;
  const N = out.length;
  for (let i = 0; i < N; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) | 0;
    if (((s >>> 20) & 7) === 0) {
      const v = out[i]! + ((s >>> 28) & 3) - 1;
      out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/**
 * Synthetic data of any bench data type, C order over `shape` (3-d): EM-like images for
 * uint8 (this module), scaled to the type's range for 16-bit integers and to [0, 1] for floats;
 * segmentation labels with realistic runs for 32- and 64-bit integers (`seg-gen.ts`; uint32 /
 * int32 keep the ids' low 32 bits). Deterministic per (dtype, shape, seed).
 * @throws RangeError for a shape that is not 3-d or a dtype without a generator (bool, float16).
 */
export function syntheticVolume(dtype: DataType, shape: readonly number[], seed = 1): NdArray {
  if (shape.length !== 3) throw new RangeError(`synthetic volumes are 3-d, got shape [${shape.join(', ')}]`);
  const s = shape as [number, number, number];
  if (dtype === 'uint64' || dtype === 'int64' || dtype === 'uint32' || dtype === 'int32') {
    const seg = generateSegmentation(s, seed);
    if (dtype === 'uint64') return new NdArray('uint64', seg.labels, s);
    if (dtype === 'int64') return new NdArray('int64', new BigInt64Array(seg.labels.buffer, seg.labels.byteOffset, seg.labels.length), s);
    const lo = new Uint32Array(seg.labels.length);
    const words = new Uint32Array(seg.labels.buffer, seg.labels.byteOffset, seg.labels.length * 2);
    for (let i = 0; i < lo.length; i++) lo[i] = words[2 * i]!; // little-endian: the low word first
    return dtype === 'uint32' ? new NdArray('uint32', lo, s) : new NdArray('int32', new Int32Array(lo.buffer), s);
  }
  const em = generateVolume(s, seed);
  switch (dtype) {
    case 'uint8':
      return new NdArray('uint8', em, s);
    case 'int8':
      return new NdArray('int8', Int8Array.from(em, (v) => v - 128), s);
    case 'uint16':
      return new NdArray('uint16', Uint16Array.from(em, (v) => v * 257), s);
    case 'int16':
      return new NdArray('int16', Int16Array.from(em, (v) => v * 128 - 16384), s);
    case 'float32':
      return new NdArray('float32', Float32Array.from(em, (v) => v / 255), s);
    case 'float64':
      return new NdArray('float64', Float64Array.from(em, (v) => v / 255), s);
    default:
      throw new RangeError(`no synthetic data for dtype ${dtype}`);
  }
}
