import type { DataType, Scalar } from './array/dtype.js';
import type { NdArray } from './array/ndarray.js';
import type { CodecJSON } from './codecs/codec.js';
import type { Context } from './context/context.js';
import type { ChunkDriver } from './io/chunk-driver.js';
import { type IndexDomain, IndexTransform, type Selection } from './index-space/index.js';
import { readRegion, writeRegion } from './io/planner.js';

/** Chunk layout as TensorStore reports it: write chunk = shard, read chunk = inner chunk. */
export interface ChunkLayout {
  gridOrigin: readonly number[];
  readChunk: { shape: readonly number[] };
  writeChunk: { shape: readonly number[] };
}

/** Options of every read and write: `signal` aborts the operation (AbortError). */
export interface IoOptions {
  signal?: AbortSignal;
}

/** Options of {@link Volume.read}. */
export interface ReadOptions extends IoOptions {
  /**
   * Read into this array (the view's shape and dtype, any strides) instead of allocating one.
   * Reusing buffers (e.g. one per training crop worker) avoids allocating and first-touching
   * fresh memory on every read, which dominates large raw reads.
   */
  out?: NdArray;
}

export interface VolumeOptions {
  recheckCachedData: boolean;
  fillMissingDataReads: boolean;
}

/**
 * An open array, seen through an index transform. Slicing, translating, transposing and
 * labelling compose the transform and do no I/O; `read()` and `write()` do the I/O.
 * Coordinates are the array's own (zarr C order, N5 attributes.json order, precomputed
 * [x, y, z, channel]); element values are in `dtype`.
 *
 * ```ts
 * const vol = await open('file:///data/em.zarr');
 * const xy = await vol.slice({ z: 100, y: [0, 512], x: [0, 512] }).read();   // NdArray [512, 512]
 * await vol.slice({ z: [0, 64] }).write(NdArray.zeros('uint8', [64, ...vol.shape.slice(1)]));
 * ```
 */
export class Volume {
  /** @internal use `open()`. */
  constructor(
    readonly driver: ChunkDriver,
    readonly transform: IndexTransform,
    readonly context: Context,
    private readonly options: VolumeOptions,
    private readonly baseSpec: Record<string, unknown>,
  ) {}

  get dtype(): DataType {
    return this.driver.grid.dtype;
  }

  /** The view's domain (coordinates, shape, labels). */
  get domain(): IndexDomain {
    return this.transform.inputDomain;
  }

  get shape(): number[] {
    return this.domain.shape;
  }

  get rank(): number {
    return this.domain.rank;
  }

  /** The underlying array's chunk layout (in the array's own dimension order). */
  get chunkLayout(): ChunkLayout {
    const g = this.driver.grid;
    return { gridOrigin: g.origin, readChunk: { shape: g.chunkShape }, writeChunk: { shape: g.writeChunkShape } };
  }

  /** The codec chain as canonical JSON. */
  get codec(): readonly CodecJSON[] {
    return this.driver.codecs;
  }

  get fillValue(): Scalar {
    return this.driver.grid.fillValue;
  }

  /** User attributes stored with the array ({} when the format has none). */
  get attributes(): Readonly<Record<string, unknown>> {
    return this.driver.attributes ?? {};
  }

  /** The view's dimension labels ('' = unlabelled). */
  get dimensionNames(): readonly string[] {
    return this.domain.labels;
  }

  private with(t: IndexTransform): Volume {
    return new Volume(this.driver, t, this.context, this.options, this.baseSpec);
  }

  /**
   * NumPy-like indexing in the view's coordinates: per dim an integer (drops the dim),
   * `[start, stop]` / `[start, stop, step]` (stop exclusive, null = open), or null for all;
   * or an object keyed by dimension label. No I/O.
   * @throws OutOfBoundsError when the selection leaves the domain.
   */
  slice(selection: Selection): Volume {
    return this.with(this.transform.slice(selection));
  }

  translateBy(offsets: readonly number[] | Record<string, number>): Volume {
    return this.with(this.transform.translateBy(offsets));
  }

  translateTo(origins: readonly number[] | Record<string, number>): Volume {
    return this.with(this.transform.translateTo(origins));
  }

  transpose(order: readonly (number | string)[]): Volume {
    return this.with(this.transform.transpose(order));
  }

  label(labels: readonly string[] | Record<number, string>): Volume {
    return this.with(this.transform.label(labels));
  }

  stride(strides: readonly number[] | Record<string, number>): Volume {
    return this.with(this.transform.stride(strides));
  }

  /**
   * Reads the view into a new C-order array of the view's shape (or into `options.out`).
   * @throws OutOfBoundsError if the view leaves the array's domain; CorruptionError for bad
   *   stored bytes (checksum, truncation, shard index); KvStoreError for storage failures;
   *   AbortError when `signal` fires.
   */
  read(options: ReadOptions = {}): Promise<NdArray> {
    return readRegion(this.driver, this.transform, { ...this.planOptions(options), out: options.out });
  }

  /**
   * Writes an array of the view's shape and dtype, or a scalar, into the view. Partial chunks
   * are read-modify-written under a generation condition and retried on conflict.
   */
  write(source: NdArray | Scalar, options: IoOptions = {}): Promise<void> {
    return writeRegion(this.driver, this.transform, source, this.planOptions(options));
  }

  private planOptions(o: IoOptions) {
    return {
      signal: o.signal,
      cache: this.context.cachePool.totalBytesLimit > 0 ? this.context.cachePool : undefined,
      cacheKeyPrefix: this.driver.store.url,
      recheckCachedData: this.options.recheckCachedData,
      fillMissing: this.options.fillMissingDataReads,
      concurrency: Math.max(8, this.context.dataCopyConcurrency * 8),
    };
  }

  /** TensorStore spec JSON for this view (driver, kvstore, metadata, transform). */
  spec(): Record<string, unknown> {
    return { ...this.driver.spec(), ...this.baseSpec, transform: this.transform.toJSON() };
  }
}

export { IndexTransform };
