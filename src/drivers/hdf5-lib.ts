/**
 * The HDF5 C library (h5wasm 0.10: libhdf5 2.0 compiled to WebAssembly) as volstore uses it: open
 * a file, describe a dataset, read one hyperslab, list datasets and attributes. Everything
 * format-specific the HDF5 driver needs from the library goes through this file.
 *
 * One build of the library (h5wasm's ESM build) serves Node and browsers; files reach it in two
 * ways:
 * - Node, local files: a read-only file node in Emscripten's file system whose reads are
 *   `fs.readSync` calls on the host file at the requested offset, straight into the library's
 *   memory. Nothing is loaded whole: a hyperslab read reads the B-tree nodes and chunks it needs.
 *   (h5wasm's own Node build, NODERAWFS, would do the same, but it is not used: under the tsx
 *   loader the CLI runs with, importing it costs ~2 s and ~600 MB, against ~0.1 s for this one.)
 * - Bytes (browsers; Node for files on non-local stores): the file's bytes are placed in
 *   Emscripten's in-memory file system and read from there.
 * HDF5's built-in filters (deflate, shuffle, fletcher32, szip, nbit, scaleoffset) always decode.
 * The others (LZF, Blosc, Blosc2, bitshuffle, BZip2, LZ4, Zstd, ZFP, JPEG, bitround, bitgroom)
 * decode in Node when the optional npm package `h5wasm-plugins` is installed (it is not a
 * dependency: its peer range pins h5wasm 0.8, whose HDF5 1.14.6 misreads scaleoffset data);
 * HDF5 loads a plugin on first use.
 *
 * All library calls are synchronous (the library is single-threaded WebAssembly). HDF5's error
 * stack, which it prints to stderr, is captured during each call and turned into the message
 * of a typed error instead.
 */
import { CorruptionError, KvStoreError, NotFoundError, UnsupportedError } from '../errors.js';
import { log } from '../util/log.js';
import { importNodeOnly } from '../util/node-only.js';

/** h5wasm's dataset/attribute type description (`get_dataset_metadata`). */
export interface H5Metadata {
  type: number;
  size: number;
  signed: boolean;
  littleEndian: boolean;
  vlen: boolean;
  shape: number[] | null;
  maxshape: number[] | null;
  chunks: number[] | null;
  total_size: number;
  enum_type?: { type: number; nmembers: number; members: Record<string, number> };
  compound_type?: unknown;
  array_type?: unknown;
}

/** One filter of a dataset's filter pipeline (HDF5 filter id, name, client data values). */
export interface H5Filter {
  id: number;
  name: string;
  cd_values: number[];
}

interface EmNode {
  id: number;
  mode: number;
  contents?: Record<string, EmNode>;
  node_ops: Record<string, unknown>;
  stream_ops: Record<string, unknown>;
}

interface EmStream {
  node?: { mode: number };
  stream_ops?: { write(stream: EmStream, buffer: Uint8Array, offset: number, length: number, position?: number): number };
}

/** The subset of h5wasm's Emscripten module volstore calls. */
interface H5Module {
  open(filename: string, mode: number, trackOrder: boolean, libverLow: number, libverHigh: number): bigint;
  close_file(fid: bigint): number;
  get_type(fid: bigint, path: string): number;
  get_names(fid: bigint, path: string, recursive: boolean): string[];
  get_dataset_metadata(fid: bigint, path: string): H5Metadata;
  get_dataset_filters(fid: bigint, path: string): H5Filter[];
  get_dataset_data(fid: bigint, path: string, count: bigint[] | null, offset: bigint[] | null, stride: bigint[] | null, ptr: bigint): number;
  get_attribute_names(fid: bigint, path: string): string[];
  get_dimension_labels(fid: bigint, path: string): (string | null)[];
  insert_plugin_search_path(path: string, index: number): number;
  _malloc(n: number): number;
  _free(ptr: number): void;
  HEAPU8: Uint8Array;
  H5F_ACC_RDONLY: number;
  FS: {
    getStream(fd: number): EmStream;
    mkdirTree(path: string): void;
    writeFile(path: string, data: Uint8Array, opts?: { canOwn?: boolean }): void;
    unlink(path: string): void;
    lookupPath(path: string): { node: EmNode };
    createNode(parent: EmNode, name: string, mode: number, rdev: number): EmNode;
  };
}

