/**
 * Scratch for inline decodes (ScratchPool): each decode in flight has its own set; sets given
 * back are reused, and idle scratch is kept only up to ScratchPool.KEEP_BYTES.
 */
import { describe, expect, it } from 'vitest';
import { ScratchBuffers, ScratchPool } from '../../src/codecs/codec.js';

describe('ScratchPool', () => {
  it('hands out distinct sets while in flight and reuses the ones given back', () => {
    const pool = new ScratchPool();
    const a = pool.take();
    const b = pool.take();
    expect(a).not.toBe(b);
    a.get(0, 1000);
    pool.give(a);
    expect(pool.bytes).toBe(1000);
    expect(pool.take()).toBe(a);
    expect(pool.bytes).toBe(0);
    pool.give(b);
    pool.give(a);
    expect(pool.take()).toBe(a); // the last given back first (its buffers are warm)
  });

  it('keeps at most KEEP_BYTES of idle scratch', () => {
    const pool = new ScratchPool();
    const big = (n: number) => {
      const s = new ScratchBuffers();
      s.get(0, n);
      return s;
    };
    const third = Math.floor(ScratchPool.KEEP_BYTES / 3);
    for (let i = 0; i < 5; i++) pool.give(big(third));
    expect(pool.bytes).toBe(3 * third);
    pool.give(big(ScratchPool.KEEP_BYTES)); // over the budget: dropped
    expect(pool.bytes).toBe(3 * third);
  });
});
