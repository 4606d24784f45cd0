/**
 * The benchmark workloads, without the CLI wrapper: `npx tsx bench/run.ts [--quick] [--profile]
 * [--workload zarr3-file] [--size N] [--runs R] [--out DIR]` (same flags as `volstore bench`,
 * which is what `npm run bench` runs). The logic lives in src/bench/ so the published CLI has it.
 */
import { benchCommand } from '../src/cli/bench.js';

process.exitCode = await benchCommand(process.argv.slice(2));
