import { tryCoreSync } from '../wasm/core.js';
import { isSharedMemory } from './dtype.js';
import { copyStridedWasm, WASM_COPY_MAX_RANK } from '../wasm/copy.js';

/**
 * n-d strided copy between two byte buffers: for every index i of `shape`,
 * the `elemSize` bytes at `src[srcOffset + Σ i_d·srcStrides[d]]` go to
 * `dst[dstOffset + Σ i_d·dstStrides[d]]`, byte-swapped when `swap` is set.
 * Strides and offsets are in BYTES and may be negative. Every read and write uses it.
 *
 * Paths (chosen per call; numbers in bench/kernels.ts):
 * - contiguous inner runs without swap: `TypedArray.set` per run (memcpy speed; wasm cannot beat
 *   it because it would need to copy the bytes in and out);
 * - element-wise (transposed, strided or byte-swapped) or short runs, when the touched spans are
 *   dense enough that moving them through wasm memory pays: the wasm kernel (SIMD swaps, tiled
 *   transposes);
 * - swapped/transposed into a sparse destination with rows >= 32 bytes: wasm into a packed
 *   staging area, then one set() per destination row;
 * - everything else (small or sparse copies, or no wasm available synchronously): `set` per run
 *   if runs are contiguous, else a TS element loop.
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
  for (const s of shape) if (s === 0) return;
  if (elemSize === 1) swap = false;
  const l = normalizeLayout(dstOffset, dstStrides, srcOffset, srcStrides, shape);
  const rank = l.shape.length;
  if (rank === 0) {
    copyRun(dst, l.dstOffset, elemSize, src, l.srcOffset, elemSize, 1, elemSize, swap);
    return;
  }
  const n = l.shape[rank - 1]!;
  const ds = l.dstStrides[rank - 1]!;
  const ss = l.srcStrides[rank - 1]!;
  const contiguous = !swap && ds === elemSize && ss === elemSize;
  const setRuns = () => forEachRun(l, (d, s) => dst.set(src.subarray(s, s + n * elemSize), d));
  if (contiguous && n * elemSize <= MAX_WORD_RUN && copyWordRuns(dst, src, l, n * elemSize)) return;
  if (contiguous && n * elemSize >= MIN_SET_RUN) return setRuns();
  let count = 1;
  for (const e of l.shape) count *= e;
  const bytes = count * elemSize;
  const core = bytes >= WASM_MIN_BYTES && rank <= WASM_COPY_MAX_RANK ? tryCoreSync() : undefined;
  if (core) {
    let sLo = l.srcOffset, sHi = l.srcOffset + elemSize, dHi = l.dstOffset + elemSize;
    let dense = ds === elemSize;
    for (let k = 0; k < rank; k++) {
      const e = l.shape[k]! - 1, s = l.srcStrides[k]!;
      if (s < 0) sLo += s * e; else sHi += s * e;
      dHi += l.dstStrides[k]! * e;
      if (k > 0 && l.dstStrides[k - 1] !== l.dstStrides[k]! * l.shape[k]!) dense = false;
    }
    const dLen = dHi - l.dstOffset;
    // Moving spans through wasm memory costs ~ a memcpy per byte moved: only when the spans
    // are not much bigger than what is actually copied. A sparse destination span is read into
    // wasm memory and written back whole, bytes between the copied elements included: never in
    // shared memory, where another thread may be writing those bytes meanwhile (codec workers
    // placing neighbouring chunks of one result) and the write-back would undo its writes.
    if ((dense || !isSharedMemory(dst)) && sHi - sLo + dLen * (dense ? 1 : 2) <= SPAN_BUDGET * bytes) {
      const k = kernelOrder(l.shape, l.dstStrides, l.srcStrides);
      copyStridedWasm(core, dst, l.dstOffset, k.dstStrides, l.dstOffset, dHi, dense,
        src, l.srcOffset, k.srcStrides, sLo, sHi, k.shape, elemSize, swap);
      return;
    }
    // Sparse destination with contiguous rows of useful length (a chunk into a big array):
    // transform into a packed staging area in wasm, then place each row with one set().
    const rowBytes = n * elemSize;
    if (!contiguous && ds === elemSize && rowBytes >= MIN_SCATTER_ROW && sHi - sLo <= SPAN_BUDGET * bytes) {
      const packed = new Array<number>(rank);
      let acc = elemSize;
      for (let k = rank - 1; k >= 0; k--) { packed[k] = acc; acc *= l.shape[k]!; }
      const k = kernelOrder(l.shape, packed, l.srcStrides);
      copyStridedWasm(core, dst, 0, k.dstStrides, 0, bytes, true, src, l.srcOffset, k.srcStrides, sLo, sHi, k.shape, elemSize, swap,
        (mem, base) => {
          let p = base;
          forEachRun(l, (d) => { dst.set(mem.subarray(p, p + rowBytes), d); p += rowBytes; });
        });
      return;
    }
  }
  if (contiguous) return setRuns();
  forEachRun(l, (d, s) => copyRun(dst, d, ds, src, s, ss, n, elemSize, swap));
}

/**
 * The dims in the order the wasm kernel should walk them. The kernel tiles its two innermost
 * dims when the innermost one is strided in the source (a transpose): that pays only when the
 * other tiled dim is the source's fastest, so that dim is moved next to the innermost one (a
 * Fortran-order chunk into a C-order result: x next to z, not y; ~5x faster for 64^3 uint64).
 * The set of element pairs copied is unchanged.
 */
