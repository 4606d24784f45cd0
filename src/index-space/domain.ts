/**
 * Index domains: finite, explicit, rectangular regions of an integer index space, with optional
 * unique dimension labels. Modelled on TensorStore's IndexDomain, restricted to finite bounds
 * (no ±inf). Bracketed implicit bounds in JSON are accepted; in a spec's `transform`, implicit
 * and infinite bounds resolve against the array's domain when it is opened (as TensorStore).
 */
import { OutOfBoundsError, SpecError } from '../errors.js';

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x);
}

/** Formats `[a, b), [c, d)` with labels, for error messages. */
export function formatDomain(inclusiveMin: readonly number[], exclusiveMax: readonly number[], labels?: readonly string[]): string {
  const parts = inclusiveMin.map((lo, i) => {
    const l = labels?.[i];
    return `${l ? `"${l}": ` : ''}[${lo}, ${exclusiveMax[i]})`;
  });
  return `{${parts.join(', ')}}`;
}

/**
 * A rectangular region of integer index space: per dimension `[inclusiveMin, exclusiveMax)`, with
 * optional unique labels. Immutable; TensorStore's IndexDomain JSON via `fromJSON` / `toJSON`.
 *
 * ```ts
 * const d = new IndexDomain([0, 0], [100, 200], ['y', 'x']);
 * d.shape; // [100, 200]
 * ```
 */
export class IndexDomain {
  readonly inclusiveMin: readonly number[];
  readonly exclusiveMax: readonly number[];
  readonly labels: readonly string[];

  /**
   * @param inclusiveMin per-dimension inclusive lower bound (safe integers)
   * @param exclusiveMax per-dimension exclusive upper bound, `>= inclusiveMin`
   * @param labels optional labels; default `''` each. Non-empty labels must be unique.
   * @throws SpecError (field `domain...`) on length mismatch, non-integer bounds, negative extents
   *   or duplicate labels.
   */
  constructor(inclusiveMin: readonly number[], exclusiveMax: readonly number[], labels?: readonly string[]) {
    if (inclusiveMin.length !== exclusiveMax.length) {
      throw new SpecError('domain', `inclusive_min has rank ${inclusiveMin.length} but exclusive_max has rank ${exclusiveMax.length}`);
    }
    const rank = inclusiveMin.length;
    for (let i = 0; i < rank; i++) {
      const lo = inclusiveMin[i]!;
      const hi = exclusiveMax[i]!;
      if (!isInt(lo) || !isInt(hi)) throw new SpecError(`domain[${i}]`, `bounds must be safe integers, got [${lo}, ${hi})`);
      if (hi < lo) throw new SpecError(`domain.exclusive_max[${i}]`, `exclusive_max ${hi} < inclusive_min ${lo}`);
    }
    const ls = labels ? [...labels] : new Array<string>(rank).fill('');
    if (ls.length !== rank) throw new SpecError('domain.labels', `${ls.length} labels given for rank ${rank}`);
    const seen = new Set<string>();
    for (const [i, l] of ls.entries()) {
      if (typeof l !== 'string') throw new SpecError(`domain.labels[${i}]`, 'labels must be strings');
      if (l === '') continue;
      if (seen.has(l)) throw new SpecError(`domain.labels[${i}]`, `duplicate label "${l}"`);
      seen.add(l);
    }
    this.inclusiveMin = Object.freeze([...inclusiveMin]);
    this.exclusiveMax = Object.freeze([...exclusiveMax]);
    this.labels = Object.freeze(ls);
  }

  get rank(): number {
    return this.inclusiveMin.length;
  }

  get shape(): number[] {
    return this.inclusiveMin.map((lo, i) => this.exclusiveMax[i]! - lo);
  }

