/**
 * Index transforms: TensorStore's IndexTransform restricted to constant and single-input-dimension
 * output maps (no index arrays, no diagonals), over finite explicit domains.
 *
 * A transform maps every point of its *input domain* to a point of the *output space*:
 * `output[j] = offset_j` (constant map) or `output[j] = offset_j + stride_j * input[inputDim_j]`.
 *
 * Indexing operations (`slice`, `translateBy`, `transpose`, `stride`, ...) follow TensorStore
 * semantics: they return a new transform whose input space is a *view* on the old one, and
 * coordinates are preserved (slicing `[10, 20]` yields domain `[10, 20)`, not `[0, 10)`).
 *
 * Coordinates are absolute: a negative index is a coordinate below zero, never "from the end"
 * (unlike Python/NumPy). Only *dimension* selectors (`-1` = last dimension) count from the end.
 */
import { OutOfBoundsError, SpecError } from '../errors.js';
import { type BoundsJSON, IndexDomain, parseBoundsJSON } from './domain.js';

export type OutputMap =
  | { kind: 'constant'; offset: number }
  | { kind: 'dim'; inputDim: number; offset: number; stride: number };

/** One per-dimension term of a {@link Selection}. */
export type SelectionTerm =
  | number
  | readonly [number | null, number | null]
  | readonly [number | null, number | null, number]
  | null
  | undefined;

/**
 * NumPy-like selection in INPUT coordinates, per input dimension:
 * - a number: integer index (absolute coordinate; the dimension is dropped),
 * - `[start, stop]` or `[start, stop, step]`: half-open interval, `null` = open end,
 * - `null` / `undefined`: the whole dimension.
 * Either an array (fewer entries than the rank: the rest are whole dims) or an object keyed by
 * label or dimension index (`'0'`, `'-1'`, ...).
 */
export type Selection =
  | readonly SelectionTerm[]
  | Record<string, number | readonly (number | null)[] | null>;

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x);
}

/** Integer division rounding toward zero, normalizing -0 to 0. */
function truncDiv(a: number, b: number): number {
  return Math.trunc(a / b) + 0;
}
function floorDiv(a: number, b: number): number {
  return Math.floor(a / b) + 0;
}
function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b) + 0;
}

function dimName(domain: IndexDomain, d: number): string {
  const l = domain.labels[d];
  return l ? `dim ${d} ("${l}")` : `dim ${d}`;
}

function validateOutputs(rank: number, outputs: readonly OutputMap[], field: string): OutputMap[] {
  const used = new Map<number, number>();
  return outputs.map((m, j): OutputMap => {
    const f = `${field}.output[${j}]`;
    if (m === null || typeof m !== 'object') throw new SpecError(f, 'expected an output map object');
    if (!isInt(m.offset)) throw new SpecError(`${f}.offset`, `expected an integer, got ${JSON.stringify(m.offset)}`);
    if (m.kind === 'constant') return Object.freeze({ kind: 'constant', offset: m.offset + 0 });
    if (m.kind !== 'dim') throw new SpecError(f, `unknown output map kind ${JSON.stringify((m as { kind: unknown }).kind)}`);
    if (!isInt(m.inputDim) || m.inputDim < 0 || m.inputDim >= rank) {
      throw new SpecError(`${f}.input_dimension`, `${JSON.stringify(m.inputDim)} is out of range for input rank ${rank}`);
    }
    if (!isInt(m.stride)) throw new SpecError(`${f}.stride`, `expected an integer, got ${JSON.stringify(m.stride)}`);
    if (m.stride === 0) throw new SpecError(`${f}.stride`, 'must be non-zero (use a constant map instead)');
    const prev = used.get(m.inputDim);
    if (prev !== undefined) {
      throw new SpecError(
        `${f}.input_dimension`,
        `input dimension ${m.inputDim} is already used by output[${prev}]; diagonal (multiply-used) input dimensions are not supported`,
      );
    }
    used.set(m.inputDim, j);
    return Object.freeze({ kind: 'dim', inputDim: m.inputDim, offset: m.offset + 0, stride: m.stride + 0 });
  });
}

