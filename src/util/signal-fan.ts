/**
 * Fans one AbortSignal out to many children with a single listener on it. Browser-safe.
 *
 * A read of 64 chunks joins 64 shared loads, and each join listens to its caller's signal; with
 * one signal for all of them, Node warns about a possible listener leak past 10. A fan gives
 * each join its own child signal (aborted with the parent's reason), so the parent carries one
 * listener, removed by {@link SignalFan.dispose}.
 */
export class SignalFan {
  private readonly children = new Set<AbortController>();
  private readonly onAbort = (): void => {
    for (const c of this.children) c.abort(this.parent!.reason);
    this.children.clear();
  };

  /** @param parent the signal to fan out (none: children are undefined too) */
  constructor(private readonly parent: AbortSignal | undefined) {
    parent?.addEventListener('abort', this.onAbort, { once: true });
  }

  /**
   * A child signal (undefined without a parent; already aborted when the parent is), and
   * `release()` to forget it once the work it was given to is done.
   */
  child(): { signal: AbortSignal | undefined; release: () => void } {
    const p = this.parent;
    if (!p) return { signal: undefined, release: () => undefined };
    const c = new AbortController();
    if (p.aborted) c.abort(p.reason);
    else this.children.add(c);
    return { signal: c.signal, release: () => void this.children.delete(c) };
  }

  /** Removes the listener from the parent (children already handed out keep their state). */
  dispose(): void {
    this.parent?.removeEventListener('abort', this.onAbort);
    this.children.clear();
  }
}
