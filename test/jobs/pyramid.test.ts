/**
 * Pyramids as the three formats store them, read back by another implementation where one is
 * installed: zarr3 levels and the OME-Zarr 0.5 group by zarrita, with values equal to an
 * independent mean / mode computed here; N5 scale groups with `downsamplingFactors`;
 * precomputed scales in one info, also added to an existing volume. Plus resume, checksum
 * retries, hashed sharding, waiting and metadata conflicts at the library level.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import FileSystemStore from '@zarrita/storage/fs';
import * as zarr from 'zarrita';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptionError, KvStoreError, MetadataError, NdArray, open, SpecError, type Volume } from '../../src/index.js';
import { type JobPlanOptions, planJob, publishJobMetadata, runJob } from '../../src/jobs/job.js';
import type { KvStore, ReadOptions, ReadResult } from '../../src/kvstore/kvstore.js';
import { sourceData } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-pyramid-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SHAPE = [40, 36, 28];

async function source(name: string, dtype: 'uint8' | 'uint32' = 'uint8'): Promise<Volume> {
  const v = await open({ driver: 'zarr3', kvstore: `file://${dir}/src-${name}/`, create: true, delete_existing: true, dtype, schema: { domain: { shape: SHAPE }, chunk_layout: { chunk: { shape: [8, 8, 8] } } } });
  const data = sourceData(SHAPE, 1);
  if (dtype === 'uint8') await v.write(data);
  else {
    // Labels: few distinct ids in blocks, so modes are meaningful (and ties occur at edges).
    const lab = NdArray.zeros('uint32', SHAPE);
    (lab.data as Uint32Array).forEach((_, i, d) => (d[i] = 1000 + ((data.data as Uint8Array)[i]! % 3)));
    await v.write(lab);
  }
  return v;
}

/** Independent reference: 2x2x2 mean (round half to even) or mode (smallest of ties), edges partial. */
function reference(a: NdArray, method: 'mean' | 'mode'): number[] {
  const [Z, Y, X] = a.shape as [number, number, number];
  const out: number[] = [];
  const d = a.data as ArrayLike<number>;
  for (let z = 0; z < Z; z += 2)
    for (let y = 0; y < Y; y += 2)
      for (let x = 0; x < X; x += 2) {
        const vals: number[] = [];
        for (let dz = 0; dz < 2 && z + dz < Z; dz++)
          for (let dy = 0; dy < 2 && y + dy < Y; dy++)
            for (let dx = 0; dx < 2 && x + dx < X; dx++) vals.push(Number(d[((z + dz) * Y + y + dy) * X + x + dx]));
        if (method === 'mean') {
          const q = vals.reduce((s, v) => s + v, 0) / vals.length;
          const f = Math.floor(q);
          const r = q - f;
          out.push(r > 0.5 || (r === 0.5 && f % 2 === 1) ? f + 1 : f);
        } else {
          const counts = new Map<number, number>();
          for (const v of vals) counts.set(v, (counts.get(v) ?? 0) + 1);
          let best = Infinity;
          let n = 0;
          for (const [v, c] of counts) if (c > n || (c === n && v < best)) [best, n] = [v, c];
          out.push(best);
        }
      }
  return out;
}

async function zarritaFlat(root: string, level: string): Promise<number[]> {
  const arr = await zarr.open(new FileSystemStore(path.join(root, level)), { kind: "array" });
  const r = (await zarr.get(arr)) as { data: ArrayLike<number> };
  return Array.from(r.data, Number);
}

async function job(src: Volume, dst: string, o: JobPlanOptions, run: Parameters<typeof runJob>[2] = {}) {
  const layout = await planJob(src, dst, o);
  await publishJobMetadata(layout);
  return { layout, summary: await runJob(layout, src, run) };
}

