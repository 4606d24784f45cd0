import { afterEach, describe, expect, it, vi } from 'vitest';
import { NdArray, open } from '../../src/index.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { freshName } from './helpers.js';

afterEach(() => vi.restoreAllMocks());

describe('sharded reads coalesce byte ranges', () => {
  it('a full read costs one index read plus one data read per shard; a slice one data read per shard touched', async () => {
    const name = freshName('coalesce');
    const shape = [32, 32, 32];
    const vol = await open({
      driver: 'zarr3', kvstore: `memory://${name}/`, create: true, dtype: 'uint8',
      schema: { domain: { shape }, chunk_layout: { write_chunk: { shape: [16, 32, 32] }, read_chunk: { shape: [4, 8, 8] } } },
    });
    const data = NdArray.zeros('uint8', shape);
    (data.data as Uint8Array).forEach((_, i, a) => (a[i] = (i * 7) & 255 || 1));
    await vol.write(data);

    const reads = vi.spyOn(MemoryStore.prototype, 'read');
    const fresh = await open(`memory://${name}/`);
    reads.mockClear();
    const all = await fresh.read();
    expect(Buffer.from(all.data.buffer).equals(Buffer.from(data.data.buffer))).toBe(true);
    const shardReads = reads.mock.calls.filter(([k]) => k.includes('/c/'));
    expect(shardReads.length).toBe(2 * 2); // 2 shards x (index + one coalesced data read)

    reads.mockClear();
    const xy = await fresh.slice([5, null, null]).read(); // one z plane: 16 inner chunks of shard 0
    expect(xy.toFlat()).toEqual(data.toFlat().slice(5 * 32 * 32, 6 * 32 * 32));
    expect(reads.mock.calls.filter(([k]) => k.includes('/c/')).length).toBe(1); // index cached
  });

  it('a shard rewritten between index and data read is re-indexed, never decoded wrong', async () => {
    const name = freshName('stale');
    const spec = {
      driver: 'zarr3', kvstore: `memory://${name}/`, dtype: 'uint16',
      schema: { domain: { shape: [8, 8] }, chunk_layout: { write_chunk: { shape: [8, 8] }, read_chunk: { shape: [4, 4] } } },
    };
    const a = await open({ ...spec, create: true });
    await a.write(NdArray.zeros('uint16', [8, 8], 1));
    const reader = await open(`memory://${name}/`);
    expect((await reader.read()).toFlat().every((v) => v === 1)).toBe(true); // index now cached
    const b = await open(`memory://${name}/`);
    await b.slice([[0, 4], [0, 8]]).write(NdArray.zeros('uint16', [4, 8], 2)); // rewrites the shard
    const got = (await reader.read()).toFlat();
    expect(got.slice(0, 32).every((v) => v === 2)).toBe(true);
    expect(got.slice(32).every((v) => v === 1)).toBe(true);
  });
});

describe('read({out})', () => {
  it('reads into a caller array (C or strided), filling missing chunks with the fill value', async () => {
    const name = freshName('out');
    const vol = await open({
      driver: 'zarr3', kvstore: `memory://${name}/`, create: true, dtype: 'int16',
      schema: { domain: { shape: [6, 8] }, chunk_layout: { chunk: { shape: [3, 4] } }, fill_value: -7 },
    });
    await vol.slice([[0, 3], [0, 4]]).write(5); // one chunk stored, three missing
    const out = NdArray.zeros('int16', [6, 8], 99); // stale content must be overwritten
    const got = await vol.read({ out });
    expect(got).toBe(out);
    const want = Array.from({ length: 48 }, (_, i) => (Math.floor(i / 8) < 3 && i % 8 < 4 ? 5 : -7));
    expect(out.toFlat()).toEqual(want);
    // A transposed (F-order) destination view.
    const backing = NdArray.zeros('int16', [8, 6], 99);
    const fview = new NdArray('int16', backing.data, [6, 8], [1, 6]);
    await vol.read({ out: fview });
    expect(fview.toFlat()).toEqual(want);
    await expect(vol.read({ out: NdArray.zeros('int16', [6, 7]) })).rejects.toMatchObject({ code: 'out-of-bounds' });
  });
});

describe('strided views touch only the chunks they select', () => {
  it('every 8th plane of an 8-wide chunk grid reads 1 chunk in 8, with exact values', async () => {
    const name = freshName('strided');
    const vol = await open({
      driver: 'zarr3', kvstore: `memory://${name}/`, create: true, dtype: 'uint16',
      schema: { domain: { shape: [64, 16] }, chunk_layout: { chunk: { shape: [4, 16] } } },
    });
    const data = NdArray.zeros('uint16', [64, 16]);
    (data.data as Uint16Array).forEach((_, i, a) => (a[i] = i));
    await vol.write(data);
    const reads = vi.spyOn(MemoryStore.prototype, 'read');
    const fresh = await open(`memory://${name}/`);
    reads.mockClear();
    const view = fresh.slice([[1, 64, 16], [0, 16, 5]]); // rows 1, 17, 33, 49; columns 0, 5, 10, 15
    const got = await view.read();
    expect(got.shape).toEqual([4, 4]);
    expect(got.toFlat()).toEqual([1, 17, 33, 49].flatMap((r) => [0, 5, 10, 15].map((c) => r * 16 + c)));
    expect(reads.mock.calls.filter(([k]) => k.includes('/c/')).length).toBe(4); // not 16
    // Writing through the same strided view touches the same 4 chunks, keeping the rest.
    await view.write(7);
    const back = (await fresh.read()).toFlat();
    back.forEach((v, i) => {
      const [r, c] = [Math.floor(i / 16), i % 16];
      expect(v).toBe(r % 16 === 1 && c % 5 === 0 ? 7 : i);
    });
  });
});
