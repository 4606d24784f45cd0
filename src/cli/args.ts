/**
 * Command-line parsing for `volstore`: Node's `util.parseArgs` tokenises; this module checks
 * the tokens against each command's option table (unknown options with a "did you mean",
 * missing values, positional counts) and renders per-command help.
 */
import { parseArgs as nodeParseArgs } from 'node:util';
import { resolveLocalPath } from '../kvstore/spec.js';
import { DRIVER_ALIASES, parseUrl, type Spec } from '../spec/spec.js';

/** A command-line mistake: exit code 2 and a pointer to `--help`. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** One option of a command. */
export interface OptionDef {
  /** Long name without `--`. */
  name: string;
  short?: string;
  type: 'string' | 'boolean';
  /** Repeatable (string options only): the value is a list. */
  multiple?: boolean;
  /** Placeholder of the value in help, e.g. `N` or `a,b,c`. */
  value?: string;
  help: string;
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** Where a command writes: the process streams, or test doubles. */
export interface CliIO {
  stdout: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
}

export interface CommandContext {
  positionals: string[];
  values: OptionValues;
  io: CliIO;
}

/** A subcommand: its options, positional arguments, help text and implementation. */
export interface CommandDef {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Positional part of the usage line, e.g. `<src> <dst>`. */
  args: string;
  positionals: { min: number; max: number };
  options: OptionDef[];
  /** More help, shown after the option list. */
  details?: string;
  run(ctx: CommandContext): Promise<number>;
}

/** Edit distance with adjacent transpositions (optimal string alignment), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** ` (did you mean X?)` for the closest candidate within a small distance, else ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  const prefix = candidates.filter((c) => c.startsWith(word) && word.length >= 2);
  if (prefix.length === 1) return ` (did you mean ${prefix[0]}?)`;
  return best !== undefined && bestD <= Math.max(1, Math.floor(word.length / 3)) ? ` (did you mean ${best}?)` : '';
}

/**
 * Parses `argv` against a command's options. Returns option values by long name (booleans
 * true when given; repeatable options as lists) and the positionals.
 * @throws UsageError for an unknown option (with a suggestion), a missing or unexpected value,
 *   or the wrong number of positionals.
 */
export function parseCommandArgs(def: Pick<CommandDef, 'name' | 'options' | 'positionals' | 'args'>, argv: readonly string[]): { values: OptionValues; positionals: string[] } {
  const byName = new Map(def.options.map((o) => [o.name, o]));
  const byShort = new Map(def.options.filter((o) => o.short).map((o) => [o.short!, o]));
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const o of def.options) options[o.name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  const { tokens } = nodeParseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const values: OptionValues = {};
  const positionals: string[] = [];
  const names = def.options.map((o) => `--${o.name}`);
  for (const t of tokens) {
    if (t.kind === 'positional') {
      positionals.push(t.value);
      continue;
    }
    if (t.kind !== 'option') continue;
    const o = t.rawName.startsWith('--') ? byName.get(t.name) : byShort.get(t.rawName.slice(1));
    if (!o) throw new UsageError(`unknown option ${t.rawName}${didYouMean(t.rawName, names)}`);
    if (o.type === 'boolean') {
      if (t.inlineValue) throw new UsageError(`option --${o.name} takes no value`);
      values[o.name] = true;
      continue;
    }
    const v = t.value;
    // A value that looks like another option is a forgotten value (`--out --region 0:4`).
    if (v === undefined || (!t.inlineValue && /^--?[a-zA-Z]/.test(v))) throw new UsageError(`option --${o.name} needs a value${o.value ? ` (${o.value})` : ''}`);
    if (o.multiple) values[o.name] = [...((values[o.name] as string[] | undefined) ?? []), v];
    else values[o.name] = v;
  }
  const { min, max } = def.positionals;
  if (positionals.length < min) throw new UsageError(`missing argument${min - positionals.length > 1 ? 's' : ''}: volstore ${def.name} ${def.args}`);
  if (positionals.length > max) throw new UsageError(`unexpected argument "${positionals[max]}"`);
  return { values, positionals };
}

/** The `--help` text of a command. */
export function commandHelp(def: CommandDef): string {
  const rows = def.options.map((o) => [`${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.value ? ` ${o.value}` : ''}`, o.help] as const);
  const w = Math.min(34, Math.max(...rows.map(([a]) => a.length)) + 2);
  const lines = rows.map(([a, h]) => {
    const pad = a.length + 2 > w ? `\n  ${' '.repeat(w)}` : ' '.repeat(w - a.length);
    return `  ${a}${pad}${h.replace(/\n/g, `\n  ${' '.repeat(w)}`)}`;
  });
  return `Usage: volstore ${def.name} ${def.args}${def.options.length ? ' [options]' : ''}\n\n${def.summary}\n\nOptions:\n${lines.join('\n')}\n${def.details ? `\n${def.details.trim()}\n` : ''}`;
}

/** "64,64,64" -> [64, 64, 64]. @throws UsageError naming the option. */
export function parseShapeArg(s: string, option: string): number[] {
  const parts = s.split(',').map((x) => (x.trim() === '' ? NaN : Number(x.trim())));
  if (parts.some((p) => !Number.isSafeInteger(p) || p <= 0)) throw new UsageError(`${option} expects comma-separated positive integers, got "${s}"`);
  return parts;
}

/** A non-negative number option (`--timeout 30`). @throws UsageError naming the option. */
export function parseNumberArg(s: string, option: string, { integer = false, min = 0 } = {}): number {
  const n = s.trim() === '' ? NaN : Number(s);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isSafeInteger(n))) {
    throw new UsageError(`${option} expects ${integer ? 'an integer' : 'a number'} >= ${min}, got "${s}"`);
  }
  return n;
}

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A spec argument as a spec object: TensorStore spec JSON (starts with `{`), a URL or pipeline
 * URL (`gs://b/em/|zarr3:`), or a local path, absolute or relative to the working directory
 * (`data/em.zarr`, `./em.zarr`, `/data/em.zarr|zarr3:`).
 * @throws UsageError for JSON that does not parse; SpecError for a bad URL.
 */
export function parseSpecArg(s: string): Spec {
  const t = s.trim();
  if (t.startsWith('{')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (e) {
      throw new UsageError(`spec is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError('spec JSON must be an object');
    return v as Spec;
  }
  if (URL_SCHEME.test(t)) return parseUrl(t);
  // A local path, with an optional `|driver:` pipeline suffix.
  const m = /^(.*)\|([a-z0-9_-]+):(.*)$/.exec(t);
  const spec: Spec = { kvstore: { driver: 'file', path: resolveLocalPath(m ? m[1]! : t, 'path') } };
  if (m) {
    const driver = DRIVER_ALIASES[m[2]!];
    if (!driver) throw new UsageError(`unknown driver "${m[2]}:" after "|" (zarr:, zarr2:, zarr3:, n5:, neuroglancer-precomputed:)`);
    spec.driver = driver;
    if (m[3]) spec.path = m[3];
  }
  return spec;
}
