import { GzipCodec } from '../codecs/gzip.js';
import { ByteRangeError, ConditionFailedError, CorruptionError, ReadOnlyError, throwIfAborted } from '../errors.js';
import type { Priority, RequestPriority } from '../util/limiter.js';
import { PrioritizedWork } from '../util/shared-work.js';
import { type ByteSpan, conditioned, type IndexCache, ShardReader, STALE } from './coalesce.js';
import {
  type BatchUpdatable,
  type CellReadable,
  type CellUpdate,
  type KvStore,
  type ListOptions,
  deleteValue,
  MAX_RMW_ATTEMPTS,
  rmwPause,
  NO_GENERATION,
  type ReadOptions,
  type ReadResult,
  resolveByteRange,
  type WriteOptions,
  type WriteResult,
  writeValue,
} from '../kvstore/kvstore.js';
import { chunkIdKey, MASK64, parseChunkIdKey, shardFileName, shardOf, type Uint64ShardingSpec } from './precomputed.js';

/**
 * `neuroglancer_uint64_sharded_v1` as a store adapter, as in TensorStore
 * (https://github.com/google/neuroglancer/blob/master/src/datasource/precomputed/sharded.md).
 *
 * Keys are chunk ids written as exactly 16 lowercase hex digits (`chunkIdKey(id)`), e.g. the
 * compressed Morton code 5n is `"0000000000000005"`. A chunk id maps to
 * `h = hash(id >> preshift_bits)`, minishard `h & (2^minishard_bits - 1)` and shard
 * `(h >> minishard_bits) & (2^shard_bits - 1)`, stored in `<prefix><shard hex>.shard` (hex
 * zero-padded to ceil(shard_bits/4) digits).
 *
 * Shard layout: shard index (2^minishard_bits x [start, end) uint64 LE, offsets relative to the
 * end of the shard index) locating each minishard index; a minishard index is uint64 LE [3][n]:
 * chunk-id deltas, offset deltas (relative to the end of the previous chunk) and sizes.
 *
 * Reads go through the one shard read path (`./coalesce.ts`): shard and minishard indexes are
 * cached by shard generation and every data read is conditional on it (`ifEqual`), so a warm
 * read costs one ranged request and a shard rewritten behind our back is noticed and
 * re-indexed; `readCell` reads many chunks of a shard together, the indexes once and the
 * wanted byte ranges merged; in-flight index, minishard and range reads are shared between
 * concurrent callers and cancelled only when all of them abort. The generation of a present
 * chunk is its shard's; of a missing one, `''`.
 *
 * Writes (`updateCell`, `write`, `delete`) rewrite a shard whole with one conditional write,
 * keeping the stored bytes of untouched chunks; retried on conflict.
 */

const SHARD_FILE_RE = /^[0-9a-f]+\.shard$/;

interface MinishardEntry {
  /** Byte offset of the chunk data relative to the end of the shard index. */
  offset: number;
  size: number;
}

/** A shard's parsed index. Its minishard indexes are cached apart, keyed by shard generation. */
interface CachedShard {
  generation: string;
  index: BigUint64Array;
}

/**
 * Bytes charged to the cache per entry of a parsed minishard index (a Map entry: the bigint id,
 * the {offset, size} object and the hash table slot; an estimate of V8's heap use).
 */
const MINISHARD_ENTRY_BYTES = 96;

/** The parsed index of an empty minishard (shared, never mutated). */
const EMPTY_MINISHARD: ReadonlyMap<bigint, MinishardEntry> = new Map();

/** One wanted chunk: its adapter key, id and minishard. */
interface Wanted {
  key: string;
  id: bigint;
  minishard: number;
}

