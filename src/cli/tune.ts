/**
 * `volstore tune`: recommends chunk shape, shard shape and codec for a volume, an access mix, a
 * storage target and limits (the sweep and its model: src/bench/tune.ts).
 */
import os from 'node:os';
import path from 'node:path';
import { parseMix } from '../bench/access.js';
import { parseCodec, parseDtype } from '../bench/layout.js';
import { renderTuneText, writeReport } from '../bench/report.js';
import { reportHeader } from '../bench/run.js';
import { tune } from '../bench/tune.js';
import type { DataType } from '../array/dtype.js';
import { type CommandDef, parseNumberArg, parseShapeArg, parseSpecArg, UsageError } from './args.js';
import { parseByteSize, pricesFromFlags, STORE_OPTIONS, storeFromFlags, usage } from './bench.js';
import { fractionProgress } from './progress.js';

/** The default `--max-memory`: 2 GiB, what one writer per core can hold on a 16 GB, 8-core machine. */
export const DEFAULT_MAX_MEMORY = 2 ** 31;

/** `volstore tune`. */
export const TUNE: CommandDef = {
  name: 'tune',
  summary: 'Recommend chunk shape, shard shape and codec for a volume, an access mix, a store and limits.',
  args: '',
  positionals: { min: 0, max: 0 },
  options: [
    { name: 'shape', type: 'string', value: 'Z,Y,X', help: 'the volume to lay out (or --from)' },
    { name: 'dtype', type: 'string', value: 'TYPE', help: 'its data type (default uint8, or the dataset\'s)' },
    { name: 'from', type: 'string', value: 'SPEC', help: 'an existing dataset: its shape, dtype and a central sample of its data' },
    { name: 'mix', type: 'string', value: 'MIX', help: 'access mix, pattern:weight, e.g. xy:0.6,xz:0.2,block:128:0.2\n(patterns: full, xy, xz, yz, block:N, random:N; default xy)' },
    ...STORE_OPTIONS,
    { name: 'max-objects', type: 'string', value: 'N', help: 'limit: objects the whole volume may take' },
    { name: 'max-cost-per-tb', type: 'string', value: 'USD', help: 'limit: estimated GCS cost to read 1 TB with the mix' },
    { name: 'max-memory', type: 'string', value: 'BYTES|none', help: 'limit: memory to write a shard / read with full concurrency\n(default 2GiB: a writer per core on a 16 GB machine)' },
    { name: 'budget-s', type: 'string', value: 'S', help: 'seconds for calibration and measurement (default 60)' },
    { name: 'codecs', type: 'string', value: 'LIST', help: 'codecs to consider, comma-separated (default raw,zstd:3,blosc:lz4)' },
    { name: 'chunk-bytes', type: 'string', value: 'LIST', help: 'chunk sizes to consider, comma-separated (default 64KiB,256KiB,1MiB,4MiB)' },
    { name: 'sample', type: 'string', value: 'N', help: 'edge of the cubic sample measured (default 256)' },
    { name: 'measure', type: 'string', value: 'N', help: 'measure the top N candidates on the sample (default 4; 0: model only)' },
    { name: 'strategy', type: 'string', value: 'sequential|random', help: 'order of the modelled and measured accesses (default random)' },
    { name: 'seed', type: 'string', value: 'S', help: 'seed of the sample data and the access positions (default 1)' },
    { name: 'out', short: 'o', type: 'string', value: 'DIR', help: 'report directory (default ./tune-report): index.html with the sweep chart' },
    { name: 'json', type: 'boolean', help: 'print the result as JSON (candidates best first) on standard output' },
    { name: 'log', type: 'boolean', help: 'write the step log to standard error also when it is not a terminal' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'no progress bar and no log' },
    { name: 'help', short: 'h', type: 'boolean', help: 'show this help' },
  ],
  details: `It measures the store (request latency, transfer rate) and each codec on a sample of the data
(decode rate, compression ratio per chunk shape), predicts every candidate's time per access of
the mix from exact request and byte counts, ranks the ones within the limits (among those within
10% of the best, the smaller write chunk wins), measures the top ones on the sample with the
bench engine, and prints the recommendation, its reasons and a TensorStore spec (fill in the
kvstore). Exit code 2 for bad flags; 1 when no candidate meets the limits.`,
  async run({ values, io }) {
    const num = (name: string, opts: { integer?: boolean; min?: number } = {}) =>
      typeof values[name] === 'string' ? parseNumberArg(values[name], `--${name}`, opts) : undefined;
    const from = typeof values.from === 'string' ? parseSpecArg(values.from) : undefined;
    const shape = typeof values.shape === 'string' ? parseShapeArg(values.shape, '--shape') : undefined;
    if (!shape && !from) throw new UsageError('--shape Z,Y,X (or --from SPEC) is required');
    const dtype: DataType | undefined = typeof values.dtype === 'string' ? usage(() => parseDtype(values.dtype as string)) : from ? undefined : 'uint8';
    const mixText = typeof values.mix === 'string' ? values.mix : 'xy';
    const mix = usage(() => parseMix(mixText));
    const codecs = typeof values.codecs === 'string' ? usage(() => (values.codecs as string).split(',').map((c) => parseCodec(c, dtype ?? 'uint8', '--codecs'))) : undefined;
    const chunkBytes = typeof values['chunk-bytes'] === 'string' ? values['chunk-bytes'].split(',').map((b) => parseByteSize(b, '--chunk-bytes')) : undefined;
    const strategy = (values.strategy ?? 'random') as string;
    if (strategy !== 'sequential' && strategy !== 'random') throw new UsageError(`--strategy is sequential or random, got "${strategy}"`);
    const store = usage(() => storeFromFlags(values));
    const progress = fractionProgress(io, 'tune', { quiet: values.quiet === true, log: values.log === true });
    const seed = num('seed', { integer: true }) ?? 1;
    let result;
    try {
      result = await usageAsync(() => tune({
        shape, dtype, from, mix, mixText, store,
        latencyMs: num('latency-ms'),
        bandwidthMbps: num('bandwidth-mbps'),
        maxObjects: num('max-objects', { integer: true, min: 1 }),
        maxCostPerTB: num('max-cost-per-tb'),
        maxMemoryBytes: values['max-memory'] === 'none' ? undefined : typeof values['max-memory'] === 'string' ? parseByteSize(values['max-memory'], '--max-memory') : DEFAULT_MAX_MEMORY,
        budgetS: num('budget-s') ?? 60,
        codecs,
        chunkBytes,
        sampleEdge: num('sample', { integer: true, min: 8 }),
        measureTop: num('measure', { integer: true }),
        strategy: strategy as 'sequential' | 'random',
        prices: pricesFromFlags(values),
        seed,
        tmpRoot: os.tmpdir(),
        log: (m) => progress.log(m),
        progress: (f) => progress.update(f, 'tune'),
      }));
    } finally {
      progress.stop();
    }
    const report = await reportHeader({ size: result.input.shape[0]!, runs: 1, warmup: 1, seed, profile: false }, []);
    report.tune = result;
    report.prices = result.candidates[0]?.cost.prices;
    report.durationSec = result.durationSec;
    const outDir = path.resolve(typeof values.out === 'string' ? values.out : 'tune-report');
    const files = await writeReport(report, outDir);
    if (values.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else io.stdout.write(`${renderTuneText(result)}\nreport: ${files.join(', ')}\n`);
    return result.candidates.some((c) => c.violations.length === 0) ? 0 : 1;
  },
};

async function usageAsync<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    return usage(() => {
      throw e;
    });
  }
}
