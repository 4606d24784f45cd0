import { SpecError } from '../errors.js';
import { renderText } from '../bench/report.js';
import { runBench } from '../bench/run.js';
import { WORKLOADS } from '../bench/workloads/index.js';
import { parseArgs } from './args.js';

const USAGE = `volstore bench [--workload NAME]... [--size N] [--runs R] [--warmup W] [--seed S] [--out DIR]
              [--quick] [--profile] [--list]

  --workload NAME  run only this workload (repeatable); --list shows them
  --size N         edge of the cubic test volume (default 512)
  --runs R         timed runs per measurement, median reported (default 3)
  --warmup W       untimed warm-up runs per contender (default 1)
  --out DIR        report directory (default ./bench-report): report.json, report.md, index.html
  --quick          size 128, 1 run (a smoke test)
  --profile        also CPU-profile volstore's full reads (.cpuprofile + self-time summary in the report)
Exit code 1 if any workload failed (e.g. readers returned different bytes).`;

function intFlag(v: string | boolean | string[] | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isSafeInteger(n) || n < min) throw new SpecError(`--${name}`, `expected an integer >= ${min}, got "${String(v)}"`);
  return n;
}

export async function benchCommand(args: string[]): Promise<number> {
  const { positional, flags } = parseArgs(args, {
    values: ['size', 'runs', 'warmup', 'seed', 'out'],
    multi: ['workload'],
    booleans: ['quick', 'profile', 'list', 'help'],
  });
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (flags.list) {
    for (const w of WORKLOADS) process.stdout.write(`${w.name}\t${w.description}\n`);
    return 0;
  }
  if (positional.length) throw new SpecError('bench', `unexpected argument "${positional[0]}"\n${USAGE}`);
  const quick = flags.quick === true;
  const { report, files } = await runBench({
    workloads: flags.workload as string[] | undefined,
    size: intFlag(flags.size, 'size', 1) ?? (quick ? 128 : 512),
    runs: intFlag(flags.runs, 'runs', 1) ?? (quick ? 1 : 3),
    warmup: intFlag(flags.warmup, 'warmup', 0) ?? 1,
    seed: intFlag(flags.seed, 'seed', 0) ?? 1,
    outDir: typeof flags.out === 'string' ? flags.out : undefined,
    profile: flags.profile === true,
  });
  process.stdout.write(`${renderText(report)}\n`);
  process.stdout.write(`report: ${files.join(', ')}\n`);
  return report.errors.length ? 1 : 0;
}
