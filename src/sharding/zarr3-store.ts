import { EMPTY, type ShardFormat } from './zarr3.js';
import { ByteRangeError, CorruptionError, ReadOnlyError, throwIfAborted, UnsupportedError } from '../errors.js';
import { type ByteSpan, conditioned, type IndexCache, ShardReader } from './coalesce.js';
import type { Priority, RequestPriority } from '../util/limiter.js';
import {
  type BatchUpdatable,
  type CellReadable,
  type CellUpdate,
  isBatchUpdatable,
  type KvStore,
  type LocalFile,
  NO_GENERATION,
  type ReadOptions,
  type ReadResult,
  resolveByteRange,
  updateKey,
  type UpdateFn,
} from '../kvstore/kvstore.js';

/** A parsed zarr v3 shard index: flat C-order [offset, nbytes] pairs, one per inner chunk. */
interface Zarr3Index {
  generation: string;
  entries: BigUint64Array;
}

/** One wanted inner chunk: its local index in the shard and the bytes of it wanted. */
interface Wanted {
  key: string;
  local: number;
  byteRange?: ReadOptions['byteRange'];
}

const INDEX_CACHE_ENTRIES = 4096;

/**
 * zarr v3 `sharding_indexed` as a store adapter over the store holding the shards, as in
 * TensorStore: its keys are inner chunk grid positions ("i,j,k"), each mapped to a byte range
 * of a shard. Reads go through the one shard read path (`./coalesce.ts`): indexes cached by
 * shard generation, every data read conditional on it (a shard rewritten behind our back is
 * detected and re-indexed), nearby inner chunks merged into one ranged read, in-flight index
 * and range reads shared between concurrent callers. Nested shards are an adapter over an
 * adapter.
 *
 * The generation of a present inner chunk is its shard's; of a missing one, `''`.
 *
 * Writes: `updateCell` applies a group of inner chunk updates to a shard with one conditional
 * write (or one unconditional write when every inner chunk is overwritten), keeping the encoded
 * bytes of untouched inner chunks as they are. `write`, `delete`, `list` and `deleteRange`
 * throw UnsupportedError: inner chunks are written a shard at a time, and the adapter cannot
 * tell its shards from other keys of the base store.
 */
export class ShardedStore implements KvStore, BatchUpdatable, CellReadable {
  readonly readOnly: boolean;
  readonly coalesceLimit: number | undefined;
  readonly coalesceGap: number | undefined;
  private readonly reader: ShardReader<Zarr3Index, Wanted>;

  constructor(
    readonly base: KvStore,
    readonly format: ShardFormat,
    /** The base-store key of the shard at a shard grid position. */
    readonly shardKeyOf: (shard: readonly number[]) => string,
  ) {
    this.readOnly = base.readOnly;
    this.coalesceLimit = base.coalesceLimit;
    this.coalesceGap = base.coalesceGap;
    const f = format;
    this.reader = new ShardReader<Zarr3Index, Wanted>({
      base,
      cacheId: `${base.url}|sharding_indexed|${f.chunksPerShard.join(',')}|${f.indexLocation}|${f.indexSize}|${JSON.stringify(f.indexCodecs)}`,
      indexBytes: (index) => index.entries.byteLength,
      fetchIndex: (shardKey, signal, priority) => this.fetchIndex(shardKey, signal, priority),
      locate: async (index, _shardKey, wanted) => wanted.map((w) => this.locate(index, w)),
      describe: (w) => `inner chunk ${w.key}`,
    }, INDEX_CACHE_ENTRIES);
  }

  /**
   * Keeps shard indexes in `cache` (the Context's cache pool, one byte budget with chunks and
   * metadata) instead of this adapter's own LRU; nested adapters pass it down.
   */
  useIndexCache(cache: IndexCache): void {
    this.reader.useIndexCache(cache);
    (this.base as Partial<ShardedStore>).useIndexCache?.(cache);
  }

  get url(): string {
    return this.base.url;
  }

  /** The key of an inner chunk (grid position in inner chunks). */
  static keyOf(chunk: readonly number[]): string {
    return chunk.join(',');
  }