export interface Uint64ShardedStoreOptions {
  /** Prefix of shard keys in the base store (e.g. `"8_8_40/"`). Default `""`. */
  prefix?: string;
  /** Shards whose indexes stay cached (least recently used dropped). Default 4096. */
  cacheShards?: number;
  /**
   * How many chunks a shard holds when every chunk is present (rectangular shards), or
   * undefined when unknown. When an `updateCell` overwrites that many chunks, the shard is
   * written without reading it first.
   */
  chunksInShard?: (cell: string) => number | undefined;
  /**
   * Most bytes a gzip-encoded chunk (data_encoding gzip) may inflate to; past it, decoding stops
   * with CorruptionError (a decompression bomb). Default: unbounded.
   */
  maxChunkBytes?: number;
  /** Most bytes a gzip-encoded minishard index may inflate to (24 per chunk). Default: unbounded. */
  maxMinishardIndexBytes?: number;
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function toSafe(v: bigint, key: string, what: string): number {
  if (v > SAFE) throw new CorruptionError(key, `${what} ${v} is too large`);
  return Number(v);
}

export class Uint64ShardedStore implements KvStore, BatchUpdatable, CellReadable {
  readonly readOnly: boolean;
  readonly prefix: string;
  private readonly gzip = new GzipCodec(6);
  private readonly indexBytes: number;
  private readonly reader: ShardReader<CachedShard, Wanted>;
  /** In-flight minishard index reads, shared between concurrent callers. */
  private readonly minishardReads = new PrioritizedWork<string, ReadonlyMap<bigint, MinishardEntry> | typeof STALE>();

  constructor(
    readonly base: KvStore,
    readonly sharding: Uint64ShardingSpec,
    private readonly options: Uint64ShardedStoreOptions = {},
  ) {
    this.readOnly = base.readOnly;
    this.prefix = options.prefix ?? '';
    this.indexBytes = 16 * 2 ** sharding.minishard_bits;
    this.reader = new ShardReader<CachedShard, Wanted>({
      base,
      cacheId: `${base.url}${this.prefix}|neuroglancer_uint64_sharded_v1|${JSON.stringify(sharding)}`,
      indexBytes: (c) => c.index.byteLength,
      fetchIndex: (cell, signal, priority) => this.fetchIndex(cell, signal, priority),
      locate: (c, cell, wanted, signal, priority) => this.locateChunks(c, cell, wanted, signal, priority),
      describe: (w) => `chunk ${w.key}`,
    }, options.cacheShards ?? 4096);
  }

  /**
   * Keeps shard and minishard indexes in `cache` (the Context's cache pool, one byte budget with
   * chunks and metadata) instead of this adapter's own LRU.
   */
  useIndexCache(cache: IndexCache): void {
    this.reader.useIndexCache(cache);
  }

  get url(): string {
    return `${this.base.url}${this.prefix}|neuroglancer_uint64_sharded_v1`;
  }

  spec(): Record<string, unknown> {
    return { driver: 'neuroglancer_uint64_sharded', base: this.base.spec(), path: this.prefix, metadata: this.sharding };
  }

  private locate(key: string): Wanted & { cell: string } {
    const id = parseChunkIdKey(key);
    const { shard, minishard } = shardOf(this.sharding, id);
    return { key, id, cell: this.prefix + shardFileName(this.sharding, shard), minishard };
  }

  /** The base-store key of the shard holding `key`. */
  cellOf(key: string): string {
    return this.locate(key).cell;
  }

  /** Reads and validates a shard index; undefined when the shard is missing. */
  private async fetchIndex(cell: string, signal: AbortSignal | undefined, priority: RequestPriority): Promise<CachedShard | undefined> {
    let r: ReadResult;
    try {
      r = await this.base.read(cell, { byteRange: { offset: 0, length: this.indexBytes }, signal, priority });
    } catch (e) {
      if (e instanceof ByteRangeError) {
        throw new CorruptionError(cell, `shard is shorter than its ${this.indexBytes}-byte shard index`, { cause: e });
      }
      throw e;
    }
    if (r.state !== 'value') return undefined;
    if (r.value.byteLength !== this.indexBytes) {
      throw new CorruptionError(cell, `shard index has ${r.value.byteLength} bytes, expected ${this.indexBytes}`);
    }
    return { generation: r.generation, index: this.parseIndex(r.value, cell, r.size) };
  }

