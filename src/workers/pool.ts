import { bytesOf, dtypeSize, isSharedMemory, viewAs } from '../array/dtype.js';
import type { LocalFile } from '../kvstore/kvstore.js';
import { copyStrided } from '../array/copy.js';
import { cOrderStrides, isAllFill, NdArray, product } from '../array/ndarray.js';
import { placeChunk, placementBytes, placementRunBytes, sharedMemoryAvailable } from '../array/place.js';
import type { ChainRunner, CodecContext, DecodeTarget, RunnableChain } from '../codecs/codec.js';
import { AbortError, CodecError } from '../errors.js';
import type { RequestPriority } from '../util/limiter.js';
import { importNodeOnly } from '../util/node-only.js';
import { log } from '../util/log.js';
import {
  deserializeError, type ArrayMessage, type ChainDescriptor, LANE, MAX_LANES, POSTED_WORD, type ReplyMessage, type TargetMessage, type TaskInput, type TaskMessage, type WorkerHandle, type WorkerMessage, type WorkerPlatform,
} from './protocol.js';

/**
 * A pool of codec workers: `worker_threads` under Node, Web Workers in browsers, behind one
 * interface ({@link WorkerHandle}). It implements the codec seam's {@link ChainRunner}: a
 * `CodecChain` offers it each chunk to decode or encode; the pool takes chunks whose chain does
 * real work (a compressor, compressed_segmentation, jpeg, png, a transpose...) and whose decoded
 * size reaches the crossover ({@link DEFAULT_MIN_POOLED_BYTES}), and declines the rest, which
 * the chain then runs on the calling thread.
 *
 * - Workers start lazily: a chunk offered while no worker is up starts all `size` of them and
 *   runs inline, as do the chunks offered until one worker is ready (starting one costs tens of ms, hundreds
 *   when running from the TypeScript sources), so a first read never waits for them. `warm()`
 *   starts them ahead. They stop after `idleMs` without work; idle workers do not keep a Node
 *   process alive (unref'd).
 * - Input bytes (compressed chunks, arrays to encode) are copied into the task's lane: a shared
 *   buffer per in-flight task of a worker, reused from task to task, so no fresh memory is
 *   allocated and faulted in per chunk (where there is no shared memory, into a buffer of their
 *   own, transferred). Results (decoded arrays, encoded bytes) are transferred back, never copied.
 * - `decodeInto` (the read path): the worker decodes into its own reusable buffers and copies
 *   the chunk straight into the read's result when that is shared memory; only a short reply
 *   comes back. Otherwise the decoded chunk comes back and is placed on the calling thread.
 * - An aborted task leaves at once: a queued one is dropped; a running one rejects with
 *   AbortError and its worker is terminated and replaced, so its slot is free immediately. A
 *   decodeInto task that is already writing into the result is rejected as soon as that copy
 *   ends (never before: the caller may reuse the buffer when the promise settles).
 * - A worker that dies (crash, exit, out of memory) fails its task with {@link WorkerCrashError}
 *   and is replaced on demand. If workers cannot start at all (no worker support, a bundler that
 *   did not ship the worker script), the pool turns itself off and every chunk runs inline.
 * - Work inside a worker never uses a pool (the worker's chains have no runner), so a task
 *   never waits for a slot while holding one: the pool cannot deadlock.
 */

/**
 * Decoded chunk size (bytes) from which decoding or encoding goes to the pool; smaller chunks
 * stay on the calling thread. Measured decoding zstd(3) uint8 chunks into a result (the read
 * path), as CPU time per chunk by thread (load-independent; `volstore bench --workload codecs`,
 * crossover table): a pooled chunk costs ~30-60 us more CPU in all and ~20-45 us of the calling
 * thread; with two free cores the pool is at parity with the calling thread at ~14-32 KiB
 * chunks and ~1.5x from 64 KiB (1.7x at 108-256 KiB, 2x from 864 KiB). 64 KiB: where it clearly
 * pays even with measurement error and a busier machine. Provisional (shared 2-core machine).
 */
export const DEFAULT_MIN_POOLED_BYTES = 64 * 1024;

/**
 * Bytes a plain chunk (nothing to decode) must place into a read's result before the copy goes
 * to a worker (see CodecWorkerPool.take): the copy of a 64 KiB chunk in 64-byte rows costs
 * ~30 us, a worker round trip ~20-40 us of this thread's time.
 */
export const DEFAULT_MIN_PLACED_BYTES = 128 * 1024;

/** How long a worker stays up without work before it is stopped, ms. */
export const DEFAULT_IDLE_MS = 10_000;

export type { WorkerHandle, WorkerPlatform } from './protocol.js';

/**
 * A task's worker died (crashed, ran out of memory, or exited) while running it. The worker is
 * replaced; the task may be retried. `code` is 'codec'.
 */
export class WorkerCrashError extends CodecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('worker', message, options);
    this.name = 'WorkerCrashError';
  }
}

export interface CodecWorkerPoolOptions {
  /** Workers (slots); default: the platform's cores. 0 turns the pool off. */
  size?: number;
  /** Decoded chunk bytes from which decodes go to the pool (default DEFAULT_MIN_POOLED_BYTES). */
  minDecodeBytes?: number;
  /** Decoded chunk bytes from which encodes go to the pool (default DEFAULT_MIN_POOLED_BYTES). */
  minEncodeBytes?: number;
  /** Bytes a plain chunk must place before its copy goes to the pool (default DEFAULT_MIN_PLACED_BYTES). */
  minPlaceBytes?: number;
  /** Idle time before a worker stops, ms (default DEFAULT_IDLE_MS). */
  idleMs?: number;
  /** The platform (default: worker_threads under Node, Web Workers in browsers). */
  platform?: () => Promise<WorkerPlatform | undefined>;
  /**
   * Share memory with the workers (lanes for inputs, results written by workers). Default: where
   * SharedArrayBuffer exists (Node; cross-origin isolated pages). False: buffers are transferred.
   */
  sharedMemory?: boolean;
}

