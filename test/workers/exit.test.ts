/**
 * No leaked workers: a process that used the codec worker pool exits by itself once its work is
 * done (idle workers are unref'd), without closing the pool. The child gets a generous hang
 * guard (not a speed assertion): a leaked, referenced worker would keep it alive until killed.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('a process whose chunks went through the pool exits on its own', () => {
  const script = fileURLToPath(new URL('./exit-script.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 120_000, cwd: fileURLToPath(new URL('../..', import.meta.url)) });
  expect(r.error, 'the child hung (workers kept it alive) or could not start').toBeUndefined();
  expect(r.signal).toBeNull();
  expect(r.status, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { same: boolean; completed: number; spawned: number; workers: number };
  expect(out.same).toBe(true);
  expect(out.completed).toBe(4); // 2 encodes + 2 decodes of 256 KiB chunks ran in workers
  expect(out.spawned).toBeGreaterThan(0);
  expect(out.workers).toBeGreaterThan(0); // still up (idle) when the script ended, yet the process exited
});
