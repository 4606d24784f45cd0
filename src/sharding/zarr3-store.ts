import { EMPTY, type ShardFormat } from './zarr3.js';
import { ByteRangeError, CorruptionError, ReadOnlyError, UnsupportedError } from '../errors.js';
import {
  type BatchUpdatable,
  type CellReadable,
  type CellUpdate,
  isBatchUpdatable,
  type KvStore,
  NO_GENERATION,
  type ReadOptions,
  type ReadResult,
  resolveByteRange,
  updateKey,
  type UpdateFn,
} from '../kvstore/kvstore.js';

interface CachedIndex {
  generation: string;
  /** Undefined when the shard is missing. */
  entries: BigUint64Array | undefined;
}

const INDEX_CACHE_ENTRIES = 4096;
/** Gaps up to this many bytes between wanted inner chunks are read rather than split. */
const COALESCE_GAP = 256 * 1024;
/** A merged read never exceeds this many bytes, unless the base store asks for less. */
const COALESCE_MAX = 64 * 1024 * 1024;

/**
 * zarr v3 `sharding_indexed` as a store adapter over the store holding the shards, as in
 * TensorStore: its keys are inner chunk grid positions ("i,j,k"), each mapped to a byte range
 * of a shard. Shard indexes are cached by shard generation, and every data read is conditional
 * on that generation, so a warm read costs one ranged request and a shard rewritten behind our
 * back is detected ('unchanged' from the base store) and re-indexed. Nested shards are an
 * adapter over an adapter.
 *
 * Writes: `updateCell` applies a group of inner chunk updates to a shard with one conditional
 * write (or one unconditional write when every inner chunk is overwritten), keeping the encoded
 * bytes of untouched inner chunks as they are.
 */
export class ShardedStore implements KvStore, BatchUpdatable, CellReadable {
  readonly readOnly: boolean;
  private readonly indexCache = new Map<string, CachedIndex>();
  private readonly inflight = new Map<string, Promise<CachedIndex>>();

  readonly coalesceLimit: number | undefined;

  constructor(
    readonly base: KvStore,
    readonly format: ShardFormat,
    /** The base-store key of the shard at a shard grid position. */
    readonly shardKeyOf: (shard: readonly number[]) => string,
  ) {
    this.readOnly = base.readOnly;
    this.coalesceLimit = base.coalesceLimit;
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
    const pos = key === '' ? [] : key.split(',').map(Number);
    const { shard, local } = this.format.locate(pos);
    return { shardKey: this.shardKeyOf(shard), local };
  }

  private async index(shardKey: string, signal: AbortSignal | undefined, refresh: boolean): Promise<CachedIndex> {
    if (!refresh) {
      const c = this.indexCache.get(shardKey);
      if (c) return c;
    }
    let p = this.inflight.get(shardKey);
    if (!p) {
      p = this.fetchIndex(shardKey, signal).finally(() => this.inflight.delete(shardKey));
      this.inflight.set(shardKey, p);
    }
    return p;
  }

