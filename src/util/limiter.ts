/**
 * A small async concurrency limiter: at most `limit` tasks run at once, waiters start in
 * FIFO order. It backs the context resources `file_io_concurrency`,
 * `gcs_request_concurrency` and `data_copy_concurrency`. Browser-safe (no `node:` imports).
 */
import { AbortError } from '../errors.js';

interface Waiter {
  start: () => void;
  /** Set once the waiter has left the queue (started or aborted), so it is skipped. */
  done: boolean;
}

export class Limiter {
  /** Maximum number of tasks running at once (a positive integer, or Infinity). */
  readonly limit: number;
  private running = 0;
  private readonly queue: Waiter[] = [];
  /** Index of the first live entry in `queue`; avoids O(n) `shift()` on long queues. */
  private head = 0;

  /** @throws RangeError unless `limit` is a positive integer or `Infinity`. */
  constructor(limit: number) {
    if (!(limit === Infinity || (Number.isInteger(limit) && limit >= 1))) {
      throw new RangeError(`Limiter: limit must be a positive integer or Infinity, got ${limit}`);
    }
    this.limit = limit;
  }

  /** Tasks currently running. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot (aborted waiters are not counted). */
  get pending(): number {
    let n = 0;
    for (let i = this.head; i < this.queue.length; i++) if (!this.queue[i]!.done) n++;
    return n;
  }

  /**
   * Runs `fn` once a slot is free and resolves/rejects with its result. The slot is released
   * when `fn`'s promise settles, whether it resolves or rejects (or `fn` throws synchronously).
   *
   * `signal` only governs the wait: if it fires before `fn` starts, the waiter leaves the queue
   * and the returned promise rejects with {@link AbortError}. Once started, `fn` is responsible
   * for honouring the signal itself.
   */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new AbortError('operation aborted', { cause: signal.reason });
    if (this.running >= this.limit || this.head < this.queue.length) {
      await this.wait(signal);
    } else {
      this.running++;
    }
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** Waits in the queue; on return the caller already holds a slot (counted in `running`). */
  private wait(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        done: false,
        start: () => {
          waiter.done = true;
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        if (waiter.done) return;
        waiter.done = true;
        reject(new AbortError('operation aborted', { cause: signal!.reason }));
        this.compact();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private release(): void {
    this.running--;
    this.dispatch();
  }

  /** Hands free slots to the oldest live waiters. */
  private dispatch(): void {
    while (this.running < this.limit && this.head < this.queue.length) {
      const w = this.queue[this.head++]!;
      if (w.done) continue;
      this.running++;
      w.start();
    }
    this.compact();
  }

  /** Drops dead entries at the head and reclaims the array once it is mostly consumed. */
  private compact(): void {
    while (this.head < this.queue.length && this.queue[this.head]!.done) this.head++;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
