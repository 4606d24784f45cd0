/**
 * The abort handshake of decodeInto tasks, driven step by step with a scripted worker (no
 * threads): each task in a worker has a lane whose state (shared memory) both sides
 * compare-and-swap, so an abort either stops the worker from writing into the caller's result
 * and releases the caller at once, or, when the worker is already writing, releases the caller
 * only once the write has ended.
 */
import { describe, expect, it } from 'vitest';
import { cOrderStrides, NdArray } from '../../src/array/ndarray.js';
import type { ChunkPlacement } from '../../src/array/place.js';
import { CodecChain } from '../../src/codecs/chain.js';
import { AbortError } from '../../src/errors.js';
import { CodecWorkerPool, type WorkerHandle } from '../../src/workers/pool.js';
import { LANE, POSTED_WORD, type ReplyMessage, type TaskMessage, type WorkerMessage, type WorkerReply } from '../../src/workers/protocol.js';

/** A worker the test plays: records what the pool sends, answers when told. */
class ScriptedWorker implements WorkerHandle {
  onMessage?: (m: WorkerReply) => void;
  onFailure?: (e: Error) => void;
  lanes?: Int32Array;
  tasks: TaskMessage[] = [];
  terminated = false;
  post(m: WorkerMessage): void {
    if (m.type === 'init') this.lanes = new Int32Array(m.lanes);
    else if (m.type === 'tasks') this.tasks.push(...m.tasks);
    else if (m.type !== 'cancel') this.tasks.push(m);
  }
  ref(): void {}
  unref(): void {}
  terminate(): void {
    this.terminated = true;
  }
  reply(m: WorkerReply): void {
    this.onMessage?.(m);
  }
}

const tick = () => new Promise((r) => setTimeout(r, 5));

