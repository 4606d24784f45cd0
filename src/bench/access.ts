/**
 * Access patterns of the bench engine and of `volstore tune`: what one access reads (or writes)
 * and the list of accesses a pattern makes over a volume, in sequential or seeded random order.
 *
 * Axes: the three spatial axes are found by dimension label (`z`, `y`, `x`) when the array has
 * them (precomputed arrays are [x, y, z, channel]), else they are the last three dimensions in
 * C order [z, y, x] (zarr). Other dimensions (channels) take index 0, except in `full`.
 *
 * - `full`: the volume in write-chunk (shard) aligned blocks, one block per access;
 * - `xy` / `xz` / `yz`: one whole plane per access (z, y or x fixed);
 * - `block:N`: N^3 blocks on the grid of N (aligned);
 * - `random:N`: N^3 blocks at arbitrary (unaligned) positions.
 */
import { mulberry32 } from '../testing/prng.js';
import { BenchInputError } from './errors.js';

/** One access pattern. */
export type AccessPattern =
  | { kind: 'full' }
  | { kind: 'xy' | 'xz' | 'yz' }
  | { kind: 'block' | 'random'; size: number };

/** Order of the accesses of a pattern. */
export type Strategy = 'sequential' | 'random';

/** A box: [start, stop) per dimension. */
export type Box = [number, number][];

const PLANES = ['xy', 'xz', 'yz'] as const;

/** `xy`, `block:64`... */
export function accessName(a: AccessPattern): string {
  return a.kind === 'block' || a.kind === 'random' ? `${a.kind}:${a.size}` : a.kind;
}

/**
 * Parses one pattern: `full`, `xy`, `xz`, `yz`, `block:N`, `random:N` (N a positive integer).
 * @throws BenchInputError naming `flag`.
 */
export function parseAccess(text: string, flag = '--access'): AccessPattern {
  const t = text.trim();
  if (t === 'full') return { kind: 'full' };
  if ((PLANES as readonly string[]).includes(t)) return { kind: t as 'xy' | 'xz' | 'yz' };
  const m = /^(block|random):(\d+)$/.exec(t);
  if (m) {
    const size = Number(m[2]);
    if (size >= 1) return { kind: m[1] as 'block' | 'random', size };
  }
  throw new BenchInputError(`${flag}: "${text}" is not an access pattern (full, xy, xz, yz, block:N, random:N)`);
}

/** A weighted pattern of an access mix. */
export interface MixEntry {
  access: AccessPattern;
  /** Fraction of the accesses (the weights of a mix sum to 1). */
  weight: number;
}

/**
 * Parses an access mix: comma-separated `pattern:weight` items, e.g. `xy:0.6,xz:0.2,block:128:0.2`
 * (a pattern without a weight counts 1); the weights are normalized to sum to 1.
 * @throws BenchInputError for a bad pattern, a negative weight or an all-zero mix.
 */
export function parseMix(text: string, flag = '--mix'): MixEntry[] {
  const out: MixEntry[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const parts = item.split(':');
    const sized = parts[0] === 'block' || parts[0] === 'random';
    const nPattern = sized ? 2 : 1;
    if (parts.length > nPattern + 1) throw new BenchInputError(`${flag}: "${item}" has too many ":" (want pattern:weight, e.g. block:128:0.2)`);
    const access = parseAccess(parts.slice(0, nPattern).join(':'), flag);
    const w = parts.length > nPattern ? Number(parts[nPattern]) : 1;
    if (!Number.isFinite(w) || w < 0) throw new BenchInputError(`${flag}: weight of "${item}" must be a number >= 0`);
    const same = out.find((e) => accessName(e.access) === accessName(access));
    if (same) same.weight += w;
    else out.push({ access, weight: w });
  }
  const total = out.reduce((a, e) => a + e.weight, 0);
  if (!(total > 0)) throw new BenchInputError(`${flag}: "${text}" has no pattern with a positive weight`);
  return out.filter((e) => e.weight > 0).map((e) => ({ ...e, weight: e.weight / total }));
}

/** Where the spatial axes are among the dimensions of an array. */
export interface SpatialAxes {
  z: number;
  y: number;
  x: number;
}

/**
 * The spatial axes of an array from its dimension labels (`x`, `y`, `z`, any case), else its
 * last three dimensions as [z, y, x].
 * @throws BenchInputError for an array of rank < 3 without x/y/z labels.
 */
export function spatialAxes(rank: number, labels: readonly string[] = []): SpatialAxes {
  const find = (n: string) => labels.findIndex((l) => l.toLowerCase() === n);
  const [z, y, x] = [find('z'), find('y'), find('x')];
  if (z >= 0 && y >= 0 && x >= 0) return { z, y, x };
  if (rank < 3) throw new BenchInputError(`the bench needs a 3-d volume (or dimensions labelled x, y, z); this array has rank ${rank}`);
  return { z: rank - 3, y: rank - 2, x: rank - 1 };
}

/** Number of voxels in a box. */
export function boxSize(b: Box): number {
  return b.reduce((a, [lo, hi]) => a * (hi - lo), 1);
}

