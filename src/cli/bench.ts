import { renderText } from '../bench/report.js';
import { runBench } from '../bench/run.js';
import { WORKLOADS } from '../bench/workloads/index.js';
import { type CliIO, type CommandDef, commandHelp, type OptionValues, parseCommandArgs, parseNumberArg } from './args.js';

function intFlag(values: OptionValues, name: string, min: number): number | undefined {
  const v = values[name];
  return typeof v === 'string' ? parseNumberArg(v, `--${name}`, { integer: true, min }) : undefined;
}

/** `volstore bench`: the benchmark workloads (src/bench/). */
export const BENCH: CommandDef = {
  name: 'bench',
  summary: 'Run the benchmark workloads (zarr3-file, precomputed-seg, emulator) and write a report.',
  args: '',
  positionals: { min: 0, max: 0 },
  options: [
    { name: 'workload', type: 'string', multiple: true, value: 'NAME', help: 'run only this workload (repeatable); --list shows them' },
    { name: 'size', type: 'string', value: 'N', help: 'edge of the cubic test volume (default 512)' },
    { name: 'runs', type: 'string', value: 'R', help: 'timed runs per measurement, median reported (default 3)' },
    { name: 'warmup', type: 'string', value: 'W', help: 'untimed warm-up runs per contender (default 1)' },
    { name: 'seed', type: 'string', value: 'S', help: 'seed of the generated volumes (default 1)' },
    { name: 'out', short: 'o', type: 'string', value: 'DIR', help: 'report directory (default ./bench-report): report.json, report.md, index.html' },
    { name: 'quick', type: 'boolean', help: 'size 128, 1 run (a smoke test)' },
    { name: 'profile', type: 'boolean', help: "also CPU-profile volstore's full reads (.cpuprofile + self-time summary)" },
    { name: 'list', type: 'boolean', help: 'list the workloads and exit' },
    { name: 'help', short: 'h', type: 'boolean', help: 'show this help' },
  ],
  details: 'Exit code 1 if any workload failed (e.g. readers returned different bytes).',
  async run({ values, io }) {
    if (values.list) {
      for (const w of WORKLOADS) io.stdout.write(`${w.name}\t${w.description}\n`);
      return 0;
    }
    const quick = values.quick === true;
    const { report, files } = await runBench({
      workloads: values.workload as string[] | undefined,
      size: intFlag(values, 'size', 1) ?? (quick ? 128 : 512),
      runs: intFlag(values, 'runs', 1) ?? (quick ? 1 : 3),
      warmup: intFlag(values, 'warmup', 0) ?? 1,
      seed: intFlag(values, 'seed', 0) ?? 1,
      outDir: typeof values.out === 'string' ? values.out : undefined,
      profile: values.profile === true,
    });
    io.stdout.write(`${renderText(report)}\n`);
    io.stdout.write(`report: ${files.join(', ')}\n`);
    return report.errors.length ? 1 : 0;
  },
};

/**
 * `volstore bench` without the dispatcher (bench/run.ts, tests).
 * @throws UsageError for bad flags.
 */
export async function benchCommand(args: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const { values, positionals } = parseCommandArgs(BENCH, args);
  if (values.help) {
    io.stdout.write(commandHelp(BENCH));
    return 0;
  }
  return BENCH.run({ values, positionals, io });
}