interface H5Attribute {
  readonly json_value: unknown;
}
interface HlModule {
  ready: Promise<H5Module>;
  Dataset: new (fid: bigint, path: string) => { readonly attrs: Record<string, H5Attribute> };
}

/** HDF5 object types as `get_type` reports them (H5G_obj_t). */
const H5G_GROUP = 0;
const H5G_DATASET = 1;

/**
 * Filters the library can decode: HDF5's built-ins plus the h5wasm-plugins set (registered HDF5
 * filter ids; those need the plugins, see {@link H5Lib.filterAvailable}). A dataset using any
 * other filter is rejected at open with UnsupportedError.
 */
export const HDF5_FILTERS: Readonly<Record<number, string>> = {
  1: 'deflate',
  2: 'shuffle',
  3: 'fletcher32',
  4: 'szip',
  5: 'nbit',
  6: 'scaleoffset',
  307: 'bzip2',
  32000: 'lzf',
  32001: 'blosc',
  32004: 'lz4',
  32008: 'bitshuffle',
  32013: 'zfp',
  32015: 'zstd',
  32019: 'jpeg',
  32022: 'bitgroom',
  32023: 'bitround',
  32026: 'blosc2',
};

/** Plugin file (in h5wasm-plugins/plugins) of each plugin filter id. */
const PLUGIN_FILES: Readonly<Record<number, string>> = {
  307: 'libH5Zbz2.so',
  32000: 'libH5Zlzf.so',
  32001: 'libH5Zblosc.so',
  32004: 'libH5Zlz4.so',
  32008: 'libH5Zbshuf.so',
  32013: 'libH5Zzfp.so',
  32015: 'libH5Zzstd.so',
  32019: 'libH5Zjpeg.so',
  32022: 'libH5Zbitgroom.so',
  32023: 'libH5Zbitround.so',
  32026: 'libH5Zblosc2.so',
};

/** Where plugins and files live in the library's in-memory file system. */
const MEM_PLUGIN_DIR = '/volstore-h5plugins';
const MEM_FILE_DIR = '/volstore-h5files';

/** Node's fs, for host files (loaded in Node only). */
type NodeFs = typeof import('node:fs');

/** The loaded library (one per process). */
export class H5Lib {
  private readonly installedPlugins = new Set<number>();

  private constructor(
    readonly M: H5Module,
    private readonly hl: HlModule,
    private readonly pluginDir: string | undefined,
    private readonly fs: NodeFs | undefined,
  ) {}

  /** Loads the library once per process (~0.25 s in Node, ~0.5 s under tsx: a 4 MB module with the wasm inlined). */
  static load(): Promise<H5Lib> {
    return (LIB.promise ??= H5Lib.create().catch((e) => {
      LIB.promise = undefined;
      throw e;
    }));
  }

  private static async create(): Promise<H5Lib> {
    const t0 = Date.now();
    const hl = (await import('h5wasm')) as unknown as HlModule;
    const M = await hl.ready;
    let pluginDir: string | undefined;
    let fs: NodeFs | undefined;
    if (isNode()) {
      fs = await importNodeOnly<NodeFs>('node:fs');
      // Plugins come from the optional h5wasm-plugins package; browsers get the built-ins only.
      try {
        const { createRequire } = await importNodeOnly<typeof import('node:module')>('node:module');
        const main = createRequire(import.meta.url).resolve('h5wasm-plugins');
        pluginDir = `${main.slice(0, main.lastIndexOf('/'))}/plugins`;
      } catch (e) {
        log.debug(`hdf5: the optional h5wasm-plugins package is not installed (${(e as Error).message.split('\n')[0]}); only HDF5's built-in filters decode`);
      }
    }
    M.FS.mkdirTree(MEM_FILE_DIR);
    M.FS.mkdirTree(MEM_PLUGIN_DIR);
    M.insert_plugin_search_path(MEM_PLUGIN_DIR, 0);
    log.debug(`hdf5: loaded h5wasm in ${Date.now() - t0} ms`);
    return new H5Lib(M, hl, pluginDir, fs);
  }

