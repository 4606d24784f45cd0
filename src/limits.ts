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
 * The decoded-size bound bytes->bytes decoders enforce (CodecContext.maxDecodedBytes) for a
 * chunk whose array->bytes output is at most `encodedBytes`: twice that plus 64 KiB, generous
 * enough for any codec's framing overhead, small enough that a decompression bomb stops early.
 */
export function decodedBytesBound(encodedBytes: number): number {
  return 2 * encodedBytes + 65536;
}
