import { type DataType, type Scalar, allocTypedArray, bytesOf, dtypeSize, isSharedMemory, toElement, viewAs } from '../array/dtype.js';
import { NdArray, cOrderStrides } from '../array/ndarray.js';
import { type CachePool, now, type UseCounters } from '../cache/pool.js';
import { isAllFill } from '../array/ndarray.js';
import type { ChunkDriver, ChunkGrid } from './chunk-driver.js';
import { AbortError, ByteRangeError, CorruptionError, OutOfBoundsError, VolstoreError, throwIfAborted } from '../errors.js';
import type { IndexTransform } from '../index-space/index.js';
import { type CellReadable, type CellUpdate, isBatchUpdatable, isCellReadable, type KvStore, type LocalFile, NO_GENERATION, type ReadResult, updateKey, type UpdateFn } from '../kvstore/kvstore.js';
import { type Priority, RequestPriority } from '../util/limiter.js';
import { readBuffers } from '../kvstore/read-buffers.js';
import { SharedWork } from '../util/shared-work.js';
import { SignalFan } from '../util/signal-fan.js';
import { MAX_CHUNKS_PER_REQUEST, MAX_READ_BYTES } from '../limits.js';
import { copyStrided } from '../array/copy.js';
import { type ChunkPlacement, placeChunk, placementRange } from '../array/place.js';
import type { DecodeTarget } from '../codecs/codec.js';
import { boxPositions, type GridAxis, gridCells, gridCount, gridPositions, rangeAxis } from '../array/grid.js';

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
  /**
   * The Context's cache pool: decoded chunks (when its limit is positive) and the table of
   * in-flight chunk loads that concurrent reads share. Without it every read fetches alone.
   */
  cache?: CachePool;
  /** Prefix isolating this array's entries in the shared cache. */
  cacheKeyPrefix?: string;
  /**
   * Staleness bound (ms since the epoch, see `stalenessBound` in src/cache/pool.ts): cached
   * chunks verified before it are revalidated with a conditional read; in-flight loads started
   * before it are not joined. Default: the operation's start (TensorStore's
   * `recheck_cached_data: true`).
   */
  recheckBefore?: number;
  /** Request priority of the chunk loads (default demand; prefetches use 'prefetch'). */
  priority?: Priority;
  /** Per-handle use counters, incremented alongside the pool's (a volume's `stats()`). */
  counters?: UseCounters;
  /** Treat missing chunks as fill (TensorStore fill_missing_data_reads, default true). */
  fillMissing?: boolean;
  /**
   * Writes: most bytes of write cells (shards, or chunks when unsharded; counted uncompressed)
   * being encoded and written at once. Default {@link DEFAULT_WRITE_BUFFER_BYTES}; one cell is
   * always allowed, however large.
   */
  writeBufferBytes?: number;
  /**
   * Read into this array (the view's shape and dtype, any strides) instead of a new one.
   * Reusing an output skips allocating and first-touching fresh memory, which dominates large
   * raw reads (see bench/README.md).
   */
  out?: NdArray;
}

const DEFAULT_CONCURRENCY = 32;


/**
 * Default of {@link PlanOptions.writeBufferBytes}: 32 MiB of write cells (uncompressed) in
 * flight. A cell being written holds about three times its size (its encoded chunks, the
 * assembled shard, the store's copy of it), so a write streams at the source's size plus
 * ~100-150 MiB whatever the volume's size (test/core/write-memory.test.ts); unsharded chunks
 * up to 1 MiB still go 32 at a time.
 */
export const DEFAULT_WRITE_BUFFER_BYTES = 32 * 1024 * 1024;

/**
 * Chunks (of the positions enumerated in cell order) grouped by cell at once. Cells that are
 * boxes of the write chunk grid (zarr3 shards, precomputed box shards) always come whole; cells
 * that are not (hashed precomputed shards) are grouped within this many chunks, so a write of
 * more chunks than this rewrites such a shard once per window.
 */
const CELL_WINDOW_CHUNKS = 65536;

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
  if (lo.some((l, k) => hi[k]! <= l)) return [];
  const first = lo.map((l, k) => Math.floor((l - grid.origin[k]!) / grid.chunkShape[k]!));
  const last = hi.map((h, k) => Math.floor((h - 1 - grid.origin[k]!) / grid.chunkShape[k]!));
  return [...boxPositions(first, last.map((l) => l + 1))];
}

/**
 * Per array dimension, the chunk indices a view touches, ascending, as lazy axes (no index is
 * materialised): a constant map hits one chunk; a map whose stride is narrower than the chunk
 * hits the range of chunks between its ends; a wider stride hits one chunk per selected
 * coordinate and skips the rest (a strided view, every 64th plane, reads only the chunks it
 * needs). Undefined when the view is empty.
 */
export function viewChunkAxes(grid: ChunkGrid, t: IndexTransform): GridAxis[] | undefined {
  const dom = t.inputDomain;
  const axes: GridAxis[] = [];
  for (let k = 0; k < t.outputRank; k++) {
    const m = t.outputs[k]!;
    const o = grid.origin[k]!;
    const cs = grid.chunkShape[k]!;
    if (m.kind === 'constant') {
      const c = Math.floor((m.offset - o) / cs);
      axes.push(rangeAxis(c, c + 1));
      continue;
    }
    const lo = dom.inclusiveMin[m.inputDim]!;
    const hi = dom.exclusiveMax[m.inputDim]!;
    if (hi <= lo) return undefined;
    const { offset, stride } = m;
    if (Math.abs(stride) < cs) {
      const a0 = offset + stride * lo;
      const a1 = offset + stride * (hi - 1);
      axes.push(rangeAxis(Math.floor((Math.min(a0, a1) - o) / cs), Math.floor((Math.max(a0, a1) - o) / cs) + 1));
    } else {
      // Consecutive coordinates are at least a chunk apart: each hits its own chunk.
      const v = stride > 0 ? (i: number) => lo + i : (i: number) => hi - 1 - i;
      axes.push({ count: hi - lo, at: (i) => Math.floor((offset + stride * v(i) - o) / cs) });
    }
  }
  if (t.inputDomain.shape.some((s) => s === 0)) return undefined;
  return axes;
}

