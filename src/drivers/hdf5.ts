/**
 * The `hdf5` driver: a dataset inside an HDF5 file as a read-only volume.
 *
 * Spec: `{"driver": "hdf5", "kvstore": "file:///data/sample_A.hdf", "path": "volumes/raw"}`,
 * URL `file:///data/sample_A.hdf|hdf5:volumes/raw`. The kvstore names the FILE; `path` is the
 * dataset inside it.
 *
 * It fits the one I/O planner as every format does: the chunk grid is the dataset's HDF5 chunk
 * shape (a whole multiple of it, up to 1 MiB, for chunks under 256 KiB; for contiguous
 * datasets a synthetic grid of 1-2 MiB blocks that keeps the last dimension whole), the "store"
 * is a read-only view of the dataset ({@link Hdf5DatasetStore}) that answers `read(chunkKey)` with that hyperslab's bytes (read and decompressed by the HDF5
 * library, little-endian), and decoding reinterprets those bytes. Transforms, `read({out})`, the
 * chunk cache and concurrency come from the planner.
 *
 * Local files in Node are read in place (`fs.readSync` at the offsets HDF5 asks for: the B-tree nodes and
 * chunks a read needs); files on any other store (memory://, https://, gs://, s3://) are read
 * whole into memory first (up to {@link MAX_HDF5_WHOLE_FILE_BYTES}), which is also how browsers
 * read them. Generations: the file's generation as its store reports it (for local files: device,
 * inode, mtime in ns and size), so cached chunks stay honest; a local file rewritten while open is
 * reopened, and its dataset must keep its type, shape and chunking (else MetadataError).
 */
import { type DataType, type Scalar, dtypeSize, isBigIntDtype, viewAs } from '../array/dtype.js';
import { NdArray, cOrderStrides, product } from '../array/ndarray.js';
import { copyStrided } from '../array/copy.js';
import type { CodecJSON } from '../codecs/codec.js';
import type { StoreResources } from '../kvstore/open.js';
import { Context } from '../context/context.js';
import { KvStoreError, MetadataError, NotFoundError, ReadOnlyError, SpecError, UnsupportedError, throwIfAborted } from '../errors.js';
import type { ChunkDriver, ChunkGrid } from '../io/chunk-driver.js';
import { type KvStore, type ReadOptions, type ReadResult, resolveByteRange } from '../kvstore/kvstore.js';
import { type KvStoreSpec, kvstoreFromUrl, parseKvStore } from '../kvstore/spec.js';
import { checkSchema } from './common.js';
import type { DriverModule, DriverOpenRequest } from './driver.js';
import { H5File, H5Lib, type H5Filter, type H5Metadata, HDF5_FILTERS, diagSummary, isNode, normalizeH5Path } from './hdf5-lib.js';
import { findHdf5Signature, openFileStore } from './hdf5-location.js';

/**
 * Largest HDF5 file read whole (files not on a local disk, and every file in browsers): 2 GiB.
 * Larger ones give UnsupportedError: copy them to a local disk first.
 */
export const MAX_HDF5_WHOLE_FILE_BYTES = 2 ** 31;

/** Largest read chunk the driver asks the library for at once (the library holds it in wasm memory). */
const MAX_HDF5_CHUNK_BYTES = 2 ** 30;

/** Target size of the synthetic read chunks of a contiguous dataset. */
const CONTIGUOUS_CHUNK_BYTES = 2 << 20;

/**
 * HDF5 chunks smaller than this are read several at a time (see {@link readChunkShape}): each
 * library call costs ~0.5-1 ms beyond its data (h5wasm opens the dataset per call), which
 * dominates 4 KiB chunks (measured 7 MiB/s for [1, 64, 64] uint8 gzip chunks read one per
 * call, against ~100-140 MiB/s for 256 KiB chunks).
 */
const SMALL_CHUNK_BYTES = 256 << 10;
const COARSE_CHUNK_BYTES = 1 << 20;

