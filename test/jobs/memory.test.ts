/**
 * `--memory-limit` is a memory bound, proven on peak resident memory of a child process (not
 * on timing): copying 128 MiB in 16 MiB shards with 8 tasks requested, the limit keeps the peak
 * within the process's fixed overhead plus the limit, while the same copy without the limit
 * goes well past it. Raw chunks (no codec work in worker threads) keep the fixed overhead small
 * and steady.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NdArray, open } from '../../src/index.js';
import { TSX } from '../cli/helpers.js';

const CHILD = path.resolve('test/jobs/rss-child.ts');
const MiB = 2 ** 20;
let dir: string;
let src: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-jobs-memory-'));
  src = path.join(dir, 'src.zarr');
  const shape = [256, 512, 1024];
  const chunk = [64, 128, 128];
  const v = await open({
    driver: 'zarr3',
    kvstore: `file://${src}/`,
    create: true,
    metadata: { shape, data_type: 'uint8', chunk_grid: { name: 'regular', configuration: { chunk_shape: chunk } }, codecs: [{ name: 'bytes' }], fill_value: 0 },
  });
  const a = NdArray.zeros('uint8', shape);
  (a.data as Uint8Array).forEach((_, i, d) => (d[i] = ((i >> 10) + (i & 7)) & 0xff));
  await v.write(a);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Peak RSS above the child's loaded baseline, in bytes, of `volstore copy src <fresh dst> args`. */
function peak(args: string[]): Promise<number> {
  const dst = path.join(dir, `dst-${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', TSX, CHILD, 'copy', src, dst, '--chunk-shape', '64,128,128', '--codec', 'raw', '-q', ...args], { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`));
      const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as { code: number; baseRss: number; maxRss: number };
      if (r.code !== 0) return reject(new Error(`exit ${r.code}: ${stderr}`));
      void rm(dst, { recursive: true, force: true }).then(() => resolve(r.maxRss - r.baseRss));
    });
  });
}

describe('--memory-limit', () => {
  it('bounds the peak to the fixed overhead plus the limit; without it the same copy goes far past', async () => {
    // The process's fixed overhead: the same copy in 1 MiB shards, one at a time.
    const fixed = await peak(['--shard-shape', '64,128,128', '--concurrency', '1']);
    const limit = 120e6; // one 16 MiB-shard task (~100 MB: its source region, chunks in flight, encoded chunks, shard, store copy)
    const limited = await peak(['--shard-shape', '128,256,512', '--concurrency', '8', '--memory-limit', String(limit)]);
    const unlimited = await peak(['--shard-shape', '128,256,512', '--concurrency', '8']);
    console.log(`peak RSS above baseline: fixed ${(fixed / MiB).toFixed(0)} MiB, limited ${(limited / MiB).toFixed(0)} MiB, unlimited ${(unlimited / MiB).toFixed(0)} MiB`);
    expect(limited).toBeLessThan(fixed + limit + 48 * MiB);
    expect(unlimited).toBeGreaterThan(fixed + limit + 48 * MiB);
  });
});
