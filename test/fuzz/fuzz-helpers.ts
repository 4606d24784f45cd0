/**
 * Shared pieces of the fuzz tests: byte mutations (fast-check arbitraries), scratch poisoning,
 * and the "decoded twice with different scratch contents" comparison.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { VolstoreError } from '../../src/errors.js';
import { loadCore } from '../../src/wasm/core.js';

/** Fuzz scale: runs per property are multiplied by VOLSTORE_FUZZ_SCALE (default 1, for CI). */
export const SCALE = Math.max(1, Number(process.env.VOLSTORE_FUZZ_SCALE ?? 1) || 1);
/** The fixed seed (override with VOLSTORE_FUZZ_SEED to explore). */
export const SEED = Number(process.env.VOLSTORE_FUZZ_SEED ?? 20261130);

/** One mutation of a byte string; positions are taken modulo the length when applied. */
export type Mutation =
  | { op: 'flip'; at: Where; bit: number }
  | { op: 'set'; at: Where; value: number }
  | { op: 'fill'; at: Where; len: number; value: number }
  | { op: 'truncate'; at: Where }
  | { op: 'extend'; bytes: number[] }
  | { op: 'splice'; at: Where; bytes: number[] }
  | { op: 'swap'; at: Where; other: Where; len: number };

/** A position: from the start, from the end, or anywhere (a fraction of the length). */
export type Where = { from: 'head' | 'tail'; offset: number } | { from: 'any'; frac: number };

const whereArb: fc.Arbitrary<Where> = fc.oneof(
  fc.record({ from: fc.constantFrom<'head' | 'tail'>('head', 'tail'), offset: fc.nat(64) }),
  fc.record({ from: fc.constant<'any'>('any'), frac: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }) }),
);

const byteArb = fc.oneof(fc.constantFrom(0, 0xff, 0x7f, 0x80, 1), fc.nat(255));

/** 1-4 mutations, biased toward the headers and trailers where framing lives. */
export const mutationsArb: fc.Arbitrary<Mutation[]> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant<'flip'>('flip'), at: whereArb, bit: fc.nat(7) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant<'set'>('set'), at: whereArb, value: byteArb }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant<'fill'>('fill'), at: whereArb, len: fc.integer({ min: 1, max: 64 }), value: byteArb }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant<'truncate'>('truncate'), at: whereArb }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant<'extend'>('extend'), bytes: fc.array(byteArb, { minLength: 1, maxLength: 16 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant<'splice'>('splice'), at: whereArb, bytes: fc.array(byteArb, { minLength: 1, maxLength: 16 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant<'swap'>('swap'), at: whereArb, other: whereArb, len: fc.integer({ min: 1, max: 16 }) }) },
  ),
  { minLength: 1, maxLength: 4 },
);

function posOf(w: Where, n: number): number {
  if (n === 0) return 0;
  if (w.from === 'any') return Math.floor(w.frac * n);
  return w.from === 'head' ? Math.min(w.offset, n - 1) : Math.max(0, n - 1 - w.offset);
}

/** Applies `muts` to a copy of `b`. */
export function mutate(b: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let out = b.slice();
  for (const m of muts) {
    const n = out.length;
    switch (m.op) {
      case 'flip':
        if (n) out[posOf(m.at, n)]! ^= 1 << m.bit;
        break;
      case 'set':
        if (n) out[posOf(m.at, n)] = m.value;
        break;
      case 'fill': {
        const p = posOf(m.at, n);
        out.fill(m.value, p, Math.min(n, p + m.len));
        break;
      }
      case 'truncate':
        out = out.slice(0, posOf(m.at, n));
        break;
      case 'extend': {
        const e = new Uint8Array(n + m.bytes.length);
        e.set(out);
        e.set(m.bytes, n);
        out = e;
        break;
      }
      case 'splice': {
        const p = posOf(m.at, n);
        const e = new Uint8Array(n + m.bytes.length);
        e.set(out.subarray(0, p));
        e.set(m.bytes, p);
        e.set(out.subarray(p), p + m.bytes.length);
        out = e;
        break;
      }
      case 'swap': {
        const p = posOf(m.at, n);
        const q = posOf(m.other, n);
        const len = Math.min(m.len, n - p, n - q);
        if (len > 0) {
          const a = out.slice(p, p + len);
          out.copyWithin(p, q, q + len);
          out.set(a, q);
        }
        break;
      }
    }
  }
  return out;
}

/**
 * Fills reusable scratch memory with `byte`: blocks of many sizes (including `sizes`) in the
 * volstore wasm core are allocated, filled and freed (dlmalloc hands the same blocks out next),
 * then `alsoRun` decodes some other array so that every decoder's internal buffers hold its data.
 */
export async function poison(byte: number, sizes: readonly number[], alsoRun: () => Promise<unknown>): Promise<void> {
  const core = await loadCore();
  const all = [...new Set([...sizes, 16, 64, 256, 1024, 4096, 16384, 65536, 262144])];
  const ptrs: number[] = [];
  for (const n of all) {
    const p = core.alloc(n);
    core.u8().fill(byte, p, p + n);
    ptrs.push(p);
  }
  for (const p of ptrs) core.free(p);
  await alsoRun().catch(() => undefined);
}

/** Outcome of a decode: the decoded bytes (or values) or the typed error's code. */
export type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string };

/** Runs `fn` with a liveness bound (a hang fails the property instead of the whole run). */
export async function settle(fn: () => Promise<unknown>, ms = 30_000): Promise<Outcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`no answer within ${ms} ms (hang)`)), ms);
  });
  try {
    return { ok: true, value: await Promise.race([fn(), hang]) };
  } catch (e) {
    if (!(e instanceof VolstoreError)) throw new Error(`untyped failure: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
    return { ok: false, code: e.code, message: e.message };
  } finally {
    clearTimeout(timer);
  }
}

/** Both decodes failed with the same typed error, or both gave identical results. */
export function expectSameOutcome(a: Outcome, b: Outcome, what: string): void {
  if (!a.ok || !b.ok) {
    expect({ ok: a.ok, code: a.ok ? undefined : a.code }, `${what}: ${a.ok ? 'ok' : a.message} vs ${b.ok ? 'ok' : b.message}`).toEqual({
      ok: b.ok,
      code: b.ok ? undefined : b.code,
    });
    return;
  }
  expect(sameValues(a.value, b.value), `${what}: two decodes of the same bytes differ (scratch memory leaked into the result)`).toBe(true);
}

/** Element-wise identity (NaN equals NaN, -0 differs from 0) of flat values or byte arrays. */
function sameValues(a: unknown, b: unknown): boolean {
  const fa = a as ArrayLike<unknown>;
  const fb = b as ArrayLike<unknown>;
  if (fa.length !== fb.length) return false;
  for (let i = 0; i < fa.length; i++) if (!Object.is(fa[i], fb[i])) return false;
  return true;
}

/** The wasm core's memory stays bounded (no decompression bomb or hostile size grew it). */
export async function expectBoundedMemory(): Promise<void> {
  const core = await loadCore();
  expect(core.memoryBytes()).toBeLessThanOrEqual(256 * 2 ** 20);
  expect(process.memoryUsage().arrayBuffers).toBeLessThan(4 * 2 ** 30);
}