/** HDF5 datatype classes (H5T_class_t) for messages. */
const TYPE_CLASSES: Record<number, string> = {
  0: 'integer', 1: 'float', 2: 'time', 3: 'string', 4: 'bitfield', 5: 'opaque',
  6: 'compound', 7: 'reference', 8: 'enum', 9: 'variable-length', 10: 'array',
};

/**
 * The volstore dtype of an HDF5 datatype, or why there is none. Integers of 1/2/4/8 bytes,
 * floats of 2/4/8 bytes (either byte order: the library converts to little-endian), and h5py's
 * boolean enum ({FALSE: 0, TRUE: 1} over int8) map; strings, compounds, variable-length,
 * arrays, references, opaque, bitfields, time and other enums do not.
 */
export function hdf5Dtype(meta: H5Metadata): { dtype?: DataType; hdf5Type: string; problem?: string } {
  const order = meta.littleEndian ? '<' : '>';
  const cls = TYPE_CLASSES[meta.type] ?? `class ${meta.type}`;
  if (meta.vlen) return { hdf5Type: `variable-length ${cls}`, problem: `variable-length ${cls} data is not an array volstore can read` };
  if (meta.type === 0 && [1, 2, 4, 8].includes(meta.size)) {
    const dtype = `${meta.signed ? 'int' : 'uint'}${meta.size * 8}` as DataType;
    return { dtype, hdf5Type: `${meta.size === 1 ? '|' : order}${meta.signed ? 'i' : 'u'}${meta.size}` };
  }
  if (meta.type === 1 && [2, 4, 8].includes(meta.size)) {
    return { dtype: `float${meta.size * 8}` as DataType, hdf5Type: `${order}f${meta.size}` };
  }
  if (meta.type === 8 && meta.size === 1 && meta.enum_type) {
    const m = meta.enum_type.members;
    const keys = Object.keys(m).sort();
    if (keys.length === 2 && keys[0] === 'FALSE' && keys[1] === 'TRUE' && m.FALSE === 0 && m.TRUE === 1) return { dtype: 'bool', hdf5Type: '|b1' };
    return { hdf5Type: `enum (${meta.size} byte)`, problem: 'enum datatypes other than h5py booleans are not supported' };
  }
  const what = meta.type === 0 || meta.type === 1 ? `${meta.size}-byte ${cls}` : cls;
  return { hdf5Type: what, problem: `${what} data is not supported (volstore reads bool, int8-64, uint8-64 and float16/32/64)` };
}

/**
 * The synthetic read chunk of a contiguous dataset: the whole array halved along its largest
 * leading dimension (the last one only when every other is 1) until at most `targetBytes`, so
 * each read is 1-2 MiB of whole rows.
 */
export function contiguousChunkShape(shape: readonly number[], itemSize: number, targetBytes = CONTIGUOUS_CHUNK_BYTES): number[] {
  const c = shape.map((s) => Math.max(1, s));
  while (product(c) * itemSize > targetBytes) {
    let d = -1;
    for (let i = 0; i < c.length - 1; i++) if (c[i]! > 1 && (d < 0 || c[i]! > c[d]!)) d = i;
    if (d < 0) d = c.length - 1;
    if (c[d]! <= 1) break;
    c[d] = Math.ceil(c[d]! / 2);
  }
  return c;
}

/**
 * The read grid of a chunked dataset: the HDF5 chunk shape, or for chunks under 256 KiB a whole
 * multiple of it of up to 1 MiB (doubling the dimension with the fewest elements per read chunk
 * that does not yet cover the extent), so one library call reads several whole HDF5 chunks and
 * every HDF5 chunk still belongs to exactly one read chunk.
 */
export function readChunkShape(h5Chunks: readonly number[], shape: readonly number[], itemSize: number): number[] {
  const c = h5Chunks.map((x) => Math.max(1, x));
  if (product(c) * itemSize >= SMALL_CHUNK_BYTES) return c;
  for (;;) {
    let d = -1;
    for (let i = 0; i < c.length; i++) {
      if (c[i]! >= shape[i]!) continue;
      if (d < 0 || c[i]! < c[d]!) d = i;
    }
    if (d < 0 || product(c) * itemSize * 2 > COARSE_CHUNK_BYTES) return c;
    c[d] = c[d]! * 2;
  }
}