/**
 * A map from a view's index space (the input domain) to an array's (the outputs): each output
 * dimension is a constant or `offset + stride * input[j]`. Slicing, translating, transposing,
 * labelling and striding a {@link Volume} compose one of these; no I/O. TensorStore's
 * IndexTransform JSON via `fromJSON` / `toJSON` (index-array maps are not supported).
 */
export class IndexTransform {
  readonly inputDomain: IndexDomain;
  readonly outputs: readonly OutputMap[];

  /**
   * @throws SpecError (field `transform.output[j]...`) if an input dimension is out of range,
   *   used by more than one output map, or a stride is 0.
   */
  constructor(inputDomain: IndexDomain, outputs: readonly OutputMap[]) {
    this.inputDomain = inputDomain;
    this.outputs = Object.freeze(validateOutputs(inputDomain.rank, outputs, 'transform'));
  }

  get inputRank(): number {
    return this.inputDomain.rank;
  }

  get outputRank(): number {
    return this.outputs.length;
  }

  static identity(domain: IndexDomain): IndexTransform {
    return new IndexTransform(
      domain,
      domain.inclusiveMin.map((_, d) => ({ kind: 'dim', inputDim: d, offset: 0, stride: 1 })),
    );
  }

  /** Maps an input point (must lie in the input domain) to its output point. */
  map(input: readonly number[]): number[] {
    if (input.length !== this.inputRank) {
      throw new OutOfBoundsError(`point [${input.join(', ')}] has rank ${input.length}, expected ${this.inputRank}`);
    }
    if (!this.inputDomain.contains(input)) {
      throw new OutOfBoundsError(`point [${input.join(', ')}] is outside the input domain ${this.inputDomain}`);
    }
    return this.outputs.map((m) => (m.kind === 'constant' ? m.offset : m.offset + m.stride * input[m.inputDim]!));
  }

  /**
   * Output-space bounding box of the input domain: per output dim `[min, max)`. Constant maps give
   * `[c, c + 1)`. A single-dimension map over an input dimension of extent 0 gives the empty
   * interval `[o + s * lo, o + s * lo)`. The box is not tight for |stride| > 1 (it contains the
   * gaps between strided points).
   */
  outputBounds(): { inclusiveMin: number[]; exclusiveMax: number[] } {
    const inclusiveMin: number[] = [];
    const exclusiveMax: number[] = [];
    for (const m of this.outputs) {
      if (m.kind === 'constant') {
        inclusiveMin.push(m.offset);
        exclusiveMax.push(m.offset + 1);
        continue;
      }
      const lo = this.inputDomain.inclusiveMin[m.inputDim]!;
      const hi = this.inputDomain.exclusiveMax[m.inputDim]!;
      if (hi === lo) {
        inclusiveMin.push(m.offset + m.stride * lo);
        exclusiveMax.push(m.offset + m.stride * lo);
        continue;
      }
      const a = m.offset + m.stride * lo;
      const b = m.offset + m.stride * (hi - 1);
      inclusiveMin.push(Math.min(a, b));
      exclusiveMax.push(Math.max(a, b) + 1);
    }
    return { inclusiveMin, exclusiveMax };
  }

