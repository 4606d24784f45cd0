/**
 * Bad input gives a typed error naming the key or field: malformed or incomplete metadata,
 * unsupported dtypes and filters, corrupt chunks and shards, out-of-domain regions, bad spec
 * JSON, open/create conflicts, aborts. And a write that fails part way loses nothing the user
 * wrote before: every chunk is either its old or its new content.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AbortError, AlreadyExistsError, CorruptionError, MemoryStore, MetadataError, NdArray, NotFoundError, OutOfBoundsError,
  SpecError, UnsupportedError, open,
} from '../../src/index.js';
import { crc32c } from '../../src/testing/crc32c.js';
import { freshName, sharedMemory } from './helpers.js';

const mem = sharedMemory();
const enc = (o: unknown) => new TextEncoder().encode(typeof o === 'string' ? o : JSON.stringify(o));

const Z3 = {
  zarr_format: 3,
  node_type: 'array',
  shape: [4, 4],
  data_type: 'uint16',
  chunk_grid: { name: 'regular', configuration: { chunk_shape: [2, 2] } },
  chunk_key_encoding: { name: 'default' },
  fill_value: 0,
  codecs: [{ name: 'bytes', configuration: { endian: 'little' } }],
};
const Z2 = { zarr_format: 2, shape: [4], chunks: [2], dtype: '<u2', compressor: null, fill_value: 0, order: 'C', filters: null };

/** Stores raw metadata under a fresh memory:// root and returns its URL. */
async function withMeta(key: string, content: unknown): Promise<string> {
  const name = freshName('bad');
  await mem.write(`${name}/${key}`, enc(content));
  return `memory://${name}/`;
}

const openZ3 = async (json: unknown) => open({ driver: 'zarr3', kvstore: await withMeta('zarr.json', json) });
const openZ2 = async (json: unknown) => open({ driver: 'zarr', kvstore: await withMeta('.zarray', json) });

