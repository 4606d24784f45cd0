/**
 * The key-value store interface every format sits on. Small and honest, after TensorStore's
 * kvstore: a read returns one of three states with a storage generation; writes and deletes
 * take a generation precondition. A missing key is a value ("missing"), not an error.
 *
 * Generations are opaque non-empty strings, except the empty string `''`, which is the
 * generation of a MISSING key. So `ifEqual: ''` on a write means "must not exist", and the
 * generation returned by reading a missing key can be used directly as the precondition of
 * a read-modify-write.
 */

import type { Priority, RequestPriority } from '../util/limiter.js';

/** The generation of a key that does not exist. */
export const NO_GENERATION = '';

/** `{offset, length?}`: bytes [offset, offset+length) (to the end if no length); `{suffix}`: last N bytes. */
export type ByteRange = { offset: number; length?: number } | { suffix: number };

/** Options of {@link KvStore.read}: conditions on the stored generation, a byte range, a signal. */
export interface ReadOptions {
  /**
   * Bytes to return. A range whose start lies past the end of the value, or whose end
   * (offset+length) lies past the end, throws ByteRangeError naming key and range.
   */
  byteRange?: ByteRange;
  /** Return state 'unchanged' (no value) unless the stored generation equals this one. */
  ifEqual?: string;
  /** Return state 'unchanged' (no value) if the stored generation equals this one. */
  ifNotEqual?: string;
  signal?: AbortSignal;
  /**
   * The request's priority in the store's concurrency limiter (default demand): prefetch
   * requests wait behind every demand request and never hold all slots; a
   * {@link RequestPriority} raised while waiting moves the request to the demand queue. Stores
   * without a limiter (memory) ignore it; adapters pass it to the reads they make.
   */
  priority?: Priority | RequestPriority;
  /**
   * Where the value may go: a function giving a buffer of at least `length` bytes (or
   * undefined). A store that allocates memory for each value (the file store) reads into it
   * instead and returns a view of its first `length` bytes; others ignore it, so a caller that
   * recycles such buffers must check that the value is a view of one it gave.
   */
  buffer?: (length: number) => Uint8Array | undefined;
}

/** What {@link KvStore.read} found: a value with its generation, a missing key, or an unmet condition. */
export type ReadResult =
  /** `size` is the total size of the stored value when the store knows it. */
  | { state: 'value'; value: Uint8Array; generation: string; size?: number }
  | { state: 'missing'; generation: typeof NO_GENERATION }
  /** A condition was not met: `ifNotEqual` matched, or `ifEqual` did not. */
  | { state: 'unchanged'; generation: string };

/** Options of {@link KvStore.write}: `ifEqual` makes the write conditional on the stored generation (`''` = must not exist). */
export interface WriteOptions {
  /** Write only if the current generation equals this (`''` = the key must not exist). */
  ifEqual?: string;
  signal?: AbortSignal;
}

/** `{ok: true, generation}` on success; `{ok: false}` when the precondition failed. */
export type WriteResult = { ok: true; generation: string } | { ok: false };

export interface ListOptions {
  signal?: AbortSignal;
}

/** See KvStore.localFile. */
export interface LocalFile {
  /** Absolute path of the file. */
  path: string;
  /** A byte range of it (the whole file when absent). */
  range?: { offset: number; length: number };
  /**
   * The file store generation the file must still have for the range to hold the value
   * (`src/kvstore/file-common.ts`); absent: any (the whole file is the value).
   */
  generation?: string;
  /**
   * The store's limit on concurrent file operations (`file_io_concurrency`), if it has one. A
   * reader doing its own reads outside that limit must stay at or below it by itself (the codec
   * worker pool declines when it could have more reads in flight than this).
   */
  maxConcurrent?: number;
}

/**
 * A key-value store (TensorStore's kvstore): conditional reads and writes by generation, byte
 * ranges, listing. volstore's stores: MemoryStore, FileStore (`volstore/node`), HttpStore,
 * GcsStore, S3Store; sharded formats adapt one store into another.
 */
