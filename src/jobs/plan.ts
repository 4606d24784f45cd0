/**
 * The plan of a job: the destination's write chunks (shards) as a lazy grid, split into the
 * shares of `n` tasks, and the dependencies between pyramid levels. Pure arithmetic, no I/O:
 * every process of a job computes the same plan from the same arguments, so tasks need no
 * coordinator to agree on who writes what.
 *
 * - **Tasks** are the write chunks (shards) a destination view touches, numbered in C order of
 *   the write-chunk grid (the last dimension fastest). Nothing is materialised: a petabyte
 *   volume has ~10^8 shards; {@link WriteChunkPlan.taskAt} computes one on demand.
 * - **Shares**: task `i` of `n` runs the contiguous range `[floor(i*N/n), floor((i+1)*N/n))` of
 *   the N tasks. Contiguous ranges are slabs along the slowest dimensions, so a task reads a
 *   compact part of the source (source chunks shared by neighbouring shards stay within one
 *   task) and, in a pyramid, a level's share reads mostly the previous level's share of the same
 *   task. Shares differ by at most one shard; clipped edge shards are smaller, which is the
 *   imbalance contiguous ranges accept (round-robin would spread edges evenly but make every
 *   task touch the whole volume and depend on every other task).
 * - **Dependencies**: a shard of level k+1 reads the level-k region its voxels come from
 *   (the region times the factors); {@link WriteChunkPlan.cellsIn} turns that region into the
 *   level-k shards, {@link ownerOf} into the tasks that write them.
 */
import { SpecError } from '../errors.js';
import type { Volume } from '../volume.js';

/** One unit of work: one destination write chunk (shard), clipped to the destination view. */
export interface CopyTask {
  /** Position of the write chunk in the destination view's write-chunk grid. */
  readonly cell: readonly number[];
  /** `[start, stop)` per dimension, in the destination view's coordinates. */
  readonly region: readonly (readonly [number, number])[];
}

/**
 * The write chunks (shards) of a destination view as a lazy, C-ordered grid of tasks.
 * Build it with {@link WriteChunkPlan.of}.
 */
export class WriteChunkPlan {
  /** Number of write chunks (tasks) the view touches. */
  readonly count: number;
  /** Write chunks per dimension of the view. */
  readonly gridShape: readonly number[];

  private constructor(
    /** View bounds `[lo, hi)` per dimension. */
    readonly lo: readonly number[],
    readonly hi: readonly number[],
    /** Origin of the write-chunk grid in view coordinates. */
    readonly origin: readonly number[],
    /** Write chunk (shard) shape in view coordinates (1 for dimensions without one). */
    readonly cellShape: readonly number[],
    /** Grid position of the first write chunk the view touches. */
    readonly first: readonly number[],
  ) {
    this.gridShape = lo.map((l, d) => (hi[d]! <= l ? 0 : Math.floor((hi[d]! - 1 - origin[d]!) / cellShape[d]!) - first[d]! + 1));
    this.count = this.gridShape.reduce((n, s) => n * s, 1);
  }

  /**
   * The plan of `dst`: its view's write chunks. Pure: no I/O.
   * @throws SpecError when the view has non-unit strides (a write chunk of a strided view is not
   *   a box of the view).
   */
  static of(dst: Volume): WriteChunkPlan {
    const lo = dst.domain.inclusiveMin;
    const hi = dst.domain.exclusiveMax;
    const grid = dst.driver.grid;
    const cell = lo.map(() => 1);
    const origin = [...lo];
    dst.transform.outputs.forEach((m, k) => {
      if (m.kind !== 'dim') return;
      if (m.stride !== 1) throw new SpecError('transform', 'copy destination views must have unit strides');
      cell[m.inputDim] = grid.writeChunkShape[k]!;
      origin[m.inputDim] = grid.origin[k]! - m.offset;
    });
    const first = lo.map((l, d) => Math.floor((l - origin[d]!) / cell[d]!));
    return new WriteChunkPlan([...lo], [...hi], origin, cell, first);
  }

