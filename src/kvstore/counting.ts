/**
 * A pass-through store that counts what goes through it (objects and bytes read and written,
 * refused writes, deletes, listings) and exposes the HTTP counters of a network store
 * underneath. The bench and the jobs open volumes with `open(spec, { wrapKvStore })` through
 * it, so counts are those of the base store (a shard's index read and its ranged data reads
 * each count once), on any kvstore driver.
 */
import type { HttpStats } from './http/client.js';
import type { KvStore, ListOptions, ReadOptions, ReadResult, WriteOptions, WriteResult } from './kvstore.js';

/** Counters of a {@link CountingStore} (or the sum of several). */
export interface StoreCounters {
  /** Reads that returned a value. */
  objectsRead: number;
  /** Bytes of the values read (ranged reads count the range). */
  bytesRead: number;
  /** Reads of a missing key, or unmet conditions. */
  readsEmpty: number;
  /** Writes applied (objects created or replaced). */
  objectsWritten: number;
  /** Bytes of the values written. */
  bytesWritten: number;
  /** Writes refused by their condition (e.g. "must not exist" on an existing key). */
  writesRefused: number;
  /** Delete calls. */
  deletes: number;
  /** List calls. */
  lists: number;
  /** HTTP attempts sent by the network stores (GCS, S3, Azure, HTTP), retries included. */
  requests: number;
  /** HTTP attempts that failed transiently and were retried (5xx, 429, 408, resets, timeouts, checksum mismatches). */
  retries: number;
}

/** All-zero counters. */
export function emptyCounters(): StoreCounters {
  return { objectsRead: 0, bytesRead: 0, readsEmpty: 0, objectsWritten: 0, bytesWritten: 0, writesRefused: 0, deletes: 0, lists: 0, requests: 0, retries: 0 };
}

/** `a + b`, field by field. */
export function addCounters(a: StoreCounters, b: StoreCounters): StoreCounters {
  const out = emptyCounters();
  for (const k of Object.keys(out) as (keyof StoreCounters)[]) out[k] = a[k] + b[k];
  return out;
}

/** `a - b`, field by field. */
export function subtractCounters(a: StoreCounters, b: StoreCounters): StoreCounters {
  const out = emptyCounters();
  for (const k of Object.keys(out) as (keyof StoreCounters)[]) out[k] = a[k] - b[k];
  return out;
}

/**
 * A store that counts what passes through it to another store. Everything is forwarded as is;
 * `coalesceLimit`, `coalesceGap` and `readOnly` are the inner store's, so the planner and the sharding adapters
 * behave exactly as on the inner store.
 */
export class CountingStore implements KvStore {
  readonly readOnly: boolean;
  readonly coalesceLimit: number | undefined;
  readonly coalesceGap: number | undefined;
  /**
   * @param counts where this store counts; pass one object to several stores to sum them (the
   *   HTTP fields are filled by whoever reads {@link httpStats}, e.g. the jobs' StoreTally).
   */
  constructor(
    readonly inner: KvStore,
    readonly counts: StoreCounters = emptyCounters(),
  ) {
    this.readOnly = inner.readOnly;
    this.coalesceLimit = inner.coalesceLimit;
    this.coalesceGap = inner.coalesceGap;
  }

  get url(): string {
    return this.inner.url;
  }

  /** The inner store's HTTP counters, when it is a network store. */
  get httpStats(): HttpStats | undefined {
    const s = (this.inner as { stats?: unknown }).stats;
    return s && typeof s === 'object' && typeof (s as HttpStats).requests === 'number' ? (s as HttpStats) : undefined;
  }

  async read(key: string, options?: ReadOptions): Promise<ReadResult> {
    const r = await this.inner.read(key, options);
    if (r.state === 'value') {
      this.counts.objectsRead++;
      this.counts.bytesRead += r.value.byteLength;
    } else this.counts.readsEmpty++;
    return r;
  }

  async write(key: string, value: Uint8Array, options?: WriteOptions): Promise<WriteResult> {
    const w = await this.inner.write(key, value, options);
    if (w.ok) {
      this.counts.objectsWritten++;
      this.counts.bytesWritten += value.byteLength;
    } else this.counts.writesRefused++;
    return w;
  }

  delete(key: string, options?: WriteOptions): Promise<boolean> {
    this.counts.deletes++;
    return this.inner.delete(key, options);
  }

  deleteRange(prefix: string, options?: ListOptions): Promise<void> {
    this.counts.deletes++;
    return this.inner.deleteRange(prefix, options);
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<string> {
    this.counts.lists++;
    return this.inner.list(prefix, options);
  }

  spec(): Record<string, unknown> {
    return this.inner.spec();
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}
