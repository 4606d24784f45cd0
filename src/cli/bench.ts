import { type AccessPattern, parseAccess, type Strategy } from '../bench/access.js';
import { GCS_PRICES, type GcsPrices, parsePriceOverrides } from '../bench/cost.js';
import { parsePrefetch } from '../bench/engine.js';
import { BenchInputError } from '../bench/errors.js';
import { checkLayout, chunkShapeForBytes, type CodecChoice, type Layout, parseCodec, parseDtype } from '../bench/layout.js';
import { renderText } from '../bench/report.js';
import { type EngineRunOptions, runBench } from '../bench/run.js';
import { parseStoreKind, type StoreKind } from '../bench/target.js';
import { WORKLOADS } from '../bench/workloads/index.js';
import type { DataType } from '../array/dtype.js';
import { type CliIO, type CommandDef, commandHelp, type OptionDef, type OptionValues, parseCommandArgs, parseNumberArg, parseShapeArg, parseSpecArg, UsageError } from './args.js';
import { fractionProgress } from './progress.js';

function intFlag(values: OptionValues, name: string, min: number): number | undefined {
  const v = values[name];
  return typeof v === 'string' ? parseNumberArg(v, `--${name}`, { integer: true, min }) : undefined;
}

function numFlag(values: OptionValues, name: string, min = 0): number | undefined {
  const v = values[name];
  return typeof v === 'string' ? parseNumberArg(v, `--${name}`, { min }) : undefined;
}

const list = (values: OptionValues, name: string): string[] => {
  const v = values[name];
  const items = typeof v === 'string' ? [v] : Array.isArray(v) ? v : [];
  return items.flatMap((s) => s.split(';')).map((s) => s.trim()).filter(Boolean);
};

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, k: 1e3, m: 1e6, g: 1e9 };

/**
 * A byte count: a number with an optional unit (`512MB`, `1.5GiB`, `64k`, `1e8`; kB/MB/GB decimal,
 * KiB/MiB/GiB binary).
 * @throws UsageError naming the option.
 */
export function parseByteSize(s: string, option: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*$/i.exec(s);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`${option} expects a byte count such as 512MB, 64KiB or 1e8, got "${s}"`);
  return Math.round(Number(m[1]) * unit);
}

/** Runs `f`, turning the bench's input errors into usage errors (exit code 2). */
export function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof BenchInputError) throw new UsageError(e.message);
    throw e;
  }
}

/** Flags that put `volstore bench` on a user layout or dataset (the engine). */
const ENGINE_FLAGS = ['spec', 'shape', 'dtype', 'chunk-shape', 'chunk-bytes', 'shard-shape', 'codec', 'access', 'write', 'store', 'latency-ms', 'bandwidth-mbps', 'faults', 'compare', 'total-read-bytes', 'repeat', 'concurrency', 'cache-bytes', 'prefetch', 'workers', 'strategy', 'max-accesses'];

/** Options shared by bench and tune. */
export const STORE_OPTIONS: OptionDef[] = [
  { name: 'store', type: 'string', value: 'file|memory|gcs-emulator', help: 'where created layouts go (default file: a temporary directory;\ngcs-emulator when --latency-ms/--bandwidth-mbps/--faults is given)' },
  { name: 'latency-ms', type: 'string', value: 'MS', help: 'emulator: first-byte latency of every response' },
  { name: 'bandwidth-mbps', type: 'string', value: 'MBIT', help: 'emulator: bandwidth per connection (megabits per second)' },
  { name: 'price', type: 'string', multiple: true, value: 'K=V,...|JSON', help: `GCS price overrides: storagePerGbMonth, classAPer10k, classBPer10k,\negressPerGb (defaults: ${GCS_PRICES.region}, ${GCS_PRICES.asOf})` },
];

