/**
 * The codec worker (entry module of every pool worker, Node and browser alike). It rebuilds each
 * codec chain it is sent from canonical JSON once (cached by the chain's key; the WASM core and
 * codec modules load lazily, once per worker) and runs whole-chunk decodes and encodes on the
 * worker's thread; `decodeInto` tasks decode into the worker's reusable scratch buffers and copy
 * the chunk straight into the read's result (shared memory), so nothing travels back;
 * `decodeFile` tasks first read the chunk's bytes from a local file themselves (Node only). Chains
 * here have no runner: nothing a worker does waits for the pool.
 */
import { bytesOf, dtypeSize, isSharedMemory, type TypedArray, viewAs } from '../array/dtype.js';
import { isAllFill, NdArray } from '../array/ndarray.js';
import { placeChunk } from '../array/place.js';
import { CodecChain } from '../codecs/chain.js';
import { type CodecJSON, ScratchBuffers } from '../codecs/codec.js';
import { importNodeOnly } from '../util/node-only.js';
import {
  type ArrayMessage, type ChainDescriptor, type ChainRef, LANE, POSTED_WORD, type ReplyMessage, serializeError, type TargetMessage, type TaskInput, type TaskMessage, type WorkerMessage,
  type WorkerReply,
} from './protocol.js';
import { KvStoreError } from '../errors.js';
import { fileError, generationOf, isMissing, shrankError } from '../kvstore/file-common.js';
import type { LocalFile } from '../kvstore/kvstore.js';

interface Port {
  post(message: WorkerReply, transfer: ArrayBuffer[]): void;
  listen(fn: (message: WorkerMessage) => void): void;
  /**
   * Hands the messages already queued for this worker to the listener now, synchronously (Node:
   * receiveMessageOnPort), so a task can see what waits behind it; absent in browsers.
   */
  drain?(): void;
}

async function connect(): Promise<Port> {
  if (typeof process !== 'undefined' && typeof process.versions?.node === 'string') {
    const { parentPort, receiveMessageOnPort } = await importNodeOnly<typeof import('node:worker_threads')>('node:worker_threads');
    if (!parentPort) throw new Error('codec-worker: not running in a worker thread');
    let listener: ((message: WorkerMessage) => void) | undefined;
    return {
      post: (m, t) => parentPort.postMessage(m, t),
      listen: (fn) => {
        listener = fn;
        parentPort.on('message', fn);
      },
      drain: () => {
        for (let r = receiveMessageOnPort(parentPort); r && listener; r = receiveMessageOnPort(parentPort)) listener(r.message as WorkerMessage);
      },
    };
  }
  const scope = globalThis as unknown as {
    postMessage(m: unknown, transfer: Transferable[]): void;
    onmessage: ((ev: MessageEvent) => void) | null;
  };
  return {
    post: (m, t) => scope.postMessage(m, t),
    listen: (fn) => {
      scope.onmessage = (ev) => fn(ev.data as WorkerMessage);
    },
  };
}

/** Built chains by key, least recently used first; a few hundred at most. */
const chains = new Map<string, Promise<CodecChain>>();
const MAX_CHAINS = 256;

function usesSharding(codecs: readonly CodecJSON[]): boolean {
  return JSON.stringify(codecs).includes('"sharding_indexed"');
}

/** Every descriptor this worker was sent, by id (the pool sends each once, then its id). */
const descriptors = new Map<number, ChainDescriptor>();

function chainOf(ref: ChainRef): Promise<CodecChain> {
  const d = typeof ref === 'number' ? descriptors.get(ref) : ref;
  if (!d) return Promise.reject(new Error(`codec worker: chain ${String(ref)} was never sent`));
  let c = chains.get(d.key);
  if (c) {
    chains.delete(d.key); // most recently used last
    chains.set(d.key, c);
  } else {
    if (chains.size >= MAX_CHAINS) chains.delete(chains.keys().next().value!);
    c = (async () => {
      if (usesSharding(d.codecs)) (await import('../sharding/zarr3.js')).registerShardingCodec();
      return CodecChain.create(d.codecs, d.spec);
    })();
    chains.set(d.key, c);
    c.catch(() => chains.delete(d.key));
  }
  return c;
}

