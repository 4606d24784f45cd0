#include "common.h"
#include <stdlib.h>

vs_error_t vs_last_error;

/* Address of the error record, so JS can read code/offset/value after a failed call. */
VS_EXPORT vs_error_t *vs_error_ptr(void) { return &vs_last_error; }

VS_EXPORT void *vs_malloc(size_t n) { return malloc(n ? n : 1); }
VS_EXPORT void vs_free(void *p) { free(p); }
