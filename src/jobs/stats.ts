/**
 * What a job did to its stores, for the summary a task prints (`--json`) and for planning the
 * cost of a large run: objects and bytes read and written, store operations, and the HTTP
 * requests and retries of the network stores underneath.
 */
import type { HttpStats } from '../kvstore/http/client.js';
import type { KvStore, ListOptions, ReadOptions, ReadResult, WriteOptions, WriteResult } from '../kvstore/kvstore.js';

/** Counters of the stores a job opened. */
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
  /** Counts of this store's operations (the HTTP fields are filled by {@link StoreTally.snapshot}). */
  readonly counts: StoreCounters = emptyCounters();

  constructor(readonly inner: KvStore) {
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

/**
 * The stores of one job (or one level of it): wraps each store a job opens
 * ({@link StoreTally.wrap}, passed to `open` as `wrapStore`) and sums their counters.
 */
export class StoreTally {
  private readonly stores: CountingStore[] = [];

  /** Wraps `store` in a {@link CountingStore} counted by this tally. */
  readonly wrap = (store: KvStore): KvStore => {
    const c = new CountingStore(store);
    this.stores.push(c);
    return c;
  };

  /** The sum of every wrapped store's counters, HTTP requests and retries included. */
  snapshot(): StoreCounters {
    let total = emptyCounters();
    const seen = new Set<HttpStats>();
    for (const s of this.stores) {
      total = addCounters(total, s.counts);
      const h = s.httpStats;
      if (h && !seen.has(h)) {
        seen.add(h);
        total.requests += h.requests;
        total.retries += h.retries;
      }
    }
    return total;
  }
}
