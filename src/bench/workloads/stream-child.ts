/**
 * Child process of the `stream` bench workload (./stream.ts): reads an array slab by slab into
 * one reused output array through a Context with a cache pool, checksums every slab, and prints
 * JSON with its peak RSS (`process.resourceUsage().maxRSS`, process-wide: hence a process of
 * its own). Arguments: the array URL, the slab thickness (planes), the cache bytes.
 */
import { NdArray } from '../../array/ndarray.js';
import { Context } from '../../context/context.js';
import { open } from '../../open.js';
import { slabChecksum } from './stream-checksum.js';

const [url, slabArg, cacheArg] = process.argv.slice(2);
const slab = Number(slabArg);
const context = new Context({ cache_pool: { total_bytes_limit: Number(cacheArg) } });
const vol = await open(url!, { context });
const [Z, Y, X] = vol.shape as [number, number, number];
const rssBefore = process.memoryUsage().rss;
const out = NdArray.zeros('uint8', [slab, Y, X]);
const sums: number[] = [];
const t0 = performance.now();
for (let z = 0; z < Z; z += slab) {
  const n = Math.min(slab, Z - z);
  const target = n === slab ? out : new NdArray('uint8', out.data.subarray(0, n * Y * X), [n, Y, X]);
  await vol.slice([[z, z + n], null, null]).read({ out: target });
  sums.push(slabChecksum(target.data as Uint8Array));
}
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({
  ms,
  bytes: Z * Y * X,
  sums,
  rssBefore,
  maxRssBytes: process.resourceUsage().maxRSS * 1024,
  stats: context.stats(),
}));