export interface KvStore {
  /** A URL-ish description for messages, e.g. `file:///data/x/` or `gs://b/p/`. */
  readonly url: string;
  readonly readOnly: boolean;
  read(key: string, options?: ReadOptions): Promise<ReadResult>;
  write(key: string, value: Uint8Array, options?: WriteOptions): Promise<WriteResult>;
  /** Deletes a key (a missing key is fine). Returns false only when `ifEqual` failed. */
  delete(key: string, options?: WriteOptions): Promise<boolean>;
  /** Deletes every key starting with `prefix`. */
  deleteRange(prefix: string, options?: ListOptions): Promise<void>;
  /** Every key starting with `prefix`, in no promised order. */
  list(prefix: string, options?: ListOptions): AsyncIterable<string>;
  /**
   * Largest merged ranged read worth issuing, in bytes (sharded reads merge nearby inner chunks
   * up to this). Stores where a request is cheap (local files, memory) keep it small: one huge
   * read buffer costs more in fresh-memory page faults than the requests it saves (a 512^3 raw
   * sharded read on local files: 592 ms merged whole vs 186 ms merged up to 1 MiB). Cloud stores
   * leave it unset (64 MiB): there every request costs latency and money.
   */
  readonly coalesceLimit?: number;
  /**
   * Largest gap, in bytes, between two wanted byte ranges of one value that a merged read
   * bridges (the gap is read and dropped) rather than splitting into two requests. Unset:
   * `COALESCE_GAP` of `src/sharding/coalesce.ts` (its comment gives the measurement).
   */
  readonly coalesceGap?: number;
  /**
   * Optional: where on this machine `key`'s value lies, for a reader that opens the file itself
   * (a codec worker reads, decodes and places a chunk in one task: `ChainRunner.decodeFileInto`),
   * or undefined when this key cannot be read so (read it with `read`). The file store: the
   * key's file (validated as `read` validates keys; a missing or non-regular file is a missing
   * key). A sharded store: a byte range of the shard's file, valid while the shard still has
   * `generation` (the reader checks it, and reads with `read` when it does not). Present only on
   * stores whose values can lie in local files: readers test its presence to tell such stores
   * from others (the planner allocates results that workers can write for them).
   */
  localFile?(key: string): LocalFile | undefined;
  /** The TensorStore kvstore spec JSON for this store (no credentials). */
  spec(): Record<string, unknown>;
  /** Releases sockets / handles. Optional. */
  close?(): Promise<void>;
}

/** Resolves a ByteRange against a value size; throws ByteRangeError when it does not fit. */
export function resolveByteRange(key: string, range: ByteRange | undefined, size: number): [number, number] {
  if (!range) return [0, size];
  if ('suffix' in range) {
    if (!(range.suffix >= 0) || !Number.isInteger(range.suffix)) {
      throw new ByteRangeErrorLazy(key, `invalid suffix length ${range.suffix}`);
    }
    return [Math.max(0, size - range.suffix), size];
  }
  const { offset, length } = range;
  if (!Number.isInteger(offset) || offset < 0 || (length !== undefined && (!Number.isInteger(length) || length < 0))) {
    throw new ByteRangeErrorLazy(key, `invalid range offset=${offset} length=${length}`);
  }
  const end = length === undefined ? size : offset + length;
  if (offset > size || end > size) {
    throw new ByteRangeErrorLazy(key, `[${offset}, ${end}) is outside the ${size}-byte value`);
  }
  return [offset, end];
}

import { ByteRangeError as ByteRangeErrorLazy } from '../errors.js';

/** Joins a store prefix and a key with exactly one '/'. '' prefix returns key. */
export function joinKey(prefix: string, key: string): string {
  if (!prefix) return key;
  if (!key) return prefix;
  return prefix.endsWith('/') ? prefix + key : `${prefix}/${key}`;
}

/**
 * Writes a value unconditionally and returns its new generation. A write that did not happen
 * is an error on every store: a store answering `{ok: false}` to a write without a precondition
 * (an object store that answered 404 or 409) throws KvStoreError naming the key instead of
 * being taken for a success.
 * @throws KvStoreError when the store reports the write as not applied; whatever the store throws.
 */
export async function writeValue(store: KvStore, key: string, value: Uint8Array, signal?: AbortSignal): Promise<string> {
  const w = await store.write(key, value, { signal });
  if (!w.ok) throw new KvStoreErrorLazy(key, `${store.url}: the store did not apply an unconditional write of ${value.byteLength} bytes (it answered {ok: false})`);
  return w.generation;
}

/**
 * Deletes a key unconditionally (a missing key is fine).
 * @throws KvStoreError when the store reports the delete as not applied (`false` without a
 *   precondition); whatever the store throws.
 */
export async function deleteValue(store: KvStore, key: string, signal?: AbortSignal): Promise<void> {
  if (!(await store.delete(key, { signal }))) {
    throw new KvStoreErrorLazy(key, `${store.url}: the store did not apply an unconditional delete (it answered false)`);
  }
}

/** Reads a key's whole value, or undefined when missing. */
export async function readValue(store: KvStore, key: string, signal?: AbortSignal): Promise<Uint8Array | undefined> {
  const r = await store.read(key, { signal });
  return r.state === 'value' ? r.value : undefined;
}

/**
 * `deleteRange` for stores that can only delete key by key (cloud object stores): lists the
 * prefix, then deletes in batches (the store's request limiter bounds concurrency; batches
 * bound the number of pending promises).
 */
export async function deleteListed(store: KvStore, prefix: string, signal?: AbortSignal): Promise<void> {
  const keys: string[] = [];
  for await (const k of store.list(prefix, { signal })) keys.push(k);
  for (let i = 0; i < keys.length; i += 256) {
    await Promise.all(keys.slice(i, i + 256).map((k) => deleteValue(store, k, signal)));
  }
}

