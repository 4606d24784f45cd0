/**
 * Measures the rate of ONE task of a copy + pyramid job, to plan a large run (see
 * docs/scale-out.md): a synthetic EM-like uint8 volume on local files is copied to the built-in
 * GCS emulator as sharded zarr3 (zstd + crc32c) and reduced to a 4-level pyramid, through the
 * same job engine as `volstore downsample --levels`. Prints array MB/s per level and for the
 * whole job, and the objects and requests per GB.
 *
 *   npx tsx examples/measure-task-rate.ts [size]      # size: edge of the cube, default 256
 *
 * The emulator runs in this process on loopback, so the rate is the CPU side of a task
 * (decode, downsample, encode, checksums, HTTP) without a real network's latency.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NdArray, open, planJob, publishJobMetadata, runJob } from 'volstore';
import { startEmulator } from 'volstore/testing';

const size = Number(process.argv[2] ?? 256);
const shape = [size, size, size];
const dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-rate-'));
const emu = await startEmulator({ buckets: ['rate'] });
try {
  // EM-like values: smooth structure plus noise, so zstd compresses about as much as on EM (1.3-2x).
  const src = await open({ driver: 'zarr3', kvstore: `file://${dir}/src.zarr/`, create: true, dtype: 'uint8', schema: { domain: { shape }, chunk_layout: { chunk: { shape: [64, 64, 64] } } } });
  const a = NdArray.zeros('uint8', shape);
  const d = a.data as Uint8Array;
  let seed = 12345;
  for (let z = 0, i = 0; z < size; z++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++, i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        d[i] = Math.max(0, Math.min(255, 128 + 60 * Math.sin(x / 9) * Math.cos(y / 13) + 30 * Math.sin(z / 7) + ((seed >>> 24) - 128) / 16));
      }
  await src.write(a);
  const layout = await planJob(src, { kvstore: { driver: 'gcs', bucket: 'rate', path: 'pyr/', endpoint: emu.url } }, {
    driver: 'zarr3',
    factors: [2, 2, 2],
    levels: 4,
    chunkShape: [64, 64, 64],
    shardShape: [128, 128, 128],
    checksum: true,
  });
  await publishJobMetadata(layout);
  const s = await runJob(layout, src);
  const mb = (b: number) => b / 1e6;
  // Rates in bytes of the level's INPUT (what a task reads and reduces): the source for level 0,
  // the previous level for the others.
  for (const l of s.levels) {
    const input = l.arrayBytes * l.factors.reduce((n, f) => n * f, 1);
    console.log(
      `${l.name} [${l.shape}] ${l.factors.every((f) => f === 1) ? 'copy' : 'downsample'}: ${mb(input).toFixed(1)} MB in, ${mb(l.arrayBytes).toFixed(1)} MB out, ${l.seconds.toFixed(2)} s = ${(mb(input) / l.seconds).toFixed(1)} MB/s in; ${l.counters.objectsWritten} objects, ${l.counters.requests} requests`,
    );
  }
  const t = s.totals;
  const busy = s.levels.reduce((n, l) => n + l.seconds, 0);
  const src0 = s.levels[0]!.arrayBytes;
  console.log(`job: the ${mb(src0).toFixed(1)} MB source copied and reduced to ${s.levels.length} levels in ${busy.toFixed(2)} s = ${(mb(src0) / busy).toFixed(1)} MB of source per second per task`);
  console.log(`stored: ${mb(t.bytesWritten).toFixed(1)} MB (${((100 * t.bytesWritten) / t.arrayBytes).toFixed(0)}% of the arrays) in ${t.objectsWritten} objects; ${t.requests} HTTP requests`);
} finally {
  await emu.stop();
  await rm(dir, { recursive: true, force: true });
}
