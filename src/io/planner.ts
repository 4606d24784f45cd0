import { type DataType, type Scalar, allocTypedArray, bytesOf, dtypeSize, toElement } from '../array/dtype.js';
import { NdArray, cOrderStrides } from '../array/ndarray.js';
import type { ChunkCache } from '../cache/chunk-cache.js';
import { isAllFill } from '../array/ndarray.js';
import type { ChunkDriver, ChunkGrid } from './chunk-driver.js';
import { OutOfBoundsError, VolstoreError, throwIfAborted } from '../errors.js';
import type { IndexTransform } from '../index-space/index.js';
import { type CellUpdate, isBatchUpdatable, isCellReadable, type ReadResult, updateKey, type UpdateFn } from '../kvstore/kvstore.js';
import { MAX_READ_BYTES } from '../limits.js';
import { copyStrided } from '../array/copy.js';

/**
 * The one I/O planner. Every driver hands it a chunk grid, a key function and a chunk codec
 * (`ChunkDriver`); reads, writes, read-modify-write, batching by shard, caching and
 * concurrency happen here, once, for every format.
 *
 * The view (a `slice()`d volume) is an IndexTransform from view coordinates (its input) to
 * array coordinates (its output). Every output dim is a constant or `offset + stride * v[j]`
 * of exactly one view dim, so the elements a chunk contributes to a view form a strided box:
 * one strided copy per chunk moves them (`copyStrided`, the WASM kernel where it pays).
 */
export interface PlanOptions {
  signal?: AbortSignal;
  /** Chunks processed at once (fetch + decode + copy). */
  concurrency?: number;
  /** The shared decoded-chunk cache (context `cache_pool`). */
  cache?: ChunkCache;
  /** Prefix isolating this array's entries in the shared cache. */
  cacheKeyPrefix?: string;
  /** Revalidate cached chunks with a conditional read (TensorStore recheck_cached_data). */
  recheckCachedData?: boolean;
  /** Treat missing chunks as fill (TensorStore fill_missing_data_reads, default true). */
  fillMissing?: boolean;
  /**
   * Read into this array (the view's shape and dtype, any strides) instead of a new one.
   * Reusing an output skips allocating and first-touching fresh memory, which dominates large
   * raw reads (see bench/README.md).
   */
  out?: NdArray;
}

const DEFAULT_CONCURRENCY = 32;

/** Array-coordinate bounding box of a view, checked against the array's domain. */
export function viewBounds(grid: ChunkGrid, t: IndexTransform): { lo: number[]; hi: number[] } {
  const { inclusiveMin, exclusiveMax } = t.outputBounds();
  for (let k = 0; k < grid.shape.length; k++) {
    const a0 = grid.origin[k]!;
    const a1 = a0 + grid.shape[k]!;
    if (exclusiveMax[k]! > inclusiveMin[k]! && (inclusiveMin[k]! < a0 || exclusiveMax[k]! > a1)) {
      const name = grid.dimensionNames[k] ? ` ("${grid.dimensionNames[k]}")` : '';
      throw new OutOfBoundsError(
        `region [${inclusiveMin[k]}, ${exclusiveMax[k]}) of dimension ${k}${name} is outside the domain [${a0}, ${a1})`,
      );
    }
  }
  return { lo: [...inclusiveMin], hi: [...exclusiveMax] };
}

/** Grid positions of every chunk intersecting the box [lo, hi) (array coordinates), C order. */
export function chunksInBox(grid: ChunkGrid, lo: readonly number[], hi: readonly number[]): number[][] {
  const rank = lo.length;
  const first: number[] = [];
  const last: number[] = [];
  for (let k = 0; k < rank; k++) {
    if (hi[k]! <= lo[k]!) return [];
    first.push(Math.floor((lo[k]! - grid.origin[k]!) / grid.chunkShape[k]!));
    last.push(Math.floor((hi[k]! - 1 - grid.origin[k]!) / grid.chunkShape[k]!));
  }
  const out: number[][] = [];
  const idx = [...first];
  for (;;) {
    out.push([...idx]);
    let d = rank - 1;
    for (; d >= 0; d--) {
      if (++idx[d]! <= last[d]!) break;
      idx[d] = first[d]!;
    }
    if (d < 0) return out;
  }
}

