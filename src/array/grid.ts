/**
 * Positions of an n-dimensional grid in C order (last dimension fastest): the one odometer
 * behind chunk enumeration in the planner, the inner chunks of a shard, the write cells of a
 * copy and `forEachIndex`. Positions are produced lazily (generators), so a request touching
 * many chunks never materialises them all.
 */

/** The coordinates visited along one dimension: `count` of them, ascending, the i-th `at(i)`. */
export interface GridAxis {
  readonly count: number;
  at(i: number): number;
}

/** The integers [lo, hi) as an axis (empty when hi <= lo). */
export function rangeAxis(lo: number, hi: number): GridAxis {
  return { count: Math.max(0, hi - lo), at: (i) => lo + i };
}

/** An ascending list of coordinates as an axis. */
export function listAxis(values: readonly number[]): GridAxis {
  return { count: values.length, at: (i) => values[i]! };
}

/** Number of positions of the grid spanned by `axes` (1 for rank 0). May exceed 2^53 as a float. */
export function gridCount(axes: readonly GridAxis[]): number {
  let n = 1;
  for (const a of axes) n *= a.count;
  return n;
}

/** Every position of the product of `axes`, in C order; each yielded array is fresh. */
export function* gridPositions(axes: readonly GridAxis[]): Generator<number[]> {
  const rank = axes.length;
  if (axes.some((a) => a.count === 0)) return;
  const idx = new Array<number>(rank).fill(0);
  for (;;) {
    const pos = new Array<number>(rank);
    for (let d = 0; d < rank; d++) pos[d] = axes[d]!.at(idx[d]!);
    yield pos;
    let d = rank - 1;
    for (; d >= 0; d--) {
      if (++idx[d]! < axes[d]!.count) break;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/** Every integer position in the box [lo, hi), C order. */
export function boxPositions(lo: readonly number[], hi: readonly number[]): Generator<number[]> {
  return gridPositions(lo.map((l, d) => rangeAxis(l, hi[d]!)));
}

/** Every index of an array of `shape` ([0, shape) per dimension), C order. */
export function shapePositions(shape: readonly number[]): Generator<number[]> {
  return gridPositions(shape.map((s) => rangeAxis(0, s)));
}

/**
 * The positions of the grid spanned by `axes`, grouped by cell: a cell is the box of positions
 * with equal `floor(position / cellShape)` in every dimension. Cells come in C order, and the
 * positions inside each cell in C order too, so a consumer sees each cell's positions together
 * (one shard's inner chunks at a time). Memory: per dimension, one boundary per cell the axis
 * crosses, plus the positions of the cell being yielded.
 */
export function* gridCells(axes: readonly GridAxis[], cellShape: readonly number[]): Generator<number[][]> {
  if (axes.some((a) => a.count === 0)) return;
  // Per dimension, the axis indices where a new cell starts (ascending axes: cells are runs).
  const starts = axes.map((a, d) => {
    const c = cellShape[d]!;
    const s: number[] = [0];
    let cell = Math.floor(a.at(0) / c);
    for (let i = 1; i < a.count; i++) {
      const next = Math.floor(a.at(i) / c);
      if (next !== cell) {
        s.push(i);
        cell = next;
      }
    }
    s.push(a.count);
    return s;
  });
  const runs = starts.map((s) => rangeAxis(0, s.length - 1));
  for (const run of gridPositions(runs)) {
    const inner = run.map((r, d): GridAxis => {
      const a = axes[d]!;
      const from = starts[d]![r]!;
      return { count: starts[d]![r + 1]! - from, at: (i) => a.at(from + i) };
    });
    yield [...gridPositions(inner)];
  }
}