  private parseIndex(bytes: Uint8Array, cell: string, shardSize: number | undefined): BigUint64Array {
    const view = new DataView(bytes.buffer, bytes.byteOffset, this.indexBytes);
    const n = this.indexBytes / 8;
    const index = new BigUint64Array(n);
    const limit = shardSize === undefined ? undefined : BigInt(shardSize - this.indexBytes);
    for (let i = 0; i < n; i += 2) {
      const start = view.getBigUint64(8 * i, true), end = view.getBigUint64(8 * i + 8, true);
      if (end < start || (limit !== undefined && end > limit)) {
        throw new CorruptionError(cell, `shard index entry ${i / 2} [${start}, ${end}) is outside the ${shardSize}-byte shard`);
      }
      index[i] = start;
      index[i + 1] = end;
    }
    return index;
  }

  /** Decodes a minishard index into id -> entry; validates it against the shard size if known. */
  private async parseMinishard(bytes: Uint8Array, cell: string, minishard: number, dataLimit: number | undefined): Promise<Map<bigint, MinishardEntry>> {
    if (this.sharding.minishard_index_encoding === 'gzip') {
      bytes = await this.gzip.decode(bytes, { key: `${cell} (minishard ${minishard} index)`, maxDecodedBytes: this.options.maxMinishardIndexBytes });
    }
    if (bytes.byteLength % 24 !== 0) {
      throw new CorruptionError(cell, `minishard ${minishard} index has ${bytes.byteLength} bytes, not a multiple of 24`);
    }
    const n = bytes.byteLength / 24;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = new Map<bigint, MinishardEntry>();
    let id = 0n;
    let pos = 0n;
    for (let i = 0; i < n; i++) {
      id = (id + view.getBigUint64(8 * i, true)) & MASK64;
      const offset = pos + view.getBigUint64(8 * (n + i), true);
      const size = view.getBigUint64(8 * (2 * n + i), true);
      pos = offset + size;
      if (dataLimit !== undefined && pos > BigInt(dataLimit)) {
        throw new CorruptionError(cell, `minishard ${minishard} index puts chunk ${chunkIdKey(id)} at [${offset}, ${pos}), past the end of the shard data (${dataLimit} bytes)`);
      }
      out.set(id, { offset: toSafe(offset, cell, 'chunk offset'), size: toSafe(size, cell, 'chunk size') });
    }
    return out;
  }

  /**
   * A minishard index from the cache or one ranged read conditional on the shard generation
   * (shared between concurrent callers; minishard index reads of one shard made at nearly the
   * same time are merged into one request by the shard read path); STALE when the shard changed.
   */
  private async minishard(
    c: CachedShard, cell: string, minishard: number, signal: AbortSignal | undefined, priority: Priority | RequestPriority | undefined,
  ): Promise<ReadonlyMap<bigint, MinishardEntry> | typeof STALE> {
    const part = `m${minishard}`;
    const hit = this.reader.cachedPart<ReadonlyMap<bigint, MinishardEntry>>(cell, c.generation, part);
    if (hit) return hit;
    const start = toSafe(c.index[2 * minishard]!, cell, 'minishard offset');
    const end = toSafe(c.index[2 * minishard + 1]!, cell, 'minishard offset');
    if (end === start) return EMPTY_MINISHARD;
    return this.minishardReads.run(`${cell}\u0000${c.generation}\u0000${minishard}`, async (s, p) => {
      this.reader.missedPart();
      const r = await this.reader.readRange(cell, c.generation, { offset: this.indexBytes + start, length: end - start }, () => `minishard ${minishard} index`, s, p);
      if (r === STALE) return STALE;
      const m = await this.parseMinishard(r.value, cell, minishard, r.size === undefined ? undefined : r.size - this.indexBytes);
      this.reader.rememberPart(cell, c.generation, part, m, m.size * MINISHARD_ENTRY_BYTES);
      return m;
    }, signal, priority);
  }

  /** Absolute byte spans of wanted chunks in their shard (their minishard indexes read as needed). */
  private async locateChunks(
    c: CachedShard, cell: string, wanted: readonly Wanted[], signal: AbortSignal | undefined, priority: Priority | RequestPriority | undefined,
  ): Promise<(ByteSpan | undefined)[] | typeof STALE> {
    const needed = [...new Set(wanted.map((w) => w.minishard))];
    const minishards = await Promise.all(needed.map((ms) => this.minishard(c, cell, ms, signal, priority)));
    if (minishards.includes(STALE)) return STALE;
    const byMinishard = new Map(needed.map((ms, j) => [ms, minishards[j] as ReadonlyMap<bigint, MinishardEntry>]));
    return wanted.map((w) => {
      const e = byMinishard.get(w.minishard)!.get(w.id);
      return e && { offset: this.indexBytes + e.offset, length: e.size };
    });
  }