/**
 * Grid positions of the chunks a view actually touches, C order: per array dimension, the chunk
 * indices its output map hits (a constant hits one; a strided map whose step is at least the
 * chunk width hits one chunk per selected coordinate and skips the rest), then their product.
 * A strided view (every 64th plane, a 1:8 overview) reads only the chunks it needs.
 */
export function chunksOfView(grid: ChunkGrid, t: IndexTransform): number[][] {
  const dom = t.inputDomain;
  const perDim: number[][] = [];
  for (let k = 0; k < t.outputRank; k++) {
    const m = t.outputs[k]!;
    const o = grid.origin[k]!;
    const cs = grid.chunkShape[k]!;
    if (m.kind === 'constant') {
      perDim.push([Math.floor((m.offset - o) / cs)]);
      continue;
    }
    const lo = dom.inclusiveMin[m.inputDim]!;
    const hi = dom.exclusiveMax[m.inputDim]!;
    if (hi <= lo) return [];
    const a0 = m.offset + m.stride * lo;
    const a1 = m.offset + m.stride * (hi - 1);
    const c0 = Math.floor((Math.min(a0, a1) - o) / cs);
    const c1 = Math.floor((Math.max(a0, a1) - o) / cs);
    if (Math.abs(m.stride) < cs) {
      const r: number[] = [];
      for (let c = c0; c <= c1; c++) r.push(c);
      perDim.push(r);
    } else {
      const r = new Set<number>();
      for (let v = lo; v < hi; v++) r.add(Math.floor((m.offset + m.stride * v - o) / cs));
      perDim.push([...r].sort((x, y) => x - y));
    }
  }
  const out: number[][] = [];
  const idx = new Array<number>(perDim.length).fill(0);
  if (perDim.some((l) => l.length === 0)) return out;
  for (;;) {
    out.push(idx.map((i, d) => perDim[d]![i]!));
    let d = perDim.length - 1;
    for (; d >= 0; d--) {
      if (++idx[d]! < perDim[d]!.length) break;
      idx[d] = 0;
    }
    if (d < 0) return out;
  }
}

/**
 * How one chunk maps onto a view: the view box [lo, hi) it covers, and for each view dim the
 * element stride inside the chunk array plus the chunk-array element offset of view point lo.
 */
interface ChunkMapping {
  lo: number[];
  hi: number[];
  /** Per view dim: elements to step in the chunk per view step (0 for an unmapped view dim). */
  chunkSteps: number[];
  /** Chunk-relative element offset (before the chunk array's own offset) of view point `lo`. */
  chunkOffset: number;
  /** Whether the view covers every in-domain element of the chunk. */
  covers: boolean;
}

function mapChunk(grid: ChunkGrid, t: IndexTransform, pos: readonly number[], chunkStrides: readonly number[]): ChunkMapping | undefined {
  const dom = t.inputDomain;
  const lo = [...dom.inclusiveMin];
  const hi = [...dom.exclusiveMax];
  const chunkSteps = new Array<number>(t.inputRank).fill(0);
  const mappedExtent: number[] = [];
  let chunkOffset = 0;
  let covers = true;
  const lowSet: { j: number; k: number; o: number; s: number; c0: number }[] = [];
  for (let k = 0; k < t.outputRank; k++) {
    const c0 = grid.origin[k]! + pos[k]! * grid.chunkShape[k]!;
    const c1 = Math.min(c0 + grid.chunkShape[k]!, grid.origin[k]! + grid.shape[k]!);
    const m = t.outputs[k]!;
    if (m.kind === 'constant') {
      if (m.offset < c0 || m.offset >= c1) return undefined;
      chunkOffset += chunkStrides[k]! * (m.offset - c0);
      if (c1 - c0 !== 1) covers = false;
      continue;
    }
    const { inputDim: j, offset: o, stride: s } = m;
    // View points v with c0 <= o + s*v <= c1 - 1.
    let vlo: number;
    let vhi: number;
    if (s > 0) {
      vlo = Math.ceil((c0 - o) / s);
      vhi = Math.floor((c1 - 1 - o) / s) + 1;
    } else {
      vlo = Math.ceil((c1 - 1 - o) / s);
      vhi = Math.floor((c0 - o) / s) + 1;
    }
    lo[j] = Math.max(lo[j]!, vlo);
    hi[j] = Math.min(hi[j]!, vhi);
    if (hi[j]! <= lo[j]!) return undefined;
    chunkSteps[j] = chunkStrides[k]! * s;
    lowSet.push({ j, k, o, s, c0 });
    mappedExtent[k] = c1 - c0;
  }
  for (const { j, k, o, s, c0 } of lowSet) {
    chunkOffset += chunkStrides[k]! * (o + s * lo[j]! - c0);
    if (Math.abs(s) !== 1 || hi[j]! - lo[j]! !== mappedExtent[k]) covers = false;
  }
  return { lo, hi, chunkSteps, chunkOffset, covers };
}