  /** The grid position of task `i` (0 <= i < count), C order. */
  cellAt(i: number): number[] {
    if (!Number.isSafeInteger(i) || i < 0 || i >= this.count) throw new RangeError(`task ${i} is outside the plan's ${this.count} tasks`);
    const rank = this.gridShape.length;
    const pos = new Array<number>(rank);
    let rest = i;
    for (let d = rank - 1; d >= 0; d--) {
      const s = this.gridShape[d]!;
      pos[d] = this.first[d]! + (rest % s);
      rest = Math.floor(rest / s);
    }
    return pos;
  }

  /** The linear task number of a grid position (inverse of {@link cellAt}). */
  indexOf(cell: readonly number[]): number {
    let i = 0;
    for (let d = 0; d < cell.length; d++) i = i * this.gridShape[d]! + (cell[d]! - this.first[d]!);
    return i;
  }

  /** Task `i`: its write chunk and the region it covers, clipped to the view. */
  taskAt(i: number): CopyTask {
    const cell = this.cellAt(i);
    return {
      cell,
      region: cell.map((p, d) => {
        const a = this.origin[d]! + p * this.cellShape[d]!;
        return [Math.max(a, this.lo[d]!), Math.min(a + this.cellShape[d]!, this.hi[d]!)] as const;
      }),
    };
  }

  /**
   * The linear numbers of the write chunks that intersect the box `[lo, hi)` (view
   * coordinates, clipped to the view), ascending.
   */
  cellsIn(lo: readonly number[], hi: readonly number[]): number[] {
    const rank = lo.length;
    if (lo.some((l, d) => Math.max(l, this.lo[d]!) >= Math.min(hi[d]!, this.hi[d]!))) return [];
    const a = lo.map((l, d) => Math.floor((Math.max(l, this.lo[d]!) - this.origin[d]!) / this.cellShape[d]!));
    const b = hi.map((h, d) => Math.floor((Math.min(h, this.hi[d]!) - 1 - this.origin[d]!) / this.cellShape[d]!));
    if (a.some((x, d) => x > b[d]!)) return [];
    const out: number[] = [];
    const pos = [...a];
    for (;;) {
      out.push(this.indexOf(pos));
      let d = rank - 1;
      while (d >= 0 && pos[d] === b[d]) {
        pos[d] = a[d]!;
        d--;
      }
      if (d < 0) break;
      pos[d]!++;
    }
    return out;
  }
}

/**
 * The read chunk (inner chunk) shape of a view, per view dimension: the array's chunk extent of
 * the array dimension each view dimension maps to (1 where none does). `chunkLayout` gives it in
 * the array's own order, which differs from the view's after a transpose.
 */
export function viewReadChunk(vol: Volume): number[] {
  const out = vol.domain.inclusiveMin.map(() => 1);
  vol.transform.outputs.forEach((m, k) => {
    if (m.kind === 'dim') out[m.inputDim] = vol.driver.grid.chunkShape[k]!;
  });
  return out;
}

/**
 * The contiguous range `[start, end)` of `total` tasks that task `index` of `count` runs:
 * `floor(index * total / count)` to `floor((index + 1) * total / count)`. The ranges of
 * `index = 0 .. count-1` are disjoint and cover every task; their sizes differ by at most one.
 * @throws RangeError for an index outside `[0, count)` or a count below 1.
 */
export function shareOf(total: number, index: number, count: number): [number, number] {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`task count must be a positive integer, got ${count}`);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) throw new RangeError(`task index must be in [0, ${count}), got ${index}`);
  return [mulDiv(index, total, count), mulDiv(index + 1, total, count)];
}

/** `floor(a * b / c)` exactly, for non-negative safe integers (float division of large products rounds). */
function mulDiv(a: number, b: number, c: number): number {
  return Number((BigInt(a) * BigInt(b)) / BigInt(c));
}

/**
 * The task (of `count`) whose share ({@link shareOf}) holds task number `i` of `total`.
 * @throws RangeError when `i` is outside `[0, total)`.
 */
export function ownerOf(i: number, total: number, count: number): number {
  if (!Number.isSafeInteger(i) || i < 0 || i >= total) throw new RangeError(`task ${i} is outside [0, ${total})`);
  // The largest k with floor(k * total / count) <= i, i.e. k * total < (i + 1) * count:
  // k = ceil((i + 1) * count / total) - 1, in exact integer arithmetic.
  const num = BigInt(i + 1) * BigInt(count);
  const t = BigInt(total);
  return Number((num + t - 1n) / t) - 1;
}