  /**
   * `this ∘ inner`: `inner`'s outputs feed this transform's inputs. The result maps `inner`'s input
   * domain (labels included) to this transform's output space.
   * @throws SpecError if `inner.outputRank !== this.inputRank`.
   * @throws OutOfBoundsError naming the dimension if `inner`'s output range is not contained in
   *   `this.inputDomain` (not checked when `inner`'s domain is empty).
   */
  compose(inner: IndexTransform): IndexTransform {
    if (inner.outputRank !== this.inputRank) {
      throw new SpecError('transform', `cannot compose: inner transform has output rank ${inner.outputRank}, outer has input rank ${this.inputRank}`);
    }
    if (!inner.inputDomain.isEmpty) {
      const b = inner.outputBounds();
      for (let d = 0; d < this.inputRank; d++) {
        const lo = this.inputDomain.inclusiveMin[d]!;
        const hi = this.inputDomain.exclusiveMax[d]!;
        if (b.inclusiveMin[d]! < lo || b.exclusiveMax[d]! > hi) {
          throw new OutOfBoundsError(
            `${dimName(this.inputDomain, d)}: range [${b.inclusiveMin[d]}, ${b.exclusiveMax[d]}) is outside the domain [${lo}, ${hi}) of ${this.inputDomain}`,
          );
        }
      }
    }
    const outputs = this.outputs.map((m): OutputMap => {
      if (m.kind === 'constant') return m;
      const im = inner.outputs[m.inputDim]!;
      if (im.kind === 'constant') return { kind: 'constant', offset: m.offset + m.stride * im.offset };
      return { kind: 'dim', inputDim: im.inputDim, offset: m.offset + m.stride * im.offset, stride: m.stride * im.stride };
    });
    return new IndexTransform(inner.inputDomain, outputs);
  }

  /** Resolves per-dimension arguments given as an array (exactly rank entries) or a record keyed by label/index. */
  private resolvePerDim<T>(arg: readonly T[] | Record<string, T>, what: string): Map<number, T> {
    const out = new Map<number, T>();
    if (Array.isArray(arg)) {
      if (arg.length !== this.inputRank) {
        throw new SpecError(what, `expected ${this.inputRank} entries (the input rank), got ${arg.length}`);
      }
      (arg as readonly T[]).forEach((v, d) => out.set(d, v));
      return out;
    }
    for (const [k, v] of Object.entries(arg as Record<string, T>)) {
      const d = this.inputDomain.dimIndex(parseSelector(k));
      if (out.has(d)) throw new SpecError(`${what}.${k}`, `dimension ${d} selected more than once`);
      out.set(d, v);
    }
    return out;
  }

  /**
   * Shifts the input domain by `offsets` (per dim; record form keyed by label/index) and adjusts the
   * output maps so the same data stays under the shifted coordinates.
   */
  translateBy(offsets: readonly number[] | Record<string, number>): IndexTransform {
    const per = this.resolvePerDim(offsets, 'translateBy');
    const dom = this.inputDomain;
    const off = dom.inclusiveMin.map((_, d) => {
      const v = per.get(d) ?? 0;
      if (!isInt(v)) throw new SpecError(`translateBy[${d}]`, `expected an integer, got ${JSON.stringify(v)}`);
      return v;
    });
    const newDomain = new IndexDomain(
      dom.inclusiveMin.map((lo, d) => lo + off[d]!),
      dom.exclusiveMax.map((hi, d) => hi + off[d]!),
      dom.labels,
    );
    // old = new - off
    return this.compose(
      new IndexTransform(newDomain, off.map((o, d) => ({ kind: 'dim', inputDim: d, offset: -o + 0, stride: 1 }))),
    );
  }

  /** Translates so that the selected dimensions' inclusive minimum becomes `origins[d]`. */
  translateTo(origins: readonly number[] | Record<string, number>): IndexTransform {
    const per = this.resolvePerDim(origins, 'translateTo');
    const off: Record<string, number> = {};
    for (const [d, v] of per) {
      if (!isInt(v)) throw new SpecError(`translateTo[${d}]`, `expected an integer, got ${JSON.stringify(v)}`);
      off[String(d)] = v - this.inputDomain.inclusiveMin[d]!;
    }
    return this.translateBy(off);
  }

