/*
 * Neuroglancer compressed_segmentation, uint32 and uint64, any block size, several channels.
 * Format: https://github.com/google/neuroglancer/blob/master/src/neuroglancer/sliceview/compressed_segmentation/README.md
 * Output = one uint32 offset per channel (words from the start), then per channel: one 2-word
 * header per block (24-bit table offset | bits << 24, values offset; both in words from the
 * channel start), packed values (LSB first) and lookup tables (deduplicated per channel).
 * Volumes are Fortran order: x fastest, then y, z, channel.
 */
#include "common.h"
#include "sort.h"
#include <stdlib.h>

VS_DEFINE_SORT(sort_u64, uint64_t)

enum {
  CSEG_OK = 0,
  CSEG_ERR_TRUNCATED = 1,      /* shorter than the channel offset table */
  CSEG_ERR_CHANNEL_OFFSET = 2, /* a channel offset (or its block headers) past the end */
  CSEG_ERR_BITS = 3,           /* encoded bits not in {0,1,2,4,8,16,32} */
  CSEG_ERR_VALUES = 4,         /* encoded values past the end */
  CSEG_ERR_TABLE = 5,          /* lookup table entry past the end */
  CSEG_ERR_OOM = 6,
  CSEG_ERR_TABLE_OFFSET_24 = 7, /* encode: table offset does not fit in 24 bits */
  CSEG_ERR_CAPACITY = 8,
};

static int32_t fail(int32_t code, uint64_t word_offset, uint32_t value) {
  vs_last_error.code = code;
  vs_last_error.offset = (uint32_t)(word_offset * 4);
  vs_last_error.value = value;
  return code;
}

typedef struct { uint32_t hash, offset, len, used; } table_slot;

static uint32_t hash_words(const uint32_t *w, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; i++) { h ^= w[i]; h *= 16777619u; h ^= h >> 15; }
  return h;
}

static inline uint64_t load_value(const uint8_t *data, int32_t wpv, uint64_t i) {
  return wpv == 2 ? vs_load64(data + i * 8) : (uint64_t)vs_load32(data + i * 4);
}

/*
 * Encodes `data` (wpv = 1 for uint32, 2 for uint64) into `out` (capacity `cap` words).
 * Returns the number of words written, or a negative error code.
 */
