import { bytesOf, dtypeSize } from './dtype.js';
import type { NdArray } from './ndarray.js';
import { copyStrided } from './copy.js';

/**
 * Where one chunk's elements go in a read's result: a strided box of the result, with the
 * chunk side given in chunk COORDINATES, not element offsets, so it does not depend on how the
 * decoded chunk is laid out (C order, Fortran order, a transposed view, an edge chunk decoded
 * cropped). The planner computes it from the view's index transform; whoever holds the decoded
 * chunk (the calling thread, or a codec worker writing into shared memory) applies it with
 * {@link placeChunk}. Plain data: it crosses to workers as a structured clone.
 */
export interface ChunkPlacement {
  /** Extent of the copy per result (view) dimension. */
  readonly shape: readonly number[];
  /** Byte offset of the copy's first element in the destination bytes. */
  readonly dstOffset: number;
  /** Byte strides of the destination per result dimension (may be negative). */
  readonly dstStrides: readonly number[];
  /** Per chunk dimension: the chunk-relative coordinate of the copy's first element. */
  readonly start: readonly number[];
  /** Per chunk dimension: the result dimension it moves with, or -1 (fixed at `start`). */
  readonly dims: readonly number[];
  /** Per chunk dimension: chunk coordinate step per step of its result dimension. */
  readonly steps: readonly number[];
}

/**
 * Copies the elements of `chunk` a placement selects into `dst` (the result's bytes; any
 * ArrayBuffer or SharedArrayBuffer). `chunk` may be the full chunk or only its in-domain corner
 * (a cropped edge chunk): the placement never reaches outside the domain.
 * @throws RangeError when the placement reaches outside `chunk` (a caller bug, never data).
 */
export function placeChunk(dst: Uint8Array, p: ChunkPlacement, chunk: NdArray): void {
  const size = dtypeSize(chunk.dtype);
  const rank = p.shape.length;
  const srcSteps = new Array<number>(rank).fill(0);
  let src = chunk.offset;
  for (let k = 0; k < p.start.length; k++) {
    const c0 = p.start[k]!;
    const j = p.dims[k]!;
    const [lo, hi] = placementRange(p, k);
    if (lo < 0 || hi >= chunk.shape[k]!) {
      throw new RangeError(`placement reaches coordinate ${lo < 0 ? lo : hi} of chunk dimension ${k} (extent ${chunk.shape[k]})`);
    }
    src += chunk.strides[k]! * c0;
    if (j >= 0) srcSteps[j]! += chunk.strides[k]! * p.steps[k]!;
  }
  copyStrided(
    dst, p.dstOffset, p.dstStrides,
    bytesOf(chunk.data), src * size, srcSteps.map((s) => s * size),
    p.shape, size,
  );
}

/**
 * The lowest and highest coordinate a placement takes along chunk dimension `k` (both
 * inclusive; equal for a dimension fixed at `start`, reversed steps handled). Meaningless when
 * the placement copies nothing (an extent 0).
 */
export function placementRange(p: ChunkPlacement, k: number): [number, number] {
  const c0 = p.start[k]!;
  const j = p.dims[k]!;
  const last = j >= 0 ? c0 + p.steps[k]! * (p.shape[j]! - 1) : c0;
  return c0 <= last ? [c0, last] : [last, c0];
}

/**
 * How much of a C-order chunk of `shape` a placement needs, as a prefix of whole slabs: the
 * first dimension `dim` of extent above 1 (the outer ones have extent 1) and the number of its
 * leading slabs, `count`, up to the highest coordinate the placement takes along it. The
 * prefix holds every element the placement reads, since in C order each slab's elements
 * precede the next slab's. Undefined when the placement needs every slab (or copies nothing,
 * or `shape` has no dimension above 1): then nothing is saved by decoding a prefix.
 */
export function placementPrefix(p: ChunkPlacement, shape: readonly number[]): { dim: number; count: number } | undefined {
  if (p.shape.some((n) => n === 0) || p.start.length !== shape.length) return undefined;
  const dim = shape.findIndex((n) => n > 1);
  if (dim < 0) return undefined;
  const count = placementRange(p, dim)[1] + 1;
  return count >= 1 && count < shape[dim]! ? { dim, count } : undefined;
}

/** The bytes a placement writes: elements x element size. */
export function placementBytes(p: ChunkPlacement, elemSize: number): number {
  let n = elemSize;
  for (const s of p.shape) n *= s;
  return n;
}

/**
 * The chunk's dims in the order a placement walks the destination, outermost first: by
 * decreasing destination stride of the result dim each moves with (fixed dims first). A chunk
 * laid out in this order is copied in its longest rows (see CodecContext.order).
 */
export function placementOrder(p: ChunkPlacement): number[] {
  const weight = (k: number) => (p.dims[k]! < 0 ? Infinity : Math.abs(p.dstStrides[p.dims[k]!]! * p.steps[k]!));
  return [...p.start.keys()].sort((a, b) => weight(b) - weight(a) || a - b);
}

/**
 * Bytes of the longest contiguous destination run a placement writes (a whole row of a C-order
 * result, or a single element when the copy transposes): what copying it costs per byte
 * depends on it (short runs: word loops; long ones: memcpy).
 */
export function placementRunBytes(p: ChunkPlacement, elemSize: number): number {
  const dims = p.shape.map((n, j) => ({ n, s: Math.abs(p.dstStrides[j]!) })).filter((d) => d.n > 1).sort((a, b) => a.s - b.s);
  let run = elemSize;
  for (const d of dims) {
    if (d.s !== run) break;
    run *= d.n;
  }
  return run;
}

/** Whether typed arrays over SharedArrayBuffer can be made and shared with workers here. */
export function sharedMemoryAvailable(): boolean {
  if (typeof SharedArrayBuffer !== 'function') return false;
  // Browsers expose SharedArrayBuffer (if at all) only to cross-origin isolated pages.
  const coi = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  return coi === undefined || coi === true;
}

