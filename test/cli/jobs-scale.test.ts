/**
 * Jobs that scale out, proven with real processes: `volstore copy` and a 3-level
 * `volstore downsample --levels 3` pyramid run as N = 1, 3 and 8 processes with distinct task
 * indices against the GCS emulator write byte-identical objects; a task killed midway and rerun
 * with `--resume` gives the same bytes again (and says it skipped what it had finished).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/testing/index.js';
import { makeSource, manifests, runTasks, snapshot, spawnTask } from '../jobs/helpers.js';

const BUCKET = 'jobs-scale';
let emu: Emulator;
let dir: string;
let src: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  emu = await startEmulator({ buckets: [BUCKET] });
  env = { STORAGE_EMULATOR_HOST: emu.url, VOLSTORE_LOG: 'warn' };
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-jobs-scale-'));
  src = path.join(dir, 'src.zarr');
  await makeSource(`file://${src}/`, [128, 128, 128], [32, 32, 32]);
});
afterAll(async () => {
  await emu?.stop();
  await rm(dir, { recursive: true, force: true });
});

const LAYOUT = ['--chunk-shape', '16,16,16', '--shard-shape', '32,32,32', '--checksum'];
const pyramidArgs = (prefix: string) => ['downsample', src, `gs://${BUCKET}/${prefix}/`, '-f', '2,2,2', '--levels', '3', ...LAYOUT, '--wait-poll', '0.1', '--json'];
const copyArgs = (prefix: string) => ['copy', src, `gs://${BUCKET}/${prefix}/`, ...LAYOUT, '--json'];

describe('N processes, one job', () => {
  let pyramidRef: Map<string, string>;

  it('a 3-level pyramid from 1, 3 and 8 processes is byte-identical; tasks never write the same shard', async () => {
    for (const n of [1, 3, 8]) {
      const results = await runTasks(n, pyramidArgs(`n${n}/pyr`), env);
      for (const r of results) expect(r.code, r.err).toBe(0);
      const sums = results.map((r) => JSON.parse(r.out) as { levels: { name: string; shards: { written: number }; share: { start: number; end: number; total: number } }[]; job: string });
      // One job: every task computed the same digest, and the shares partition each level.
      expect(new Set(sums.map((s) => s.job)).size).toBe(1);
      for (let k = 0; k < 3; k++) {
        const shares = sums.map((s) => s.levels[k]!.share).sort((a, b) => a.start - b.start);
        expect(shares[0]!.start).toBe(0);
        shares.forEach((sh, i) => i > 0 && expect(sh.start).toBe(shares[i - 1]!.end));
        expect(shares.at(-1)!.end).toBe(shares[0]!.total);
      }
      // 64 + 8 + 1 shards, each written by exactly one task.
      expect(sums.reduce((n2, s) => n2 + s.levels.reduce((m, l) => m + l.shards.written, 0), 0)).toBe(73);
      const snap = await snapshot(emu, BUCKET, `n${n}/pyr/`);
      expect([...snap.keys()].filter((k) => k.endsWith('zarr.json')).sort()).toEqual(['s0/zarr.json', 's1/zarr.json', 's2/zarr.json', 'zarr.json']);
      expect(snap.size).toBe(73 + 4);
      if (n === 1) pyramidRef = snap;
      else expect(snap).toEqual(pyramidRef);
      // A manifest per task and level.
      expect(await manifests(emu, BUCKET, `n${n}/pyr/`)).toHaveLength(3 * n);
    }
  });

  it('a copy from 1, 3 and 8 processes is byte-identical', async () => {
    let ref: Map<string, string> | undefined;
    for (const n of [1, 3, 8]) {
      const results = await runTasks(n, copyArgs(`copy-${n}`), env);
      for (const r of results) expect(r.code, r.err).toBe(0);
      const written = results.reduce((m, r) => m + (JSON.parse(r.out) as { objects: number }).objects, 0);
      // 64 shards, plus zarr.json created once (the other tasks verify it) and one manifest per task.
      expect(written).toBe(64 + 1 + n);
      const snap = await snapshot(emu, BUCKET, `copy-${n}/`);
      expect(snap.size).toBe(65);
      if (!ref) ref = snap;
      else expect(snap).toEqual(ref);
    }
    // The copy equals level 0 of the pyramid, shard for shard.
    const pyr = await snapshot(emu, BUCKET, 'n1/pyr/');
    for (const [k, v] of ref!) if (k !== 'zarr.json') expect(pyr.get(`s0/${k}`), k).toBe(v);
  });

  it('a task killed midway and rerun with --resume gives the same bytes; the others wait for it', async () => {
    const n = 3;
    const prefix = 'kill/pyr';
    // A small seeded draw picks the victim; latency keeps its share in progress when it dies.
    const victim = Math.floor(((0x9e3779b9 * 7) >>> 0) / 2 ** 32 * n);
    emu.setLatency(15);
    try {
      const args = (i: number) => [...pyramidArgs(prefix), '--task-index', String(i), '--task-count', String(n)];
      const tasks = Array.from({ length: n }, (_, i) => spawnTask(args(i), { ...env, VOLSTORE_LOG: i === victim ? 'debug' : 'info' }));
      // Kill the victim once its first shard is written, before its share is done.
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (/shard written/.test(tasks[victim]!.err())) {
            clearInterval(t);
            tasks[victim]!.child.kill('SIGKILL');
            resolve();
          }
        }, 5);
        void tasks[victim]!.done.then((r) => {
          clearInterval(t);
          if (r.signal !== 'SIGKILL') reject(new Error(`victim exited before the kill: ${r.err}`));
        });
      });
      const killed = await tasks[victim]!.done;
      expect(killed.signal).toBe('SIGKILL');
      const digestKeys = await manifests(emu, BUCKET, `${prefix}/`);
      expect(digestKeys.some((k) => k.endsWith(`level-0/task-${victim}-of-${n}.json`))).toBe(false);
      // A neighbour cannot write level 1 without the victim's level-0 shards: it waits (give it
      // up to 30 s to say so before the rerun starts).
      const t0 = Date.now();
      while (!tasks.some((t, i) => i !== victim && /level 1: waiting for task\(s\) [\d, ]*\b/.test(t.err())) && Date.now() - t0 < 30_000) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const rerun = spawnTask([...args(victim), '--resume'], env);
      const all = await Promise.all([...tasks.filter((_, i) => i !== victim).map((t) => t.done), rerun.done]);
      for (const r of all) expect(r.code, r.err).toBe(0);
      const resumed = JSON.parse(all.at(-1)!.out) as { shardsSkipped: number; levels: { shards: { skipped: number } }[] };
      // What the killed run finished was verified, not rewritten.
      expect(resumed.levels[0]!.shards.skipped).toBeGreaterThan(0);
      expect(resumed.shardsSkipped).toBe(resumed.levels[0]!.shards.skipped);
      const others = all.slice(0, -1).map((r) => JSON.parse(r.out) as { levels: { waitedSeconds: number }[] });
      expect(others.some((o) => o.levels.some((l) => l.waitedSeconds > 0))).toBe(true);
    } finally {
      emu.setLatency(0);
    }
    expect(await snapshot(emu, BUCKET, `${prefix}/`)).toEqual(await snapshot(emu, BUCKET, 'n1/pyr/'));
  });
});