VS_EXPORT int32_t vs_cseg_encode(const uint8_t *data, int32_t wpv, const int32_t *vol, const int32_t *blk,
                                 uint32_t *out, uint32_t cap) {
  const int32_t X = vol[0], Y = vol[1], Z = vol[2], C = vol[3];
  const int32_t bx = blk[0], by = blk[1], bz = blk[2];
  const int32_t gx = (X + bx - 1) / bx, gy = (Y + by - 1) / by, gz = (Z + bz - 1) / bz;
  const uint32_t nblocks = (uint32_t)gx * (uint32_t)gy * (uint32_t)gz;
  const uint32_t bvox = (uint32_t)bx * (uint32_t)by * (uint32_t)bz;
  uint32_t slots = 16;
  while (slots < nblocks * 2) slots <<= 1;
  uint64_t *vals = (uint64_t *)malloc((size_t)bvox * 8);
  table_slot *map = (table_slot *)malloc((size_t)slots * sizeof(table_slot));
  if (!vals || !map) { free(vals); free(map); return -fail(CSEG_ERR_OOM, 0, 0); }
  uint64_t cur = (uint64_t)C;
  for (int32_t c = 0; c < C; c++) {
    const uint64_t base = cur;
    out[c] = (uint32_t)base;
    memset(map, 0, (size_t)slots * sizeof(table_slot));
    cur += 2ull * nblocks;
    for (int32_t kz = 0; kz < gz; kz++)
      for (int32_t ky = 0; ky < gy; ky++)
        for (int32_t kx = 0; kx < gx; kx++) {
          const int32_t x0 = kx * bx, y0 = ky * by, z0 = kz * bz;
          const int32_t ex = X - x0 < bx ? X - x0 : bx, ey = Y - y0 < by ? Y - y0 : by, ez = Z - z0 < bz ? Z - z0 : bz;
          /* Distinct values: collect run heads, then sort and unique. */
          int32_t n = 0;
          uint64_t last = 0;
          for (int32_t z = 0; z < ez; z++)
            for (int32_t y = 0; y < ey; y++) {
              uint64_t row = (uint64_t)x0 + (uint64_t)X * ((uint64_t)(y0 + y) + (uint64_t)Y * ((uint64_t)(z0 + z) + (uint64_t)Z * c));
              for (int32_t x = 0; x < ex; x++) {
                uint64_t v = load_value(data, wpv, row + x);
                if (n == 0 || v != last) { vals[n++] = v; last = v; }
              }
            }
          sort_u64(vals, n);
          int32_t u = n ? 1 : 0;
          for (int32_t i = 1; i < n; i++) if (vals[i] != vals[u - 1]) vals[u++] = vals[i];
          uint32_t bits = 0;
          if (u > 1) { uint32_t need = 0; while ((1u << need) < (uint32_t)u) need++; bits = 1; while (bits < need) bits <<= 1; }
          const uint64_t nwords = ((uint64_t)bvox * bits + 31) / 32;
          const uint64_t table_words = (uint64_t)u * (uint64_t)wpv;
          if (cur + nwords + table_words > cap) { free(vals); free(map); return -fail(CSEG_ERR_CAPACITY, cur, 0); }
          const uint64_t values_off = cur - base;
          uint32_t *w = out + cur;
          memset(w, 0, (size_t)nwords * 4);
          if (bits) {
            int32_t li = 0;
            uint64_t lv = vals[0];
            for (int32_t z = 0; z < ez; z++)
              for (int32_t y = 0; y < ey; y++) {
                uint64_t row = (uint64_t)x0 + (uint64_t)X * ((uint64_t)(y0 + y) + (uint64_t)Y * ((uint64_t)(z0 + z) + (uint64_t)Z * c));
                uint64_t bit = (uint64_t)bits * ((uint64_t)bx * ((uint64_t)y + (uint64_t)by * (uint64_t)z));
                for (int32_t x = 0; x < ex; x++, bit += bits) {
                  uint64_t v = load_value(data, wpv, row + x);
                  if (v != lv) {
                    int32_t lo = 0, hi = u - 1;
                    while (lo < hi) { int32_t mid = (lo + hi) >> 1; if (vals[mid] < v) lo = mid + 1; else hi = mid; }
                    li = lo; lv = v;
                  }
                  w[bit >> 5] |= (uint32_t)li << (bit & 31);
                }
              }
          }
          cur += nwords;
          /* Lookup table, shared with an earlier block of this channel when identical. */
          uint32_t *t = out + cur;
          for (int32_t i = 0; i < u; i++) {
            if (wpv == 2) { t[2 * i] = (uint32_t)vals[i]; t[2 * i + 1] = (uint32_t)(vals[i] >> 32); }
            else t[i] = (uint32_t)vals[i];
          }
          uint32_t h = hash_words(t, (uint32_t)table_words);
          uint64_t table_off = cur - base;
          uint32_t s = h & (slots - 1);
          for (;; s = (s + 1) & (slots - 1)) {
            table_slot *e = &map[s];
            if (!e->used) {
              e->used = 1; e->hash = h; e->offset = (uint32_t)table_off; e->len = (uint32_t)table_words;
              cur += table_words;
              break;
            }
            if (e->hash == h && e->len == table_words && memcmp(out + base + e->offset, t, (size_t)table_words * 4) == 0) {
              table_off = e->offset;
              break;
            }
          }
          if (table_off >= (1u << 24)) { free(vals); free(map); return -fail(CSEG_ERR_TABLE_OFFSET_24, cur, (uint32_t)table_off); }
          uint32_t *hdr = out + base + 2ull * ((uint64_t)kx + (uint64_t)gx * ((uint64_t)ky + (uint64_t)gy * kz));
          hdr[0] = (uint32_t)table_off | (bits << 24);
          hdr[1] = (uint32_t)values_off;
        }
  }
  free(vals);
  free(map);
  vs_last_error.code = 0;
  return (int32_t)cur;
}

