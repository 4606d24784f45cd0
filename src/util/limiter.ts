/**
 * A small async concurrency limiter with two priorities: at most `limit` tasks run at once;
 * waiting demand tasks always start before waiting prefetch tasks, each class in FIFO order. It
 * backs the context resources `file_io_concurrency`, `gcs_request_concurrency`,
 * `http_request_concurrency`, ... (the request scheduler is these limiters, the prefetcher's
 * ordering in `src/io/prefetch.ts` and the shard read path's range merging: see "Cache pool,
 * scheduler and prefetch" in docs/ARCHITECTURE.md). Browser-safe (no `node:` imports).
 *
 * Prefetch tasks may hold at most {@link Limiter.prefetchLimit} slots (the limit minus a quarter
 * of it, at least one), so a demand request arriving while a prefetch burst is running still
 * finds a free slot rather than queueing behind a full round trip of prefetches.
 */
import { AbortError } from '../errors.js';

/** The two request priorities: what a caller is waiting for now, and what may be needed next. */
export type Priority = 'demand' | 'prefetch';

/**
 * A request priority that can be raised from prefetch to demand while the request waits (a
 * demand read joining a prefetch that is still queued). Pass it as `ReadOptions.priority`;
 * every limiter slot the request is waiting for moves to the demand queue when it is raised.
 */
export class RequestPriority {
  private current: Priority;
  private listeners: Set<() => void> | undefined;

  constructor(level: Priority = 'prefetch') {
    this.current = level;
  }

  /** The current level. */
  get level(): Priority {
    return this.current;
  }

  /** Raises the priority to demand (no-op when it is already demand) and tells waiting limiters. */
  raise(): void {
    if (this.current === 'demand') return;
    this.current = 'demand';
    const ls = this.listeners;
    this.listeners = undefined;
    if (ls) for (const l of ls) l();
  }

  /** Calls `fn` once when raised; returns an unsubscribe function. */
  onRaise(fn: () => void): () => void {
    if (this.current === 'demand') return () => undefined;
    (this.listeners ??= new Set()).add(fn);
    return () => void this.listeners?.delete(fn);
  }
}

/** The level of a priority given as a level or a {@link RequestPriority} (demand when absent). */
export function levelOf(p: Priority | RequestPriority | undefined): Priority {
  if (p === undefined) return 'demand';
  return typeof p === 'string' ? p : p.level;
}

interface Waiter {
  start: () => void;
  /** Set once the waiter has left its queue (started, aborted or moved), so it is skipped. */
  done: boolean;
}

/** A FIFO of waiters with lazy removal (dead entries are skipped and compacted). */
class Queue {
  private items: Waiter[] = [];
  private head = 0;

  push(w: Waiter): void {
    this.items.push(w);
  }

  /** The oldest live waiter, without removing it. */
  peek(): Waiter | undefined {
    this.compact();
    return this.items[this.head];
  }

  shift(): Waiter | undefined {
    const w = this.peek();
    if (w) this.head++;
    this.compact();
    return w;
  }

  get live(): number {
    let n = 0;
    for (let i = this.head; i < this.items.length; i++) if (!this.items[i]!.done) n++;
    return n;
  }

  /** Drops dead entries at the head and reclaims the array once it is mostly consumed. */
  compact(): void {
    while (this.head < this.items.length && this.items[this.head]!.done) this.head++;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }
}

export class Limiter {
  /** Maximum number of tasks running at once (a positive integer, or Infinity). */
  readonly limit: number;
  /** Most prefetch tasks running at once: `limit - ceil(limit / 4)`, at least 1. */
  readonly prefetchLimit: number;
  private running = 0;
  private runningPrefetch = 0;
  private startedCount = 0;
  private readonly demand = new Queue();
  private readonly prefetch = new Queue();

  /** @throws RangeError unless `limit` is a positive integer or `Infinity`. */
  constructor(limit: number) {
    if (!(limit === Infinity || (Number.isInteger(limit) && limit >= 1))) {
      throw new RangeError(`Limiter: limit must be a positive integer or Infinity, got ${limit}`);
    }
    this.limit = limit;
    this.prefetchLimit = limit === Infinity ? Infinity : Math.max(1, limit - Math.ceil(limit / 4));
  }

