import { afterEach, describe, expect, it, vi } from 'vitest';
import { Context, NdArray, open } from '../../src/index.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { ENTRY_OVERHEAD_BYTES } from '../../src/cache/pool.js';
import { freshName } from '../core/helpers.js';

afterEach(() => vi.restoreAllMocks());

describe('decoded-chunk cache (context cache_pool)', () => {
  const spec = (name: string) => ({
    driver: 'zarr3', kvstore: `memory://${name}/`, dtype: 'uint16',
    schema: { domain: { shape: [16, 16] }, chunk_layout: { chunk: { shape: [8, 8] } } },
    metadata: { codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'gzip', configuration: { level: 1 } }] },
  });

  it('a second read revalidates with conditional reads and decodes nothing; a write by another handle is seen', async () => {
    const name = freshName('cache');
    const a = await open({ ...spec(name), create: true });
    await a.write(NdArray.zeros('uint16', [16, 16], 3));
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 20 } });
    const v = await open(`memory://${name}/`, { context });
    await v.read();
    expect(context.cachePool.misses).toBe(4);
    const reads = vi.spyOn(MemoryStore.prototype, 'read');
    await v.read();
    expect(context.cachePool.hits).toBe(4);
    for (const [, o] of reads.mock.calls) expect(o?.ifNotEqual).toBeTruthy(); // conditional: no bytes moved
    // Another handle (no shared cache) rewrites one chunk: the generation check sees it.
    await a.slice([[0, 8], [0, 8]]).write(9);
    const got = (await v.read()).toFlat();
    expect(got[0]).toBe(9);
    expect(got[8]).toBe(3);
    expect(context.cachePool.bytesUsed).toBeLessThanOrEqual(1 << 20);
  });

  it('recheck_cached_data: false serves cached chunks without any request; the LRU respects its byte limit', async () => {
    const name = freshName('cache2');
    const big = (n: string) => ({ ...spec(n), schema: { domain: { shape: [128, 128] }, chunk_layout: { chunk: { shape: [64, 64] } } } });
    const a = await open({ ...big(name), create: true });
    await a.write(NdArray.zeros('uint16', [128, 128], 5));
    // Room for 2 decoded chunks (64 x 64 x 2 bytes each, plus their entry overhead) and the
    // metadata (zarr.json, in the same budget), not for 3 chunks.
    const limit = 2 * (64 * 64 * 2 + ENTRY_OVERHEAD_BYTES) + 2048;
    const context = new Context({ cache_pool: { total_bytes_limit: limit } });
    const v = await open({ driver: 'zarr3', kvstore: `memory://${name}/`, recheck_cached_data: false }, { context });
    await v.slice([[0, 64], [0, 128]]).read(); // 2 chunks cached
    const reads = vi.spyOn(MemoryStore.prototype, 'read');
    await v.slice([[0, 64], [0, 128]]).read();
    expect(reads).not.toHaveBeenCalled();
    await v.read(); // 4 chunks through a 2-chunk cache
    expect(context.cachePool.bytesUsed).toBeLessThanOrEqual(limit);
    expect(context.stats().cache.byKind.chunk.entries).toBe(2);
    expect(context.stats().evictions).toBeGreaterThan(0);
  });
});
