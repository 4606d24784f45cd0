import { describe, expect, it } from 'vitest';
import { IndexDomain } from '../../src/index-space/index.js';
import { OutOfBoundsError, SpecError } from '../../src/errors.js';

describe('IndexDomain', () => {
  it('constructs with default labels, rank and shape', () => {
    const d = new IndexDomain([1, -2], [4, 3]);
    expect(d.rank).toBe(2);
    expect(d.shape).toEqual([3, 5]);
    expect(d.labels).toEqual(['', '']);
    expect(d.numElements).toBe(15);
    expect(d.isEmpty).toBe(false);
    expect(d.contains([1, -2])).toBe(true);
    expect(d.contains([4, 0])).toBe(false);
  });

  it('fromShape starts at zero', () => {
    const d = IndexDomain.fromShape([2, 3], ['y', 'x']);
    expect(d.inclusiveMin).toEqual([0, 0]);
    expect(d.exclusiveMax).toEqual([2, 3]);
    expect(d.labels).toEqual(['y', 'x']);
  });

  it('allows empty extents and rank 0', () => {
    const d = new IndexDomain([5], [5]);
    expect(d.isEmpty).toBe(true);
    expect(d.numElements).toBe(0);
    const z = new IndexDomain([], []);
    expect(z.rank).toBe(0);
    expect(z.numElements).toBe(1);
  });

  it('rejects bad bounds and duplicate labels', () => {
    expect(() => new IndexDomain([0], [1, 2])).toThrow(SpecError);
    expect(() => new IndexDomain([3], [2])).toThrow(SpecError);
    expect(() => new IndexDomain([0.5], [2])).toThrow(SpecError);
    expect(() => new IndexDomain([0, 0], [1, 1], ['x', 'x'])).toThrow(/duplicate label "x"/);
    expect(() => new IndexDomain([0, 0], [1, 1], ['x'])).toThrow(SpecError);
    // empty labels may repeat
    expect(new IndexDomain([0, 0], [1, 1], ['', '']).labels).toEqual(['', '']);
  });

  it('dimIndex resolves labels and negative dimension indices', () => {
    const d = IndexDomain.fromShape([2, 3, 4], ['z', 'y', 'x']);
    expect(d.dimIndex('x')).toBe(2);
    expect(d.dimIndex(0)).toBe(0);
    expect(d.dimIndex(-1)).toBe(2);
    expect(d.dimIndex(-3)).toBe(0);
    expect(() => d.dimIndex('w')).toThrow(OutOfBoundsError);
    expect(() => d.dimIndex('w')).toThrow(/"w"/);
    expect(() => d.dimIndex(3)).toThrow(/3/);
    expect(() => d.dimIndex(-4)).toThrow(/-4/);
    expect(() => d.dimIndex('')).toThrow(OutOfBoundsError);
  });

  it('toJSON omits all-empty labels', () => {
    expect(new IndexDomain([1], [3]).toJSON()).toEqual({ inclusive_min: [1], exclusive_max: [3] });
    expect(IndexDomain.fromShape([2], ['x']).toJSON()).toEqual({ inclusive_min: [0], exclusive_max: [2], labels: ['x'] });
  });

  it('fromJSON accepts exclusive_max / inclusive_max / shape / labels and round-trips', () => {
    const a = IndexDomain.fromJSON({ inclusive_min: [1, 2], exclusive_max: [5, 7], labels: ['x', 'y'] });
    expect(a.shape).toEqual([4, 5]);
    const b = IndexDomain.fromJSON({ inclusive_min: [1, 2], inclusive_max: [4, 6], labels: ['x', 'y'] });
    expect(b.equals(a)).toBe(true);
    const c = IndexDomain.fromJSON({ inclusive_min: [1, 2], shape: [4, 5], labels: ['x', 'y'] });
    expect(c.equals(a)).toBe(true);
    const s = IndexDomain.fromJSON({ shape: [4, 5] });
    expect(s.inclusiveMin).toEqual([0, 0]);
    expect(IndexDomain.fromJSON(a.toJSON()).equals(a)).toBe(true);
    expect(IndexDomain.fromJSON(JSON.parse(JSON.stringify(a))).equals(a)).toBe(true);
    // implicit-bound notation is read as explicit
    const imp = IndexDomain.fromJSON({ inclusive_min: [0, [1]], exclusive_max: [[100], 200] });
    expect(imp.inclusiveMin).toEqual([0, 1]);
    expect(imp.exclusiveMax).toEqual([100, 200]);
    expect(IndexDomain.fromJSON({ rank: 0 }).rank).toBe(0);
  });

  it('fromJSON errors name the field', () => {
    const err = (j: unknown, field?: string): SpecError => {
      try {
        IndexDomain.fromJSON(j, field);
      } catch (e) {
        expect(e).toBeInstanceOf(SpecError);
        return e as SpecError;
      }
      throw new Error('expected an error');
    };
    expect(err(5).field).toBe('domain');
    expect(err({ inclusive_min: [0, 'a'], shape: [1, 1] }).field).toBe('domain.inclusive_min[1]');
    expect(err({ inclusive_min: [0], exclusive_max: [1], shape: [1] }).field).toBe('domain.shape');
    expect(err({ inclusive_min: [0], exclusive_max: [1, 2] }).field).toBe('domain.exclusive_max');
    expect(err({ inclusive_min: [5], exclusive_max: [1] }).field).toBe('domain.exclusive_max[0]');
    expect(err({ inclusive_min: ['-inf'], exclusive_max: [1] }).field).toBe('domain.inclusive_min[0]');
    expect(err({ exclusive_max: [1] }).field).toBe('domain.inclusive_min');
    expect(err({ inclusive_min: [0] }).field).toBe('domain.exclusive_max');
    expect(err({ shape: [1, 1], labels: ['a', 'a'] }).field).toBe('domain.labels[1]');
    expect(err({ shape: [1], foo: 1 }, 'schema.domain').field).toBe('schema.domain.foo');
    expect(err({ rank: 2, shape: [1] }).field).toBe('domain.shape');
  });
});