  /** A stored chunk's bytes as the caller sees them (gzip data_encoding undone). */
  private decodeData(bytes: Uint8Array, cell: string, key: string, signal: AbortSignal | undefined): Promise<Uint8Array> | Uint8Array {
    if (this.sharding.data_encoding !== 'gzip') return bytes;
    return this.gzip.decode(bytes, { key: `${cell}:${key}`, signal, maxDecodedBytes: this.options.maxChunkBytes });
  }

  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    throwIfAborted(options.signal);
    const w = this.locate(key);
    const { signal, priority } = options;
    // The caller holds this generation: one tiny conditional read revalidates it.
    if (options.ifNotEqual !== undefined && (await this.reader.stillCurrent(w.cell, options.ifNotEqual, [w], signal, priority))) {
      return { state: 'unchanged', generation: options.ifNotEqual };
    }
    const r = await this.reader.read(w.cell, [w], signal, priority);
    const stored = r.values[0];
    if (!stored) return conditioned({ state: 'missing', generation: NO_GENERATION }, options);
    const value = await this.decodeData(stored, w.cell, key, signal);
    const cond = conditioned({ state: 'value', value, generation: r.generation, size: value.byteLength }, options);
    if (cond.state !== 'value' || !options.byteRange) return cond;
    const [s, e] = resolveByteRange(key, options.byteRange, value.byteLength);
    return { ...cond, value: value.subarray(s, e) };
  }

  /**
   * Reads several chunks (keys in any shards; the planner passes those of one cell): per shard,
   * the shard index and the needed minishard indexes once (cached), then the wanted chunks'
   * byte ranges merged into few conditional reads (`./coalesce.ts`). Chunks are sliced out and
   * gzip-decoded one by one. Results are in the order of `keys` and equal those of
   * {@link read} without options.
   */
  async readCell(_cell: string, keys: readonly string[], signal?: AbortSignal, priority?: Priority | RequestPriority): Promise<ReadResult[]> {
    throwIfAborted(signal);
    const byShard = new Map<string, { i: number; w: Wanted }[]>();
    keys.forEach((key, i) => {
      const w = this.locate(key);
      let l = byShard.get(w.cell);
      if (!l) byShard.set(w.cell, (l = []));
      l.push({ i, w });
    });
    const out = new Array<ReadResult>(keys.length);
    await Promise.all([...byShard].map(async ([cell, wanted]) => {
      const r = await this.reader.read(cell, wanted.map((x) => x.w), signal, priority);
      await Promise.all(wanted.map(async ({ i, w }, j) => {
        const stored = r.values[j];
        if (!stored) {
          out[i] = { state: 'missing', generation: NO_GENERATION };
          return;
        }
        const value = await this.decodeData(stored, cell, w.key, signal);
        out[i] = { state: 'value', value, generation: r.generation, size: value.byteLength };
      }));
    }));
    return out;
  }

  /** Every chunk of a whole shard: id -> stored (still data-encoded) bytes. */
  private async parseShard(bytes: Uint8Array, cell: string): Promise<{ chunks: Map<bigint, Uint8Array>; index: BigUint64Array }> {
    if (bytes.byteLength < this.indexBytes) {
      throw new CorruptionError(cell, `shard of ${bytes.byteLength} bytes is shorter than its ${this.indexBytes}-byte shard index`);
    }
    const index = this.parseIndex(bytes, cell, bytes.byteLength);
    const data = bytes.subarray(this.indexBytes);
    const chunks = new Map<bigint, Uint8Array>();
    for (let ms = 0; ms < index.length / 2; ms++) {
      const start = Number(index[2 * ms]!), end = Number(index[2 * ms + 1]!);
      if (end === start) continue;
      const m = await this.parseMinishard(data.subarray(start, end), cell, ms, data.byteLength);
      for (const [id, e] of m) chunks.set(id, data.subarray(e.offset, e.offset + e.size));
    }
    return { chunks, index };
  }

