/**
 * Property tests: chains of random indexing operations applied to an IndexTransform must agree
 * with a brute-force reference that applies each operation to an explicit list of
 * (input coordinate -> output coordinate) pairs.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IndexDomain, IndexTransform } from '../../src/index-space/index.js';
import type { Selection, SelectionTerm } from '../../src/index-space/index.js';

type Term = null | number | [number | null, number | null, number];
type Op =
  | { kind: 'slice'; terms: Term[]; byLabel: boolean }
  | { kind: 'translateBy'; offsets: number[] }
  | { kind: 'translateTo'; origins: number[] }
  | { kind: 'transpose'; order: number[] }
  | { kind: 'stride'; strides: number[] }
  | { kind: 'label'; labels: string[] };

interface Ref {
  lo: number[];
  hi: number[];
  labels: string[];
  entries: { p: number[]; out: number[] }[];
}

interface RawOp {
  kind: Op['kind'];
  r: number[];
}

/** Turns random numbers into a concrete, valid operation for the current domain. */
function plan(raw: RawOp, lo: number[], hi: number[], _labels: string[]): Op {
  const rank = lo.length;
  let k = 0;
  const next = (): number => raw.r[k++ % raw.r.length]!;
  const pick = (a: number, b: number): number => a + (next() % (b - a + 1)); // inclusive
  switch (raw.kind) {
    case 'slice': {
      const terms: Term[] = [];
      for (let d = 0; d < rank; d++) {
        const choice = next() % 4;
        if (choice === 0) terms.push(null);
        else if (choice === 1 && hi[d]! > lo[d]!) terms.push(pick(lo[d]!, hi[d]! - 1));
        else {
          let step = choice === 3 ? pick(1, 3) * (next() % 2 ? -1 : 1) : 1;
          if (step === 0) step = 1;
          const a = pick(lo[d]!, hi[d]!);
          const b = pick(lo[d]!, hi[d]!);
          const open = next() % 4;
          if (step > 0) {
            terms.push([open === 1 ? null : Math.min(a, b), open === 2 ? null : Math.max(a, b), step]);
          } else {
            // selected (stop, start]: start in [lo-1, hi-1], stop in [lo-1, start]
            const s = Math.max(a, b) - 1;
            const e = Math.min(a, b) - 1;
            terms.push([open === 1 ? null : s, open === 2 ? null : e, step]);
          }
        }
      }
      return { kind: 'slice', terms, byLabel: next() % 2 === 0 };
    }
    case 'translateBy':
      return { kind: 'translateBy', offsets: lo.map(() => pick(-7, 7)) };
    case 'translateTo':
      return { kind: 'translateTo', origins: lo.map(() => pick(-9, 9)) };
    case 'transpose': {
      const order = lo.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = next() % (i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      return { kind: 'transpose', order };
    }
    case 'stride':
      return { kind: 'stride', strides: lo.map(() => [1, 1, 2, 3, -1, -2][next() % 6]!) };
    case 'label': {
      const pool = ['p', 'q', 'r', 's', 't', 'u', 'v', ''];
      const ls: string[] = [];
      const used = new Set<string>();
      for (let d = 0; d < rank; d++) {
        let l = pool[next() % pool.length]!;
        if (l !== '' && used.has(l)) l = '';
        used.add(l);
        ls.push(l);
      }
      return { kind: 'label', labels: ls };
    }
  }
}

function applyImpl(t: IndexTransform, op: Op): IndexTransform {
  switch (op.kind) {
    case 'slice': {
      const labels = t.inputDomain.labels;
      if (op.byLabel) {
        const sel: Record<string, number | readonly (number | null)[] | null> = {};
        op.terms.forEach((term, d) => {
          if (term === null && d % 2 === 0) return; // leave out: whole dim
          sel[labels[d] || String(d)] = term;
        });
        return t.slice(sel);
      }
      // trailing nulls may be dropped
      const terms: SelectionTerm[] = [...op.terms];
      while (terms.length && terms[terms.length - 1] === null) terms.pop();
      return t.slice(terms as Selection);
    }
    case 'translateBy':
      return t.translateBy(op.offsets);
    case 'translateTo':
      return t.translateTo(op.origins);
    case 'transpose':
      return t.transpose(op.order);
    case 'stride':
      return t.stride(op.strides);
    case 'label':
      return t.label(op.labels);
  }
}

const tdiv = (a: number, b: number): number => Math.trunc(a / b) + 0;

/** Brute-force reference: operates on explicit coordinate lists. */
function applyRef(ref: Ref, op: Op): Ref {
  switch (op.kind) {
    case 'translateBy':
      return {
        lo: ref.lo.map((v, d) => v + op.offsets[d]!),
        hi: ref.hi.map((v, d) => v + op.offsets[d]!),
        labels: ref.labels,
        entries: ref.entries.map(({ p, out }) => ({ p: p.map((v, d) => v + op.offsets[d]!), out })),
      };
    case 'translateTo':
      return applyRef(ref, { kind: 'translateBy', offsets: op.origins.map((o, d) => o - ref.lo[d]!) });
    case 'transpose':
      return {
        lo: op.order.map((d) => ref.lo[d]!),
        hi: op.order.map((d) => ref.hi[d]!),
        labels: op.order.map((d) => ref.labels[d]!),
        entries: ref.entries.map(({ p, out }) => ({ p: op.order.map((d) => p[d]!), out })),
      };
    case 'label':
      return { ...ref, labels: op.labels };
    case 'stride': {
      // new x views old x * s; the new domain is every x with x * s inside the old domain
      const lo: number[] = [];
      const hi: number[] = [];
      for (let d = 0; d < ref.lo.length; d++) {
        const s = op.strides[d]!;
        const xs: number[] = [];
        for (let x = -50; x <= 50; x++) if (x * s >= ref.lo[d]! && x * s < ref.hi[d]!) xs.push(x);
        if (xs.length === 0) return { lo: [], hi: [], labels: [], entries: [] }; // empty: stop comparing bounds
        lo.push(Math.min(...xs));
        hi.push(Math.max(...xs) + 1);
      }
      const entries = ref.entries
        .filter(({ p }) => p.every((v, d) => v % op.strides[d]! === 0))
        .map(({ p, out }) => ({ p: p.map((v, d) => tdiv(v, op.strides[d]!)), out }));
      return { lo, hi, labels: ref.labels, entries };
    }
    case 'slice': {
      const lo: number[] = [];
      const hi: number[] = [];
      const labels: string[] = [];
      // per old dim: selected old coordinate -> new coordinate (undefined: dropped dim)
      const maps: (Map<number, number> | number)[] = [];
      for (let d = 0; d < ref.lo.length; d++) {
        const term = op.terms[d];
        if (term === null || term === undefined) {
          const m = new Map<number, number>();
          for (let v = ref.lo[d]!; v < ref.hi[d]!; v++) m.set(v, v);
          maps.push(m);
          lo.push(ref.lo[d]!);
          hi.push(ref.hi[d]!);
          labels.push(ref.labels[d]!);
        } else if (typeof term === 'number') {
          maps.push(term);
        } else {
          const step = term[2];
          const start = term[0] ?? (step > 0 ? ref.lo[d]! : ref.hi[d]! - 1);
          const stop = term[1] ?? (step > 0 ? ref.hi[d]! : ref.lo[d]! - 1);
          const selected: number[] = [];
          for (let v = start; step > 0 ? v < stop : v > stop; v += step) selected.push(v);
          const origin = tdiv(start, step);
          const m = new Map<number, number>();
          selected.forEach((v, i) => m.set(v, origin + i));
          maps.push(m);
          lo.push(origin);
          hi.push(origin + selected.length);
          labels.push(ref.labels[d]!);
        }
      }
      const entries: { p: number[]; out: number[] }[] = [];
      for (const { p, out } of ref.entries) {
        const np: number[] = [];
        let keep = true;
        p.forEach((v, d) => {
          const m = maps[d]!;
          if (typeof m === 'number') {
            if (v !== m) keep = false;
          } else if (!m.has(v)) keep = false;
          else np.push(m.get(v)!);
        });
        if (keep) entries.push({ p: np, out });
      }
      return { lo, hi, labels, entries };
    }
  }
}

function* points(lo: readonly number[], hi: readonly number[]): Generator<number[]> {
  if (lo.some((v, d) => v >= hi[d]!)) return;
  const p = [...lo];
  for (;;) {
    yield [...p];
    let d = p.length - 1;
    while (d >= 0) {
      p[d]!++;
      if (p[d]! < hi[d]!) break;
      p[d] = lo[d]!;
      d--;
    }
    if (d < 0) return;
  }
}

const baseArb = fc
  .integer({ min: 1, max: 4 })
  .chain((rank) =>
    fc.record({
      lo: fc.array(fc.integer({ min: -5, max: 5 }), { minLength: rank, maxLength: rank }),
      ext: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: rank, maxLength: rank }),
      labeled: fc.boolean(),
    }),
  )
  .map(({ lo, ext, labeled }) => new IndexDomain(lo, lo.map((v, d) => v + ext[d]!), labeled ? ['a', 'b', 'c', 'd'].slice(0, lo.length) : undefined));