  /** For messages: the shard object holding an inner chunk, e.g. `c/1/1/1 (inner chunk 3,2,2)`. */
  describeKey(key: string): string {
    const shardKey = this.parse(key).shardKey;
    const outer = this.base instanceof ShardedStore ? this.base.describeKey(shardKey) : shardKey;
    return `${outer} (inner chunk ${key})`;
  }

  private parse(key: string): { shardKey: string; local: number } {
    const pos = key === '' ? [] : key.split(',').map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
    if (pos.length !== this.format.chunksPerShard.length || pos.some((p) => !Number.isSafeInteger(p) || p < 0)) {
      throw new RangeError(`sharded chunk key "${key}" is not ${this.format.chunksPerShard.length} non-negative integers joined by ","`);
    }
    const { shard, local } = this.format.locate(pos);
    return { shardKey: this.shardKeyOf(shard), local };
  }

  private async fetchIndex(shardKey: string, signal: AbortSignal | undefined, priority: RequestPriority): Promise<Zarr3Index | undefined> {
    const f = this.format;
    let r: ReadResult;
    try {
      r = await this.base.read(shardKey, {
        byteRange: f.indexLocation === 'end' ? { suffix: f.indexSize } : { offset: 0, length: f.indexSize },
        signal,
        priority,
      });
    } catch (e) {
      if (e instanceof ByteRangeError) {
        throw new CorruptionError(shardKey, `shard is smaller than its ${f.indexSize}-byte index`, { cause: e });
      }
      throw e;
    }
    if (r.state !== 'value') return undefined;
    if (r.value.byteLength < f.indexSize) {
      throw new CorruptionError(shardKey, `shard is ${r.value.byteLength} bytes, smaller than its ${f.indexSize}-byte index`);
    }
    const entries = await f.decodeIndex(r.value, shardKey);
    f.checkEntries(entries, r.size, shardKey);
    return { generation: r.generation, entries };
  }

  /**
   * See KvStore.localFile: present only when the base store has local files (so a reader can
   * tell shards on disk from shards elsewhere, see ChunkDriver.wantsSharedResult); an inner
   * chunk's byte range in its shard's file, when the base store gives whole files (not nested
   * shards), the shard's index is cached and it lists the chunk. The range holds while the shard
   * has the index's generation, which the reader checks; a chunk the index lists as absent is
   * left to `read` (it revalidates the index).
   */
  get localFile(): ((key: string) => LocalFile | undefined) | undefined {
    return this.base.localFile ? this.localFileOf : undefined;
  }

  private readonly localFileOf = (key: string): LocalFile | undefined => {
    const { shardKey, local } = this.parse(key);
    const index = this.reader.cached(shardKey);
    if (!index || index.generation === NO_GENERATION) return undefined;
    const span = this.locate(index, { key, local });
    const file = span && this.base.localFile?.(shardKey);
    if (!span || !file || file.range || file.generation !== undefined) return undefined;
    return { path: file.path, range: span, generation: index.generation, maxConcurrent: file.maxConcurrent };
  };