  /** Permutes input dimensions: new input dim `i` is old input dim `order[i]` (labels move along). */
  transpose(order: readonly (number | string)[]): IndexTransform {
    const dom = this.inputDomain;
    if (order.length !== dom.rank) throw new SpecError('transpose', `expected a permutation of ${dom.rank} dimensions, got ${order.length} entries`);
    const perm = order.map((o) => dom.dimIndex(o));
    const seen = new Set<number>();
    perm.forEach((d, i) => {
      if (seen.has(d)) throw new SpecError(`transpose[${i}]`, `dimension ${d} appears more than once`);
      seen.add(d);
    });
    const newDomain = new IndexDomain(
      perm.map((d) => dom.inclusiveMin[d]!),
      perm.map((d) => dom.exclusiveMax[d]!),
      perm.map((d) => dom.labels[d]!),
    );
    const inner: OutputMap[] = new Array(dom.rank);
    perm.forEach((oldD, newD) => {
      inner[oldD] = { kind: 'dim', inputDim: newD, offset: 0, stride: 1 };
    });
    return this.compose(new IndexTransform(newDomain, inner));
  }

  /** Relabels input dimensions: full array, or record from dimension index to new label. */
  label(labels: readonly string[] | Record<number, string>): IndexTransform {
    const dom = this.inputDomain;
    let ls: string[];
    if (Array.isArray(labels)) {
      if (labels.length !== dom.rank) throw new SpecError('label', `expected ${dom.rank} labels, got ${labels.length}`);
      ls = [...(labels as readonly string[])];
    } else {
      ls = [...dom.labels];
      for (const [k, v] of Object.entries(labels as Record<string, string>)) {
        const sel = parseSelector(k);
        if (typeof sel !== 'number') throw new SpecError(`label.${k}`, 'keys must be dimension indices');
        ls[dom.dimIndex(sel)] = v;
      }
    }
    return new IndexTransform(new IndexDomain(dom.inclusiveMin, dom.exclusiveMax, ls), this.outputs);
  }

  /**
   * TensorStore `DimExpression.stride` semantics: for each selected dimension with stride `s`, the
   * new domain is the set of `x` such that `x * s` lies in the old domain, and new index `x` views
   * old index `x * s`. Striding is relative to origin 0 (not to the lower bound), and a negative
   * stride reverses the dimension: `[0, 7)` with stride `-2` becomes `[-3, 1)`, and `[1, 9)` with
   * stride `3` becomes `[1, 3)`. A stride of 1 leaves the dimension unchanged; 0 is an error.
   */
  stride(strides: readonly number[] | Record<string, number>): IndexTransform {
    const per = this.resolvePerDim(strides, 'stride');
    const dom = this.inputDomain;
    const lo: number[] = [];
    const hi: number[] = [];
    const inner: OutputMap[] = [];
    for (let d = 0; d < dom.rank; d++) {
      const s = per.get(d) ?? 1;
      if (!isInt(s) || s === 0) throw new SpecError(`stride[${d}]`, `expected a non-zero integer, got ${JSON.stringify(s)}`);
      const a = dom.inclusiveMin[d]!;
      const b = dom.exclusiveMax[d]! - 1; // inclusive max
      let nlo: number;
      let nhi: number;
      if (s > 0) {
        nlo = ceilDiv(a, s);
        nhi = floorDiv(b, s) + 1;
      } else {
        nlo = ceilDiv(b, s);
        nhi = floorDiv(a, s) + 1;
      }
      if (nhi < nlo) nhi = nlo;
      lo.push(nlo);
      hi.push(nhi);
      inner.push({ kind: 'dim', inputDim: d, offset: 0, stride: s });
    }
    return this.compose(new IndexTransform(new IndexDomain(lo, hi, dom.labels), inner));
  }

