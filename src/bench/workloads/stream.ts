import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { NdArray } from '../../array/ndarray.js';
import { open } from '../../open.js';
import { mbPerSec } from '../timing.js';
import type { BenchOptions, Measured, Workload, WorkloadResult } from '../types.js';
import { generateVolume } from '../volume-gen.js';
import { slabChecksum } from './stream-checksum.js';
import { BenchVerificationError } from './zarr3-file.js';

/**
 * Issue 12, memory: a [Z, 4Z, 4Z] uint8 zarr v3 volume (2 GiB at the default size 512: [512,
 * 2048, 2048]), zstd(1), 64^3 chunks, on the local file store, read slab by slab (16 planes, 64
 * MiB at the default size, into one reused array: `read({out})`) through a Context with a
 * 256 MiB cache pool, in a child process whose peak RSS (`process.resourceUsage().maxRSS`,
 * process-wide) is the figure. Target: under 640 MiB.
 *
 * Opt-in (`--workload stream`): writing and reading 2 GiB takes about a minute here. Each slab
 * is checked against the checksum of what was written. A 16-plane slab touches a whole layer of
 * 64^3 chunks (1024 at the default size, 256 MiB decoded: the size of the cache), read again by
 * the next three slabs: the cache keeps part of the layer (about 3 hits per miss here), and its
 * bound holds under the churn. The child runs what the parent runs: from the TypeScript
 * sources (`npm run bench`) its codec workers load tsx too, which costs tens of MiB more than
 * the built package.
 */

const CHUNK = 64;
const SLAB = 16;
const CACHE_BYTES = 256 * 1024 * 1024;
const RSS_TARGET = 640 * 1024 * 1024;

/** The stream row's measurement: the read, plus the child's peak RSS. */
export interface StreamMeasured extends Measured {
  /** Peak resident set of the reading process, bytes. */
  maxRssBytes: number;
  /** The same in MiB. */
  maxRssMiB: number;
}

const run$ = promisify(execFile);

async function run(opts: BenchOptions): Promise<WorkloadResult> {
  const Z = Math.max(CHUNK, Math.min(512, Math.floor(opts.size / CHUNK) * CHUNK));
  const Y = 4 * Z;
  const total = Z * Y * Y;
  const log = opts.log;
  const dir = await mkdtemp(path.join(opts.tmpRoot, 'volstore-stream-'));
  const result: WorkloadResult = {
    name: 'stream',
    description: `read a [${Z}, ${Y}, ${Y}] uint8 zarr v3 volume (${(total / 2 ** 30).toFixed(2)} GiB, zstd(1), ${CHUNK}^3 chunks, local files) slab by slab (${SLAB} planes) with a 256 MiB cache pool; peak RSS of the reading process`,
    params: { shape: [Z, Y, Y], chunk: CHUNK, slabPlanes: SLAB, cacheBytes: CACHE_BYTES, rssTargetBytes: RSS_TARGET, seed: opts.seed },
    rows: [],
    notes: [],
    profiles: [],
  };
  try {
    const url = `file://${dir}/stream.zarr/|zarr3:`;
    const writer = await open({
      driver: 'zarr3', kvstore: `file://${dir}/stream.zarr/`, create: true, dtype: 'uint8',
      metadata: {
        shape: [Z, Y, Y], chunk_grid: { name: 'regular', configuration: { chunk_shape: [CHUNK, CHUNK, CHUNK] } },
        codecs: [{ name: 'bytes' }, { name: 'zstd', configuration: { level: 1, checksum: false } }],
      },
    } as never);
    const sums: number[] = [];
    const t0 = performance.now();
    for (let z = 0; z < Z; z += CHUNK) {
      const layer = generateVolume([CHUNK, Y, Y], opts.seed + z);
      await writer.slice([[z, z + CHUNK], null, null]).write(new NdArray('uint8', layer, [CHUNK, Y, Y]));
      for (let s = 0; s < CHUNK; s += SLAB) sums.push(slabChecksum(layer.subarray(s * Y * Y, (s + SLAB) * Y * Y)));
    }
    log(`wrote ${(total / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - t0) / 1e3).toFixed(1)} s to ${dir}`);

    const fromTs = import.meta.url.endsWith('.ts');
    const child = fileURLToPath(new URL(`./stream-child.${fromTs ? 'ts' : 'js'}`, import.meta.url));
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const args = [...(fromTs ? ['--import', 'tsx'] : []), child, url, String(SLAB), String(CACHE_BYTES)];
    const { stdout } = await run$(process.execPath, args, { cwd: root, maxBuffer: 16 << 20 });
    const r = JSON.parse(stdout) as { ms: number; bytes: number; sums: number[]; rssBefore: number; maxRssBytes: number; stats: { requests: number; hits: number; misses: number; evictions: number; cache: { bytesUsed: number } } };
    if (r.sums.length !== sums.length || r.sums.some((s, i) => s !== sums[i])) {
      const i = r.sums.findIndex((s, j) => s !== sums[j]);
      throw new BenchVerificationError(`stream: slab ${i} read back differs from what was written (checksum ${r.sums[i]} vs ${sums[i]})`);
    }
    const mib = r.maxRssBytes / 2 ** 20;
    const volstore: StreamMeasured = {
      medianMs: Math.round(r.ms),
      samplesMs: [Math.round(r.ms)],
      bytes: r.bytes,
      mbPerSec: mbPerSec(r.bytes, r.ms),
      maxRssBytes: r.maxRssBytes,
      maxRssMiB: Math.round(mib),
    };
    result.rows.push({
      layout: `zstd(1), ${CHUNK}^3 chunks, file`,
      op: `stream ${(total / 2 ** 30).toFixed(2)} GiB, ${SLAB}-plane slabs, 256 MiB cache`,
      decodedBytes: r.bytes,
      fileBytes: 0,
      volstore,
      target: { text: `peak RSS < 640 MiB (${mib.toFixed(0)} MiB)`, met: r.maxRssBytes < RSS_TARGET },
      verified: `every slab's checksum = what was written (${sums.length} slabs)`,
    });
    result.notes.push(
      `Peak RSS ${mib.toFixed(0)} MiB (process.resourceUsage().maxRSS of the reading child; ${(r.rssBefore / 2 ** 20).toFixed(0)} MiB after opening), ` +
        `${(r.ms / 1e3).toFixed(1)} s, cache hits ${r.stats.hits}, misses ${r.stats.misses}, evictions ${r.stats.evictions}, ` +
        `${(r.stats.cache.bytesUsed / 2 ** 20).toFixed(0)} MiB cached at the end; ${r.stats.requests} file operations.`,
    );
    log(`read in ${(r.ms / 1e3).toFixed(1)} s; peak RSS ${mib.toFixed(0)} MiB (target < 640)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return result;
}

export const streamWorkload: Workload = {
  name: 'stream',
  description: 'read a 2 GiB volume slab by slab with a 256 MiB cache in a child process: peak RSS (target < 640 MiB); opt-in',
  run,
};