/** Asserts `p` rejects with an instance of `cls` whose message contains every `needle`. */
async function rejects<T extends Error>(p: Promise<unknown> | (() => unknown), cls: new (...a: never[]) => T, ...needles: string[]): Promise<T> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${cls.name}`).toBeInstanceOf(cls);
  for (const n of needles) expect((err as Error).message).toContain(n);
  return err as T;
}

function without(o: Record<string, unknown>, k: string): Record<string, unknown> {
  const c = { ...o };
  delete c[k];
  return c;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('malformed metadata', () => {
  it('invalid JSON in zarr.json / .zarray names the key', async () => {
    const e3 = await rejects(openZ3('{"zarr_format": 3,'), MetadataError, 'zarr.json', 'JSON');
    expect(e3.key).toBe('zarr.json');
    const e2 = await rejects(openZ2('{nope'), MetadataError, '.zarray', 'JSON');
    expect(e2.key).toBe('.zarray');
    await rejects(openZ3('[1, 2]'), MetadataError, 'zarr.json', 'object');
  });

  it('missing required zarr v3 fields name the field', async () => {
    for (const f of ['shape', 'data_type', 'chunk_grid', 'codecs']) {
      const e = await rejects(openZ3(without(Z3, f)), MetadataError, 'zarr.json', `"${f}"`);
      expect(e.key).toBe('zarr.json');
    }
  });

  it('missing required zarr v2 fields name the field', async () => {
    for (const f of ['shape', 'chunks', 'dtype']) await rejects(openZ2(without(Z2, f)), MetadataError, '.zarray', `"${f}"`);
  });

  it('unknown metadata fields are named', async () => {
    await rejects(openZ3({ ...Z3, bogus_field: 1 }), MetadataError, 'zarr.json', '"bogus_field"');
    await rejects(openZ2({ ...Z2, bogus_field: 1 }), MetadataError, '.zarray', '"bogus_field"');
    // zarr v3 extensions marked must_understand: false are allowed.
    await expect(openZ3({ ...Z3, ext: { must_understand: false } })).resolves.toBeDefined();
  });

  it('wrong or unsupported dtypes', async () => {
    await rejects(openZ3({ ...Z3, data_type: 'complex64' }), UnsupportedError, 'zarr.json', 'complex64');
    await rejects(openZ2({ ...Z2, dtype: '<c8' }), UnsupportedError, '.zarray', '<c8');
    await rejects(openZ2({ ...Z2, dtype: '<U7' }), UnsupportedError, '.zarray', '<U7');
    // the stored dtype differs from the one the spec asks for
    const url = await withMeta('zarr.json', Z3);
    await rejects(open({ driver: 'zarr3', kvstore: url, dtype: 'int32' }), MetadataError, 'uint16', 'int32');
    // an unknown dtype in the spec itself
    await rejects(open({ driver: 'zarr3', kvstore: url, dtype: 'int128' }), SpecError, 'dtype', 'int128');
  });

  it('wrong field types name the field', async () => {
    await rejects(openZ3({ ...Z3, shape: [4, -1] }), MetadataError, '"shape"');
    await rejects(openZ3({ ...Z3, chunk_grid: { name: 'regular', configuration: { chunk_shape: [2] } } }), MetadataError, 'chunk_shape');
    await rejects(openZ2({ ...Z2, order: 'X' }), MetadataError, '"order"');
    await rejects(openZ3({ ...Z3, fill_value: 'lots' }), MetadataError, 'fill_value');
  });

  it('unsupported filters and compressors in .zarray are errors, never garbage', async () => {
    const e = await rejects(openZ2({ ...Z2, filters: [{ id: 'quantize', digits: 2, dtype: '<f8' }] }), UnsupportedError, 'quantize', 'filters[0]', '.zarray');
    expect(e.code).toBe('unsupported');
    await rejects(openZ2({ ...Z2, compressor: { id: 'nosuchcodec' } }), UnsupportedError, 'nosuchcodec', 'compressor');
    await rejects(openZ3({ ...Z3, codecs: [...Z3.codecs, { name: 'nosuchcodec' }] }), UnsupportedError, 'nosuchcodec');
  });
});

describe('corrupt chunks and shards', () => {
  it('a truncated chunk is a CorruptionError naming its key; other chunks still read', async () => {
    const name = freshName('trunc');
    const v = await open({ driver: 'zarr3', kvstore: `memory://${name}/`, create: true, dtype: 'uint16', schema: { domain: { shape: [4, 4] }, chunk_layout: { write_chunk: { shape: [2, 2] } } } });
    await v.write(NdArray.zeros('uint16', [4, 4], 3));
    const r = await mem.read(`${name}/c/0/1`);
    if (r.state !== 'value') throw new Error('chunk not stored');
    await mem.write(`${name}/c/0/1`, r.value.subarray(0, 5));
    const e = await rejects(v.read(), CorruptionError, 'c/0/1', '5 bytes');
    expect(e.key).toBe('c/0/1');
    expect((await v.slice([[0, 2], [0, 2]]).read()).toFlat()).toEqual([3, 3, 3, 3]);
  });

  it('a crc32c mismatch is a CorruptionError naming the key', async () => {
    const name = freshName('crc');
    const v = await open({
      driver: 'zarr3', kvstore: `memory://${name}/`, create: true, dtype: 'int32',
      schema: { domain: { shape: [4, 4] }, chunk_layout: { write_chunk: { shape: [2, 2] } }, codec: { driver: 'zarr3', codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'gzip', configuration: { level: 1 } }, { name: 'crc32c' }] } },
    });
    await v.write(NdArray.zeros('int32', [4, 4], 7));
    const r = await mem.read(`${name}/c/1/0`);
    if (r.state !== 'value') throw new Error('chunk not stored');
    const b = r.value.slice();
    b[3] ^= 0x10;
    await mem.write(`${name}/c/1/0`, b);
    const e = await rejects(v.read(), CorruptionError, 'c/1/0', 'crc32c');
    expect(e.key).toBe('c/1/0');
  });

  async function shardedArray(indexLocation: 'start' | 'end') {
    const name = freshName('shard');
    const v = await open({
      driver: 'zarr3', kvstore: `memory://${name}/`, create: true,
      metadata: {
        shape: [8, 8], data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: [4, 4] } }, fill_value: 0,
        codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [2, 2], codecs: [{ name: 'bytes', configuration: { endian: 'little' } }], index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }], index_location: indexLocation } }],
      },
    });
    await v.write(NdArray.zeros('uint16', [8, 8], 3));
    const r = await mem.read(`${name}/c/0/1`);
    if (r.state !== 'value') throw new Error('shard not stored');
    return { v, name, shard: r.value.slice() };
  }

  for (const loc of ['end', 'start'] as const) {
    it(`a shard index entry pointing outside the shard is a CorruptionError (index at the ${loc})`, async () => {
      const { v, name, shard } = await shardedArray(loc);
      // 4 inner chunks x (offset, nbytes) uint64 = 64 bytes, then the crc32c.
      expect(shard.length).toBe(4 * 8 + 68);
      const idxStart = loc === 'end' ? shard.length - 68 : 0;
      const view = new DataView(shard.buffer, shard.byteOffset);
      view.setBigUint64(idxStart + 16 * 2, 5000n, true); // entry 2's offset
      view.setUint32(idxStart + 64, crc32c(shard.subarray(idxStart, idxStart + 64)), true);
      await mem.write(`${name}/c/0/1`, shard);
      const e = await rejects(v.read(), CorruptionError, 'c/0/1', 'outside');
      expect(e.key).toBe('c/0/1');
      // Read-modify-write of that shard refuses too (never writes over what it cannot parse).
      await rejects(v.slice([[0, 1], [4, 5]]).write(9), CorruptionError, 'c/0/1');
      // The other shard is fine.
      expect((await v.slice([[0, 4], [0, 4]]).read()).toFlat().every((x) => x === 3)).toBe(true);
    });

    it(`a shard smaller than its index is a CorruptionError (index at the ${loc})`, async () => {
      const { v, name, shard } = await shardedArray(loc);
      await mem.write(`${name}/c/0/1`, shard.subarray(0, 20));
      await rejects(v.read(), CorruptionError, 'c/0/1', 'smaller than');
    });
  }

  it('a shard index with a bad crc32c is a CorruptionError', async () => {
    const { v, name, shard } = await shardedArray('end');
    shard[shard.length - 10] ^= 1;
    await mem.write(`${name}/c/1/1`, shard);
    await rejects(v.read(), CorruptionError, 'c/1/1', 'crc32c');
  });
});

