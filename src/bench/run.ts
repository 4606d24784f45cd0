import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeReport } from './report.js';
import type { BenchOptions, BenchReport } from './types.js';
import { findWorkloads } from './workloads/index.js';

export interface RunBenchOptions extends Partial<Omit<BenchOptions, 'outDir'>> {
  /** Report directory (default ./bench-report). */
  outDir?: string;
  /** Workload names to run (all when empty). */
  workloads?: string[];
  /** Write report.json / report.md / index.html (default true). */
  writeFiles?: boolean;
}

/**
 * Runs the selected workloads and (unless `writeFiles: false`) writes the report. A workload
 * that throws (including a BenchVerificationError: readers disagreeing) is recorded in
 * `report.errors` and its result's `error`; the other workloads still run.
 */
export async function runBench(o: RunBenchOptions = {}): Promise<{ report: BenchReport; files: string[] }> {
  const workloads = findWorkloads(o.workloads);
  const outDir = path.resolve(o.outDir ?? 'bench-report');
  const opts: BenchOptions = {
    size: o.size ?? 512,
    runs: o.runs ?? 3,
    warmup: o.warmup ?? 1,
    seed: o.seed ?? 1,
    tmpRoot: o.tmpRoot ?? os.tmpdir(),
    profile: o.profile ?? false,
    outDir,
    log: o.log ?? ((m) => process.stderr.write(`${m}\n`)),
  };
  if (opts.profile || o.writeFiles !== false) await mkdir(outDir, { recursive: true });
  // src/bench/ and dist/bench/ are both two levels below the package root
  const version = await readFile(new URL('../../package.json', import.meta.url), 'utf8')
    .then((t) => (JSON.parse(t) as { version: string }).version)
    .catch(() => 'unknown');
  const t0 = performance.now();
  const report: BenchReport = {
    tool: 'volstore',
    version,
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    options: { size: opts.size, runs: opts.runs, warmup: opts.warmup, seed: opts.seed, workloads: workloads.map((w) => w.name), profile: opts.profile },
    workloads: [],
    durationSec: 0,
    errors: [],
  };
  for (const w of workloads) {
    opts.log(`== ${w.name}`);
    try {
      report.workloads.push(await w.run(opts));
    } catch (e) {
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      report.errors.push(`${w.name}: ${msg}`);
      report.workloads.push({ name: w.name, description: w.description, params: {}, rows: [], notes: [], profiles: [], error: msg });
      opts.log(`== ${w.name} FAILED: ${msg}`);
    }
  }
  report.durationSec = (performance.now() - t0) / 1e3;
  const files = o.writeFiles === false ? [] : await writeReport(report, outDir);
  return { report, files };
}