  /** The bytes of a wanted inner chunk in its shard; undefined when it is empty. */
  private locate(index: Zarr3Index, w: Wanted): ByteSpan | undefined {
    const off = index.entries[2 * w.local]!;
    const n = index.entries[2 * w.local + 1]!;
    if (off === EMPTY && n === EMPTY) return undefined;
    const [s, e] = resolveByteRange(w.key, w.byteRange, Number(n));
    return { offset: Number(off) + s, length: e - s };
  }

  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    throwIfAborted(options.signal);
    const { shardKey, local } = this.parse(key);
    const w: Wanted = { key, local, byteRange: options.byteRange };
    if (options.ifNotEqual !== undefined && (await this.reader.stillCurrent(shardKey, options.ifNotEqual, [w], options.signal, options.priority))) {
      return { state: 'unchanged', generation: options.ifNotEqual };
    }
    const r = await this.reader.read(shardKey, [w], options.signal, options.priority);
    const value = r.values[0];
    if (!value) return conditioned({ state: 'missing', generation: NO_GENERATION }, options);
    const size = Number(r.index!.entries[2 * local + 1]);
    return conditioned({ state: 'value', value, generation: r.generation, size }, options);
  }

  /**
   * Reads several inner chunks (of any shards; the planner passes those of one cell): per
   * shard, the index once, then the wanted chunks' byte ranges merged into few conditional
   * reads (`./coalesce.ts`). A full read of a shard is one request after its index. Results
   * are in the order of `keys` and equal those of {@link read} without options.
   */
  async readCell(_cell: string, keys: readonly string[], signal?: AbortSignal, priority?: Priority | RequestPriority): Promise<ReadResult[]> {
    throwIfAborted(signal);
    const byShard = new Map<string, { i: number; w: Wanted }[]>();
    keys.forEach((key, i) => {
      const { shardKey, local } = this.parse(key);
      let l = byShard.get(shardKey);
      if (!l) byShard.set(shardKey, (l = []));
      l.push({ i, w: { key, local } });
    });
    const out = new Array<ReadResult>(keys.length);
    await Promise.all([...byShard].map(async ([shardKey, wanted]) => {
      const r = await this.reader.read(shardKey, wanted.map((x) => x.w), signal, priority);
      wanted.forEach(({ i }, j) => {
        const value = r.values[j];
        out[i] = value ? { state: 'value', value, generation: r.generation, size: value.byteLength } : { state: 'missing', generation: NO_GENERATION };
      });
    }));
    return out;
  }

  async write(): Promise<never> {
    throw new UnsupportedError('inner chunks of a shard are written through updateCell (one write per shard)');
  }

  async delete(): Promise<never> {
    throw new UnsupportedError('inner chunks of a shard are deleted through updateCell (one write per shard)');
  }

  async deleteRange(): Promise<never> {
    throw new UnsupportedError('deleteRange is not supported on a zarr v3 sharded store: delete the shards in the base store');
  }

  async *list(): AsyncIterable<string> {
    throw new UnsupportedError('listing inner chunks of a sharded array is not supported');
  }

  spec(): Record<string, unknown> {
    return this.base.spec();
  }

  cellOf(key: string): string {
    const shardKey = this.parse(key).shardKey;
    return isBatchUpdatable(this.base) ? this.base.cellOf(shardKey) : shardKey;
  }

  async updateCell(cell: string, updates: ReadonlyMap<string, CellUpdate>, signal?: AbortSignal): Promise<void> {
    if (this.readOnly) throw new ReadOnlyError(`${this.url} is read-only`);
    const byShard = new Map<string, Map<number, CellUpdate>>();
    for (const [key, u] of updates) {
      const { shardKey, local } = this.parse(key);
      let m = byShard.get(shardKey);
      if (!m) byShard.set(shardKey, (m = new Map()));
      m.set(local, u);
    }
    const shardUpdates = new Map<string, CellUpdate>();
    for (const [shardKey, m] of byShard) {
      const overwrite = m.size === this.format.numChunks && [...m.values()].every((u) => u.overwrite);
      shardUpdates.set(shardKey, { fn: (cur) => this.applyToShard(shardKey, cur, m), overwrite });
    }
    try {
      if (isBatchUpdatable(this.base)) {
        await this.base.updateCell(cell, shardUpdates, signal);
      } else {
        await Promise.all(
          [...shardUpdates].map(([k, u]) => updateKey(this.base, k, u.fn, signal, !u.overwrite)),
        );
      }
    } finally {
      for (const k of byShard.keys()) this.reader.forget(k);
    }
  }

  /** New shard bytes from the current ones and a set of inner chunk updates. */
  private async applyToShard(shardKey: string, current: Uint8Array | undefined, updates: Map<number, CellUpdate>): Promise<Uint8Array | null | undefined> {
    const f = this.format;
    const chunks: (Uint8Array | undefined)[] = new Array(f.numChunks).fill(undefined);
    if (current) {
      const entries = await f.parseShard(current, shardKey);
      for (let i = 0; i < f.numChunks; i++) {
        const off = entries[2 * i]!;
        const n = entries[2 * i + 1]!;
        if (off !== EMPTY || n !== EMPTY) chunks[i] = current.subarray(Number(off), Number(off + n));
      }
    }
    let changed = false;
    await Promise.all(
      [...updates].map(async ([local, u]) => {
        const v = await (u.fn as UpdateFn)(u.overwrite ? undefined : chunks[local]);
        if (v === undefined) return;
        changed = true;
        chunks[local] = v === null ? undefined : v;
      }),
    );
    if (!changed) return undefined;
    if (chunks.every((c) => c === undefined)) return null;
    return f.assemble(chunks);
  }
}
