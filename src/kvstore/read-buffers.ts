/**
 * Reusable buffers for chunk reads whose bytes are dead once the chunk is placed into a read's
 * result (ReadOptions.buffer). Reading every chunk of a big read into fresh memory costs a page
 * fault per 4 KiB when the store fills it and an unmapping when the garbage collector frees it:
 * for a raw 134 MB read, more than the copy into the result. The planner takes a buffer for
 * each chunk it will place and gives it back once the chunk is placed and nothing kept it (the
 * decoded chunk was not cached or shared); a buffer a store did not use is never taken back.
 */

/** Bytes of idle buffers kept at most (the rest are left to the garbage collector). */
export const READ_BUFFER_BYTES = 16 * 1024 * 1024;

/** Buffers bigger than this are never recycled (a few such chunks would fill the pool). */
const MAX_RECYCLED = 4 * 1024 * 1024;

export class ReadBuffers {
  private readonly free = new Map<number, Uint8Array[]>();
  /** Buffers this pool handed out (only those come back). */
  private readonly ours = new WeakSet<ArrayBufferLike>();
  /** Buffers handed out as several views (see share): views not given back yet. */
  private readonly shares = new WeakMap<ArrayBufferLike, number>();
  private held = 0;
  /** Buffers handed out, and how many of them were reused (for tests and the bench). */
  readonly stats = { taken: 0, reused: 0 };

  constructor(private readonly limit = READ_BUFFER_BYTES) {}

  /** A buffer of exactly `length` bytes (reused when one is idle; contents undefined). */
  readonly take = (length: number): Uint8Array | undefined => {
    if (length > MAX_RECYCLED || length === 0) return undefined;
    const list = this.free.get(length);
    const b = list?.pop();
    this.stats.taken++;
    if (b) {
      this.held -= b.byteLength;
      this.stats.reused++;
      return b;
    }
    const fresh = allocUninitialized(length);
    this.ours.add(fresh.buffer);
    return fresh;
  };

  /**
   * Declares that `count` views of the buffer under `value` will be handed out (the members of
   * a merged shard read): it comes back only when each of them was given back. Views that are
   * never given back (a member whose caller aborted, or whose chunk was kept) keep it out of
   * the pool for good; the garbage collector then frees it. Buffers not from this pool are
   * ignored. Call it before handing out any view.
   */
  share(value: Uint8Array, count: number): void {
    if (this.ours.has(value.buffer) && count > 0) this.shares.set(value.buffer, count);
  }

  /**
   * Gives back the buffer under `value` if this pool handed it out; the caller holds no view of
   * it any more. A shared buffer ({@link share}) needs each of its views given back once.
   */
  give(value: Uint8Array | undefined): void {
    if (!value || !this.ours.has(value.buffer) || value.buffer.byteLength === 0) return;
    const views = this.shares.get(value.buffer);
    if (views !== undefined) {
      if (views > 1) {
        this.shares.set(value.buffer, views - 1);
        return;
      }
      this.shares.delete(value.buffer);
    }
    const b = new Uint8Array(value.buffer, 0, value.buffer.byteLength);
    if (this.held + b.byteLength > this.limit) return;
    let list = this.free.get(b.byteLength);
    if (!list) this.free.set(b.byteLength, (list = []));
    if (list.some((x) => x.buffer === b.buffer)) return; // given back twice
    list.push(b);
    this.held += b.byteLength;
  }

  /** Bytes of idle buffers held. */
  get bytes(): number {
    return this.held;
  }
}

/** `length` bytes not zeroed where Node offers that (Buffer.allocUnsafeSlow: unpooled, exact size), else zeroed. */
function allocUninitialized(length: number): Uint8Array {
  const B = (globalThis as { Buffer?: { allocUnsafeSlow(n: number): Uint8Array } }).Buffer;
  return B ? new Uint8Array(B.allocUnsafeSlow(length).buffer, 0, length) : new Uint8Array(length);
}

/** The process's read buffers (the planner's, and merged shard reads', src/sharding/coalesce.ts). */
export const readBuffers = new ReadBuffers();
