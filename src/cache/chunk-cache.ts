import type { NdArray } from '../array/ndarray.js';

interface Entry {
  array: NdArray;
  generation: string;
  bytes: number;
}

/**
 * TensorStore's `cache_pool`: one byte-bounded LRU of DECODED chunks shared by every array
 * opened with the same Context. Entries carry the storage generation they were decoded from,
 * so a cached chunk is revalidated with a conditional read (`ifNotEqual`) rather than re-read
 * and re-decoded. A limit of 0 (TensorStore's default) caches nothing.
 * Cached arrays are shared: callers must never mutate them.
 */
export class ChunkCache {
  private readonly map = new Map<string, Entry>();
  private used = 0;
  hits = 0;
  misses = 0;

  constructor(readonly totalBytesLimit: number) {}

  get bytesUsed(): number {
    return this.used;
  }

  /** Whether `key` is cached (does not count as a use). */
  has(key: string): boolean {
    return this.map.has(key);
  }

  get(key: string): { array: NdArray; generation: string } | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    // Move to the most-recently-used end.
    this.map.delete(key);
    this.map.set(key, e);
    return e;
  }

  set(key: string, array: NdArray, generation: string): void {
    if (this.totalBytesLimit <= 0) return;
    const bytes = array.data.byteLength;
    if (bytes > this.totalBytesLimit) return;
    this.delete(key);
    this.map.set(key, { array, generation, bytes });
    this.used += bytes;
    while (this.used > this.totalBytesLimit) {
      const oldest = this.map.keys().next().value!;
      this.delete(oldest);
    }
  }

  delete(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    this.map.delete(key);
    this.used -= e.bytes;
  }

  clear(): void {
    this.map.clear();
    this.used = 0;
  }
}