describe('zarr3 pyramid (OME-Zarr 0.5)', () => {
  it('zarrita reads every level and the group; values equal an independent mean, level by level', async () => {
    const src = await source('img');
    const root = path.join(dir, 'img-pyr');
    const { summary } = await job(src, `file://${root}/`, {
      driver: 'zarr3', factors: [2, 2, 2], levels: 3, chunkShape: [8, 8, 8], shardShape: [16, 16, 16], checksum: true,
      geometry: { resolution: [40, 8, 8], offset: [0, 0, 0], axes: ['z', 'y', 'x'] },
    });
    expect(summary.levels.map((l) => l.shape)).toEqual([SHAPE, [20, 18, 14], [10, 9, 7]]);
    const group = await zarr.open(new FileSystemStore(root), { kind: 'group' });
    const ome = (group.attrs as { ome: { version: string; multiscales: { axes: unknown[]; datasets: { path: string; coordinateTransformations: { scale: number[] }[] }[]; type: string }[] } }).ome;
    expect(ome.version).toBe('0.5');
    const ms = ome.multiscales[0]!;
    expect(ms.axes).toEqual([{ name: 'z', type: 'space', unit: 'nanometer' }, { name: 'y', type: 'space', unit: 'nanometer' }, { name: 'x', type: 'space', unit: 'nanometer' }]);
    expect(ms.datasets.map((d) => [d.path, d.coordinateTransformations[0]!.scale])).toEqual([['s0', [40, 8, 8]], ['s1', [80, 16, 16]], ['s2', [160, 32, 32]]]);
    expect(ms.type).toBe('mean');
    const s0 = await src.read();
    expect(await zarritaFlat(root, 's0')).toEqual(Array.from(s0.data as Uint8Array));
    const s1 = reference(s0, 'mean');
    expect(await zarritaFlat(root, 's1')).toEqual(s1);
    const s1Array = new NdArray('uint8', Uint8Array.from(s1), [20, 18, 14]);
    expect(await zarritaFlat(root, 's2')).toEqual(reference(s1Array, 'mean'));
    // volstore reads the geometry back from the group it wrote.
    const { voxelGeometry } = await import('../../src/index.js');
    expect((await voxelGeometry(await open(`file://${root}/s2/`)))?.resolution).toEqual([160, 32, 32]);
  });

  it('labels vote (mode), ties to the smallest id', async () => {
    const src = await source('lab', 'uint32');
    const root = path.join(dir, 'lab-pyr');
    const { layout } = await job(src, `file://${root}/`, { driver: 'zarr3', factors: [2, 2, 2], levels: 2, chunkShape: [8, 8, 8] });
    expect(layout.method).toBe('mode');
    expect(await zarritaFlat(root, 's1')).toEqual(reference(await src.read(), 'mode'));
  });
});

