/**
 * `volstore tune` is right, not just fast: the recommendation moves in the expected direction
 * when the store's latency rises (bigger shards), when the mix turns to XY planes (chunks flat
 * along z) and when an object-count limit binds. Each test rests on quantities noise cannot
 * flip: 0 vs 100 ms of emulator latency against the request counts it multiplies, 4x fewer
 * bytes decoded per plane, a hard limit. Calibration runs on small samples (64^3); the model
 * counts requests and bytes on the full shape exactly. Also: the candidate grid, the ranking
 * rule, the measurement of the top candidates on the sample, and the `--json` output.
 */
import { DEFAULT_REQUEST_CONCURRENCY } from '../../src/limits.js';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseMix } from '../../src/bench/access.js';
import { parseCodec } from '../../src/bench/layout.js';
import { accessCounts } from '../../src/bench/model.js';
import { candidateGrid, chunkCandidates, rank, shardCandidates, tune, type TuneCandidate, type TuneOptions } from '../../src/bench/tune.js';
import { main } from '../../src/cli/main.js';

const vol = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function opts(o: Partial<TuneOptions> & { mixText: string }): TuneOptions {
  return {
    shape: [512, 512, 512], dtype: 'uint8', mix: parseMix(o.mixText), store: 'file', budgetS: 60, sampleEdge: 64, measureTop: 0,
    codecs: [parseCodec('raw')], seed: 1, tmpRoot: os.tmpdir(), log: () => {}, ...o,
  };
}

const best = (cs: TuneCandidate[]) => cs.find((c) => c.violations.length === 0)!;

describe('the model counts', () => {
  it('unsharded: one request per chunk touched', () => {
    const c = accessCounts([[100, 101], [0, 512], [0, 512]], { chunk: [64, 64, 64] }, 1000, 1 << 20, new Set());
    expect(c).toEqual({ chunks: 64, dataRequests: 64, indexRequests: 0, storedBytes: 64_000 });
  });

  it('sharded: the index of each shard once, then one request per merged run of inner chunks', () => {
    const cache = new Set<string>();
    // an XY plane through 256^3 shards of 64^3 chunks: 4 shards, each 4 x 4 contiguous inner chunks
    const a = accessCounts([[100, 101], [0, 512], [0, 512]], { chunk: [64, 64, 64], shard: [256, 256, 256] }, 1000, 1 << 20, cache);
    expect(a).toEqual({ chunks: 64, dataRequests: 4, indexRequests: 4, storedBytes: 4 * (64 * 16 + 4) + 64 * 1000 });
    const b = accessCounts([[101, 102], [0, 512], [0, 512]], { chunk: [64, 64, 64], shard: [256, 256, 256] }, 1000, 1 << 20, cache);
    expect(b.indexRequests).toBe(0); // cached
    // an XZ plane: in each shard 4 z x 4 x inner chunks, rows 12 chunks apart: 12 x 100 kB gaps > 256 KiB
    const c = accessCounts([[0, 512], [100, 101], [0, 512]], { chunk: [64, 64, 64], shard: [256, 256, 256] }, 100_000, 64 << 20, new Set());
    expect(c.dataRequests).toBe(4 * 4);
    // with small chunks the same gaps (12 x 1 kB) are read through: one request per shard
    const d = accessCounts([[0, 512], [100, 101], [0, 512]], { chunk: [64, 64, 64], shard: [256, 256, 256] }, 1000, 64 << 20, new Set());
    expect(d.dataRequests).toBe(4);
  });
});

describe('candidates and ranking', () => {
  it('chunk shapes: a cube and three flat ones per size, clamped; shards are cubic-ish multiples', () => {
    expect(chunkCandidates(256 * 1024, 'uint8', [512, 512, 512])).toEqual([[64, 64, 64], [16, 128, 128], [128, 16, 128], [128, 128, 16]]);
    expect(chunkCandidates(256 * 1024, 'uint8', [512, 512, 8])).toContainEqual([64, 64, 8]);
    expect(shardCandidates([16, 128, 128], [512, 512, 512], [256, 512])).toEqual([undefined, [256, 256, 256], [512, 512, 512]]);
    expect(shardCandidates([64, 64, 64], [100, 100, 100], [256])).toEqual([undefined, [128, 128, 128]]);
    expect(candidateGrid([512, 512, 512], 'uint8', { chunkBytes: [256 * 1024], shardEdges: [256], codecs: [parseCodec('raw')] })).toHaveLength(4 * 2);
  });

  it('limits first; within the tolerance of the best, the smaller write chunk wins; then by time', () => {
    const mk = (ms: number, w: number, violations: string[] = []) =>
      ({ predicted: { msPerAccess: ms }, writeChunk: [w, w, w], violations } as unknown as TuneCandidate);
    const a = mk(100, 512), b = mk(105, 64), c = mk(120, 32), d = mk(50, 1024, ['too many']);
    const cs = [a, b, c, d];
    rank(cs, 0.1);
    expect(cs).toEqual([b, a, c, d]);
  });
});