/**
 * Physical placement found in a dataset's attributes, for copies that keep it:
 * - CREMI: `resolution` (voxel size per dimension in the dataset's dimension order, z,y,x,
 *   in nm) and `offset` (the dataset's corner in the same physical units, nm);
 * - ilastik / ImageJ: `element_size_um` (voxel size in micrometres).
 * `voxelOffset` is `offset / resolution` when that is integral.
 */
export interface Hdf5Spatial {
  /** Voxel size per dimension (dataset dimension order), in `unit`. */
  resolution?: number[];
  /** 'nm' for `resolution`, 'um' for `element_size_um`. */
  unit?: string;
  /** The dataset's corner in physical units (`unit`), as stored. */
  offset?: number[];
  /** `offset / resolution` per dimension, when integral. */
  voxelOffset?: number[];
  /** TensorStore-style dimension units, e.g. `[[40, 'nm'], [4, 'nm'], [4, 'nm']]`. */
  dimensionUnits?: [number, string][];
  /** Attribute names this came from. */
  attributes: string[];
}

function numberList(v: unknown, rank: number): number[] | undefined {
  if (!Array.isArray(v) || v.length !== rank) return undefined;
  const n = v.map((x) => (typeof x === 'string' && /^-?\d+(\.\d+)?$/.test(x) ? Number(x) : x));
  return n.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (n as number[]) : undefined;
}

/** Reads {@link Hdf5Spatial} from a dataset's attributes (undefined when none apply). */
export function spatialFromAttributes(attrs: Readonly<Record<string, unknown>>, rank: number): Hdf5Spatial | undefined {
  const out: Hdf5Spatial = { attributes: [] };
  const res = numberList(attrs.resolution, rank);
  const um = numberList(attrs.element_size_um, rank);
  if (res) {
    out.resolution = res;
    out.unit = 'nm';
    out.attributes.push('resolution');
  } else if (um) {
    out.resolution = um;
    out.unit = 'um';
    out.attributes.push('element_size_um');
  }
  const off = numberList(attrs.offset, rank);
  if (off) {
    out.offset = off;
    out.attributes.push('offset');
    if (out.resolution) {
      const v = off.map((o, i) => o / out.resolution![i]!);
      if (v.every((x) => Number.isInteger(x))) out.voxelOffset = v;
    }
  }
  if (out.resolution) out.dimensionUnits = out.resolution.map((r) => [r, out.unit!]);
  return out.attributes.length ? out : undefined;
}

/** What `describe` tells about one dataset, for `volstore info` and for opening. */
export interface Hdf5DatasetInfo {
  /** Path inside the file, without a leading '/' ('volumes/raw'). */
  path: string;
  /** A URL that opens it: `<file url>|hdf5:<path>`. */
  url: string;
  /** The volstore dtype, or null when the datatype is not supported. */
  dtype: DataType | null;
  /** The HDF5 datatype, numpy style ('<u8', '|u1', '>f4') or a class name ('string', 'compound'). */
  hdf5Type: string;
  shape: number[];
  /** HDF5 chunk shape, or null for contiguous/compact layout. */
  chunks: number[] | null;
  /** The read grid volstore uses: the HDF5 chunks (whole multiples of small ones), or 1-2 MiB blocks when contiguous. */
  readChunks: number[];
  filters: (H5Filter & { supported: boolean })[];
  attributes: Record<string, unknown>;
  /** HDF5 dimension scale labels (h5py `dset.dims[i].label`), null where unset. */
  dimensionNames: (string | null)[];
  spatial?: Hdf5Spatial;
  /** False when volstore cannot read it; `problem` says why. */
  supported: boolean;
  problem?: string;
}

// ---------------------------------------------------------------------------------------------
// The file: opened in place (Node, local file) or from its bytes.