function kernelOrder(shape: readonly number[], dstStrides: readonly number[], srcStrides: readonly number[]): { shape: number[]; dstStrides: number[]; srcStrides: number[] } {
  const rank = shape.length;
  const order = [...shape.keys()];
  if (rank >= 3) {
    let best = -1;
    for (let k = 0; k < rank - 1; k++) if (shape[k]! >= 8 && (best < 0 || Math.abs(srcStrides[k]!) < Math.abs(srcStrides[best]!))) best = k;
    if (best >= 0 && best !== rank - 2 && Math.abs(srcStrides[best]!) < Math.abs(srcStrides[rank - 2]!)) {
      order.splice(best, 1);
      order.splice(rank - 2, 0, best);
    }
  }
  return { shape: order.map((k) => shape[k]!), dstStrides: order.map((k) => dstStrides[k]!), srcStrides: order.map((k) => srcStrides[k]!) };
}

/**
 * Short contiguous runs (a 64-byte chunk row into a big output) as word loops: per-row
 * `subarray().set()` costs an allocation and a call per row, ~2x slower here (bench/kernels.ts).
 * 64-bit words (Float64Array, where this engine copies every bit pattern, NaNs included: see
 * {@link float64CopiesBits}) when both buffers, every run start and the run length are 8-byte
 * aligned, 32-bit words when they are 4-byte aligned; else false (the caller copies otherwise).
 * An 8-byte-word loop is ~2.5x faster than the 4-byte one for 64-byte rows.
 */
function copyWordRuns(dst: Uint8Array, src: Uint8Array, l: Layout, runBytes: number): boolean {
  let align = runBytes | dst.byteOffset | src.byteOffset | l.dstOffset | l.srcOffset;
  const outer = l.shape.length - 1;
  for (let k = 0; k < outer; k++) align |= l.dstStrides[k]! | l.srcStrides[k]!;
  if (align & 3) return false;
  if ((align & 7) === 0 && float64CopiesBits()) {
    const d = new Float64Array(dst.buffer, dst.byteOffset, dst.byteLength >>> 3);
    const s = new Float64Array(src.buffer, src.byteOffset, src.byteLength >>> 3);
    wordRuns(d, s, l, 3, runBytes >>> 3);
  } else {
    if (runBytes > MAX_WORD32_RUN) return false;
    const d = new Int32Array(dst.buffer, dst.byteOffset, dst.byteLength >>> 2);
    const s = new Int32Array(src.buffer, src.byteOffset, src.byteLength >>> 2);
    wordRuns(d, s, l, 2, runBytes >>> 2);
  }
  return true;
}

/**
 * The run loop of {@link copyWordRuns} over word views (`shift` = log2 of the word size): an
 * odometer over the outer dims, inlined (a callback per run costs ~2x here), with the innermost
 * outer dim as a plain loop.
 */
