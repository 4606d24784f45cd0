/**
 * The bench engine and its flags at tiny sizes: access patterns and mixes, layouts, the engine
 * on the file, memory and emulator stores (verification, cache hits, faults and retries), an
 * existing dataset written by zarr-python read against zarrita, and `volstore bench` flags.
 * Structure and counts only, never speed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessBoxes, boxSize, parseAccess, parseMix, spatialAxes } from '../../src/bench/access.js';
import { parsePrefetch, runEngine } from '../../src/bench/engine.js';
import { BenchInputError } from '../../src/bench/errors.js';
import { checkLayout, chunkShapeForBytes, createSpec, layoutName, parseCodec, parseDtype } from '../../src/bench/layout.js';
import { percentile } from '../../src/bench/timing.js';
import type { BenchReport } from '../../src/bench/types.js';
import { benchCommand, parseByteSize } from '../../src/cli/bench.js';
import { fixture } from '../fixture-path.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'volstore-engine-test-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const base = { strategy: 'sequential' as const, totalReadBytes: 1e9, repeat: 1, warmup: 0, concurrency: 1, seed: 1, log: () => {} };

describe('access patterns', () => {
  it('parses patterns and refuses others by flag', () => {
    expect(parseAccess('xy')).toEqual({ kind: 'xy' });
    expect(parseAccess('block:64')).toEqual({ kind: 'block', size: 64 });
    expect(parseAccess('random:7')).toEqual({ kind: 'random', size: 7 });
    expect(() => parseAccess('block')).toThrow(BenchInputError);
    expect(() => parseAccess('zz', '--access')).toThrow(/--access: "zz" is not an access pattern/);
    expect(() => parseAccess('block:0')).toThrow(/not an access pattern/);
  });

  it('parses mixes: weights normalized, repeats merged, errors named', () => {
    const m = parseMix('xy:0.6,xz:0.2,block:128:0.2');
    expect(m.map((e) => [e.access, e.weight])).toEqual([[{ kind: 'xy' }, 0.6], [{ kind: 'xz' }, 0.2], [{ kind: 'block', size: 128 }, 0.2]]);
    expect(parseMix('xy:3,xy:1,yz').map((e) => e.weight)).toEqual([0.8, 0.2]);
    expect(() => parseMix('xy:-1')).toThrow(/weight/);
    expect(() => parseMix('xy:0')).toThrow(/no pattern with a positive weight/);
    expect(() => parseMix('block:8:1:2')).toThrow(/too many/);
  });

  it('finds spatial axes by label, else the last three dimensions', () => {
    expect(spatialAxes(4, ['x', 'y', 'z', 'channel'])).toEqual({ z: 2, y: 1, x: 0 });
    expect(spatialAxes(3)).toEqual({ z: 0, y: 1, x: 2 });
    expect(spatialAxes(4, ['c', '', '', ''])).toEqual({ z: 1, y: 2, x: 3 });
    expect(() => spatialAxes(2)).toThrow(/3-d/);
  });

  it('full tiles the volume in write chunks; planes and blocks stay inside; random order is a seeded permutation', () => {
    const o = { origin: [10, 0, 0], shape: [40, 50, 60], axes: spatialAxes(3), writeChunk: [16, 32, 32], strategy: 'sequential' as const, maxAccesses: 1e9, seed: 3 };
    const full = accessBoxes({ kind: 'full' }, o);
    expect(full).toHaveLength(3 * 2 * 2);
    expect(full.reduce((a, b) => a + boxSize(b), 0)).toBe(40 * 50 * 60);
    expect(full[0]).toEqual([[10, 26], [0, 32], [0, 32]]);
    const xy = accessBoxes({ kind: 'xy' }, { ...o, maxAccesses: 4 });
    expect(xy.map((b) => b[0])).toEqual([[15, 16], [25, 26], [35, 36], [45, 46]]); // evenly spread over z
    for (const b of xy) expect(b.slice(1)).toEqual([[0, 50], [0, 60]]);
    const blocks = accessBoxes({ kind: 'block', size: 20 }, o);
    expect(blocks).toHaveLength(2 * 3 * 3);
    const shuffled = accessBoxes({ kind: 'block', size: 20 }, { ...o, strategy: 'random' });
    expect(shuffled).not.toEqual(blocks);
    expect([...shuffled].sort().map(String)).toEqual([...blocks].sort().map(String));
    expect(accessBoxes({ kind: 'block', size: 20 }, { ...o, strategy: 'random' })).toEqual(shuffled);
    for (const b of accessBoxes({ kind: 'random', size: 25 }, { ...o, maxAccesses: 50 })) {
      b.forEach(([lo, hi], d) => {
        expect(lo).toBeGreaterThanOrEqual(o.origin[d]!);
        expect(hi).toBeLessThanOrEqual(o.origin[d]! + o.shape[d]!);
      });
    }
  });

  it('percentiles interpolate between closest ranks', () => {
    expect(percentile([1, 2, 3, 4, 5], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5], 95)).toBeCloseTo(4.8, 12);
    expect(percentile([10], 99)).toBe(10);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('layouts', () => {
  it('chunk shapes for a byte size, codecs, dtypes, checks, names and specs', () => {
    expect(chunkShapeForBytes(256 * 1024, 'uint8', [512, 512, 512])).toEqual([64, 64, 64]);
    expect(chunkShapeForBytes(1 << 20, 'uint8', [512, 512, 512])).toEqual([64, 128, 128]);
    expect(chunkShapeForBytes(1 << 20, 'uint64', [512, 512, 512])).toEqual([32, 64, 64]);
    expect(chunkShapeForBytes(1 << 20, 'uint8', [4, 512, 512])).toEqual([4, 512, 512]);
    expect(parseCodec('zstd:5').codecs[1]).toEqual({ name: 'zstd', configuration: { level: 5, checksum: false } });
    expect(parseCodec('gzip').name).toBe('gzip(6)');
    expect(parseCodec('blosc:zstd', 'uint16').codecs[1]).toMatchObject({ name: 'blosc', configuration: { cname: 'zstd', typesize: 2 } });
    expect(parseCodec('[{"name":"bytes"},{"name":"crc32c"}]').name).toBe('bytes+crc32c');
    expect(() => parseCodec('zstd:99')).toThrow(/level/);
    expect(() => parseCodec('lzma')).toThrow(/not a codec/);
    expect(() => parseDtype('bool')).toThrow(/--dtype/);
    const l = { dtype: 'uint8' as const, shape: [64, 64, 64], chunk: [32, 32, 32], shard: [64, 64, 48], codec: parseCodec('raw') };
    expect(() => checkLayout(l)).toThrow(/not a multiple/);
    const ok = { ...l, shard: [64, 64, 64] };
    checkLayout(ok);
    expect(layoutName(ok)).toBe('32^3 raw, 64^3 shards');
    expect(createSpec(ok, { driver: 'file', path: '/x/' })).toMatchObject({
      driver: 'zarr3', create: true,
      metadata: { shape: [64, 64, 64], data_type: 'uint8', chunk_grid: { configuration: { chunk_shape: [64, 64, 64] } }, codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [32, 32, 32] } }] },
    });
    expect(parsePrefetch('neighbors')).toBe('neighbors');
    expect(() => parsePrefetch('always')).toThrow(/not a policy/);
    expect(parsePrefetch('off')).toBe('off');
  });
});

describe('engine', () => {
  it('uint64 segmentation on the memory store with a cache: every result checked; the second pass hits the cache', async () => {
    const { result, layouts } = await runEngine({
      ...base, name: 'm', store: 'memory', tmpRoot: tmp, repeat: 2, cacheBytes: 64 << 20,
      layouts: [{ dtype: 'uint64', shape: [32, 32, 32], chunk: [16, 16, 16], codec: parseCodec('zstd:1') }],
      reads: [{ kind: 'block', size: 16 }],
    });
    const read = result.rows[1]!;
    expect(read.verified).toBe('volstore = expected');
    // pass 1 reads the 8 chunks (misses), pass 2 finds them all cached (hits)
    expect(read.access!.cacheHitRate).toBe(0.5);
    expect(read.access!.accesses).toBe(8);
    expect(read.volstore.samplesMs).toHaveLength(2);
    expect(read.volstore.p50Ms).toBeGreaterThan(0);
    expect(read.volstore.p99Ms).toBeGreaterThanOrEqual(read.volstore.p95Ms!);
    expect(read.compressionRatio).toBeGreaterThan(3); // label runs compress
    expect(layouts[0]!.objects).toBe(8);
    // a cached chunk is still revalidated with a conditional read (recheck_cached_data): one request
    // per access in both passes, but pass 2 decodes nothing
    expect(layouts[0]!.patterns['block:16']!.requestsPerAccess).toBe(1);
  });

  it('on the emulator with injected 503s: the stores retry, the faults and retries are counted, the data is right', async () => {
    const { result } = await runEngine({
      ...base, name: 'e', store: 'gcs-emulator', latencyMs: 1, faults: '503:0.2', tmpRoot: tmp, concurrency: 2,
      layouts: [{ dtype: 'uint8', shape: [32, 32, 32], chunk: [16, 16, 16], shard: [32, 32, 32], codec: parseCodec('zstd') }],
      reads: [{ kind: 'xy' }, { kind: 'random', size: 10 }], maxAccesses: 16, compare: ['zarrita'],
    });
    const [write, xy, random] = result.rows;
    expect(write!.access!.faults?.['503'] ?? 0).toBeGreaterThanOrEqual(0);
    const faults = result.rows.reduce((a, r) => a + (r.access!.faults?.['503'] ?? 0), 0);
    expect(faults).toBeGreaterThan(0);
    for (const r of [xy!, random!]) {
      expect(r.verified).toContain('volstore = expected');
      expect(r.access!.requestsByKind.media).toBeGreaterThan(0);
      expect(r.readFile).toBeDefined(); // the I/O ceiling replay
    }
    // zarrita does not retry an injected 503: it fails, and that is a note, not a failed workload
    const notes = result.notes.join('\n');
    expect(notes).toContain('503:0.2');
    if (!xy!.zarrita || !random!.zarrita) expect(notes).toMatch(/zarrita failed: .*503/);
  });

  it('an existing dataset written by zarr-python (sharded int16) is only read, and zarrita agrees', async () => {
    const spec = { driver: 'zarr3', kvstore: { driver: 'file', path: `${fixture('zarr-python/v3.zarr/3d.chunked.compressed.sharded.i2')}/` } };
    const { result } = await runEngine({
      ...base, name: 'd', spec: spec as never, layouts: [], store: 'file', tmpRoot: tmp,
      reads: [{ kind: 'xy' }, { kind: 'yz' }, { kind: 'full' }], compare: ['zarrita'],
    });
    expect(result.rows.map((r) => r.op)).toEqual(['read xy', 'read yz', 'read full']);
    for (const r of result.rows) {
      expect(r.verified).toBe('zarrita = volstore');
      expect(r.zarrita!.p95Ms).toBeGreaterThan(0);
      expect(r.access!.requestsByKind.write).toBeUndefined(); // never written
    }
    expect(result.rows[0]!.access!.accesses).toBe(4); // 4 z planes
    expect(result.rows[2]!.access!.accesses).toBe(8); // 2 x 2 x 2 shards
    expect(result.notes[0]).toMatch(/int16 \[4, 4, 4\].*read only/);
  });

  it('a --spec with create: true (zarr v2, any driver) is created where it says, written, read back and checked, with zarrita', async () => {
    const dir = path.join(tmp, 'user-layout.zarr');
    const spec = {
      driver: 'zarr', kvstore: { driver: 'file', path: `${dir}/` }, create: true,
      metadata: { shape: [24, 40, 32], chunks: [8, 16, 16], dtype: '<u2', compressor: { id: 'zstd', level: 1 }, fill_value: 0, order: 'C' },
    };
    const { result } = await runEngine({ ...base, name: 's', spec: spec as never, layouts: [], store: 'file', tmpRoot: tmp, reads: [{ kind: 'xz' }, { kind: 'random', size: 10 }], compare: ['zarrita'] });
    expect(result.rows.map((r) => r.op)).toEqual(['write full', 'read xz', 'read random:10']);
    expect(result.rows[0]!.access!.accesses).toBe(3 * 3 * 2); // write chunks = chunks (v2 has no shards)
    for (const r of result.rows.slice(1)) expect(r.verified).toBe('volstore = expected, zarrita = volstore');
    expect(result.notes.join('\n')).toMatch(/created from --spec at file:\/\/.*user-layout\.zarr.* and left there/);
    expect((await readFile(path.join(dir, '.zarray'), 'utf8')).length).toBeGreaterThan(0);
    const cli = await benchCommand(['--spec', JSON.stringify({ ...spec, kvstore: { driver: 'file', path: `${dir}2/` } }), '--chunk-shape', '8,8,8'], { stdout: { write: () => true }, stderr: { write: () => true } }).catch((e: Error) => e);
    expect(String(cli)).toMatch(/--spec names the layout: --chunk-shape does not apply/);
  });

  it('refuses a volume it cannot generate, and non-emulator flags on other stores', async () => {
    await expect(runEngine({ ...base, name: 'x', store: 'file', tmpRoot: tmp, reads: [], layouts: [{ dtype: 'uint8', shape: [64, 64], chunk: [8, 8], codec: parseCodec('raw') }] }))
      .rejects.toThrow(/3-d/);
    await expect(runEngine({ ...base, name: 'x', store: 'file', latencyMs: 5, tmpRoot: tmp, reads: [], layouts: [] })).rejects.toThrow(/--latency-ms applies to the built-in emulator only/);
  });
});

describe('volstore bench flags', () => {
  const run = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await benchCommand(args, { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } });
    return { code, out: out.join(''), err: err.join('') };
  };

  it('--shape/--chunk-shape/--shard-shape/--codec cross product, --json report on stdout, files written', async () => {
    const dir = path.join(tmp, 'r1');
    const r = await run(['--shape', '32,32,32', '--chunk-shape', '16,16,16', '--shard-shape', 'none', '--shard-shape', '32,32,32', '--codec', 'raw', '--access', 'xy,block:16', '--json', '--quiet', '--out', dir]);
    expect(r.code).toBe(0);
    expect(r.err).toBe(''); // quiet
    const report = JSON.parse(r.out) as BenchReport;
    expect(report.workloads.map((w) => w.name)).toEqual(['layouts (custom)']);
    const rows = report.workloads[0]!.rows;
    expect(rows.map((x) => `${x.layout} | ${x.op}`)).toEqual([
      '16^3 raw | write full', '16^3 raw | read xy', '16^3 raw | read block:16',
      '16^3 raw, 32^3 shards | write full', '16^3 raw, 32^3 shards | read xy', '16^3 raw, 32^3 shards | read block:16',
    ]);
    expect(report.options.engine).toMatchObject({ store: 'file', strategy: 'sequential', concurrency: 1 });
    expect(report.prices).toMatchObject({ classAPer10k: 0.05 });
    expect(JSON.parse(await readFile(path.join(dir, 'report.json'), 'utf8')).workloads[0].rows).toHaveLength(6);
  });

  it('--prefetch sequential with --cache-bytes reads ahead: fewer demand misses than --prefetch off, results verified', async () => {
    const hitRate = async (policy: string) => {
      const r = await run(['--shape', '64,64,64', '--chunk-shape', '16,16,16', '--shard-shape', 'none', '--codec', 'raw', '--access', 'xy', '--store', 'gcs-emulator', '--latency-ms', '2',
        '--cache-bytes', '16MiB', '--prefetch', policy, '--repeat', '1', '--json', '--quiet', '--out', path.join(tmp, `pf-${policy}`)]);
      expect(r.code).toBe(0);
      const report = JSON.parse(r.out) as BenchReport;
      expect(report.options.engine).toMatchObject({ prefetch: policy, cacheBytes: 16 << 20 });
      const read = report.workloads[0]!.rows.find((x) => x.op === 'read xy')!;
      expect(read.verified).toContain('volstore = expected');
      return read.access!.cacheHitRate!;
    };
    const off = await hitRate('off');
    const sequential = await hitRate('sequential');
    expect(off).toBeLessThan(1);
    expect(sequential).toBeGreaterThan(off);
  });

  it('bad flags are usage errors naming the flag', async () => {
    await expect(run(['--spec', '/nope', '--shape', '8,8,8'])).rejects.toThrow(/--shape does not apply/);
    await expect(run(['--shape', '8,8,8', '--prefetch', 'neighbors'])).rejects.toThrow(/--prefetch neighbors needs a cache: give --cache-bytes/);
    await expect(run(['--shape', '8,8,8', '--store', 'file', '--latency-ms', '5'])).rejects.toThrow(/--latency-ms applies to the built-in emulator only/);
    await expect(run(['--shape', '8,8,8', '--total-read-bytes', '12XB'])).rejects.toThrow(/--total-read-bytes expects a byte count/);
    await expect(run(['--shape', '8,8,8', '--access', 'diagonal'])).rejects.toThrow(/--access: "diagonal"/);
    await expect(run(['--shape', '8,8,8', '--compare', 'tensorstore'])).rejects.toThrow(/unknown peer/);
    await expect(run(['--shape', '8,8,8', '--price', 'classC=1'])).rejects.toThrow(/unknown price "classC"/);
    await expect(run(['--shape', '64,64,64', '--chunk-shape', '32,32,32', '--shard-shape', '48,64,64'])).rejects.toThrow(/not a multiple/);
    expect(parseByteSize('1.5GiB', '--x')).toBe(1.5 * 2 ** 30);
    expect(parseByteSize('512MB', '--x')).toBe(512e6);
    expect(parseByteSize('1e8', '--x')).toBe(1e8);
  });
});

describe('progress', () => {
  const ttyIO = () => {
    let err = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((err += s), true), isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true } };
    return { io, err: () => err };
  };

  it('a terminal gets a bar with the running workload and an ETA, log lines above it; a pipe gets nothing; --quiet nothing', async () => {
    const { fractionProgress } = await import('../../src/cli/progress.js');
    const t = ttyIO();
    let now = 0;
    const p = fractionProgress(t.io as never, 'bench', { quiet: false, now: () => now });
    p.update(0, 'zarr3-file');
    now = 10_000;
    p.log('[raw] wrote 8 files');
    p.update(0.25, 'zarr3-file');
    p.stop();
    expect(t.err()).toMatch(/bench \[.*\] 25% \| zarr3-file \| 10s \| ETA 30s/);
    expect(t.err()).toContain('[raw] wrote 8 files\n');
    let piped = '';
    const pipe = fractionProgress({ stdout: { write: () => true }, stderr: { write: (s: string) => ((piped += s), true) } }, 'bench', { quiet: false });
    pipe.update(0.5, 'x');
    pipe.log('a log line');
    pipe.stop();
    expect(piped).toBe('');
    const logged = fractionProgress({ stdout: { write: () => true }, stderr: { write: (s: string) => ((piped += s), true) } }, 'bench', { quiet: false, log: true });
    logged.log('a log line');
    expect(piped).toBe('a log line\n');
    const q = ttyIO();
    const quiet = fractionProgress(q.io as never, 'bench', { quiet: true });
    quiet.update(0.5, 'x');
    quiet.log('y');
    quiet.stop();
    expect(q.err()).toBe('');
  });

  it('the runner reports progress through every workload, ending at 1', async () => {
    const { runBench } = await import('../../src/bench/run.js');
    const seen: [number, string][] = [];
    await runBench({
      writeFiles: false, tmpRoot: tmp, log: () => {}, progress: (f, l) => seen.push([f, l]),
      engine: { name: 'e', store: 'memory', strategy: 'sequential', totalReadBytes: 1e6, repeat: 1, concurrency: 1, layouts: [{ dtype: 'uint8', shape: [16, 16, 16], chunk: [8, 8, 8], codec: parseCodec('raw') }], reads: [{ kind: 'xy' }] },
    });
    expect(seen[0]).toEqual([0, 'e']);
    expect(seen.at(-1)).toEqual([1, 'done']);
    expect(seen.length).toBeGreaterThan(10); // per access, not per workload
    for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBeGreaterThanOrEqual(seen[i - 1]![0] - 1e-12);
  });
});
