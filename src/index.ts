/**
 * volstore: chunked volume I/O for zarr v2/v3 (with sharding), N5 and neuroglancer
 * precomputed, on memory, HTTP, GCS and S3 (and local files in Node), speaking TensorStore's
 * spec JSON. This entry is browser-safe: it imports no `node:` module.
 */
export { open, type OpenOptions } from './open.js';
export { Volume, type ChunkLayout, type IoOptions, type ReadOptions as VolumeReadOptions } from './volume.js';
export { Context } from './context/context.js';
export { NdArray } from './array/ndarray.js';
export type { DataType, Scalar, TypedArray } from './array/dtype.js';
export { IndexDomain, IndexTransform, type Selection } from './index-space/index.js';
export type { KvStore, ReadResult, ReadOptions, WriteOptions, WriteResult, ByteRange } from './kvstore/kvstore.js';
export { MemoryStore } from './kvstore/memory.js';
export * from './errors.js';
export { WorkerCrashError } from './workers/pool.js';
export { MAX_CHUNK_BYTES, MAX_READ_BYTES, MAX_SHARD_INDEX_BYTES } from './limits.js';
export { openGroup, Group, type GroupMember, type GroupFormat } from './group.js';
