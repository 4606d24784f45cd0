/**
 * Metadata JSON (zarr.json, .zarray, attributes.json, info, ...) read through the Context's
 * cache pool, under `recheck_cached_metadata`: a second `open()` of an array with the same
 * Context costs one bodyless conditional read (default `"open"`), or none (`false`), instead of
 * a full read; format detection and the driver's own read of the same key share one request.
 * Browser-safe.
 */
import { MetadataError } from '../errors.js';
import type { KvStore, ReadResult } from '../kvstore/kvstore.js';
import { type CachePool, now } from './pool.js';

/** What `open()` hands the drivers so their metadata reads go through the cache pool. */
export interface MetadataCache {
  readonly pool: CachePool;
  /**
   * Staleness bound of the open (ms since the epoch): metadata cached before it is revalidated
   * with a conditional read (`stalenessBound(recheck_cached_metadata, openedAt)`).
   */
  readonly recheckBefore: number;
  /** The array's metadata as opened: key, generation and bytes (set by `openOrCreate`). */
  opened?: { store: KvStore; key: string; generation: string; value: Uint8Array };
}

/** The pool key of a metadata entry (its own namespace: never a chunk's key). */
function keyOf(store: KvStore, key: string): string {
  return `metadata\u0000${store.url}\u0000${key}`;
}

/** A cached metadata value: the stored bytes (missing keys are not cached). */
interface MetadataValue {
  bytes: Uint8Array;
}

/**
 * Reads a metadata key through the cache pool: fresh cached bytes (verified at or after
 * `bound`) without a request; older ones revalidated with one conditional read (a 304 moves no
 * body); concurrent reads of one key share one request. Without `cache`, a plain read.
 */
export async function readMetadata(
  store: KvStore, key: string, signal: AbortSignal | undefined, cache: MetadataCache | undefined, bound = cache?.recheckBefore ?? now(),
): Promise<ReadResult> {
  if (!cache) return store.read(key, { signal });
  const pool = cache.pool;
  const ck = keyOf(store, key);
  const hit = pool.fresh<MetadataValue>(ck, bound);
  if (hit) return { state: 'value', value: hit.value.bytes, generation: hit.generation, size: hit.value.bytes.byteLength };
  return pool.load<ReadResult>(ck, { bound, signal }, async (ctx) => {
    const cached = pool.peek<MetadataValue>(ck);
    const r = await store.read(key, { signal: ctx.signal, ifNotEqual: cached?.generation });
    if (r.state === 'unchanged' && cached) {
      if (ctx.storable && !pool.has(ck)) pool.set(ck, 'metadata', cached.value, cached.generation, cached.value.bytes.byteLength, ctx.startedAt);
      pool.revalidated(ck, ctx.startedAt);
      return { state: 'value', value: cached.value.bytes, generation: cached.generation, size: cached.value.bytes.byteLength };
    }
    const plain = r.state === 'unchanged' ? await store.read(key, { signal: ctx.signal }) : r;
    pool.missed('metadata');
    if (plain.state === 'value' && ctx.storable) {
      pool.set(ck, 'metadata', { bytes: plain.value } satisfies MetadataValue, plain.generation, plain.value.byteLength, ctx.startedAt);
    } else {
      pool.invalidate(ck);
    }
    return plain;
  });
}

/** Records metadata just written (`bytes` at `generation`), or drops the entry (`bytes` undefined). */
export function wroteMetadata(cache: MetadataCache | undefined, store: KvStore, key: string, bytes: Uint8Array | undefined, generation: string): void {
  if (!cache) return;
  const ck = keyOf(store, key);
  cache.pool.invalidate(ck);
  if (bytes) cache.pool.set(ck, 'metadata', { bytes } satisfies MetadataValue, generation, bytes.byteLength, now());
}

/**
 * `recheck_cached_metadata` before an operation: when the metadata as opened is older than
 * `bound`, revalidates it (cached or one conditional read). Metadata that changed since the
 * array was opened is a MetadataError telling the caller to reopen it (the open volume's grid,
 * codecs and bounds would no longer describe the array).
 * @throws MetadataError naming the key; the store's errors; AbortError.
 */
export async function recheckMetadata(cache: MetadataCache, bound: number, signal: AbortSignal | undefined): Promise<void> {
  const o = cache.opened;
  if (!o) return;
  const r = await readMetadata(o.store, o.key, signal, cache, bound);
  if (r.state === 'value' && r.generation === o.generation) return;
  if (r.state === 'value' && sameBytes(r.value, o.value)) {
    cache.opened = { ...o, generation: r.generation };
    return;
  }
  throw new MetadataError(
    o.key,
    `the array's metadata ${r.state === 'value' ? 'changed' : 'was deleted'} since the array was opened (recheck_cached_metadata): open it again`,
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