interface Task {
  id: number;
  /** The chain's key (for chains a worker cannot build). */
  chainKey: string;
  /** What errors name the chunk by. */
  key?: string;
  /**
   * Builds the message when the task is sent: its input goes to `input` (into the lane, or a
   * buffer of its own to transfer): given as bytes to copy, or as a length and a function
   * filling that many bytes.
   */
  build: (id: number, lane: number, input: TaskInputFn, output: TaskOutputFn) => { message: TaskMessage; transfer: ArrayBuffer[] };
  /**
   * For replies whose data sits in the task's lane (`decodedInLane`): consumes it synchronously,
   * before the lane is freed for the next task. A throw rejects the task.
   */
  consume?: (reply: ReplyMessage, lane: Lane) => void;
  /** The load's priority: 'prefetch' tasks never occupy every worker (see pump). */
  priority?: RequestPriority;
  /** Stops listening for the priority's raise (set while queued as a prefetch). */
  unraise?: () => void;
  resolve: (reply: ReplyMessage) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  /** Listening to `signal` (through the pool's one listener per signal). */
  listening?: boolean;
  slot?: Slot;
  /** The lane it was sent with (-1: none). */
  lane: number;
  /** Aborted while its worker was writing the result: rejected with this when the reply comes. */
  abortedWith?: Error;
  /**
   * Aborted (and rejected) while its worker was running it: it stays in the worker's pipeline
   * until the worker answers (or is replaced after ABORT_GRACE_MS, `graceTimer`).
   */
  zombie?: boolean;
  graceTimer?: ReturnType<typeof setTimeout>;
}

/** Puts a task's input bytes where the worker will find them (see Task.build). */
type TaskInputFn = (bytes: Uint8Array | number, fill?: (dst: Uint8Array) => void) => TaskInput;
/** The task's lane output buffer, at least `bytes` long (reused), or undefined (no lane, or too big). */
type TaskOutputFn = (bytes: number) => SharedArrayBuffer | undefined;

/** One in-flight task's share of a worker: an input buffer (reused) and a state word. */
interface Lane {
  /** Shared input buffer, grown as needed (inputs up to MAX_LANE_BYTES). */
  buffer?: SharedArrayBuffer;
  /** Shared output buffer (decodeInto into memory workers cannot reach), grown as needed. */
  out?: SharedArrayBuffer;
  /** The task holding the lane until its reply (or its worker's death): its id, 0 when free. */
  taskId: number;
}

interface Slot {
  handle: WorkerHandle;
  state: 'starting' | 'ready' | 'dead';
  /** Tasks sent to this worker, oldest (the one running) first; at most PIPELINE. */
  tasks: Task[];
  /** Lane states shared with the worker (see LANE); undefined without shared memory. */
  laneStates?: Int32Array;
  lanes: Lane[];
  /** Closing (the pool closed, or the worker is to be replaced) once its writing task replies. */
  retireAfterReply?: boolean;
  /** Ids of the chain descriptors this worker was sent (later tasks send only the id). */
  sentChains: Set<number>;
  /** Tasks assigned to it and not posted yet (pump posts them at its end, see post). */
  outbox?: Outgoing[];
  idleTimer?: ReturnType<typeof setTimeout>;
}

/** A task assigned to a worker, its message built, waiting to be posted. */
interface Outgoing {
  task: Task;
  desc: ChainDescriptor;
  message: TaskMessage;
  transfer: ArrayBuffer[];
}

/**
 * Destination rows at least this long are copied about as fast as the pool could copy the
 * chunk into a lane: a plain chunk placed in rows this long into a result already touched
 * stays on the calling thread.
 */
const MIN_CONTIGUOUS_RUN = 1024;

/**
 * How long a worker may keep running a task whose caller aborted (its lane already keeps it
 * from writing anything) before it is stopped and replaced: long enough for any sane chunk to
 * finish, short for a decoder that hangs.
 */
const ABORT_GRACE_MS = 250;

/**
 * Workers from which chunks of plain chains (nothing to decode) go to the pool to be copied
 * into a read's result. On 2 cores, measured (CPU by thread, raw 512^3 reads): the pool moves
 * ~30-90 ms of copying and page faults off the calling thread but adds ~40 ms of lane copies
 * and messages, so the 2-core wall time is a wash; with more cores the calling thread is the
 * bottleneck and the pool wins.
 */
const MIN_WORKERS_FOR_PLAIN = 3;

/**
 * Workers from which chunks of plain chains whose stored bytes lie in local files go to the pool
 * (decodeFileInto): a worker reads the file and copies the chunk into the result, so the calling
 * thread neither copies nor reads, and nothing is copied into a lane.
 */
const MIN_WORKERS_FOR_PLAIN_FILES = 2;

/** Largest input copied into a lane (bigger ones get a buffer of their own, transferred). */
const MAX_LANE_BYTES = 16 * 1024 * 1024;

/**
 * Tasks in flight per worker: the one running plus some waiting in its message queue, so a worker
 * goes straight to its next chunk instead of sleeping for a round trip to the main thread. Four:
 * a busy worker holds back its replies while two or more tasks wait (codec-worker.ts), answers
 * for up to three chunks in one message, and still has one to decode while the main thread
 * handles them and sends three more (measured, 61 zstd 64^3 chunks: 61 reply messages -> ~23).
 */
export const PIPELINE = 4;

/** Where a task writes its chunk: the shared result's bytes and the placement in them (posted as data). */
function targetMessage(target: DecodeTarget): TargetMessage {
  const dst = target.dst;
  return { buffer: dst.buffer as SharedArrayBuffer, byteOffset: dst.byteOffset, byteLength: dst.byteLength, placement: target.placement };
}

/** Thrown inside the pool when a task cannot run in a worker; the caller runs it inline. */
class RunInline extends Error {}

/** Pool counters, for tests and benchmarks. */
export interface PoolStats {
  /** Workers started. */
  spawned: number;
  /** Workers that died with a task (each failed that task with WorkerCrashError). */
  crashed: number;
  /** Tasks a worker completed (successfully or with the codec's own error). */
  completed: number;
  /** Running tasks aborted (their workers were replaced). */
  abortedRunning: number;
  /** Chunks handed back to run inline (the pool turned off, or a worker cannot build the chain). */
  inline: number;
  /** decodeInto tasks whose worker wrote the chunk into the result itself (shared memory). */
  placed: number;
  /** decodeInto tasks into memory workers cannot reach whose chunk came back in the task's lane. */
  laneDecoded: number;
  /** Chunks a worker read from their local file itself, then decoded and placed (decodeFileInto). */
  fileRead: number;
  /** Messages from workers that answered for several tasks at once (see ReplyBatch). */
  replyBatches: number;
}

export class CodecWorkerPool implements ChainRunner {
  readonly minDecodeBytes: number;
  readonly minEncodeBytes: number;
  readonly minPlaceBytes: number;
  readonly idleMs: number;
  readonly stats: PoolStats = { spawned: 0, crashed: 0, completed: 0, abortedRunning: 0, inline: 0, placed: 0, laneDecoded: 0, fileRead: 0, replyBatches: 0 };
  /** Whether workers share memory with this thread (lanes, results written by workers). */
  readonly sharedMemory: boolean;
  private readonly requestedSize: number | undefined;
  private readonly loadPlatform: () => Promise<WorkerPlatform | undefined>;
  private platform: WorkerPlatform | undefined;
  private platformLoading = false;
  private slots: Slot[] = [];
  private queue: Task[] = [];
  private nextId = 1;
  private off = false;
  private everReady = false;
  private warming = false;
  private readyWaiters: ((ready: boolean) => void)[] = [];
  private startupFailures = 0;
  private readonly noWorkerChains = new Set<string>();
  /** Handling a worker's batch of replies (pump waits for its end). */
  private batching = false;
  /** Signals watched for the tasks submitted under them (see listen). */
  private readonly watched = new Map<AbortSignal, { tasks: Set<Task>; onAbort: () => void }>();

