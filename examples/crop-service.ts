/**
 * The training-crop service pattern: open a large volume once, then cut many random crops,
 * each into a reused buffer (`read({out})`), with a shared decoded-chunk cache.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Context, NdArray, open } from 'volstore';

const dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-example-'));
try {
  // A 256^3 uint8 volume in 128^3 shards of 32^3 chunks, zstd-compressed.
  const shape = [256, 256, 256];
  const vol = await open({
    driver: 'zarr3',
    kvstore: { driver: 'file', path: `${dir}/em.zarr/` },
    create: true,
    dtype: 'uint8',
    schema: {
      domain: { shape, labels: ['z', 'y', 'x'] },
      chunk_layout: { write_chunk: { shape: [128, 128, 128] }, read_chunk: { shape: [32, 32, 32] } },
      codec: { driver: 'zarr3', codecs: [{ name: 'bytes' }, { name: 'zstd', configuration: { level: 3 } }] },
    },
  });
  const data = NdArray.zeros('uint8', shape);
  (data.data as Uint8Array).forEach((_, i, a) => (a[i] = (i >> 9) ^ (i & 0xff)));
  await vol.write(data);

  // The service: one context (1 GiB decoded-chunk cache) shared by every open.
  const context = new Context({ cache_pool: { total_bytes_limit: 1 << 30 } });
  const em = await open(`file://${dir}/em.zarr/`, { context });
  const crop = NdArray.zeros('uint8', [64, 64, 64]);
  const t0 = performance.now();
  for (let i = 0; i < 50; i++) {
    const [z, y, x] = [0, 0, 0].map(() => Math.floor(Math.random() * (256 - 64)));
    await em.slice({ z: [z!, z! + 64], y: [y!, y! + 64], x: [x!, x! + 64] }).read({ out: crop });
  }
  const ms = performance.now() - t0;
  console.log(`50 random 64^3 crops in ${ms.toFixed(0)} ms; cache hits ${context.cachePool.hits}, misses ${context.cachePool.misses}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
