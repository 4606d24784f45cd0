/**
 * The job flags of `copy` and `downsample`: which task a process is (flags, or the batch
 * systems' environment variables), sizes and durations, refusals with exit code 2, the help
 * text, and a job's JSON summary.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBytesArg, parseDurationArg, taskFromFlags } from '../../src/cli/job-flags.js';
import { UsageError } from '../../src/cli/args.js';
import { makeSource } from '../jobs/helpers.js';
import { cli } from './helpers.js';

let dir: string;
let src: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-jobs-flags-'));
  src = path.join(dir, 'src.zarr');
  await makeSource(`file://${src}/`, [32, 32, 32], [8, 8, 8]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('which task this process runs', () => {
  it('flags win; then Kubernetes, Cloud Run and Batch variables; defaults to task 0 of 1', () => {
    expect(taskFromFlags({}, {})).toMatchObject({ index: 0, count: 1 });
    expect(taskFromFlags({ 'task-index': '2', 'task-count': '5' }, { CLOUD_RUN_TASK_INDEX: '1', CLOUD_RUN_TASK_COUNT: '9' })).toMatchObject({ index: 2, count: 5 });
    expect(taskFromFlags({}, { CLOUD_RUN_TASK_INDEX: '3', CLOUD_RUN_TASK_COUNT: '4' })).toMatchObject({ index: 3, count: 4, indexFrom: '$CLOUD_RUN_TASK_INDEX' });
    expect(taskFromFlags({}, { BATCH_TASK_INDEX: '0', BATCH_TASK_COUNT: '2' })).toMatchObject({ index: 0, count: 2 });
    expect(taskFromFlags({ 'task-count': '8' }, { JOB_COMPLETION_INDEX: '7' })).toMatchObject({ index: 7, count: 8, indexFrom: '$JOB_COMPLETION_INDEX' });
    expect(taskFromFlags({}, { JOB_COMPLETION_INDEX: '7', VOLSTORE_TASK_COUNT: '8' })).toMatchObject({ index: 7, count: 8 });
  });

  it('refuses what cannot be a task: a Kubernetes index without a count, an index past the count, junk', () => {
    expect(() => taskFromFlags({}, { JOB_COMPLETION_INDEX: '1' })).toThrow(/Kubernetes does not give the task count: pass --task-count/);
    expect(() => taskFromFlags({ 'task-index': '3', 'task-count': '3' }, {})).toThrow(/task index 3 \(from --task-index\) is not below the task count 3/);
    expect(() => taskFromFlags({}, { CLOUD_RUN_TASK_INDEX: 'x' })).toThrow(UsageError);
    expect(() => taskFromFlags({ 'task-count': '0' }, {})).toThrow(/at least 1/);
  });

  it('sizes and durations', () => {
    expect(parseBytesArg('4GiB', '--memory-limit')).toBe(4 * 2 ** 30);
    expect(parseBytesArg('500MB', '--memory-limit')).toBe(500e6);
    expect(parseBytesArg('1.5G', '--memory-limit')).toBe(1.5e9);
    expect(parseBytesArg('1048576', '--memory-limit')).toBe(1048576);
    expect(() => parseBytesArg('lots', '--memory-limit')).toThrow(/--memory-limit expects a size/);
    expect(parseDurationArg('90m', '--wait-timeout')).toBe(5_400_000);
    expect(parseDurationArg('0.25', '--wait-poll')).toBe(250);
    expect(parseDurationArg('250ms', '--wait-poll')).toBe(250);
    expect(() => parseDurationArg('soon', '--wait-timeout')).toThrow(/duration/);
  });
});

describe('the commands', () => {
  it('usage errors exit 2: --overwrite with several tasks or --resume, --levels below 2, a pyramid without a factor', async () => {
    const cases: [string[], RegExp][] = [
      [['copy', src, `${dir}/o1`, '--overwrite', '--task-count', '2'], /--overwrite cannot be combined/],
      [['copy', src, `${dir}/o2`, '--overwrite', '--resume'], /--overwrite cannot be combined/],
      [['downsample', src, `${dir}/o3`, '-f', '2,2,2', '--levels', '1'], /--levels expects an integer >= 2/],
      [['downsample', src, `${dir}/o4`, '-f', '1,1,1', '--levels', '3'], /a pyramid needs a factor above 1/],
      [['copy', src, `${dir}/o5`, '--memory-limit', 'much'], /--memory-limit expects a size/],
      [['copy', src, `${dir}/o6`, '--task-index', '4', '--task-count', '4'], /not below the task count/],
    ];
    for (const [args, re] of cases) {
      const r = await cli([...args, '-q']);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(re);
    }
  });

  it('--help of copy and downsample lists the job flags', async () => {
    const copy = (await cli(['copy', '--help'])).out;
    for (const f of ['--task-index', '--task-count', '--resume', '--memory-limit', '--checksum', 'JOB_COMPLETION_INDEX', 'CLOUD_RUN_TASK_INDEX', 'BATCH_TASK_INDEX']) expect(copy).toContain(f);
    const ds = (await cli(['downsample', '--help'])).out;
    for (const f of ['--levels', 'OME-Zarr 0.5', 'downsamplingFactors', '--wait-timeout', '--wait-poll']) expect(ds).toContain(f);
  });

  it('a memory limit below one task fails clearly; one that fits runs', async () => {
    const small = await cli(['copy', src, `${dir}/m1`, '--shard-shape', '32,32,32', '--chunk-shape', '8,8,8', '--memory-limit', '10kB', '-q']);
    expect(small.code).toBe(1);
    expect(small.err).toMatch(/SpecError: spec field "memoryLimit": one task needs about \d+ bytes .* more than the limit of 10000/);
    const ok = await cli(['copy', src, `${dir}/m2`, '--shard-shape', '32,32,32', '--chunk-shape', '8,8,8', '--memory-limit', '64MB', '--json']);
    expect(ok.code, ok.err).toBe(0);
  });

  it('the JSON summary of a pyramid: per level shares, shards, counters; totals', async () => {
    const r = await cli(['downsample', src, `${dir}/pyr`, '-f', '2,2,2', '--levels', '3', '--chunk-shape', '8,8,8', '--shard-shape', '16,16,16', '--json']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ driver: 'zarr3', method: 'mean', shape: [[32, 32, 32], [16, 16, 16], [8, 8, 8]], task: { index: 0, count: 1 }, chunks: 8 + 1 + 1 });
    expect(j.levels.map((l: { name: string; status: string; share: unknown }) => [l.name, l.status, l.share])).toEqual([
      ['s0', 'written', { start: 0, end: 8, total: 8 }],
      ['s1', 'written', { start: 0, end: 1, total: 1 }],
      ['s2', 'written', { start: 0, end: 1, total: 1 }],
    ]);
    // 10 shards + 4 metadata objects + 3 manifests.
    expect(j.objects).toBe(17);
    expect(j.bytesWritten).toBeGreaterThan(0);
    expect(j.levels[0].counters.objectsRead).toBeGreaterThanOrEqual(64);
    // A second run of the same single-task job refuses the existing destination; with --resume it skips everything.
    const again = await cli(['downsample', src, `${dir}/pyr`, '-f', '2,2,2', '--levels', '3', '--chunk-shape', '8,8,8', '--shard-shape', '16,16,16', '-q']);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/not empty.*--overwrite/);
    const resumed = JSON.parse((await cli(['downsample', src, `${dir}/pyr`, '-f', '2,2,2', '--levels', '3', '--chunk-shape', '8,8,8', '--shard-shape', '16,16,16', '--resume', '--json'])).out);
    expect(resumed.levels.map((l: { status: string }) => l.status)).toEqual(['resumed', 'resumed', 'resumed']);
    expect(resumed.objects).toBe(0);
    // The task summary fields are exactly index and count.
    expect(Object.keys(resumed.task).sort()).toEqual(['count', 'index']);
    expect(JSON.parse(await readFile(`${dir}/pyr/zarr.json`, 'utf8')).attributes.ome.multiscales[0].name).toBe('pyr');
  });
});

describe('the deployment examples', () => {
  /** The `args:` list of a job manifest (our two manifests keep one `- arg` per line). */
  async function manifestArgs(file: string): Promise<string[]> {
    const text = await readFile(file, 'utf8');
    const lines = text.split('\n');
    const start = lines.findIndex((l) => /^\s*args:\s*$/.test(l));
    const out: string[] = [];
    for (const l of lines.slice(start + 1)) {
      const m = /^\s*- (\S+)/.exec(l);
      if (!m) break;
      out.push(m[1]!);
    }
    return out;
  }

  it('the Kubernetes and Cloud Run manifests run a valid command; the task comes from the environment', async () => {
    const { commands } = await import('../../src/cli/main.js');
    const { parseCommandArgs } = await import('../../src/cli/args.js');
    const defs = await commands();
    for (const [file, env] of [
      ['examples/k8s/job.yaml', { JOB_COMPLETION_INDEX: '499' }],
      ['examples/cloud-run/job.yaml', { CLOUD_RUN_TASK_INDEX: '7', CLOUD_RUN_TASK_COUNT: '500' }],
    ] as const) {
      const [name, ...rest] = await manifestArgs(file);
      const def = defs.find((d) => d.name === name)!;
      const { values, positionals } = parseCommandArgs(def, rest);
      expect(positionals, file).toHaveLength(2);
      expect(values, file).toMatchObject({ levels: '6', factors: '1,2,2', resume: true, checksum: true });
      const task = taskFromFlags(values, env);
      expect(task.count, file).toBe(500);
      expect(task.index, file).toBe(Number(Object.values(env)[0]));
    }
    // The k8s completions equal its --task-count.
    const k8s = await readFile('examples/k8s/job.yaml', 'utf8');
    expect(/completions: (\d+)/.exec(k8s)![1]).toBe(/--task-count=(\d+)/.exec(k8s)![1]);
    expect(/taskCount: (\d+)/.exec(await readFile('examples/cloud-run/job.yaml', 'utf8'))![1]).toBe('500');
  });
});
