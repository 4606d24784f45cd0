import { describe, expect, it } from 'vitest';
import { boxPositions, gridCells, gridCount, gridPositions, listAxis, rangeAxis, shapePositions } from '../../src/array/grid.js';

describe('grid positions (the one C-order odometer)', () => {
  it('enumerates a box in C order, last dimension fastest', () => {
    expect([...boxPositions([1, 5], [3, 8])]).toEqual([[1, 5], [1, 6], [1, 7], [2, 5], [2, 6], [2, 7]]);
    expect([...shapePositions([2, 1, 2])]).toEqual([[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 0, 1]]);
  });

  it('rank 0 has one position; an empty dimension none', () => {
    expect([...shapePositions([])]).toEqual([[]]);
    expect([...shapePositions([3, 0, 2])]).toEqual([]);
    expect(gridCount([])).toBe(1);
    expect(gridCount([rangeAxis(0, 4), rangeAxis(3, 3)])).toBe(0);
  });

  it('yields fresh arrays (collecting them is safe)', () => {
    const all = [...shapePositions([2, 2])];
    all[0]![0] = 99;
    expect(all[1]).toEqual([0, 1]);
  });

  it('explicit and computed axes', () => {
    const strided = { count: 3, at: (i: number) => 10 * i };
    expect([...gridPositions([listAxis([4, 7]), strided])]).toEqual([[4, 0], [4, 10], [4, 20], [7, 0], [7, 10], [7, 20]]);
  });

  it('is lazy: the first positions of a 10^18-position grid come at once', () => {
    const it = gridPositions([rangeAxis(0, 1e9), rangeAxis(0, 1e9)]);
    expect(it.next().value).toEqual([0, 0]);
    expect(it.next().value).toEqual([0, 1]);
    expect(gridCount([rangeAxis(0, 1e9), rangeAxis(0, 1e9)])).toBe(1e18);
  });
});

describe('gridCells (positions grouped by cell, cell by cell)', () => {
  it('groups a box by 2x3 cells, cells and positions in C order', () => {
    const cells = [...gridCells([rangeAxis(1, 4), rangeAxis(2, 7)], [2, 3])];
    expect(cells).toEqual([
      [[1, 2]],
      [[1, 3], [1, 4], [1, 5]],
      [[1, 6]],
      [[2, 2], [3, 2]],
      [[2, 3], [2, 4], [2, 5], [3, 3], [3, 4], [3, 5]],
      [[2, 6], [3, 6]],
    ]);
  });

  it('covers every position exactly once, for sparse axes too', () => {
    const axes = [listAxis([0, 5, 6, 11, 30]), rangeAxis(3, 13), listAxis([2])];
    const cells = [...gridCells(axes, [4, 5, 8])];
    const flat = cells.flat();
    expect(flat.length).toBe(gridCount(axes));
    expect(new Set(flat.map((p) => p.join())).size).toBe(flat.length);
    for (const cell of cells) {
      const ids = cell.map((p) => p.map((v, d) => Math.floor(v / [4, 5, 8][d]!)).join());
      expect(new Set(ids).size).toBe(1);
    }
    expect(flat.map((p) => p.join()).sort()).toEqual([...gridPositions(axes)].map((p) => p.join()).sort());
  });

  it('an empty axis gives no cells; rank 0 one cell of one position', () => {
    expect([...gridCells([rangeAxis(0, 0)], [2])]).toEqual([]);
    expect([...gridCells([], [])]).toEqual([[[]]]);
  });
});