/** `volstore bench`: the benchmark workloads (src/bench/), or the engine on a user layout / dataset. */
export const BENCH: CommandDef = {
  name: 'bench',
  summary: 'Benchmark: the built-in workloads, or your own layout or dataset (--spec, --shape, ...), with charts and cost.',
  args: '',
  positionals: { min: 0, max: 0 },
  options: [
    { name: 'workload', type: 'string', multiple: true, value: 'NAME', help: 'run this named workload (repeatable); --list shows them' },
    { name: 'spec', type: 'string', value: 'SPEC', help: 'an existing dataset to read (spec JSON, URL or path; never written),\nor spec JSON with "create": true: a layout to create there (kept)' },
    { name: 'shape', type: 'string', value: 'Z,Y,X', help: 'create a layout of this shape with synthetic data (default SIZE^3)' },
    { name: 'dtype', type: 'string', value: 'TYPE', help: 'uint8 (EM-like images, default), uint16, float32, uint32/uint64\n(segmentations)...' },
    { name: 'chunk-shape', type: 'string', multiple: true, value: 'Z,Y,X', help: 'read chunk shape (repeatable: one layout each; default 64,64,64)' },
    { name: 'chunk-bytes', type: 'string', multiple: true, value: 'BYTES', help: 'read chunk of about this size instead (e.g. 1MiB; repeatable)' },
    { name: 'shard-shape', type: 'string', multiple: true, value: 'Z,Y,X|none', help: 'shard (write chunk) shape (repeatable; default none)' },
    { name: 'codec', type: 'string', multiple: true, value: 'CODEC', help: 'raw, zstd[:L], gzip[:L], blosc[:lz4|zstd] or zarr v3 codec JSON\n(repeatable; default zstd:3)' },
    { name: 'access', type: 'string', multiple: true, value: 'PATTERN', help: 'read pattern: full, xy, xz, yz, block:N, random:N (repeatable or\ncomma-separated; default xy,block:64)' },
    { name: 'write', type: 'string', value: 'full|block:N|none', help: 'how created layouts are written and timed (default full:\nwrite-chunk aligned blocks)' },
    { name: 'strategy', type: 'string', value: 'sequential|random', help: 'order of the accesses (default sequential)' },
    { name: 'total-read-bytes', type: 'string', value: 'BYTES', help: 'per pattern and pass, read at most this much (default 256MB)' },
    { name: 'max-accesses', type: 'string', value: 'N', help: 'per pattern and pass, at most N accesses (default 256)' },
    { name: 'repeat', type: 'string', value: 'N', help: 'timed passes over each access list (default 1)' },
    { name: 'concurrency', type: 'string', value: 'N', help: 'accesses in flight at once (default 1)' },
    { name: 'cache-bytes', type: 'string', value: 'BYTES', help: 'cache_pool.total_bytes_limit (default 0: no cache)' },
    { name: 'prefetch', type: 'string', value: 'off|neighbors|sequential', help: 'prefetch policy (needs the prefetch API; default off)' },
    { name: 'workers', type: 'string', value: 'N', help: 'data_copy_concurrency.limit: codec worker threads' },
    ...STORE_OPTIONS,
    { name: 'faults', type: 'string', value: 'SPEC', help: 'emulator: injected faults, e.g. 503:0.05,reset:0.01' },
    { name: 'compare', type: 'string', multiple: true, value: 'zarrita', help: 'also run the same accesses with zarrita (checked against volstore)' },
    { name: 'size', type: 'string', value: 'N', help: 'edge of the cubic test volumes (default 512; layouts: 256)' },
    { name: 'runs', type: 'string', value: 'R', help: 'named workloads: timed runs per measurement (default 3)' },
    { name: 'warmup', type: 'string', value: 'W', help: 'untimed warm-up runs / accesses (default 1)' },
    { name: 'seed', type: 'string', value: 'S', help: 'seed of the generated volumes and random accesses (default 1)' },
    { name: 'out', short: 'o', type: 'string', value: 'DIR', help: 'report directory (default ./bench-report): report.json, report.md, index.html' },
    { name: 'json', type: 'boolean', help: 'print the report as JSON on standard output (schema: bench/README.md)' },
    { name: 'quick', type: 'boolean', help: 'size 128, 1 run (a smoke test)' },
    { name: 'profile', type: 'boolean', help: "also CPU-profile volstore's full reads (.cpuprofile + self-time summary)" },
    { name: 'log', type: 'boolean', help: 'write the step log to standard error also when it is not a terminal' },
    { name: 'list', type: 'boolean', help: 'list the workloads and exit' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'no progress bar and no log' },
    { name: 'help', short: 'h', type: 'boolean', help: 'show this help' },
  ],
  details: `Without --spec/--shape/... it runs the named workloads (all, or --workload NAME). With any of
them it benches that layout (created with synthetic data on --store, written, then read) or
that dataset (read only), one row per layout and pattern: MB/s, latency p50/p95/p99 per access,
requests and bytes per access, amplification, cache hits, GCS cost per TB. Several --chunk-shape,
--shard-shape or --codec values bench every combination.
Exit code 1 if any workload failed (e.g. readers returned different bytes), 2 for bad flags.`,
  async run({ values, io }) {
    if (values.list) {
      for (const w of WORKLOADS) io.stdout.write(`${w.name}\t${w.description}\n`);
      return 0;
    }
    const quick = values.quick === true;
    const prices = pricesFromFlags(values);
    const engine = usage(() => engineFromFlags(values, quick));
    const progress = fractionProgress(io, 'bench', { quiet: values.quiet === true, log: values.log === true });
    let result;
    try {
      result = await runBench({
        workloads: values.workload as string[] | undefined,
        engine,
        size: intFlag(values, 'size', 1) ?? (quick ? 128 : 512),
        runs: intFlag(values, 'runs', 1) ?? (quick ? 1 : 3),
        warmup: intFlag(values, 'warmup', 0) ?? 1,
        seed: intFlag(values, 'seed', 0) ?? 1,
        outDir: typeof values.out === 'string' ? values.out : undefined,
        profile: values.profile === true,
        prices,
        log: (m) => progress.log(m),
        progress: (f, label) => progress.update(f, label),
      }).catch((e: unknown) => {
        if (e instanceof BenchInputError) throw new UsageError(e.message);
        throw e;
      });
    } finally {
      progress.stop();
    }
    const { report, files } = result;
    if (values.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      io.stdout.write(`${renderText(report)}\n`);
      io.stdout.write(`report: ${files.join(', ')}\n`);
    }
    return report.errors.length ? 1 : 0;
  },
};