const rawOpArb: fc.Arbitrary<RawOp> = fc.record({
  kind: fc.constantFrom<Op['kind']>('slice', 'slice', 'translateBy', 'translateTo', 'transpose', 'stride', 'label'),
  r: fc.array(fc.nat(1000), { minLength: 16, maxLength: 16 }),
});

function initialRef(dom: IndexDomain): Ref {
  return {
    lo: [...dom.inclusiveMin],
    hi: [...dom.exclusiveMax],
    labels: [...dom.labels],
    entries: [...points(dom.inclusiveMin, dom.exclusiveMax)].map((p) => ({ p, out: p })),
  };
}

/** Applies raw ops (planned against the current domain) to `base`. */
function runChain(base: IndexTransform, raws: RawOp[]): { t: IndexTransform; ops: Op[] } {
  let t = base;
  const ops: Op[] = [];
  for (const raw of raws) {
    const dom = t.inputDomain;
    const op = plan(raw, [...dom.inclusiveMin], [...dom.exclusiveMax], [...dom.labels]);
    ops.push(op);
    t = applyImpl(t, op);
  }
  return { t, ops };
}

describe('index transform properties', () => {
  it('random operation chains agree with a brute-force coordinate-list reference', () => {
    fc.assert(
      fc.property(baseArb, fc.array(rawOpArb, { maxLength: 6 }), (dom, raws) => {
        let t = IndexTransform.identity(dom);
        let ref: Ref = initialRef(dom);
        for (const raw of raws) {
          const d = t.inputDomain;
          const op = plan(raw, [...d.inclusiveMin], [...d.exclusiveMax], [...d.labels]);
          t = applyImpl(t, op);
          ref = applyRef(ref, op);
          if (ref.lo.length === 0 && t.inputRank > 0) {
            expect(t.inputDomain.isEmpty).toBe(true);
            return;
          }
          expect([...t.inputDomain.inclusiveMin]).toEqual(ref.lo);
          expect([...t.inputDomain.exclusiveMax]).toEqual(ref.hi);
          expect([...t.inputDomain.labels]).toEqual(ref.labels);
          const expected = new Map(ref.entries.map(({ p, out }) => [p.join(','), out]));
          let n = 0;
          for (const p of points(t.inputDomain.inclusiveMin, t.inputDomain.exclusiveMax)) {
            const key = p.join(',');
            expect(expected.has(key), `point ${key} after ${op.kind}`).toBe(true);
            expect(t.map(p)).toEqual(expected.get(key));
            n++;
          }
          expect(n).toBe(t.inputDomain.rank === 0 ? 1 : expected.size);
          // outputBounds contains every mapped point
          const b = t.outputBounds();
          for (const { out } of ref.entries) {
            out.forEach((v, j) => {
              expect(v).toBeGreaterThanOrEqual(b.inclusiveMin[j]!);
              expect(v).toBeLessThan(b.exclusiveMax[j]!);
            });
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('applying a chain in two parts and composing equals applying it at once', () => {
    fc.assert(
      fc.property(baseArb, fc.array(rawOpArb, { maxLength: 6 }), fc.nat(6), (dom, raws, cut) => {
        const split = Math.min(cut, raws.length);
        const all = runChain(IndexTransform.identity(dom), raws).t;
        const first = runChain(IndexTransform.identity(dom), raws.slice(0, split)).t;
        const second = runChain(IndexTransform.identity(first.inputDomain), raws.slice(split)).t;
        const composed = first.compose(second);
        expect(composed.inputDomain.equals(all.inputDomain)).toBe(true);
        expect(composed.outputs).toEqual(all.outputs);
      }),
      { numRuns: 300 },
    );
  });

  it('JSON round trip preserves random transforms', () => {
    fc.assert(
      fc.property(baseArb, fc.array(rawOpArb, { maxLength: 6 }), (dom, raws) => {
        const t = runChain(IndexTransform.identity(dom), raws).t;
        const back = IndexTransform.fromJSON(JSON.parse(JSON.stringify(t.toJSON())));
        expect(back.inputDomain.equals(t.inputDomain)).toBe(true);
        expect(back.outputs).toEqual(t.outputs);
        const dj = IndexDomain.fromJSON(JSON.parse(JSON.stringify(t.inputDomain.toJSON())));
        expect(dj.equals(t.inputDomain)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