describe('N5 and precomputed pyramids', () => {
  it('N5: s0.. with cumulative downsamplingFactors and pixelResolution; the root lists the scales', async () => {
    const src = await source('n5src');
    const root = path.join(dir, 'pyr.n5');
    await job(src, `file://${root}/`, { driver: 'n5', factors: [2, 2, 1], levels: 3, chunkShape: [8, 8, 8], geometry: { resolution: [4, 4, 40] } });
    const rootAttrs = JSON.parse(await readFile(path.join(root, 'attributes.json'), 'utf8'));
    expect(rootAttrs).toMatchObject({ n5: '4.0.0', multiScale: true, scales: [[1, 1, 1], [2, 2, 1], [4, 4, 1]], resolution: [4, 4, 40] });
    const s2 = JSON.parse(await readFile(path.join(root, 's2', 'attributes.json'), 'utf8'));
    expect(s2).toMatchObject({ dimensions: [10, 9, 28], downsamplingFactors: [4, 4, 1], pixelResolution: { dimensions: [16, 16, 40], unit: 'nm' } });
    const back = await open(`file://${root}/s1/`);
    expect(back.shape).toEqual([20, 18, 28]);
  });

  it('precomputed: one info with every scale; a pyramid added to an existing volume keeps its scale 0 and other members', async () => {
    const src = await source('pcsrc');
    const xyz = src.transpose([2, 1, 0]);
    const root = path.join(dir, 'pc');
    const { summary } = await job(xyz, `file://${root}/`, { driver: 'neuroglancer_precomputed', factors: [2, 2, 1], levels: 3, chunkShape: [8, 8, 8], geometry: { resolution: [8, 8, 40], offset: [0, 0, 0] } });
    const info = JSON.parse(await readFile(path.join(root, 'info'), 'utf8'));
    expect(info.scales.map((s: { key: string; size: number[] }) => [s.key, s.size])).toEqual([['8_8_40', [28, 36, 40]], ['16_16_40', [14, 18, 40]], ['32_32_40', [7, 9, 40]]]);
    expect(summary.levels.map((l) => l.name)).toEqual(['8_8_40', '16_16_40', '32_32_40']);
    // Add two levels to a volume that has only scale 0 (and a mesh): the source is level 0.
    const solo = path.join(dir, 'pc-solo');
    const only = await job(xyz, `file://${solo}/`, { driver: 'neuroglancer_precomputed', chunkShape: [8, 8, 8], geometry: { resolution: [8, 8, 40] } });
    expect(only.layout.kind).toBe('copy');
    const soloInfo = JSON.parse(await readFile(path.join(solo, 'info'), 'utf8'));
    await writeFile(path.join(solo, 'info'), JSON.stringify({ ...soloInfo, mesh: 'mesh' }));
    const s0 = await open(`file://${solo}/`);
    const added = await job(s0, `file://${solo}/`, { driver: 'neuroglancer_precomputed', factors: [2, 2, 1, 1], levels: 3, chunkShape: [8, 8, 8], reuseSourceLevel: true, geometry: { resolution: [8, 8, 40, undefined] } });
    expect(added.summary.levels.map((l) => l.status)).toEqual(['existing', 'written', 'written']);
    const merged = JSON.parse(await readFile(path.join(solo, 'info'), 'utf8'));
    expect(merged.mesh).toBe('mesh');
    expect(merged.scales.map((s: { key: string }) => s.key)).toEqual(['8_8_40', '16_16_40', '32_32_40']);
    for (const k of [1, 2]) {
      const a = await (await open({ driver: 'neuroglancer_precomputed', kvstore: `file://${root}/`, scale_index: k })).read();
      const b = await (await open({ driver: 'neuroglancer_precomputed', kvstore: `file://${solo}/`, scale_index: k })).read();
      expect(Array.from(b.data as Uint8Array)).toEqual(Array.from(a.data as Uint8Array));
    }
  });

  it('hashed precomputed sharding cannot be split into tasks (shards are not boxes)', async () => {
    const src = (await source('hash')).transpose([2, 1, 0]);
    const layout = await planJob(src, `file://${dir}/hashed/`, { driver: 'neuroglancer_precomputed', sharding: 'auto', chunkShape: [8, 8, 8] });
    await publishJobMetadata(layout);
    await expect(runJob(layout, src, { task: { index: 0, count: 2 } })).rejects.toThrow(/hashed precomputed sharding.*--shard-shape/);
    await expect(runJob(layout, src)).resolves.toMatchObject({ levels: [{ status: 'written' }] });
  });

  it('zarr v2 cannot hold a pyramid; factors of the wrong rank are refused', async () => {
    const src = await source('v2');
    await expect(planJob(src, `file://${dir}/v2p/`, { driver: 'zarr', factors: [2, 2, 2], levels: 2 })).rejects.toThrow(SpecError);
    await expect(planJob(src, `file://${dir}/v2p/`, { driver: 'zarr3', factors: [2, 2, 2, 2], levels: 2 })).rejects.toThrow(/factors/);
  });
});

/** A store that flips one bit in the first `times` ranged reads of `match`ing keys (a corrupted transfer). */
function flipper(times: number, match: RegExp): { wrap: (s: KvStore) => KvStore; flipped: () => number } {
  let left = times;
  let flipped = 0;
  const wrap = (inner: KvStore): KvStore => {
    const w = Object.create(inner) as KvStore;
    w.read = async (key: string, o?: ReadOptions): Promise<ReadResult> => {
      const r = await inner.read(key, o);
      if (r.state === 'value' && o?.byteRange && !('suffix' in o.byteRange) && match.test(key) && left > 0 && r.value.length > 8) {
        left--;
        flipped++;
        const v = r.value.slice();
        v[v.length >> 1]! ^= 0x10;
        return { ...r, value: v };
      }
      return r;
    };
    return w;
  };
  return { wrap, flipped: () => flipped };
}