  constructor(options: CodecWorkerPoolOptions = {}) {
    this.requestedSize = options.size;
    this.minDecodeBytes = options.minDecodeBytes ?? DEFAULT_MIN_POOLED_BYTES;
    this.minEncodeBytes = options.minEncodeBytes ?? DEFAULT_MIN_POOLED_BYTES;
    this.minPlaceBytes = options.minPlaceBytes ?? DEFAULT_MIN_PLACED_BYTES;
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.loadPlatform = options.platform ?? defaultPlatform;
    this.sharedMemory = options.sharedMemory ?? sharedMemoryAvailable();
    if (options.size === 0) this.off = true;
  }

  /**
   * Worker slots: the platform's cores unless set (0 = off); before the platform has loaded,
   * the cores this runtime reports (see coresHere).
   */
  get size(): number {
    if (this.requestedSize === 0) return 0;
    return this.requestedSize ?? this.platform?.cores ?? coresHere();
  }

  /** Whether the pool may take work (false once closed, or when workers cannot start here). */
  get enabled(): boolean {
    return !this.off;
  }

  /** Workers running now (starting or ready). */
  get workers(): number {
    return this.slots.length;
  }

  /** Tasks sent to workers and not answered yet. */
  get running(): number {
    return this.slots.reduce((n, s) => n + s.tasks.length, 0);
  }

  /** Tasks waiting for a worker. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Tasks a worker has started and not finished, as their lanes say (0 without shared memory):
   * a diagnostic for tests and benchmarks.
   */
  get executing(): number {
    let n = 0;
    for (const s of this.slots) {
      if (!s.laneStates) continue;
      for (let i = 0; i < MAX_LANES; i++) {
        const st = Atomics.load(s.laneStates, i);
        if ((st === LANE.RUNNING || st === LANE.PLACING) && s.lanes[i]?.taskId) n++;
      }
    }
    return n;
  }

  /**
   * Whether a read of a `chain` array whose result is `bytes` long should allocate that result
   * in shared memory, so that this pool's workers write decoded chunks into it themselves
   * (see {@link decodeInto}): the pool is on, shares memory, and takes this chain's chunks
   * (plain chunks from MIN_WORKERS_FOR_PLAIN workers, or MIN_WORKERS_FOR_PLAIN_FILES with
   * `fileReads`: the workers read them from local files, see {@link decodeFileInto}).
   */
  wantsSharedResult(chain: RunnableChain, bytes: number, fileReads = false): boolean {
    if (!this.sharedMemory || this.off) return false;
    if (chain.costly) return bytes >= this.minDecodeBytes && chunkBytes(chain) >= this.minDecodeBytes;
    return this.size >= (fileReads ? MIN_WORKERS_FOR_PLAIN_FILES : MIN_WORKERS_FOR_PLAIN) && bytes >= this.minPlaceBytes && chunkBytes(chain) >= this.minPlaceBytes;
  }

  /**
   * Starts the workers (all `size`) if they are not running; resolves true once one is ready to
   * take work, false when the pool is off (closed, or workers cannot start here).
   */
  warm(): Promise<boolean> {
    if (this.off) return Promise.resolve(false);
    if (this.slots.some((s) => s.state === 'ready')) return Promise.resolve(true);
    const ready = new Promise<boolean>((resolve) => this.readyWaiters.push(resolve));
    this.startWarming();
    return ready;
  }

  /** Decodes in a worker; the decoded chunk is transferred back. Undefined: declined (run inline). */
  decode(chain: RunnableChain, b: Uint8Array, ctx: CodecContext): Promise<NdArray> | undefined {
    const desc = this.take(chain, this.minDecodeBytes);
    if (!desc) return undefined;
    const build: Task['build'] = (id, lane, input) => {
      const message: TaskMessage = { type: 'decode', id, lane, chain: desc, input: input(b), key: ctx.key, maxDecodedBytes: ctx.maxDecodedBytes };
      return { message, transfer: transferOf(message.input) };
    };
    return this.submit(desc.key, ctx.key, build, ctx).then(
      (reply) => {
        if (reply.type !== 'decoded') throw new Error(`codec worker: unexpected reply ${reply.type}`);
        return toNdArray(reply.array);
      },
      (e: unknown) => {
        if (!(e instanceof RunInline)) throw e;
        this.stats.inline++;
        return chain.decodeInline(b, { ...ctx, runner: undefined });
      },
    );
  }

  /**
   * Decodes in a worker and places the chunk into `target` (see ChainRunner.decodeInto). With
   * a shared-memory target, the worker decodes into its scratch buffers and writes the result
   * itself (`stats.placed`); otherwise the decoded chunk comes back and is placed here. The
   * promise settles only once the worker can no longer write into `target.dst` (the lane
   * handshake, see LANE). Undefined: declined (the chain decodes and places inline).
   */
  decodeInto(chain: RunnableChain, b: Uint8Array, ctx: CodecContext, target: DecodeTarget): Promise<NdArray | undefined> | undefined {
    if (!this.sharedMemory || !isSharedMemory(target.dst)) {
      // The worker cannot write there: decode there, place here. With shared memory and a
      // chunk the cache does not keep, the decoded chunk comes back in the lane's reused output
      // buffer and is placed from there as the reply arrives; else a buffer of its own.
      if (!this.sharedMemory || target.keep) {
        const decoded = this.decode(chain, b, ctx);
        return decoded?.then((a) => {
          placeChunk(target.dst, target.placement, a);
          return target.keep ? a : undefined;
        });
      }
      return this.decodeViaLane(chain, b, ctx, target);
    }
    const desc = this.take(chain, this.minDecodeBytes, target);
    if (!desc) return undefined;
    const keep = target.keep === true;
    const build: Task['build'] = (id, lane, input) => {
      const message: TaskMessage = {
        type: 'decodeInto', id, lane, chain: desc, input: input(b), key: ctx.key, maxDecodedBytes: ctx.maxDecodedBytes, keep, target: targetMessage(target),
      };
      return { message, transfer: transferOf(message.input) };
    };
    return this.submit(desc.key, ctx.key, build, ctx).then(
      (reply) => {
        if (reply.type !== 'placed') throw new Error(`codec worker: unexpected reply ${reply.type}`);
        this.stats.placed++;
        return reply.array ? toNdArray(reply.array) : undefined;
      },
      (e: unknown) => this.intoInline(e, chain, b, ctx, target),
    );
  }