/** Distinct transferable buffers of `views` (a transfer list must not repeat one; shared memory is not transferred). */
function buffersOf(...views: ArrayBufferView[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of views) if (v.buffer instanceof ArrayBuffer) out.add(v.buffer);
  return [...out];
}

/**
 * `a` as a message whose data the main thread may own: decoders may return views of their
 * input (a lane's shared buffer, reused for the next task) or of scratch memory, so a result in
 * shared memory is copied out.
 */
function ownArray(a: NdArray): ArrayMessage {
  const data = isSharedMemory(a.data) ? (a.data as TypedArray).slice() : a.data;
  return { dtype: a.dtype, data, shape: [...a.shape], strides: [...a.strides], offset: a.offset };
}

/**
 * The bytes `a`'s elements occupy (from its lowest to its highest element, whatever the
 * strides' signs) and `a`'s offset, in elements, relative to their start.
 */
function spanOf(a: NdArray): { bytes: Uint8Array; offset: number } {
  const size = dtypeSize(a.dtype);
  let lo = a.offset, hi = a.offset;
  for (let d = 0; d < a.shape.length; d++) {
    const n = a.shape[d]!;
    if (n === 0) return { bytes: new Uint8Array(0), offset: 0 };
    const reach = (n - 1) * a.strides[d]!;
    if (reach < 0) lo += reach;
    else hi += reach;
  }
  return { bytes: bytesOf(a.data).subarray(lo * size, (hi + 1) * size), offset: a.offset - lo };
}

/** Encoded bytes the main thread may own (copied out of shared memory, see ownArray). */
function ownBytes(b: Uint8Array): Uint8Array {
  return isSharedMemory(b) ? b.slice() : b;
}

/** Tasks the pool cancelled before they started (tasks without a lane). */
const cancelled = new Set<number>();
/** Lane states (see LANE in protocol.ts), once the pool sent them. */
let lanes: Int32Array | undefined;
/** Reusable decode buffers for chunks this worker only places (never returned). */
const scratch = new ScratchBuffers();

function inputOf(input: TaskInput): Uint8Array {
  return 'shared' in input ? new Uint8Array(input.shared, 0, input.length) : input.bytes;
}