  /** Total number of index vectors in the domain (1 for rank 0). */
  get numElements(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** True if some dimension has extent 0. */
  get isEmpty(): boolean {
    return this.inclusiveMin.some((lo, i) => this.exclusiveMax[i] === lo);
  }

  static fromShape(shape: readonly number[], labels?: readonly string[]): IndexDomain {
    return new IndexDomain(new Array<number>(shape.length).fill(0), shape, labels);
  }

  /** Whether `point` (length `rank`) lies inside the domain. */
  contains(point: readonly number[]): boolean {
    if (point.length !== this.rank) return false;
    return point.every((x, i) => x >= this.inclusiveMin[i]! && x < this.exclusiveMax[i]!);
  }

  equals(other: IndexDomain): boolean {
    return (
      this.rank === other.rank &&
      this.inclusiveMin.every((v, i) => v === other.inclusiveMin[i]) &&
      this.exclusiveMax.every((v, i) => v === other.exclusiveMax[i]) &&
      this.labels.every((v, i) => v === other.labels[i])
    );
  }

  /**
   * Resolves a dimension selector to a dimension index: a label (exact match, non-empty), or an
   * integer index where negative values count from the end (`-1` is the last dimension).
   * Note: this is about *dimensions*; index *coordinates* are never wrapped.
   * @throws OutOfBoundsError naming the selector if it does not resolve.
   */
  dimIndex(dim: number | string): number {
    if (typeof dim === 'string') {
      const i = dim === '' ? -1 : this.labels.indexOf(dim);
      if (i < 0) {
        throw new OutOfBoundsError(`dimension label "${dim}" not found in domain with labels [${this.labels.map((l) => JSON.stringify(l)).join(', ')}]`);
      }
      return i;
    }
    if (!Number.isInteger(dim) || dim < -this.rank || dim >= this.rank) {
      throw new OutOfBoundsError(`dimension index ${dim} out of range for rank ${this.rank}`);
    }
    return dim < 0 ? dim + this.rank : dim;
  }

  toString(): string {
    return formatDomain(this.inclusiveMin, this.exclusiveMax, this.labels);
  }

  /** TensorStore IndexDomain JSON. `labels` is omitted when all labels are empty. */
  toJSON(): { inclusive_min: number[]; exclusive_max: number[]; labels?: string[] } {
    const out: { inclusive_min: number[]; exclusive_max: number[]; labels?: string[] } = {
      inclusive_min: [...this.inclusiveMin],
      exclusive_max: [...this.exclusiveMax],
    };
    if (this.labels.some((l) => l !== '')) out.labels = [...this.labels];
    return out;
  }

  /**
   * Parses TensorStore IndexDomain JSON: `rank`, `inclusive_min`, one of `exclusive_max` /
   * `inclusive_max` / `shape`, and `labels`. `inclusive_min` defaults to zeros when `shape` is
   * given. Bounds written `[n]` (implicit in TensorStore) are accepted as explicit bounds;
   * infinite bounds (`"-inf"`, `"+inf"`) are a SpecError (a domain here is finite).
   */
  static fromJSON(json: unknown, field = 'domain'): IndexDomain {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new SpecError(field, `expected an object, got ${JSON.stringify(json)}`);
    }
    const o = json as Record<string, unknown>;
    const allowed = new Set(['rank', 'inclusive_min', 'exclusive_max', 'inclusive_max', 'shape', 'labels']);
    for (const k of Object.keys(o)) if (!allowed.has(k)) throw new SpecError(`${field}.${k}`, 'unknown key');
    const parsed = parseBounds(o, field, '');
    return parsed;
  }
}

/** A parsed bound: `n`, `[n]` (implicit), `"-inf"` / `"+inf"` (possibly implicit: `["-inf"]`). */
interface Bound {
  value: number;
  implicit: boolean;
}

function parseBound(v: unknown, field: string, side: 'lower' | 'upper'): Bound {
  let implicit = false;
  if (Array.isArray(v) && v.length === 1) {
    implicit = true;
    v = v[0];
  }
  if (v === '-inf' && side === 'lower') return { value: -Infinity, implicit };
  if ((v === '+inf' || v === 'inf') && side === 'upper') return { value: Infinity, implicit };
  if (!isInt(v)) throw new SpecError(field, `expected an integer ${side} bound${side === 'lower' ? ' or "-inf"' : ' or "+inf"'}, got ${JSON.stringify(v)}`);
  return { value: v, implicit };
}

function parseBoundArray(v: unknown, field: string, side: 'lower' | 'upper'): Bound[] {
  if (!Array.isArray(v)) throw new SpecError(field, `expected an array, got ${JSON.stringify(v)}`);
  return v.map((x, i) => parseBound(x, `${field}[${i}]`, side));
}

/**
 * Bounds as written in TensorStore JSON, before they are resolved: `lo` / `hi` (exclusive) may
 * be infinite, and each bound may be implicit (TensorStore: a bound that follows the array's
 * own bound when the spec is opened).
 */
export interface BoundsJSON {
  rank: number;
  lo: number[];
  hi: number[];
  implicitLo: boolean[];
  implicitHi: boolean[];
  labels: string[] | undefined;
  /** The JSON key each upper bound came from, for error messages. */
  upperKey: string;
}

/**
 * Parses the bounds of an IndexDomain (`prefix` `''`) or of a transform's input domain
 * (`'input_'`). With `unbounded` (transforms), missing lower / upper bounds default to implicit
 * `-inf` / `+inf`, as in TensorStore; otherwise they are required.
 */
