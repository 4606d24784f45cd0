import { SpecError } from '../errors.js';

/** Minimal `--flag value` / `--flag=value` / boolean flag parser with unknown-flag errors. */
export function parseArgs(
  args: readonly string[],
  spec: { values?: readonly string[]; booleans?: readonly string[]; multi?: readonly string[] },
): { positional: string[]; flags: Record<string, string | boolean | string[]> } {
  const positional: string[] = [];
  const flags: Record<string, string | boolean | string[]> = {};
  const values = new Set([...(spec.values ?? []), ...(spec.multi ?? [])]);
  const booleans = new Set(spec.booleans ?? []);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--') || a === '--') {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (booleans.has(name)) {
      flags[name] = true;
      continue;
    }
    if (!values.has(name)) throw new SpecError(`--${name}`, 'unknown option');
    const v = eq < 0 ? args[++i] : a.slice(eq + 1);
    if (v === undefined) throw new SpecError(`--${name}`, 'needs a value');
    if (spec.multi?.includes(name)) flags[name] = [...((flags[name] as string[] | undefined) ?? []), v];
    else flags[name] = v;
  }
  return { positional, flags };
}

/** "64,64,64" -> [64, 64, 64]. */
export function parseShapeArg(s: string, flag: string): number[] {
  const parts = s.split(',').map((x) => Number(x.trim()));
  if (parts.some((p) => !Number.isSafeInteger(p) || p <= 0)) throw new SpecError(flag, `expected comma-separated positive integers, got "${s}"`);
  return parts;
}

/** A spec argument: JSON (starts with '{'), or a URL / pipeline URL, or an existing local path. */
export function parseSpecArg(s: string): Record<string, unknown> | string {
  const t = s.trim();
  if (t.startsWith('{')) {
    try {
      return JSON.parse(t) as Record<string, unknown>;
    } catch (e) {
      throw new SpecError('spec', `not valid JSON: ${(e as Error).message}`);
    }
  }
  if (t.startsWith('/')) return `file://${t}`;
  return t;
}
