/**
 * The cache pool and the prefetcher on data other implementations wrote: npm zarrita writes a
 * zstd zarr v3 array (it cannot write shards), and zarr-python 3.1 wrote the sharded fixture
 * `3d.chunked.compressed.sharded.i2` (test/fixtures/README.md). volstore reads them through a
 * cache pool (concurrent readers sharing loads; shard indexes in the pool) and scrolls them with
 * the `neighbors` prefetcher; every slice equals zarrita's own reading.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import FileSystemStore from '@zarrita/storage/fs';
import * as zarr from 'zarrita';
import { afterAll, describe, expect, it } from 'vitest';
import { Context, open } from '../../src/index.js';
import { fixture } from '../fixture-path.js';

const ROOT = mkdtempSync(path.join(tmpdir(), 'volstore-cache-zarrita-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

/** zarrita's reading of plane z of a 3-d array, flat. */
async function zarritaPlane(dir: string, z: number): Promise<number[]> {
  const a = await zarr.open(new FileSystemStore(dir), { kind: 'array' });
  return Array.from((await zarr.get(a, [z, null, null])).data as ArrayLike<number>);
}

describe('cache pool and prefetch on data other implementations wrote', () => {
  it('zarrita zstd chunks: shared loads, then a neighbors scroll, read what zarrita reads', async () => {
    const SHAPE = [24, 16, 16];
    const dir = path.join(ROOT, 'zstd');
    const arr = await zarr.create(new FileSystemStore(dir), {
      shape: SHAPE,
      chunkShape: [4, 8, 8],
      dtype: 'uint16',
      codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd', configuration: { level: 1, checksum: false } }] as never,
      fillValue: 0,
    });
    const n = SHAPE.reduce((a, b) => a * b, 1);
    const data = Uint16Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 20);
    await zarr.set(arr, null, { data, shape: SHAPE, stride: [256, 16, 1] });

    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 22 } });
    const vol = await open({ driver: 'zarr3', kvstore: `file://${dir}/`, recheck_cached_data: 'open' }, { context });
    // Eight concurrent readers of one slice: each of its 4 chunks fetched and decoded once.
    const reads = await Promise.all(Array.from({ length: 8 }, () => vol.slice([3, null, null]).read()));
    for (const r of reads) expect(r.toFlat()).toEqual(await zarritaPlane(dir, 3));
    expect(context.stats()).toMatchObject({ misses: 4, requests: expect.any(Number) });
    expect(context.stats().cache.joined).toBe(7 * 4);

    const viewer = vol.withPrefetch({ policy: 'neighbors', axis: 0 });
    for (let z = 0; z < SHAPE[0]!; z++) {
      expect((await viewer.slice([z, null, null]).read()).toFlat(), `z=${z}`).toEqual(await zarritaPlane(dir, z));
    }
    expect(viewer.stats().prefetchHits).toBeGreaterThan(0);
  });

  it('zarr-python sharded (gzip inner chunks, crc32c index): indexes in the pool, prefetched planes right', async () => {
    const dir = fixture('zarr-python', 'v3.zarr', '3d.chunked.compressed.sharded.i2');
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 20 } });
    const vol = await open({ driver: 'zarr3', kvstore: `file://${dir}/`, recheck_cached_data: 'open' }, { context });
    const viewer = vol.withPrefetch({ policy: 'neighbors', axis: 0 });
    for (let z = 0; z < 4; z++) {
      const got = (await viewer.slice([z, null, null]).read()).toFlat();
      expect(got).toEqual(Array.from({ length: 16 }, (_, i) => z * 16 + i));
      expect(got).toEqual(await zarritaPlane(dir, z));
    }
    const s = context.stats();
    expect(s.cache.byKind['shard-index'].entries).toBe(8); // 2 x 2 x 2 shards
    expect(s.prefetchHits).toBeGreaterThan(0);
    expect(s.bytes).toBeLessThanOrEqual(1 << 20);
  });
});
