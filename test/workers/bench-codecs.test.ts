/**
 * The bench's codecs workload at a tiny size: structure only (no speed is asserted): every codec
 * row has numbers for each contender that applies, the Debian CLIs were measured when present,
 * the crossover table covers every chunk size, and decoded chunks were verified (the workload
 * throws BenchVerificationError otherwise).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runBench } from '../../src/bench/run.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'volstore-bench-codecs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it('codecs workload: per-codec table with inline, native, pool and CLI columns, and the crossover sweep', async () => {
  const { report } = await runBench({ workloads: ['codecs'], size: 8, runs: 1, warmup: 0, tmpRoot: tmp, writeFiles: false, log: () => {} });
  expect(report.errors).toEqual([]);
  const w = report.workloads[0]!;
  const [codecs, crossover] = w.tables!;
  const col = (name: string) => codecs!.header.indexOf(name);
  const names = codecs!.rows.map((r) => r[0]);
  for (const n of ['zstd(3)', 'gzip(6)', 'lz4', 'blosc(lz4, shuffle)', 'blosc(zstd, shuffle)', 'compressed_segmentation']) expect(names).toContain(n);
  for (const r of codecs!.rows) {
    for (const c of ['dec wasm/js', 'dec pool', 'enc wasm/js', 'enc pool']) expect(Number(r[col(c)]), `${r[0]} ${c}`).toBeGreaterThan(0);
  }
  const zstd = codecs!.rows.find((r) => r[0] === 'zstd(3)')!;
  if (existsSync(new URL('../../node_modules/zstd-napi/build/Release/binding.node', import.meta.url))) expect(Number(zstd[col('dec native')])).toBeGreaterThan(0);
  if (existsSync('/usr/bin/zstd')) expect(Number(zstd[col('dec CLI')])).toBeGreaterThan(0);
  const gzip = codecs!.rows.find((r) => r[0] === 'gzip(6)')!;
  if (existsSync('/usr/bin/gzip')) expect(Number(gzip[col('enc CLI')])).toBeGreaterThan(0);
  // tiny runs sweep the small sizes only (16^3 .. 32^3)
  expect(crossover!.rows.map((r) => r[0])).toEqual(['16^3', '24^3', '32^3']);
  expect(w.params.crossoverBytes).toBeDefined();
});
