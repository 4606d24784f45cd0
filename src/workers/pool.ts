import { dtypeSize, type TypedArray } from '../array/dtype.js';
import { cOrderStrides, NdArray, product } from '../array/ndarray.js';
import type { ChainRunner, CodecContext, RunnableChain } from '../codecs/codec.js';
import { AbortError, CodecError } from '../errors.js';
import { importNodeOnly } from '../util/node-only.js';
import { log } from '../util/log.js';
import { deserializeError, type ArrayMessage, type ChainDescriptor, type ReplyMessage, type TaskMessage, type WorkerMessage } from './protocol.js';

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
 * - Input bytes are copied into a buffer of their own and transferred; results (decoded arrays,
 *   encoded bytes) are transferred back, never copied.
 * - An aborted task leaves at once: a queued one is dropped; a running one rejects with
 *   AbortError and its worker is terminated and replaced, so its slot is free immediately.
 * - A worker that dies (crash, exit, out of memory) fails its task with {@link WorkerCrashError}
 *   and is replaced on demand. If workers cannot start at all (no worker support, a bundler that
 *   did not ship the worker script), the pool turns itself off and every chunk runs inline.
 * - Work inside a worker never uses a pool (the worker's chains have no runner), so a task
 *   never waits for a slot while holding one: the pool cannot deadlock.
 */

/**
 * Decoded chunk size (bytes) from which decoding or encoding goes to the pool; smaller chunks
 * stay on the calling thread, where a worker's message round trip (~0.1 ms) would cost more
 * than it saves. Provisional, from `volstore bench --workload codecs` (crossover section) on a
 * shared 2-core machine.
 */
export const DEFAULT_MIN_POOLED_BYTES = 128 * 1024;

/** How long a worker stays up without work before it is stopped, ms. */
export const DEFAULT_IDLE_MS = 10_000;

/** One worker as the pool sees it (a platform implementation: `node.ts`, `web.ts`). */
export interface WorkerHandle {
  /** Posts a message; `transfer` lists buffers moved (not copied) to the worker. */
  post(message: WorkerMessage, transfer: ArrayBuffer[]): void;
  /** Set by the pool: called with each reply. */
  onMessage?: (message: ReplyMessage) => void;
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
  /** Idle time before a worker stops, ms (default DEFAULT_IDLE_MS). */
  idleMs?: number;
  /** The platform (default: worker_threads under Node, Web Workers in browsers). */
  platform?: () => Promise<WorkerPlatform | undefined>;
}

interface Task {
  id: number;
  /** The chain's key (for chains a worker cannot build). */
  chainKey: string;
  /** What errors name the chunk by. */
  key?: string;
  /** Builds the message (copying the input into a transferable buffer) when the task is sent. */
  build: (id: number) => { message: TaskMessage; transfer: ArrayBuffer[] };
  resolve: (reply: ReplyMessage) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
  slot?: Slot;
}

interface Slot {
  handle: WorkerHandle;
  state: 'starting' | 'ready' | 'dead';
  /** Tasks sent to this worker, oldest (the one running) first; at most PIPELINE. */
  tasks: Task[];
  idleTimer?: ReturnType<typeof setTimeout>;
}

/**
 * Tasks in flight per worker: the one running plus one waiting in its message queue, so a worker
 * goes straight to its next chunk instead of sleeping for a round trip to the main thread.
 */
const PIPELINE = 2;

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
}

export class CodecWorkerPool implements ChainRunner {
  readonly minDecodeBytes: number;
  readonly minEncodeBytes: number;
  readonly idleMs: number;
  readonly stats: PoolStats = { spawned: 0, crashed: 0, completed: 0, abortedRunning: 0, inline: 0 };
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

  constructor(options: CodecWorkerPoolOptions = {}) {
    this.requestedSize = options.size;
    this.minDecodeBytes = options.minDecodeBytes ?? DEFAULT_MIN_POOLED_BYTES;
    this.minEncodeBytes = options.minEncodeBytes ?? DEFAULT_MIN_POOLED_BYTES;
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.loadPlatform = options.platform ?? defaultPlatform;
    if (options.size === 0) this.off = true;
  }

