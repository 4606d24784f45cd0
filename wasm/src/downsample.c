/*
 * Downsampling by integer factors, rank <= 4, C order (last dim fastest). Output extent per dim
 * is ceil(n / f); edge windows use only the elements that exist.
 * mean: integers are summed exactly and rounded to nearest, ties to even; floats are summed in
 *       double in window order (C order) and divided by the element count.
 * mode: the most frequent value of the window; ties go to the smallest value.
 */
#include "common.h"
#include "sort.h"
#include <stdlib.h>

enum { DT_U8, DT_I8, DT_U16, DT_I16, DT_U32, DT_I32, DT_U64, DT_I64, DT_F32, DT_F64 };

#define WINDOW_LOOP(...)                                                                          \
  for (int32_t o0 = 0; o0 < os[0]; o0++) {                                                         \
    const int32_t a0 = o0 * f[0], b0 = a0 + f[0] < n[0] ? a0 + f[0] : n[0];                        \
    for (int32_t o1 = 0; o1 < os[1]; o1++) {                                                       \
      const int32_t a1 = o1 * f[1], b1 = a1 + f[1] < n[1] ? a1 + f[1] : n[1];                      \
      for (int32_t o2 = 0; o2 < os[2]; o2++) {                                                     \
        const int32_t a2 = o2 * f[2], b2 = a2 + f[2] < n[2] ? a2 + f[2] : n[2];                    \
        for (int32_t o3 = 0; o3 < os[3]; o3++) {                                                   \
          const int32_t a3 = o3 * f[3], b3 = a3 + f[3] < n[3] ? a3 + f[3] : n[3];                  \
          const int32_t cnt = (b0 - a0) * (b1 - a1) * (b2 - a2) * (b3 - a3);                       \
          __VA_ARGS__                                                                                     \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
  }

#define FOR_WINDOW(...)                                                                           \
  for (int32_t i0 = a0; i0 < b0; i0++)                                                             \
    for (int32_t i1 = a1; i1 < b1; i1++)                                                           \
      for (int32_t i2 = a2; i2 < b2; i2++) {                                                       \
        const elem_t *row = in + (((size_t)i0 * n[1] + i1) * n[2] + i2) * n[3];                         \
        for (int32_t i3 = a3; i3 < b3; i3++) { __VA_ARGS__ }                                              \
      }

/* Integer mean: exact sum in ACC, round half to even. */
#define DEFINE_MEAN_INT(NAME, T, ACC)                                                              \
  static void NAME(const T *in, T *out, const int32_t *n, const int32_t *f, const int32_t *os) { typedef T elem_t;   \
    T *o = out;                                                                                    \
    WINDOW_LOOP({                                                                                  \
      ACC sum = 0;                                                                                 \
      FOR_WINDOW(sum += row[i3];)                                                                  \
      int neg = sum < 0;                                                                           \
      ACC a = neg ? -sum : sum;                                                                    \
      ACC q = a / cnt, r = a - q * cnt;                                                            \
      if (2 * r > cnt || (2 * r == cnt && (q & 1))) q++;                                           \
      *o++ = (T)(neg ? -q : q);                                                                    \
    })                                                                                             \
  }

#define DEFINE_MEAN_FLOAT(NAME, T)                                                                 \
  static void NAME(const T *in, T *out, const int32_t *n, const int32_t *f, const int32_t *os) { typedef T elem_t;   \
    T *o = out;                                                                                    \
    WINDOW_LOOP({                                                                                  \
      double sum = 0;                                                                              \
      FOR_WINDOW(sum += (double)row[i3];)                                                          \
      *o++ = (T)(sum / cnt);                                                                       \
    })                                                                                             \
  }

#define DEFINE_MODE(NAME, SORT, T)                                                                 \
  VS_DEFINE_SORT(SORT, T)                                                                          \
  static void NAME(const T *in, T *out, const int32_t *n, const int32_t *f, const int32_t *os, T *buf) { typedef T elem_t; \
    T *o = out;                                                                                    \
    WINDOW_LOOP({                                                                                  \
      int32_t k = 0;                                                                               \
      FOR_WINDOW(buf[k++] = row[i3];)                                                              \
      SORT(buf, k);                                                                                \
      T best = buf[0];                                                                             \
      int32_t best_n = 0;                                                                          \
      for (int32_t i = 0; i < k;) {                                                                \
        int32_t j = i + 1;                                                                         \
        while (j < k && buf[j] == buf[i]) j++;                                                     \
        if (j - i > best_n) { best_n = j - i; best = buf[i]; }                                     \
        i = j;                                                                                     \
      }                                                                                            \
      (void)cnt;                                                                                   \
      *o++ = best;                                                                                 \
    })                                                                                             \
  }

DEFINE_MEAN_INT(mean_u8, uint8_t, int64_t)
DEFINE_MEAN_INT(mean_i8, int8_t, int64_t)
DEFINE_MEAN_INT(mean_u16, uint16_t, int64_t)
DEFINE_MEAN_INT(mean_i16, int16_t, int64_t)
DEFINE_MEAN_INT(mean_u32, uint32_t, int64_t)
DEFINE_MEAN_INT(mean_i32, int32_t, int64_t)
DEFINE_MEAN_INT(mean_u64, uint64_t, __int128)
DEFINE_MEAN_INT(mean_i64, int64_t, __int128)
DEFINE_MEAN_FLOAT(mean_f32, float)
DEFINE_MEAN_FLOAT(mean_f64, double)
DEFINE_MODE(mode_u8, sort_u8, uint8_t)
DEFINE_MODE(mode_i8, sort_i8, int8_t)
DEFINE_MODE(mode_u16, sort_u16, uint16_t)
DEFINE_MODE(mode_i16, sort_i16, int16_t)
DEFINE_MODE(mode_u32, sort_u32, uint32_t)
DEFINE_MODE(mode_i32, sort_i32, int32_t)
DEFINE_MODE(mode_u64, sort_u64, uint64_t)
DEFINE_MODE(mode_i64, sort_i64, int64_t)

/*
 * method 0 = mean, 1 = mode. shape/factors: 4 dims, C order (pad leading dims with 1).
 * Returns 0, or -1 for an unsupported combination / allocation failure.
 */
VS_EXPORT int32_t vs_downsample(int32_t method, int32_t dtype, const void *in, void *out, const int32_t *n,
                                const int32_t *f) {
  int32_t os[4];
  for (int d = 0; d < 4; d++) { if (f[d] < 1 || n[d] < 0) return -1; os[d] = (n[d] + f[d] - 1) / f[d]; }
  if (method == 0) {
    switch (dtype) {
      case DT_U8: mean_u8(in, out, n, f, os); return 0;
      case DT_I8: mean_i8(in, out, n, f, os); return 0;
      case DT_U16: mean_u16(in, out, n, f, os); return 0;
      case DT_I16: mean_i16(in, out, n, f, os); return 0;
      case DT_U32: mean_u32(in, out, n, f, os); return 0;
      case DT_I32: mean_i32(in, out, n, f, os); return 0;
      case DT_U64: mean_u64(in, out, n, f, os); return 0;
      case DT_I64: mean_i64(in, out, n, f, os); return 0;
      case DT_F32: mean_f32(in, out, n, f, os); return 0;
      case DT_F64: mean_f64(in, out, n, f, os); return 0;
    }
    return -1;
  }
  if (method != 1 || dtype > DT_I64) return -1;
  size_t window = (size_t)f[0] * f[1] * f[2] * f[3];
  void *buf = malloc(window * 8);
  if (!buf) return -1;
  switch (dtype) {
    case DT_U8: mode_u8(in, out, n, f, os, buf); break;
    case DT_I8: mode_i8(in, out, n, f, os, buf); break;
    case DT_U16: mode_u16(in, out, n, f, os, buf); break;
    case DT_I16: mode_i16(in, out, n, f, os, buf); break;
    case DT_U32: mode_u32(in, out, n, f, os, buf); break;
    case DT_I32: mode_i32(in, out, n, f, os, buf); break;
    case DT_U64: mode_u64(in, out, n, f, os, buf); break;
    case DT_I64: mode_i64(in, out, n, f, os, buf); break;
  }
  free(buf);
  return 0;
}