  /** Serialises chunks (id -> stored bytes) into a shard; returns the bytes and its cache entry. */
  private async buildShard(chunks: Map<bigint, Uint8Array>): Promise<{ bytes: Uint8Array; index: BigUint64Array; minishards: Map<number, Map<bigint, MinishardEntry>> }> {
    const groups = new Map<number, bigint[]>();
    for (const id of chunks.keys()) {
      const { minishard } = shardOf(this.sharding, id);
      let g = groups.get(minishard);
      if (!g) groups.set(minishard, (g = []));
      g.push(id);
    }
    const index = new BigUint64Array(this.indexBytes / 8);
    const parts: Uint8Array[] = [];
    const minishards = new Map<number, Map<bigint, MinishardEntry>>();
    let pos = 0;
    for (const ms of [...groups.keys()].sort((a, b) => a - b)) {
      const ids = groups.get(ms)!.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const n = ids.length;
      const table = new BigUint64Array(3 * n);
      const entries = new Map<bigint, MinishardEntry>();
      let prevId = 0n, prevEnd = 0;
      ids.forEach((id, i) => {
        const b = chunks.get(id)!;
        table[i] = id - prevId;
        table[n + i] = BigInt(pos - prevEnd);
        table[2 * n + i] = BigInt(b.byteLength);
        entries.set(id, { offset: pos, size: b.byteLength });
        parts.push(b);
        prevId = id;
        pos += b.byteLength;
        prevEnd = pos;
      });
      let tableBytes: Uint8Array = new Uint8Array(table.buffer);
      if (this.sharding.minishard_index_encoding === 'gzip') tableBytes = await this.gzip.encode(tableBytes);
      index[2 * ms] = BigInt(pos);
      parts.push(tableBytes);
      pos += tableBytes.byteLength;
      index[2 * ms + 1] = BigInt(pos);
      minishards.set(ms, entries);
    }
    // Empty minishards: [pos, pos) anywhere is fine; keep them at 0.
    const bytes = new Uint8Array(this.indexBytes + pos);
    bytes.set(new Uint8Array(index.buffer), 0);
    let o = this.indexBytes;
    for (const p of parts) {
      bytes.set(p, o);
      o += p.byteLength;
    }
    for (let ms = 0; ms < index.length / 2; ms++) if (!groups.has(ms)) minishards.set(ms, new Map());
    return { bytes, index, minishards };
  }

  /**
   * Applies chunk updates to one shard: reads it (unless every chunk of a rectangular shard is
   * overwritten), applies each update, and writes the shard whole under a generation condition,
   * retrying on conflict. `check` may veto the update from the current state (write/delete
   * preconditions); returns the new generation, `false` when vetoed, or undefined if unchanged.
   */
  private async modify(
    cell: string,
    updates: ReadonlyMap<string, CellUpdate>,
    signal?: AbortSignal,
    check?: (shardGeneration: string, chunks: Map<bigint, Uint8Array>) => boolean,
  ): Promise<string | false | undefined> {
    if (this.readOnly) throw new ReadOnlyError(`${this.url}: store is read-only`);
    const parsed: [bigint, CellUpdate][] = [];
    for (const [key, u] of updates) {
      const loc = this.locate(key);
      if (loc.cell !== cell) throw new RangeError(`chunk "${key}" belongs to shard "${loc.cell}", not "${cell}"`);
      parsed.push([loc.id, u]);
    }
    const full = this.options.chunksInShard?.(cell);
    const blind = !check && full !== undefined && parsed.length >= full && parsed.every(([, u]) => u.overwrite);
    for (let attempt = 0; attempt < MAX_RMW_ATTEMPTS; attempt++) {
      let generation = NO_GENERATION;
      let chunks = new Map<bigint, Uint8Array>();
      if (!blind) {
        const r = await this.base.read(cell, { signal });
        if (r.state === 'value') {
          generation = r.generation;
          chunks = (await this.parseShard(r.value, cell)).chunks;
        }
        if (check && !check(generation, chunks)) return false;
      }
      let changed = false;
      for (const [id, u] of parsed) {
        let current = u.overwrite ? undefined : chunks.get(id);
        if (current && this.sharding.data_encoding === 'gzip') {
          current = await this.gzip.decode(current, { key: `${cell}:${chunkIdKey(id)}`, signal, maxDecodedBytes: this.options.maxChunkBytes });
        }
        const v = await u.fn(current);
        if (v === undefined) continue;
        if (v === null) {
          changed = chunks.delete(id) || changed;
          continue;
        }
        chunks.set(id, this.sharding.data_encoding === 'gzip' ? await this.gzip.encode(v) : v);
        changed = true;
      }
      if (!changed) return undefined;
      if (chunks.size === 0) {
        if (generation === NO_GENERATION && !blind) return undefined;
        if (blind) await deleteValue(this.base, cell, signal);
        else if (!(await this.base.delete(cell, { ifEqual: generation, signal }))) {
          await rmwPause(attempt, signal); // lost a race: let the others through
          continue;
        }
        this.reader.forget(cell);
        return NO_GENERATION;
      }
      const { bytes, index, minishards } = await this.buildShard(chunks);
      const w = blind
        ? { ok: true as const, generation: await writeValue(this.base, cell, bytes, signal) }
        : await this.base.write(cell, bytes, { ifEqual: generation, signal });
      if (w.ok) {
        this.reader.remember(cell, { generation: w.generation, index });
        for (const [ms, m] of minishards) {
          if (m.size > 0) this.reader.rememberPart(cell, w.generation, `m${ms}`, m, m.size * MINISHARD_ENTRY_BYTES);
        }
        return w.generation;
      }
      await rmwPause(attempt, signal); // lost a race: let the others through
    }
    throw new ConditionFailedError(cell, `gave up after ${MAX_RMW_ATTEMPTS} conflicting concurrent shard writes`);
  }