describe('faults, resume, waiting and conflicts', () => {
  const opts: JobPlanOptions = { driver: 'zarr3', factors: [2, 2, 2], levels: 3, chunkShape: [8, 8, 8], shardShape: [16, 16, 16], checksum: true };

  it('a chunk whose crc32c fails is read again; the output equals a clean run', async () => {
    const src = await source('flip');
    await job(src, `file://${dir}/flip-ref/`, opts);
    const f = flipper(3, /^c\//);
    const { summary } = await job(src, `file://${dir}/flip/`, opts, { wrapKvStore: f.wrap, concurrency: 1 });
    expect(f.flipped()).toBe(3);
    // Each flip failed a chunk's crc32c; its task read again (several flips may hit one attempt).
    expect(summary.totals.tasksRetried).toBeGreaterThanOrEqual(1);
    expect(summary.totals.tasksRetried).toBeLessThanOrEqual(3);
    for (const lv of ['s1', 's2']) expect(await zarritaFlat(path.join(dir, 'flip'), lv)).toEqual(await zarritaFlat(path.join(dir, 'flip-ref'), lv));
  });

  it('corruption that persists fails the task naming the shard, after a bounded number of attempts; nothing wrong is written', async () => {
    const src = await source('flip2');
    const layout = await planJob(src, `file://${dir}/flip2/`, opts);
    await publishJobMetadata(layout);
    const f = flipper(Infinity, /^c\//);
    const err = await runJob(layout, src, { wrapKvStore: f.wrap, concurrency: 1, corruptionAttempts: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as Error).message).toMatch(/corrupt data at "c\/\d\/\d\/\d \(inner chunk [\d,]+\)": .*crc32c.*level 1 "s1": reading file:\/\/.*\/flip2\/s0\//);
    // Level 0 was complete; level 1 wrote nothing (its first task failed, no other started).
    await expect(readFile(path.join(dir, 'flip2', 's1', 'c', '0', '0', '0'))).rejects.toThrow(/ENOENT/);
  });

  it('--resume: a finished share is skipped by its manifest; a missing or corrupt shard is rewritten, the rest verified', async () => {
    const src = await source('resume');
    const root = path.join(dir, 'resume');
    const { layout } = await job(src, `file://${root}/`, opts);
    const before = await zarritaFlat(root, 's1');
    const again = await runJob(layout, src, { resume: true });
    expect(again.levels.map((l) => l.status)).toEqual(['resumed', 'resumed', 'resumed']);
    expect(again.totals.objectsWritten).toBe(0);
    // Lose level 1's manifest, one shard, and corrupt another (as a disk or a bad copy might).
    await rm(path.join(root, '.volstore-job', layout.digest, 'level-1'), { recursive: true });
    await rm(path.join(root, 's1', 'c', '0', '0', '0'));
    const victim = path.join(root, 's1', 'c', '1', '1', '0');
    const bytes = await readFile(victim);
    bytes[10]! ^= 0xff;
    await writeFile(victim, bytes);
    const third = await runJob(layout, src, { resume: true });
    expect(third.levels.map((l) => l.status)).toEqual(['resumed', 'written', 'resumed']);
    expect(third.levels[1]!.shards).toEqual({ written: 2, skipped: third.levels[1]!.share.total - 2 });
    expect(await zarritaFlat(root, 's1')).toEqual(before);
  });

  it('a level waits for the tasks it reads from, then gives up naming the missing manifest', async () => {
    const src = await source('wait');
    const layout = await planJob(src, `file://${dir}/wait/`, opts);
    await publishJobMetadata(layout);
    const t0 = Date.now();
    const err = await runJob(layout, src, { task: { index: 0, count: 2 }, waitTimeoutMs: 300, pollMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvStoreError);
    expect((err as Error).message).toMatch(/level-0\/task-1-of-2\.json.*rerun it, or raise --wait-timeout/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    // Task 1 runs: both finish (task 0 resumes its level 0 from its manifest).
    const [a, b] = await Promise.all([runJob(layout, src, { task: { index: 0, count: 2 }, resume: true, pollMs: 50 }), runJob(layout, src, { task: { index: 1, count: 2 }, pollMs: 50 })]);
    expect(a.levels[0]!.status).toBe('resumed');
    expect(b.levels.every((l) => l.status === 'written')).toBe(true);
  });

  it('a task planned with other options fails on the existing metadata, naming the field; nothing is overwritten', async () => {
    const src = await source('conflict');
    await job(src, `file://${dir}/conflict/`, opts);
    const other = await planJob(src, `file://${dir}/conflict/`, { ...opts, chunkShape: [4, 8, 8], shardShape: [16, 16, 16] });
    const err = await publishJobMetadata(other).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetadataError);
    expect((err as Error).message).toMatch(/s0\/zarr\.json.*differs from what this job writes: codecs\[0\]\.configuration\.chunk_shape\[0\]: found 8, this job writes 4/);
  });
});