  /**
   * NumPy-like indexing in INPUT coordinates (see {@link Selection}).
   *
   * - Coordinates are absolute, TensorStore-style: `-1` means coordinate -1, not "the last one".
   * - Bounds are never clipped: an interval or index outside the current domain throws
   *   {@link OutOfBoundsError} naming the dimension and the domain. Empty intervals (`[5, 5]`)
   *   are allowed anywhere within `[inclusiveMin, exclusiveMax]`.
   * - Step 1: the new domain is `[start, stop)` itself (coordinates kept).
   * - Step `k != 1` (TensorStore's strided-slice rule): with `start` defaulting to the lower bound
   *   (`k > 0`) or the last index (`k < 0`), and `stop` to the exclusive upper bound (`k > 0`) or
   *   lower bound - 1 (`k < 0`), the selected old indices are `start, start + k, ...` strictly before
   *   `stop`. The new domain starts at `trunc(start / k)` (rounded toward zero) and has one index per
   *   selected element; new index `trunc(start / k) + i` views old index `start + k * i`.
   *   E.g. `[1, 8, 2]` gives domain `[0, 4)` over old `1, 3, 5, 7`; on `[0, 10)`, `[null, null, -3]`
   *   gives `[-3, 1)` over old `9, 6, 3, 0`.
   * - `stop < start` for `k > 0` (or `stop > start` for `k < 0`) is a {@link SpecError}.
   */
  slice(selection: Selection): IndexTransform {
    const dom = this.inputDomain;
    const terms = new Array<SelectionTerm>(dom.rank).fill(null);
    if (Array.isArray(selection)) {
      if (selection.length > dom.rank) {
        throw new OutOfBoundsError(`selection has ${selection.length} terms but the input rank is ${dom.rank} (domain ${dom})`);
      }
      (selection as readonly SelectionTerm[]).forEach((t, d) => (terms[d] = t));
    } else {
      const seen = new Set<number>();
      for (const [k, v] of Object.entries(selection as Record<string, SelectionTerm>)) {
        const d = dom.dimIndex(parseSelector(k));
        if (seen.has(d)) throw new SpecError(`selection.${k}`, `dimension ${d} selected more than once`);
        seen.add(d);
        terms[d] = v;
      }
    }
    const lo: number[] = [];
    const hi: number[] = [];
    const labels: string[] = [];
    const inner: OutputMap[] = [];
    for (let d = 0; d < dom.rank; d++) {
      const t = terms[d];
      const dlo = dom.inclusiveMin[d]!;
      const dhi = dom.exclusiveMax[d]!;
      const where = (): string => `${dimName(dom, d)} of domain ${dom}`;
      if (t === null || t === undefined) {
        inner.push({ kind: 'dim', inputDim: lo.length, offset: 0, stride: 1 });
        lo.push(dlo);
        hi.push(dhi);
        labels.push(dom.labels[d]!);
        continue;
      }
      if (typeof t === 'number') {
        if (!isInt(t)) throw new SpecError(`selection[${d}]`, `expected an integer index, got ${t}`);
        if (t < dlo || t >= dhi) throw new OutOfBoundsError(`index ${t} is outside [${dlo}, ${dhi}) in ${where()}`);
        inner.push({ kind: 'constant', offset: t });
        continue;
      }
      if (!Array.isArray(t) || (t.length !== 2 && t.length !== 3)) {
        throw new SpecError(`selection[${d}]`, `expected an index, [start, stop], [start, stop, step] or null, got ${JSON.stringify(t)}`);
      }
      const [start, stop, stepRaw] = t as readonly (number | null | undefined)[];
      const step = stepRaw ?? 1;
      for (const [name, v] of [['start', start], ['stop', stop]] as const) {
        if (v !== null && v !== undefined && !isInt(v)) throw new SpecError(`selection[${d}].${name}`, `expected an integer or null, got ${JSON.stringify(v)}`);
      }
      if (!isInt(step) || step === 0) throw new SpecError(`selection[${d}].step`, `expected a non-zero integer, got ${JSON.stringify(step)}`);
      let first: number; // first selected old index (may be unselected if empty)
      let count: number;
      if (step > 0) {
        const s = start ?? dlo;
        const e = stop ?? dhi;
        if (e < s) throw new SpecError(`selection[${d}]`, `stop ${e} < start ${s} with positive step ${step}`);
        if (s < dlo || e > dhi) throw new OutOfBoundsError(`interval [${s}, ${e}) is outside [${dlo}, ${dhi}) in ${where()}`);
        first = s;
        count = ceilDiv(e - s, step);
      } else {
        const s = start ?? dhi - 1;
        const e = stop ?? dlo - 1;
        if (e > s) throw new SpecError(`selection[${d}]`, `stop ${e} > start ${s} with negative step ${step}`);
        // selected old indices lie in (e, s] = [e + 1, s + 1)
        if (e + 1 < dlo || s + 1 > dhi) {
          throw new OutOfBoundsError(`interval (${e}, ${s}] (step ${step}) is outside [${dlo}, ${dhi}) in ${where()}`);
        }
        first = s;
        count = ceilDiv(s - e, -step);
      }
      const newLo = step === 1 ? first : truncDiv(first, step);
      // old = first + step * (new - newLo)
      inner.push({ kind: 'dim', inputDim: lo.length, offset: first - step * newLo + 0, stride: step });
      lo.push(newLo);
      hi.push(newLo + count);
      labels.push(dom.labels[d]!);
    }
    return this.compose(new IndexTransform(new IndexDomain(lo, hi, labels), inner));
  }