  /**
   * See ChainRunner.decodeFileInto: a worker reads the chunk file itself, decodes and places
   * the chunk into the shared result (`stats.fileRead`). Declined (undefined) where decodeInto
   * would not write the result in a worker (no shared memory, a target that keeps the chunk, a
   * chunk the pool would not take), and when the store allows fewer concurrent file operations
   * than the pool has workers (each worker reads one file at a time, with blocking calls: the
   * tasks waiting in its pipeline read nothing yet).
   */
  decodeFileInto(chain: RunnableChain, file: LocalFile, ctx: CodecContext, target: DecodeTarget): Promise<'placed' | 'missing' | undefined> | undefined {
    if (!this.sharedMemory || !isSharedMemory(target.dst) || target.keep) return undefined;
    // workers read outside the store's limit on concurrent file operations: only when they can
    // never have more reads in flight than it allows (a lowered file_io_concurrency is kept)
    if (file.maxConcurrent !== undefined && file.maxConcurrent < this.size) return undefined;
    const desc = this.take(chain, this.minDecodeBytes, target, true);
    if (!desc) return undefined;
    const { path, range, generation } = file; // data only: it is posted
    const build: Task['build'] = (id, lane) => {
      const message: TaskMessage = {
        type: 'decodeFile', id, lane, chain: desc, file: { path, range, generation }, key: ctx.key, maxDecodedBytes: ctx.maxDecodedBytes, target: targetMessage(target),
      };
      return { message, transfer: [] };
    };
    return this.submit(desc.key, ctx.key, build, ctx).then(
      (reply) => {
        if (reply.type === 'missing') return 'missing';
        if (reply.type === 'stale') return undefined; // changed since located: the caller reads it
        if (reply.type !== 'placed') throw new Error(`codec worker: unexpected reply ${reply.type}`);
        this.stats.placed++;
        this.stats.fileRead++;
        return 'placed';
      },
      (e: unknown) => {
        if (!(e instanceof RunInline)) throw e;
        this.stats.inline++;
        return undefined; // handed back: the caller reads and decodes it
      },
    );
  }

  /** decodeInto for a result workers cannot write: the chunk comes back in the task's lane. */
  private decodeViaLane(chain: RunnableChain, b: Uint8Array, ctx: CodecContext, target: DecodeTarget): Promise<undefined> | undefined {
    const desc = this.take(chain, this.minDecodeBytes);
    if (!desc) return undefined;
    const build: Task['build'] = (id, lane, input, output) => {
      const message: TaskMessage = {
        type: 'decodeInto', id, lane, chain: desc, input: input(b), key: ctx.key, maxDecodedBytes: ctx.maxDecodedBytes, keep: false,
        out: output(chunkBytes(chain)), placement: target.placement,
      };
      return { message, transfer: transferOf(message.input) };
    };
    const consume = (reply: ReplyMessage, lane: Lane) => {
      if (reply.type !== 'decodedInLane' || !lane.out) return;
      const { dtype, shape, strides, offset } = reply.array;
      const data = viewAs(dtype, new Uint8Array(lane.out, 0, reply.byteLength));
      placeChunk(target.dst, target.placement, new NdArray(dtype, data as never, shape, strides, offset));
      this.stats.laneDecoded++;
    };
    return this.submit(desc.key, ctx.key, build, ctx, consume).then(
      (reply) => {
        if (reply.type === 'decoded') placeChunk(target.dst, target.placement, toNdArray(reply.array));
        else if (reply.type !== 'decodedInLane') throw new Error(`codec worker: unexpected reply ${reply.type}`);
        return undefined;
      },
      (e: unknown) => this.intoInline(e, chain, b, ctx, target) as Promise<undefined>,
    );
  }

  /** A decodeInto task the pool handed back (RunInline): the chain decodes and places it here. */
  private intoInline(e: unknown, chain: RunnableChain, b: Uint8Array, ctx: CodecContext, target: DecodeTarget): Promise<NdArray | undefined> {
    if (!(e instanceof RunInline)) throw e;
    this.stats.inline++;
    return chain.decodeInto(b, { ...ctx, runner: undefined }, target);
  }

  /**
   * Encodes in a worker. The array may have any strides: one in shared memory travels as it is
   * (the worker reads it in place); any other is gathered in C order into the task's lane (or a
   * buffer of its own, transferred).
   */
  encode(chain: RunnableChain, a: NdArray, ctx: CodecContext): Promise<Uint8Array> | undefined {
    return this.encodeTask(chain, a, ctx, false) as Promise<Uint8Array> | undefined;
  }

  /** encode, resolving to null when `a` equals the chain's fill value everywhere (checked in the worker). */
  encodeUnlessFill(chain: RunnableChain, a: NdArray, ctx: CodecContext): Promise<Uint8Array | null> | undefined {
    return this.encodeTask(chain, a, ctx, true);
  }

  private encodeTask(chain: RunnableChain, a: NdArray, ctx: CodecContext, unlessFill: boolean): Promise<Uint8Array | null> | undefined {
    const desc = this.take(chain, this.minEncodeBytes);
    if (!desc) return undefined;
    const size = dtypeSize(a.dtype);
    const n = product(a.shape);
    const strides = cOrderStrides(a.shape);
    const inPlace = this.sharedMemory && isSharedMemory(a.data);
    const build: Task['build'] = (id, lane, input) => {
      let array: ArrayMessage;
      let transfer: ArrayBuffer[] = [];
      if (inPlace) {
        array = { dtype: a.dtype, data: a.data, shape: [...a.shape], strides: [...a.strides], offset: a.offset };
      } else {
        const inp = input(n * size, (dst) => copyStrided(dst, 0, strides.map((s) => s * size), bytesOf(a.data), a.offset * size, a.strides.map((s) => s * size), a.shape, size));
        const bytes = 'shared' in inp ? new Uint8Array(inp.shared, 0, inp.length) : inp.bytes;
        array = { dtype: a.dtype, data: viewAs(a.dtype, bytes), shape: [...a.shape], strides, offset: 0 };
        transfer = transferOf(inp);
      }
      const message: TaskMessage = { type: 'encode', id, lane, chain: desc, array, key: ctx.key, unlessFill };
      return { message, transfer };
    };
    return this.submit(desc.key, ctx.key, build, ctx).then(
      (reply) => {
        if (reply.type !== 'encoded') throw new Error(`codec worker: unexpected reply ${reply.type}`);
        return reply.bytes;
      },
      (e: unknown) => {
        if (!(e instanceof RunInline)) throw e;
        this.stats.inline++;
        if (unlessFill && isAllFill(a, chain.spec.fillValue)) return null;
        return chain.encodeInline(a, { ...ctx, runner: undefined });
      },
    );
  }

