import { describe, expect, it } from 'vitest';
import { IndexDomain, IndexTransform } from '../../src/index-space/index.js';
import { OutOfBoundsError, SpecError } from '../../src/errors.js';

const id = (shape: number[], labels?: string[]): IndexTransform => IndexTransform.identity(IndexDomain.fromShape(shape, labels));

function catchErr(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('IndexTransform construction', () => {
  it('identity maps each point to itself', () => {
    const t = id([3, 4]);
    expect(t.inputRank).toBe(2);
    expect(t.outputRank).toBe(2);
    expect(t.map([2, 3])).toEqual([2, 3]);
  });

  it('validates output maps', () => {
    const d = IndexDomain.fromShape([3, 4]);
    expect(catchErr(() => new IndexTransform(d, [{ kind: 'dim', inputDim: 2, offset: 0, stride: 1 }]))).toBeInstanceOf(SpecError);
    const diag = catchErr(() =>
      new IndexTransform(d, [
        { kind: 'dim', inputDim: 0, offset: 0, stride: 1 },
        { kind: 'dim', inputDim: 0, offset: 0, stride: 1 },
      ]),
    ) as SpecError;
    expect(diag.field).toBe('transform.output[1].input_dimension');
    const z = catchErr(() =>
      new IndexTransform(d, [
        { kind: 'constant', offset: 1 },
        { kind: 'constant', offset: 1 },
        { kind: 'dim', inputDim: 1, offset: 0, stride: 0 },
      ]),
    ) as SpecError;
    expect(z.field).toBe('transform.output[2].stride');
    // unused input dims and constants are fine
    const t = new IndexTransform(d, [{ kind: 'constant', offset: 7 }, { kind: 'dim', inputDim: 1, offset: 2, stride: -3 }]);
    expect(t.map([1, 2])).toEqual([7, -4]);
  });

  it('map rejects points outside the domain', () => {
    const t = id([3]);
    expect(() => t.map([3])).toThrow(OutOfBoundsError);
    expect(() => t.map([0, 0])).toThrow(OutOfBoundsError);
  });
});

describe('slice', () => {
  it('keeps coordinates (a[10:20] has domain [10, 20))', () => {
    const t = id([100, 50]).slice([[10, 20]]);
    expect(t.inputDomain.inclusiveMin).toEqual([10, 0]);
    expect(t.inputDomain.exclusiveMax).toEqual([20, 50]);
    expect(t.map([15, 3])).toEqual([15, 3]);
  });

  it('integer index drops the dimension', () => {
    const t = id([10, 20, 30], ['z', 'y', 'x']).slice([null, 5]);
    expect(t.inputRank).toBe(2);
    expect(t.inputDomain.labels).toEqual(['z', 'x']);
    expect(t.outputs[1]).toEqual({ kind: 'constant', offset: 5 });
    expect(t.map([2, 7])).toEqual([2, 5, 7]);
    expect(t.outputBounds()).toEqual({ inclusiveMin: [0, 5, 0], exclusiveMax: [10, 6, 30] });
  });

  it('supports object selections keyed by label or index, open ends', () => {
    const t = id([10, 20, 30], ['z', 'y', 'x']);
    const a = t.slice({ x: [null, 4], '-2': 3, 0: [7, null] });
    expect(a.inputDomain.inclusiveMin).toEqual([7, 0]);
    expect(a.inputDomain.exclusiveMax).toEqual([10, 4]);
    expect(a.inputDomain.labels).toEqual(['z', 'x']);
    expect(a.map([8, 1])).toEqual([8, 3, 1]);
    expect(() => t.slice({ w: 1 })).toThrow(/"w"/);
    expect(() => t.slice({ z: 1, 0: 2 })).toThrow(SpecError);
  });

  it('negative indices are absolute coordinates, not wrap-around', () => {
    const t = id([10]).translateBy([-5]); // domain [-5, 5)
    const a = t.slice([-1]);
    expect(a.inputRank).toBe(0);
    expect(a.map([])).toEqual([4]);
    const b = t.slice([[-3, -1]]);
    expect(b.inputDomain.inclusiveMin).toEqual([-3]);
    expect(b.inputDomain.exclusiveMax).toEqual([-1]);
    expect(b.map([-3])).toEqual([2]);
    // on a [0, n) domain, -1 is simply out of bounds
    expect(() => id([10]).slice([-1])).toThrow(OutOfBoundsError);
  });

  it('out-of-domain bounds throw OutOfBoundsError naming dim and domain (no clipping)', () => {
    const t = id([10, 20], ['y', 'x']);
    const e = catchErr(() => t.slice([null, [5, 21]]));
    expect(e).toBeInstanceOf(OutOfBoundsError);
    expect(e.message).toMatch(/dim 1 \("x"\)/);
    expect(e.message).toMatch(/\[0, 20\)/);
    expect(e.message).toMatch(/\[5, 21\)/);
    expect(() => t.slice([[-1, 3]])).toThrow(OutOfBoundsError);
    expect(() => t.slice([10])).toThrow(/index 10 is outside \[0, 10\) in dim 0 \("y"\)/);
    expect(() => t.slice([null, null, null])).toThrow(OutOfBoundsError);
    expect(() => t.slice([[12, 12]])).toThrow(OutOfBoundsError);
  });

  it('empty intervals are allowed', () => {
    const t = id([10]).slice([[5, 5]]);
    expect(t.inputDomain.shape).toEqual([0]);
    expect(t.inputDomain.inclusiveMin).toEqual([5]);
    expect(id([10]).slice([[10, 10]]).inputDomain.shape).toEqual([0]);
    expect(id([10]).slice([[0, 0]]).inputDomain.shape).toEqual([0]);
    expect(() => id([10]).slice([[6, 5]])).toThrow(SpecError);
  });

  it('rejects malformed terms', () => {
    expect(() => id([10]).slice([[0, 5, 0]])).toThrow(SpecError);
    expect(() => id([10]).slice([1.5])).toThrow(SpecError);
    expect(() => id([10]).slice([[0, 1, 2, 3] as unknown as [number, number]])).toThrow(SpecError);
  });

  it('positive step: domain starts at trunc(start / step)', () => {
    const t = id([10]).slice([[1, 8, 2]]);
    expect(t.inputDomain.inclusiveMin).toEqual([0]);
    expect(t.inputDomain.exclusiveMax).toEqual([4]);
    expect([0, 1, 2, 3].map((i) => t.map([i])[0])).toEqual([1, 3, 5, 7]);
    const u = id([20]).slice([[7, 20, 3]]);
    expect(u.inputDomain.inclusiveMin).toEqual([2]);
    expect([2, 3, 4, 5, 6].map((i) => u.map([i])[0])).toEqual([7, 10, 13, 16, 19]);
    expect(u.inputDomain.exclusiveMax).toEqual([7]);
  });

  it('negative step reverses; TensorStore ClosedInterval doc example', () => {
    const r = id([10]).slice([[null, null, -3]]);
    expect(r.inputDomain.inclusiveMin).toEqual([-3]);
    expect(r.inputDomain.exclusiveMax).toEqual([1]);
    expect([-3, -2, -1, 0].map((i) => r.map([i])[0])).toEqual([9, 6, 3, 0]);
    // Dims(0, 2).ClosedInterval({1, 8}, {4, 3}, {1, -2}) on [0,6],[2,5],[0,9]
    const base = IndexTransform.identity(new IndexDomain([0, 2, 0], [7, 6, 10], ['x', 'y', 'z']));
    const t = base.slice([[1, 5], null, [8, 2, -2]]);
    expect(t.inputDomain.inclusiveMin).toEqual([1, 2, -4]);
    expect(t.inputDomain.exclusiveMax).toEqual([5, 6, -1]);
    expect(t.map([2, 3, -3])).toEqual([2, 3, 6]);
    // stop bound check for negative step: selected (stop, start] must lie in the domain
    expect(() => id([10]).slice([[10, 0, -1]])).toThrow(OutOfBoundsError);
    expect(() => id([10]).slice([[9, -2, -1]])).toThrow(OutOfBoundsError);
    expect(id([10]).slice([[9, -1, -1]]).inputDomain.shape).toEqual([10]);
    expect(() => id([10]).slice([[2, 5, -1]])).toThrow(SpecError);
  });

  it('slicing on a rank-0 or selection longer than rank', () => {
    expect(id([]).slice([]).inputRank).toBe(0);
    expect(() => id([3]).slice([0, 0])).toThrow(OutOfBoundsError);
  });
});

describe('translate, transpose, label, stride', () => {
  it('translateBy shifts the domain and keeps data (TensorStore doc example)', () => {
    const t = id([100, 200], ['x', 'y']).translateBy({ x: 5 });
    expect(t.inputDomain.inclusiveMin).toEqual([5, 0]);
    expect(t.inputDomain.exclusiveMax).toEqual([105, 200]);
    expect(t.outputs[0]).toEqual({ kind: 'dim', inputDim: 0, offset: -5, stride: 1 });
    expect(t.map([5, 7])).toEqual([0, 7]);
    expect(id([3]).translateBy([2]).map([2])).toEqual([0]);
    expect(() => id([3]).translateBy([1, 2])).toThrow(SpecError);
  });

  it('translateTo sets origins', () => {
    const t = id([10, 10]).slice([[3, 7], [2, 9]]).translateTo([0, 100]);
    expect(t.inputDomain.inclusiveMin).toEqual([0, 100]);
    expect(t.inputDomain.exclusiveMax).toEqual([4, 107]);
    expect(t.map([0, 100])).toEqual([3, 2]);
    const u = id([10, 10], ['a', 'b']).slice([[3, 7]]).translateTo({ a: -1 });
    expect(u.inputDomain.inclusiveMin).toEqual([-1, 0]);
  });

  it('transpose permutes dims with labels', () => {
    const t = IndexTransform.identity(new IndexDomain([0, 10, 20], [2, 13, 24], ['z', 'y', 'x'])).transpose(['x', 0, -2]);
    expect(t.inputDomain.labels).toEqual(['x', 'z', 'y']);
    expect(t.inputDomain.inclusiveMin).toEqual([20, 0, 10]);
    expect(t.map([21, 1, 12])).toEqual([1, 12, 21]);
    expect(() => id([2, 3]).transpose([0, 0])).toThrow(SpecError);
    expect(() => id([2, 3]).transpose([0])).toThrow(SpecError);
  });

  it('label replaces labels and enforces uniqueness', () => {
    const t = id([2, 3]).label(['a', 'b']);
    expect(t.inputDomain.labels).toEqual(['a', 'b']);
    expect(t.label({ 1: 'c' }).inputDomain.labels).toEqual(['a', 'c']);
    expect(t.label({ [-1]: 'd' } as Record<number, string>).inputDomain.labels).toEqual(['a', 'd']);
    expect(() => t.label({ 1: 'a' })).toThrow(/duplicate/);
  });

  it('stride follows DimExpression.stride (doc example)', () => {
    // domain [0,6], [2,5], [1,8]; d["x","z"].stride[-2, 3]
    const base = IndexTransform.identity(new IndexDomain([0, 2, 1], [7, 6, 9], ['x', 'y', 'z']));
    const t = base.stride({ x: -2, z: 3 });
    expect(t.inputDomain.inclusiveMin).toEqual([-3, 2, 1]);
    expect(t.inputDomain.exclusiveMax).toEqual([1, 6, 3]);
    expect(t.map([-2, 3, 1])).toEqual([4, 3, 3]);
    const u = base.stride([3, 1, 3]);
    expect(u.inputDomain.inclusiveMin).toEqual([0, 2, 1]);
    expect(u.inputDomain.exclusiveMax).toEqual([3, 6, 3]);
    expect(() => base.stride([0, 1, 1])).toThrow(SpecError);
    // empty dims stay empty
    expect(id([0]).stride([2]).inputDomain.shape).toEqual([0]);
    expect(id([5]).slice([[3, 3]]).stride([-2]).inputDomain.shape).toEqual([0]);
  });
});

describe('compose and outputBounds', () => {
  it('compose chains maps and checks ranges', () => {
    const outer = new IndexTransform(IndexDomain.fromShape([10, 10]), [
      { kind: 'dim', inputDim: 1, offset: 100, stride: 2 },
      { kind: 'constant', offset: 4 },
      { kind: 'dim', inputDim: 0, offset: 0, stride: -1 },
    ]);
    const inner = new IndexTransform(IndexDomain.fromShape([3], ['k']), [
      { kind: 'constant', offset: 9 },
      { kind: 'dim', inputDim: 0, offset: 1, stride: 3 },
    ]);
    const c = outer.compose(inner);
    expect(c.inputDomain.labels).toEqual(['k']);
    for (const k of [0, 1, 2]) expect(c.map([k])).toEqual(outer.map(inner.map([k])));
    const bad = new IndexTransform(IndexDomain.fromShape([4]), [
      { kind: 'constant', offset: 0 },
      { kind: 'dim', inputDim: 0, offset: 1, stride: 3 },
    ]);
    const e = catchErr(() => outer.compose(bad));
    expect(e).toBeInstanceOf(OutOfBoundsError);
    expect(e.message).toMatch(/dim 1/);
    expect(() => outer.compose(id([3]))).toThrow(SpecError);
    // empty inner domain: no range check
    const empty = new IndexTransform(IndexDomain.fromShape([0]), [
      { kind: 'constant', offset: 0 },
      { kind: 'dim', inputDim: 0, offset: 50, stride: 1 },
    ]);
    expect(outer.compose(empty).inputDomain.shape).toEqual([0]);
  });

  it('outputBounds handles constants, negative strides and empty dims', () => {
    const t = new IndexTransform(new IndexDomain([2, 0, 5], [5, 4, 5]), [
      { kind: 'dim', inputDim: 0, offset: 10, stride: -2 },
      { kind: 'constant', offset: -3 },
      { kind: 'dim', inputDim: 1, offset: 1, stride: 3 },
      { kind: 'dim', inputDim: 2, offset: 1, stride: 3 },
    ]);
    expect(t.outputBounds()).toEqual({ inclusiveMin: [2, -3, 1, 16], exclusiveMax: [7, -2, 11, 16] });
    expect(id([4, 5]).slice([[1, 3], [null, null, -2]]).outputBounds()).toEqual({ inclusiveMin: [1, 0], exclusiveMax: [3, 5] });
  });
});

describe('JSON', () => {
  it('round-trips', () => {
    const t = id([10, 20, 30], ['z', 'y', 'x']).slice({ y: 4, x: [29, 3, -2] }).translateBy([7, 0]).transpose([1, 0]);
    const j = t.toJSON();
    expect(j.output).toHaveLength(3);
    const back = IndexTransform.fromJSON(JSON.parse(JSON.stringify(j)));
    expect(back.inputDomain.equals(t.inputDomain)).toBe(true);
    expect(back.outputs).toEqual(t.outputs);
    expect(back.toJSON()).toEqual(j);
  });

  it('serializes in TensorStore form', () => {
    const t = new IndexTransform(IndexDomain.fromShape([2], ['x']), [
      { kind: 'constant', offset: 5 },
      { kind: 'dim', inputDim: 0, offset: 1, stride: 2 },
    ]);
    expect(t.toJSON()).toEqual({
      input_inclusive_min: [0],
      input_exclusive_max: [2],
      input_labels: ['x'],
      output: [{ offset: 5 }, { offset: 1, input_dimension: 0, stride: 2 }],
    });
    const r0 = IndexTransform.fromJSON({ input_rank: 0, output: [{ offset: 5 }] });
    expect(r0.map([])).toEqual([5]);
    expect(IndexTransform.fromJSON(r0.toJSON()).outputs).toEqual(r0.outputs);
  });

  it('parses TensorStore documentation examples (finite subset)', () => {
    // IndexTransform(json=...) example, with finite bounds and without the index-array map
    const a = IndexTransform.fromJSON({
      input_inclusive_min: [0, 7, [0], [8]],
      input_exclusive_max: [10, 11, [10], [17]],
      input_labels: ['x', 'y', 'z', ''],
      output: [{ offset: 3 }, { stride: 2, input_dimension: 2 }],
    });
    expect(a.inputDomain.inclusiveMin).toEqual([0, 7, 0, 8]);
    expect(a.inputDomain.exclusiveMax).toEqual([10, 11, 10, 17]);
    expect(a.outputs).toEqual([{ kind: 'constant', offset: 3 }, { kind: 'dim', inputDim: 2, offset: 0, stride: 2 }]);
    expect(a.map([0, 7, 4, 8])).toEqual([3, 8]);
    // n5 spec transform printed as [0, 100*), [0, 200*) with labels x, y; output omitted = identity
    const b = IndexTransform.fromJSON({ input_inclusive_min: [0, 0], input_exclusive_max: [[100], [200]], input_labels: ['x', 'y'] });
    expect(b.map([3, 4])).toEqual([3, 4]);
    expect(b.translateBy({ x: 5 }).toJSON()).toEqual({
      input_inclusive_min: [5, 0],
      input_exclusive_max: [105, 200],
      input_labels: ['x', 'y'],
      output: [{ offset: -5, input_dimension: 0, stride: 1 }, { offset: 0, input_dimension: 1, stride: 1 }],
    });
    // zarr spec: input_inclusive_min/input_exclusive_max written by TensorStore
    const c = IndexTransform.fromJSON({ input_exclusive_max: [3], input_inclusive_min: [0], output: [{ input_dimension: 0, offset: 1 }] });
    expect(c.map([2])).toEqual([3]);
    const d = IndexTransform.fromJSON({ input_shape: [3], output: [{ input_dimension: 0, offset: 5, stride: 2 }] });
    expect([0, 1, 2, 3, 4].slice(0, 3).map((i) => d.map([i])[0])).toEqual([5, 7, 9]);
    const e = IndexTransform.fromJSON({ input_inclusive_min: [1], input_inclusive_max: [4] });
    expect(e.inputDomain.exclusiveMax).toEqual([5]);
  });

  it('rejects unsupported or invalid JSON naming the field', () => {
    const field = (j: unknown, f?: string): string => {
      const e = catchErr(() => IndexTransform.fromJSON(j, f));
      expect(e).toBeInstanceOf(SpecError);
      return (e as SpecError).field;
    };
    expect(field([])).toBe('transform');
    expect(field({ input_inclusive_min: ['-inf'], input_exclusive_max: [3] })).toBe('transform.input_inclusive_min[0]');
    expect(field({ input_shape: [3], output: [{ offset: 7, index_array: [1, 2, 3] }] })).toBe('transform.output[0].index_array');
    expect(field({ input_shape: [3, 3], output: [{}, {}, { input_dimension: 1, stride: 0 }] })).toBe('transform.output[2].stride');
    expect(field({ input_shape: [3, 3], output: [{}, {}, { input_dimension: 1, stride: 1.5 }] })).toBe('transform.output[2].stride');
    expect(field({ input_shape: [3], output: [{ input_dimension: 1 }] })).toBe('transform.output[0].input_dimension');
    expect(field({ input_shape: [3], output: [{ input_dimension: 0 }, { input_dimension: 0 }] })).toBe('transform.output[1].input_dimension');
    expect(field({ input_shape: [3], output: [{ offset: 'a' }] })).toBe('transform.output[0].offset');
    expect(field({ input_shape: [3], output: [{ stride: 2 }] })).toBe('transform.output[0].stride');
    expect(field({ input_shape: [3], outputs: [] })).toBe('transform.outputs');
    expect(field({ input_shape: [3], output: {} })).toBe('transform.output');
    expect(field({ input_shape: [3], input_labels: ['a', 'b'] })).toBe('transform.input_labels');
    expect(field({ input_rank: 2 })).toBe('transform.input_inclusive_min[0]'); // unbounded: resolves only against an array
    expect(field({ input_shape: [2], output: [{ input_dimension: 0, stride: 0 }] }, 'spec.transform')).toBe('spec.transform.output[0].stride');
  });
});