export function parseBoundsJSON(o: Record<string, unknown>, field: string, prefix: string, unbounded: boolean): BoundsJSON {
  const key = (k: string): string => `${prefix}${k}`;
  const path = (k: string): string => `${field}.${key(k)}`;
  let rank: number | undefined;
  const setRank = (r: number, k: string): void => {
    if (rank !== undefined && rank !== r) throw new SpecError(path(k), `has length ${r} but rank is ${rank}`);
    rank = r;
  };
  if (o[key('rank')] !== undefined) {
    const r = o[key('rank')];
    if (!isInt(r) || r < 0) throw new SpecError(path('rank'), `expected a non-negative integer, got ${JSON.stringify(r)}`);
    rank = r;
  }
  let min: Bound[] | undefined;
  if (o[key('inclusive_min')] !== undefined) {
    min = parseBoundArray(o[key('inclusive_min')], path('inclusive_min'), 'lower');
    setRank(min.length, 'inclusive_min');
  }
  const upperKeys = ['exclusive_max', 'inclusive_max', 'shape'].filter((k) => o[key(k)] !== undefined);
  if (upperKeys.length > 1) {
    throw new SpecError(path(upperKeys[1]!), `at most one of ${key('exclusive_max')}, ${key('inclusive_max')}, ${key('shape')} may be given`);
  }
  let upper: Bound[] | undefined;
  const upperKind = upperKeys[0] ?? 'exclusive_max';
  if (upperKeys.length === 1) {
    upper = parseBoundArray(o[key(upperKind)], path(upperKind), 'upper');
    setRank(upper.length, upperKind);
    if (upperKind === 'shape') {
      upper.forEach((u, i) => {
        if (u.value < 0) throw new SpecError(`${path('shape')}[${i}]`, 'negative size');
      });
    }
  }
  let labels: string[] | undefined;
  if (o[key('labels')] !== undefined) {
    const l = o[key('labels')];
    if (!Array.isArray(l) || !l.every((x) => typeof x === 'string')) {
      throw new SpecError(path('labels'), `expected an array of strings, got ${JSON.stringify(l)}`);
    }
    labels = l as string[];
    setRank(labels.length, 'labels');
    const seen = new Set<string>();
    labels.forEach((x, i) => {
      if (x === '') return;
      if (seen.has(x)) throw new SpecError(`${path('labels')}[${i}]`, `duplicate label "${x}"`);
      seen.add(x);
    });
  }
  if (rank === undefined) throw new SpecError(field, `rank is not specified (give ${key('inclusive_min')}, ${key('shape')}, ...)`);
  const r = rank;
  if (r === 0) return { rank: 0, lo: [], hi: [], implicitLo: [], implicitHi: [], labels, upperKey: key(upperKind) };
  if (min === undefined) {
    if (upperKind === 'shape') min = new Array(r).fill(0).map(() => ({ value: 0, implicit: false }));
    else if (unbounded) min = new Array(r).fill(0).map(() => ({ value: -Infinity, implicit: true }));
    else throw new SpecError(path('inclusive_min'), 'required unless shape is given');
  }
  if (upper === undefined) {
    if (!unbounded) throw new SpecError(path('exclusive_max'), `an upper bound (${key('exclusive_max')}, ${key('inclusive_max')} or ${key('shape')}) is required`);
    upper = new Array(r).fill(0).map(() => ({ value: Infinity, implicit: true }));
  }
  const lo = min.map((b) => b.value);
  const hi = upper.map((u, i) => (upperKind === 'inclusive_max' ? u.value + 1 : upperKind === 'shape' ? lo[i]! + u.value : u.value));
  for (let i = 0; i < r; i++) {
    if (hi[i]! < lo[i]!) throw new SpecError(`${path(upperKind)}[${i}]`, `upper bound gives an interval [${lo[i]}, ${hi[i]}) of negative size`);
  }
  return { rank: r, lo, hi, implicitLo: min.map((b) => b.implicit), implicitHi: upper.map((b) => b.implicit), labels, upperKey: key(upperKind) };
}

/**
 * Shared by IndexDomain and IndexTransform JSON parsing. `prefix` is `''` for domains and
 * `'input_'` for transforms. Bounds written `[n]` (implicit) are taken as given; infinite bounds
 * are an error here (a spec's `transform` resolves them against the array: see
 * `IndexTransform.fromJSON`).
 */
export function parseBounds(o: Record<string, unknown>, field: string, prefix: string): IndexDomain {
  const b = parseBoundsJSON(o, field, prefix, false);
  for (let i = 0; i < b.rank; i++) {
    if (!Number.isFinite(b.lo[i]!)) throw new SpecError(`${field}.${prefix}inclusive_min[${i}]`, 'infinite bounds are not supported here (only in a spec\'s transform, which resolves them against the array)');
    if (!Number.isFinite(b.hi[i]!)) throw new SpecError(`${field}.${b.upperKey}[${i}]`, 'infinite bounds are not supported here (only in a spec\'s transform, which resolves them against the array)');
  }
  return new IndexDomain(b.lo, b.hi, b.labels);
}
