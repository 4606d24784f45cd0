/**
 * n-d strided copy between two byte buffers: for every index i of `shape`,
 * the `elemSize` bytes at `src[srcOffset + Σ i_d·srcStrides[d]]` go to
 * `dst[dstOffset + Σ i_d·dstStrides[d]]`, byte-swapped when `swap` is set.
 * Strides and offsets are in BYTES and may be negative. Every read and write uses it.
 */
export function copyStrided(
  dst: Uint8Array,
  dstOffset: number,
  dstStrides: readonly number[],
  src: Uint8Array,
  srcOffset: number,
  srcStrides: readonly number[],
  shape: readonly number[],
  elemSize: number,
  swap = false,
): void {
  const rank = shape.length;
  for (const s of shape) if (s === 0) return;
  if (rank === 0) {
    copyRun(dst, dstOffset, elemSize, src, srcOffset, elemSize, 1, elemSize, swap);
    return;
  }
  // Merge the innermost dimension into a run; iterate the outer ones with an odometer.
  const inner = rank - 1;
  const n = shape[inner]!;
  const ds = dstStrides[inner]!;
  const ss = srcStrides[inner]!;
  const idx = new Array<number>(rank).fill(0);
  let d = dstOffset;
  let s = srcOffset;
  for (;;) {
    copyRun(dst, d, ds, src, s, ss, n, elemSize, swap);
    let k = inner - 1;
    for (; k >= 0; k--) {
      idx[k]!++;
      d += dstStrides[k]!;
      s += srcStrides[k]!;
      if (idx[k]! < shape[k]!) break;
      d -= dstStrides[k]! * shape[k]!;
      s -= srcStrides[k]! * shape[k]!;
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}

function copyRun(
  dst: Uint8Array, d: number, ds: number,
  src: Uint8Array, s: number, ss: number,
  n: number, size: number, swap: boolean,
): void {
  if (!swap && ds === size && ss === size) {
    dst.set(src.subarray(s, s + n * size), d);
    return;
  }
  if (swap) {
    for (let i = 0; i < n; i++, d += ds, s += ss) for (let b = 0; b < size; b++) dst[d + b] = src[s + size - 1 - b]!;
  } else if (size === 1) {
    for (let i = 0; i < n; i++, d += ds, s += ss) dst[d] = src[s]!;
  } else {
    for (let i = 0; i < n; i++, d += ds, s += ss) for (let b = 0; b < size; b++) dst[d + b] = src[s + b]!;
  }
}