/** Open local files, shared by every volume reading them (LRU, reopened when the file changes). */
const OPEN_FILES = new Map<string, { file: H5File; generation: string }>();
const MAX_OPEN_FILES = 32;

const releaseBytes = new FinalizationRegistry<H5File>((file) => file.close());

/**
 * An HDF5 file on a kvstore: its current generation, and the open library file for a
 * generation. Local files (Node) are read in place; others were read whole at open.
 */
export class Hdf5Source {
  private constructor(
    /** The store whose key '' is the file. */
    readonly store: KvStore,
    readonly mode: 'file' | 'bytes',
    private readonly hostPath: string | undefined,
    private readonly lib: H5Lib,
    private bytesFile: H5File | undefined,
    private readonly bytesGeneration: string,
  ) {}

  /** The file's URL, for messages and cache keys. */
  get url(): string {
    return this.store.url;
  }

  /** The library build in use (for plugin preparation). */
  get library(): H5Lib {
    return this.lib;
  }

  /**
   * Opens the file at key '' of `store` (from `openFileStore`).
   * @throws NotFoundError when missing; MetadataError when it is not an HDF5 file;
   *   UnsupportedError when it must be read whole and exceeds MAX_HDF5_WHOLE_FILE_BYTES.
   */
  static async open(store: KvStore, signal?: AbortSignal): Promise<Hdf5Source> {
    const sig = await findHdf5Signature(store, signal);
    if (sig === null) throw new NotFoundError(store.url, 'no such HDF5 file');
    if (sig.offset === undefined) {
      throw new MetadataError(store.url, 'not an HDF5 file (no HDF5 signature "\\x89HDF\\r\\n\\x1a\\n" at byte 0, 512, 1024, ...)');
    }
    const spec = store.spec();
    const lib = await H5Lib.load();
    if (spec.driver === 'file' && isNode()) {
      const source = new Hdf5Source(store, 'file', String(spec.path), lib, undefined, '');
      source.fileFor(sig.generation);
      return source;
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      if (sig.size !== undefined && sig.size > MAX_HDF5_WHOLE_FILE_BYTES) break;
      const r = await store.read('', { signal, ifEqual: sig.generation || undefined });
      if (r.state === 'missing') throw new NotFoundError(store.url, 'no such HDF5 file');
      if (r.state === 'unchanged') {
        Object.assign(sig, await findHdf5Signature(store, signal));
        continue;
      }
      if (r.value.length > MAX_HDF5_WHOLE_FILE_BYTES) break;
      const name = store.url.slice(store.url.lastIndexOf('/') + 1) || 'file.h5';
      const { fid, diag, path } = lib.openBytes(r.value, name);
      if (fid < 0n) throw new MetadataError(store.url, `the HDF5 library cannot open it: ${diagSummary(diag) || 'unknown error'}`);
      const file = new H5File(lib, fid, store.url, () => lib.M.FS.unlink(path));
      const source = new Hdf5Source(store, 'bytes', undefined, lib, file, r.generation);
      releaseBytes.register(source, file);
      return source;
    }
    if (sig.size !== undefined && sig.size > MAX_HDF5_WHOLE_FILE_BYTES) {
      throw new UnsupportedError(
        `${store.url}: HDF5 files not on a local disk are read whole, and this one is ${sig.size} bytes (more than ${MAX_HDF5_WHOLE_FILE_BYTES}, MAX_HDF5_WHOLE_FILE_BYTES): copy it to a local disk first`,
      );
    }
    throw new KvStoreError(store.url, 'the HDF5 file kept changing while it was being read');
  }

  /** The file's current generation ('' when it no longer exists). */
  async generation(signal?: AbortSignal): Promise<string> {
    if (this.mode === 'bytes') return this.bytesGeneration;
    const r = await this.store.read('', { byteRange: { offset: 0, length: 0 }, signal });
    return r.generation;
  }

