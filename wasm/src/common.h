/* Shared definitions for the volstore WebAssembly core. */
#ifndef VS_COMMON_H
#define VS_COMMON_H
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <emscripten/emscripten.h>

#define VS_EXPORT EMSCRIPTEN_KEEPALIVE

static inline uint16_t vs_load16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t vs_load32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t vs_load64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void vs_store16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void vs_store32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void vs_store64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Error report of the last failing call (compressed_segmentation decode): read from JS. */
typedef struct {
  int32_t code;   /* 0 = ok */
  uint32_t offset; /* byte offset in the input that was found wrong */
  uint32_t value;  /* the offending value */
} vs_error_t;
extern vs_error_t vs_last_error;

#endif
