/**
 * The plan of a job is pure arithmetic every task computes alike: shares partition the shards,
 * owners agree with shares, the lazy grid equals the materialised one, and a level's input
 * dependencies are exactly the shards its windows read.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { destinationSpec, NdArray, open, planCopy } from '../../src/index.js';
import { inputOwners } from '../../src/jobs/job.js';
import { ownerOf, shareOf, WriteChunkPlan } from '../../src/jobs/plan.js';

describe('shares and owners', () => {
  it('shares of 0..n-1 are disjoint, contiguous, cover every task and differ by at most one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 300 }), (total, n) => {
        let next = 0;
        const sizes: number[] = [];
        for (let i = 0; i < n; i++) {
          const [a, b] = shareOf(total, i, n);
          expect(a).toBe(next);
          next = b;
          sizes.push(b - a);
        }
        expect(next).toBe(total);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('ownerOf names the share holding each task, also for huge totals', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 46 }), fc.integer({ min: 1, max: 1_000_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (total, n, u) => {
        const i = Math.min(total - 1, Math.floor(u * total));
        const k = ownerOf(i, total, n);
        const [a, b] = shareOf(total, k, n);
        expect(i >= a && i < b).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects an index outside [0, count) and a count below 1', () => {
    expect(() => shareOf(10, 3, 3)).toThrow(RangeError);
    expect(() => shareOf(10, 0, 0)).toThrow(RangeError);
    expect(() => ownerOf(10, 10, 2)).toThrow(RangeError);
  });
});

async function volume(name: string, shape: number[], chunk: number[], shard?: number[]) {
  const like = await open({ driver: 'zarr3', kvstore: `memory://plan-${name}/like/`, create: true, delete_existing: true, dtype: 'uint8', schema: { domain: { shape }, chunk_layout: { chunk: { shape: chunk } } } });
  return open({ ...(await destinationSpec(`memory://plan-${name}/v/`, like, { chunkShape: chunk, shardShape: shard })), delete_existing: true });
}

describe('WriteChunkPlan', () => {
  it('taskAt is planCopy without materialising; indexOf inverts cellAt; views are planned in their own coordinates', async () => {
    const v = await volume('grid', [50, 37, 20], [5, 6, 4], [10, 12, 20]);
    const plan = WriteChunkPlan.of(v);
    expect(plan.gridShape).toEqual([5, 4, 1]);
    const list = planCopy(v);
    expect(list).toHaveLength(plan.count);
    list.forEach((t, i) => {
      expect(plan.taskAt(i)).toEqual(t);
      expect(plan.indexOf(t.cell)).toBe(i);
    });
    // A translated, sliced, transposed view: regions are boxes of the view, clipped to it.
    const view = v.slice([[7, 50], [0, 37], [3, 20]]).transpose([2, 0, 1]).translateBy([100, 0, 0]);
    const vp = WriteChunkPlan.of(view);
    let covered = 0;
    for (let i = 0; i < vp.count; i++) {
      const r = vp.taskAt(i).region;
      covered += r.reduce((n, [a, b]) => n * (b - a), 1);
      r.forEach(([a, b], d) => expect(a >= view.domain.inclusiveMin[d]! && b <= view.domain.exclusiveMax[d]! && a < b).toBe(true));
    }
    expect(covered).toBe(view.shape.reduce((n, s) => n * s, 1));
  });

  it('cellsIn lists exactly the write chunks a box touches', async () => {
    const v = await volume('cells', [50, 37, 20], [5, 6, 4], [10, 12, 8]);
    const plan = WriteChunkPlan.of(v);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: -5, max: 60 }), fc.integer({ min: 0, max: 30 })), { minLength: 3, maxLength: 3 }), (box) => {
        const lo = box.map(([a]) => a);
        const hi = box.map(([a, n]) => a + n);
        const want: number[] = [];
        const empty = lo.some((l, d) => Math.max(l, plan.lo[d]!) >= Math.min(hi[d]!, plan.hi[d]!));
        for (let i = 0; i < plan.count && !empty; i++) {
          const r = plan.taskAt(i).region;
          if (r.every(([a, b], d) => a < Math.min(hi[d]!, plan.hi[d]!) && b > Math.max(lo[d]!, plan.lo[d]!))) want.push(i);
        }
        expect(plan.cellsIn(lo, hi)).toEqual(want);
      }),
    );
  });
});

describe('level dependencies', () => {
  it('the owners of a share are the tasks that wrote the shards its windows read, computed not guessed', async () => {
    const s0 = await volume('dep0', [64, 48, 40], [8, 8, 8], [16, 16, 8]);
    await s0.write(NdArray.zeros('uint8', [64, 48, 40]));
    const s1 = await volume('dep1', [32, 24, 20], [8, 8, 8], [16, 8, 8]);
    const p1 = WriteChunkPlan.of(s1);
    const p0 = WriteChunkPlan.of(s0);
    for (const n of [1, 2, 3, 7]) {
      for (let t = 0; t < n; t++) {
        const [a, b] = shareOf(p1.count, t, n);
        const got = inputOwners(p1, a, b, s0, [2, 2, 2], s1, n);
        // Brute force: every level-0 shard whose box meets a window of the share.
        const want = new Set<number>();
        for (let i = a; i < b; i++) {
          const r = p1.taskAt(i).region.map(([x, y]) => [2 * x, 2 * y]);
          for (let j = 0; j < p0.count; j++) {
            if (p0.taskAt(j).region.every(([x, y], d) => x < r[d]![1]! && y > r[d]![0]!)) want.add(ownerOf(j, p0.count, n));
          }
        }
        expect([...got].sort()).toEqual([...want].sort());
      }
    }
  });
});
