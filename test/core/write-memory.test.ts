/**
 * Writes stream shard by shard: writing a large in-memory array keeps peak memory near the
 * source's size plus a bounded write buffer (PlanOptions.writeBufferBytes), instead of
 * encoding every shard at once (which peaked at ~3x the source). Measured in a child process
 * (write-memory.child.ts) as peak RSS (getrusage maxrss) over its RSS before allocating the
 * source. A memory bound, not a timing one.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const child = fileURLToPath(new URL('./write-memory.child.ts', import.meta.url));
const MiB = 1024 * 1024;

it('writing a 384 MiB in-memory array to 16 MiB shards peaks below 1.5x the source (+32 MiB)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-write-memory-'));
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', child, dir, '384', '16'], { cwd: process.cwd(), maxBuffer: 1 << 20 });
    const m = JSON.parse(stdout) as { baseline: number; withSource: number; peak: number; sourceBytes: number };
    expect(m.sourceBytes).toBe(384 * MiB);
    expect(m.withSource - m.baseline).toBeGreaterThan(0.9 * m.sourceBytes); // the source really is resident
    const used = m.peak - m.baseline;
    expect(used, `peak ${(used / MiB).toFixed(0)} MiB over baseline for a ${m.sourceBytes / MiB} MiB source`).toBeLessThan(1.5 * m.sourceBytes + 32 * MiB);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