  /**
   * Stops every worker now. Tasks in workers reject with AbortError (a decodeInto task writing
   * into its result when the pool closes is rejected, and its worker stopped, once that copy
   * ends); queued ones and later chunks run inline. Idempotent.
   */
  close(): void {
    this.off = true;
    for (const r of this.readyWaiters.splice(0)) r(false);
    for (const slot of this.slots) {
      const err = new AbortError('codec worker pool closed');
      const tasks = slot.tasks.splice(0);
      for (const t of tasks) {
        if (t.zombie) {
          if (t.graceTimer !== undefined) clearTimeout(t.graceTimer);
          continue; // settled already
        }
        if (this.claimAbort(slot, t) === LANE.PLACING) {
          // writing into its caller's memory: rejected (and the worker stopped) when that ends
          t.abortedWith = err;
          slot.tasks.push(t);
        } else {
          this.finish(t, () => t.reject(err));
        }
      }
      if (slot.tasks.length) slot.retireAfterReply = true;
      else this.retire(slot);
    }
    this.slots = [];
    for (const t of this.queue.splice(0)) this.finish(t, () => t.reject(new RunInline()));
  }

  /**
   * The chain's descriptor when the pool takes this chunk, else undefined (run inline). Chains
   * that do real work go when the chunk reaches `min` bytes; chunks of plain chains (`bytes`,
   * nothing to decode) only with a placement `target` whose copy is worth a core: at least
   * `minPlaceBytes`, into a fresh result (page faults) or in short rows (word loops).
   */
  private take(chain: RunnableChain, min: number, target?: DecodeTarget, fileRead = false): ChainDescriptor | undefined {
    if (this.off) return undefined;
    if (chain.costly) {
      if (chunkBytes(chain) < min) return undefined;
    } else {
      // plain chunks: only with cores to spare (with two, the lane copy and messages cost about
      // what moving the copy off this thread saves: bench zarr3-file, raw layouts), or when the
      // worker reads the chunk's file itself (no lane copy; the calling thread does no I/O)
      if (!target || this.size < (fileRead ? MIN_WORKERS_FOR_PLAIN_FILES : MIN_WORKERS_FOR_PLAIN)) return undefined;
      const size = dtypeSize(chain.spec.dtype);
      if (placementBytes(target.placement, size) < this.minPlaceBytes) return undefined;
      if (!fileRead && !target.fresh && placementRunBytes(target.placement, size) >= MIN_CONTIGUOUS_RUN) return undefined;
    }
    const desc = describe(chain);
    if (this.noWorkerChains.has(desc.key)) return undefined;
    if (!this.slots.some((s) => s.state === 'ready')) {
      // no worker is up (yet, or any more): start them, and do not wait for them
      this.startWarming();
      return undefined;
    }
    return desc;
  }

  /** Starts the workers without waiting for them. */
  private startWarming(): void {
    this.warming = true;
    this.pump();
  }