/** Grid positions of the chunks a view touches, C order, streamed (see {@link viewChunkAxes}). */
export function* chunksOfView(grid: ChunkGrid, t: IndexTransform): Generator<number[]> {
  const axes = viewChunkAxes(grid, t);
  if (axes) yield* gridPositions(axes);
}

/**
 * Throws OutOfBoundsError naming {@link MAX_CHUNKS_PER_REQUEST} when a read or write touches
 * more chunks than that; the caller must split the request (slice the view).
 */
function checkChunkCount(grid: ChunkGrid, axes: readonly GridAxis[], what: string, viewShape: readonly number[]): void {
  const n = gridCount(axes);
  if (n > MAX_CHUNKS_PER_REQUEST) {
    throw new OutOfBoundsError(
      `${what} a view of shape [${viewShape.join(', ')}] touches ${n} chunks of shape [${grid.chunkShape.join(', ')}], more than the ${MAX_CHUNKS_PER_REQUEST} one request may (MAX_CHUNKS_PER_REQUEST): split it into slices (vol.slice(...))`,
    );
  }
}

/**
 * The chunks of a view grouped for fetching or writing together, streamed: positions come cell
 * by cell (cells = boxes of the write chunk grid, `writeChunkShape / chunkShape` chunks a side),
 * and positions within a window of about {@link CELL_WINDOW_CHUNKS} chunks are grouped by
 * `cellOf(position)` (so cells that are not boxes, hashed shards, still group). Without
 * `cellOf`, every chunk is its own group.
 */
function* chunkGroups(grid: ChunkGrid, axes: readonly GridAxis[], cellOf: ((pos: readonly number[]) => string) | undefined): Generator<number[][]> {
  if (!cellOf) {
    for (const pos of gridPositions(axes)) yield [pos];
    return;
  }
  const ratio = grid.writeChunkShape.map((w, d) => {
    const r = w / grid.chunkShape[d]!;
    return Number.isInteger(r) && r >= 1 ? r : 1;
  });
  let window = new Map<string, number[][]>();
  let n = 0;
  for (const cell of gridCells(axes, ratio)) {
    for (const pos of cell) {
      const c = cellOf(pos);
      let g = window.get(c);
      if (!g) window.set(c, (g = []));
      g.push(pos);
    }
    n += cell.length;
    if (n >= CELL_WINDOW_CHUNKS) {
      yield* window.values();
      window = new Map();
      n = 0;
    }
  }
  yield* window.values();
}

/**
 * Runs `fn` over the items of a (lazy) iterable with at most `concurrency` running and, when
 * `cost` is given, at most `budget` of their summed cost (one item always runs, however
 * costly). Items are pulled only as slots free up, so the iterable is never materialised. The
 * first error (or the signal firing) stops new items; running ones finish, then it is thrown.
 */
async function forEachBounded<T>(
  items: Iterable<T>,
  limits: { concurrency: number; budget?: number; cost?: (item: T) => number },
  signal: AbortSignal | undefined,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const it = items[Symbol.iterator]();
  const budget = limits.budget ?? Infinity;
  const concurrency = Math.max(1, limits.concurrency);
  return new Promise<void>((resolve, reject) => {
    let running = 0;
    let spent = 0;
    let done = false;
    let failed: { error: unknown } | undefined;
    let next: { item: T; cost: number } | undefined;
    const pump = (): void => {
      while (!failed && !done && running < concurrency) {
        if (signal?.aborted) {
          failed = { error: new AbortError('operation aborted', { cause: signal.reason }) };
          break;
        }
        if (!next) {
          let r: IteratorResult<T>;
          try {
            r = it.next();
          } catch (e) {
            failed = { error: e };
            break;
          }
          if (r.done) {
            done = true;
            break;
          }
          next = { item: r.value, cost: limits.cost?.(r.value) ?? 0 };
        }
        if (running > 0 && spent + next.cost > budget) break;
        const { item, cost } = next;
        next = undefined;
        running++;
        spent += cost;
        let p: Promise<void>;
        try {
          p = fn(item);
        } catch (e) {
          p = Promise.reject(e);
        }
        p.then(
          () => undefined,
          (e: unknown) => {
            failed ??= { error: e };
          },
        ).finally(() => {
          running--;
          spent -= cost;
          pump();
        });
      }
      if (running === 0 && (done || failed)) {
        if (failed) reject(failed.error);
        else resolve();
      }
    };
    pump();
  });
}

/**
 * How one chunk maps onto a view: the view box [lo, hi) it covers and, per chunk (array)
 * dimension, the chunk coordinate of view point lo and how it moves with the view (in chunk
 * coordinates, so it holds whatever the decoded chunk's layout).
 */
interface ChunkMapping {
  lo: number[];
  hi: number[];
  /** Per chunk dim: the chunk-relative coordinate at view point `lo`. */
  start: number[];
  /** Per chunk dim: the view dim it moves with, or -1 (a constant map). */
  dims: number[];
  /** Per chunk dim: chunk coordinate step per step of its view dim. */
  steps: number[];
  /** Whether the view covers every in-domain element of the chunk. */
  covers: boolean;
}