/** Collects `list(prefix)` into a sorted array. */
export async function listAll(store: KvStore, prefix: string, signal?: AbortSignal): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of store.list(prefix, { signal })) keys.push(k);
  return keys.sort();
}

/**
 * Read-modify-write of one stored value: receives the current value (undefined when missing)
 * and returns the new value, `null` to delete it, or `undefined` to leave it as it is.
 */
export type UpdateFn = (current: Uint8Array | undefined) => Promise<Uint8Array | null | undefined>;

/**
 * Optional capability of a store whose keys are grouped into cells that are written together
 * (a shard). The I/O planner groups chunk updates by `cellOf(key)` and hands each group to
 * `updateCell`, which applies them atomically: one conditional write per cell, retried on
 * conflict. Stores without it get {@link updateKeysIndividually}.
 */
export interface BatchUpdatable {
  cellOf(key: string): string;
  updateCell(cell: string, updates: ReadonlyMap<string, CellUpdate>, signal?: AbortSignal): Promise<void>;
}

/**
 * One key's update inside a cell. `overwrite` promises that `fn` ignores the current value,
 * so a store may skip reading it (when every key of a cell is overwritten, the whole cell can
 * be written without reading it first).
 */
export interface CellUpdate {
  fn: UpdateFn;
  overwrite: boolean;
}

/**
 * Optional capability of a sharded store: read several keys of one cell together, so the
 * store can fetch the shard index once and coalesce the byte ranges into few requests.
 * Results are in the order of `keys`.
 */
export interface CellReadable {
  cellOf(key: string): string;
  /** `priority`: the request priority of the reads it makes (see {@link ReadOptions.priority}). */
  readCell(cell: string, keys: readonly string[], signal?: AbortSignal, priority?: Priority | RequestPriority): Promise<ReadResult[]>;
}

export function isCellReadable(store: KvStore): store is KvStore & CellReadable {
  return typeof (store as Partial<CellReadable>).readCell === 'function';
}

export function isBatchUpdatable(store: KvStore): store is KvStore & BatchUpdatable {
  return typeof (store as Partial<BatchUpdatable>).updateCell === 'function';
}

/** Max attempts of a conditional read-modify-write before giving up with ConditionFailedError. */
export const MAX_RMW_ATTEMPTS = 64;

/** Longest pause, ms, between two attempts of a conditional read-modify-write (see rmwPauseMs). */
export const RMW_PAUSE_CAP_MS = 64;

/**
 * How long a conditional read-modify-write waits after losing its `attempt`-th race (0 = the
 * first) before it reads again: a random time below min(2^attempt, RMW_PAUSE_CAP_MS) ms ("full
 * jitter"). Retrying at once lets a writer slower than its rivals (descheduled between its read
 * and its write, another process on a busy machine) lose every round to them until it gives up
 * (seen: 4 processes x 50 updates of one shard, one update gave up after 64 attempts); random
 * growing pauses spread the rivals out so each gets its turn. `random` returns [0, 1).
 */
export function rmwPauseMs(attempt: number, random: () => number = Math.random): number {
  return random() * Math.min(RMW_PAUSE_CAP_MS, 2 ** Math.min(attempt, 30));
}

/** Waits {@link rmwPauseMs} after lost race `attempt`; rejects with AbortError when `signal` fires. */
export function rmwPause(attempt: number, signal?: AbortSignal): Promise<void> {
  return sleep(rmwPauseMs(attempt), signal);
}

/**
 * Applies one update to one key as a read-modify-write under a generation condition,
 * retried on conflict. When `needsCurrent` is false the current value is not read and the
 * write is unconditional (a full overwrite).
 * @throws ConditionFailedError after {@link MAX_RMW_ATTEMPTS} conflicting attempts;
 *   KvStoreError when the store does not apply an unconditional write or delete.
 */
export async function updateKey(
  store: KvStore,
  key: string,
  fn: UpdateFn,
  signal?: AbortSignal,
  needsCurrent = true,
): Promise<void> {
  if (!needsCurrent) {
    const v = await fn(undefined);
    if (v === null) await deleteValue(store, key, signal);
    else if (v !== undefined) await writeValue(store, key, v, signal);
    return;
  }
  for (let attempt = 0; attempt < MAX_RMW_ATTEMPTS; attempt++) {
    const r = await store.read(key, { signal });
    const current = r.state === 'value' ? r.value : undefined;
    const v = await fn(current);
    if (v === undefined) return;
    if (v === null) {
      if (current === undefined) return;
      if (await store.delete(key, { ifEqual: r.generation, signal })) return;
    } else {
      const w = await store.write(key, v, { ifEqual: r.generation, signal });
      if (w.ok) return;
    }
    await rmwPause(attempt, signal); // lost a race: let the others through
  }
  throw new ConditionFailedLazy(key, `gave up after ${MAX_RMW_ATTEMPTS} conflicting concurrent writes`);
}

import { ConditionFailedError as ConditionFailedLazy, KvStoreError as KvStoreErrorLazy } from '../errors.js';
import { sleep } from './retry.js';
