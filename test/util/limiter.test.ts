import { describe, expect, it } from 'vitest';
import { Limiter } from '../../src/util/limiter.js';
import { AbortError } from '../../src/errors.js';

/** A promise with its resolve/reject exposed. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('Limiter', () => {
  it('rejects invalid limits', () => {
    expect(() => new Limiter(0)).toThrow(RangeError);
    expect(() => new Limiter(-1)).toThrow(RangeError);
    expect(() => new Limiter(1.5)).toThrow(RangeError);
    expect(() => new Limiter(NaN)).toThrow(RangeError);
    expect(new Limiter(Infinity).limit).toBe(Infinity);
  });

  it('never runs more than `limit` tasks at once', async () => {
    const lim = new Limiter(3);
    let inFlight = 0;
    let peak = 0;
    const task = async (i: number) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, (i * 7) % 5));
      inFlight--;
      return i;
    };
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => lim.run(() => task(i))));
    expect(results).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(peak).toBe(3);
    expect(lim.active).toBe(0);
    expect(lim.pending).toBe(0);
  });

  it('starts waiters in FIFO order', async () => {
    const lim = new Limiter(1);
    const gate = deferred();
    const order: number[] = [];
    const first = lim.run(() => gate.promise);
    const rest = [1, 2, 3, 4, 5].map((i) => lim.run(async () => void order.push(i)));
    await tick();
    expect(order).toEqual([]);
    expect(lim.pending).toBe(5);
    gate.resolve();
    await Promise.all([first, ...rest]);
    expect(order).toEqual([1, 2, 3, 4, 5]);
  });

  it('releases the slot when a task rejects or throws synchronously', async () => {
    const lim = new Limiter(1);
    await expect(lim.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(
      lim.run((() => {
        throw new Error('sync');
      }) as () => Promise<void>),
    ).rejects.toThrow('sync');
    expect(lim.active).toBe(0);
    await expect(lim.run(async () => 42)).resolves.toBe(42);
  });

  it('an already-aborted signal rejects without running the task', async () => {
    const lim = new Limiter(2);
    const ac = new AbortController();
    ac.abort();
    let ran = false;
    await expect(lim.run(async () => void (ran = true), ac.signal)).rejects.toBeInstanceOf(AbortError);
    expect(ran).toBe(false);
    expect(lim.active).toBe(0);
  });

  it('an aborted waiter leaves the queue; the next waiter takes its place', async () => {
    const lim = new Limiter(1);
    const gate = deferred();
    const order: string[] = [];
    const first = lim.run(() => gate.promise);
    const ac = new AbortController();
    const aborted = lim.run(async () => void order.push('aborted'), ac.signal);
    const third = lim.run(async () => void order.push('third'));
    await tick();
    expect(lim.pending).toBe(2);
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    await expect(aborted).rejects.toMatchObject({ code: 'aborted' });
    expect(lim.pending).toBe(1);
    gate.resolve();
    await Promise.all([first, third]);
    expect(order).toEqual(['third']);
    expect(lim.active).toBe(0);
    expect(lim.pending).toBe(0);
  });

  it('aborting after a task started does not affect it or the count', async () => {
    const lim = new Limiter(1);
    const ac = new AbortController();
    const gate = deferred<number>();
    const p = lim.run(() => gate.promise, ac.signal);
    await tick();
    ac.abort();
    expect(lim.active).toBe(1);
    gate.resolve(7);
    await expect(p).resolves.toBe(7);
    expect(lim.active).toBe(0);
  });

  it('aborting every waiter leaves the limiter usable', async () => {
    const lim = new Limiter(2);
    const gate = deferred();
    const holders = [lim.run(() => gate.promise), lim.run(() => gate.promise)];
    const ac = new AbortController();
    const waiters = Array.from({ length: 10 }, () => lim.run(async () => 1, ac.signal));
    ac.abort();
    for (const w of waiters) await expect(w).rejects.toBeInstanceOf(AbortError);
    expect(lim.pending).toBe(0);
    gate.resolve();
    await Promise.all(holders);
    await expect(lim.run(async () => 'ok')).resolves.toBe('ok');
    expect(lim.active).toBe(0);
  });

  it('handles many queued tasks (queue compaction)', async () => {
    const lim = new Limiter(2);
    let done = 0;
    await Promise.all(Array.from({ length: 5000 }, () => lim.run(async () => void done++)));
    expect(done).toBe(5000);
    expect(lim.pending).toBe(0);
  });
});
