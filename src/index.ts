/**
 * volstore: chunked volume I/O for zarr v2/v3 (with sharding), N5 and neuroglancer
 * precomputed (and HDF5 datasets, read-only), on memory, HTTP, GCS, S3 and Azure Blob (and
 * local files in Node), speaking TensorStore's spec JSON. This entry is browser-safe: it imports no `node:` module.
 *
 * ```ts
 * import { open } from 'volstore';
 * const vol = await open('gs://bucket/em/|zarr3:');
 * const xy = await vol.slice([100, [0, 512], [0, 512]]).read();
 * ```
 * @module volstore
 */
export { open, type OpenOptions } from './open.js';
export { Volume, type ChunkLayout, type IoOptions, type ReadOptions as VolumeReadOptions } from './volume.js';
export { Context } from './context/context.js';
export { NdArray } from './array/ndarray.js';
export type { DataType, Scalar, TypedArray } from './array/dtype.js';
export { IndexDomain, IndexTransform, type Selection } from './index-space/index.js';
export type { KvStore, ReadResult, ReadOptions, WriteOptions, WriteResult, ByteRange } from './kvstore/kvstore.js';
export { MemoryStore } from './kvstore/memory.js';
export { HttpStore, type HttpStoreOptions } from './kvstore/http.js';
export { GcsStore, type GcsStoreOptions } from './kvstore/gcs.js';
export { S3Store, type S3StoreOptions } from './kvstore/s3.js';
export { AzureStore, type AzureStoreOptions, type AzureCredentials } from './kvstore/azure.js';
export { encodeNpy, decodeNpy } from './array/npy.js';
export * from './errors.js';
export { WorkerCrashError } from './workers/pool.js';
export { MAX_CHUNK_BYTES, MAX_CHUNKS_PER_REQUEST, MAX_READ_BYTES, MAX_SHARD_INDEX_BYTES } from './limits.js';
export { openGroup, Group, type GroupMember, type GroupFormat } from './group.js';
export { copyVolume, planCopy, type CopyTask, type CopyProgress, type JobOptions } from './jobs/copy.js';
export { downsampleVolume, downsampledShape, defaultDownsampleMethod, type DownsampleOptions, type DownsampleMethod } from './jobs/downsample.js';
export { destinationSpec, type DestinationOptions, type ArrayShapeSource } from './jobs/destination.js';
export { voxelGeometry, type VoxelGeometry } from './jobs/geometry.js';
export { storageLocation, locationOverlap, type StorageLocation } from './jobs/location.js';
export {
  planJob,
  publishJobMetadata,
  runJob,
  refuseNonEmpty,
  deleteJobOutput,
  type JobKind,
  type JobLayout,
  type JobLevel,
  type JobPlanOptions,
  type JobSummary,
  type LevelGeometry,
  type LevelSummary,
  type RunJobOptions,
} from './jobs/job.js';
export { WriteChunkPlan, shareOf, ownerOf } from './jobs/plan.js';
export { StoreTally } from './jobs/stats.js';
export { CountingStore, type StoreCounters } from './kvstore/counting.js';