  /**
   * The open library file holding generation `generation` of the file (local files: reopened
   * when the file changed since it was opened; the least recently used beyond 32 are closed).
   * @throws NotFoundError when the file is gone; MetadataError when the library cannot open it.
   */
  fileFor(generation: string): H5File {
    if (this.mode === 'bytes') return this.bytesFile!;
    const path = this.hostPath!;
    if (generation === '') throw new NotFoundError(this.url, 'the HDF5 file no longer exists');
    const hit = OPEN_FILES.get(path);
    if (hit && hit.generation === generation && !hit.file.isClosed) {
      OPEN_FILES.delete(path);
      OPEN_FILES.set(path, hit); // most recently used last
      return hit.file;
    }
    if (hit) {
      OPEN_FILES.delete(path);
      hit.file.close();
    }
    let opened;
    try {
      opened = this.lib.openHostFile(path);
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') throw new NotFoundError(this.url, 'the HDF5 file no longer exists');
      throw new KvStoreError(this.url, `cannot open the HDF5 file: ${(e as Error).message}`, { cause: e });
    }
    const { fid, diag, release } = opened;
    if (fid < 0n) throw new MetadataError(this.url, `the HDF5 library cannot open it: ${diagSummary(diag) || 'unknown error'}`);
    const file = new H5File(this.lib, fid, this.url, release);
    OPEN_FILES.set(path, { file, generation });
    while (OPEN_FILES.size > MAX_OPEN_FILES) {
      const [oldest, e] = OPEN_FILES.entries().next().value!;
      OPEN_FILES.delete(oldest);
      e.file.close();
    }
    return file;
  }

  /** The library file for the current generation. */
  async currentFile(signal?: AbortSignal): Promise<H5File> {
    return this.fileFor(await this.generation(signal));
  }

