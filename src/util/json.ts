/**
 * Bounds on the JSON volstore accepts (stored metadata, spec JSON) and prints (error messages).
 * Hostile metadata nested thousands deep once made error formatting overflow the stack (a plain
 * RangeError instead of a MetadataError); every JSON document is now checked once, iteratively,
 * where it enters, and messages render values through {@link describeJson}, which is bounded in
 * depth and length whatever it is given.
 */

/** Deepest nesting accepted in metadata and spec JSON (arrays and objects; a scalar is depth 0). */
export const MAX_JSON_DEPTH = 128;

/** Largest metadata document accepted, in bytes (256 MiB: far above any consolidated metadata). */
export const MAX_JSON_BYTES = 256 * 2 ** 20;

/** Most arrays, objects and scalars a JSON value may contain before it counts as too large. */
const MAX_JSON_NODES = 50_000_000;

/**
 * Why `v` is out of bounds (nested deeper than `maxDepth`, or more than 50 million values, which
 * also stops cyclic or pathologically shared JavaScript objects), or undefined when it is fine.
 * Walks iteratively, so any depth is safe to check.
 */
export function jsonBoundsProblem(v: unknown, maxDepth = MAX_JSON_DEPTH): string | undefined {
  const stack: [unknown, number][] = [[v, 0]];
  let nodes = 0;
  while (stack.length > 0) {
    const [x, depth] = stack.pop()!;
    if (++nodes > MAX_JSON_NODES) return `it holds more than ${MAX_JSON_NODES} values`;
    if (typeof x !== 'object' || x === null) continue;
    if (depth >= maxDepth) return `it is nested more than ${maxDepth} levels deep`;
    const children = Array.isArray(x) ? x : Object.values(x as Record<string, unknown>);
    for (const c of children) if (typeof c === 'object' && c !== null) stack.push([c, depth + 1]);
    nodes += children.length;
  }
  return undefined;
}

/**
 * A short rendering of any value for an error message: JSON-like, at most `maxChars` characters
 * (longer output ends in `…`), nesting beyond 4 levels shown as `[…]` / `{…}`, bigints as digits.
 * Never throws and never recurses more than 5 levels.
 */
export function describeJson(v: unknown, maxChars = 200): string {
  const out: string[] = [];
  let len = 0;
  const push = (s: string): boolean => {
    out.push(s);
    len += s.length;
    return len <= maxChars;
  };
  const walk = (x: unknown, depth: number): boolean => {
    if (x === null || typeof x === 'boolean' || typeof x === 'number') return push(x === null ? 'null' : String(x));
    if (typeof x === 'bigint') return push(x.toString());
    if (typeof x === 'string') return push(JSON.stringify(x.length > maxChars ? x.slice(0, maxChars) : x));
    if (x === undefined) return push('undefined');
    if (typeof x !== 'object') return push(`[${typeof x}]`);
    const isArray = Array.isArray(x);
    if (depth >= 4) return push(isArray ? '[…]' : '{…}');
    if (!push(isArray ? '[' : '{')) return false;
    const keys = isArray ? undefined : Object.keys(x as object);
    const n = isArray ? (x as unknown[]).length : keys!.length;
    for (let i = 0; i < n; i++) {
      if (i > 0 && !push(',')) return false;
      const k = keys?.[i];
      if (k !== undefined && !push(`${JSON.stringify(k.length > maxChars ? k.slice(0, maxChars) : k)}:`)) return false;
      if (!walk(k === undefined ? (x as unknown[])[i] : (x as Record<string, unknown>)[k], depth + 1)) return false;
    }
    return push(isArray ? ']' : '}');
  };
  let s: string;
  try {
    walk(v, 0);
    s = out.join('');
  } catch {
    s = String(Object.prototype.toString.call(v));
  }
  return s.length > maxChars ? `${s.slice(0, maxChars - 1)}…` : s;
}
