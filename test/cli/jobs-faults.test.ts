/**
 * Jobs under faults: with 20% 503s, 5% resets, 2% truncated bodies, bursts of 429s, stalled
 * connections and flipped bytes on the emulator, a copy and a 3-level pyramid split into three
 * tasks complete with output byte-identical to a fault-free run; the counters show the faults
 * and the retries that answered them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/testing/index.js';
import { makeSource, snapshot } from '../jobs/helpers.js';
import { cli } from './helpers.js';

const BUCKET = 'jobs-faults';
const FAULTS = '503:0.2,reset:0.05,truncate:0.02,stall:0.02,flip:0.05';
/** Every few hundred milliseconds, a burst where most requests get 429. */
const BURST = `${FAULTS},429:0.6`;

let emu: Emulator;
/** Fast retries and a short stall timeout, so a fault-heavy run takes seconds. */
const CONTEXT = {
  gcs_request_retries: { max_retries: 80, initial_delay: '5ms', max_delay: '40ms', total_timeout: '120s' },
  gcs_request_timeout: { first_byte: '1s', idle: '1s' },
};
const spec = (p: string, extra: Record<string, unknown> = {}) => JSON.stringify({ ...extra, kvstore: { driver: 'gcs', bucket: BUCKET, path: `${p}/`, endpoint: emu.url }, context: CONTEXT });

beforeAll(async () => {
  emu = await startEmulator({ buckets: [BUCKET], seed: 5 });
  await makeSource({ kvstore: { driver: 'gcs', bucket: BUCKET, path: 'src/', endpoint: emu.url } }, [128, 128, 128], [32, 32, 32], 3);
});
afterAll(async () => {
  await emu?.stop();
});

/** Runs `args` as tasks 0..n-1 in this process at once, under faults with 429 bursts. */
async function underFaults(n: number, args: string[]) {
  emu.resetCounters();
  let burst = false;
  emu.setFaults(FAULTS);
  const timer = setInterval(() => {
    burst = !burst;
    emu.setFaults(burst ? BURST : FAULTS);
  }, 150);
  try {
    return await Promise.all(Array.from({ length: n }, (_, i) => cli([...args, '--task-index', String(i), '--task-count', String(n), '--json'])));
  } finally {
    clearInterval(timer);
    emu.setFaults(undefined);
  }
}

interface Summary {
  requests: number;
  retries: number;
  tasksRetried: number;
}

describe('jobs under faults', () => {
  const layout = ['--chunk-shape', '32,32,32', '--shard-shape', '64,64,64', '--checksum'];
  const source = () => spec('src', { driver: 'zarr3' });

  it('a copy completes with identical bytes; the counters show the retries', async () => {
    expect((await cli(['copy', source(), spec('copy-ref'), ...layout, '-q'])).code).toBe(0);
    const results = await underFaults(3, ['copy', source(), spec('copy-faults'), ...layout]);
    for (const r of results) expect(r.code, r.err).toBe(0);
    const c = emu.counters();
    const sums = results.map((r) => JSON.parse(r.out) as Summary);
    console.log('copy under faults:', JSON.stringify(c.faults), 'requests', c.requests.total, 'retries', sums.map((s) => s.retries));
    expect(c.faults['503']).toBeGreaterThan(0);
    expect(c.faults.reset).toBeGreaterThan(0);
    expect(sums.reduce((n, s) => n + s.retries, 0)).toBeGreaterThanOrEqual(Object.values(c.faults).reduce((n, x) => n + x, 0) - (c.faults.flip ?? 0));
    expect(await snapshot(emu, BUCKET, 'copy-faults/')).toEqual(await snapshot(emu, BUCKET, 'copy-ref/'));
  });

  it('a 3-level pyramid completes with identical bytes; the counters show the retries', async () => {
    const args = (p: string) => ['downsample', source(), spec(p), '-f', '2,2,2', '--levels', '3', ...layout, '--wait-poll', '0.05'];
    const ref = await cli([...args('ref/pyr'), '-q']);
    expect(ref.code, ref.err).toBe(0);
    const results = await underFaults(3, args('faults/pyr'));
    for (const r of results) expect(r.code, r.err).toBe(0);
    const c = emu.counters();
    const sums = results.map((r) => JSON.parse(r.out) as Summary);
    console.log('pyramid under faults:', JSON.stringify(c.faults), 'requests', c.requests.total, 'retries', sums.map((s) => s.retries), 'tasks retried', sums.map((s) => s.tasksRetried));
    for (const f of ['503', 'reset', '429']) expect(c.faults[f], f).toBeGreaterThan(0);
    expect((c.faults.truncate ?? 0) + (c.faults.stall ?? 0) + (c.faults.flip ?? 0)).toBeGreaterThan(0);
    expect(sums.reduce((n, s) => n + s.retries, 0)).toBeGreaterThan(0);
    // (The OME group is named after the last path segment: both end in "pyr".)
    expect(await snapshot(emu, BUCKET, 'faults/pyr/')).toEqual(await snapshot(emu, BUCKET, 'ref/pyr/'));
  });
});