describe('regions outside the domain', () => {
  it('OutOfBoundsError names the dimension (index, label)', async () => {
    const v = await openZ3({ ...Z3, dimension_names: ['y', 'x'] });
    await rejects(() => v.slice([null, [0, 9]]), OutOfBoundsError, 'dim 1', '[0, 4)');
    await rejects(() => v.slice([7]), OutOfBoundsError, 'dim 0');
    await rejects(() => v.slice({ x: [2, 5] }), OutOfBoundsError, '"x"');
    await rejects(() => v.slice([null, [-1, 2]]), OutOfBoundsError, 'dim 1');
  });

  it('a spec transform reaching outside the domain', async () => {
    await rejects(
      open({ driver: 'zarr3', kvstore: `memory://${freshName('oob')}/`, create: true, dtype: 'uint8', schema: { domain: { shape: [4, 4] } }, transform: { input_inclusive_min: [0, 0], input_exclusive_max: [4, 9] } }),
      OutOfBoundsError, 'dim 1',
    );
  });

  it('a write of the wrong shape is rejected without touching the store', async () => {
    const name = freshName('shape');
    const v = await open({ driver: 'zarr3', kvstore: `memory://${name}/`, create: true, dtype: 'uint8', schema: { domain: { shape: [4, 4] } } });
    await rejects(v.write(NdArray.zeros('uint8', [3, 4], 1)), OutOfBoundsError, '[3,4]');
    const keys: string[] = [];
    for await (const k of mem.list(`${name}/`)) keys.push(k);
    expect(keys).toEqual([`${name}/zarr.json`]);
  });
});