#define DEFINE_DECODE(NAME, T, WPV, LOADT)                                                             \
  static int32_t NAME(const uint32_t *in, uint32_t nwords, const int32_t *vol, const int32_t *blk, T *out, \
                      const int32_t *st) {                                                             \
    const int32_t X = vol[0], Y = vol[1], Z = vol[2], C = vol[3];                                      \
    const uint64_t sx = (uint32_t)st[0], sy = (uint32_t)st[1], sz = (uint32_t)st[2], sc = (uint32_t)st[3]; \
    const int32_t bx = blk[0], by = blk[1], bz = blk[2];                                               \
    const uint64_t gx = ((uint64_t)X + bx - 1) / bx, gy = ((uint64_t)Y + by - 1) / by,                 \
                   gz = ((uint64_t)Z + bz - 1) / bz;                                                   \
    const uint64_t nblocks = gx * gy * gz;                                                             \
    if ((uint64_t)C > nwords) return fail(CSEG_ERR_TRUNCATED, nwords, (uint32_t)C);                    \
    for (int32_t c = 0; c < C; c++) {                                                                  \
      const uint64_t base = in[c];                                                                     \
      if (base + 2 * nblocks > nwords) return fail(CSEG_ERR_CHANNEL_OFFSET, (uint64_t)c, (uint32_t)base); \
      const uint64_t avail = nwords - base;                                                            \
      const uint32_t *ch = in + base;                                                                  \
      for (uint64_t kz = 0; kz < gz; kz++)                                                             \
        for (uint64_t ky = 0; ky < gy; ky++)                                                           \
          for (uint64_t kx = 0; kx < gx; kx++) {                                                       \
            const uint64_t hw = 2 * (kx + gx * (ky + gy * kz));                                        \
            const uint32_t h0 = ch[hw], h1 = ch[hw + 1];                                               \
            const uint32_t bits = h0 >> 24;                                                            \
            const uint64_t toff = h0 & 0xffffffu;                                                      \
            if (bits > 32 || (bits & (bits - 1))) return fail(CSEG_ERR_BITS, base + hw, bits);         \
            const int32_t x0 = (int32_t)kx * bx, y0 = (int32_t)ky * by, z0 = (int32_t)kz * bz;         \
            const int32_t ex = X - x0 < bx ? X - x0 : bx, ey = Y - y0 < by ? Y - y0 : by,              \
                          ez = Z - z0 < bz ? Z - z0 : bz;                                              \
            const uint64_t lastv = (uint64_t)(ex - 1) + (uint64_t)bx * ((uint64_t)(ey - 1) + (uint64_t)by * (uint64_t)(ez - 1)); \
            const uint64_t need = ((lastv + 1) * bits + 31) / 32;                                      \
            if ((uint64_t)h1 + need > avail) return fail(CSEG_ERR_VALUES, base + hw + 1, h1);          \
            if (toff + WPV > avail) return fail(CSEG_ERR_TABLE, base + hw, (uint32_t)toff);            \
            const uint64_t tsize = (avail - toff) / WPV;                                               \
            const uint32_t *table = ch + toff;                                                         \
            const uint32_t *vals = ch + h1;                                                            \
            const uint32_t mask = bits == 32 ? 0xffffffffu : (1u << bits) - 1u;                        \
            const int safe = bits < 32 && tsize >= (1ull << bits);                                     \
            for (int32_t z = 0; z < ez; z++)                                                           \
              for (int32_t y = 0; y < ey; y++) {                                                       \
                T *o = out + sx * (uint64_t)x0 + sy * (uint64_t)(y0 + y) + sz * (uint64_t)(z0 + z) + sc * (uint64_t)c; \
                if (bits == 0) {                                                                       \
                  const T v = LOADT(table, 0);                                                         \
                  for (int32_t x = 0; x < ex; x++) o[sx * x] = v;                                      \
                  continue;                                                                            \
                }                                                                                      \
                uint64_t bit = (uint64_t)bits * ((uint64_t)bx * ((uint64_t)y + (uint64_t)by * (uint64_t)z)); \
                if (safe) {                                                                            \
                  for (int32_t x = 0; x < ex; x++, bit += bits)                                        \
                    o[sx * x] = LOADT(table, (vals[bit >> 5] >> (bit & 31)) & mask);                   \
                } else {                                                                               \
                  for (int32_t x = 0; x < ex; x++, bit += bits) {                                      \
                    uint32_t i = (vals[bit >> 5] >> (bit & 31)) & mask;                                \
                    if (i >= tsize) return fail(CSEG_ERR_TABLE, base + hw, i);                         \
                    o[sx * x] = LOADT(table, i);                                                       \
                  }                                                                                    \
                }                                                                                      \
              }                                                                                        \
          }                                                                                            \
    }                                                                                                  \
    vs_last_error.code = 0;                                                                            \
    return 0;                                                                                          \
  }

#define LOAD32(t, i) ((t)[(i)])
#define LOAD64(t, i) ((uint64_t)(t)[2 * (uint64_t)(i)] | ((uint64_t)(t)[2 * (uint64_t)(i) + 1] << 32))
DEFINE_DECODE(decode32, uint32_t, 1, LOAD32)
DEFINE_DECODE(decode64, uint64_t, 2, LOAD64)

/*
 * Decodes into `out` (X*Y*Z*C elements). `strides` (4 non-negative int32, elements) place
 * element (x, y, z, c) at out[x*s0 + y*s1 + z*s2 + c*s3]: a permutation of the packed layout
 * (Fortran order is 1, X, X*Y, X*Y*Z), so the caller can have the volume in the order it will
 * be copied out in. Returns 0, or an error code with vs_last_error set.
 */
VS_EXPORT int32_t vs_cseg_decode(const uint32_t *in, uint32_t nwords, int32_t wpv, const int32_t *vol,
                                 const int32_t *blk, void *out, const int32_t *strides) {
  return wpv == 2 ? decode64(in, nwords, vol, blk, (uint64_t *)out, strides)
                  : decode32(in, nwords, vol, blk, (uint32_t *)out, strides);
}