/** Runs task `m`; resolves false when it did no codec work (skipped, cancelled, no chain). */
async function handle(port: Port, m: TaskMessage): Promise<boolean> {
  if (m.lane >= 0 && lanes) {
    if (Atomics.compareExchange(lanes, m.lane, LANE.PENDING, LANE.RUNNING) !== LANE.PENDING) {
      reply(port, { type: 'skipped', id: m.id }, m.lane);
      return false;
    }
  } else if (cancelled.size) {
    if (cancelled.delete(m.id)) return false;
    for (const id of cancelled) if (id < m.id) cancelled.delete(id); // cancels that came too late
  }
  let chain: CodecChain;
  try {
    chain = await chainOf(m.chain);
  } catch (e) {
    reply(port, { type: 'error', id: m.id, error: serializeError(e), chain: true }, m.lane);
    return false;
  }
  try {
    if (m.type === 'decode') {
      const a = await chain.decodeInline(inputOf(m.input), { key: m.key, maxDecodedBytes: m.maxDecodedBytes });
      const array = ownArray(a);
      send(port, { type: 'decoded', id: m.id, array }, buffersOf(array.data), m.lane);
    } else if (m.type === 'decodeInto' && !m.target) {
      // the result is memory this worker cannot reach: decode into scratch, hand the chunk over
      // in the lane's output buffer (the pool places it from there)
      const hints = m.placement ? chain.placementHints(m.placement, false) : {};
      const a = await chain.decodeInline(inputOf(m.input), { key: m.key, maxDecodedBytes: m.maxDecodedBytes, scratch, ...hints });
      const span = spanOf(a);
      const meta = { dtype: a.dtype, shape: [...a.shape], strides: [...a.strides], offset: span.offset };
      if (m.out && span.bytes.length <= m.out.byteLength) {
        new Uint8Array(m.out, 0, span.bytes.length).set(span.bytes);
        if (lanes && m.lane >= 0) Atomics.store(lanes, m.lane, LANE.DONE);
        reply(port, { type: 'decodedInLane', id: m.id, byteLength: span.bytes.length, array: meta }, m.lane);
      } else {
        // bigger than the lane's buffer (should not happen: it is sized to the chunk): a copy of its own
        const data = viewAs(a.dtype, span.bytes.slice());
        send(port, { type: 'decoded', id: m.id, array: { ...meta, data } }, buffersOf(data), m.lane);
      }
    } else if (m.type === 'decodeInto') {
      await decodeAndPlace(port, chain, m, inputOf(m.input), m.target!, m.keep);
    } else if (m.type === 'decodeFile') {
      if (lanes && m.lane >= 0 && Atomics.load(lanes, m.lane) !== LANE.RUNNING) {
        reply(port, { type: 'skipped', id: m.id }, m.lane); // aborted since it started: no need to read
        return false;
      }
      const bytes = await readLocalFile(m.file, m.key);
      if (bytes === 'missing' || bytes === 'stale') {
        reply(port, { type: bytes, id: m.id }, m.lane);
        return true;
      }
      await decodeAndPlace(port, chain, m, bytes, m.target, false);
    } else {
      const { dtype, data, shape, strides, offset } = m.array;
      const a = new NdArray(dtype, data as never, shape, strides, offset);
      if (m.unlessFill && isAllFill(a, chain.spec.fillValue)) {
        reply(port, { type: 'encoded', id: m.id, bytes: null }, m.lane);
        return true;
      }
      const bytes = ownBytes(await chain.encodeInline(a, { key: m.key }));
      send(port, { type: 'encoded', id: m.id, bytes }, buffersOf(bytes), m.lane);
    }
  } catch (e) {
    reply(port, { type: 'error', id: m.id, error: serializeError(e) }, m.lane);
  }
  return true;
}

/**
 * Decodes `input` and writes the chunk into the shared result `target`, unless the task was
 * aborted meanwhile (its lane says so: then nothing is written and the reply is `skipped`).
 * `keep`: the decoded chunk goes back too (for the cache), in a buffer of its own.
 */
async function decodeAndPlace(
  port: Port, chain: CodecChain, m: { id: number; lane: number; key?: string; maxDecodedBytes?: number }, input: Uint8Array, target: TargetMessage, keep: boolean,
): Promise<void> {
  const hints = chain.placementHints(target.placement, keep);
  const a = await chain.decodeInline(input, { key: m.key, maxDecodedBytes: m.maxDecodedBytes, scratch: keep ? undefined : scratch, ...hints });
  // write into the caller's memory only if the task was not aborted meanwhile
  if (!lanes || Atomics.compareExchange(lanes, m.lane, LANE.RUNNING, LANE.PLACING) !== LANE.RUNNING) {
    reply(port, { type: 'skipped', id: m.id }, m.lane);
    return;
  }
  try {
    const { buffer, byteOffset, byteLength, placement } = target;
    placeChunk(new Uint8Array(buffer, byteOffset, byteLength), placement, a);
  } finally {
    Atomics.store(lanes, m.lane, LANE.DONE);
  }
  if (keep) {
    const array = ownArray(a);
    send(port, { type: 'placed', id: m.id, array }, buffersOf(array.data), m.lane);
  } else {
    reply(port, { type: 'placed', id: m.id }, m.lane);
  }
}

