/**
 * Huge shapes from hostile or mistaken metadata, or from a request, give typed errors naming
 * the field (or the view) instead of a RangeError from `new TypedArray(huge)` or an
 * out-of-memory crash: chunks over MAX_CHUNK_BYTES, shard indexes over MAX_SHARD_INDEX_BYTES,
 * non-safe-integer extents, and reads over MAX_READ_BYTES.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  MAX_CHUNK_BYTES, MAX_CHUNKS_PER_REQUEST, MAX_READ_BYTES, MAX_SHARD_INDEX_BYTES, MetadataError, NdArray, OutOfBoundsError, open,
} from '../../src/index.js';
import { chunksOfView } from '../../src/io/planner.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { freshName, sharedMemory } from './helpers.js';

const mem = sharedMemory();
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

async function withMeta(key: string, content: unknown): Promise<string> {
  const name = freshName('huge');
  await mem.write(`${name}/${key}`, enc(content));
  return `memory://${name}/`;
}

async function rejects(p: Promise<unknown>, cls: new (...a: never[]) => Error, ...needles: string[]): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${cls.name}`).toBeInstanceOf(cls);
  for (const n of needles) expect((err as Error).message).toContain(n);
}

const z3 = (shape: number[], chunk: number[], codecs: unknown[] = [{ name: 'bytes', configuration: { endian: 'little' } }], dtype = 'uint16') => ({
  zarr_format: 3,
  node_type: 'array',
  shape,
  data_type: dtype,
  chunk_grid: { name: 'regular', configuration: { chunk_shape: chunk } },
  chunk_key_encoding: { name: 'default' },
  fill_value: 0,
  codecs,
});
const shard = (chunk: number[], codecs: unknown[] = [{ name: 'bytes', configuration: { endian: 'little' } }]) => ({
  name: 'sharding_indexed',
  configuration: { chunk_shape: chunk, codecs, index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }] },
});
const openZ3 = async (json: unknown) => open({ driver: 'zarr3', kvstore: await withMeta('zarr.json', json) });

describe('limits are exported', () => {
  it('MAX_CHUNK_BYTES 2 GiB, MAX_SHARD_INDEX_BYTES 1 GiB, MAX_READ_BYTES 4 GiB, MAX_CHUNKS_PER_REQUEST 2^24', () => {
    expect([MAX_CHUNK_BYTES, MAX_SHARD_INDEX_BYTES, MAX_READ_BYTES, MAX_CHUNKS_PER_REQUEST]).toEqual([2 ** 31, 2 ** 30, 2 ** 32, 2 ** 24]);
  });
});

describe('zarr v3', () => {
  it('a chunk of 2^40 elements is a MetadataError naming chunk_shape', async () => {
    await rejects(openZ3(z3([2 ** 40], [2 ** 40], undefined, 'uint8')), MetadataError, 'chunk_grid.configuration.chunk_shape', 'MAX_CHUNK_BYTES');
    await rejects(openZ3(z3([2 ** 20, 2 ** 20], [2 ** 20, 2 ** 20])), MetadataError, 'chunk_grid.configuration.chunk_shape');
  });

  it('shape and chunk dims must be safe integers', async () => {
    await rejects(openZ3(z3([2 ** 60], [64])), MetadataError, '"shape"');
    await rejects(openZ3(z3([64], [2 ** 60])), MetadataError, 'chunk_shape');
    await rejects(openZ3(z3([2 ** 60], [2 ** 60], [shard([2 ** 60])])), MetadataError);
  });

  it('an inner chunk over the limit is a MetadataError naming the sharding chunk_shape', async () => {
    await rejects(
      openZ3(z3([2 ** 20, 2 ** 20], [2 ** 20, 2 ** 20], [shard([2 ** 20, 2 ** 20])])),
      MetadataError, 'codecs[0].configuration.chunk_shape', 'MAX_CHUNK_BYTES',
    );
    // nested: the innermost chunk is named
    await rejects(
      openZ3(z3([2 ** 20, 2 ** 20], [2 ** 20, 2 ** 20], [shard([2 ** 19, 2 ** 19], [shard([2 ** 19, 2 ** 19])])])),
      MetadataError, 'codecs[0].configuration.codecs[0].configuration.chunk_shape',
    );
  });

  it('a shard index over MAX_SHARD_INDEX_BYTES (too many inner chunks) is a MetadataError', async () => {
    await rejects(
      openZ3(z3([2 ** 20, 2 ** 20], [2 ** 20, 2 ** 20], [shard([1, 1])])),
      MetadataError, 'chunk_shape', 'MAX_SHARD_INDEX_BYTES',
    );
  });

  it('large shards with sane inner chunks still open, read and write (the shard is never allocated whole)', async () => {
    // a 4096^3 uint16 shard is 128 GiB decoded; inner chunks of 64^3 = 512 KiB, a 4 MiB index
    const vol = await openZ3(z3([4096, 4096, 4096], [4096, 4096, 4096], [shard([64, 64, 64])]));
    const w = vol.slice([[100, 102], [200, 202], [300, 302]]);
    await w.write(new NdArray('uint16', new Uint16Array([1, 2, 3, 4, 5, 6, 7, 8]), [2, 2, 2]));
    expect([...(await w.read()).data]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('zarr v2', () => {
  it('chunks over the limit are a MetadataError naming "chunks"', async () => {
    const meta = { zarr_format: 2, shape: [1e6, 1e6], chunks: [1e6, 1e6], dtype: '<u2', compressor: null, fill_value: 0, order: 'C', filters: null };
    await rejects(open({ driver: 'zarr', kvstore: await withMeta('.zarray', meta) }), MetadataError, '"chunks"', 'MAX_CHUNK_BYTES');
  });

  it('creating an array with such chunks fails the same way, writing nothing', async () => {
    const name = freshName('huge-create');
    await rejects(
      open({ driver: 'zarr', kvstore: `memory://${name}/`, create: true, metadata: { shape: [2 ** 40], chunks: [2 ** 40], dtype: '|u1' } }),
      MetadataError, 'chunks',
    );
    expect((await mem.read(`${name}/.zarray`)).state).toBe('missing');
  });
});

describe('N5', () => {
  const attrs = (blockSize: number[], dataType = 'uint8') => ({ dimensions: [1e9, 1e9], blockSize, dataType, compression: { type: 'raw' } });
  it('a blockSize of [1e9, 1e9] is a MetadataError naming blockSize', async () => {
    await rejects(open({ driver: 'n5', kvstore: await withMeta('attributes.json', attrs([1e9, 1e9])) }), MetadataError, 'blockSize', 'MAX_CHUNK_BYTES');
  });

  it('the limit is in bytes: 2^30 uint64 elements are over it, 2^30 uint8 are not', async () => {
    await rejects(open({ driver: 'n5', kvstore: await withMeta('attributes.json', attrs([2 ** 15, 2 ** 15], 'uint64')) }), MetadataError, 'blockSize');
    const vol = await open({ driver: 'n5', kvstore: await withMeta('attributes.json', attrs([2 ** 15, 2 ** 15], 'uint8')) });
    expect(vol.chunkLayout.readChunk.shape).toEqual([2 ** 15, 2 ** 15]);
  });
});

describe('neuroglancer precomputed', () => {
  const info = (scale: Record<string, unknown>) => ({
    '@type': 'neuroglancer_multiscale_volume',
    type: 'image',
    data_type: 'uint8',
    num_channels: 1,
    scales: [{ key: 's0', size: [64, 64, 64], voxel_offset: [0, 0, 0], resolution: [1, 1, 1], chunk_sizes: [[64, 64, 64]], encoding: 'raw', ...scale }],
  });
  const openInfo = async (scale: Record<string, unknown>) => open({ driver: 'neuroglancer_precomputed', kvstore: await withMeta('info', info(scale)) });

  it('a size of 2^60 is a MetadataError', async () => {
    await rejects(openInfo({ size: [2 ** 60, 64, 64] }), MetadataError, '"size"');
  });

  it('voxel_offset + size beyond 2^53 is a MetadataError', async () => {
    await rejects(openInfo({ size: [2 ** 52, 64, 64], voxel_offset: [2 ** 52, 0, 0] }), MetadataError, 'voxel_offset');
  });

  it('a chunk over the limit is a MetadataError naming chunk_sizes', async () => {
    await rejects(openInfo({ size: [4096, 4096, 4096], chunk_sizes: [[2048, 2048, 2048]] }), MetadataError, 'chunk_sizes', 'MAX_CHUNK_BYTES');
  });

  it('a sharded scale whose chunk ids need more than 64 bits is a MetadataError', async () => {
    const sharding = { '@type': 'neuroglancer_uint64_sharded_v1', preshift_bits: 0, hash: 'identity', minishard_bits: 0, shard_bits: 0, minishard_index_encoding: 'raw', data_encoding: 'raw' };
    await rejects(openInfo({ size: [2 ** 40, 2 ** 40, 2 ** 40], chunk_sizes: [[16, 16, 16]], sharding }), MetadataError, '64');
  });
});

describe('reads larger than one ArrayBuffer', () => {
  it('a view of 10^12 elements is an OutOfBoundsError telling the user to slice; slices read fine', async () => {
    const vol = await openZ3(z3([1e6, 1e6], [64, 64], undefined, 'uint8'));
    await rejects(vol.read(), OutOfBoundsError, '[1000000, 1000000]', 'MAX_READ_BYTES', 'slice');
    const part = await vol.slice([[0, 100], [0, 100]]).read();
    expect(part.shape).toEqual([100, 100]);
  });

  it('just over 4 GiB is refused; the bound counts bytes, not elements', async () => {
    const vol = await openZ3(z3([2 ** 16, 2 ** 15 + 1], [64, 64], undefined, 'uint16'));
    await rejects(vol.read(), OutOfBoundsError, 'MAX_READ_BYTES');
  });
});

describe('requests touching too many chunks (MAX_CHUNKS_PER_REQUEST)', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reading 40000 x 40000 of a [2^40, 2^40] array in [1, 1] chunks is an OutOfBoundsError naming the limit; no chunk is visited', async () => {
    const vol = await openZ3(z3([2 ** 40, 2 ** 40], [1, 1], undefined, 'uint8'));
    const reads = vi.spyOn(MemoryStore.prototype, 'read');
    const view = vol.slice([[0, 40000], [0, 40000]]);
    await rejects(view.read(), OutOfBoundsError, '1600000000 chunks', 'MAX_CHUNKS_PER_REQUEST', 'slice');
    await rejects(view.read({ out: NdArray.zeros('uint8', [1, 1]) }), OutOfBoundsError, 'MAX_CHUNKS_PER_REQUEST');
    await rejects(view.write(3), OutOfBoundsError, 'writing', 'MAX_CHUNKS_PER_REQUEST');
    expect(reads.mock.calls.filter(([k]) => k.includes('/c/')).length).toBe(0);
    // A slice under the limit reads and writes.
    const small = vol.slice([[2 ** 40 - 3, 2 ** 40], [5, 8]]);
    await small.write(9);
    expect((await small.read()).toFlat()).toEqual(new Array(9).fill(9));
  });

  it('shape [1e9], chunks [1]: all of it, or every 2nd element (no Set of 5e8 chunk indices), is refused the same way', async () => {
    const vol = await openZ3(z3([1e9], [1], undefined, 'uint8'));
    await rejects(vol.read(), OutOfBoundsError, 'MAX_CHUNKS_PER_REQUEST');
    await rejects(vol.slice([[0, 1e9, 2]]).read(), OutOfBoundsError, '500000000 chunks', 'MAX_CHUNKS_PER_REQUEST');
    await rejects(vol.write(1), OutOfBoundsError, 'MAX_CHUNKS_PER_REQUEST');
    // A strided view under the limit touches exactly the chunks it selects.
    const sparse = vol.slice([[7, 1e9, 1e8]]);
    await sparse.write(new NdArray('uint8', Uint8Array.from({ length: 10 }, (_, i) => i + 1), [10]));
    expect((await sparse.read()).toFlat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect((await vol.slice([[6, 9]]).read()).toFlat()).toEqual([0, 1, 0]);
  });

  it('chunk enumeration streams: the first chunks of a 1.6e9-chunk view come without enumerating the rest', async () => {
    const vol = await openZ3(z3([2 ** 40, 2 ** 40], [1, 1], undefined, 'uint8'));
    const view = vol.slice([[10, 40010], [20, 40020, 2]]);
    const it = chunksOfView(vol.driver.grid, view.transform);
    expect([it.next().value, it.next().value, it.next().value]).toEqual([[10, 20], [10, 22], [10, 24]]);
  });
});