describe('direction', () => {
  it('higher latency -> bigger shards (emulator, 0 vs 100 ms; XY planes of a 2048^3 volume)', async () => {
    const o = { shape: [2048, 2048, 2048], mixText: 'xy', store: 'gcs-emulator' as const };
    const low = await tune(opts({ ...o, latencyMs: 0 }));
    const high = await tune(opts({ ...o, latencyMs: 100 }));
    expect(high.calibration.requestLatencyMs).toBeGreaterThan(90);
    expect(low.calibration.requestLatencyMs).toBeLessThan(30);
    const l = best(low.candidates);
    const h = best(high.candidates);
    expect(vol(h.writeChunk)).toBeGreaterThan(vol(l.writeChunk));
    expect(h.predicted.requestsPerAccess).toBeLessThan(l.predicted.requestsPerAccess);
    // at 100 ms an access that needs more than two rounds of requests (DEFAULT_REQUEST_CONCURRENCY in flight) cannot be among the best
    expect(h.predicted.requestsPerAccess).toBeLessThanOrEqual(2 * DEFAULT_REQUEST_CONCURRENCY);
    expect(h.sharded).toBe(true);
  });

  it('a mix of XY planes -> chunks flat along z; 64^3 blocks -> cubic chunks', async () => {
    const xy = best((await tune(opts({ mixText: 'xy' }))).candidates);
    const blocks = best((await tune(opts({ mixText: 'block:64' }))).candidates);
    const flatness = (c: TuneCandidate) => c.readChunk[0]! / Math.min(c.readChunk[1]!, c.readChunk[2]!);
    expect(flatness(xy)).toBeLessThan(1);
    expect(flatness(blocks)).toBe(1);
    expect(flatness(xy)).toBeLessThan(flatness(blocks));
  });

  it('an object-count limit that binds -> a layout with at most that many objects', async () => {
    const free = await tune(opts({ mixText: 'block:64' }));
    const limited = await tune(opts({ mixText: 'block:64', maxObjects: 16 }));
    const f = best(free.candidates);
    const l = best(limited.candidates);
    expect(f.objects).toBeGreaterThan(16); // the limit binds
    expect(l.objects).toBeLessThanOrEqual(16);
    expect(vol(l.writeChunk)).toBeGreaterThan(vol(f.writeChunk));
    // the ones that break it are ranked last, saying why
    const broken = limited.candidates.filter((c) => c.violations.length);
    expect(broken.length).toBeGreaterThan(0);
    expect(limited.candidates.slice(-broken.length)).toEqual(broken);
    expect(broken[0]!.violations[0]).toMatch(/objects > 16/);
    expect(l.reasons.join('\n')).toMatch(/limits met: objects \d+ <= 16/);
  });
});

describe('cost and memory limits', () => {
  it('a read-cost limit and a memory limit exclude exactly the candidates that break them; none left is said plainly', async () => {
    const { renderTuneText } = await import('../../src/bench/report.js');
    const free = await tune(opts({ mixText: 'xy' }));
    const costs = free.candidates.map((c) => c.cost.readPerTB!).sort((a, b) => a - b);
    const limit = costs[Math.floor(costs.length / 2)]!; // half of them cost more
    const mem = 4 << 20;
    const r = await tune(opts({ mixText: 'xy', maxCostPerTB: limit, maxMemoryBytes: mem }));
    for (const c of r.candidates) {
      const broken = c.cost.readPerTB! > limit || c.memoryBytes > mem;
      expect(c.violations.length > 0, `${c.readChunk} ${c.writeChunk}`).toBe(broken);
      if (c.cost.readPerTB! > limit) expect(c.violations.join()).toMatch(/read \$[\d.]+\/TB > \$/);
      if (c.memoryBytes > mem) expect(c.violations.join()).toMatch(/memory .* > 4\.2 MB/);
    }
    const none = await tune(opts({ mixText: 'xy', maxCostPerTB: 0 }));
    expect(none.candidates.every((c) => c.violations.length > 0)).toBe(true);
    expect(renderTuneText(none)).toContain('No candidate meets the limits');
  });
});

