/**
 * Size limits that turn hostile or mistaken metadata and requests into typed errors instead of
 * a `new TypedArray(huge)` (RangeError) or an out-of-memory crash. Every one is far above what a
 * real volume needs (chunks are typically 64 KiB - 64 MiB, shard indexes a few MiB).
 */

/**
 * Largest decoded read chunk (the unit decoded and cached, the inner chunk of a shard), in
 * bytes: 2 GiB. Opening metadata declaring a larger chunk throws MetadataError naming the field.
 */
export const MAX_CHUNK_BYTES = 2 ** 31;

/**
 * Largest zarr v3 shard index (16 bytes per inner chunk): 1 GiB, i.e. 2^26 inner chunks per
 * shard. The index is read whole for every shard accessed.
 */
export const MAX_SHARD_INDEX_BYTES = 2 ** 30;

/**
 * Largest result one `read()` can allocate, in bytes: 4 GiB, the largest ArrayBuffer V8 (Node
 * 20, Chrome) creates. Larger views must be read in slices (or into a caller-owned `out`).
 */
export const MAX_READ_BYTES = 2 ** 32;

/**
 * Most chunks one `read()` or `write()` may touch: 2^24 (16,777,216). Chunks are enumerated
 * lazily, so the limit is not about memory: per chunk the planner makes a key, a store request
 * (or cache lookup) and a copy, at least a few microseconds each, so 2^24 chunks is minutes of
 * work, and more is almost surely a mistake (chunks of a handful of elements: reading 40000^2
 * of a [1, 1]-chunked array is 1.6e9 chunks). Real requests stay far below it: a read at the
 * MAX_READ_BYTES limit with 64 KiB chunks touches 65,536 chunks; a whole 1 TB volume in
 * 64^3 uint8 chunks, 4 Mi. A request over the limit throws OutOfBoundsError naming it; split it
 * into slices.
 */
export const MAX_CHUNKS_PER_REQUEST = 2 ** 24;

/**
 * The decoded-size bound bytes->bytes decoders enforce (CodecContext.maxDecodedBytes) for a
 * chunk whose array->bytes output is at most `encodedBytes`: twice that plus 64 KiB, generous
 * enough for any codec's framing overhead, small enough that a decompression bomb stops early.
 */
export function decodedBytesBound(encodedBytes: number): number {
  return 2 * encodedBytes + 65536;
}

/**
 * Default requests in flight per remote store kind (`gcs_request_concurrency`,
 * `s3_request_concurrency`, `http_request_concurrency`, `azure_request_concurrency`): 64, twice
 * TensorStore's 32. Measured on the emulator with 20 ms first-byte latency: an XY plane of
 * 8x8 unsharded 32^3 chunks takes two round trips at 32 (p50 80 ms, zarrita's unbounded 64
 * requests 41 ms) and one at 64. A read's planner keeps as many chunk groups in flight
 * (Volume's plan options), so one slice can fill the limit. A viewer's plane or a crop
 * service's block commonly spans 32-64 chunks; 64 sockets to one host is ordinary for a
 * server and within HTTP/2's stream limit in a browser.
 */
export const DEFAULT_REQUEST_CONCURRENCY = 64;
