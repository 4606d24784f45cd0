/**
 * What a job did to its stores, for the summary a task prints (`--json`) and for planning the
 * cost of a large run: objects and bytes read and written, store operations, and the HTTP
 * requests and retries of the network stores underneath.
 */
import type { HttpStats } from '../kvstore/http/client.js';
import type { KvStore } from '../kvstore/kvstore.js';
import { addCounters, CountingStore, emptyCounters, type StoreCounters } from '../kvstore/counting.js';

/**
 * The stores of one job (or one level of it): wraps each store a job opens
 * ({@link StoreTally.wrap}, passed to `open` as `wrapKvStore`) and sums their counters.
 */
export class StoreTally {
  private readonly stores: CountingStore[] = [];

  /** Wraps `store` in a {@link CountingStore} counted by this tally. */
  readonly wrap = (store: KvStore): KvStore => {
    const c = new CountingStore(store);
    this.stores.push(c);
    return c;
  };

  /** The sum of every wrapped store's counters, HTTP requests and retries included. */
  snapshot(): StoreCounters {
    let total = emptyCounters();
    const seen = new Set<HttpStats>();
    for (const s of this.stores) {
      total = addCounters(total, s.counts);
      const h = s.httpStats;
      if (h && !seen.has(h)) {
        seen.add(h);
        total.requests += h.requests;
        total.retries += h.retries;
      }
    }
    return total;
  }
}