  /**
   * TensorStore IndexTransform JSON: `input_inclusive_min`, `input_exclusive_max`, `input_labels`
   * (only if some label is non-empty) and `output` (always present).
   */
  toJSON(): Record<string, unknown> {
    const dom = this.inputDomain;
    const out: Record<string, unknown> = {
      input_inclusive_min: [...dom.inclusiveMin],
      input_exclusive_max: [...dom.exclusiveMax],
    };
    if (dom.rank === 0) out.input_rank = 0;
    if (dom.labels.some((l) => l !== '')) out.input_labels = [...dom.labels];
    out.output = this.outputs.map((m) =>
      m.kind === 'constant' ? { offset: m.offset } : { offset: m.offset, input_dimension: m.inputDim, stride: m.stride },
    );
    return out;
  }

  /**
   * Parses TensorStore IndexTransform JSON (`input_rank`, `input_inclusive_min`, one of
   * `input_exclusive_max` / `input_inclusive_max` / `input_shape`, `input_labels`, `output`).
   * `output` omitted means identity. Output maps: `{offset}` (constant), `{offset?, stride?,
   * input_dimension}`. Not supported (SpecError): `index_array`, infinite bounds, unbounded
   * domains. Implicit-bound notation `[n]` is read as an explicit bound.
   */
  static fromJSON(json: unknown, field = 'transform', arrayDomain?: IndexDomain): IndexTransform {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new SpecError(field, `expected an object, got ${JSON.stringify(json)}`);
    }
    const o = json as Record<string, unknown>;
    const allowed = new Set([
      'input_rank', 'input_inclusive_min', 'input_exclusive_max', 'input_inclusive_max', 'input_shape', 'input_labels', 'output',
    ]);
    for (const k of Object.keys(o)) if (!allowed.has(k)) throw new SpecError(`${field}.${k}`, 'unknown key');
    const b = parseBoundsJSON(o, field, 'input_', true);
    let maps: OutputMap[];
    if (o.output === undefined) {
      maps = Array.from({ length: b.rank }, (_, i) => ({ kind: 'dim', inputDim: i, offset: 0, stride: 1 }));
    } else {
      if (!Array.isArray(o.output)) throw new SpecError(`${field}.output`, `expected an array, got ${JSON.stringify(o.output)}`);
      maps = o.output.map((m: unknown, j: number): OutputMap => {
        const f = `${field}.output[${j}]`;
        if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new SpecError(f, `expected an object, got ${JSON.stringify(m)}`);
        const mo = m as Record<string, unknown>;
        for (const k of Object.keys(mo)) {
          if (k === 'index_array' || k === 'index_array_bounds') throw new SpecError(`${f}.${k}`, 'index array output maps are not supported');
          if (k !== 'offset' && k !== 'stride' && k !== 'input_dimension') throw new SpecError(`${f}.${k}`, 'unknown key');
        }
        const offset = mo.offset ?? 0;
        if (!isInt(offset)) throw new SpecError(`${f}.offset`, `expected an integer, got ${JSON.stringify(offset)}`);
        if (mo.input_dimension === undefined) {
          if (mo.stride !== undefined) throw new SpecError(`${f}.stride`, 'stride requires input_dimension');
          return { kind: 'constant', offset };
        }
        const stride = mo.stride ?? 1;
        if (!isInt(stride)) throw new SpecError(`${f}.stride`, `expected an integer, got ${JSON.stringify(stride)}`);
        return { kind: 'dim', inputDim: mo.input_dimension as number, offset, stride };
      });
    }
    const validated = validateOutputs(b.rank, maps, field);
    if (arrayDomain && arrayDomain.rank !== validated.length) {
      throw new SpecError(`${field}.output`, `has ${validated.length} output dimensions, the array has rank ${arrayDomain.rank}`);
    }
    return new IndexTransform(resolveInputBounds(b, validated, arrayDomain, field), validated);
  }

  toString(): string {
    const outs = this.outputs.map((m, j) =>
      m.kind === 'constant' ? `out[${j}] = ${m.offset}` : `out[${j}] = ${m.offset} + ${m.stride} * in[${m.inputDim}]`,
    );
    return `IndexTransform(${this.inputRank} -> ${this.outputRank}; domain ${this.inputDomain}; ${outs.join('; ')})`;
  }
}