describe('bad specs', () => {
  const url = () => `memory://${freshName('spec')}/`;
  it('unknown keys are SpecErrors naming them (top level, kvstore, context, schema)', async () => {
    expect((await rejects(open({ driver: 'zarr3', kvstore: url(), bogus: 1 }), SpecError, 'bogus')).field).toBe('bogus');
    expect((await rejects(open({ driver: 'zarr3', kvstore: { driver: 'memory', bogus: 1 } }), SpecError)).field).toBe('kvstore.bogus');
    expect((await rejects(open({ driver: 'zarr3', kvstore: url(), context: { bogus: {} } }), SpecError)).field).toBe('context.bogus');
    expect((await rejects(open({ driver: 'zarr3', kvstore: url(), context: { cache_pool: { bogus: 1 } } }), SpecError)).field).toBe('context.cache_pool.bogus');
    expect((await rejects(open({ driver: 'zarr3', kvstore: url(), schema: { bogus: 1 } }), SpecError)).field).toBe('schema.bogus');
    expect((await rejects(open({ driver: 'zarr3', kvstore: url(), schema: { chunk_layout: { bogus: 1 } } }), SpecError)).field).toBe('schema.chunk_layout.bogus');
    expect((await rejects(open({ driver: 'nosuch', kvstore: url() }), SpecError)).field).toBe('driver');
    expect((await rejects(open({ driver: 'zarr3', kvstore: { driver: 'nosuch' } }), SpecError)).field).toBe('kvstore.driver');
  });

  it('mistyped flags and flag combinations', async () => {
    expect((await rejects(open({ driver: 'zarr3', kvstore: url(), create: 'yes' }), SpecError, '"yes"')).field).toBe('create');
    expect((await rejects(open({ driver: 'zarr3', kvstore: url(), open: 1 }), SpecError)).field).toBe('open');
    expect((await rejects(open({ driver: 'zarr3', kvstore: url(), delete_existing: true }), SpecError)).field).toBe('delete_existing');
    expect((await rejects(open({ driver: 'zarr3', kvstore: url(), delete_existing: true, create: true, open: true }), SpecError)).field).toBe('delete_existing');
    expect((await rejects(open({ kvstore: url(), create: true }), SpecError)).field).toBe('driver');
  });

  it('open of a missing array is NotFoundError; create of an existing one is AlreadyExistsError', async () => {
    await rejects(open({ driver: 'zarr3', kvstore: url() }), NotFoundError, 'zarr.json');
    await rejects(open({ driver: 'zarr', kvstore: url() }), NotFoundError, '.zarray');
    await rejects(open(url()), NotFoundError);
    const u = await withMeta('zarr.json', Z3);
    const spec = { driver: 'zarr3', kvstore: u, create: true, dtype: 'uint16', schema: { domain: { shape: [4, 4] } } };
    await rejects(open(spec), AlreadyExistsError, 'zarr.json');
    // open + create opens it; delete_existing replaces it.
    await expect(open({ ...spec, open: true })).resolves.toBeDefined();
    const fresh = await open({ ...spec, delete_existing: true, dtype: 'uint8', schema: { domain: { shape: [2] } } });
    expect(fresh.dtype).toBe('uint8');
  });
});

describe('aborts', () => {
  it('an already-aborted signal rejects a read and an open with AbortError', async () => {
    const v = await openZ3(Z3);
    const ac = new AbortController();
    ac.abort();
    await rejects(v.read({ signal: ac.signal }), AbortError);
    await rejects(open({ driver: 'zarr3', kvstore: `memory://${freshName('ab')}/` }, { signal: ac.signal }), AbortError);
  });

  it('aborting during a read stops it with AbortError', async () => {
    const name = freshName('abr');
    const v = await open({ driver: 'zarr3', kvstore: `memory://${name}/`, create: true, dtype: 'uint8', schema: { domain: { shape: [64, 64] }, chunk_layout: { write_chunk: { shape: [4, 4] } } } });
    await v.write(1);
    const ac = new AbortController();
    const orig = MemoryStore.prototype.read;
    let reads = 0;
    vi.spyOn(MemoryStore.prototype, 'read').mockImplementation(function (this: MemoryStore, key, o) {
      if (++reads === 3) ac.abort(new Error('user cancelled'));
      return orig.call(this, key, o);
    });
    await rejects(v.read({ signal: ac.signal }), AbortError);
    expect(reads).toBeLessThan(256); // stopped early, not after all 256 chunks
  });
});

