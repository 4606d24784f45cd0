/**
 * The library jobs under the CLI: tasks are destination shards, progress is reported per task,
 * `signal` stops a job, `tasks` runs a share of one.
 */
import { describe, expect, it } from 'vitest';
import { AbortError, copyVolume, type CopyProgress, destinationSpec, downsampledShape, downsampleVolume, NdArray, open, planCopy, SpecError, storageLocation, locationOverlap } from '../../src/index.js';

async function source(name: string): Promise<Awaited<ReturnType<typeof open>>> {
  const v = await open({ driver: 'zarr3', kvstore: `memory://jobs-${name}/src/`, create: true, delete_existing: true, dtype: 'uint16', schema: { domain: { shape: [20, 12, 10] }, chunk_layout: { chunk: { shape: [5, 6, 10] } } } });
  const a = NdArray.zeros('uint16', [20, 12, 10]);
  (a.data as Uint16Array).forEach((_, i, d) => (d[i] = i));
  await v.write(a);
  return v;
}

async function shardedDestination(name: string, like: Awaited<ReturnType<typeof open>>) {
  return open(await destinationSpec(`memory://jobs-${name}/dst/`, like, { chunkShape: [5, 6, 5], shardShape: [10, 12, 10] }));
}

describe('copyVolume / planCopy', () => {
  it('plans one task per destination shard, clipped, and reports progress per task', async () => {
    const src = await source('plan');
    const dst = await shardedDestination('plan', src);
    const tasks = planCopy(dst);
    expect(tasks.map((t) => t.region)).toEqual([
      [[0, 10], [0, 12], [0, 10]],
      [[10, 20], [0, 12], [0, 10]],
    ]);
    const events: CopyProgress[] = [];
    const final = await copyVolume(src, dst, { onProgress: (p) => events.push(p) });
    expect(events[0]).toEqual({ chunksDone: 0, chunksTotal: 2, bytesDone: 0, bytesTotal: 4800, chunksSkipped: 0, tasksRetried: 0 });
    expect(events.at(-1)).toEqual({ chunksDone: 2, chunksTotal: 2, bytesDone: 4800, bytesTotal: 4800, chunksSkipped: 0, tasksRetried: 0 });
    expect(final).toEqual(events.at(-1));
    expect((await dst.read()).toFlat()).toEqual((await src.read()).toFlat());
  });

  it('runs only the given tasks (one worker\'s share): other shards stay unwritten', async () => {
    const src = await source('share');
    const dst = await shardedDestination('share', src);
    const [first, second] = planCopy(dst);
    await copyVolume(src, dst, { tasks: [second!] });
    const got = await dst.read();
    expect(got.get([0, 0, 0])).toBe(0); // fill: not copied
    expect(got.get([15, 3, 4])).toBe((await src.read()).get([15, 3, 4]));
    await copyVolume(src, dst, { tasks: [first!] });
    expect((await dst.read()).toFlat()).toEqual((await src.read()).toFlat());
  });

  it('stops on signal with AbortError and starts no further task', async () => {
    const src = await source('abort');
    const dst = await open(await destinationSpec('memory://jobs-abort/dst/', src, { chunkShape: [1, 12, 10] }));
    const ac = new AbortController();
    let done = 0;
    const err = await copyVolume(src, dst, {
      concurrency: 1,
      signal: ac.signal,
      onProgress: (p) => {
        done = p.chunksDone;
        if (p.chunksDone === 3) ac.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(done).toBe(3);
    expect(planCopy(dst)).toHaveLength(20);
    const already = new AbortController();
    already.abort();
    await expect(copyVolume(src, dst, { signal: already.signal })).rejects.toThrow(AbortError);
  });

  it('refuses different shapes and dtypes', async () => {
    const src = await source('shapes');
    const small = await open({ driver: 'zarr3', kvstore: 'memory://jobs-shapes/small/', create: true, delete_existing: true, dtype: 'uint16', schema: { domain: { shape: [2, 2, 2] } } });
    await expect(copyVolume(src, small)).rejects.toThrow(SpecError);
    await expect(copyVolume(src.slice([[0, 2], [0, 2], [0, 2]]), small)).resolves.toMatchObject({ chunksDone: 1 });
  });
});

describe('downsampleVolume', () => {
  it('writes the downsampled shape with progress, mean of 2x2x2 windows', async () => {
    const src = await source('ds');
    const shape = downsampledShape(src.shape, [2, 2, 2]);
    expect(shape).toEqual([10, 6, 5]);
    const dst = await open({ driver: 'zarr3', kvstore: 'memory://jobs-ds/dst/', create: true, delete_existing: true, dtype: 'uint16', schema: { domain: { shape }, chunk_layout: { chunk: { shape: [5, 6, 5] } } } });
    const events: CopyProgress[] = [];
    await downsampleVolume(src, dst, { factors: [2, 2, 2], onProgress: (p) => events.push(p) });
    expect(events.at(-1)).toMatchObject({ chunksDone: 2, chunksTotal: 2 });
    const got = await dst.read();
    // Window [0..2)^3 of i = 120z + 10y + x: (0+1+10+11+120+121+130+131) / 8 = 65.5 -> 66 (half to even).
    expect(got.get([0, 0, 0])).toBe(66);
    // Window at z 2..4, y 2..4, x 2..4: 262+263+272+273+382+383+392+393 = 2620 / 8 = 327.5 -> 328.
    expect(got.get([1, 1, 1])).toBe(328);
    await expect(downsampleVolume(src, dst, { factors: [3, 2, 2] })).rejects.toThrow(/not the downsampled shape/);
    await expect(downsampleVolume(src, dst, { factors: [0, 2, 2] })).rejects.toThrow(SpecError);
  });
});

describe('storage locations', () => {
  it('normalise spellings and tell same, nested and disjoint apart', () => {
    const a = storageLocation('gs://b/em/s0/');
    expect(a).toEqual({ store: 'gs://b', segments: ['em', 's0'] });
    expect(locationOverlap(a, storageLocation({ driver: 'zarr3', kvstore: { driver: 'gcs', bucket: 'b', path: 'em' }, path: 's0' }))).toBe('same');
    expect(locationOverlap(a, storageLocation('gs://b/em/'))).toBe('a-inside-b');
    expect(locationOverlap(storageLocation('gs://b/em/'), a)).toBe('b-inside-a');
    expect(locationOverlap(a, storageLocation('gs://other/em/s0/'))).toBeUndefined();
    expect(locationOverlap(storageLocation('gs://b/em/s0/'), storageLocation('gs://b/em/s01/'))).toBeUndefined();
    expect(locationOverlap(storageLocation('https://h/x/em/'), storageLocation({ kvstore: { driver: 'http', base_url: 'https://h/x/', path: 'em' } }))).toBe('same');
    expect(locationOverlap(storageLocation('file:///a/./b/../em'), storageLocation('file:///a/em/'))).toBe('same');
    expect(locationOverlap(storageLocation('az://ctr/em/s0/'), storageLocation({ kvstore: { driver: 'azure', container: 'ctr', path: 'em' } }))).toBe('a-inside-b');
    expect(locationOverlap(storageLocation('az://ctr/em/'), storageLocation('az://other/em/'))).toBeUndefined();
  });
});