/** `'3'`, `'-1'` -> numbers; anything else stays a label. */
function parseSelector(k: string): number | string {
  return /^-?\d+$/.test(k) ? Number(k) : k;
}

/**
 * The input domain of a parsed transform. Implicit bounds (`[n]`, `["-inf"]`, `["+inf"]`, and
 * missing bounds, which default to implicit infinity) take the bound the array's domain gives
 * through the dimension's output map, as TensorStore does at open time; explicit bounds stay.
 * @throws SpecError for a bound that stays infinite (explicit `"-inf"`/`"+inf"`, or an implicit
 *   one on a dimension no output map uses, or with no array domain to resolve against).
 */
function resolveInputBounds(b: BoundsJSON, outputs: readonly OutputMap[], arrayDomain: IndexDomain | undefined, field: string): IndexDomain {
  const lo = [...b.lo];
  const hi = [...b.hi];
  if (arrayDomain) {
    outputs.forEach((m, k) => {
      if (m.kind !== 'dim') return;
      const i = m.inputDim;
      const L = arrayDomain.inclusiveMin[k]!;
      const U = arrayDomain.exclusiveMax[k]!;
      // x such that L <= offset + stride * x < U.
      const [a, c] = m.stride > 0
        ? [Math.ceil((L - m.offset) / m.stride), Math.floor((U - 1 - m.offset) / m.stride) + 1]
        : [Math.ceil((U - 1 - m.offset) / m.stride), Math.floor((L - m.offset) / m.stride) + 1];
      if (b.implicitLo[i]) lo[i] = a + 0; // + 0: no -0 from ceil of a negative fraction
      if (b.implicitHi[i]) hi[i] = Math.max(c, lo[i]!) + 0;
    });
  }
  for (let i = 0; i < b.rank; i++) {
    for (const [v, k] of [[lo[i]!, 'input_inclusive_min'], [hi[i]!, b.upperKey]] as const) {
      if (Number.isFinite(v)) continue;
      throw new SpecError(
        `${field}.${k}[${i}]`,
        arrayDomain
          ? 'an infinite bound is only accepted where it is implicit and the dimension maps to the array (it then takes the array\'s bound)'
          : 'infinite bounds resolve only against an array (in a spec\'s transform)',
      );
    }
  }
  return new IndexDomain(lo, hi, b.labels);
}
