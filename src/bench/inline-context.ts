import { Context } from '../context/context.js';
import { CodecWorkerPool } from '../workers/pool.js';

/**
 * A Context whose arrays decode on the calling thread (its codec pool is off): the inline path
 * the workers are measured against (issue 11's "x the read without workers" targets).
 */
export class InlineContext extends Context {
  private static readonly off = new CodecWorkerPool({ size: 0 });
  override get codecPool(): CodecWorkerPool {
    return InlineContext.off;
  }
}
