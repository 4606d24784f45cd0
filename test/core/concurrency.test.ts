/**
 * Concurrent writers and write batching. Two (or more) separately opened Volumes on the same
 * memory:// store write different parts of the same chunk, or different inner chunks of the
 * same shard, at the same time: reads are delayed so every writer reads the same generation
 * first, forcing conflicts. Read-modify-write under a generation condition, retried, must keep
 * every write. And a write touching many inner chunks of a shard writes that shard ONCE.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore, NdArray, open, type Volume } from '../../src/index.js';
import { freshName } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
});

interface Counters {
  writes: Map<string, number>;
  conflicts: number;
}

/**
 * Counts MemoryStore writes per key (and failed conditional writes); optionally delays every
 * read so that concurrent read-modify-writes all read before any of them writes.
 */
function instrument(prefix: string, readDelayMs = 0): Counters {
  const c: Counters = { writes: new Map(), conflicts: 0 };
  const origWrite = MemoryStore.prototype.write;
  const origRead = MemoryStore.prototype.read;
  vi.spyOn(MemoryStore.prototype, 'write').mockImplementation(async function (this: MemoryStore, key, value, o) {
    const r = await origWrite.call(this, key, value, o);
    if (key.startsWith(prefix)) {
      if (r.ok) c.writes.set(key.slice(prefix.length), (c.writes.get(key.slice(prefix.length)) ?? 0) + 1);
      else c.conflicts++;
    }
    return r;
  });
  if (readDelayMs > 0) {
    vi.spyOn(MemoryStore.prototype, 'read').mockImplementation(async function (this: MemoryStore, key, o) {
      const r = await origRead.call(this, key, o);
      if (key.startsWith(prefix)) await new Promise((res) => setTimeout(res, readDelayMs));
      return r;
    });
  }
  return c;
}

async function twoHandles(spec: Record<string, unknown>): Promise<[Volume, Volume, string]> {
  const name = freshName('conc');
  const url = `memory://${name}/`;
  const a = await open({ ...spec, kvstore: url, create: true });
  const b = await open({ driver: spec.driver, kvstore: url });
  return [a, b, name];
}

const sharded = {
  driver: 'zarr3',
  dtype: 'uint16',
  schema: { domain: { shape: [16, 16] }, chunk_layout: { write_chunk: { shape: [8, 8] }, read_chunk: { shape: [2, 2] } } },
};