  /** Whether a filter id decodes here: a built-in, or a plugin filter with h5wasm-plugins found (Node). */
  filterAvailable(id: number): boolean {
    if (id <= 6) return id >= 1;
    return PLUGIN_FILES[id] !== undefined && this.pluginDir !== undefined;
  }

  /**
   * Makes the plugins for these filter ids loadable: each needed plugin file is copied once
   * from h5wasm-plugins into the library's plugin folder (HDF5 loads it on first use).
   */
  preparePlugins(ids: readonly number[]): void {
    if (!this.pluginDir || !this.fs) return;
    for (const id of ids) {
      const file = PLUGIN_FILES[id];
      if (!file || this.installedPlugins.has(id)) continue;
      this.M.FS.writeFile(`${MEM_PLUGIN_DIR}/${file}`, new Uint8Array(this.fs.readFileSync(`${this.pluginDir}/${file}`)));
      this.installedPlugins.add(id);
    }
  }

  /**
   * Runs one synchronous library call with HDF5's stderr diagnostics captured (instead of
   * printed); returns the call's value and the captured error stack text ('' when none).
   */
  call<T>(fn: () => T): { value: T; diag: string } {
    const stream = this.M.FS.getStream(2);
    const saved = { node: stream.node, ops: stream.stream_ops };
    const lines: string[] = [];
    stream.node ??= { mode: 0o100644 };
    stream.stream_ops = {
      write: (_s, buffer, offset, length) => {
        lines.push(new TextDecoder().decode(buffer.subarray(offset, offset + length)));
        return length;
      },
    };
    try {
      return { value: fn(), diag: lines.join('') };
    } finally {
      stream.node = saved.node;
      stream.stream_ops = saved.ops;
    }
  }

  /**
   * Opens a host file read-only (Node): a file node whose reads are `fs.readSync` calls at the
   * requested offset into the library's memory, so only the bytes HDF5 asks for are read.
   * Returns a negative id on failure; `release()` closes the host descriptor.
   */
  openHostFile(hostPath: string): { fid: bigint; diag: string; path: string; release: () => void } {
    const fs = this.fs!;
    const fd = fs.openSync(hostPath, 'r');
    const size = fs.fstatSync(fd).size;
    const name = `${++memFileCounter}-${hostPath.replace(/[^A-Za-z0-9._-]/g, '_').slice(-64)}`;
    const FS = this.M.FS;
    const dir = FS.lookupPath(MEM_FILE_DIR).node;
    const node = FS.createNode(dir, name, 0o100444, 0);
    const now = Date.now();
    node.node_ops = {
      getattr: () => ({
        dev: 1, ino: node.id, mode: node.mode, nlink: 1, uid: 0, gid: 0, rdev: 0, size,
        atime: new Date(now), mtime: new Date(now), ctime: new Date(now), blksize: 4096, blocks: Math.ceil(size / 4096),
      }),
      setattr: () => undefined,
    };
    node.stream_ops = {
      read: (_stream: unknown, buffer: Uint8Array, offset: number, length: number, position: number): number => {
        if (position >= size) return 0;
        return fs.readSync(fd, buffer, offset, Math.min(length, size - position), position);
      },
      llseek: (stream: { position: number }, offset: number, whence: number): number => {
        const pos = whence === 1 ? stream.position + offset : whence === 2 ? size + offset : offset;
        if (pos < 0) throw new RangeError('negative seek');
        return pos;
      },
    };
    dir.contents![name] = node;
    const path = `${MEM_FILE_DIR}/${name}`;
    const release = (): void => {
      try {
        FS.unlink(path);
      } catch {
        // already gone
      }
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    };
    const r = this.call(() => this.M.open(path, this.M.H5F_ACC_RDONLY, false, -1, -1));
    if (r.value < 0n) release();
    return { fid: r.value, diag: r.diag, path, release };
  }