/** The prices with `--price` overrides applied (in order). @throws UsageError. */
export function pricesFromFlags(values: OptionValues): GcsPrices {
  let p: GcsPrices = { ...GCS_PRICES };
  for (const t of (values.price as string[] | undefined) ?? []) p = usage(() => parsePriceOverrides(t, p));
  return p;
}

/** The store kind from --store, or the emulator when an emulator-only flag is given. @throws BenchInputError. */
export function storeFromFlags(values: OptionValues): StoreKind {
  if (typeof values.store === 'string') return parseStoreKind(values.store);
  return ['latency-ms', 'bandwidth-mbps', 'faults'].some((k) => values[k] !== undefined) ? 'gcs-emulator' : 'file';
}

/**
 * The engine options the flags ask for, or undefined when none of the engine's flags is given
 * (the named workloads run).
 * @throws BenchInputError / UsageError for a bad flag.
 */
export function engineFromFlags(values: OptionValues, quick = false): EngineRunOptions | undefined {
  if (!ENGINE_FLAGS.some((k) => values[k] !== undefined)) return undefined;
  const spec = typeof values.spec === 'string' ? parseSpecArg(values.spec) : undefined;
  const layoutFlags = ['shape', 'dtype', 'chunk-shape', 'chunk-bytes', 'shard-shape', 'codec', 'write'].filter((k) => values[k] !== undefined);
  if (spec && layoutFlags.filter((k) => k !== 'write').length) throw new UsageError(`--spec names the layout: --${layoutFlags.find((k) => k !== 'write')} does not apply (leave out --spec to create a layout from flags)`);
  if (spec && values.write !== undefined && (spec as { create?: unknown }).create !== true) throw new UsageError('--write applies to layouts the bench creates: an existing --spec dataset is only read');
  if (spec && values.store !== undefined) throw new UsageError('--spec names its own store: --store does not apply');
  const size = intFlag(values, 'size', 1) ?? (quick ? 128 : 256);
  const dtype: DataType = typeof values.dtype === 'string' ? parseDtype(values.dtype) : 'uint8';
  const shape = typeof values.shape === 'string' ? parseShapeArg(values.shape, '--shape') : [size, size, size];
  const chunks: number[][] = [
    ...list(values, 'chunk-shape').map((s) => parseShapeArg(s, '--chunk-shape')),
    ...list(values, 'chunk-bytes').map((s) => chunkShapeForBytes(parseByteSize(s, '--chunk-bytes'), dtype, shape)),
  ];
  if (chunks.length === 0) chunks.push(shape.map((s) => Math.min(64, s)));
  const shards: (number[] | undefined)[] = list(values, 'shard-shape').map((s) => (s === 'none' ? undefined : parseShapeArg(s, '--shard-shape')));
  if (shards.length === 0) shards.push(undefined);
  const codecs: CodecChoice[] = list(values, 'codec').map((c) => parseCodec(c, dtype));
  if (codecs.length === 0) codecs.push(parseCodec('zstd:3', dtype));
  const layouts: Layout[] = [];
  for (const chunk of chunks) {
    for (const shard of shards) {
      for (const codec of codecs) {
        const l: Layout = { dtype, shape, chunk, shard, codec };
        checkLayout(l);
        layouts.push(l);
      }
    }
  }
  if (layouts.length > 32) throw new UsageError(`${layouts.length} layouts (chunk shapes x shard shapes x codecs): at most 32 per run`);
  const reads: AccessPattern[] = list(values, 'access').flatMap((s) => s.split(',')).map((s) => parseAccess(s));
  if (reads.length === 0) reads.push({ kind: 'xy' }, { kind: 'block', size: 64 });
  const write = typeof values.write === 'string' ? (values.write === 'none' ? 'none' : parseAccess(values.write, '--write')) : undefined;
  if (write && write !== 'none' && write.kind !== 'full' && write.kind !== 'block') throw new UsageError('--write is full, block:N or none');
  const strategy = (values.strategy ?? 'sequential') as string;
  if (strategy !== 'sequential' && strategy !== 'random') throw new UsageError(`--strategy is sequential or random, got "${strategy}"`);
  const compare = list(values, 'compare').flatMap((s) => s.split(','));
  for (const c of compare) if (c !== 'zarrita') throw new UsageError(`--compare: unknown peer "${c}" (zarrita)`);
  const store = storeFromFlags(values);
  return {
    name: spec ? 'dataset' : 'layouts (custom)',
    description: spec
      ? (spec as { create?: unknown }).create === true
        ? 'the layout of --spec, created at its location with synthetic data, written and read'
        : `an existing dataset (${typeof values.spec === 'string' ? values.spec : ''}), read only`
      : `${layouts.length} layout(s) of ${shape.join('x')} ${dtype}, synthetic data, on ${store}`,
    spec,
    layouts: spec ? [] : layouts,
    store,
    latencyMs: numFlag(values, 'latency-ms'),
    bandwidthMbps: numFlag(values, 'bandwidth-mbps'),
    faults: typeof values.faults === 'string' ? values.faults : undefined,
    reads,
    write,
    strategy: strategy as Strategy,
    totalReadBytes: typeof values['total-read-bytes'] === 'string' ? parseByteSize(values['total-read-bytes'], '--total-read-bytes') : quick ? 32e6 : 256e6,
    maxAccesses: intFlag(values, 'max-accesses', 1) ?? (quick ? 32 : 256),
    repeat: intFlag(values, 'repeat', 1) ?? 1,
    warmup: intFlag(values, 'warmup', 0),
    concurrency: intFlag(values, 'concurrency', 1) ?? 1,
    cacheBytes: typeof values['cache-bytes'] === 'string' ? parseByteSize(values['cache-bytes'], '--cache-bytes') : undefined,
    workers: intFlag(values, 'workers', 1),
    prefetch: typeof values.prefetch === 'string' ? parsePrefetch(values.prefetch) : undefined,
    compare: compare as 'zarrita'[],
  };
}

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
