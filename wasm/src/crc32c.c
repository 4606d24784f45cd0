/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8. */
#include "common.h"

static uint32_t table[8][256];
static int table_ready;

static void init_table(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
  table_ready = 1;
}

/* Continues a CRC: crc32c(b, crc32c(a, 0)) == crc32c(a ++ b, 0). */
VS_EXPORT uint32_t vs_crc32c(const uint8_t *p, uint32_t n, uint32_t init) {
  if (!table_ready) init_table();
  uint32_t crc = ~init;
  while (n && ((uintptr_t)p & 7)) { crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8); n--; }
  while (n >= 8) {
    uint32_t a = vs_load32(p) ^ crc, b = vs_load32(p + 4);
    crc = table[7][a & 0xff] ^ table[6][(a >> 8) & 0xff] ^ table[5][(a >> 16) & 0xff] ^ table[4][a >> 24] ^
          table[3][b & 0xff] ^ table[2][(b >> 8) & 0xff] ^ table[1][(b >> 16) & 0xff] ^ table[0][b >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}
