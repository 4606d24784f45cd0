import type { DataType, Scalar } from '../array/dtype.js';
import type { MetadataCache } from '../cache/metadata.js';
import type { Context } from '../context/context.js';
import type { ChunkDriver } from '../io/chunk-driver.js';
import type { KvStore } from '../kvstore/kvstore.js';

/** How to open: TensorStore's `open`, `create`, `delete_existing`, `assume_metadata` flags. */
export interface OpenMode {
  open: boolean;
  create: boolean;
  deleteExisting: boolean;
  assumeMetadata: boolean;
}

/**
 * Schema constraints from the spec (`schema` plus top-level `dtype`, `rank`), already
 * validated. Any field may be absent. When opening, a driver checks stored metadata against
 * every present field and throws MetadataError naming the mismatch; when creating, it uses
 * them to fill in metadata the spec did not give.
 */
export interface Schema {
  dtype?: DataType;
  rank?: number;
  /** domain: inclusive_min / exclusive_max (or shape) and labels. */
  domain?: { inclusiveMin?: number[]; shape?: number[]; labels?: string[] };
  /** chunk_layout: read_chunk / write_chunk shapes. */
  readChunkShape?: number[];
  writeChunkShape?: number[];
  /** A TensorStore codec spec (`{driver: 'zarr3', codecs: [...]}` etc.), passed through. */
  codec?: Record<string, unknown>;
  fillValue?: Scalar;
  dimensionUnits?: unknown[];
}

export interface DriverOpenRequest {
  /** The store rooted at the array (kvstore path + spec `path` already applied). */
  store: KvStore;
  /** The whole spec JSON, for driver-specific keys (`metadata`, `scale_index`, ...). */
  spec: Record<string, unknown>;
  mode: OpenMode;
  schema: Schema;
  /** Store chunks equal to the fill value (`store_data_equal_to_fill_value`). */
  storeFillChunks: boolean;
  signal?: AbortSignal;
  /**
   * The container the array lives in, when opened from a spec: the spec's `path` (the array's
   * place inside the container) and the kvstore before that path is applied (the container
   * root). Formats with container-level metadata use it when creating (N5 writes its version
   * into the root's attributes.json). Absent when a driver is opened on a bare store.
   */
  container?: { path: string; store(): Promise<KvStore> };
  /** The Context the array is opened with (its codec worker pool decodes and encodes chunks). */
  context?: Context;
  /**
   * Metadata reads through the Context's cache pool under `recheck_cached_metadata`: pass it to
   * `openOrCreate` / `readJson` (src/drivers/common.ts). Absent: plain reads.
   */
  metadataCache?: MetadataCache;
}

/** A format: its spec keys beyond the common ones, and how to open or create an array. */
export interface DriverModule {
  readonly name: string;
  /** Top-level spec keys this driver accepts beyond the common ones (for unknown-key errors). */
  readonly specKeys: readonly string[];
  open(request: DriverOpenRequest): Promise<ChunkDriver>;
}