  /**
   * Places `bytes` in the in-memory file system (taking ownership: the caller must not modify
   * them) and opens them. Returns a negative id on failure.
   */
  openBytes(bytes: Uint8Array, name: string): { fid: bigint; diag: string; path: string } {
    const path = `${MEM_FILE_DIR}/${++memFileCounter}-${name.replace(/[^A-Za-z0-9._-]/g, '_').slice(-64)}`;
    this.M.FS.writeFile(path, bytes, { canOwn: true });
    const r = this.call(() => this.M.open(path, this.M.H5F_ACC_RDONLY, false, -1, -1));
    if (r.value < 0n) this.M.FS.unlink(path);
    return { fid: r.value, diag: r.diag, path };
  }

  /** Closes a file id, then runs `release` (unlink its file node, close the host descriptor). */
  close(fid: bigint, release?: () => void): void {
    this.call(() => this.M.close_file(fid));
    release?.();
  }

  /** Attributes of an object as JSON-compatible values; unreadable ones are skipped (logged). */
  attributes(fid: bigint, path: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const { value: names } = this.call(() => this.M.get_attribute_names(fid, path));
    if (!Array.isArray(names)) return out;
    const attrs = this.call(() => new this.hl.Dataset(fid, path).attrs).value;
    for (const name of names) {
      try {
        const { value } = this.call(() => attrs[name]!.json_value);
        out[name] = jsonSafe(value);
      } catch (e) {
        log.debug(`hdf5: attribute "${name}" of "${path}" is not readable as JSON (${(e as Error).message}); skipped`);
      }
    }
    return out;
  }
}

const LIB: { promise?: Promise<H5Lib> } = {};
let memFileCounter = 0;

/** True in Node (not in browsers or workers). */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, jsonSafe);
  return v;
}