function mapChunk(grid: ChunkGrid, t: IndexTransform, pos: readonly number[]): ChunkMapping | undefined {
  const dom = t.inputDomain;
  const lo = [...dom.inclusiveMin];
  const hi = [...dom.exclusiveMax];
  const rank = t.outputRank;
  const start = new Array<number>(rank).fill(0);
  const dims = new Array<number>(rank).fill(-1);
  const steps = new Array<number>(rank).fill(0);
  const mappedExtent: number[] = [];
  let covers = true;
  const lowSet: { j: number; k: number; o: number; s: number; c0: number }[] = [];
  for (let k = 0; k < rank; k++) {
    const c0 = grid.origin[k]! + pos[k]! * grid.chunkShape[k]!;
    const c1 = Math.min(c0 + grid.chunkShape[k]!, grid.origin[k]! + grid.shape[k]!);
    const m = t.outputs[k]!;
    if (m.kind === 'constant') {
      if (m.offset < c0 || m.offset >= c1) return undefined;
      start[k] = m.offset - c0;
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
    dims[k] = j;
    steps[k] = s;
    lowSet.push({ j, k, o, s, c0 });
    mappedExtent[k] = c1 - c0;
  }
  for (const { j, k, o, s, c0 } of lowSet) {
    start[k] = o + s * lo[j]! - c0;
    if (Math.abs(s) !== 1 || hi[j]! - lo[j]! !== mappedExtent[k]) covers = false;
  }
  return { lo, hi, start, dims, steps, covers };
}

/**
 * A mapping in element terms for a chunk laid out with `chunkStrides` (elements): the offset of
 * view point lo and the element step per view dim.
 */
function chunkOffsets(m: ChunkMapping, chunkStrides: readonly number[]): { chunkOffset: number; chunkSteps: number[] } {
  const chunkSteps = new Array<number>(m.lo.length).fill(0);
  let chunkOffset = 0;
  for (let k = 0; k < m.start.length; k++) {
    chunkOffset += chunkStrides[k]! * m.start[k]!;
    const j = m.dims[k]!;
    if (j >= 0) chunkSteps[j]! += chunkStrides[k]! * m.steps[k]!;
  }
  return { chunkOffset, chunkSteps };
}

/** A chunk's entry name in the shared cache (prefix isolates arrays sharing one pool). */
function cacheKeyOf(driver: ChunkDriver, key: string, opts: PlanOptions): string {
  return `${opts.cacheKeyPrefix ?? driver.store.url}\u0000${key}`;
}

/** What {@link loadChunk} gives when the chunk went straight into the read's result (nothing to place). */
const PLACED = Symbol('placed');

/**
 * A decoded chunk fit to be cached: its own memory. A decoder may return a view of a larger
 * buffer (raw bytes sliced out of a merged shard read); caching that view would keep the whole
 * buffer alive while charging only the chunk, so it is copied.
 */
function ownMemory(arr: NdArray): NdArray {
  if (arr.data.byteLength === arr.data.buffer.byteLength) return arr;
  return new NdArray(arr.dtype, arr.data.slice(), arr.shape, arr.strides, arr.offset);
}

/** A cached chunk value: the decoded array, or undefined for a chunk found missing. */
type ChunkValue = NdArray | undefined;

/** Throws for a missing chunk when fill_missing_data_reads is false. */
function checkMissing<V extends ChunkValue | typeof PLACED>(v: V, key: string, opts: PlanOptions): V {
  if (v === undefined && opts.fillMissing === false) throw new VolstoreError('not-found', `chunk "${key}" is missing (fill_missing_data_reads is false)`);
  return v;
}

/** What a chunk load needs from its shared-load context (see `LoadContext` in src/cache/pool.ts). */
interface ChunkLoad {
  signal: AbortSignal | undefined;
  /** The load's priority (raised when a demand caller joins a prefetch); absent: demand. */
  readonly priority?: RequestPriority;
  startedAt: number;
  readonly prefetchOnly: boolean;
  readonly storable: boolean;
  /** Shared loads: callers that joined, and closing the load to new ones (LoadContext). */
  readonly joined?: number;
  seal?(): void;
}

/**
 * Reads and decodes one chunk through the cache pool: a fresh cached chunk is returned at once;
 * a stale one is revalidated with a conditional read (no body when unchanged); concurrent loads
 * of one chunk share one fetch and one decode (cancelled only when every caller aborts).
 * Undefined when the chunk is missing.
 */
export async function loadChunk(
  driver: ChunkDriver, pos: readonly number[], opts: PlanOptions, target?: DecodeTarget, file?: LocalFile,
): Promise<ChunkValue | typeof PLACED> {
  const key = driver.keyOf(pos);
  const pool = opts.cache;
  const priority = opts.priority ?? 'demand';
  if (!pool) {
    const r = await driver.store.read(key, { signal: opts.signal, priority, buffer: target && readBuffers.take });
    const ctx: ChunkLoad = { signal: opts.signal, startedAt: now(), prefetchOnly: false, storable: false, priority: new RequestPriority(priority) };
    return checkMissing(recycled(await decodeResult(driver, pos, key, r, opts, ctx, target && { ...target, keep: false }), r), key, opts);
  }
  const ck = cacheKeyOf(driver, key, opts);
  const bound = opts.recheckBefore ?? now();
  const hit = pool.fresh<ChunkValue>(ck, bound, priority, opts.counters);
  if (hit) return checkMissing(hit.value, key, opts);
  // The caller that starts the shared load decodes into its own result, keeping the chunk too
  // when someone joined or the cache keeps chunks (keepFor); see StarterTarget.
  const own = new StarterTarget(target);
  let placed = false;
  let v: ChunkValue | typeof PLACED;
  try {
    v = await pool.load<ChunkValue | typeof PLACED>(ck, { bound, signal: opts.signal, priority, counters: opts.counters }, async (ctx) => {
      const cached = pool.peek<ChunkValue>(ck);
      const local = !cached && own.wants && ctx.joined === 0 ? (file ?? workerFile(driver, key, target, pool)) : undefined;
      if (local) {
        // Nothing to revalidate and nothing to keep: a codec worker may read the chunk's file,
        // decode and place it in one task (closing the load to new callers, as keepFor would).
        const done = await decodeFile(driver, pos, key, local, opts, ctx, own);
        if (done === PLACED) placed = true;
        if (done !== NOT_TAKEN) return done;
      }
      const buffer = own.wants ? readBuffers.take : undefined;
      const r = await driver.store.read(key, { signal: ctx.signal, ifNotEqual: cached?.generation, priority: ctx.priority, buffer });
      if (r.state === 'unchanged') {
        if (cached) {
          if (ctx.storable && !pool.has(ck)) pool.set(ck, 'chunk', cached.value, cached.generation, cached.value?.data.byteLength ?? 0, ctx.startedAt);
          pool.revalidated(ck, ctx.startedAt, ctx.prefetchOnly ? 'prefetch' : 'demand', opts.counters);
          return cached.value;
        }
        // Nothing was held to compare with: read it plainly.
        const plain = await driver.store.read(key, { signal: ctx.signal, priority: ctx.priority, buffer });
        return recycled(await own.decode((t) => decodeResult(driver, pos, key, plain, opts, ctx, keepFor(t, ctx, pool), () => { placed = true; })), plain);
      }
      return recycled(await own.decode((t) => decodeResult(driver, pos, key, r, opts, ctx, keepFor(t, ctx, pool), () => { placed = true; })), r);
    });
  } catch (e) {
    await own.leave();
    throw e;
  }
  return placed ? PLACED : checkMissing(v, key, opts);
}

/**
 * Where a codec worker would read this chunk from, when a load of it into `target` is one for
 * {@link decodeFile}: the cache keeps no chunks, the result is shared memory (the pool wanted
 * this chain's chunks), the driver can hand a file to its pool, and the store can say where
 * the chunk lies (a local file; a shard's range when its cached index lists the chunk).
 */
function workerFile(driver: ChunkDriver, key: string, target: DecodeTarget | undefined, pool: NonNullable<PlanOptions['cache']>): LocalFile | undefined {
  if (!target || pool.cachesChunks || !driver.decodeFileInto || !isSharedMemory(target.dst)) return undefined;
  return driver.store.localFile?.(key);
}

/** {@link decodeFile}: the driver's pool did not take the chunk (read and decode it as usual). */
const NOT_TAKEN = Symbol('not taken');

/**
 * A chunk at `file` (see {@link workerFile}) read, decoded and placed into the starter's result
 * by a codec worker in one task (ChunkDriver.decodeFileInto), for a load that keeps nothing:
 * PLACED, undefined (missing: recorded as decodeResult records it), or NOT_TAKEN when the pool
 * declines or hands it back (or the file changed since it was located).
 */
async function decodeFile(
  driver: ChunkDriver, pos: readonly number[], key: string, file: LocalFile, opts: PlanOptions, ctx: ChunkLoad, own: StarterTarget,
): Promise<typeof PLACED | undefined | typeof NOT_TAKEN> {
  ctx.seal?.();
  const done = await own.decode((t) => (t ? driver.decodeFileInto!(file, pos, { ...t, keep: false }, ctx.signal, ctx.priority) : Promise.resolve(undefined)));
  if (done === undefined) return NOT_TAKEN;
  if (done === 'missing') return decodeResult(driver, pos, key, { state: 'missing', generation: NO_GENERATION }, opts, ctx) as Promise<undefined>;
  countMiss(opts);
  return PLACED;
}

/** Counts a chunk miss (a demand load fetched the chunk; prefetch loads are not misses). */
function countMiss(opts: PlanOptions): void {
  if (opts.priority === 'prefetch') return;
  opts.cache?.missed('chunk');
  if (opts.counters) opts.counters.misses++;
}

/**
 * `v` (a load's outcome), after giving the read's buffer back to readBuffers when the chunk was
 * placed and nothing kept it (PLACED: the decoded chunk was neither returned nor cached).
 */
function recycled<V>(v: V, r: ReadResult): V {
  if (v === PLACED && r.state === 'value') readBuffers.give(r.value);
  return v;
}

/**
 * The result a shared load's starter reads into, as the load sees it. A fresh result of the
 * read (DecodeTarget.fresh) is the load's to write whenever: a late write after the starter
 * aborted harms nobody. A caller's `out` is the caller's again once its read settles: the load
 * decodes into it only while the starter still waits, and a starter that stops waiting (an abort)
 * first waits for a decode already writing into it to finish (at most one chunk's decode and
 * copy; the load itself, shared with others, goes on), so nothing lands in `out` after the read
 * has settled.
 */
class StarterTarget {
  private left = false;
  private writing: Promise<unknown> | undefined;

  constructor(private readonly target: DecodeTarget | undefined) {}

  /** Whether the load will place the chunk into the starter's result (its bytes may go into a recycled buffer). */
  get wants(): boolean {
    return this.target !== undefined && !this.left;
  }

  /** Runs the load's decode with the target while the starter waits (else without), tracking it. */
  decode<T>(fn: (target: DecodeTarget | undefined) => Promise<T>): Promise<T> {
    const target = this.left ? undefined : this.target;
    const p = fn(target);
    if (target && !target.fresh) this.writing = p;
    return p;
  }

  /** The starter stops waiting: resolves once the load can no longer write into a caller's `out`. */
  async leave(): Promise<void> {
    this.left = true;
    if (this.writing) await this.writing.catch(() => undefined);
  }
}

/**
 * Decided when the fetched bytes are about to be decoded: whether a shared load decoding into
 * its starter's result must also keep the decoded chunk. It must when the cache keeps chunks or
 * someone joined; otherwise the load is closed to new callers (they start their own) and the
 * chunk goes only into the result: no decoded copy is made or sent back from a worker (measured
 * 15-30% of a pooled zstd full read).
 */
function keepFor(target: DecodeTarget | undefined, ctx: ChunkLoad, pool: PlanOptions['cache']): DecodeTarget | undefined {
  if (!target) return undefined;
  if (!pool?.cachesChunks && ctx.joined === 0 && ctx.seal) {
    ctx.seal();
    return { ...target, keep: false };
  }
  return { ...target, keep: true };
}
/**
 * Decodes a fetched chunk (undefined when missing) and caches the result (a missing chunk too:
 * its entry revalidates with one bodyless conditional read), unless a write invalidated the
 * chunk while it was being fetched. Counts a miss for demand loads.
 */
async function decodeResult(
  driver: ChunkDriver, pos: readonly number[], key: string, r: ReadResult, opts: PlanOptions, ctx: ChunkLoad,
  target?: DecodeTarget, onPlaced?: () => void,
): Promise<ChunkValue | typeof PLACED> {
  const pool = opts.cache;
  // A load a prefetch started is no miss, even when a demand read has joined it (a prefetch hit).
  countMiss(opts);
  const ck = cacheKeyOf(driver, key, opts);
  if (r.state !== 'value') {
    if (pool && ctx.storable) pool.set(ck, 'chunk', undefined, r.generation, 0, ctx.startedAt, ctx.prefetchOnly);
    return undefined;
  }
  const decoded = await decodeChunk(driver, pos, r.value, { signal: ctx.signal, target, priority: ctx.priority });
  if (decoded.placed) onPlaced?.();
  let arr = decoded.array;
  if (!arr) return PLACED;
  if (pool?.cachesChunks && ctx.storable) {
    arr = ownMemory(arr);
    pool.set(ck, 'chunk', arr, r.generation, arr.data.byteLength, ctx.startedAt, ctx.prefetchOnly);
  }
  return arr;
}

/**
 * The one way the planner decodes a fetched chunk. Without a target: the full decoded chunk
 * (`placed` false). With one (a read's result and where this chunk goes in it): the driver
 * decodes and places it (in a codec worker, writing the result directly when it is shared
 * memory), `placed` true, `array` the decoded chunk only when `target.keep` (to cache it); a
 * driver without decodeChunkInto decodes and the chunk is placed here. Settles only once
 * nothing it started can still write into the target (also on abort).
 */
export async function decodeChunk(
  driver: ChunkDriver, pos: readonly number[], bytes: Uint8Array, opts: { signal?: AbortSignal; target?: DecodeTarget; priority?: RequestPriority },
): Promise<{ array?: NdArray; placed: boolean }> {
  const { target, signal, priority } = opts;
  if (!target) return { array: await driver.decodeChunk(bytes, pos, signal, priority), placed: false };
  if (driver.decodeChunkInto) return { array: await driver.decodeChunkInto(bytes, pos, target, signal, priority), placed: true };
  const array = await driver.decodeChunk(bytes, pos, signal, priority);
  placeChunk(target.dst, target.placement, array);
  return { array: target.keep ? array : undefined, placed: true };
}

/**
 * Loads the chunks of one cell (shard) of a CellReadable store: fresh cached chunks at once,
 * chunks some other caller is loading by joining that load, and the rest with ONE `readCell`
 * (one index lookup, coalesced ranges) shared by their per-chunk loads, each of which decodes
 * its own chunk. Each chunk's load is cancelled only when every caller waiting for it aborts;
 * the shared cell read only when every one of those loads has been.
 */
export async function loadGroup(
  driver: ChunkDriver & { store: KvStore & CellReadable }, group: readonly (readonly number[])[], opts: PlanOptions,
  targetOf?: (pos: readonly number[]) => DecodeTarget | undefined,
): Promise<(ChunkValue | typeof PLACED)[]> {
  const store = driver.store;
  const keys = group.map((p) => driver.keyOf(p));
  const pool = opts.cache;
  const priority = opts.priority ?? 'demand';
  if (!pool) {
    const results = await store.readCell(store.cellOf(keys[0]!), keys, opts.signal, priority);
    const ctx: ChunkLoad = { signal: opts.signal, startedAt: now(), prefetchOnly: false, storable: false, priority: new RequestPriority(priority) };
    // decoded concurrently (in the pool, one per worker at a time)
    return settleAll(results.map(async (r, i) => {
      const target = targetOf?.(group[i]!);
      return checkMissing(recycled(await decodeResult(driver, group[i]!, keys[i]!, r, opts, ctx, target && { ...target, keep: false }), r), keys[i]!, opts);
    }));
  }
  const bound = opts.recheckBefore ?? now();
  const out = new Array<Promise<ChunkValue | typeof PLACED>>(group.length);
  const toFetch: number[] = [];
  const fan = new SignalFan(opts.signal);
  keys.forEach((key, i) => {
    const ck = cacheKeyOf(driver, key, opts);
    const target = targetOf?.(group[i]!);
    const file = workerFile(driver, key, target, pool);
    if (pool.has(ck) || pool.inFlightFor(ck, bound) || file) {
      // cached, loading, or a chunk a codec worker reads from its shard's file itself (decodeFile)
      const child = fan.child();
      out[i] = loadChunk(driver, group[i]!, { ...opts, signal: child.signal }, target, file).finally(child.release);
    } else {
      toFetch.push(i);
    }
  });
  if (toFetch.length > 0) {
    const ticket = new RequestPriority(priority);
    const fetchKeys = toFetch.map((i) => keys[i]!);
    const cell = store.cellOf(fetchKeys[0]!);
    const cellRead = new SharedWork<0, ReadResult[]>();
    toFetch.forEach((i, j) => {
      const key = keys[i]!;
      const child = fan.child();
      const own = new StarterTarget(targetOf?.(group[i]!));
      let placed = false;
      out[i] = pool.load<ChunkValue | typeof PLACED>(cacheKeyOf(driver, key, opts), { bound, signal: child.signal, priority, ticket, counters: opts.counters }, async (ctx) => {
        const results = await cellRead.run(0, (s) => store.readCell(cell, fetchKeys, s, ticket), ctx.signal);
        return recycled(await own.decode((t) => decodeResult(driver, group[i]!, key, results[j]!, opts, ctx, keepFor(t, ctx, pool), () => { placed = true; })), results[j]!);
      }).then(
        (v) => (placed ? PLACED : checkMissing(v, key, opts)),
        async (e: unknown) => {
          await own.leave();
          throw e;
        },
      ).finally(child.release);
    });
  }
  try {
    return await settleAll(out);
  } finally {
    fan.dispose();
  }
}

/**
 * Promise.all that waits for every promise to settle before it rejects with the first failure:
 * no decode a read started outlives the read (one may be writing into the caller's `out`).
 */
async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * A new fill-valued array for a view, or OutOfBoundsError when it is more than one ArrayBuffer
 * can hold ({@link MAX_READ_BYTES}) or the allocation fails: the caller must read in slices.
 * `checkOnly` checks the size without allocating. `shared`: over a SharedArrayBuffer, which
 * codec workers write decoded chunks into themselves (the first touch of its pages then happens
 * on their threads too).
 */
function allocView(grid: ChunkGrid, viewShape: readonly number[], checkOnly = false, shared = false): NdArray | undefined {
  const elements = viewShape.reduce((n, s) => n * s, 1);
  const bytes = elements * dtypeSize(grid.dtype);
  const tooBig = (why: string): OutOfBoundsError =>
    new OutOfBoundsError(
      `reading a view of shape [${viewShape.join(', ')}] (${elements} ${grid.dtype} elements, ${bytes} bytes) ${why}: read it in slices (vol.slice(...)) or into a caller-owned array (read({out}))`,
    );
  if (bytes > MAX_READ_BYTES) throw tooBig(`exceeds the ${MAX_READ_BYTES}-byte limit of one read (MAX_READ_BYTES)`);
  if (checkOnly) return undefined;
  try {
    return NdArray.zeros(grid.dtype, viewShape, grid.fillValue, shared);
  } catch (e) {
    if (e instanceof RangeError) throw tooBig(`cannot be allocated (${e.message})`);
    throw e;
  }
}

/**
 * The first-dimension planes [lo, hi) of a chunk that a placement takes, when they are at most
 * half of the chunk (else undefined: reading the whole chunk costs about the same).
 */
function planeSpan(grid: ChunkGrid, p: ChunkPlacement): [number, number] | undefined {
  if (grid.chunkShape.length < 2) return undefined;
  const [lo, last] = placementRange(p, 0);
  return 2 * (last + 1 - lo) <= grid.chunkShape[0]! ? [lo, last + 1] : undefined;
}

/**
 * Reads a plain chunk (ChunkDriver.plainChunks) for one read: only the run of first-dimension
 * planes the view takes when that is at most half of it, as one byte range, placed straight
 * into the result (PLACED); otherwise the whole chunk through {@link loadChunk}. A viewer's XY
 * plane of a z-first array reads 1/64 of each 64^3 chunk. Such reads are not shared with other
 * callers (each wants its own planes) and nothing is cached: the planner takes this path only
 * when the cache keeps no chunks.
 * @throws CorruptionError when the stored chunk is not exactly the chunk's size.
 */
async function loadPlanes(driver: ChunkDriver, pos: readonly number[], opts: PlanOptions, target: DecodeTarget | undefined): Promise<ChunkValue | typeof PLACED> {
  const grid = driver.grid;
  const span = target && planeSpan(grid, target.placement);
  if (!target || !span) return loadChunk(driver, pos, opts, target);
  const p = target.placement;
  const key = driver.keyOf(pos);
  const size = dtypeSize(grid.dtype);
  const planeBytes = grid.chunkShape.slice(1).reduce((n, c) => n * c, size);
  const chunkBytes = planeBytes * grid.chunkShape[0]!;
  const [lo, hi] = span;
  const length = (hi - lo) * planeBytes;
  let r: ReadResult;
  try {
    r = await driver.store.read(key, { byteRange: { offset: lo * planeBytes, length }, signal: opts.signal, priority: opts.priority ?? 'demand' });
  } catch (e) {
    if (e instanceof ByteRangeError) throw new CorruptionError(key, `stored chunk is shorter than ${chunkBytes} bytes (${grid.chunkShape.join('x')} ${grid.dtype}, no codec)`, { cause: e });
    throw e;
  }
  opts.cache?.missed('chunk');
  if (opts.counters) opts.counters.misses++;
  if (r.state !== 'value') return checkMissing(undefined, key, opts);
  if ((r.size !== undefined && r.size !== chunkBytes) || r.value.byteLength !== length) {
    throw new CorruptionError(key, `stored chunk has ${r.size ?? '?'} bytes, expected ${chunkBytes} (${grid.chunkShape.join('x')} ${grid.dtype}, no codec)`);
  }
  const part = new NdArray(grid.dtype, viewAs(grid.dtype, r.value), [hi - lo, ...grid.chunkShape.slice(1)]);
  placeChunk(target.dst, { ...p, start: [p.start[0]! - lo, ...p.start.slice(1)] }, part);
  return PLACED;
}

/**
 * Reads the view `t` of the array into a new C-order array of the view's shape (or into
 * `opts.out`). A big read of an array whose chunks decode in a codec worker pool gets its
 * result in shared memory (`data.buffer` is then a SharedArrayBuffer, not an ArrayBuffer; see
 * ChunkDriver.wantsSharedResult): the workers decode each chunk and copy it into place
 * themselves. A caller's `out` over shared memory is written by workers the same way.
 */
export async function readRegion(driver: ChunkDriver, t: IndexTransform, opts: PlanOptions = {}): Promise<NdArray> {
  const grid = driver.grid;
  viewBounds(grid, t);
  const viewShape = t.inputDomain.shape;
  if (!opts.out) allocView(grid, viewShape, true);
  const axes = viewChunkAxes(grid, t);
  if (axes) checkChunkCount(grid, axes, 'reading', viewShape);
  let out: NdArray;
  const size = dtypeSize(grid.dtype);
  if (opts.out) {
    out = opts.out;
    if (out.dtype !== grid.dtype || out.shape.length !== viewShape.length || out.shape.some((s, i) => s !== viewShape[i])) {
      throw new OutOfBoundsError(`read({out}): out is ${out.dtype} [${out.shape}], the view is ${grid.dtype} [${viewShape}]`);
    }
  } else {
    const bytes = viewShape.reduce((n, s) => n * s, size);
    const shared = axes !== undefined && driver.wantsSharedResult?.(bytes, driver.store.localFile !== undefined) === true;
    out = allocView(grid, viewShape, false, shared)!;
  }
  if (out.size === 0) return out;
  const fresh = !opts.out;
  const outBytes = bytesOf(out.data);
  const outStrides = out.strides.map((s) => s * size);
  const dlo = t.inputDomain.inclusiveMin;
  // A fresh output already holds the fill value; a caller's output gets it where chunks are missing.
  const fillChunk = opts.out ? NdArray.zeros(grid.dtype, grid.chunkShape.map(() => 1), grid.fillValue) : undefined;
  const fillStrides = grid.chunkShape.map(() => 0);
  /** Where the chunk at `pos` goes in `out` (undefined: the view takes none of its elements). */
  const placementOf = (pos: readonly number[]): ChunkPlacement | undefined => {
    const m = mapChunk(grid, t, pos);
    if (!m) return undefined;
    let dst = out.offset * size;
    for (let j = 0; j < m.lo.length; j++) dst += (m.lo[j]! - dlo[j]!) * outStrides[j]!;
    return { shape: m.lo.map((l, j) => m.hi[j]! - l), dstOffset: dst, dstStrides: outStrides, start: m.start, dims: m.dims, steps: m.steps };
  };
  const targetOf = (pos: readonly number[]): DecodeTarget | undefined => {
    const placement = placementOf(pos);
    return placement && { dst: outBytes, placement, fresh };
  };
  const place = (pos: readonly number[], chunk: NdArray | typeof PLACED | undefined): void => {
    if (chunk === PLACED) return;
    if (!chunk) {
      if (!fillChunk) return;
      chunk = new NdArray(grid.dtype, fillChunk.data, grid.chunkShape, fillStrides);
    }
    const p = placementOf(pos);
    if (p) placeChunk(outBytes, p, chunk);
  };
  const store = driver.store;
  if (!axes) return out;
  const pool = opts.cache;
  // Plain chunks no cache keeps: only the planes the view needs are read (loadPlanes).
  const plain = driver.plainChunks === true && !pool?.cachesChunks;
  const o: PlanOptions = { ...opts, recheckBefore: opts.recheckBefore ?? now(), priority: 'demand' };
  // With a CellReadable store (shards), the chunks of one cell that nobody has cached or is
  // loading are fetched together (one index lookup, coalesced ranges); the others go one by
  // one (a cache hit, a conditional revalidation, or joining the load in flight).
  const cellOf = isCellReadable(store)
    ? (pos: readonly number[]) => {
      const key = driver.keyOf(pos);
      const ck = cacheKeyOf(driver, key, o);
      return pool && (pool.has(ck) || pool.inFlightFor(ck, o.recheckBefore!)) ? `\u0000single\u0000${key}` : store.cellOf(key);
    }
    : undefined;
  // Each group gets its own child of the caller's signal: one listener on the caller's signal.
  const fan = new SignalFan(opts.signal);
  try {
    await forEachBounded(chunkGroups(grid, axes, cellOf), { concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY }, opts.signal, async (group) => {
      throwIfAborted(opts.signal);
      const child = fan.child();
      const g: PlanOptions = { ...o, signal: child.signal };
      try {
        if (group.length === 1 || !isCellReadable(store)) {
          for (const pos of group) place(pos, await (plain ? loadPlanes : loadChunk)(driver, pos, g, targetOf(pos)));
          return;
        }
        const chunks = await loadGroup(driver as ChunkDriver & { store: KvStore & CellReadable }, group, g, targetOf);
        for (let i = 0; i < group.length; i++) place(group[i]!, chunks[i]);
      } finally {
        child.release();
      }
    });
  } finally {
    fan.dispose();
  }
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
  } else if (typeof source !== 'number' && typeof source !== 'bigint' && typeof source !== 'boolean') {
    const what = ArrayBuffer.isView(source) ? `a bare ${(source as object).constructor.name}` : `a ${typeof source} (${Object.prototype.toString.call(source)})`;
    throw new VolstoreError('spec', `write() takes an NdArray of the view's shape or a scalar, got ${what}: wrap typed arrays as new NdArray(dtype, data, shape)`);
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
  const axes = viewChunkAxes(grid, t);
  if (!axes) return;
  checkChunkCount(grid, axes, 'writing', viewShape);
  const chunkBytes = grid.chunkShape.reduce((n, c) => n * c, size);

  /** The update of one chunk, built when its cell is written (not for the whole volume up front). */
  const updateOf = (pos: readonly number[]): CellUpdate | undefined => {
    const mapping = mapChunk(grid, t, pos);
    if (!mapping) return undefined;
    const m = { ...mapping, ...chunkOffsets(mapping, chunkCStrides) };
    let srcOff = src.offset * size;
    for (let j = 0; j < m.lo.length; j++) srcOff += (m.lo[j]! - dlo[j]!) * srcStrides[j]!;
    const shape = m.lo.map((l, j) => m.hi[j]! - l);
    const direct = m.covers && directView(grid, pos, m, srcStrides);
    const fn: UpdateFn = async (current) => {
      throwIfAborted(opts.signal);
      let arr: NdArray;
      if (direct) {
        // the source holds the whole chunk: encode a strided view of it (no copy here; the
        // codec, or the worker pool gathering it into its lane, copies it once)
        const strides = m.start.map((_, k) => (m.dims[k]! < 0 ? 0 : (m.steps[k]! * srcStrides[m.dims[k]!]!) / size));
        const offset = srcOff / size - m.start.reduce((n, c, k) => n + c * strides[k]!, 0);
        arr = new NdArray(grid.dtype, src.data, grid.chunkShape, strides, offset);
        return encode(arr);
      }
      if (current && !m.covers) {
        arr = cloneCOrder((await decodeChunk(driver, pos, current, { signal: opts.signal })).array!, grid.dtype);
      } else {
        arr = NdArray.zeros(grid.dtype, grid.chunkShape, grid.fillValue);
      }
      copyStrided(
        bytesOf(arr.data), m.chunkOffset * size, m.chunkSteps.map((s) => s * size),
        srcBytes, srcOff, srcStrides, shape, size,
      );
      return encode(arr);
    };
    const encode = (arr: NdArray): Promise<Uint8Array | null> => {
      if (driver.storeFillChunks) return driver.encodeChunk(arr, pos, opts.signal);
      if (driver.encodeChunkUnlessFill) return driver.encodeChunkUnlessFill(arr, pos, opts.signal);
      return isAllFill(arr, grid.fillValue) ? Promise.resolve(null) : driver.encodeChunk(arr, pos, opts.signal);
    };
    return { fn, overwrite: m.covers };
  };

  // Cell by cell, a bounded number of bytes in flight: the updates (and the encoded chunks they
  // produce) of a cell exist only while that cell is being written.
  const batch = isBatchUpdatable(store) ? store : undefined;
  const groups = chunkGroups(grid, axes, batch ? (pos) => batch.cellOf(driver.keyOf(pos)) : undefined);
  await forEachBounded(
    groups,
    {
      concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY,
      budget: opts.writeBufferBytes ?? DEFAULT_WRITE_BUFFER_BYTES,
      cost: (group) => group.length * chunkBytes,
    },
    opts.signal,
    async (group) => {
      const updates = new Map<string, CellUpdate>();
      for (const pos of group) {
        const u = updateOf(pos);
        if (u) updates.set(driver.keyOf(pos), u);
      }
      if (updates.size === 0) return;
      try {
        if (batch) {
          await batch.updateCell(batch.cellOf(updates.keys().next().value!), updates, opts.signal);
        } else {
          for (const [key, { fn, overwrite }] of updates) await updateKey(store, key, fn, opts.signal, !overwrite);
        }
      } finally {
        // Written (or maybe written, on failure): drop the cached chunks, and let no load in
        // flight across the write store what it read before it.
        if (opts.cache) for (const key of updates.keys()) opts.cache.invalidate(cacheKeyOf(driver, key, opts));
      }
    },
  );
}

/**
 * Whether a write may encode the chunk at `pos` as a view of its source: the view covers the
 * whole chunk (unit steps), the chunk lies inside the domain (edge chunks need fill outside it),
 * no two chunk dims move with one view dim (a diagonal), and the source is not a broadcast
 * scalar (zero strides: a copy is cheaper to scan and encode).
 */
function directView(grid: ChunkGrid, pos: readonly number[], m: ChunkMapping, srcStrides: readonly number[]): boolean {
  for (let k = 0; k < grid.chunkShape.length; k++) {
    if ((pos[k]! + 1) * grid.chunkShape[k]! > grid.shape[k]!) return false;
    const j = m.dims[k]!;
    if (j < 0 ? grid.chunkShape[k] !== 1 : srcStrides[j] === 0) return false;
    if (j >= 0 && m.dims.indexOf(j) !== k) return false;
  }
  return true;
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