/** Runs `fn` over `items` with at most `limit` in flight; the first error aborts the rest. */
async function forEachLimited<T>(items: readonly T[], limit: number, signal: AbortSignal | undefined, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < items.length) {
      throwIfAborted(signal);
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        if (failed === undefined) failed = e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

/** A chunk's entry name in the shared cache (prefix isolates arrays sharing one pool). */
function cacheKeyOf(driver: ChunkDriver, key: string, opts: PlanOptions): string {
  return `${opts.cacheKeyPrefix ?? driver.store.url}\u0000${key}`;
}

/** Reads and decodes one chunk through the cache; undefined when missing. */
async function loadChunk(driver: ChunkDriver, pos: readonly number[], opts: PlanOptions): Promise<NdArray | undefined> {
  const key = driver.keyOf(pos);
  const cacheKey = cacheKeyOf(driver, key, opts);
  const cached = opts.cache?.get(cacheKey);
  if (cached && opts.recheckCachedData === false) {
    opts.cache!.hits++;
    return cached.array;
  }
  const r = await driver.store.read(key, { signal: opts.signal, ifNotEqual: cached?.generation });
  if (r.state === 'unchanged' && cached) {
    opts.cache!.hits++;
    return cached.array;
  }
  return decodeResult(driver, pos, key, r, opts);
}

async function decodeResult(driver: ChunkDriver, pos: readonly number[], key: string, r: ReadResult, opts: PlanOptions): Promise<NdArray | undefined> {
  const cacheKey = cacheKeyOf(driver, key, opts);
  if (opts.cache) opts.cache.misses++;
  if (r.state !== 'value') {
    opts.cache?.delete(cacheKey);
    if (opts.fillMissing === false) throw new VolstoreError('not-found', `chunk "${key}" is missing (fill_missing_data_reads is false)`);
    return undefined;
  }
  const arr = await driver.decodeChunk(r.value, pos, opts.signal);
  opts.cache?.set(cacheKey, arr, r.generation);
  return arr;
}

/**
 * Groups of chunks to fetch together: with a CellReadable store (shards), the uncached chunks
 * of one cell form one group (one index lookup, coalesced ranges); otherwise one chunk each.
 */
function planReads(driver: ChunkDriver, chunks: number[][], opts: PlanOptions): number[][][] {
  const store = driver.store;
  if (!isCellReadable(store)) return chunks.map((c) => [c]);
  const groups = new Map<string, number[][]>();
  const singles: number[][][] = [];
  for (const pos of chunks) {
    const key = driver.keyOf(pos);
    if (opts.cache?.has(cacheKeyOf(driver, key, opts))) {
      singles.push([pos]);
      continue;
    }
    const cell = store.cellOf(key);
    let g = groups.get(cell);
    if (!g) groups.set(cell, (g = []));
    g.push(pos);
  }
  return [...groups.values(), ...singles];
}

/**
 * A new fill-valued array for a view, or OutOfBoundsError when it is more than one ArrayBuffer
 * can hold ({@link MAX_READ_BYTES}) or the allocation fails: the caller must read in slices.
 */
function allocView(grid: ChunkGrid, viewShape: readonly number[]): NdArray {
  const elements = viewShape.reduce((n, s) => n * s, 1);
  const bytes = elements * dtypeSize(grid.dtype);
  const tooBig = (why: string): OutOfBoundsError =>
    new OutOfBoundsError(
      `reading a view of shape [${viewShape.join(', ')}] (${elements} ${grid.dtype} elements, ${bytes} bytes) ${why}: read it in slices (vol.slice(...)) or into a caller-owned array (read({out}))`,
    );
  if (bytes > MAX_READ_BYTES) throw tooBig(`exceeds the ${MAX_READ_BYTES}-byte limit of one read (MAX_READ_BYTES)`);
  try {
    return NdArray.zeros(grid.dtype, viewShape, grid.fillValue);
  } catch (e) {
    if (e instanceof RangeError) throw tooBig(`cannot be allocated (${e.message})`);
    throw e;
  }
}

/** Reads the view `t` of the array into a new C-order array of the view's shape. */
export async function readRegion(driver: ChunkDriver, t: IndexTransform, opts: PlanOptions = {}): Promise<NdArray> {
  const grid = driver.grid;
  viewBounds(grid, t);
  const viewShape = t.inputDomain.shape;
  let out: NdArray;
  if (opts.out) {
    out = opts.out;
    if (out.dtype !== grid.dtype || out.shape.length !== viewShape.length || out.shape.some((s, i) => s !== viewShape[i])) {
      throw new OutOfBoundsError(`read({out}): out is ${out.dtype} [${out.shape}], the view is ${grid.dtype} [${viewShape}]`);
    }
  } else {
    out = allocView(grid, viewShape);
  }
  if (out.size === 0) return out;
  const size = dtypeSize(grid.dtype);
  const outBytes = bytesOf(out.data);
  const outStrides = out.strides.map((s) => s * size);
  const dlo = t.inputDomain.inclusiveMin;
  // A fresh output already holds the fill value; a caller's output gets it where chunks are missing.
  const fillChunk = opts.out ? NdArray.zeros(grid.dtype, grid.chunkShape.map(() => 1), grid.fillValue) : undefined;
  const fillStrides = grid.chunkShape.map(() => 0);
  const place = (pos: readonly number[], chunk: NdArray): void => {
    const m = mapChunk(grid, t, pos, chunk.strides);
    if (!m) return;
    let dst = 0;
    for (let j = 0; j < m.lo.length; j++) dst += (m.lo[j]! - dlo[j]!) * outStrides[j]!;
    copyStrided(
      outBytes, out.offset * size + dst, outStrides,
      bytesOf(chunk.data), (chunk.offset + m.chunkOffset) * size, m.chunkSteps.map((s) => s * size),
      m.lo.map((l, j) => m.hi[j]! - l), size,
    );
  };
  const placeMissing = (pos: readonly number[]): void => {
    if (fillChunk) place(pos, new NdArray(grid.dtype, fillChunk.data, grid.chunkShape, fillStrides));
  };
  const store = driver.store;
  await forEachLimited(planReads(driver, chunksOfView(grid, t), opts), opts.concurrency ?? DEFAULT_CONCURRENCY, opts.signal, async (group) => {
    if (group.length === 1 || !isCellReadable(store)) {
      for (const pos of group) {
        const chunk = await loadChunk(driver, pos, opts);
        if (chunk) place(pos, chunk);
        else placeMissing(pos);
      }
      return;
    }
    const keys = group.map((p) => driver.keyOf(p));
    const results = await store.readCell(store.cellOf(keys[0]!), keys, opts.signal);
    for (let i = 0; i < group.length; i++) {
      const chunk = await decodeResult(driver, group[i]!, keys[i]!, results[i]!, opts);
      if (chunk) place(group[i]!, chunk);
      else placeMissing(group[i]!);
    }
  });
  return out;
}

/**
 * Writes `source` (an array of the view's shape, or a scalar broadcast over it) into the view.
 * Chunks only partly covered are read-modify-written under a generation condition (retried
 * on conflict); chunks of one shard are written together, once; a chunk that ends up equal
 * to the fill value is deleted instead of stored (unless the driver stores fill chunks).
 */
export async function writeRegion(driver: ChunkDriver, t: IndexTransform, source: NdArray | Scalar, opts: PlanOptions = {}): Promise<void> {
  const grid = driver.grid;
  viewBounds(grid, t);
  const viewShape = t.inputDomain.shape;
  const size = dtypeSize(grid.dtype);
  let src: NdArray;
  if (source instanceof NdArray) {
    if (source.dtype !== grid.dtype) {
      throw new VolstoreError('spec', `cannot write ${source.dtype} data to a ${grid.dtype} array (convert it first)`);
    }
    if (source.shape.length !== viewShape.length || source.shape.some((s, i) => s !== viewShape[i])) {
      throw new OutOfBoundsError(`source shape [${source.shape}] does not match the view shape [${viewShape}]`);
    }
    src = source;
  } else {
    // A scalar broadcast over the view: one element, zero strides. Set the element directly:
    // NdArray.zeros(dtype, shape, fill) skips a fill equal to 0, which loses -0.0.
    const one = allocTypedArray(grid.dtype, 1);
    (one as unknown as (number | bigint)[])[0] = toElement(grid.dtype, source);
    src = new NdArray(grid.dtype, one, viewShape, viewShape.map(() => 0));
  }
  const dlo = t.inputDomain.inclusiveMin;
  const chunkCStrides = cOrderStrides(grid.chunkShape);
  const srcBytes = bytesOf(src.data);
  const srcStrides = src.strides.map((s) => s * size);

  const store = driver.store;
  const updates = new Map<string, Map<string, CellUpdate>>();
  const cacheKeys: string[] = [];
  for (const pos of chunksOfView(grid, t)) {
    const m = mapChunk(grid, t, pos, chunkCStrides);
    if (!m) continue;
    const key = driver.keyOf(pos);
    cacheKeys.push(cacheKeyOf(driver, key, opts));
    let srcOff = src.offset * size;
    for (let j = 0; j < m.lo.length; j++) srcOff += (m.lo[j]! - dlo[j]!) * srcStrides[j]!;
    const shape = m.lo.map((l, j) => m.hi[j]! - l);
    const fn: UpdateFn = async (current) => {
      throwIfAborted(opts.signal);
      let arr: NdArray;
      if (current && !m.covers) {
        arr = cloneCOrder(await driver.decodeChunk(current, pos, opts.signal), grid.dtype);
      } else {
        arr = NdArray.zeros(grid.dtype, grid.chunkShape, grid.fillValue);
      }
      copyStrided(
        bytesOf(arr.data), m.chunkOffset * size, m.chunkSteps.map((s) => s * size),
        srcBytes, srcOff, srcStrides, shape, size,
      );
      if (!driver.storeFillChunks && isAllFill(arr, grid.fillValue)) return null;
      return driver.encodeChunk(arr, pos, opts.signal);
    };
    const cell = isBatchUpdatable(store) ? store.cellOf(key) : key;
    let u = updates.get(cell);
    if (!u) updates.set(cell, (u = new Map()));
    u.set(key, { fn, overwrite: m.covers });
  }
  try {
    await forEachLimited([...updates], opts.concurrency ?? DEFAULT_CONCURRENCY, opts.signal, async ([cell, u]) => {
      if (isBatchUpdatable(store)) {
        await store.updateCell(cell, u, opts.signal);
      } else {
        const [[key, { fn, overwrite }]] = [...u];
        await updateKey(store, key!, fn, opts.signal, !overwrite);
      }
    });
  } finally {
    if (opts.cache) for (const k of cacheKeys) opts.cache.delete(k);
  }
}

/** A fresh, writable C-order copy (decoded chunks may be views of cached or stored bytes). */
function cloneCOrder(a: NdArray, dtype: DataType): NdArray {
  const out = NdArray.zeros(dtype, a.shape);
  const size = dtypeSize(dtype);
  copyStrided(
    bytesOf(out.data), 0, out.strides.map((s) => s * size),
    bytesOf(a.data), a.offset * size, a.strides.map((s) => s * size), a.shape, size,
  );
  return out;
}