  async updateCell(cell: string, updates: ReadonlyMap<string, CellUpdate>, signal?: AbortSignal): Promise<void> {
    await this.modify(cell, updates, signal);
  }

  async write(key: string, value: Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    const { id, cell } = this.locate(key);
    const check = options.ifEqual === undefined
      ? undefined
      : (gen: string, chunks: Map<bigint, Uint8Array>) => (chunks.has(id) ? gen : NO_GENERATION) === options.ifEqual;
    const r = await this.modify(cell, new Map([[key, { fn: async () => value, overwrite: true }]]), options.signal, check);
    if (r === false) return { ok: false };
    return { ok: true, generation: r ?? NO_GENERATION };
  }

  async delete(key: string, options: WriteOptions = {}): Promise<boolean> {
    const { id, cell } = this.locate(key);
    const check = options.ifEqual === undefined
      ? undefined
      : (gen: string, chunks: Map<bigint, Uint8Array>) => (chunks.has(id) ? gen : NO_GENERATION) === options.ifEqual;
    const r = await this.modify(cell, new Map([[key, { fn: async () => null, overwrite: true }]]), options.signal, check);
    return r !== false;
  }

  /** Shard keys present in the base store. */
  private async *shards(signal?: AbortSignal): AsyncIterable<string> {
    for await (const k of this.base.list(this.prefix, { signal })) {
      const name = k.slice(this.prefix.length);
      if (SHARD_FILE_RE.test(name)) yield k;
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<string> {
    for await (const cell of this.shards(options.signal)) {
      const r = await this.base.read(cell, { signal: options.signal });
      if (r.state !== 'value') continue;
      const { chunks } = await this.parseShard(r.value, cell);
      for (const id of chunks.keys()) {
        const key = chunkIdKey(id);
        if (key.startsWith(prefix)) yield key;
      }
    }
  }

  async deleteRange(prefix: string, options: ListOptions = {}): Promise<void> {
    if (prefix === '') {
      const cells: string[] = [];
      for await (const cell of this.shards(options.signal)) cells.push(cell);
      for (const cell of cells) {
        await deleteValue(this.base, cell, options.signal);
        this.reader.forget(cell);
      }
      return;
    }
    const byCell = new Map<string, Map<string, CellUpdate>>();
    for await (const key of this.list(prefix, options)) {
      const cell = this.cellOf(key);
      if (!byCell.has(cell)) byCell.set(cell, new Map());
      byCell.get(cell)!.set(key, { fn: async () => null, overwrite: true });
    }
    for (const [cell, u] of byCell) await this.modify(cell, u, options.signal);
  }
}
