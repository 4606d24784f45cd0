/**
 * The wasm side of `copyStrided` (src/io/copy.ts): copies the source span into wasm memory,
 * runs the C kernel, and copies the destination span back out. The caller has normalised the
 * layout (see `normalizeLayout` in src/io/copy.ts) and decided the copy is worth the round trip.
 */
import type { Core } from './core.js';

/** Max rank the C kernel accepts (parameter block holds shape + two stride arrays). */
export const WASM_COPY_MAX_RANK = 32;

/**
 * `shape`, `dstStrides`, `srcStrides` are normalised dims (byte strides; destination strides
 * positive); `dstOffset`/`srcOffset` address element 0. `[dstLo, dstHi)` / `[srcLo, srcHi)` are
 * the byte spans touched; `dstDense` says every byte of the destination span is written (so it
 * need not be copied in first). With `scatter`, the destination layout is a packed staging area
 * in wasm memory instead and `scatter(mem, base)` moves it out (byte `x` of the staging area's
 * layout is at `mem[base + x]`), for destinations too sparse to copy in and out whole.
 */
export function copyStridedWasm(
  core: Core,
  dst: Uint8Array, dstOffset: number, dstStrides: readonly number[], dstLo: number, dstHi: number, dstDense: boolean,
  src: Uint8Array, srcOffset: number, srcStrides: readonly number[], srcLo: number, srcHi: number,
  shape: readonly number[], elemSize: number, swap: boolean,
  scatter?: (mem: Uint8Array, base: number) => void,
): void {
  const rank = shape.length;
  const dLen = dstHi - dstLo;
  const sLen = srcHi - srcLo;
  const pd = core.alloc(dLen + sLen + 8);
  try {
    const ps = pd + ((dLen + 7) & ~7);
    const mem = core.u8();
    mem.set(src.subarray(srcLo, srcHi), ps);
    if (!dstDense) mem.set(dst.subarray(dstLo, dstHi), pd);
    const p = core.paramsI32();
    for (let i = 0; i < rank; i++) {
      p[i] = shape[i]!;
      p[32 + i] = dstStrides[i]!;
      p[64 + i] = srcStrides[i]!;
    }
    const base = core.params;
    core.exports.vs_copy_strided(pd + (dstOffset - dstLo), base + 128, ps + (srcOffset - srcLo), base + 256, base, rank, elemSize, swap ? 1 : 0);
    if (scatter) scatter(core.u8(), pd - dstLo);
    else dst.set(core.u8().subarray(pd, pd + dLen), dstLo);
  } finally {
    core.free(pd);
  }
}
