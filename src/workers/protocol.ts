import type { DataType, Scalar, TypedArray } from '../array/dtype.js';
import type { LocalFile } from '../kvstore/kvstore.js';
import type { ChunkPlacement } from '../array/place.js';
import type { CodecJSON } from '../codecs/codec.js';
import * as errors from '../errors.js';

/**
 * The messages between a codec worker pool (`pool.ts`) and its workers (`codec-worker.ts`), and
 * how errors cross the thread boundary. Every message is structured-clonable; array and byte
 * buffers travel in transfer lists.
 */

/** A codec chain as a worker rebuilds it: canonical codec JSON + the decoded ChunkSpec. */
export interface ChainDescriptor {
  /** Identifies the chain: the worker caches the built chain under it. */
  key: string;
  /** A small number standing for `key` in this process (unique per distinct key). */
  id: number;
  codecs: CodecJSON[];
  spec: { dtype: DataType; shape: number[]; fillValue: Scalar };
}

/**
 * A task's chain: the whole descriptor the first time a worker gets it, then only its `id`
 * (workers keep every descriptor they were sent; a few hundred bytes each), so a task message
 * does not clone the codec JSON and its long key every time.
 */
export type ChainRef = ChainDescriptor | number;

/** An NdArray as plain data (its typed array is transferred, or shared). */
export interface ArrayMessage {
  dtype: DataType;
  data: TypedArray;
  shape: number[];
  strides: number[];
  offset: number;
}

/**
 * A task's input bytes: `length` bytes at the start of the task's lane buffer (shared memory the
 * pool copied them into, reused from task to task), or a buffer of their own, transferred
 * (where there is no shared memory).
 */
export type TaskInput = { shared: SharedArrayBuffer; length: number } | { bytes: Uint8Array };

/** Where a `decodeInto` task writes: a byte range of a shared result and the chunk's placement in it. */
export interface TargetMessage {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  byteLength: number;
  placement: ChunkPlacement;
}

/**
 * The states of a task's lane (an Int32 per lane, in shared memory both sides see): the handshake
 * that lets an abort return at once unless the worker is writing into the caller's memory.
 * The pool sets PENDING when it sends a task; the worker moves PENDING -> RUNNING when it starts
 * it and, for a decodeInto task, RUNNING -> PLACING before it writes the result and -> DONE
 * after; an abort moves PENDING or RUNNING -> ABORTED (the worker then skips the task or the
 * write). Both sides use compare-and-swap, so exactly one of "the worker writes" and "the abort
 * returns at once" happens; a task found PLACING is rejected only once its reply arrives.
 */
export const LANE = { PENDING: 0, RUNNING: 1, PLACING: 2, DONE: 3, ABORTED: 4 } as const;

/** Lanes (tasks sent and not yet answered, aborted ones included) per worker at most. */
export const MAX_LANES = 8;

/**
 * The Int32 after the lane states (the shared buffer holds MAX_LANES + 1): how many tasks the
 * pool has posted to this worker, counted before each post. The worker compares it with the
 * tasks it has started to know how many wait for it, including those still in its message queue.
 */
export const POSTED_WORD = MAX_LANES;

/**
 * Main thread -> worker. `lane` is the task's lane (-1: none, no shared memory).
 * `decodeInto` with `target`: the worker writes the chunk into that shared result. With `out`
 * instead (the result is memory the worker cannot reach): the worker decodes into its scratch
 * and copies the decoded chunk into `out` (the lane's shared output buffer, reused), replying
 * `decodedInLane`; the pool places it from there before it frees the lane. No fresh buffer is
 * allocated per chunk on either side (fresh memory costs page faults in the worker and a
 * garbage-collected free on the main thread, and serialises threads on the kernel's memory map).
 */
export type TaskMessage =
  | { type: 'decode'; id: number; lane: number; chain: ChainRef; input: TaskInput; key?: string; maxDecodedBytes?: number }
  | {
      type: 'decodeInto'; id: number; lane: number; chain: ChainRef; input: TaskInput; key?: string; maxDecodedBytes?: number; keep: boolean;
      target?: TargetMessage; out?: SharedArrayBuffer; placement?: ChunkPlacement;
    }
  | { type: 'encode'; id: number; lane: number; chain: ChainRef; array: ArrayMessage; key?: string; unlessFill?: boolean }
  /**
   * Reads the stored chunk from a local file (open, fstat, read, close, on the worker's thread:
   * the whole file, or `file.range` of it when the file still has `file.generation`), then as
   * `decodeInto` with `target`; replies `missing` when there is no such regular file (no
   * generation expected), `stale` when the file no longer has the generation expected.
   */
  | { type: 'decodeFile'; id: number; lane: number; chain: ChainRef; file: LocalFile; key?: string; maxDecodedBytes?: number; target: TargetMessage };

/** Main thread -> worker, once, first: the lane states of this worker (Int32Array over it; see POSTED_WORD). */
export interface InitMessage {
  type: 'init';
  lanes: SharedArrayBuffer;
}

