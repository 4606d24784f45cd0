import { throwIfAborted } from '../errors.js';
import { checkKey } from './keys.js';
import {
  type KvStore,
  type ListOptions,
  NO_GENERATION,
  type ReadOptions,
  type ReadResult,
  resolveByteRange,
  type WriteOptions,
  type WriteResult,
} from './kvstore.js';

interface Entry {
  value: Uint8Array;
  generation: string;
}

/** Named memory stores (`memory://name`) shared within the process, as TensorStore's context does. */
const NAMED = new Map<string, Map<string, Entry>>();
let counter = 0;

/**
 * In-memory store: the reference implementation of the {@link KvStore} contract. Values are
 * copied in and out, so callers can never alias stored bytes. Generations are a process-wide
 * counter, so a rewritten key never repeats an earlier generation. Keys are checked like on
 * every other store (`checkKey`: no absolute keys, no `.`/`..` segments), so data that works
 * here works on the cloud stores too. Writes and deletes always happen (or throw).
 */
export class MemoryStore implements KvStore {
  readonly readOnly = false;
  /** Reads copy: merged reads up to 1 MiB, as for local files (see KvStore.coalesceLimit). */
  readonly coalesceLimit = 1 << 20;
  /** Gaps bridged in merged shard reads: as for local files (see FileStore.coalesceGap). */
  readonly coalesceGap = 256 * 1024;
  private readonly map: Map<string, Entry>;

  /** `name` shares the data with every other MemoryStore of the same name in this process. */
  constructor(readonly name?: string) {
    if (name !== undefined) {
      let m = NAMED.get(name);
      if (!m) NAMED.set(name, (m = new Map()));
      this.map = m;
    } else {
      this.map = new Map();
    }
  }

  get url(): string {
    return `memory://${this.name ?? ''}`;
  }

  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    checkKey(key);
    throwIfAborted(options.signal);
    const e = this.map.get(key);
    const generation = e ? e.generation : NO_GENERATION;
    if (options.ifEqual !== undefined && options.ifEqual !== generation) return { state: 'unchanged', generation };
    if (options.ifNotEqual !== undefined && options.ifNotEqual === generation) return { state: 'unchanged', generation };
    if (!e) return { state: 'missing', generation: NO_GENERATION };
    const [start, end] = resolveByteRange(key, options.byteRange, e.value.length);
    return { state: 'value', value: e.value.slice(start, end), generation, size: e.value.length };
  }

  async write(key: string, value: Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    checkKey(key);
    throwIfAborted(options.signal);
    if (options.ifEqual !== undefined && options.ifEqual !== (this.map.get(key)?.generation ?? NO_GENERATION)) {
      return { ok: false };
    }
    const generation = `m${++counter}`;
    this.map.set(key, { value: value.slice(), generation });
    return { ok: true, generation };
  }

  async delete(key: string, options: WriteOptions = {}): Promise<boolean> {
    checkKey(key);
    throwIfAborted(options.signal);
    if (options.ifEqual !== undefined && options.ifEqual !== (this.map.get(key)?.generation ?? NO_GENERATION)) {
      return false;
    }
    this.map.delete(key);
    return true;
  }

  async deleteRange(prefix: string, options: ListOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    for (const k of [...this.map.keys()]) if (k.startsWith(prefix)) this.map.delete(k);
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<string> {
    if (prefix) checkKey(prefix, 'list prefix');
    throwIfAborted(options.signal);
    for (const k of [...this.map.keys()]) if (k.startsWith(prefix)) yield k;
  }

  spec(): Record<string, unknown> {
    return { driver: 'memory', ...(this.name !== undefined ? { path: '' } : {}) };
  }
}
