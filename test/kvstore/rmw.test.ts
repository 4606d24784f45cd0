/**
 * Conditional read-modify-writes that lose a race wait a random, growing time before trying
 * again (rmwPause), so a writer slower than its rivals is not starved until it gives up; the
 * pause ends early on abort. (The cross-process case: test/kvstore/file.test.ts, 4 processes x 50
 * read-modify-writes of one chunk or shard.)
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AbortError, ConditionFailedError } from '../../src/errors.js';
import { MAX_RMW_ATTEMPTS, RMW_PAUSE_CAP_MS, rmwPauseMs, updateKey, type WriteOptions } from '../../src/kvstore/kvstore.js';
import { MemoryStore } from '../../src/kvstore/memory.js';

/** A memory store on which every conditional write loses (another writer always got there first). */
class AlwaysRaced extends MemoryStore {
  reads = 0;
  override async read(...args: Parameters<MemoryStore['read']>) {
    this.reads++;
    return super.read(...args);
  }
  override async write(key: string, value: Uint8Array, options: WriteOptions = {}) {
    if (options.ifEqual !== undefined) return { ok: false as const };
    return super.write(key, value, options);
  }
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('read-modify-write after a lost race', () => {
  it('waits a random time below min(2^attempt, the cap) ms', () => {
    for (let a = 0; a < 12; a++) {
      const bound = Math.min(RMW_PAUSE_CAP_MS, 2 ** a);
      expect(rmwPauseMs(a, () => 0)).toBe(0);
      expect(rmwPauseMs(a, () => 0.5)).toBe(bound / 2);
      expect(rmwPauseMs(a, () => 0.999999)).toBeLessThan(bound);
    }
    expect(rmwPauseMs(1000, () => 0.5)).toBe(RMW_PAUSE_CAP_MS / 2);
  });

  it('updateKey pauses between attempts and gives up after MAX_RMW_ATTEMPTS with ConditionFailedError', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const store = new AlwaysRaced();
    await store.write('k', new Uint8Array([1]));
    let settled = false;
    const done = updateKey(store, 'k', async (v) => Uint8Array.of((v?.[0] ?? 0) + 1)).catch((e: unknown) => e).finally(() => (settled = true));
    // a pause after each of the 64 lost races, half its bound here: 0.5 x (1 + 2 + ... + 32 + 58 x 64) = 1887.5 ms
    await vi.advanceTimersByTimeAsync(1800);
    expect(settled).toBe(false);
    expect(store.reads).toBeLessThan(MAX_RMW_ATTEMPTS);
    await vi.advanceTimersByTimeAsync(100);
    expect(settled).toBe(true);
    const e = await done;
    expect(e).toBeInstanceOf(ConditionFailedError);
    expect((e as Error).message).toContain(`gave up after ${MAX_RMW_ATTEMPTS} conflicting concurrent writes`);
    expect(store.reads).toBe(MAX_RMW_ATTEMPTS);
    const kept = await store.read('k');
    expect(kept.state === 'value' ? [...kept.value] : kept.state).toEqual([1]); // the value is as it was
  });

  it('an abort during the pause rejects with AbortError at once and reads no more', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.99);
    const store = new AlwaysRaced();
    const ac = new AbortController();
    const done = updateKey(store, 'k', async () => new Uint8Array([7]), ac.signal).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(5); // a few lost races, now in a pause
    const reads = store.reads;
    expect(reads).toBeGreaterThan(1);
    ac.abort();
    expect(await done).toBeInstanceOf(AbortError);
    await vi.advanceTimersByTimeAsync(1000);
    expect(store.reads).toBe(reads);
  });
});