  /** Worker slots (the platform's cores unless set; 0 = off, known once the platform loaded). */
  get size(): number {
    if (this.requestedSize === 0) return 0;
    return this.requestedSize ?? this.platform?.cores ?? 1;
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

  decode(chain: RunnableChain, b: Uint8Array, ctx: CodecContext): Promise<NdArray> | undefined {
    const desc = this.take(chain, this.minDecodeBytes);
    if (!desc) return undefined;
    const build = (id: number) => {
      const bytes = b.slice(); // our own buffer: the caller's may be shared (coalesced reads, caches)
      const message: TaskMessage = { type: 'decode', id, chain: desc, bytes, key: ctx.key, maxDecodedBytes: ctx.maxDecodedBytes };
      return { message, transfer: [bytes.buffer as ArrayBuffer] };
    };
    return this.submit(desc.key, ctx.key, build, ctx.signal).then(
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

  encode(chain: RunnableChain, a: NdArray, ctx: CodecContext): Promise<Uint8Array> | undefined {
    const n = product(a.shape);
    const strides = cOrderStrides(a.shape);
    // only C-order arrays (what the planner encodes) travel; others are rare and stay inline
    if (!a.strides.every((s, d) => a.shape[d]! <= 1 || s === strides[d]) || a.offset + n > a.data.length) return undefined;
    const desc = this.take(chain, this.minEncodeBytes);
    if (!desc) return undefined;
    const build = (id: number) => {
      const data = (a.data as TypedArray).slice(a.offset, a.offset + n) as TypedArray;
      const array: ArrayMessage = { dtype: a.dtype, data, shape: [...a.shape], strides, offset: 0 };
      const message: TaskMessage = { type: 'encode', id, chain: desc, array, key: ctx.key };
      return { message, transfer: [data.buffer as ArrayBuffer] };
    };
    return this.submit(desc.key, ctx.key, build, ctx.signal).then(
      (reply) => {
        if (reply.type !== 'encoded') throw new Error(`codec worker: unexpected reply ${reply.type}`);
        return reply.bytes;
      },
      (e: unknown) => {
        if (!(e instanceof RunInline)) throw e;
        this.stats.inline++;
        return chain.encodeInline(a, { ...ctx, runner: undefined });
      },
    );
  }

  /**
   * Stops every worker now. Tasks in workers reject with AbortError; queued ones and later
   * chunks run inline. Idempotent.
   */
  close(): void {
    this.off = true;
    for (const r of this.readyWaiters.splice(0)) r(false);
    for (const slot of this.slots) {
      for (const t of slot.tasks.splice(0)) this.finish(t, () => t.reject(new AbortError('codec worker pool closed')));
      this.retire(slot);
    }
    this.slots = [];
    for (const t of this.queue.splice(0)) this.finish(t, () => t.reject(new RunInline()));
  }

  /** The chain's descriptor when the pool takes this chunk, else undefined (run inline). */
  private take(chain: RunnableChain, min: number): ChainDescriptor | undefined {
    if (this.off || !chain.costly) return undefined;
    const spec = chain.spec;
    if (product(spec.shape) * dtypeSize(spec.dtype) < min) return undefined;
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

  private submit(chainKey: string, key: string | undefined, build: Task['build'], signal: AbortSignal | undefined): Promise<ReplyMessage> {
    return new Promise<ReplyMessage>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortError('operation aborted', { cause: signal.reason }));
      const task: Task = { id: 0, chainKey, key, build, resolve, reject, signal };
      if (signal) {
        task.onAbort = () => this.abort(task);
        signal.addEventListener('abort', task.onAbort, { once: true });
      }
      this.queue.push(task);
      this.pump();
    });
  }

  /** Settles a task once: detaches its abort listener, then runs `settle`. */
  private finish(task: Task, settle: () => void): void {
    if (task.onAbort) task.signal?.removeEventListener('abort', task.onAbort);
    task.onAbort = undefined;
    task.slot = undefined;
    settle();
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
    if (k === 0) {
      // Possibly running: the worker is busy with work nobody wants. Stop it, free the slot
      // now, and send the tasks queued behind it to other workers.
      this.stats.abortedRunning++;
      slot.tasks.shift();
      this.remove(slot);
      this.requeue(slot);
      this.retire(slot);
    } else {
      // Waiting in the worker's queue: tell it to skip the task.
      slot.tasks.splice(k, 1);
      try {
        slot.handle.post({ type: 'cancel', id: task.id }, []);
      } catch {
        // the reply, if any, is ignored anyway
      }
      this.settled(slot);
    }
    this.finish(task, () => task.reject(err));
    this.pump();
  }

  /** Puts the tasks a worker had not finished back at the head of the queue (in order). */
  private requeue(slot: Slot): void {
    const tasks = slot.tasks.splice(0);
    for (const t of tasks) t.slot = undefined;
    this.queue.unshift(...tasks);
  }

  private pump(): void {
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
      // the ready worker with the fewest tasks, if it has room
      let best: Slot | undefined;
      for (const s of this.slots) if (s.state === 'ready' && s.tasks.length < PIPELINE && (!best || s.tasks.length < best.tasks.length)) best = s;
      if (best) {
        this.assign(best, this.queue.shift()!);
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
    const slot: Slot = { handle, state: 'starting', tasks: [] };
    handle.onMessage = (m) => this.onReply(slot, m);
    handle.onFailure = (e) => this.onFailure(slot, e);
    this.slots.push(slot);
    this.stats.spawned++;
    return true;
  }

  private assign(slot: Slot, task: Task): void {
    if (slot.idleTimer !== undefined) clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    task.id = this.nextId++; // a fresh id per send: a requeued task is a new message
    let sent: { message: TaskMessage; transfer: ArrayBuffer[] };
    try {
      sent = task.build(task.id);
      slot.handle.post(sent.message, sent.transfer);
    } catch (e) {
      // not clonable (should not happen: plain JSON, numbers, typed arrays): run it inline
      log.debug(`codec worker: cannot post a task (${e instanceof Error ? e.message : String(e)})`);
      this.finish(task, () => task.reject(new RunInline()));
      return;
    }
    slot.tasks.push(task);
    task.slot = slot;
    slot.handle.ref();
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
      slot.state = 'ready';
      this.everReady = true;
      this.startupFailures = 0;
      this.settled(slot);
      for (const r of this.readyWaiters.splice(0)) r(true);
      this.pump();
      return;
    }
    const k = slot.tasks.findIndex((t) => t.id === m.id);
    if (k < 0) return; // a reply for a task aborted meanwhile
    const [task] = slot.tasks.splice(k, 1) as [Task];
    this.stats.completed++;
    if (m.type === 'error') {
      if (m.chain) {
        // the worker cannot build this chain (a codec registered only here): inline from now on
        this.noWorkerChains.add(task.chainKey);
        this.finish(task, () => task.reject(new RunInline()));
      } else {
        this.finish(task, () => task.reject(deserializeError(m.error)));
      }
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
    const failed = slot.tasks.shift();
    this.requeue(slot); // the tasks waiting behind the one that was running
    this.retire(slot);
    if (failed) {
      this.stats.crashed++;
      this.finish(failed, () => failed.reject(new WorkerCrashError(`a codec worker died while coding "${failed.key ?? '<chunk>'}": ${e.message}`, { cause: e })));
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

function toNdArray(m: ArrayMessage): NdArray {
  return new NdArray(m.dtype, m.data as never, m.shape, m.strides, m.offset);
}

const descriptors = new WeakMap<RunnableChain, ChainDescriptor>();

/** The chain's descriptor (cached per chain). */
export function describe(chain: RunnableChain): ChainDescriptor {
  let d = descriptors.get(chain);
  if (!d) {
    const spec = { dtype: chain.spec.dtype, shape: [...chain.spec.shape], fillValue: chain.spec.fillValue };
    const codecs = chain.toJSON();
    const key = JSON.stringify([codecs, spec], (_k, v: unknown) =>
      typeof v === 'bigint' ? `${v}n` : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
    );
    d = { key, codecs, spec };
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
