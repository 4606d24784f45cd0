import type { DataType, Scalar } from '../array/dtype.js';
import type { NdArray } from '../array/ndarray.js';
import type { CodecJSON, DecodeTarget } from '../codecs/codec.js';
import type { KvStore, LocalFile } from '../kvstore/kvstore.js';
import type { RequestPriority } from '../util/limiter.js';

/**
 * What a format driver hands the one I/O planner (`src/io/planner.ts`): a regular chunk grid,
 * a key per chunk, and a codec for chunk bytes. Reads, writes, read-modify-write, caching,
 * batching by shard and concurrency all happen in the planner, once, for every format.
 *
 * Conventions:
 * - Coordinates are in the array's own dimension order (the order TensorStore exposes:
 *   zarr C order, N5 attributes.json order, precomputed [x, y, z, channel]).
 * - The domain of dimension d is [origin[d], origin[d] + shape[d]).
 * - Chunk grid position p covers [origin + p*chunkShape, origin + (p+1)*chunkShape) clipped to
 *   the domain. `decodeChunk` always returns a FULL chunkShape array (padding edge chunks of
 *   formats that crop them, with the fill value), and `encodeChunk` receives one (and crops).
 */
export interface ChunkGrid {
  readonly dtype: DataType;
  readonly shape: readonly number[];
  readonly origin: readonly number[];
  /** The read chunk: the unit of decoding (the inner chunk of a shard). */
  readonly chunkShape: readonly number[];
  /**
   * The write chunk: the unit written at once (the shard; equals chunkShape when unsharded). A
   * multiple of chunkShape: the planner walks a request's chunks box by box of this shape, so a
   * shard's chunks come together. Layouts whose shards are not boxes (hashed precomputed
   * sharding) give chunkShape here; the planner then groups by the store's `cellOf`.
   */
  readonly writeChunkShape: readonly number[];
  readonly fillValue: Scalar;
  readonly dimensionNames: readonly (string | null)[];
}

export interface ChunkDriver {
  readonly grid: ChunkGrid;
  /**
   * The store chunk keys resolve against. May implement `BatchUpdatable` (sharded formats), in
   * which case the planner groups writes by `cellOf(key)`.
   */
  readonly store: KvStore;
  /** The store key of the chunk at a grid position. */
  keyOf(chunk: readonly number[]): string;
  /**
   * Decodes stored chunk bytes to a full chunkShape array (any strides, native endianness).
   * `priority`: the load's (see CodecContext.priority); prefetch decodes never take every worker.
   */
  decodeChunk(bytes: Uint8Array, chunk: readonly number[], signal?: AbortSignal, priority?: RequestPriority): Promise<NdArray>;
  /**
   * Optional: decodes stored chunk bytes and copies the part `target.placement` selects into
   * `target.dst` (a read's result), in a codec worker when the driver's pool takes the chunk
   * (the worker writes the result itself when it is shared memory: nothing comes back). Resolves
   * to the full chunkShape array when `target.keep` (to cache it), else undefined. Settles only
   * once nothing it started can still write into `target.dst`, also when it rejects (AbortError,
   * CorruptionError...). Absent: the planner decodes with decodeChunk and places the chunk itself.
   */
  decodeChunkInto?(bytes: Uint8Array, chunk: readonly number[], target: DecodeTarget, signal?: AbortSignal, priority?: RequestPriority): Promise<NdArray | undefined>;
  /**
   * Optional: reads the chunk's stored bytes from the local file `file` (see KvStore.localFile)
   * in a codec worker, decodes and places it into `target` (see ChainRunner.decodeFileInto):
   * 'placed', 'missing' (no such file), or undefined when the driver's pool does not take it
   * (the planner then reads and decodes as usual). Only for shared-memory targets keeping nothing.
   */
  decodeFileInto?(file: LocalFile, chunk: readonly number[], target: DecodeTarget, signal?: AbortSignal, priority?: RequestPriority): Promise<'placed' | 'missing' | undefined>;
  /**
   * Optional: whether a read whose result is `bytes` long should allocate it in shared memory
   * (a SharedArrayBuffer), so that decodeChunkInto's workers write chunks into it directly;
   * `fileReads`: the store has local files (KvStore.localFile), which workers read themselves.
   * Absent: false.
   */
  wantsSharedResult?(bytes: number, fileReads?: boolean): boolean;
  /**
   * Encodes a full chunkShape array (any strides: the planner passes views of a write's source
   * where that holds the whole chunk) to stored bytes. Must not modify `array`.
   */
  encodeChunk(array: NdArray, chunk: readonly number[], signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * Optional: encodeChunk, except that an array equal to the fill value everywhere gives null
   * (the planner then stores nothing), checked where the encode runs (a codec worker, so the
   * calling thread never scans the chunk). Absent: the planner checks, then calls encodeChunk.
   */
  encodeChunkUnlessFill?(array: NdArray, chunk: readonly number[], signal?: AbortSignal): Promise<Uint8Array | null>;
  /**
   * Optional: every stored chunk is exactly the full chunkShape array's bytes in C order and
   * native (little-endian) byte order, nothing else (no header, checksum or compression, edge
   * chunks not cropped). A byte range of a stored chunk is then a run of whole planes of its
   * first dimension, and the planner reads only the planes a view needs. Absent: false.
   */
  readonly plainChunks?: boolean;
  /** Storing chunks equal to the fill value (TensorStore's store_data_equal_to_fill_value). */
  readonly storeFillChunks: boolean;
  /** Description for `volstore info` and `vol.codec`: the codec chain as canonical JSON. */
  readonly codecs: readonly CodecJSON[];
  /** The driver's TensorStore spec JSON (driver, kvstore, path, metadata...). */
  spec(): Record<string, unknown>;
  /** Driver name: 'zarr' | 'zarr3' | 'n5' | 'neuroglancer_precomputed'. */
  readonly driverName: string;
  /** User attributes stored with the array (zarr attributes / .zattrs, N5 extra attributes). */
  readonly attributes?: Readonly<Record<string, unknown>>;
}