  /** Describes one dataset (type, shape, chunks, filters, attributes, placement). */
  describe(file: H5File, path: string): Hdf5DatasetInfo {
    const p = normalizeH5Path(path);
    const { meta, filters, labels } = file.describe(p);
    const t = hdf5Dtype(meta);
    const shape = meta.shape;
    const rank = shape?.length ?? 0;
    let problem = t.problem;
    if (!shape) problem ??= 'the dataset has a null dataspace (no elements, no shape)';
    const fl = filters.map((f) => ({ ...f, supported: HDF5_FILTERS[f.id] !== undefined && this.lib.filterAvailable(f.id) }));
    const bad = fl.find((f) => !f.supported);
    if (bad && !problem) {
      const known = HDF5_FILTERS[bad.id];
      problem = known
        ? `the dataset uses the HDF5 filter "${bad.name}" (id ${bad.id}), which needs a compression plugin: in Node, install the optional npm package h5wasm-plugins; browsers decode only HDF5's built-in filters (deflate, shuffle, fletcher32, szip, nbit, scaleoffset)`
        : `the dataset uses the HDF5 filter "${bad.name || 'unnamed'}" (id ${bad.id}), which volstore cannot decode (it decodes ${Object.values(HDF5_FILTERS).join(', ')})`;
    }
    const attributes = file.attributes(p);
    const size = t.dtype ? dtypeSize(t.dtype) : Math.max(1, meta.size);
    const s = shape ?? [];
    const readChunks = meta.chunks ? readChunkShape(meta.chunks, s, size) : contiguousChunkShape(s, size);
    return {
      path: p.slice(1),
      url: `${this.url}|hdf5:${p.slice(1)}`,
      dtype: problem ? (t.dtype ?? null) : t.dtype!,
      hdf5Type: t.hdf5Type,
      shape: s,
      chunks: meta.chunks,
      readChunks,
      filters: fl,
      attributes,
      dimensionNames: Array.from({ length: rank }, (_, i) => labels[i] ?? null),
      spatial: spatialFromAttributes(attributes, rank),
      supported: problem === undefined,
      ...(problem !== undefined ? { problem } : {}),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The dataset as a read-only store of chunk hyperslabs, and the ChunkDriver over it.

/** What must not change when a local file is reopened (else its chunks would not fit the grid). */
function signatureOf(info: Hdf5DatasetInfo): string {
  return JSON.stringify([info.dtype, info.hdf5Type, info.shape, info.chunks]);
}

/**
 * A read-only KvStore view of one dataset: key `i.j.k` (the read chunk's grid position) reads
 * that chunk's hyperslab, clipped to the dataset, as little-endian C-order bytes. The generation
 * is the file's. Writes throw ReadOnlyError.
 */
export class Hdf5DatasetStore implements KvStore {
  readonly readOnly = true;
  readonly url: string;
  private readonly validated = new WeakSet<H5File>();
  private readonly itemSize: number;

  constructor(
    readonly source: Hdf5Source,
    /** The dataset's path ('/volumes/raw'). */
    readonly datasetPath: string,
    readonly info: Hdf5DatasetInfo,
    private readonly grid: Pick<ChunkGrid, 'shape' | 'chunkShape'>,
  ) {
    this.url = `${source.url}|hdf5:${datasetPath.slice(1)}/`;
    this.itemSize = dtypeSize(info.dtype!);
  }

  /** The region [offset, offset + count) of the chunk at grid position `pos` (clipped). */
  regionOf(pos: readonly number[]): { offset: number[]; count: number[] } {
    const offset = pos.map((p, i) => p * this.grid.chunkShape[i]!);
    const count = offset.map((o, i) => Math.max(0, Math.min(this.grid.chunkShape[i]!, this.grid.shape[i]! - o)));
    return { offset, count };
  }

  private parseKey(key: string): number[] | undefined {
    const rank = this.grid.shape.length;
    const pos = key === '' ? [] : key.split('.').map(Number);
    if (pos.length !== rank) return undefined;
    for (let i = 0; i < rank; i++) {
      const p = pos[i]!;
      if (!Number.isSafeInteger(p) || p < 0 || p * this.grid.chunkShape[i]! >= Math.max(1, this.grid.shape[i]!)) return undefined;
    }
    return pos;
  }

  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    const { signal } = options;
    throwIfAborted(signal);
    const pos = this.parseKey(key);
    if (!pos) return { state: 'missing', generation: '' };
    const { offset, count } = this.regionOf(pos);
    for (let attempt = 0; attempt < 3; attempt++) {
      const generation = await this.source.generation(signal);
      if (options.ifEqual !== undefined && options.ifEqual !== generation) return { state: 'unchanged', generation };
      if (options.ifNotEqual !== undefined && options.ifNotEqual === generation) return { state: 'unchanged', generation };
      throwIfAborted(signal);
      const file = this.source.fileFor(generation);
      if (!this.validated.has(file)) {
        const now = this.source.describe(file, this.datasetPath);
        if (signatureOf(now) !== signatureOf(this.info)) {
          throw new MetadataError(
            this.url.slice(0, -1),
            `the dataset changed since it was opened (now ${now.hdf5Type} [${now.shape}] chunks ${JSON.stringify(now.chunks)}, was ${this.info.hdf5Type} [${this.info.shape}] chunks ${JSON.stringify(this.info.chunks)}): open it again`,
          );
        }
        this.validated.add(file);
      }
      const bytes = file.read(this.datasetPath, offset, count, this.itemSize);
      // A local file rewritten during the read: read again, so the generation describes the bytes.
      if (this.source.mode === 'file' && (await this.source.generation(signal)) !== generation) continue;
      const [start, end] = resolveByteRange(key, options.byteRange, bytes.length);
      return { state: 'value', value: start === 0 && end === bytes.length ? bytes : bytes.slice(start, end), generation, size: bytes.length };
    }
    throw new KvStoreError(this.url.slice(0, -1), 'the HDF5 file kept changing while being read');
  }

  write(): Promise<never> {
    return Promise.reject(new ReadOnlyError(`${this.url.slice(0, -1)}: the hdf5 driver is read-only`));
  }

  delete(): Promise<never> {
    return this.write();
  }

  deleteRange(): Promise<never> {
    return this.write();
  }

  /** Every chunk key (grid positions in C order) starting with `prefix`. */
  async *list(prefix: string): AsyncIterable<string> {
    const counts = this.grid.shape.map((s, i) => Math.ceil(Math.max(1, s) / this.grid.chunkShape[i]!));
    const idx = counts.map(() => 0);
    if (counts.some((c) => c === 0)) return;
    for (;;) {
      const key = idx.join('.');
      if (key.startsWith(prefix)) yield key;
      let d = idx.length - 1;
      for (; d >= 0; d--) {
        if (++idx[d]! < counts[d]!) break;
        idx[d] = 0;
      }
      if (d < 0) return;
    }
  }

  spec(): Record<string, unknown> {
    return this.source.store.spec();
  }
}

/** The ChunkDriver of an HDF5 dataset (read-only). */
export class Hdf5Driver implements ChunkDriver {
  readonly driverName = 'hdf5';
  readonly storeFillChunks = false;
  readonly codecs: readonly CodecJSON[];
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Physical placement from the dataset's attributes (CREMI `resolution`/`offset`), if any. */
  readonly spatial: Hdf5Spatial | undefined;

  constructor(
    readonly grid: ChunkGrid,
    readonly store: Hdf5DatasetStore,
    /** What the file says about the dataset (type, chunks, filters, attributes). */
    readonly info: Hdf5DatasetInfo,
  ) {
    this.codecs = info.filters.map((f) => ({ name: 'hdf5_filter', configuration: { id: f.id, name: f.name, cd_values: f.cd_values } }));
    this.attributes = info.attributes;
    this.spatial = info.spatial;
  }

  keyOf(chunk: readonly number[]): string {
    return chunk.join('.');
  }

  async decodeChunk(bytes: Uint8Array, chunk: readonly number[]): Promise<NdArray> {
    const g = this.grid;
    const { count } = this.store.regionOf(chunk);
    const n = product(count) * dtypeSize(g.dtype);
    if (bytes.length !== n) {
      throw new KvStoreError(`${this.store.url}${this.keyOf(chunk)}`, `expected ${n} bytes for region [${count}] of the chunk, got ${bytes.length}`);
    }
    const data = viewAs(g.dtype, bytes);
    if (count.every((c, i) => c === g.chunkShape[i])) return new NdArray(g.dtype, data, g.chunkShape);
    // An edge chunk: pad to the full chunk shape with the fill value.
    const full = NdArray.zeros(g.dtype, g.chunkShape, g.fillValue);
    const size = dtypeSize(g.dtype);
    copyStrided(
      new Uint8Array(full.data.buffer), 0, full.strides.map((s) => s * size),
      bytes, 0, cOrderStrides(count).map((s) => s * size), count, size,
    );
    return full;
  }

  encodeChunk(): Promise<Uint8Array> {
    return Promise.reject(new ReadOnlyError(`${this.store.url.slice(0, -1)}: the hdf5 driver is read-only`));
  }

  spec(): Record<string, unknown> {
    return { driver: 'hdf5', kvstore: this.store.spec(), path: this.info.path };
  }
}

/**
 * The physical placement of a volume opened with the hdf5 driver (CREMI `resolution`/`offset`,
 * ilastik `element_size_um`), or undefined for other drivers and datasets without it. Pass
 * `volume.driver`.
 */
export function hdf5Spatial(driver: ChunkDriver): Hdf5Spatial | undefined {
  return driver instanceof Hdf5Driver ? driver.spatial : undefined;
}

function fillOf(dtype: DataType): Scalar {
  return dtype === 'bool' ? false : isBigIntDtype(dtype) ? 0n : 0;
}

/**
 * Opens a dataset of an open HDF5 source as a ChunkDriver.
 * @throws NotFoundError (no such dataset), UnsupportedError (datatype, filter, null dataspace),
 *   MetadataError (a chunk over 1 GiB), each naming the file and the dataset path.
 */
export async function hdf5ChunkDriver(source: Hdf5Source, datasetPath: string, signal?: AbortSignal): Promise<Hdf5Driver> {
  const file = await source.currentFile(signal);
  const p = normalizeH5Path(datasetPath);
  const info = source.describe(file, p);
  if (!info.supported) throw new UnsupportedError(`${info.url}: ${info.problem}`);
  source.library.preparePlugins(info.filters.map((f) => f.id));
  const dtype = info.dtype!;
  const chunkBytes = product(info.readChunks) * dtypeSize(dtype);
  if (chunkBytes > MAX_HDF5_CHUNK_BYTES) {
    throw new MetadataError(info.url, `HDF5 chunks [${info.readChunks}] of ${chunkBytes} bytes exceed the ${MAX_HDF5_CHUNK_BYTES}-byte limit of one library read`);
  }
  const labels = info.dimensionNames;
  const grid: ChunkGrid = {
    dtype,
    shape: info.shape,
    origin: info.shape.map(() => 0),
    chunkShape: info.readChunks,
    writeChunkShape: info.readChunks,
    fillValue: fillOf(dtype),
    dimensionNames: new Set(labels.filter((l) => l)).size === labels.filter((l) => l).length ? labels : labels.map(() => null),
  };
  return new Hdf5Driver(grid, new Hdf5DatasetStore(source, p, info, grid), info);
}

function datasetPathOf(spec: Record<string, unknown>): string {
  const p = spec.path ?? '';
  if (typeof p !== 'string') throw new SpecError('path', 'must be a string (the dataset path inside the HDF5 file)');
  return p;
}

/** The driver module registered as `hdf5` in `src/open.ts`. */
export const driver: DriverModule = {
  name: 'hdf5',
  specKeys: [],
  async open(req: DriverOpenRequest): Promise<ChunkDriver> {
    if (req.mode.create || req.mode.deleteExisting) {
      throw new ReadOnlyError(`${req.store.url}: the hdf5 driver is read-only (it cannot create datasets); open with create: false`);
    }
    const path = datasetPathOf(req.spec);
    const source = await Hdf5Source.open(req.store, req.signal);
    if (normalizeH5Path(path) === '/') {
      const file = await source.currentFile(req.signal);
      const names = file.datasetPaths();
      throw new SpecError('path', `name a dataset inside ${source.url}${names.length ? `, e.g. ${names.slice(0, 8).map((n) => JSON.stringify(n)).join(', ')}${names.length > 8 ? ', ...' : ''}` : ' (it holds no datasets)'}`);
    }
    const d = await hdf5ChunkDriver(source, path, req.signal);
    checkSchema(req.schema, d.info.url, { dtype: d.grid.dtype, shape: d.grid.shape, chunkShape: d.grid.chunkShape, writeChunkShape: d.grid.writeChunkShape });
    return d;
  },
};

/** The kvstore spec of the file a URL or spec names (a `|hdf5:path` suffix is ignored). */
function fileKvStore(source: string | Record<string, unknown>): KvStoreSpec {
  if (typeof source === 'string') return kvstoreFromUrl(source.split('|')[0]!);
  if (source.kvstore === undefined) throw new SpecError('kvstore', 'required (the HDF5 file)');
  return parseKvStore(source.kvstore, 'kvstore');
}

/** Options of {@link listHdf5Datasets}. */
export interface ListHdf5Options {
  /** Shared resources (store concurrency limits); a fresh Context when absent. */
  context?: StoreResources;
  signal?: AbortSignal;
}

/**
 * Lists every dataset of an HDF5 file (for `volstore info`): path, dtype, shape, chunks,
 * filters, attributes, CREMI-style placement, and whether volstore can read it (and if not,
 * why). `source` is the file's URL (`file:///data/sample_A.hdf`, a `|hdf5:...` suffix is
 * ignored) or a spec with its `kvstore`.
 * @throws NotFoundError (no such file), MetadataError (not an HDF5 file), SpecError.
 */
export async function listHdf5Datasets(source: string | Record<string, unknown>, options: ListHdf5Options = {}): Promise<Hdf5DatasetInfo[]> {
  const store = await openFileStore(fileKvStore(source), options.context ?? new Context());
  const src = await Hdf5Source.open(store, options.signal);
  const file = await src.currentFile(options.signal);
  return file.datasetPaths().map((p) => src.describe(file, p));
}