  private async fetchIndex(shardKey: string, signal: AbortSignal | undefined): Promise<CachedIndex> {
    const f = this.format;
    let r: ReadResult;
    try {
      r = await this.base.read(shardKey, {
        byteRange: f.indexLocation === 'end' ? { suffix: f.indexSize } : { offset: 0, length: f.indexSize },
        signal,
      });
    } catch (e) {
      if (e instanceof ByteRangeError) {
        throw new CorruptionError(shardKey, `shard is smaller than its ${f.indexSize}-byte index`, { cause: e });
      }
      throw e;
    }
    let entry: CachedIndex;
    if (r.state !== 'value') {
      entry = { generation: NO_GENERATION, entries: undefined };
    } else {
      if (r.value.byteLength < f.indexSize) {
        throw new CorruptionError(shardKey, `shard is ${r.value.byteLength} bytes, smaller than its ${f.indexSize}-byte index`);
      }
      const entries = await f.decodeIndex(r.value, shardKey);
      f.checkEntries(entries, r.size, shardKey);
      entry = { generation: r.generation, entries };
    }
    if (this.indexCache.size >= INDEX_CACHE_ENTRIES) {
      this.indexCache.delete(this.indexCache.keys().next().value!);
    }
    this.indexCache.set(shardKey, entry);
    return entry;
  }

  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    const { shardKey, local } = this.parse(key);
    for (let attempt = 0; attempt < 8; attempt++) {
      const idx = await this.index(shardKey, options.signal, attempt > 0);
      const generation = idx.generation;
      if (options.ifEqual !== undefined && options.ifEqual !== generation) return { state: 'unchanged', generation };
      if (options.ifNotEqual !== undefined && options.ifNotEqual === generation) return { state: 'unchanged', generation };
      const off = idx.entries?.[2 * local];
      const n = idx.entries?.[2 * local + 1];
      if (off === undefined || n === undefined || (off === EMPTY && n === EMPTY)) {
        // A missing inner chunk: the shard generation still identifies what was read.
        if (idx.entries === undefined) return { state: 'missing', generation: NO_GENERATION };
        return { state: 'missing', generation: NO_GENERATION };
      }
      const size = Number(n);
      const [s, e] = resolveByteRange(key, options.byteRange, size);
      let r: ReadResult;
      try {
        r = await this.base.read(shardKey, {
          byteRange: { offset: Number(off) + s, length: e - s },
          ifEqual: generation,
          signal: options.signal,
        });
      } catch (err) {
        if (err instanceof ByteRangeError) {
          throw new CorruptionError(shardKey, `inner chunk ${key} at bytes [${off}, ${off + n}) lies outside the shard`, { cause: err });
        }
        throw err;
      }
      if (r.state === 'value') return { state: 'value', value: r.value, generation, size };
      // The shard changed (or vanished) since its index was cached: re-read the index.
    }
    throw new CorruptionError(shardKey, 'shard kept changing while being read');
  }

  /**
   * Reads several inner chunks of the shards under one cell: each shard's index once, then the
   * wanted chunks' byte ranges merged where they are adjacent or nearly so (gaps up to
   * COALESCE_GAP bytes are read and dropped), one base read per merged range, each conditional
   * on the index's generation. A full read of a shard is one request after its index.
   */
  async readCell(_cell: string, keys: readonly string[], signal?: AbortSignal): Promise<ReadResult[]> {
    if (this.base instanceof ShardedStore) return Promise.all(keys.map((k) => this.read(k, { signal })));
    const byShard = new Map<string, { i: number; local: number }[]>();
    keys.forEach((k, i) => {
      const { shardKey, local } = this.parse(k);
      let l = byShard.get(shardKey);
      if (!l) byShard.set(shardKey, (l = []));
      l.push({ i, local });
    });
    const out = new Array<ReadResult>(keys.length);
    await Promise.all([...byShard].map(([shardKey, wanted]) => this.readShardChunks(shardKey, wanted, keys, out, signal)));
    return out;
  }

  private async readShardChunks(
    shardKey: string, wanted: { i: number; local: number }[], keys: readonly string[], out: ReadResult[], signal: AbortSignal | undefined,
  ): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const idx = await this.index(shardKey, signal, attempt > 0);
      const present: { i: number; off: number; n: number }[] = [];
      for (const w of wanted) {
        const off = idx.entries?.[2 * w.local];
        const n = idx.entries?.[2 * w.local + 1];
        if (off === undefined || n === undefined || (off === EMPTY && n === EMPTY)) out[w.i] = { state: 'missing', generation: NO_GENERATION };
        else present.push({ i: w.i, off: Number(off), n: Number(n) });
      }
      present.sort((a, b) => a.off - b.off);
      const maxMerged = this.base.coalesceLimit ?? COALESCE_MAX;
      const groups: { start: number; end: number; members: typeof present }[] = [];
      for (const p of present) {
        const g = groups[groups.length - 1];
        if (g && p.off >= g.start && p.off - g.end <= COALESCE_GAP && p.off + p.n - g.start <= maxMerged) {
          g.end = Math.max(g.end, p.off + p.n);
          g.members.push(p);
        } else {
          groups.push({ start: p.off, end: p.off + p.n, members: [p] });
        }
      }
      let changed = false;
      await Promise.all(groups.map(async (g) => {
        let r: ReadResult;
        try {
          r = await this.base.read(shardKey, { byteRange: { offset: g.start, length: g.end - g.start }, ifEqual: idx.generation, signal });
        } catch (err) {
          if (err instanceof ByteRangeError) {
            throw new CorruptionError(shardKey, `inner chunks at bytes [${g.start}, ${g.end}) lie outside the shard`, { cause: err });
          }
          throw err;
        }
        if (r.state !== 'value') {
          changed = true;
          return;
        }
        for (const m of g.members) {
          out[m.i] = { state: 'value', value: r.value.subarray(m.off - g.start, m.off - g.start + m.n), generation: idx.generation, size: m.n };
        }
      }));
      if (!changed) return;
      // The shard changed since its index was read: re-index and read again.
    }
    throw new CorruptionError(shardKey, `shard kept changing while being read (keys ${keys[wanted[0]!.i]}...)`);
  }

  async write(): Promise<never> {
    throw new UnsupportedError('inner chunks of a shard are written through updateCell (one write per shard)');
  }

  async delete(): Promise<never> {
    throw new UnsupportedError('inner chunks of a shard are deleted through updateCell (one write per shard)');
  }

  async deleteRange(prefix: string): Promise<void> {
    if (prefix !== '') throw new UnsupportedError('deleteRange on a sharded store supports only the empty prefix');
    this.indexCache.clear();
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
      for (const k of byShard.keys()) this.indexCache.delete(k);
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
