/**
 * Shared in-flight work with reference-counted cancellation. Browser-safe (no `node:` imports).
 *
 * When several callers want the same thing at the same time (one shard index, one merged byte
 * range, one chunk decode), the work runs once and every caller awaits it. The work does NOT run
 * under the first caller's AbortSignal: it gets its own controller, which is aborted only when
 * every caller still waiting has aborted. A caller that aborts leaves at once with
 * {@link AbortError}; the others keep waiting and get the result. One viewer cancelling a stale
 * slice therefore never fails the slice another caller is looking at.
 *
 * ```ts
 * const indexes = new SharedWork<string, ShardIndex>();
 * const idx = await indexes.run(shardKey, (signal) => fetchIndex(shardKey, signal), callerSignal);
 * ```
 */
import { AbortError } from '../errors.js';
import { levelOf, type Priority, RequestPriority } from './limiter.js';

interface Entry<V> {
  /**
   * The work's promise while it is in flight; dropped when it settles, so that a stale slot of
   * the map's backing table (promoted to the old generation by a rehash) cannot keep the
   * result (a decoded chunk, a merged read's buffer) alive until the next full GC.
   */
  promise: Promise<V> | undefined;
  /** Absent when the caller that started the work had no signal: it can then never be cancelled. */
  readonly controller: AbortController | undefined;
  /** Callers currently waiting (joined and neither settled nor aborted). */
  waiters: number;
}

/**
 * A keyed map of in-flight work. `run(key, work, signal)` starts `work` for a key that has none
 * in flight, or joins the one that is. An entry leaves the map when its work settles, or when
 * its last waiter aborts (the work's signal is then aborted, and a later `run` of the same key
 * starts afresh rather than joining cancelled work). Results are shared by reference: callers
 * must treat them as read-only.
 */
export class SharedWork<K, V> {
  private readonly entries = new Map<K, Entry<V>>();

  /** Number of keys with work in flight. */
  get size(): number {
    return this.entries.size;
  }

  /** Whether work for `key` is in flight. */
  has(key: K): boolean {
    return this.entries.has(key);
  }

  /**
   * Resolves with the result of the in-flight work for `key`, starting `work` when there is none.
   *
   * @param work receives the shared work's own signal (aborted only when every waiter has
   *   aborted); it should pass it to the I/O it does. It is undefined when the caller starting
   *   the work has no signal: that caller waits until the work settles, so the work can never
   *   be cancelled (and no AbortController is made for it).
   * @param signal this caller's signal: when it fires, this call rejects at once with
   *   AbortError (cause: the signal's reason) and stops counting as a waiter. Without a signal
   *   the caller waits until the work settles, which also keeps the work from being cancelled.
   * @throws AbortError when `signal` is already aborted or fires while waiting; otherwise
   *   whatever `work` rejects with (every waiter sees the same rejection).
   */
  run(key: K, work: (signal: AbortSignal | undefined) => Promise<V>, signal?: AbortSignal): Promise<V> {
    if (signal?.aborted) return Promise.reject(new AbortError('operation aborted', { cause: signal.reason }));
    let entry = this.entries.get(key);
    if (!entry) entry = this.start(key, work, signal !== undefined);
    entry.waiters++;
    // In the map, the entry's work is in flight: its promise is set (settling clears both).
    const promise = entry.promise!;
    if (!signal) return promise;
    const e = entry;
    return new Promise<V>((resolve, reject) => {
      let left = false;
      const onAbort = (): void => {
        if (left) return;
        left = true;
        this.leave(key, e, signal.reason);
        reject(new AbortError('operation aborted', { cause: signal.reason }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          if (left) return;
          left = true;
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          if (left) return;
          left = true;
          reject(err);
        },
      );
    });
  }

  private start(key: K, work: (signal: AbortSignal | undefined) => Promise<V>, abortable: boolean): Entry<V> {
    const controller = abortable ? new AbortController() : undefined;
    let promise: Promise<V>;
    try {
      promise = work(controller?.signal);
    } catch (e) {
      promise = Promise.reject(e);
    }
    const entry: Entry<V> = { promise, controller, waiters: 0 };
    // The entry leaves the map once settled; a rejection nobody waits for any more (every
    // waiter aborted) must not surface as an unhandled rejection.
    const settle = (): void => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      entry.promise = undefined;
    };
    promise.then(settle, settle);
    this.entries.set(key, entry);
    return entry;
  }

  /** One waiter aborted: when it was the last, cancel the work and forget it. */
  private leave(key: K, entry: Entry<V>, reason: unknown): void {
    entry.waiters--;
    if (entry.waiters > 0) return;
    if (this.entries.get(key) === entry) this.entries.delete(key);
    entry.controller?.abort(reason);
  }
}

/**
 * {@link SharedWork} whose work carries a request priority: the work runs with a
 * {@link RequestPriority} that is demand when any caller is a demand caller (raised when a demand
 * caller joins, or when a joined caller's own raisable priority is raised), else prefetch. The
 * shard read path shares index fetches, merged range reads and generation checks through it,
 * so a prefetch of a shard never keeps a demand read that joins it waiting at prefetch priority.
 */
export class PrioritizedWork<K, V> {
  private readonly work = new SharedWork<K, V>();
  private readonly tickets = new Map<K, RequestPriority>();

  /** Whether work for `key` is in flight. */
  has(key: K): boolean {
    return this.work.has(key);
  }

  /**
   * As {@link SharedWork.run}; `work` also receives the shared priority to pass to the reads it
   * makes. `priority` is this caller's (default demand).
   * @throws AbortError when `signal` fires; whatever `work` rejects with.
   */
  run(
    key: K,
    work: (signal: AbortSignal | undefined, priority: RequestPriority) => Promise<V>,
    signal?: AbortSignal,
    priority?: Priority | RequestPriority,
  ): Promise<V> {
    const existing = this.tickets.get(key);
    if (existing && this.work.has(key)) {
      followPriority(priority, existing);
      return this.work.run(key, () => Promise.reject(new Error('unreachable: joined work')), signal);
    }
    const ticket = new RequestPriority(levelOf(priority));
    followPriority(priority, ticket);
    this.tickets.set(key, ticket);
    return this.work.run(key, async (s) => {
      try {
        return await work(s, ticket);
      } finally {
        if (this.tickets.get(key) === ticket) this.tickets.delete(key);
      }
    }, signal);
  }
}

/** Makes `ticket` demand now if `caller` is demand, or once `caller`'s raisable priority is raised. */
export function followPriority(caller: Priority | RequestPriority | undefined, ticket: RequestPriority): void {
  if (levelOf(caller) === 'demand') ticket.raise();
  else if (caller instanceof RequestPriority) caller.onRaise(() => ticket.raise());
}
