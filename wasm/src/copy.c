/*
 * n-d strided copy with optional byte swapping. The caller (src/wasm/copy.ts) has already
 * normalised the layout: dims with extent 1 dropped, contiguous dims merged, destination
 * strides made positive and sorted so the last dim has the smallest destination stride.
 * Strides are in bytes and may be negative on the source side.
 */
#include "common.h"
#include <wasm_simd128.h>

#define MAX_RANK 32

static void run_generic(uint8_t *d, int32_t ds, const uint8_t *s, int32_t ss, int32_t n, int32_t size, int swap) {
  for (int32_t i = 0; i < n; i++, d += ds, s += ss) {
    if (swap) for (int32_t b = 0; b < size; b++) d[b] = s[size - 1 - b];
    else memcpy(d, s, (size_t)size);
  }
}

/* Contiguous byte-swap with SIMD shuffles: 16 bytes per step. */
static void swap_contig(uint8_t *d, const uint8_t *s, int32_t n, int32_t size) {
  int32_t bytes = n * size, i = 0;
  v128_t mask;
  if (size == 2) mask = wasm_i8x16_make(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  else if (size == 4) mask = wasm_i8x16_make(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
  else mask = wasm_i8x16_make(7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8);
  for (; i + 64 <= bytes; i += 64) {
    v128_t a = wasm_v128_load(s + i), b = wasm_v128_load(s + i + 16);
    v128_t c = wasm_v128_load(s + i + 32), e = wasm_v128_load(s + i + 48);
    wasm_v128_store(d + i, wasm_i8x16_swizzle(a, mask));
    wasm_v128_store(d + i + 16, wasm_i8x16_swizzle(b, mask));
    wasm_v128_store(d + i + 32, wasm_i8x16_swizzle(c, mask));
    wasm_v128_store(d + i + 48, wasm_i8x16_swizzle(e, mask));
  }
  for (; i + 16 <= bytes; i += 16) wasm_v128_store(d + i, wasm_i8x16_swizzle(wasm_v128_load(s + i), mask));
  run_generic(d + i, size, s + i, size, (bytes - i) / size, size, 1);
}

#define DEFINE_RUN(NAME, T, LOAD, STORE, SWAPFN)                                                  \
  static void NAME(uint8_t *d, int32_t ds, const uint8_t *s, int32_t ss, int32_t n, int swap) {   \
    if (swap) for (int32_t i = 0; i < n; i++, d += ds, s += ss) STORE(d, SWAPFN(LOAD(s)));        \
    else for (int32_t i = 0; i < n; i++, d += ds, s += ss) STORE(d, LOAD(s));                     \
  }
#define NOSWAP(x) (x)
DEFINE_RUN(run2, uint16_t, vs_load16, vs_store16, __builtin_bswap16)
DEFINE_RUN(run4, uint32_t, vs_load32, vs_store32, __builtin_bswap32)
DEFINE_RUN(run8, uint64_t, vs_load64, vs_store64, __builtin_bswap64)

static void run1(uint8_t *d, int32_t ds, const uint8_t *s, int32_t ss, int32_t n) {
  for (int32_t i = 0; i < n; i++, d += ds, s += ss) *d = *s;
}

static void copy_run(uint8_t *d, int32_t ds, const uint8_t *s, int32_t ss, int32_t n, int32_t size, int swap) {
  if (ds == size && ss == size) {
    if (!swap || size == 1) { memcpy(d, s, (size_t)n * (size_t)size); return; }
    if (size == 2 || size == 4 || size == 8) { swap_contig(d, s, n, size); return; }
  }
  switch (size) {
    case 1: run1(d, ds, s, ss, n); return;
    case 2: run2(d, ds, s, ss, n, swap); return;
    case 4: run4(d, ds, s, ss, n, swap); return;
    case 8: run8(d, ds, s, ss, n, swap); return;
    default: run_generic(d, ds, s, ss, n, size, swap);
  }
}

/*
 * Tiled 2-d transpose step for the two innermost dims when the source is contiguous along the
 * outer of the two (a transposed read): walking tiles keeps both sides in cache.
 */
static void copy_2d(uint8_t *d, const int32_t *dst_strides, const uint8_t *s, const int32_t *src_strides,
                    const int32_t *shape, int32_t size, int swap) {
  const int32_t n0 = shape[0], n1 = shape[1];
  const int32_t d0 = dst_strides[0], d1 = dst_strides[1], s0 = src_strides[0], s1 = src_strides[1];
  const int32_t T = 32;
  for (int32_t i0 = 0; i0 < n0; i0 += T) {
    int32_t e0 = i0 + T < n0 ? i0 + T : n0;
    for (int32_t i1 = 0; i1 < n1; i1 += T) {
      int32_t m = (i1 + T < n1 ? i1 + T : n1) - i1;
      for (int32_t j = i0; j < e0; j++)
        copy_run(d + (ptrdiff_t)j * d0 + (ptrdiff_t)i1 * d1, d1, s + (ptrdiff_t)j * s0 + (ptrdiff_t)i1 * s1, s1, m, size, swap);
    }
  }
}

VS_EXPORT void vs_copy_strided(uint8_t *dst, const int32_t *dst_strides, const uint8_t *src,
                               const int32_t *src_strides, const int32_t *shape, int32_t rank,
                               int32_t size, int32_t swap) {
  if (size == 1) swap = 0;
  if (rank <= 0) { copy_run(dst, size, src, size, 1, size, swap); return; }
  if (rank > MAX_RANK) return;
  const int32_t inner = rank - 1;
  const int32_t n = shape[inner], ds = dst_strides[inner], ss = src_strides[inner];
  /* Transposed inner pair: tile it when the source stride of the inner dim is large. */
  int tile = rank >= 2 && ss != size && (ss > 256 || ss < -256) && shape[inner - 1] >= 8 && n >= 8;
  int32_t outer = tile ? rank - 2 : inner;
  int32_t idx[MAX_RANK];
  for (int32_t k = 0; k < outer; k++) idx[k] = 0;
  uint8_t *d = dst;
  const uint8_t *s = src;
  for (;;) {
    if (tile) copy_2d(d, dst_strides + outer, s, src_strides + outer, shape + outer, size, swap);
    else copy_run(d, ds, s, ss, n, size, swap);
    int32_t k = outer - 1;
    for (; k >= 0; k--) {
      d += dst_strides[k];
      s += src_strides[k];
      if (++idx[k] < shape[k]) break;
      d -= (ptrdiff_t)dst_strides[k] * shape[k];
      s -= (ptrdiff_t)src_strides[k] * shape[k];
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}