async function setup(): Promise<{ pool: CodecWorkerPool; worker: ScriptedWorker; chain: CodecChain; bytes: Uint8Array; target: { dst: Uint8Array; placement: ChunkPlacement } }> {
  const worker = new ScriptedWorker();
  const pool = new CodecWorkerPool({ size: 1, minDecodeBytes: 0, sharedMemory: true, platform: async () => ({ spawn: () => worker, cores: 1 }) });
  const ready = pool.warm();
  while (!worker.onMessage) await tick();
  worker.reply({ type: 'ready' });
  expect(await ready).toBe(true);
  expect(worker.lanes).toBeDefined();
  const chain = await CodecChain.create([{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd' }], { dtype: 'uint8', shape: [64], fillValue: 0 });
  const bytes = await chain.encodeInline(new NdArray('uint8', new Uint8Array(64).fill(7), [64]));
  const dst = new Uint8Array(new SharedArrayBuffer(64));
  const placement: ChunkPlacement = { shape: [64], dstOffset: 0, dstStrides: cOrderStrides([64]), start: [0], dims: [0], steps: [1] };
  return { pool, worker, chain, bytes, target: { dst, placement } };
}

/** Whether a promise has settled (after letting microtasks run). */
async function settledYet(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  await tick();
  return done;
}

describe('decodeInto abort handshake (lanes)', () => {
  it('a task aborted while its worker writes the result rejects only when the write has ended', async () => {
    const { pool, worker, chain, bytes, target } = await setup();
    const ac = new AbortController();
    const p = pool.decodeInto(chain, bytes, { signal: ac.signal, key: 'c/0' }, target)!;
    expect(p).toBeDefined();
    await tick();
    const m = worker.tasks[0]!;
    expect(m.type).toBe('decodeInto');
    // the worker started, decoded, and is copying into the result
    expect(Atomics.compareExchange(worker.lanes!, m.lane, LANE.PENDING, LANE.RUNNING)).toBe(LANE.PENDING);
    expect(Atomics.compareExchange(worker.lanes!, m.lane, LANE.RUNNING, LANE.PLACING)).toBe(LANE.RUNNING);
    ac.abort();
    expect(await settledYet(p)).toBe(false); // the caller must not reuse the buffer yet
    Atomics.store(worker.lanes!, m.lane, LANE.DONE);
    worker.reply({ type: 'placed', id: m.id });
    await expect(p).rejects.toBeInstanceOf(AbortError);
    expect(worker.terminated).toBe(false);
    pool.close();
  });

  it('a task aborted while its worker decodes rejects at once; the worker may not write, and is replaced only if it never answers', async () => {
    const { pool, worker, chain, bytes, target } = await setup();
    const ac = new AbortController();
    const p = pool.decodeInto(chain, bytes, { signal: ac.signal }, target)!;
    await tick();
    const m = worker.tasks[0]!;
    Atomics.compareExchange(worker.lanes!, m.lane, LANE.PENDING, LANE.RUNNING);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
    // the worker, done decoding, finds it may not write
    expect(Atomics.compareExchange(worker.lanes!, m.lane, LANE.RUNNING, LANE.PLACING)).toBe(LANE.ABORTED);
    expect(pool.running).toBe(1); // it still occupies its worker until the worker answers
    worker.reply({ type: 'skipped', id: m.id });
    expect(pool.running).toBe(0);
    expect(worker.terminated).toBe(false);
    expect(pool.stats.abortedRunning).toBe(0);

    // a worker that never answers (a decoder that hangs) is stopped after the grace period
    const ac2 = new AbortController();
    const p2 = pool.decodeInto(chain, bytes, { signal: ac2.signal }, target)!;
    await tick();
    const m2 = worker.tasks[1]!;
    Atomics.compareExchange(worker.lanes!, m2.lane, LANE.PENDING, LANE.RUNNING);
    ac2.abort();
    await expect(p2).rejects.toBeInstanceOf(AbortError);
    while (!worker.terminated) await tick();
    expect(pool.stats.abortedRunning).toBe(1);
    pool.close();
  });

  it('a task aborted before its worker started it rejects at once and is skipped', async () => {
    const { pool, worker, chain, bytes, target } = await setup();
    const ac = new AbortController();
    const p = pool.decodeInto(chain, bytes, { signal: ac.signal }, target)!;
    await tick();
    const m = worker.tasks[0]!;
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
    // the worker, reaching it, finds it aborted and skips it
    expect(Atomics.compareExchange(worker.lanes!, m.lane, LANE.PENDING, LANE.RUNNING)).toBe(LANE.ABORTED);
    worker.reply({ type: 'skipped', id: m.id });
    // its lane is free again: the next task may take it
    const q = pool.decodeInto(chain, bytes, {}, target)!;
    await tick();
    const m2 = worker.tasks[1]!;
    expect(Atomics.load(worker.lanes!, m2.lane)).toBe(LANE.PENDING);
    worker.reply({ type: 'placed', id: m2.id });
    await expect(q).resolves.toBeUndefined();
    expect(worker.terminated).toBe(false);
    pool.close();
  });

  it('a batch of replies settles each of its tasks and refills the pipeline; the posted count tells the worker what waits', async () => {
    const { pool, worker, chain, bytes, target } = await setup();
    const ps = Array.from({ length: 7 }, (_, i) => pool.decodeInto(chain, bytes, { key: `c/${i}` }, target)!);
    await tick();
    expect(worker.tasks.length).toBe(4); // the pipeline of one worker
    expect(Atomics.load(worker.lanes!, POSTED_WORD)).toBe(4);
    const [a, b, c] = worker.tasks as [TaskMessage, TaskMessage, TaskMessage];
    for (const m of [a, b, c]) {
      Atomics.compareExchange(worker.lanes!, m.lane, LANE.PENDING, LANE.RUNNING);
      Atomics.compareExchange(worker.lanes!, m.lane, LANE.RUNNING, LANE.PLACING);
      Atomics.store(worker.lanes!, m.lane, LANE.DONE);
    }
    const replies: ReplyMessage[] = [a, b, c].map((m) => ({ type: 'placed', id: m.id }));
    worker.reply({ type: 'batch', replies });
    for (const p of ps.slice(0, 3)) expect(await settledYet(p)).toBe(true);
    expect(await settledYet(ps[3]!)).toBe(false);
    expect(pool.stats.replyBatches).toBe(1);
    // the three freed places went to the three tasks still queued, counted before they were posted
    expect(worker.tasks.length).toBe(7);
    expect(Atomics.load(worker.lanes!, POSTED_WORD)).toBe(7);
    const lanesInUse = worker.tasks.slice(3).map((m) => m.lane); // d's and the three new tasks'
    expect(new Set(lanesInUse).size).toBe(4);
    worker.reply({ type: 'batch', replies: worker.tasks.slice(3).map((m) => ({ type: 'placed', id: m.id }) as ReplyMessage) });
    await expect(Promise.all(ps)).resolves.toEqual(Array(7).fill(undefined));
    pool.close();
  });
});