/** Fisher-Yates shuffle with a seeded PRNG. */
function shuffle<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** Options of {@link accessBoxes}. */
export interface AccessListOptions {
  /** Array origin (inclusive min) and shape per dimension. */
  origin: readonly number[];
  shape: readonly number[];
  axes: SpatialAxes;
  /** Write chunk (shard) shape: the blocks of `full`. */
  writeChunk: readonly number[];
  strategy: Strategy;
  /** At most this many accesses (the first of the sequence). */
  maxAccesses: number;
  seed: number;
}

/**
 * The boxes (in the array's coordinates) of a pattern's accesses, at most `maxAccesses` of them:
 * sequential = in C order of positions (planes in order of the fixed coordinate); random = the
 * same positions in seeded random order (`random:N` positions are random either way).
 */
export function accessBoxes(a: AccessPattern, o: AccessListOptions): Box[] {
  const rank = o.shape.length;
  const spatial = new Set([o.axes.z, o.axes.y, o.axes.x]);
  const rand = mulberry32(o.seed ^ 0x9e3779b9);
  const base = (): Box => o.shape.map((s, d) => (spatial.has(d) ? [o.origin[d]!, o.origin[d]! + s] : [o.origin[d]!, o.origin[d]! + 1]) as [number, number]);
  const max = Math.max(1, Math.floor(o.maxAccesses));
  const order = <T>(xs: T[]) => (o.strategy === 'random' ? shuffle(xs, rand) : xs).slice(0, max);

  if (a.kind === 'full') {
    // every dimension (channels too) in write-chunk blocks
    const counts = o.shape.map((s, d) => Math.ceil(s / o.writeChunk[d]!));
    const total = counts.reduce((x, y) => x * y, 1);
    const ids = Array.from({ length: total }, (_, i) => i);
    return order(ids).map((id) => {
      const box: Box = [];
      let r = id;
      for (let d = rank - 1; d >= 0; d--) {
        const i = r % counts[d]!;
        r = Math.floor(r / counts[d]!);
        const lo = o.origin[d]! + i * o.writeChunk[d]!;
        box[d] = [lo, Math.min(lo + o.writeChunk[d]!, o.origin[d]! + o.shape[d]!)];
      }
      return box;
    });
  }
  if (a.kind === 'xy' || a.kind === 'xz' || a.kind === 'yz') {
    const fixed = a.kind === 'xy' ? o.axes.z : a.kind === 'xz' ? o.axes.y : o.axes.x;
    const n = o.shape[fixed]!;
    // sequential: evenly spaced planes through the whole volume when capped (not just the first few)
    const positions = o.strategy === 'random' ? shuffle(Array.from({ length: n }, (_, i) => i), rand).slice(0, max) : spaced(n, max);
    return positions.map((p) => {
      const b = base();
      b[fixed] = [o.origin[fixed]! + p, o.origin[fixed]! + p + 1];
      return b;
    });
  }
  const N = (a as { size: number }).size;
  const sp = [o.axes.z, o.axes.y, o.axes.x];
  if (a.kind === 'block') {
    const counts = sp.map((d) => Math.ceil(o.shape[d]! / N));
    const total = counts[0]! * counts[1]! * counts[2]!;
    const ids = o.strategy === 'random' ? shuffle(Array.from({ length: total }, (_, i) => i), rand).slice(0, max) : spaced(total, max);
    return ids.map((id) => {
      const b = base();
      const idx = [Math.floor(id / (counts[1]! * counts[2]!)), Math.floor(id / counts[2]!) % counts[1]!, id % counts[2]!];
      sp.forEach((d, k) => {
        const lo = o.origin[d]! + idx[k]! * N;
        b[d] = [lo, Math.min(lo + N, o.origin[d]! + o.shape[d]!)];
      });
      return b;
    });
  }
  // random:N: arbitrary positions, the block clipped to the volume
  return Array.from({ length: max }, () => {
    const b = base();
    for (const d of sp) {
      const span = Math.max(1, o.shape[d]! - N + 1);
      const lo = o.origin[d]! + Math.floor(rand() * span);
      b[d] = [lo, Math.min(lo + N, o.origin[d]! + o.shape[d]!)];
    }
    return b;
  });
}

/** `max` positions spread evenly over [0, n) (all of them when n <= max), ascending. */
function spaced(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: max }, (_, i) => Math.floor(((i + 0.5) * n) / max));
}

/** Voxels one access of the pattern returns (for a full-extent volume; `full`: one write chunk). */
export function accessVoxels(a: AccessPattern, shape: readonly number[], axes: SpatialAxes, writeChunk: readonly number[]): number {
  const S = (d: number) => shape[d]!;
  switch (a.kind) {
    case 'full':
      return writeChunk.reduce((x, c, d) => x * Math.min(c, S(d)), 1);
    case 'xy':
      return S(axes.y) * S(axes.x);
    case 'xz':
      return S(axes.z) * S(axes.x);
    case 'yz':
      return S(axes.z) * S(axes.y);
    case 'block':
    case 'random': {
      const n = a.size;
      return [axes.z, axes.y, axes.x].reduce((x, d) => x * Math.min(n, S(d)), 1);
    }
  }
}