describe('--from: an existing dataset', () => {
  it('takes shape and dtype from a precomputed [x, y, z, channel] segmentation and calibrates on its data, z-y-x ordered', async () => {
    const { buildPrecomputedVolume } = await import('../../src/drivers/precomputed-info.js');
    const { open } = await import('../../src/open.js');
    const { NdArray } = await import('../../src/array/ndarray.js');
    const { generateSegmentation } = await import('../../src/bench/seg-gen.js');
    const dir = await import('node:fs/promises').then((f) => f.mkdtemp(`${os.tmpdir()}/volstore-tune-from-`));
    try {
      const X = 48, Y = 40, Z = 32;
      const { spec } = buildPrecomputedVolume({ dtype: 'uint64', shape: [X, Y, Z, 1], chunk: [16, 16, 16], encoding: 'compressed_segmentation', blockSize: [8, 8, 8] });
      const kvstore = { driver: 'file', path: `${dir}/` };
      const w = await open({ ...spec, kvstore, create: true } as never);
      await w.write(new NdArray('uint64', generateSegmentation([X, Y, Z], 5).labels, [X, Y, Z, 1]));
      const r = await tune(opts({ from: { driver: 'neuroglancer_precomputed', kvstore } as never, shape: undefined, dtype: undefined, mixText: 'xy', sampleEdge: 32, codecs: [parseCodec('zstd', 'uint64')], chunkBytes: [32 * 1024] }));
      expect(r.input.shape).toEqual([Z, Y, X]);
      expect(r.input.dtype).toBe('uint64');
      expect(r.input.from).toMatchObject({ driver: 'neuroglancer_precomputed' });
      // label runs compress far better than EM-like images would: the ratios come from the dataset
      expect(Math.min(...Object.values(r.calibration.codecs['zstd(3)']!.ratio))).toBeGreaterThan(8);
      expect(best(r.candidates).spec).toMatchObject({ metadata: { shape: [Z, Y, X], data_type: 'uint64' } });
    } finally {
      await import('node:fs/promises').then((f) => f.rm(dir, { recursive: true, force: true }));
    }
  });
});

describe('measurement and output', () => {
  it('measures the top candidates on the sample with the bench engine and reports model vs measured', async () => {
    const r = await tune(opts({ shape: [128, 128, 128], mixText: 'xy:0.5,block:32:0.5', measureTop: 2, chunkBytes: [32 * 1024], codecs: [parseCodec('zstd:1')] }));
    const m = r.candidates.filter((c) => c.measured);
    expect(m).toHaveLength(2);
    for (const c of m) {
      expect(c.measured!.sampleShape).toEqual([64, 64, 64]);
      expect(c.measured!.msPerAccess).toBeGreaterThan(0);
      expect(c.measured!.predictedSampleMs).toBeGreaterThan(0);
      expect(Object.keys(c.measured!.byPattern).sort()).toEqual(['block:32', 'xy']);
    }
    expect(r.notes.join('\n')).toMatch(/model check on the 64x64x64 sample: measured \/ predicted = /);
    expect(best(r.candidates).reasons.join('\n')).toMatch(/measured on a 64x64x64 sample/);
  });

  it('volstore tune --json: candidates best first, each with spec, readChunk, writeChunk, codec and figures; the page has the sweep chart', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const dir = `${os.tmpdir()}/volstore-tune-test-${process.pid}`;
    const code = await main(
      ['tune', '--shape', '256,256,256', '--mix', 'xy:0.7,yz:0.3', '--codecs', 'raw', '--sample', '32', '--measure', '0', '--json', '--out', dir, '--quiet'],
      { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } },
    );
    expect(err.join('')).toBe('');
    expect(code).toBe(0);
    const j = JSON.parse(out.join('')) as { input: { mix: string }; candidates: TuneCandidate[] };
    expect(j.input.mix).toBe('xy:0.7,yz:0.3');
    const c0 = j.candidates[0]!;
    expect(Object.keys(c0)).toEqual(expect.arrayContaining(['spec', 'readChunk', 'writeChunk', 'codec', 'objects', 'predicted', 'cost', 'memoryBytes', 'violations', 'reasons']));
    expect(c0.spec).toMatchObject({ driver: 'zarr3', create: true, metadata: { shape: [256, 256, 256], data_type: 'uint8' } });
    const scores = j.candidates.filter((c) => !c.violations.length).map((c) => c.predicted.msPerAccess);
    expect(Math.min(...scores)).toBeGreaterThanOrEqual(scores[0]! / 1.1 - 1e-9); // the first is within the tolerance of the fastest
    const html = await import('node:fs/promises').then((f) => f.readFile(`${dir}/index.html`, 'utf8'));
    expect(html).toContain('tune sweep');
    expect(html.match(/<circle class="pt"/g)!.length).toBe(j.candidates.length);
    await import('node:fs/promises').then((f) => f.rm(dir, { recursive: true, force: true }));
    // usage errors
    const e2: string[] = [];
    expect(await main(['tune', '--mix', 'xy'], { stdout: { write: () => true }, stderr: { write: (s: string) => e2.push(s) } })).toBe(2);
    expect(e2.join('')).toMatch(/--shape Z,Y,X \(or --from SPEC\) is required/);
    expect(await main(['tune', '--shape', '8,8,8', '--mix', 'diag'], { stdout: { write: () => true }, stderr: { write: () => true } })).toBe(2);
  });
});
