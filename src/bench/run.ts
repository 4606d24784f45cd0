import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GCS_PRICES, type GcsPrices } from './cost.js';
import { type EngineOptions, runEngine } from './engine.js';
import { BenchInputError } from './errors.js';
import { writeReport } from './report.js';
import type { BenchOptions, BenchReport, Workload } from './types.js';
import { findWorkloads } from './workloads/index.js';

/** The engine part of a bench run: a user layout or dataset (everything but what the runner supplies). */
export type EngineRunOptions = Omit<EngineOptions, 'log' | 'progress' | 'tmpRoot' | 'seed' | 'prices' | 'warmup'> & { warmup?: number };

/** Options of {@link runBench}: the bench options (all optional) plus what to run and where to write. */
export interface RunBenchOptions extends Partial<Omit<BenchOptions, 'outDir' | 'progress'>> {
  /** Report directory (default ./bench-report). */
  outDir?: string;
  /** Workload names to run (all when empty and no `engine`). */
  workloads?: string[];
  /** Also (or, without `workloads`, only) bench this layout or dataset with the engine. */
  engine?: EngineRunOptions;
  /** Write report.json / report.md / index.html (default true). */
  writeFiles?: boolean;
  /** Progress of the whole run, 0..1, with the running workload's name. */
  progress?: (fraction: number, label: string) => void;
}

/** The report's header: tool, version, machine. */
export async function reportHeader(opts: { size: number; runs: number; warmup: number; seed: number; profile: boolean }, workloads: string[]): Promise<BenchReport> {
  // src/bench/ and dist/bench/ are both two levels below the package root
  const version = await readFile(new URL('../../package.json', import.meta.url), 'utf8')
    .then((t) => (JSON.parse(t) as { version: string }).version)
    .catch(() => 'unknown');
  return {
    tool: 'volstore',
    version,
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    options: { size: opts.size, runs: opts.runs, warmup: opts.warmup, seed: opts.seed, workloads, profile: opts.profile },
    workloads: [],
    durationSec: 0,
    errors: [],
  };
}

/**
 * Runs the selected workloads (and the engine on a user layout or dataset) and (unless
 * `writeFiles: false`) writes the report. A workload that throws (including a
 * BenchVerificationError: readers disagreeing) is recorded in `report.errors` and its result's
 * `error`; the other workloads still run.
 */
export async function runBench(o: RunBenchOptions = {}): Promise<{ report: BenchReport; files: string[] }> {
  const workloads: Workload[] = o.engine && !o.workloads?.length ? [] : findWorkloads(o.workloads);
  const outDir = path.resolve(o.outDir ?? 'bench-report');
  const prices: GcsPrices = o.prices ?? GCS_PRICES;
  const opts: BenchOptions = {
    size: o.size ?? 512,
    runs: o.runs ?? 3,
    warmup: o.warmup ?? 1,
    seed: o.seed ?? 1,
    tmpRoot: o.tmpRoot ?? os.tmpdir(),
    profile: o.profile ?? false,
    outDir,
    log: o.log ?? ((m) => process.stderr.write(`${m}\n`)),
    prices,
  };
  if (o.engine) {
    const e = o.engine;
    workloads.push({
      name: e.name,
      description: e.description ?? '',
      run: async (bo) => (await runEngine({ ...e, warmup: e.warmup ?? bo.warmup, seed: bo.seed, tmpRoot: bo.tmpRoot, prices: bo.prices, log: bo.log, progress: bo.progress })).result,
    });
  }
  if (opts.profile || o.writeFiles !== false) await mkdir(outDir, { recursive: true });
  const t0 = performance.now();
  const report = await reportHeader(opts, workloads.map((w) => w.name));
  if (o.engine) report.options.engine = engineOptionsJson(o.engine);
  report.prices = { ...prices };
  for (const [i, w] of workloads.entries()) {
    opts.log(`== ${w.name}`);
    o.progress?.(i / workloads.length, w.name);
    const wo: BenchOptions = { ...opts, progress: (f) => o.progress?.((i + Math.min(1, Math.max(0, f))) / workloads.length, w.name) };
    const tw = performance.now();
    try {
      const res = await w.run(wo);
      res.durationSec = (performance.now() - tw) / 1e3;
      report.workloads.push(res);
    } catch (e) {
      if (e instanceof BenchInputError) throw e; // the user's flags, not a failed measurement
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      report.errors.push(`${w.name}: ${msg}`);
      report.workloads.push({ name: w.name, description: w.description, params: {}, rows: [], notes: [], profiles: [], error: msg, durationSec: (performance.now() - tw) / 1e3 });
      opts.log(`== ${w.name} FAILED: ${msg}`);
    }
  }
  o.progress?.(1, 'done');
  report.durationSec = (performance.now() - t0) / 1e3;
  const files = o.writeFiles === false ? [] : await writeReport(report, outDir);
  return { report, files };
}

/** The engine options as plain JSON for the report (layouts by name and shape). */
function engineOptionsJson(e: EngineRunOptions): Record<string, unknown> {
  return JSON.parse(JSON.stringify({ ...e, layouts: e.layouts.map((l) => ({ dtype: l.dtype, shape: l.shape, chunk: l.chunk, shard: l.shard, codec: l.codec.name })) })) as Record<string, unknown>;
}
