/**
 * Run by exit.test.ts as its own Node process: reads and writes an array whose chunks go
 * through the codec worker pool, then returns without closing anything. The process must exit
 * by itself (idle workers do not keep it alive); it prints what the pool did.
 */
import { Context, NdArray, open } from '../../src/index.js';

const context = new Context({ data_copy_concurrency: { limit: 2 } });
await context.codecPool.warm(); // else the first chunks run inline while the workers start
const vol = await open(
  {
    driver: 'zarr3',
    kvstore: 'memory://exit-script/',
    create: true,
    metadata: {
      shape: [256, 256, 8],
      data_type: 'uint8',
      chunk_grid: { name: 'regular', configuration: { chunk_shape: [256, 256, 4] } },
      codecs: [{ name: 'bytes' }, { name: 'zstd' }],
    },
  },
  { context },
);
const a = new Uint8Array(256 * 256 * 8).map((_, i) => (i * 31) % 251);
await vol.write(new NdArray('uint8', a, [256, 256, 8]));
const back = await vol.read();
const same = Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength).equals(Buffer.from(a));
const { completed, spawned } = context.codecPool.stats;
process.stdout.write(`${JSON.stringify({ same, completed, spawned, workers: context.codecPool.workers })}\n`);
