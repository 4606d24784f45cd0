/* Small in-place sorts used by the encoders (quicksort with an insertion-sort base case). */
#ifndef VS_SORT_H
#define VS_SORT_H
#include <stdint.h>

#define VS_DEFINE_SORT(NAME, T)                                                   \
  static void NAME(T *a, int32_t n) {                                             \
    while (n > 24) {                                                              \
      T p = a[n / 2], t;                                                          \
      { T x = a[0], y = a[n - 1];                                                 \
        if ((x < p) != (x < y)) p = x; else if ((y < p) != (y < x)) p = y; }      \
      int32_t i = 0, j = n - 1;                                                   \
      for (;;) {                                                                  \
        while (a[i] < p) i++;                                                     \
        while (p < a[j]) j--;                                                     \
        if (i >= j) break;                                                        \
        t = a[i]; a[i] = a[j]; a[j] = t; i++; j--;                                \
      }                                                                           \
      /* recurse into the smaller half, loop on the larger: O(log n) stack */     \
      if (j + 1 < n - j - 1) { NAME(a, j + 1); a += j + 1; n -= j + 1; }          \
      else { NAME(a + j + 1, n - j - 1); n = j + 1; }                             \
    }                                                                             \
    for (int32_t i = 1; i < n; i++) {                                             \
      T v = a[i]; int32_t k = i - 1;                                              \
      while (k >= 0 && v < a[k]) { a[k + 1] = a[k]; k--; }                        \
      a[k + 1] = v;                                                               \
    }                                                                             \
  }

#endif
