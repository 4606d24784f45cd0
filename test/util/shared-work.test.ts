import { describe, expect, it } from 'vitest';
import { AbortError } from '../../src/errors.js';
import { SharedWork } from '../../src/util/shared-work.js';

/** Work that resolves when told to and records whether its signal fired. */
function controllable<V>() {
  let resolve!: (v: V) => void;
  let reject!: (e: unknown) => void;
  let started = 0;
  let signal: AbortSignal | undefined;
  const work = (s: AbortSignal | undefined): Promise<V> => {
    started++;
    signal = s ?? new AbortController().signal; // no signal: the work cannot be cancelled
    return new Promise<V>((res, rej) => {
      resolve = res;
      reject = rej;
      s?.addEventListener('abort', () => rej(new AbortError('work cancelled', { cause: s.reason })), { once: true });
    });
  };
  return {
    work,
    resolve: (v: V) => resolve(v),
    reject: (e: unknown) => reject(e),
    get started() {
      return started;
    },
    get signal() {
      return signal!;
    },
  };
}

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

describe('SharedWork', () => {
  it('runs the work once for concurrent callers of one key and gives each the result', async () => {
    const sw = new SharedWork<string, number[]>();
    const c = controllable<number[]>();
    const ps = [1, 2, 3, 4].map(() => sw.run('k', c.work, new AbortController().signal));
    ps.push(sw.run('k', c.work)); // a caller without a signal
    expect(c.started).toBe(1);
    expect(sw.has('k')).toBe(true);
    const value = [7, 8];
    c.resolve(value);
    for (const p of ps) expect(await p).toBe(value);
    expect(sw.size).toBe(0);
  });

  it('different keys run separately', async () => {
    const sw = new SharedWork<string, string>();
    const p = await Promise.all(['a', 'b', 'a'].map((k) => sw.run(k, async () => `${k}!`)));
    expect(p).toEqual(['a!', 'b!', 'a!']);
  });

  it('one caller aborting leaves at once with AbortError; the others get the result and the work is not cancelled', async () => {
    const sw = new SharedWork<string, string>();
    const c = controllable<string>();
    const early = new AbortController();
    const pEarly = sw.run('k', c.work, early.signal);
    const others = [sw.run('k', c.work, new AbortController().signal), sw.run('k', c.work, new AbortController().signal)];
    early.abort(new Error('stale slice'));
    await expect(pEarly).rejects.toBeInstanceOf(AbortError);
    await expect(pEarly).rejects.toMatchObject({ cause: { message: 'stale slice' } });
    expect(c.signal.aborted).toBe(false);
    c.resolve('data');
    expect(await Promise.all(others)).toEqual(['data', 'data']);
  });

  it('the work is cancelled when the last waiter aborts, and a later caller starts afresh', async () => {
    const sw = new SharedWork<string, string>();
    const c = controllable<string>();
    const acs = [new AbortController(), new AbortController(), new AbortController()];
    const ps = acs.map((ac) => sw.run('k', c.work, ac.signal).catch((e: unknown) => e));
    acs[0]!.abort();
    acs[1]!.abort();
    await tick();
    expect(c.signal.aborted).toBe(false);
    acs[2]!.abort(new Error('gone'));
    for (const p of ps) expect(await p).toBeInstanceOf(AbortError);
    expect(c.signal.aborted).toBe(true);
    expect((c.signal.reason as Error).message).toBe('gone');
    expect(sw.size).toBe(0);
    // A new caller does not join the cancelled work.
    const d = controllable<string>();
    const p = sw.run('k', d.work);
    expect(d.started).toBe(1);
    d.resolve('fresh');
    expect(await p).toBe('fresh');
  });

  it('a caller without a signal keeps the work alive when every other caller aborts', async () => {
    const sw = new SharedWork<string, string>();
    const c = controllable<string>();
    const ac = new AbortController();
    const pAbort = sw.run('k', c.work, ac.signal);
    const pKeep = sw.run('k', c.work);
    ac.abort();
    await expect(pAbort).rejects.toBeInstanceOf(AbortError);
    expect(c.signal.aborted).toBe(false);
    c.resolve('v');
    expect(await pKeep).toBe('v');
  });

  it('an already aborted signal rejects without starting or joining work', async () => {
    const sw = new SharedWork<string, string>();
    const c = controllable<string>();
    const ac = new AbortController();
    ac.abort();
    await expect(sw.run('k', c.work, ac.signal)).rejects.toBeInstanceOf(AbortError);
    expect(c.started).toBe(0);
    expect(sw.size).toBe(0);
  });

  it('a rejection reaches every waiter, and the key is free again afterwards', async () => {
    const sw = new SharedWork<string, string>();
    const c = controllable<string>();
    const ps = [sw.run('k', c.work, new AbortController().signal), sw.run('k', c.work)];
    c.reject(new RangeError('broken'));
    for (const p of ps) await expect(p).rejects.toBeInstanceOf(RangeError);
    expect(sw.size).toBe(0);
    expect(await sw.run('k', async () => 'ok')).toBe('ok');
  });

  it('work that throws synchronously rejects its callers', async () => {
    const sw = new SharedWork<string, string>();
    await expect(
      sw.run('k', () => {
        throw new TypeError('sync');
      }),
    ).rejects.toBeInstanceOf(TypeError);
    expect(sw.size).toBe(0);
  });

  it('a rejection after every waiter left is not an unhandled rejection', async () => {
    const sw = new SharedWork<string, string>();
    const ac = new AbortController();
    let rejectWork!: (e: unknown) => void;
    const p = sw.run('k', () => new Promise<string>((_, rej) => (rejectWork = rej)), ac.signal);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    rejectWork(new Error('late failure'));
    await tick();
    await tick();
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  it('removes its abort listener from a long-lived caller signal once settled', async () => {
    const sw = new SharedWork<number, number>();
    const ac = new AbortController();
    let added = 0;
    let removed = 0;
    const add = ac.signal.addEventListener.bind(ac.signal);
    const remove = ac.signal.removeEventListener.bind(ac.signal);
    ac.signal.addEventListener = ((...a: Parameters<typeof add>) => (added++, add(...a))) as typeof add;
    ac.signal.removeEventListener = ((...a: Parameters<typeof remove>) => (removed++, remove(...a))) as typeof remove;
    for (let i = 0; i < 100; i++) await sw.run(i, async () => i, ac.signal);
    expect(added).toBe(100);
    expect(removed).toBe(100);
  });

  it('work started by a caller without a signal gets none (it can never be cancelled: no controller is made)', async () => {
    const sw = new SharedWork<string, string>();
    let got: AbortSignal | undefined | 'unset' = 'unset';
    const p = sw.run('k', async (s) => {
      got = s;
      return 'v';
    });
    expect(got).toBeUndefined();
    expect(await p).toBe('v');
  });
});
