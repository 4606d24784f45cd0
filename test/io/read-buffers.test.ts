/**
 * Recycled read buffers (src/kvstore/read-buffers.ts): the file store reads into a buffer it is
 * given; the planner gives a chunk's buffer back only once the chunk is placed and nothing kept
 * it, and reuses it for later chunks; chunks the cache keeps (views of their read buffer) are
 * never overwritten by later reads.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NdArray } from '../../src/array/ndarray.js';
import { Context, open } from '../../src/index.js';
import { readBuffers, ReadBuffers } from '../../src/kvstore/read-buffers.js';
import { FileStore } from '../../src/kvstore/file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'volstore-readbuf-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ReadBuffers', () => {
  it('reuses a buffer given back, keeps at most its byte limit, and ignores buffers it did not hand out', () => {
    const rb = new ReadBuffers(3000);
    const a = rb.take(1000)!;
    const b = rb.take(1000)!;
    expect(a.length).toBe(1000);
    rb.give(a.subarray(0, 10)); // a view of it is enough
    rb.give(a); // twice: kept once
    expect(rb.bytes).toBe(1000);
    expect(rb.take(1000)!.buffer).toBe(a.buffer);
    expect(rb.stats).toEqual({ taken: 3, reused: 1 });
    rb.give(new Uint8Array(1000)); // not ours
    expect(rb.bytes).toBe(0);
    rb.give(b);
    rb.give(rb.take(999));
    rb.give(rb.take(998));
    rb.give(rb.take(997)); // over the limit: dropped
    expect(rb.bytes).toBe(1000 + 999 + 998);
    expect(rb.take(0)).toBeUndefined();
  });
});

describe('ReadBuffers.share (a merged shard read handed out as several views)', () => {
  it('comes back only when every view was given back, once each', () => {
    const rb = new ReadBuffers();
    const merged = rb.take(4096)!;
    rb.share(merged, 3);
    const views = [merged.subarray(0, 1000), merged.subarray(1000, 3000), merged.subarray(3000)];
    rb.give(views[0]);
    rb.give(views[1]);
    expect(rb.bytes).toBe(0); // one view still out: not reusable
    expect(rb.take(4096)!.buffer).not.toBe(merged.buffer);
    rb.give(views[2]);
    expect(rb.bytes).toBe(4096);
    expect(rb.take(4096)!.buffer).toBe(merged.buffer);
  });

  it('a view never given back keeps it out for good; buffers not from the pool are ignored', () => {
    const rb = new ReadBuffers();
    const merged = rb.take(2048)!;
    rb.share(merged, 2);
    rb.give(merged.subarray(0, 1024)); // the other member was kept (cached) or its caller aborted
    expect(rb.bytes).toBe(0);
    const foreign = new Uint8Array(2048);
    rb.share(foreign, 2);
    rb.give(foreign);
    expect(rb.bytes).toBe(0);
  });
});

describe('FileStore.read({ buffer })', () => {
  it('reads into the given buffer when it is big enough, else into its own', async () => {
    const store = new FileStore(path.join(dir, 'kv'));
    await store.write('k', new Uint8Array([1, 2, 3, 4, 5]));
    const mine = new Uint8Array(8).fill(9);
    const r = await store.read('k', { buffer: () => mine });
    expect(r.state).toBe('value');
    const v = (r as { value: Uint8Array }).value;
    expect(v.buffer).toBe(mine.buffer);
    expect([...v]).toEqual([1, 2, 3, 4, 5]);
    const small = new Uint8Array(2);
    const r2 = await store.read('k', { buffer: () => small, byteRange: { offset: 1, length: 3 } });
    expect([...(r2 as { value: Uint8Array }).value]).toEqual([2, 3, 4]);
    expect((r2 as { value: Uint8Array }).value.buffer).not.toBe(small.buffer);
  });
});

describe('planner: read buffers of placed chunks are recycled', () => {
  const shape = [32, 64, 64];
  const data = NdArray.zeros('uint8', shape);
  (data.data as Uint8Array).forEach((_, i, a) => (a[i] = (i * 7 + (i >> 12)) & 255));
  const spec = (name: string) => ({ driver: 'zarr3', kvstore: { driver: 'file', path: path.join(dir, name) } });

  it('raw chunks read into out: buffers come back after placement and the next read reuses them; results exact', async () => {
    const w = await open({ ...spec('raw'), create: true, dtype: 'uint8', schema: { domain: { shape }, chunk_layout: { chunk: { shape: [16, 32, 32] } } } } as never);
    await w.write(data);
    const vol = await open(spec('raw') as never);
    const out = NdArray.zeros('uint8', shape);
    await vol.read({ out });
    expect(Buffer.from(out.data as Uint8Array).equals(Buffer.from(data.data as Uint8Array))).toBe(true);
    const before = { ...readBuffers.stats };
    (out.data as Uint8Array).fill(0);
    await vol.read({ out });
    expect(Buffer.from(out.data as Uint8Array).equals(Buffer.from(data.data as Uint8Array))).toBe(true);
    expect(readBuffers.stats.taken - before.taken).toBe(8);
    expect(readBuffers.stats.reused - before.reused).toBe(8);
  });

  it('sharded: a merged range read is recycled once every chunk in it is placed; concurrent overlapping reads stay exact', async () => {
    const sharded = {
      ...spec('sharded'), create: true, dtype: 'uint8',
      metadata: {
        shape, chunk_grid: { name: 'regular', configuration: { chunk_shape: [32, 64, 64] } },
        codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [8, 32, 32], codecs: [{ name: 'bytes', configuration: { endian: 'little' } }], index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }] } }],
      },
    };
    const w = await open(sharded as never);
    await w.write(data);
    const vol = await open(spec('sharded') as never);
    const src = data.data as Uint8Array;
    const out = NdArray.zeros('uint8', shape);
    await vol.read({ out });
    const before = { ...readBuffers.stats };
    for (let round = 0; round < 3; round++) {
      (out.data as Uint8Array).fill(0);
      await vol.read({ out });
      expect(Buffer.from(out.data as Uint8Array).equals(Buffer.from(src))).toBe(true);
    }
    // each read's merged range read came back once its chunks were placed, and was reused
    expect(readBuffers.stats.reused - before.reused).toBeGreaterThanOrEqual(3);
    for (let round = 0; round < 20; round++) {
      // overlapping readers of the one shard at once: their ranges merge into shared reads (and
      // join reads in flight); each result must be exact although buffers are reused under them
      const views = [vol, vol.slice([[round % 8, 32], null, null]), vol.slice([null, [round, 64], [0, 40]]), vol.slice([[4, 20], [8, 56], null])];
      const results = await Promise.all(views.map(async (v, k) => (k === 0 ? (await v.read({ out: NdArray.zeros('uint8', shape) })) : await v.read())));
      const boxes = [[[0, 32], [0, 64], [0, 64]], [[round % 8, 32], [0, 64], [0, 64]], [[0, 32], [round, 64], [0, 40]], [[4, 20], [8, 56], [0, 64]]];
      results.forEach((r, k) => {
        const [[z0, z1], [y0, y1], [x0, x1]] = boxes[k]!;
        const got = r.data as Uint8Array;
        let i = 0;
        for (let z = z0!; z < z1!; z++) for (let y = y0!; y < y1!; y++) for (let x = x0!; x < x1!; x++, i++) {
          if (got[i] !== src[(z * 64 + y) * 64 + x]) throw new Error(`round ${round}, view ${k}: element ${i} is ${got[i]}, expected ${src[(z * 64 + y) * 64 + x]}`);
        }
      });
    }
  });

  it('chunks a cache keeps are never recycled: later reads do not overwrite them', async () => {
    const w = await open({ ...spec('cached'), create: true, dtype: 'uint8', schema: { domain: { shape }, chunk_layout: { chunk: { shape: [16, 32, 32] } } } } as never);
    await w.write(data);
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 24 } });
    const cached = await open({ ...spec('cached'), recheck_cached_data: false } as never, { context });
    const first = await cached.slice([[0, 16], null, null]).read(); // cached: these chunks stay in the cache
    const other = await open(spec('raw') as never);
    for (let i = 0; i < 3; i++) await other.read({ out: NdArray.zeros('uint8', shape) }); // recycles buffers busily
    const again = await cached.slice([[0, 16], null, null]).read(); // from the cache
    const expected = (data.data as Uint8Array).subarray(0, 16 * 64 * 64);
    expect(Buffer.from(first.data as Uint8Array).equals(Buffer.from(expected))).toBe(true);
    expect(Buffer.from(again.data as Uint8Array).equals(Buffer.from(expected))).toBe(true);
  });
});
