/**
 * Child process of write-memory.test.ts: writes an in-memory array of `mib` MiB into a new
 * sharded zarr v3 array on the file store and prints its memory use as JSON. A separate
 * process, so its peak RSS (getrusage maxrss) measures this write alone.
 */
import { NdArray, open } from '../../src/index.js';

const [dir, mibArg, shardPlanesArg] = process.argv.slice(2);
const mib = Number(mibArg);
const shardPlanes = Number(shardPlanesArg ?? 16);
const rss = () => process.memoryUsage().rss;

const spec = (name: string, planes: number) => ({
  driver: 'zarr3',
  kvstore: `file://${dir}/${name}/`,
  create: true,
  dtype: 'uint8',
  schema: {
    domain: { shape: [planes, 1024, 1024] },
    chunk_layout: { write_chunk: { shape: [shardPlanes, 1024, 1024] }, read_chunk: { shape: [shardPlanes, 128, 128] } },
  },
});

// Warm up (modules, wasm, codecs) with a small write, so the baseline holds them.
const warm = await open(spec('warm', shardPlanes));
await warm.write(NdArray.zeros('uint8', [shardPlanes, 1024, 1024], 1));
if (global.gc) global.gc();
const baseline = rss();

const source = NdArray.zeros('uint8', [mib, 1024, 1024]);
const d = source.data as Uint8Array;
for (let i = 0; i < d.length; i += 4096) d.fill((i >>> 12) & 255 || 1, i, i + 4096); // touched, not fill
const withSource = rss();
const vol = await open(spec('big', mib));
await vol.write(source);
const peak = process.resourceUsage().maxRSS * 1024;
process.stdout.write(JSON.stringify({ baseline, withSource, peak, sourceBytes: d.byteLength }));