  /** Tasks currently running (both priorities). */
  get active(): number {
    return this.running;
  }

  /** Prefetch tasks currently running. */
  get activePrefetch(): number {
    return this.runningPrefetch;
  }

  /** Tasks waiting for a slot, both priorities (aborted waiters are not counted). */
  get pending(): number {
    return this.demand.live + this.prefetch.live;
  }

  /** Prefetch tasks waiting for a slot. */
  get pendingPrefetch(): number {
    return this.prefetch.live;
  }

  /** Tasks started since the limiter was made (one per store request or filesystem call). */
  get started(): number {
    return this.startedCount;
  }

  /**
   * Runs `fn` once a slot is free and resolves/rejects with its result. The slot is released
   * when `fn`'s promise settles, whether it resolves or rejects (or `fn` throws synchronously).
   *
   * `signal` only governs the wait: if it fires before `fn` starts, the waiter leaves the queue
   * at once and the returned promise rejects with {@link AbortError}. Once started, `fn` is
   * responsible for honouring the signal itself (its slot frees when it settles).
   *
   * `priority` (default demand): waiting demand tasks start before waiting prefetch tasks;
   * a {@link RequestPriority} raised while waiting moves the task to the demand queue.
   */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal, priority?: Priority | RequestPriority): Promise<T> {
    if (signal?.aborted) throw new AbortError('operation aborted', { cause: signal.reason });
    let prefetch = levelOf(priority) === 'prefetch';
    if (this.canStart(prefetch) && this.demand.peek() === undefined && (!prefetch || this.prefetch.peek() === undefined)) {
      this.take(prefetch);
    } else {
      prefetch = await this.wait(signal, prefetch, typeof priority === 'object' ? priority : undefined);
    }
    try {
      return await fn();
    } finally {
      this.release(prefetch);
    }
  }

  private canStart(prefetch: boolean): boolean {
    return this.running < this.limit && (!prefetch || this.runningPrefetch < this.prefetchLimit);
  }

  private take(prefetch: boolean): void {
    this.running++;
    this.startedCount++;
    if (prefetch) this.runningPrefetch++;
  }

  /**
   * Waits in a queue; on return the caller holds a slot (counted in `running`). Resolves with
   * whether the slot is a prefetch slot (false once the priority was raised while waiting).
   */
  private wait(signal: AbortSignal | undefined, prefetch: boolean, ticket: RequestPriority | undefined): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let unsubscribe: (() => void) | undefined;
      let current: Waiter;
      const cleanup = (): void => {
        signal?.removeEventListener('abort', onAbort);
        unsubscribe?.();
      };
      const enqueue = (asPrefetch: boolean): void => {
        const w: Waiter = {
          done: false,
          start: () => {
            w.done = true;
            cleanup();
            resolve(asPrefetch);
          },
        };
        current = w;
        (asPrefetch ? this.prefetch : this.demand).push(w);
      };
      const onAbort = (): void => {
        if (current.done) return;
        current.done = true;
        cleanup();
        reject(new AbortError('operation aborted', { cause: signal!.reason }));
        this.demand.compact();
        this.prefetch.compact();
      };
      enqueue(prefetch);
      if (prefetch && ticket) {
        unsubscribe = ticket.onRaise(() => {
          if (current.done) return;
          current.done = true; // leave the prefetch queue...
          enqueue(false); // ...for the demand queue
          this.dispatch();
        });
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(prefetch: boolean): void {
    this.running--;
    if (prefetch) this.runningPrefetch--;
    this.dispatch();
  }

  /** Hands free slots to the oldest live demand waiters, then to prefetch waiters. */
  private dispatch(): void {
    while (this.running < this.limit) {
      const d = this.demand.shift();
      if (d) {
        this.take(false);
        d.start();
        continue;
      }
      if (this.runningPrefetch >= this.prefetchLimit) break;
      const p = this.prefetch.shift();
      if (!p) break;
      this.take(true);
      p.start();
    }
  }
}
