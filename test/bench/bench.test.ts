/**
 * Smoke test of the bench machinery at a tiny size: structure only (rows, verification, report
 * files), never speed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeReads, planReads } from '../../src/bench/io-ceiling.js';
import { cpuProfile, summarizeProfile } from '../../src/bench/profile.js';
import { markdownTable, renderText, textTable } from '../../src/bench/report.js';
import { runBench } from '../../src/bench/run.js';
import { median, measureInterleaved } from '../../src/bench/timing.js';
import type { BenchReport } from '../../src/bench/types.js';
import { generateVolume } from '../../src/bench/volume-gen.js';
import { findWorkloads, WORKLOADS } from '../../src/bench/workloads/index.js';
import { assertBytesEqual, BenchVerificationError } from '../../src/bench/workloads/zarr3-file.js';
import { benchCommand } from '../../src/cli/bench.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'volstore-bench-test-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('volume generator', () => {
  it('is deterministic per seed, structured and not constant', () => {
    const a = generateVolume([16, 24, 32], 7);
    const b = generateVolume([16, 24, 32], 7);
    const c = generateVolume([16, 24, 32], 8);
    expect(a.length).toBe(16 * 24 * 32);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
    expect(new Set(a).size).toBeGreaterThan(10);
  });
});

describe('timing and tables', () => {
  it('median, interleaved measurement with checks', async () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const order: string[] = [];
    const checked: string[] = [];
    const t = await measureInterleaved(
      [{ name: 'a', run: async () => order.push('a') }, { name: 'b', run: async () => order.push('b') }],
      { runs: 2, warmup: 1, check: (n) => void checked.push(n) },
    );
    expect(order).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    expect(checked).toEqual(['a', 'b']);
    expect(t.get('a')!.samplesMs).toHaveLength(2);
  });

  it('renders aligned text and markdown tables', () => {
    const text = textTable(['name', 'ms'], [['x', '1.5'], ['long name', '10.0']]);
    expect(text.split('\n')).toHaveLength(4);
    expect(markdownTable(['name', 'ms'], [['a|b', '1']])).toContain('a\\|b');
  });

  it('verification names the first differing byte', () => {
    expect(() => assertBytesEqual('t', new Uint8Array([1, 2, 3]), new Uint8Array([1, 9, 3]))).toThrow(/byte 1: 2 vs 9/);
    expect(() => assertBytesEqual('t', new Uint8Array(2), new Uint8Array(3))).toThrow(BenchVerificationError);
  });
});

describe('I/O ceiling planning', () => {
  it('plans whole chunk files unsharded and inner chunks of shards', () => {
    const unsharded = planReads({ dir: '/a', shape: [128, 128, 128], chunk: [64, 64, 64] }, [[100, 101], [0, 128], [0, 128]]);
    expect(unsharded.map((r) => r.file)).toEqual(['/a/c/1/0/0', '/a/c/1/0/1', '/a/c/1/1/0', '/a/c/1/1/1']);
    const sharded = planReads({ dir: '/a', shape: [512, 512, 512], chunk: [64, 64, 64], shard: [256, 256, 256] }, [[0, 512], [100, 101], [0, 512]]);
    expect(sharded).toHaveLength(4); // shards (0|1, 0, 0|1)
    expect(sharded[0]!.inner).toHaveLength(4 * 4); // 4 z x 1 y x 4 x inner chunks per shard
  });

  it('reads nothing for missing chunks', async () => {
    const r = await executeReads({ dir: tmp, shape: [64, 64, 64], chunk: [64, 64, 64] }, [{ file: path.join(tmp, 'nope') }]);
    expect(r.fileBytes).toBe(0);
  });
});

describe('profile summary', () => {
  it('summarizes self time of a profiled function', async () => {
    const p = await cpuProfile(async () => {
      let x = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < 30) x += Math.sqrt(x + 1);
      expect(x).toBeGreaterThan(0);
    });
    const s = summarizeProfile('spin', p, 5);
    expect(s.top.length).toBeGreaterThan(0);
    expect(s.top.length).toBeLessThanOrEqual(5);
    expect(s.totalMs).toBeGreaterThan(0);
  });
});

describe('workloads', () => {
  it('has a registry with unique names and rejects unknown ones', () => {
    expect(new Set(WORKLOADS.map((w) => w.name)).size).toBe(WORKLOADS.length);
    expect(findWorkloads(['zarr3-file']).map((w) => w.name)).toEqual(['zarr3-file']);
    expect(() => findWorkloads(['nope'])).toThrow(/unknown workload/);
  });

  it('zarr3-file at 64^3: every layout x op, verified, report files written', async () => {
    const out = path.join(tmp, 'report');
    const logs: string[] = [];
    const { report, files } = await runBench({ workloads: ['zarr3-file'], size: 64, runs: 1, warmup: 0, outDir: out, tmpRoot: tmp, profile: true, log: (m) => logs.push(m) });
    expect(report.errors).toEqual([]);
    const w = report.workloads[0]!;
    expect(w.name).toBe('zarr3-file');
    // per layout: a write row, full read + XY + XZ slices; raw layouts also fresh-vs-floor and out-vs-readFile
    const reads = w.rows.filter((r) => r.op === 'full read' || r.op.includes('slice'));
    expect(reads).toHaveLength(4 * 3);
    expect(w.rows.filter((r) => r.op.startsWith('write'))).toHaveLength(4);
    const pooled = w.rows.filter((r) => r.op.includes('codec workers vs inline'));
    const extra = w.rows.filter((r) => r.op.includes(' vs ') && !pooled.includes(r));
    expect(extra.map((r) => r.layout)).toEqual(['raw', 'raw', 'raw, 256^3 shards', 'raw, 256^3 shards']);
    for (const r of extra) expect([r.volstore.medianMs, r.readFile!.medianMs, r.vsReadFile]).not.toContain(undefined);
    // zstd full reads also timed without workers (issue 11's decode target where reads decode)
    expect(pooled.map((r) => r.layout)).toEqual(['zstd', 'zstd, 256^3 shards']);
    for (const r of pooled) {
      expect(r.target!.text).toMatch(/^>= 1\.7x the read without workers \(\d+ ms\): \d+\.\d\dx$/);
      expect(r.verified).toBe('both = expected');
    }
    for (const r of reads) {
      expect(r.volstore.samplesMs).toHaveLength(r.op === 'full read' ? 1 : 5); // slices get 5x the runs
      expect(r.verified).toContain('volstore = expected');
      expect(r.verified).toContain('zarrita = volstore');
      expect(r.vsZarrita).toBeGreaterThan(0);
      expect(r.readFile!.bytes).toBeGreaterThan(0);
      expect(r.target).toBeDefined();
      if (r.layout.startsWith('zstd')) expect(r.readDecode).toBeDefined();
    }
    expect(new Set(w.rows.map((r) => r.layout)).size).toBe(4);
    expect(w.profiles).toHaveLength(8);
    expect(files.map((f) => path.basename(f)).sort()).toEqual(['index.html', 'report.json', 'report.md']);
    const json = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as BenchReport;
    expect(json.workloads[0]!.rows).toHaveLength(w.rows.length);
    expect(await readFile(path.join(out, 'report.md'), 'utf8')).toContain('| layout | op |');
    expect(await readFile(path.join(out, 'index.html'), 'utf8')).toContain('<table>');
    const text = renderText(report);
    expect(text).toContain('-- Ratios (> 1x: volstore faster)');
    expect(text).toContain('vs zarrita');
    expect(text).toContain('-- Latency per access (ms)');
    // slices: one run = one access, so their rows carry per-access percentiles; full reads do not
    for (const r of reads) {
      if (r.op === 'full read') expect(r.volstore.p95Ms).toBeUndefined();
      else expect(r.volstore.p95Ms).toBeGreaterThan(0);
    }
    const html = await readFile(path.join(out, 'index.html'), 'utf8');
    expect(html.match(/<svg class="chart"/g)!.length).toBeGreaterThanOrEqual(4); // 3 ops + latency
    // the temp volumes are gone
    expect((await import('node:fs')).readdirSync(tmp).filter((f) => f.startsWith('volstore-bench-'))).toEqual([]);
  });

  it('benchCommand: --list, bad flags, and a --workload run', async () => {
    const write = process.stdout.write;
    const chunks: string[] = [];
    process.stdout.write = ((s: string) => (chunks.push(String(s)), true)) as typeof process.stdout.write;
    try {
      expect(await benchCommand(['--list'])).toBe(0);
      await expect(benchCommand(['--size', 'big'])).rejects.toThrow(/--size/);
      await expect(benchCommand(['--nope'])).rejects.toThrow(/unknown option/);
      await expect(benchCommand(['--workload', 'nope', '--size', '32'])).rejects.toThrow(/unknown workload/);
    } finally {
      process.stdout.write = write;
    }
    expect(chunks.join('')).toContain('zarr3-file');
  });
});

describe('precomputed-seg and emulator workloads (tiny, structure only)', () => {
  it('the segmentation generator is deterministic, blobby and uint64', async () => {
    const { generateSegmentation } = await import('../../src/bench/seg-gen.js');
    const a = generateSegmentation([40, 48, 56], 3);
    const b = generateSegmentation([40, 48, 56], 3);
    const c = generateSegmentation([40, 48, 56], 4);
    expect(a.labels.length).toBe(40 * 48 * 56);
    expect(Buffer.from(a.labels.buffer).equals(Buffer.from(b.labels.buffer))).toBe(true);
    expect(Buffer.from(a.labels.buffer).equals(Buffer.from(c.labels.buffer))).toBe(false);
    const ids = new Set(a.labels);
    expect(ids.size).toBeGreaterThan(3);
    expect([...ids].some((v) => v > 2n ** 32n)).toBe(true); // large sparse ids
    // label runs: most neighbours along the fastest axis share a label
    let same = 0;
    for (let i = 1; i < a.labels.length; i++) if (a.labels[i] === a.labels[i - 1]) same++;
    expect(same / a.labels.length).toBeGreaterThan(0.8);
  });

  it('precomputed-seg at 96^3: three layouts x two ops, verified, bytes on disk in the notes', async () => {
    const { report } = await runBench({ workloads: ['precomputed-seg'], size: 96, runs: 1, warmup: 0, tmpRoot: tmp, writeFiles: false, log: () => {} });
    expect(report.errors).toEqual([]);
    const w = report.workloads[0]!;
    expect(w.rows).toHaveLength(3 * 2);
    expect(new Set(w.rows.map((r) => r.layout)).size).toBe(3);
    for (const r of w.rows) expect(r.verified).toBe('volstore = expected');
    expect(w.rows.filter((r) => r.layout === 'zarr3 zstd(3)').every((r) => r.readDecode !== undefined)).toBe(true);
    expect(w.notes.join('\n')).toMatch(/bytes on disk: raw uint64 .* compressed_segmentation .* zstd\(3\)/);
    expect(w.params.csegRatio).toBeGreaterThan(1);
    expect((await import('node:fs')).readdirSync(tmp).filter((f) => f.startsWith('volstore-bench-'))).toEqual([]);
  });

  it('emulator at 96^3: gcs and http rows per layout x op, zarrita checked, requests counted', async () => {
    const { report } = await runBench({ workloads: ['emulator'], size: 96, runs: 1, warmup: 0, tmpRoot: tmp, writeFiles: false, log: () => {} });
    expect(report.errors).toEqual([]);
    const w = report.workloads[0]!;
    expect(w.rows).toHaveLength(2 * 2 * 2);
    for (const r of w.rows) {
      expect(r.verified).toContain('volstore gcs = expected');
      expect(r.verified).toContain('volstore http = expected');
      expect(r.verified).toContain('zarrita = volstore');
      expect(r.readFile!.bytes).toBeGreaterThan(0);
    }
    const reqs = w.params.requests as Record<string, Record<string, { requests: number; requestsPerGB: number }>>;
    expect(Object.keys(reqs)).toHaveLength(4);
    for (const byReader of Object.values(reqs)) {
      expect(Object.keys(byReader).sort()).toEqual(['raw GETs', 'volstore gcs', 'volstore http', 'zarrita']);
      for (const u of Object.values(byReader)) expect(u.requests).toBeGreaterThan(0);
    }
  });
});
