/**
 * A pass-through key-value store that counts what goes through it: reads (whole or ranged, hits
 * and misses), bytes read, writes, bytes written, listings and deletes. The bench opens volumes
 * with `open(spec, { wrapKvStore })` so the counts are those of the base store (a shard's
 * index read and its ranged data reads each count once), on any kvstore driver.
 */
import type { KvStore, ListOptions, ReadOptions, ReadResult, WriteOptions, WriteResult } from '../kvstore/kvstore.js';
import type { KvOperationCounts } from './cost.js';

/** Counters of a {@link CountingStore} (mutable; snapshot with {@link snapshotCounts}). */
export interface StoreCounts extends KvOperationCounts {
  /** Reads that found no value (missing key) or an unchanged generation. */
  readsEmpty: number;
}

/** All-zero counters. */
export function emptyCounts(): StoreCounts {
  return { reads: 0, readBytes: 0, readsEmpty: 0, writes: 0, writeBytes: 0, lists: 0, deletes: 0 };
}

/** A copy of the counters. */
export function snapshotCounts(c: StoreCounts): StoreCounts {
  return { ...c };
}

/** `b - a`, member by member. */
export function diffCounts(b: StoreCounts, a: StoreCounts): StoreCounts {
  const out = emptyCounts();
  for (const k of Object.keys(out) as (keyof StoreCounts)[]) out[k] = b[k] - a[k];
  return out;
}

/** Counts the operations of `inner` into `counts` (shared by every wrapper made with the same object). */
export class CountingStore implements KvStore {
  constructor(
    readonly inner: KvStore,
    readonly counts: StoreCounts = emptyCounts(),
  ) {}

  get url(): string {
    return this.inner.url;
  }

  get readOnly(): boolean {
    return this.inner.readOnly;
  }

  get coalesceLimit(): number | undefined {
    return this.inner.coalesceLimit;
  }

  async read(key: string, options?: ReadOptions): Promise<ReadResult> {
    this.counts.reads++;
    const r = await this.inner.read(key, options);
    if (r.state === 'value') this.counts.readBytes += r.value.byteLength;
    else this.counts.readsEmpty++;
    return r;
  }

  async write(key: string, value: Uint8Array, options?: WriteOptions): Promise<WriteResult> {
    this.counts.writes++;
    this.counts.writeBytes += value.byteLength;
    return this.inner.write(key, value, options);
  }

  delete(key: string, options?: WriteOptions): Promise<boolean> {
    this.counts.deletes++;
    return this.inner.delete(key, options);
  }

  deleteRange(prefix: string, options?: ListOptions): Promise<void> {
    this.counts.lists++;
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