describe('concurrent writers', () => {
  it('two partial writers to the same chunk (zarr3): both writes survive', async () => {
    const [a, b, name] = await twoHandles({ driver: 'zarr3', dtype: 'int32', schema: { domain: { shape: [4, 4] }, chunk_layout: { write_chunk: { shape: [4, 4] } } } });
    await a.write(5);
    const c = instrument(`${name}/`, 5);
    await Promise.all([a.slice([[0, 2], null]).write(1), b.slice([[2, 4], null]).write(2)]);
    vi.restoreAllMocks();
    expect(c.conflicts, 'the writers did not race').toBeGreaterThan(0);
    expect((await a.read()).toFlat()).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]);
  });

  it('two partial writers to the same chunk (zarr v2, F order): both writes survive', async () => {
    const [a, b, name] = await twoHandles({ driver: 'zarr', metadata: { shape: [4, 4], chunks: [4, 4], dtype: '<f8', order: 'F', compressor: { id: 'zlib', level: 1 }, fill_value: 0 } });
    const c = instrument(`${name}/`, 5);
    await Promise.all([a.slice([null, [0, 1]]).write(1.5), b.slice([null, [3, 4]]).write(-2.5)]);
    vi.restoreAllMocks();
    expect(c.conflicts).toBeGreaterThan(0);
    expect((await b.read()).toFlat()).toEqual([1.5, 0, 0, -2.5, 1.5, 0, 0, -2.5, 1.5, 0, 0, -2.5, 1.5, 0, 0, -2.5]);
  });

  it('two writers to different inner chunks of the same shard: both survive', async () => {
    const [a, b, name] = await twoHandles(sharded);
    const c = instrument(`${name}/`, 5);
    // inner chunks (0,0) and (3,3) of shard c/0/0, one of them only partly
    await Promise.all([a.slice([[0, 2], [0, 2]]).write(1), b.slice([[6, 7], [6, 8]]).write(2)]);
    vi.restoreAllMocks();
    expect(c.conflicts).toBeGreaterThan(0);
    expect([...c.writes.keys()]).toEqual(['c/0/0']);
    const got = await a.read();
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 16; j++) {
        const want = i < 2 && j < 2 ? 1 : i === 6 && j >= 6 && j < 8 ? 2 : 0;
        expect(got.get([i, j]), `[${i},${j}]`).toBe(want);
      }
    }
  });

  it('eight writers, one element each, same inner chunk of a nested shard: all survive', async () => {
    const name = freshName('conc8');
    const url = `memory://${name}/`;
    const inner = [{ name: 'bytes', configuration: { endian: 'little' } }];
    await open({
      driver: 'zarr3', kvstore: url, create: true,
      metadata: {
        shape: [8, 8], data_type: 'uint8', chunk_grid: { name: 'regular', configuration: { chunk_shape: [8, 8] } }, fill_value: 0,
        codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [4, 4], index_location: 'start', codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [2, 2], codecs: inner } }] } }],
      },
    });
    const handles = await Promise.all(Array.from({ length: 8 }, () => open({ driver: 'zarr3', kvstore: url })));
    const c = instrument(`${name}/`, 3);
    await Promise.all(handles.map((h, k) => h.slice([k, [0, 1]]).write(k + 1)));
    vi.restoreAllMocks();
    expect(c.conflicts).toBeGreaterThan(0);
    const got = await handles[0]!.slice([null, 0]).read();
    expect(got.toFlat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('one write per shard', () => {
  it('a write covering all 64 inner chunks of a shard writes it once (full overwrite)', async () => {
    const name = freshName('once');
    const v = await open({ ...sharded, kvstore: `memory://${name}/`, create: true, schema: { domain: { shape: [16, 16] }, chunk_layout: { write_chunk: { shape: [8, 8] }, read_chunk: { shape: [1, 1] } } } });
    const c = instrument(`${name}/`);
    const data = NdArray.zeros('uint16', [8, 8]);
    for (let i = 0; i < 64; i++) (data.data as Uint16Array)[i] = i + 1;
    await v.slice([[8, 16], [0, 8]]).write(data);
    expect(Object.fromEntries(c.writes)).toEqual({ 'c/1/0': 1 });
    expect((await v.slice([[8, 16], [0, 8]]).read()).toFlat()).toEqual(data.toFlat());
  });

  it('a partial write touching all 64 inner chunks of a shard (read-modify-write) writes it once', async () => {
    const name = freshName('once2');
    const v = await open({ ...sharded, kvstore: `memory://${name}/`, create: true, schema: { domain: { shape: [32, 32] }, chunk_layout: { write_chunk: { shape: [16, 16] }, read_chunk: { shape: [2, 2] } } } });
    await v.write(7);
    const c = instrument(`${name}/`);
    await v.slice([[1, 15], [17, 31]]).write(9);
    expect(Object.fromEntries(c.writes)).toEqual({ 'c/0/1': 1 });
    const got = await v.read();
    for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) expect(got.get([i, j])).toBe(i >= 1 && i < 15 && j >= 17 && j < 31 ? 9 : 7);
  });

  it('a write over four shards (nested sharding) writes each shard once', async () => {
    const name = freshName('once3');
    const inner = [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'gzip', configuration: { level: 1 } }];
    const v = await open({
      driver: 'zarr3', kvstore: `memory://${name}/`, create: true,
      metadata: {
        shape: [16, 16], data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: [8, 8] } }, fill_value: 0,
        codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [4, 4], codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [1, 1], codecs: inner } }] } }],
      },
    });
    const c = instrument(`${name}/`);
    await v.slice([[3, 13], [2, 16]]).write(4);
    expect(Object.fromEntries(c.writes)).toEqual({ 'c/0/0': 1, 'c/0/1': 1, 'c/1/0': 1, 'c/1/1': 1 });
    const flat = (await v.read()).toFlat();
    expect(flat.filter((x) => x === 4).length).toBe(10 * 14);
  });
});