describe('nothing the user wrote is lost on failure', () => {
  /** Every chunk of the (8x8, chunks 2x2) array holds one value; returns the per-chunk values. */
  async function chunkValues(name: string, driver = 'zarr3'): Promise<number[]> {
    const v = await open({ driver, kvstore: `memory://${name}/` });
    const a = await v.read();
    const out: number[] = [];
    for (let i = 0; i < 8; i += 2) {
      for (let j = 0; j < 8; j += 2) {
        const vals = new Set([a.get([i, j]), a.get([i, j + 1]), a.get([i + 1, j]), a.get([i + 1, j + 1])]);
        expect(vals.size, `chunk ${i / 2},${j / 2} is torn`).toBe(1);
        out.push(vals.values().next().value as number);
      }
    }
    return out;
  }

  for (const layout of ['unsharded', 'sharded'] as const) {
    it(`abort mid-write (${layout}): chunks are old or new, never torn or lost`, async () => {
      const name = freshName('abw');
      const schema = layout === 'sharded'
        ? { domain: { shape: [8, 8] }, chunk_layout: { write_chunk: { shape: [4, 4] }, read_chunk: { shape: [2, 2] } } }
        : { domain: { shape: [8, 8] }, chunk_layout: { write_chunk: { shape: [2, 2] } } };
      const v = await open({ driver: 'zarr3', kvstore: `memory://${name}/`, create: true, dtype: 'uint16', schema });
      await v.write(1);
      const ac = new AbortController();
      const orig = MemoryStore.prototype.write;
      let writes = 0;
      vi.spyOn(MemoryStore.prototype, 'write').mockImplementation(function (this: MemoryStore, key, val, o) {
        if (++writes === 2) ac.abort();
        return orig.call(this, key, val, o);
      });
      // A partial write (RMW of the edge chunks) of 2 over [1, 7) x [1, 7).
      await rejects(v.slice([[1, 7], [1, 7]]).write(2, { signal: ac.signal }), AbortError);
      vi.restoreAllMocks();
      const a = await v.read();
      for (let i = 0; i < 8; i++) {
        for (let j = 0; j < 8; j++) {
          const x = a.get([i, j]);
          if (i === 0 || j === 0 || i === 7 || j === 7) expect(x, `[${i},${j}] outside the write`).toBe(1);
          else expect([1, 2], `[${i},${j}]`).toContain(x);
        }
      }
      // At least one unit (chunk or shard) was written before the abort, and it is complete.
      const twos = a.toFlat().filter((x) => x === 2).length;
      expect(twos).toBeGreaterThan(0);
      expect(twos).toBeLessThan(36);
    });
  }

  it('an encode failure part way leaves every chunk old or new', async () => {
    const name = freshName('encfail');
    const v = await open({ driver: 'zarr3', kvstore: `memory://${name}/`, create: true, dtype: 'uint16', schema: { domain: { shape: [8, 8] }, chunk_layout: { write_chunk: { shape: [2, 2] } } } });
    await v.write(NdArray.zeros('uint16', [8, 8], 1));
    // the planner encodes through encodeChunkUnlessFill where a driver has it, else encodeChunk
    const driver = v.driver as unknown as Record<'encodeChunk' | 'encodeChunkUnlessFill', (...a: unknown[]) => Promise<Uint8Array | null>>;
    let calls = 0;
    for (const m of ['encodeChunk', 'encodeChunkUnlessFill'] as const) {
      const orig = driver[m].bind(v.driver);
      driver[m] = async (...a: unknown[]) => {
        if (++calls === 5) throw new Error('encoder exploded');
        return orig(...a);
      };
    }
    await expect(v.write(2)).rejects.toThrow('encoder exploded');
    const values = await chunkValues(name);
    expect(values.filter((x) => x === 2).length).toBeGreaterThan(0);
    expect(values.filter((x) => x === 1).length).toBeGreaterThan(0);
    expect(values.every((x) => x === 1 || x === 2)).toBe(true);
  });
});