/** Main thread -> worker: skip task `id` if it has not started (its caller aborted; tasks without a lane). */
export interface CancelMessage {
  type: 'cancel';
  id: number;
}

/** Main thread -> worker: several tasks in one message (run in order, as if each had come alone). */
export interface TaskBatch {
  type: 'tasks';
  tasks: TaskMessage[];
}

/** Everything the main thread sends a worker. */
export type WorkerMessage = TaskMessage | TaskBatch | CancelMessage | InitMessage;

/** Worker -> main thread. */
export type ReplyMessage =
  | { type: 'ready' }
  | { type: 'decoded'; id: number; array: ArrayMessage }
  /** A decodeInto task wrote its chunk; `array` is the decoded chunk when it was asked to keep it. */
  | { type: 'placed'; id: number; array?: ArrayMessage }
  /**
   * A decodeInto task with `out`: the decoded chunk is in the lane's output buffer, `byteLength`
   * bytes from its start, laid out as `array` says (element strides and offset into those bytes).
   */
  | { type: 'decodedInLane'; id: number; array: Omit<ArrayMessage, 'data'>; byteLength: number }
  /** `bytes` null: an `unlessFill` array that equals the fill value everywhere (nothing encoded). */
  | { type: 'encoded'; id: number; bytes: Uint8Array | null }
  /** A decodeFile task found no regular file at its path (nothing was written). */
  | { type: 'missing'; id: number }
  /** A decodeFile task found the file changed since its range was located (nothing was written). */
  | { type: 'stale'; id: number }
  /** The task was aborted before it started or before it wrote anything (its lane said so). */
  | { type: 'skipped'; id: number }
  /** `chain`: the worker could not build the chain (a codec registered only on the main thread). */
  | { type: 'error'; id: number; error: SerializedError; chain?: boolean };

/**
 * Worker -> main thread: several replies in one message. A worker holds back the replies that
 * carry no buffers while at least two more of its tasks wait (see codec-worker.ts), so a busy
 * pool wakes the main thread once per few chunks instead of once per chunk; the main thread
 * handles them in order, as if each had come alone.
 */
export interface ReplyBatch {
  type: 'batch';
  replies: ReplyMessage[];
}

/** Everything a worker sends the main thread. */
export type WorkerReply = ReplyMessage | ReplyBatch;

/** An Error as plain data: its class name, message, code and own fields (key, codec, ...). */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  fields: Record<string, unknown>;
}

/** Serializes an error thrown in a worker (any value) for the trip to the main thread. */
export function serializeError(e: unknown): SerializedError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'cause' || k === 'name' || k === 'message' || k === 'stack') continue;
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) fields[k] = v;
  }
  return { name: e.name, message: e.message, stack: e.stack, fields };
}

const ERROR_CLASSES: Record<string, new (...args: never[]) => Error> = (() => {
  const out: Record<string, new (...args: never[]) => Error> = {};
  for (const [name, value] of Object.entries(errors)) {
    if (typeof value === 'function' && (value === errors.VolstoreError || value.prototype instanceof errors.VolstoreError)) {
      out[name] = value as unknown as new (...args: never[]) => Error;
    }
  }
  for (const C of [TypeError, RangeError, SyntaxError]) out[C.name] = C;
  return out;
})();

/**
 * Rebuilds a worker's error on the main thread as the same class (so `instanceof`, `code`,
 * `key` and the message are what the inline path would have thrown). Unknown classes become a
 * plain Error with the same name and message.
 */
export function deserializeError(s: SerializedError): Error {
  const C = ERROR_CLASSES[s.name];
  const e = Object.create((C ?? Error).prototype) as Error;
  Object.defineProperty(e, 'message', { value: s.message, writable: true, configurable: true, enumerable: false });
  Object.assign(e, s.fields);
  Object.defineProperty(e, 'name', { value: s.name, writable: true, configurable: true, enumerable: false });
  if (s.stack) Object.defineProperty(e, 'stack', { value: `${s.stack}\n    (in a volstore codec worker)`, writable: true, configurable: true, enumerable: false });
  return e;
}

/** One worker as the pool sees it (a platform implementation: `node.ts`, `web.ts`). */
export interface WorkerHandle {
  /**
   * Posts a message; `transfer` lists buffers moved (not copied) to the worker (it may be
   * empty); shared memory in `message` is shared, never copied.
   */
  post(message: WorkerMessage, transfer: ArrayBuffer[]): void;
  /** Set by the pool: called with each message from the worker. */
  onMessage?: (message: WorkerReply) => void;
  /** Set by the pool: called once when the worker fails to load, throws uncaught, or exits. */
  onFailure?: (error: Error) => void;
  /** Node: keep the process alive while the worker has work (no-ops in browsers). */
  ref(): void;
  unref(): void;
  /** Stops the worker now (a running task is abandoned); onFailure is not called after. */
  terminate(): void;
}

/** A platform's way to start workers, and its default pool size. */
export interface WorkerPlatform {
  spawn(): WorkerHandle;
  /** Cores available: the default pool size. */
  cores: number;
}
