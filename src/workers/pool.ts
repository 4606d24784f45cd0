import { dtypeSize, type TypedArray } from '../array/dtype.js';
import { cOrderStrides, NdArray, product } from '../array/ndarray.js';
import type { ChainRunner, CodecContext, RunnableChain } from '../codecs/codec.js';
import { AbortError, CodecError } from '../errors.js';
import { importNodeOnly } from '../util/node-only.js';
import { log } from '../util/log.js';
import { deserializeError, type ArrayMessage, type ChainDescriptor, type ReplyMessage, type TaskMessage } from './protocol.js';

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
  /** Posts a task; `transfer` lists buffers moved (not copied) to the worker. */
  post(message: TaskMessage, transfer: ArrayBuffer[]): void;
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
  message: TaskMessage;
  transfer: ArrayBuffer[];
  resolve: (reply: ReplyMessage) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
  slot?: Slot;
}

interface Slot {
  handle: WorkerHandle;
  state: 'starting' | 'idle' | 'busy' | 'dead';
  task?: Task;
  idleTimer?: ReturnType<typeof setTimeout>;
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
  /** Chunks the pool declined or handed back (they ran inline). */
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
    if (this.off && this.requestedSize === 0) return 0;
    return this.requestedSize ?? this.platform?.cores ?? 1;
  }

  /** Whether the pool may take work (false once closed, or when workers cannot start here). */
  get enabled(): boolean {
    return !this.off;
  }

  /** Workers running now (starting, idle or busy). */
  get workers(): number {
    return this.slots.length;
  }

  /** Tasks running in a worker now. */
  get running(): number {
    return this.slots.filter((s) => s.state === 'busy').length;
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
    if (this.slots.some((s) => s.state === 'idle' || s.state === 'busy')) return Promise.resolve(true);
    const ready = new Promise<boolean>((resolve) => this.readyWaiters.push(resolve));
    this.startWarming();
    return ready;
  }

  /** Starts the workers without waiting for them. */
  private startWarming(): void {
    this.warming = true;
    this.pump();
  }

  decode(chain: RunnableChain, b: Uint8Array, ctx: CodecContext): Promise<NdArray> | undefined {
    const desc = this.take(chain, this.minDecodeBytes);
    if (!desc) return undefined;
    const bytes = b.slice(); // our own buffer: the caller's may be shared (coalesced reads, caches)
    const message: TaskMessage = { type: 'decode', id: this.nextId++, chain: desc, bytes, key: ctx.key, maxDecodedBytes: ctx.maxDecodedBytes };
    return this.submit(message, [bytes.buffer as ArrayBuffer], ctx.signal).then(
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
    const data = (a.data as TypedArray).slice(a.offset, a.offset + n) as TypedArray;
    const array: ArrayMessage = { dtype: a.dtype, data, shape: [...a.shape], strides, offset: 0 };
    const message: TaskMessage = { type: 'encode', id: this.nextId++, chain: desc, array, key: ctx.key };
    return this.submit(message, [data.buffer as ArrayBuffer], ctx.signal).then(
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
   * Stops every worker now. Running tasks reject with AbortError; queued ones and later chunks
   * run inline. Idempotent.
   */
  close(): void {
    this.off = true;
    for (const r of this.readyWaiters.splice(0)) r(false);
    for (const slot of this.slots) {
      if (slot.task) this.finish(slot.task, () => slot.task!.reject(new AbortError('codec worker pool closed')));
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
    if (!this.slots.some((s) => s.state === 'idle' || s.state === 'busy')) {
      // no worker is up (yet, or any more): start them, and do not wait for them
      this.startWarming();
      return undefined;
    }
    return desc;
  }

  private submit(message: TaskMessage, transfer: ArrayBuffer[], signal: AbortSignal | undefined): Promise<ReplyMessage> {
    return new Promise<ReplyMessage>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortError('operation aborted', { cause: signal.reason }));
      const task: Task = { id: message.id, message, transfer, resolve, reject, signal };
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
    if (slot && slot.task === task) {
      // The worker is busy with work nobody wants: stop it and free the slot now.
      this.stats.abortedRunning++;
      slot.task = undefined;
      this.remove(slot);
      this.retire(slot);
      this.finish(task, () => task.reject(err));
      this.pump();
    }
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
      const idle = this.slots.find((s) => s.state === 'idle');
      if (idle) {
        this.assign(idle, this.queue.shift()!);
        continue;
      }
      const starting = this.slots.filter((s) => s.state === 'starting').length;
      if (this.queue.length > starting && this.slots.length < this.size) {
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
    // workers not busy go now; busy ones finish their task and stop when idle
    for (const s of this.slots.filter((x) => x.state !== 'busy')) {
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
    const slot: Slot = { handle, state: 'starting' };
    handle.onMessage = (m) => this.onReply(slot, m);
    handle.onFailure = (e) => this.onFailure(slot, e);
    this.slots.push(slot);
    this.stats.spawned++;
    return true;
  }

  private assign(slot: Slot, task: Task): void {
    if (slot.idleTimer !== undefined) clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    slot.state = 'busy';
    slot.task = task;
    task.slot = slot;
    slot.handle.ref();
    try {
      slot.handle.post(task.message, task.transfer);
    } catch (e) {
      // not clonable (should not happen: plain JSON, numbers, typed arrays): run it inline
      slot.task = undefined;
      this.becomeIdle(slot);
      this.finish(task, () => task.reject(new RunInline()));
      log.debug(`codec worker: cannot post a task (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  private becomeIdle(slot: Slot): void {
    slot.state = 'idle';
    slot.handle.unref();
    if (this.idleMs < Infinity) {
      slot.idleTimer = setTimeout(() => {
        if (slot.state !== 'idle') return;
        this.remove(slot);
        this.retire(slot);
      }, this.idleMs);
      (slot.idleTimer as { unref?: () => void }).unref?.();
    }
    this.pump();
  }

  private onReply(slot: Slot, m: ReplyMessage): void {
    if (slot.state === 'dead') return;
    if (m.type === 'ready') {
      this.everReady = true;
      this.startupFailures = 0;
      this.becomeIdle(slot);
      for (const r of this.readyWaiters.splice(0)) r(true);
      return;
    }
    const task = slot.task;
    if (!task || task.id !== m.id) return; // a reply for an aborted task
    slot.task = undefined;
    task.slot = undefined;
    this.stats.completed++;
    if (m.type === 'error') {
      if (m.chain) {
        // the worker cannot build this chain (a codec registered only here): inline from now on
        this.noWorkerChains.add(task.message.chain.key);
        this.finish(task, () => task.reject(new RunInline()));
      } else {
        this.finish(task, () => task.reject(deserializeError(m.error)));
      }
    } else {
      this.finish(task, () => task.resolve(m));
    }
    this.becomeIdle(slot);
  }

  private onFailure(slot: Slot, e: Error): void {
    if (slot.state === 'dead') return;
    const wasStarting = slot.state === 'starting';
    this.remove(slot);
    slot.state = 'dead';
    if (slot.idleTimer !== undefined) clearTimeout(slot.idleTimer);
    const task = slot.task;
    slot.task = undefined;
    if (task) {
      this.stats.crashed++;
      task.slot = undefined;
      this.finish(task, () => task.reject(new WorkerCrashError(`a codec worker died while coding "${task.message.key ?? '<chunk>'}": ${e.message}`, { cause: e })));
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