/** node:fs, loaded on the first decodeFile task (an import per task costs a loader round trip). */
let nodeFs: typeof import('node:fs') | undefined;
/** The worker's buffer for chunk files it reads (decodeFile tasks), grown as needed and reused. */
let fileBuffer = new Uint8Array(0);
/** Largest chunk file a worker reads (a bigger one is an error, not an allocation). */
const MAX_CHUNK_FILE = 1 << 30;

/**
 * The bytes of a local file (see KvStore.localFile), read with blocking calls on this worker's
 * thread (one open, fstat, reads, close: the calling thread's four trips through libuv's pool
 * become none), into the worker's reused file buffer (valid until the next call): the whole
 * file, or its `range` when the file still has the `generation` expected. 'missing' when there
 * is no such regular file and no generation was expected (a missing chunk, as the file store
 * reads it); 'stale' when the file is gone, changed, or shorter than the range (the caller then
 * reads it through its store, which sorts out what happened).
 * @throws KvStoreError naming `key` when the file cannot be read.
 */
async function readLocalFile(file: LocalFile, key: string | undefined): Promise<Uint8Array | 'missing' | 'stale'> {
  const fs = (nodeFs ??= await importNodeOnly<typeof import('node:fs')>('node:fs'));
  const name = key ?? file.path;
  const fail = (op: string, e: unknown) => fileError(name, op, e);
  let fd: number;
  try {
    fd = fs.openSync(file.path, 'r');
  } catch (e) {
    if (isMissing(e)) return file.generation === undefined ? 'missing' : 'stale';
    throw fail('open', e);
  }
  try {
    let size: number;
    let start = 0;
    try {
      const st = fs.fstatSync(fd, { bigint: true });
      // a directory opens fine on Linux; it is not a value
      if (!st.isFile()) return file.generation === undefined ? 'missing' : 'stale';
      if (file.generation !== undefined && generationOf(st) !== file.generation) return 'stale';
      size = Number(st.size);
    } catch (e) {
      throw fail('stat', e);
    }
    if (file.range) {
      if (file.range.offset + file.range.length > size) return 'stale';
      start = file.range.offset;
      size = file.range.length;
    }
    if (size > MAX_CHUNK_FILE) throw new KvStoreError(name, `chunk of ${size} bytes is over the ${MAX_CHUNK_FILE}-byte limit of a worker read`);
    if (fileBuffer.length < size) fileBuffer = new Uint8Array(Math.max(size, 2 * fileBuffer.length));
    let filled = 0;
    while (filled < size) {
      let n: number;
      try {
        n = fs.readSync(fd, fileBuffer, filled, size - filled, start + filled);
      } catch (e) {
        throw fail('read', e);
      }
      if (n === 0) throw shrankError(name, start + size);
      filled += n;
    }
    return fileBuffer.subarray(0, size);
  } finally {
    try {
      fs.closeSync(fd);
    } catch {
      // a failed close of a read-only descriptor loses nothing
    }
  }
}

/** Task messages received and not started yet (they wait in `last`'s chain), oldest first. */
const pending: TaskMessage[] = [];
/** Task messages started (see POSTED_WORD). */
let started = 0;
/** How long this worker's tasks of a chain take, ms (a moving average), by chain id. */
const durations = new Map<number, number>();
/**
 * A reply is held back only while the next task is expected to take less than this: a chunk
 * finished is never kept from its caller for long behind a slow one (a huge chunk, another
 * read's), at most about MAX_HELD x this.
 */
const HOLD_FOR_MS = 2;

function chainIdOf(m: TaskMessage): number {
  return typeof m.chain === 'number' ? m.chain : m.chain.id;
}

/** Whether the next task (received already) is of a chain whose tasks here took under HOLD_FOR_MS. */
function nextIsShort(): boolean {
  const next = pending[0];
  if (!next) return false; // still on its way: unknown
  const ms = durations.get(chainIdOf(next));
  return ms !== undefined && ms < HOLD_FOR_MS;
}

/**
 * Tasks sent to this worker and not started yet: with lanes, what the pool has posted (its
 * count in shared memory) less what this worker started, so tasks still in the message queue
 * count too (Node delivers a worker's messages one at a time, running each task's synchronous
 * part before the next message is even looked at); without, those received and not started.
 */
