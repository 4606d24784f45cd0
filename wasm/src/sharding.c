/* Per-chunk scalars of neuroglancer_uint64_sharded_v1: MurmurHash3_x86_128 and compressed Morton codes. */
#include "common.h"

static uint32_t out_words[4];

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
static inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16;
  return h;
}

/*
 * MurmurHash3_x86_128 of `len` bytes with all four state words seeded with `seed`
 * (TensorStore/Neuroglancer convention). Writes out[0..3].
 */
static void murmur3_x86_128(const uint8_t *data, uint32_t len, uint32_t seed, uint32_t *out) {
  const uint32_t c1 = 0x239b961bu, c2 = 0xab0e9789u, c3 = 0x38b34ae5u, c4 = 0xa1e38b93u;
  uint32_t h1 = seed, h2 = seed, h3 = seed, h4 = seed;
  uint32_t nblocks = len / 16;
  for (uint32_t i = 0; i < nblocks; i++) {
    const uint8_t *b = data + 16 * i;
    uint32_t k1 = vs_load32(b), k2 = vs_load32(b + 4), k3 = vs_load32(b + 8), k4 = vs_load32(b + 12);
    k1 *= c1; k1 = rotl32(k1, 15); k1 *= c2; h1 ^= k1;
    h1 = rotl32(h1, 19); h1 += h2; h1 = h1 * 5 + 0x561ccd1bu;
    k2 *= c2; k2 = rotl32(k2, 16); k2 *= c3; h2 ^= k2;
    h2 = rotl32(h2, 17); h2 += h3; h2 = h2 * 5 + 0x0bcaa747u;
    k3 *= c3; k3 = rotl32(k3, 17); k3 *= c4; h3 ^= k3;
    h3 = rotl32(h3, 15); h3 += h4; h3 = h3 * 5 + 0x96cd1c35u;
    k4 *= c4; k4 = rotl32(k4, 18); k4 *= c1; h4 ^= k4;
    h4 = rotl32(h4, 13); h4 += h1; h4 = h4 * 5 + 0x32ac3b17u;
  }
  const uint8_t *tail = data + 16 * nblocks;
  uint32_t rest = len & 15, k[4] = {0, 0, 0, 0};
  for (uint32_t i = 0; i < rest; i++) k[i >> 2] |= (uint32_t)tail[i] << (8 * (i & 3));
  if (rest > 12) { k[3] *= c4; k[3] = rotl32(k[3], 18); k[3] *= c1; h4 ^= k[3]; }
  if (rest > 8) { k[2] *= c3; k[2] = rotl32(k[2], 17); k[2] *= c4; h3 ^= k[2]; }
  if (rest > 4) { k[1] *= c2; k[1] = rotl32(k[1], 16); k[1] *= c3; h2 ^= k[1]; }
  if (rest > 0) { k[0] *= c1; k[0] = rotl32(k[0], 15); k[0] *= c2; h1 ^= k[0]; }
  h1 ^= len; h2 ^= len; h3 ^= len; h4 ^= len;
  h1 += h2; h1 += h3; h1 += h4;
  h2 += h1; h3 += h1; h4 += h1;
  h1 = fmix32(h1); h2 = fmix32(h2); h3 = fmix32(h3); h4 = fmix32(h4);
  h1 += h2; h1 += h3; h1 += h4;
  h2 += h1; h3 += h1; h4 += h1;
  out[0] = h1; out[1] = h2; out[2] = h3; out[3] = h4;
}

/* Hash of the 8-byte little-endian id (lo, hi); returns the address of the 4 output words. */
VS_EXPORT uint32_t *vs_murmur3_u64(uint32_t lo, uint32_t hi, uint32_t seed) {
  uint8_t buf[8];
  vs_store32(buf, lo);
  vs_store32(buf + 4, hi);
  murmur3_x86_128(buf, 8, seed, out_words);
  return out_words;
}

/*
 * Compressed Morton code: bit i of every dim whose extent needs more than i bits, interleaved
 * dim 0 first. Returns the address of (lo, hi) words; returns 0 when more than 64 bits are needed.
 */
VS_EXPORT uint32_t *vs_compressed_morton(const uint32_t *pos, const uint32_t *grid, int32_t rank) {
  int bits[32];
  int max_bits = 0, total = 0;
  if (rank < 0 || rank > 32) return 0;
  for (int32_t d = 0; d < rank; d++) {
    uint32_t g = grid[d] ? grid[d] - 1 : 0;
    int b = 0;
    while (b < 32 && (g >> b)) b++;
    bits[d] = b;
    total += b;
    if (b > max_bits) max_bits = b;
  }
  if (total > 64) return 0;
  uint64_t code = 0;
  int j = 0;
  for (int i = 0; i < max_bits; i++)
    for (int32_t d = 0; d < rank; d++)
      if (i < bits[d]) code |= (uint64_t)((pos[d] >> i) & 1u) << j++;
  out_words[0] = (uint32_t)code;
  out_words[1] = (uint32_t)(code >> 32);
  return out_words;
}