/** The innermost meaningful line of an HDF5 error stack ("required filter 'lzf' is not registered"). */
export function diagSummary(diag: string): string {
  const lines = diag.split('\n').filter((l) => /#\d+:/.test(l)).map((l) => l.replace(/^.*?\bin (\w+\(\)): /, '').trim());
  const useful = lines.filter((l) => !/plugin|HDF5_PLUGIN_PATH|H5PL/i.test(l));
  return (useful.length ? useful : lines).slice(-1)[0] ?? '';
}

/**
 * One open HDF5 file. `name` (the file's URL) goes into every error message. Datasets are
 * addressed by path inside the file ('volumes/raw'); each call opens and closes the dataset in
 * the library (HDF5 keeps the file's metadata cache across calls).
 */
export class H5File {
  constructor(
    readonly lib: H5Lib,
    readonly fid: bigint,
    readonly name: string,
    private readonly release?: () => void,
  ) {}

  private closed = false;

  /** Closes the file in the library. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lib.close(this.fid, this.release);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * What sits at `path`: 'group', 'dataset', 'other' (named datatype, broken link), or
   * 'missing'. Walks the path one link at a time, so a missing component never reaches the
   * library's error paths.
   */
  kind(path: string): 'group' | 'dataset' | 'other' | 'missing' {
    const parts = normalizeH5Path(path).split('/').filter((p) => p !== '');
    let cur = '/';
    for (const part of parts) {
      if (this.typeOf(cur) !== H5G_GROUP) return 'missing';
      const names = this.lib.call(() => this.lib.M.get_names(this.fid, cur, false)).value;
      if (!Array.isArray(names) || !names.includes(part)) return 'missing';
      cur = cur === '/' ? `/${part}` : `${cur}/${part}`;
    }
    const t = this.typeOf(cur);
    return t === H5G_GROUP ? 'group' : t === H5G_DATASET ? 'dataset' : 'other';
  }

  private typeOf(path: string): number {
    return this.lib.call(() => this.lib.M.get_type(this.fid, path)).value;
  }

  /** Every dataset in the file (paths without a leading '/'), in name order. */
  datasetPaths(): string[] {
    const names = this.lib.call(() => this.lib.M.get_names(this.fid, '/', true)).value;
    if (!Array.isArray(names)) return [];
    return names.filter((n) => this.typeOf(`/${n}`) === H5G_DATASET).sort();
  }

  /**
   * A dataset's type, shape and chunking, and its filter pipeline.
   * @throws NotFoundError when `path` is not a dataset in the file.
   */
  describe(path: string): { meta: H5Metadata; filters: H5Filter[]; labels: (string | null)[] } {
    const p = normalizeH5Path(path);
    const kind = this.kind(p);
    if (kind !== 'dataset') {
      throw new NotFoundError(`${this.name}|hdf5:${p.slice(1)}`, kind === 'missing' ? 'no such dataset in the HDF5 file' : `is a ${kind === 'group' ? 'group' : 'named datatype or link'}, not a dataset`);
    }
    const meta = this.lib.call(() => this.lib.M.get_dataset_metadata(this.fid, p)).value;
    const filters = this.lib.call(() => this.lib.M.get_dataset_filters(this.fid, p)).value ?? [];
    let labels: (string | null)[] = [];
    const rank = meta.shape?.length ?? 0;
    if (rank > 0) {
      try {
        labels = this.lib.call(() => this.lib.M.get_dimension_labels(this.fid, p)).value ?? [];
      } catch {
        labels = [];
      }
    }
    return { meta, filters, labels };
  }

  /** Attributes of the object at `path`, JSON-compatible. */
  attributes(path: string): Record<string, unknown> {
    return this.lib.attributes(this.fid, normalizeH5Path(path));
  }

  /**
   * Reads the hyperslab [offset, offset + count) of a dataset as little-endian C-order bytes
   * (`elementSize` bytes per element), decompressed by the library. `count` = [] reads a
   * scalar (rank 0) dataset.
   * @throws UnsupportedError when a filter is not available; CorruptionError when the library
   *   fails to read (bad chunk, checksum, truncated file), with HDF5's own reason.
   */
  read(path: string, offset: readonly number[], count: readonly number[], elementSize: number): Uint8Array {
    const p = normalizeH5Path(path);
    const n = count.reduce((a, b) => a * b, 1) * elementSize;
    const M = this.lib.M;
    const ptr = n === 0 ? 0 : M._malloc(n);
    if (n !== 0 && !ptr) throw new KvStoreError(this.name, `cannot allocate ${n} bytes in the HDF5 library's memory to read "${p}"`);
    try {
      if (n === 0) return new Uint8Array(0);
      const scalar = count.length === 0;
      const { value: status, diag } = this.lib.call(() =>
        M.get_dataset_data(
          this.fid,
          p,
          scalar ? null : count.map(BigInt),
          scalar ? null : offset.map(BigInt),
          scalar ? null : count.map(() => 1n),
          BigInt(ptr),
        ),
      );
      if (status < 0) {
        const why = diagSummary(diag) || 'the HDF5 library failed to read it';
        const region = `[${offset.map((o, i) => `${o}:${o + count[i]!}`).join(', ')}]`;
        if (/filter .* is not registered|can't find plugin/i.test(diag)) {
          throw new UnsupportedError(`${this.name}|hdf5:${p.slice(1)}: ${why}`);
        }
        throw new CorruptionError(`${this.name}|hdf5:${p.slice(1)}`, `reading region ${region} failed: ${why}`);
      }
      // M.HEAPU8 is re-read after the call: the library may have grown (replaced) its memory.
      return M.HEAPU8.slice(ptr, ptr + n);
    } finally {
      if (ptr) M._free(ptr);
    }
  }
}

/** '/a/b' form of a dataset path ('a/b', '/a/b/', '' -> '/'). */
export function normalizeH5Path(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  return `/${parts.join('/')}`;
}