function wordRuns(d32: Float64Array | Int32Array, s32: Float64Array | Int32Array, l: Layout, shift: number, w: number): void {
  const outer = l.shape.length - 1;
  let d = l.dstOffset >> shift;
  let s = l.srcOffset >> shift;
  if (outer === 0) {
    for (let i = 0; i < w; i++) d32[d + i] = s32[s + i]!;
    return;
  }
  const n = l.shape[outer - 1]!;
  const dn = l.dstStrides[outer - 1]! >> shift;
  const sn = l.srcStrides[outer - 1]! >> shift;
  const idx = new Array<number>(outer).fill(0);
  const n4 = n - (n & 3);
  for (;;) {
    let j = 0;
    if (w === 8) {
      // 64-byte rows (a 64-wide uint8 chunk, 8-wide float64 ...), the commonest short run: two
      // rows per step, unrolled and interleaved (~1.25x the loop below into a 128-byte-wide
      // result, ~1.3x into a 512-wide one: bench/kernels.ts)
      const n2 = n - (n & 1);
      for (; j < n2; j += 2, d += 2 * dn, s += 2 * sn) {
        const e = d + dn, f = s + sn;
        d32[d] = s32[s]!; d32[e] = s32[f]!; d32[d + 1] = s32[s + 1]!; d32[e + 1] = s32[f + 1]!;
        d32[d + 2] = s32[s + 2]!; d32[e + 2] = s32[f + 2]!; d32[d + 3] = s32[s + 3]!; d32[e + 3] = s32[f + 3]!;
        d32[d + 4] = s32[s + 4]!; d32[e + 4] = s32[f + 4]!; d32[d + 5] = s32[s + 5]!; d32[e + 5] = s32[f + 5]!;
        d32[d + 6] = s32[s + 6]!; d32[e + 6] = s32[f + 6]!; d32[d + 7] = s32[s + 7]!; d32[e + 7] = s32[f + 7]!;
      }
    } else if ((w & 7) === 0) {
      // rows of whole 64-byte blocks (128-512 B): a row per step, eight words at a time
      for (; j < n; j++, d += dn, s += sn) {
        for (let i = 0; i < w; i += 8) {
          const a = d + i, b = s + i;
          d32[a] = s32[b]!; d32[a + 1] = s32[b + 1]!; d32[a + 2] = s32[b + 2]!; d32[a + 3] = s32[b + 3]!;
          d32[a + 4] = s32[b + 4]!; d32[a + 5] = s32[b + 5]!; d32[a + 6] = s32[b + 6]!; d32[a + 7] = s32[b + 7]!;
        }
      }
    }
    // four rows at a time: loads from four cache lines in flight at once (gathering 64-byte rows
    // out of a big array runs ~2x faster so; bench/kernels.ts)
    for (; j < n4; j += 4, d += 4 * dn, s += 4 * sn) {
      for (let i = 0; i < w; i++) {
        d32[d + i] = s32[s + i]!;
        d32[d + dn + i] = s32[s + sn + i]!;
        d32[d + 2 * dn + i] = s32[s + 2 * sn + i]!;
        d32[d + 3 * dn + i] = s32[s + 3 * sn + i]!;
      }
    }
    for (; j < n; j++, d += dn, s += sn) for (let i = 0; i < w; i++) d32[d + i] = s32[s + i]!;
    d -= dn * n;
    s -= sn * n;
    let k = outer - 2;
    for (; k >= 0; k--) {
      const ds = l.dstStrides[k]! >> shift;
      const ss = l.srcStrides[k]! >> shift;
      d += ds;
      s += ss;
      if (++idx[k]! < l.shape[k]!) break;
      d -= ds * l.shape[k]!;
      s -= ss * l.shape[k]!;
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}

let f64Exact: boolean | undefined;

/**
 * Whether copying Float64Array elements preserves every bit pattern, NaN payloads included (so
 * the 8-byte word loop may copy arbitrary bytes). True in V8 (Node, Chrome), where numbers are
 * tagged pointers; engines that NaN-box values (SpiderMonkey, JavaScriptCore) canonicalize NaNs
 * read from a Float64Array, which would change the bytes. Tested once, on the same element
 * copy the word loop does, with signalling, quiet, negative and V8's hole NaN patterns.
 */
export function float64CopiesBits(): boolean {
  if (f64Exact !== undefined) return f64Exact;
  const patterns = [
    [0x00000001, 0x7ff00000], [0xffffffff, 0xffffffff], [0x00000000, 0xfff80000],
    [0xfff7ffff, 0xfff7ffff], [0x12345678, 0x7ff7abcd], [0x00000000, 0x7ff80000],
  ];
  const src = new Int32Array(patterns.flat());
  const dst = new Int32Array(src.length);
  const l: Layout = { dstOffset: 0, srcOffset: 0, shape: [patterns.length, 1], dstStrides: [8, 8], srcStrides: [8, 8] };
  wordRuns(new Float64Array(dst.buffer), new Float64Array(src.buffer), l, 3, 1);
  f64Exact = src.every((v, i) => dst[i] === v);
  return f64Exact;
}

/**
 * Runs up to this long use word loops: 64-bit words up to 512 B (faster than set() or the wasm
 * kernel for 32-512 B rows, ~1.5-2.5x: set() costs a subarray per row), 32-bit words up to 64 B
 * (bench/kernels.ts: 64 B rows 1.1-2x faster than set(), 128 B rows slower).
 */
const MAX_WORD_RUN = 512;
/** Longest run copied with 32-bit words (when 64-bit words are not possible). */
const MAX_WORD32_RUN = 64;

/** Contiguous runs at least this long (not taken by a word loop) use TypedArray.set; shorter ones try wasm first. */
const MIN_SET_RUN = 256;
/** Shortest destination row worth a set() when scattering from a wasm staging area. */
const MIN_SCATTER_ROW = 32;
/** Copies smaller than this stay in TS: the wasm call and span copies cost more. */
const WASM_MIN_BYTES = 2048;
/** Max (bytes moved in/out of wasm) / (bytes copied) for the wasm path. */
const SPAN_BUDGET = 4;

interface Layout {
  dstOffset: number;
  srcOffset: number;
  shape: number[];
  dstStrides: number[];
  srcStrides: number[];
}

/**
 * Same copy, simpler layout: extent-1 dims dropped, destination strides made positive (flipping
 * the matching source stride), dims ordered by decreasing destination stride, and dims that are
 * contiguous on both sides merged. The set of (dst, src) byte pairs is unchanged.
 */
function normalizeLayout(
  dstOffset: number, dstStrides: readonly number[], srcOffset: number, srcStrides: readonly number[], shape: readonly number[],
): Layout {
  const dims: { n: number; d: number; s: number }[] = [];
  for (let i = 0; i < shape.length; i++) {
    const n = shape[i]!;
    if (n === 1) continue;
    let d = dstStrides[i]!, s = srcStrides[i]!;
    if (d < 0) {
      dstOffset += d * (n - 1);
      srcOffset += s * (n - 1);
      d = -d;
      s = -s;
    }
    dims.push({ n, d, s });
  }
  dims.sort((a, b) => b.d - a.d);
  const out: Layout = { dstOffset, srcOffset, shape: [], dstStrides: [], srcStrides: [] };
  for (const e of dims) {
    const k = out.shape.length - 1;
    if (k >= 0 && out.dstStrides[k] === e.d * e.n && out.srcStrides[k] === e.s * e.n) {
      out.shape[k]! *= e.n;
      out.dstStrides[k] = e.d;
      out.srcStrides[k] = e.s;
    } else {
      out.shape.push(e.n);
      out.dstStrides.push(e.d);
      out.srcStrides.push(e.s);
    }
  }
  return out;
}

/**
 * Visits the bytes of a strided array as contiguous runs: `f(start, length)` (byte offsets into
 * its buffer) for each, merging dims that are contiguous; stops early when `f` returns false.
 * Returns false if it stopped early. Strides and offset in bytes.
 */
export function everyRun(
  byteOffset: number, byteStrides: readonly number[], shape: readonly number[], elemSize: number,
  f: (start: number, length: number) => boolean,
): boolean {
  for (const n of shape) if (n === 0) return true;
  const l = normalizeLayout(byteOffset, byteStrides, byteOffset, byteStrides, shape);
  const rank = l.shape.length;
  if (rank === 0) return f(l.dstOffset, elemSize);
  const contiguous = l.dstStrides[rank - 1] === elemSize;
  const runBytes = contiguous ? l.shape[rank - 1]! * elemSize : elemSize;
  const outer: Layout = contiguous ? { ...l, shape: [...l.shape.slice(0, -1), 1], dstStrides: [...l.dstStrides.slice(0, -1), 0], srcStrides: [...l.srcStrides.slice(0, -1), 0] } : l;
  let ok = true;
  forEachRun(outer, (d) => {
    if (!ok) return;
    if (contiguous) ok = f(d, runBytes);
    else for (let i = 0, p = d; ok && i < l.shape[rank - 1]!; i++, p += l.dstStrides[rank - 1]!) ok = f(p, elemSize);
  });
  return ok;
}

/** Calls `f(dstByte, srcByte)` for the start of every innermost run, outer dims as an odometer. */
function forEachRun(l: Layout, f: (d: number, s: number) => void): void {
  const inner = l.shape.length - 1;
  const idx = new Array<number>(inner).fill(0);
  let d = l.dstOffset;
  let s = l.srcOffset;
  for (;;) {
    f(d, s);
    let k = inner - 1;
    for (; k >= 0; k--) {
      idx[k]!++;
      d += l.dstStrides[k]!;
      s += l.srcStrides[k]!;
      if (idx[k]! < l.shape[k]!) break;
      d -= l.dstStrides[k]! * l.shape[k]!;
      s -= l.srcStrides[k]! * l.shape[k]!;
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
  if (swap) {
    for (let i = 0; i < n; i++, d += ds, s += ss) for (let b = 0; b < size; b++) dst[d + b] = src[s + size - 1 - b]!;
  } else if (size === 1) {
    for (let i = 0; i < n; i++, d += ds, s += ss) dst[d] = src[s]!;
  } else {
    for (let i = 0; i < n; i++, d += ds, s += ss) for (let b = 0; b < size; b++) dst[d + b] = src[s + b]!;
  }
}