function waiting(): number {
  return lanes ? Math.max(0, Atomics.load(lanes, POSTED_WORD) - started) : pending.length;
}
/** Replies held back (see reply), oldest first. */
const held: ReplyMessage[] = [];
/** Most replies held back at once. */
const MAX_HELD = 4;

/**
 * Sends a reply that carries no buffers. While two or more tasks wait here (with lanes) and the
 * next one is expected to be short (see nextIsShort), it is held back and goes with later ones
 * in one `batch` message: the main thread, usually asleep, is woken once per few chunks instead
 * of once per chunk (a wake-up costs it and this thread tens of microseconds on a 2-core VM, a
 * tenth of a 64^3 zstd chunk), and the pool keeps this worker fed with PIPELINE tasks (the one
 * or two left cover the round trip). Replies that settle an abort or an error (`skipped`,
 * `error`) go at once: an aborted caller never waits on other chunks, and the pool's grace
 * timer for a stuck worker sees the answer.
 */
function reply(port: Port, m: ReplyMessage, lane: number): void {
  // finished: the lane says so (a task still RUNNING or PLACING is the one this worker was on
  // if it dies, whatever replies it holds back; see the pool's onFailure)
  if (lanes && lane >= 0) Atomics.compareExchange(lanes, lane, LANE.RUNNING, LANE.DONE);
  held.push(m);
  let hold = lanes !== undefined && waiting() >= 2 && held.length < MAX_HELD && m.type !== 'skipped' && m.type !== 'error';
  if (hold && pending.length === 0) port.drain?.(); // the tasks posted behind this one, if they are here
  hold &&= nextIsShort();
  if (!hold) flush(port);
}

/** Sends the replies held back, one message for all. */
function flush(port: Port): void {
  if (held.length === 0) return;
  const replies = held.splice(0);
  port.post(replies.length === 1 ? replies[0]! : { type: 'batch', replies }, []);
}

/**
 * Posts a reply with a transfer list (after any held back, so the main thread sees replies in
 * order); when a buffer cannot be transferred (WASM memory), copies.
 */
function send(port: Port, reply: ReplyMessage, transfer: ArrayBuffer[], lane: number): void {
  if (lanes && lane >= 0) Atomics.compareExchange(lanes, lane, LANE.RUNNING, LANE.DONE); // finished (see reply)
  flush(port);
  try {
    port.post(reply, transfer);
  } catch {
    port.post(reply, []);
  }
}

const port = await connect();
// Tasks run one at a time, in the order sent (the pool keeps up to PIPELINE in flight per worker, so
// the next one is already here when the current one ends); a cancel skips a task not started.
let last: Promise<void> = Promise.resolve();
port.listen((m) => {
  if (m.type === 'cancel') {
    cancelled.add(m.id);
    return;
  }
  if (m.type === 'init') {
    lanes = new Int32Array(m.lanes);
    return;
  }
  if (m.type === 'tasks') for (const t of m.tasks) enqueue(t);
  else enqueue(m);
});

function enqueue(m: TaskMessage): void {
  // a descriptor is kept as it arrives (even if its task is then skipped): later tasks send only its id
  if (typeof m.chain === 'object') descriptors.set(m.chain.id, m.chain);
  pending.push(m);
  let t0 = 0;
  last = last.then(() => {
    pending.shift(); // m: tasks run in the order received
    started++;
    t0 = performance.now();
    return handle(port, m);
  }).then((ran) => {
    if (ran) {
      const ms = performance.now() - t0;
      const id = chainIdOf(m);
      const before = durations.get(id);
      durations.set(id, before === undefined ? ms : 0.7 * before + 0.3 * ms);
    }
    if (waiting() === 0) flush(port); // idle now: nothing may stay held (a cancelled task replies nothing)
  });
}
port.post({ type: 'ready' }, []);