  private submit(
    chainKey: string, key: string | undefined, build: Task['build'], ctx: CodecContext, consume?: Task['consume'],
  ): Promise<ReplyMessage> {
    const { signal, priority } = ctx;
    return new Promise<ReplyMessage>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortError('operation aborted', { cause: signal.reason }));
      const task: Task = { id: 0, chainKey, key, build, resolve, reject, signal, lane: -1, consume, priority };
      // a prefetch a demand read joins while it waits here goes ahead of the other prefetches
      if (priority?.level === 'prefetch') task.unraise = priority.onRaise(() => this.pump());
      if (signal) this.listen(task, signal);
      this.queue.push(task);
      this.pump();
    });
  }

  /**
   * Watches `signal` for `task`: one listener per signal for all its tasks (a read has dozens of
   * chunks in flight under one signal; a listener each would trip Node's leak warning).
   */
  private listen(task: Task, signal: AbortSignal): void {
    let entry = this.watched.get(signal);
    if (!entry) {
      const tasks = new Set<Task>();
      const onAbort = () => {
        for (const t of [...tasks]) this.abort(t);
      };
      entry = { tasks, onAbort };
      this.watched.set(signal, entry);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    entry.tasks.add(task);
    task.listening = true;
  }

  private unlisten(task: Task): void {
    task.listening = false;
    const signal = task.signal!;
    const entry = this.watched.get(signal);
    if (!entry) return;
    entry.tasks.delete(task);
    if (entry.tasks.size === 0) {
      signal.removeEventListener('abort', entry.onAbort);
      this.watched.delete(signal);
    }
  }

  /** Settles a task once: detaches its abort listener, then runs `settle`. */
  private finish(task: Task, settle: () => void): void {
    if (task.listening) this.unlisten(task);
    task.unraise?.();
    task.unraise = undefined;
    task.slot = undefined;
    settle();
  }

  /**
   * Marks a sent task aborted in its lane; returns the state it was in. PENDING or RUNNING:
   * now ABORTED, the worker will neither start nor write anything for it. PLACING: the worker
   * is writing its result (the caller must wait for the reply). DONE: written already. Tasks
   * without a lane return PENDING.
   */
  private claimAbort(slot: Slot, task: Task): number {
    const states = slot.laneStates;
    if (!states || task.lane < 0) return LANE.PENDING;
    for (;;) {
      const s = Atomics.load(states, task.lane);
      if (s !== LANE.PENDING && s !== LANE.RUNNING) return s;
      if (Atomics.compareExchange(states, task.lane, s, LANE.ABORTED) === s) return s;
    }
  }

  private abort(task: Task): void {
    const err = new AbortError('operation aborted', { cause: task.signal?.reason });
    const i = this.queue.indexOf(task);
    if (i >= 0) {
      this.queue.splice(i, 1);
      this.finish(task, () => task.reject(err));
      return;
    }
    const slot = task.slot;
    const k = slot ? slot.tasks.indexOf(task) : -1;
    if (!slot || k < 0) return;
    const state = this.claimAbort(slot, task);
    if (state === LANE.PLACING) {
      // the worker is copying the chunk into the caller's memory: a bounded copy (no codec
      // runs any more); the task rejects when it replies, never before
      task.abortedWith = err;
      return;
    }
    const lanes = slot.laneStates !== undefined && task.lane >= 0;
    if (lanes && state === LANE.RUNNING) {
      // Running: its lane now tells the worker not to write anything, so the caller can go at
      // once. The worker finishes the decode (a chunk takes milliseconds) unless it is stuck:
      // past ABORT_GRACE_MS it is stopped and replaced (restarting one costs far more than
      // letting a chunk finish). Until it answers, the task holds its place in the pipeline.
      task.zombie = true;
      this.armGrace(slot, task);
    } else if (k === 0 && !lanes) {
      // Running, and no lanes to tell it (no shared memory): stop the worker, free the slot
      // now, and send the tasks queued behind it to other workers.
      this.stats.abortedRunning++;
      slot.tasks.shift();
      this.remove(slot);
      this.requeue(slot);
      this.retire(slot);
    } else {
      // Not started (its lane now tells the worker to skip it: the lane stays taken until the
      // worker says so), or done: its place in the pipeline goes to the next task.
      slot.tasks.splice(k, 1);
      if (!lanes) {
        try {
          slot.handle.post({ type: 'cancel', id: task.id }, []);
        } catch {
          // the reply, if any, is ignored anyway
        }
      }
      this.settled(slot);
    }
    this.finish(task, () => task.reject(err));
    this.pump();
  }

  /** Replaces `slot`'s worker if it is still on aborted task `task` after ABORT_GRACE_MS. */
  private armGrace(slot: Slot, task: Task): void {
    const timer = setTimeout(() => {
      if (slot.state === 'dead' || !slot.tasks.includes(task)) return;
      this.stats.abortedRunning++;
      this.remove(slot);
      slot.tasks.splice(slot.tasks.indexOf(task), 1);
      this.requeue(slot);
      this.retire(slot);
      this.pump();
    }, ABORT_GRACE_MS);
    (timer as { unref?: () => void }).unref?.();
    task.graceTimer = timer;
  }

  /**
   * Puts the tasks a worker had not finished back at the head of the queue (in order). Their
   * lanes in that worker are marked aborted first: a worker being terminated may still reach
   * them before it stops, and must not run them (nor write results) a second time.
   */
  private requeue(slot: Slot): void {
    const tasks = slot.tasks.splice(0).filter((t) => {
      if (t.graceTimer !== undefined) clearTimeout(t.graceTimer);
      return !t.zombie; // settled already
    });
    for (const t of tasks) {
      this.claimAbort(slot, t);
      t.slot = undefined;
      t.lane = -1;
    }
    this.queue.unshift(...tasks);
  }

  /** Sends queued tasks to workers with room for them (see dispatch), then posts them (see post). */
  private pump(): void {
    if (this.batching) return; // the batch's handler pumps once at its end
    this.dispatch();
    for (const s of this.slots) if (s.outbox) this.post(s);
  }

  private dispatch(): void {
    if (this.off) {
      for (const t of this.queue.splice(0)) this.finish(t, () => t.reject(new RunInline()));
      return;
    }
    if (!this.platform) {
      this.startPlatform();
      return;
    }
    if (this.warming) {
      this.warming = false;
      while (this.slots.length < this.size) if (!this.startWorker()) return;
    }
    while (this.queue.length) {
      // demand tasks first (in order), then prefetch ones, each to the worker slotFor picks
      // (a prefetch task's worker is a demand task's too, never the other way round: prefetch
      // tasks are looked at only when no demand task waits)
      const di = this.queue.findIndex((t) => !isBackground(t));
      const index = di >= 0 ? di : 0;
      const best = this.slotFor(di < 0);
      if (best) {
        this.assign(best, this.queue.splice(index, 1)[0]!);
        continue;
      }
      const starting = this.slots.filter((s) => s.state === 'starting').length;
      if (this.queue.length > starting * PIPELINE && this.slots.length < this.size) {
        if (!this.startWorker()) return;
        continue;
      }
      break;
    }
    // Starting workers keep a Node process alive only while tasks (or warm() callers) wait for
    // them; otherwise a process may exit while a background warm-up is under way.
    const waiting = this.queue.length > 0 || this.readyWaiters.length > 0;
    for (const s of this.slots) if (s.state === 'starting') (waiting ? s.handle.ref() : s.handle.unref());
  }

  /**
   * The worker a task goes to: a ready one with room in its pipeline and a free lane, the
   * fewest tasks first. Demand tasks prefer workers without prefetch work. Prefetch tasks
   * (`background`) go only to a worker already on prefetch work, or to an idle one while fewer
   * than size - 1 workers have prefetch work: a demand chunk always finds a worker free of
   * prefetch decodes (with one worker, prefetches wait until it is idle).
   */
  private slotFor(background: boolean): Slot | undefined {
    const cap = Math.max(1, this.size - 1);
    let busyWithBackground = 0;
    for (const s of this.slots) if (s.tasks.some(isBackground)) busyWithBackground++;
    let best: Slot | undefined;
    let bestScore = Infinity;
    for (const s of this.slots) {
      if (s.state !== 'ready' || s.tasks.length >= PIPELINE || (s.laneStates && freeLane(s) < 0)) continue;
      const onBackground = s.tasks.some(isBackground);
      if (background && !onBackground && !(s.tasks.length === 0 && busyWithBackground < cap)) continue;
      const score = s.tasks.length + (!background && onBackground ? PIPELINE : 0);
      if (score < bestScore) {
        best = s;
        bestScore = score;
      }
    }
    return best;
  }

  private startPlatform(): void {
    if (this.platformLoading) return;
    this.platformLoading = true;
    this.loadPlatform().then(
      (p) => {
        if (!p || p.cores < 1) return this.turnOff('workers are not available here');
        this.platform = p;
        this.pump();
      },
      (e: unknown) => this.turnOff(`cannot load the worker platform: ${e instanceof Error ? e.message : String(e)}`),
    );
  }

  /** Turns the pool off for good; queued tasks run inline. */
  private turnOff(why: string): void {
    if (!this.off) log.debug(`codec worker pool off (chunks decode on the calling thread): ${why}`);
    this.off = true;
    for (const r of this.readyWaiters.splice(0)) r(false);
    // workers without tasks go now; busy ones finish their tasks and stop when idle
    for (const s of this.slots.filter((x) => x.tasks.length === 0)) {
      this.remove(s);
      this.retire(s);
    }
    this.pump();
  }

  private startWorker(): boolean {
    let handle: WorkerHandle;
    try {
      handle = this.platform!.spawn();
    } catch (e) {
      this.turnOff(`cannot start a worker: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
    const slot: Slot = { handle, state: 'starting', tasks: [], lanes: [], sentChains: new Set() };
    handle.onMessage = (m) => {
      if (m.type !== 'batch') return this.onReply(slot, m);
      this.stats.replyBatches++;
      // one pump after all of them: the worker's freed pipeline places are refilled at once
      this.batching = true;
      try {
        for (const r of m.replies) this.onReply(slot, r);
      } finally {
        this.batching = false;
      }
      this.pump();
    };
    handle.onFailure = (e) => this.onFailure(slot, e);
    this.slots.push(slot);
    this.stats.spawned++;
    return true;
  }

  private assign(slot: Slot, task: Task): void {
    if (slot.idleTimer !== undefined) clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    task.id = this.nextId++; // a fresh id per send: a requeued task is a new message
    task.lane = slot.laneStates ? freeLane(slot) : -1;
    const lane = task.lane >= 0 ? slot.lanes[task.lane] ?? (slot.lanes[task.lane] = { taskId: 0 }) : undefined;
    const input: TaskInputFn = (bytes, fill) => {
      const length = typeof bytes === 'number' ? bytes : bytes.length;
      const write = (dst: Uint8Array) => (typeof bytes === 'number' ? fill!(dst) : dst.set(bytes));
      if (!lane || length > MAX_LANE_BYTES) {
        const own = new Uint8Array(length); // our own buffer, transferred
        write(own);
        return { bytes: own };
      }
      if (!lane.buffer || lane.buffer.byteLength < length) {
        lane.buffer = new SharedArrayBuffer(Math.min(MAX_LANE_BYTES, Math.max(length, 2 * (lane.buffer?.byteLength ?? 0), 64 * 1024)));
      }
      write(new Uint8Array(lane.buffer, 0, length));
      return { shared: lane.buffer, length };
    };
    const output: TaskOutputFn = (bytes) => {
      if (!lane || bytes > MAX_LANE_BYTES) return undefined;
      if (!lane.out || lane.out.byteLength < bytes) lane.out = new SharedArrayBuffer(bytes);
      return lane.out;
    };
    let sent: { message: TaskMessage; transfer: ArrayBuffer[] };
    try {
      if (slot.laneStates && task.lane >= 0) Atomics.store(slot.laneStates, task.lane, LANE.PENDING);
      sent = task.build(task.id, task.lane, input, output);
    } catch (e) {
      log.debug(`codec worker: cannot build a task (${e instanceof Error ? e.message : String(e)})`);
      task.lane = -1;
      this.finish(task, () => task.reject(new RunInline()));
      return;
    }
    // the descriptor goes with the worker's first task of this chain, later ones carry its id
    const desc = sent.message.chain as ChainDescriptor;
    if (slot.sentChains.has(desc.id)) sent.message.chain = desc.id;
    else slot.sentChains.add(desc.id);
    (slot.outbox ??= []).push({ task, desc, message: sent.message, transfer: sent.transfer });
    if (lane) lane.taskId = task.id;
    slot.tasks.push(task);
    task.slot = slot;
    slot.handle.ref();
  }

  /**
   * Posts the tasks assigned to `slot` since its last post: one message for all of them (a
   * `tasks` batch when several), so refilling a worker's pipeline after a batch of replies costs
   * one post (and at most one wake-up of the worker) instead of one per task. The tasks are
   * counted in the worker's POSTED_WORD before the worker can see them.
   */
  private post(slot: Slot): void {
    const out = slot.outbox;
    slot.outbox = undefined;
    if (!out?.length) return;
    const states = slot.laneStates;
    if (states) Atomics.add(states, POSTED_WORD, out.length);
    try {
      if (out.length === 1) slot.handle.post(out[0]!.message, out[0]!.transfer);
      else slot.handle.post({ type: 'tasks', tasks: out.map((o) => o.message) }, [...new Set(out.flatMap((o) => o.transfer))]);
      return;
    } catch (e) {
      if (states) Atomics.sub(states, POSTED_WORD, out.length);
      if (out.length === 1) return this.unsend(slot, out[0]!, e);
    }
    // one of them cannot be posted: each on its own, so only that one runs inline
    for (const o of out) {
      // a descriptor that did not reach the worker goes with the next task of its chain
      if (typeof o.message.chain === 'number' && !slot.sentChains.has(o.desc.id)) o.message.chain = o.desc;
      if (states) Atomics.add(states, POSTED_WORD, 1);
      try {
        slot.handle.post(o.message, o.transfer);
        slot.sentChains.add(o.desc.id);
      } catch (e) {
        if (states) Atomics.sub(states, POSTED_WORD, 1);
        this.unsend(slot, o, e);
      }
    }
  }

  /** A task whose message could not be posted (not clonable: should not happen): it runs inline. */
  private unsend(slot: Slot, o: Outgoing, e: unknown): void {
    log.debug(`codec worker: cannot post a task (${e instanceof Error ? e.message : String(e)})`);
    if (typeof o.message.chain === 'object') slot.sentChains.delete(o.desc.id);
    const { task } = o;
    const k = slot.tasks.indexOf(task);
    if (k >= 0) slot.tasks.splice(k, 1);
    for (const lane of slot.lanes) if (lane?.taskId === task.id) lane.taskId = 0;
    task.lane = -1;
    this.finish(task, () => task.reject(new RunInline()));
    this.settled(slot);
  }

  /** After a task of `slot` settled: an empty worker is unref'd and arms its idle timer. */
  private settled(slot: Slot): void {
    if (slot.tasks.length || slot.state !== 'ready') return;
    slot.handle.unref();
    if (this.off) {
      this.remove(slot);
      this.retire(slot);
      return;
    }
    if (this.idleMs < Infinity && slot.idleTimer === undefined) {
      slot.idleTimer = setTimeout(() => {
        slot.idleTimer = undefined;
        if (slot.state !== 'ready' || slot.tasks.length) return;
        this.remove(slot);
        this.retire(slot);
      }, this.idleMs);
      (slot.idleTimer as { unref?: () => void }).unref?.();
    }
  }

  private onReply(slot: Slot, m: ReplyMessage): void {
    if (slot.state === 'dead') return;
    if (m.type === 'ready') {
      // the worker listens now (a message sent before could be lost in a browser): share its
      // lane states
      if (this.sharedMemory) {
        try {
          const lanes = new SharedArrayBuffer(4 * (MAX_LANES + 1));
          slot.handle.post({ type: 'init', lanes }, []);
          slot.laneStates = new Int32Array(lanes);
        } catch (e) {
          // shared memory cannot reach workers here after all: transfer buffers instead
          log.debug(`codec worker pool: no shared memory with workers (${e instanceof Error ? e.message : String(e)})`);
        }
      }
      slot.state = 'ready';
      this.everReady = true;
      this.startupFailures = 0;
      this.settled(slot);
      for (const r of this.readyWaiters.splice(0)) r(true);
      this.pump();
      return;
    }
    const k = slot.tasks.findIndex((t) => t.id === m.id);
    let consumeError: unknown;
    if (m.type === 'decodedInLane') {
      // the data is in the task's lane: used now, before the lane goes to another task
      const task = slot.tasks[k];
      const lane = task && task.lane >= 0 ? slot.lanes[task.lane] : undefined;
      if (task && lane && !task.zombie && !task.abortedWith) {
        try {
          task.consume?.(m, lane);
        } catch (e) {
          consumeError = e ?? new Error('codec worker: placing a chunk failed');
        }
      }
    }
    // the task's lane is free again (whether or not anyone still waits for the task)
    for (const lane of slot.lanes) if (lane?.taskId === m.id) lane.taskId = 0;
    if (k < 0) {
      // a reply for a task aborted meanwhile (its lane was what still waited)
      this.pump();
      return;
    }
    const [task] = slot.tasks.splice(k, 1) as [Task];
    if (task.zombie) {
      // an aborted task its worker has now finished (or skipped): it was settled when aborted
      if (task.graceTimer !== undefined) clearTimeout(task.graceTimer);
      this.settled(slot);
      this.pump();
      return;
    }
    this.stats.completed++;
    if (task.abortedWith) {
      const err = task.abortedWith;
      this.finish(task, () => task.reject(err));
      if (slot.retireAfterReply && slot.tasks.length === 0) {
        this.retire(slot);
        return;
      }
    } else if (m.type === 'error') {
      if (m.chain) {
        // the worker cannot build this chain (a codec registered only here): inline from now on
        this.noWorkerChains.add(task.chainKey);
        this.finish(task, () => task.reject(new RunInline()));
      } else {
        this.finish(task, () => task.reject(deserializeError(m.error)));
      }
    } else if (consumeError !== undefined) {
      this.finish(task, () => task.reject(consumeError));
    } else if (m.type === 'skipped') {
      // only aborted tasks are skipped, and those were settled when aborted
      this.finish(task, () => task.reject(new AbortError('operation aborted')));
    } else {
      this.finish(task, () => task.resolve(m));
    }
    this.settled(slot);
    this.pump();
  }

  private onFailure(slot: Slot, e: Error): void {
    if (slot.state === 'dead') return;
    const wasStarting = slot.state === 'starting';
    this.remove(slot);
    // the task it was on: the oldest one it had not finished (with lanes, a finished task's lane
    // is DONE, and its reply may have been held back with the dying worker: such tasks go to
    // another worker again, like those not started, and write the same bytes)
    const states = slot.laneStates;
    const k = states ? slot.tasks.findIndex((t) => t.lane < 0 || Atomics.load(states, t.lane) !== LANE.DONE) : 0;
    let failed = k >= 0 ? slot.tasks.splice(k, 1)[0] : undefined;
    if (failed?.zombie) {
      if (failed.graceTimer !== undefined) clearTimeout(failed.graceTimer);
      failed = undefined; // aborted and settled already
    }
    this.requeue(slot); // the tasks waiting behind the one that was running, and finished ones not answered
    this.retire(slot);
    if (failed) {
      this.stats.crashed++;
      const crash = new WorkerCrashError(`a codec worker died while coding "${failed.key ?? '<chunk>'}": ${e.message}`, { cause: e });
      this.finish(failed, () => failed.reject(failed.abortedWith ?? crash));
    }
    if (wasStarting) {
      this.startupFailures++;
      // never started here (no worker script, blocked by a CSP...) or keeps failing to start
      if (!this.everReady || this.startupFailures >= 3) return this.turnOff(`a worker failed to start: ${e.message}`);
    }
    this.pump();
  }

  private remove(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  private retire(slot: Slot): void {
    slot.state = 'dead';
    if (slot.idleTimer !== undefined) clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    slot.handle.onFailure = undefined;
    slot.handle.onMessage = undefined;
    slot.handle.terminate();
  }
}

/** A prefetch's task: it may wait behind demand tasks and never takes every worker. */
function isBackground(t: Task): boolean {
  return t.priority?.level === 'prefetch';
}

/**
 * The cores this runtime reports, synchronously (the pool's size before its platform has
 * loaded, e.g. when the first read of a process decides how to allocate its result): a
 * browser's navigator, Node's os module (process.getBuiltinModule, Node >= 20.16), else 1.
 */
function coresHere(): number {
  const g = globalThis as { navigator?: { hardwareConcurrency?: number }; process?: { getBuiltinModule?: (id: string) => unknown } };
  const n = g.navigator?.hardwareConcurrency ?? (g.process?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number } | undefined)?.availableParallelism?.();
  return typeof n === 'number' && n >= 1 ? n : 1;
}

/** Index of a free lane of `slot` (one no unanswered task holds), or -1. */
function freeLane(slot: Slot): number {
  for (let i = 0; i < MAX_LANES; i++) if (!slot.lanes[i] || slot.lanes[i]!.taskId === 0) return i;
  return -1;
}

/** Transfer list of a task input: its own buffer, or nothing (a lane is shared). */
function transferOf(input: TaskInput): ArrayBuffer[] {
  return 'bytes' in input ? [input.bytes.buffer as ArrayBuffer] : [];
}

/** Decoded bytes of one chunk of `chain`. */
function chunkBytes(chain: RunnableChain): number {
  return product(chain.spec.shape) * dtypeSize(chain.spec.dtype);
}

function toNdArray(m: ArrayMessage): NdArray {
  return new NdArray(m.dtype, m.data as never, m.shape, m.strides, m.offset);
}

const descriptors = new WeakMap<RunnableChain, ChainDescriptor>();
/** Descriptor ids by key: one id per distinct chain in this process (chains with one key share it). */
const descriptorIds = new Map<string, number>();

/** The chain's descriptor (cached per chain). */
export function describe(chain: RunnableChain): ChainDescriptor {
  let d = descriptors.get(chain);
  if (!d) {
    const spec = { dtype: chain.spec.dtype, shape: [...chain.spec.shape], fillValue: chain.spec.fillValue };
    const codecs = chain.toJSON();
    const key = JSON.stringify([codecs, spec], (_k, v: unknown) =>
      typeof v === 'bigint' ? `${v}n` : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
    );
    let id = descriptorIds.get(key);
    if (id === undefined) descriptorIds.set(key, (id = descriptorIds.size + 1));
    d = { key, id, codecs, spec };
    descriptors.set(chain, d);
  }
  return d;
}

/** worker_threads under Node, Web Workers in browsers, undefined elsewhere. */
async function defaultPlatform(): Promise<WorkerPlatform | undefined> {
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (isNode) return (await importNodeOnly<typeof import('./node.js')>('./node.js', import.meta.url)).nodePlatform();
  return (await import('./web.js')).webPlatform();
}

const shared = new Map<number | undefined, CodecWorkerPool>();

/**
 * The process-wide pool with `size` workers (undefined: one per core), created on first use.
 * Contexts share pools by size, so opening many arrays never multiplies threads.
 */
export function sharedCodecPool(size?: number): CodecWorkerPool {
  let p = shared.get(size);
  if (!p) shared.set(size, (p = new CodecWorkerPool({ size })));
  return p;
}
