/**
 * Format fuzzing through the public API: arrays of every format (zarr v2, zarr v3 with and
 * without sharding, N5, neuroglancer precomputed raw/compressed_segmentation/png/jpeg, sharded
 * and not) are written to a memory store, then one stored value is mutated (metadata as JSON or
 * as bytes, chunk bytes, zarr3 shard indexes, N5 block headers, precomputed shard and minishard
 * indexes) and the array is opened and read whole. Every outcome must be data or a typed error,
 * in bounded time and memory, and the same on a second open+read after the decoders' scratch
 * memory was filled with another array's bytes. Fixed seed; VOLSTORE_FUZZ_SCALE scales the runs.
 */
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { buildPrecomputedVolume } from '../../src/drivers/precomputed-info.js';
import { NdArray, open } from '../../src/index.js';
import { listAll } from '../../src/kvstore/kvstore.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { mulberry32 } from '../../src/testing/prng.js';
import { SCALE, SEED, expectBoundedMemory, expectSameOutcome, mutate, mutationsArb, poison, settle } from './fuzz-helpers.js';

const mem = new MemoryStore('');
let uniq = 0;
const fresh = (tag: string) => `fuzz-${tag}-${process.pid}-${++uniq}`;
const bytesLE = { name: 'bytes', configuration: { endian: 'little' } };

interface FormatCase {
  name: string;
  /** Creates the array (spec without kvstore) and the data written to it. */
  create: () => { spec: Record<string, unknown>; dtype: string; shape: number[] };
  /** Which stored keys are metadata (JSON). */
  metadata: string[];
}

const CASES: FormatCase[] = [
  {
    name: 'zarr2 blosc lz4',
    create: () => ({ spec: { driver: 'zarr', metadata: { shape: [12, 10], chunks: [5, 4], dtype: '<u2', compressor: { id: 'blosc', cname: 'lz4', clevel: 5, shuffle: 1 } } }, dtype: 'uint16', shape: [12, 10] }),
    metadata: ['.zarray'],
  },
  {
    name: 'zarr2 F-order zlib float32',
    create: () => ({ spec: { driver: 'zarr', metadata: { shape: [9, 7], chunks: [4, 4], dtype: '>f4', order: 'F', compressor: { id: 'zlib', level: 1 } } }, dtype: 'float32', shape: [9, 7] }),
    metadata: ['.zarray'],
  },
  {
    name: 'zarr3 sharded (index at the end, crc32c) zstd',
    create: () => ({
      spec: {
        driver: 'zarr3',
        metadata: {
          shape: [12, 10], data_type: 'int16', chunk_grid: { name: 'regular', configuration: { chunk_shape: [8, 8] } },
          codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [4, 4], codecs: [bytesLE, { name: 'zstd', configuration: { level: 1 } }], index_codecs: [bytesLE, { name: 'crc32c' }], index_location: 'end' } }],
        },
      },
      dtype: 'int16', shape: [12, 10],
    }),
    metadata: ['zarr.json'],
  },
  {
    name: 'zarr3 sharded (index at the start, no checksum) gzip',
    create: () => ({
      spec: {
        driver: 'zarr3',
        metadata: {
          shape: [10, 10], data_type: 'uint32', chunk_grid: { name: 'regular', configuration: { chunk_shape: [10, 10] } },
          codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [5, 2], codecs: [bytesLE, { name: 'gzip', configuration: { level: 1 } }], index_codecs: [bytesLE], index_location: 'start' } }],
        },
      },
      dtype: 'uint32', shape: [10, 10],
    }),
    metadata: ['zarr.json'],
  },
  {
    name: 'zarr3 transpose + blosc',
    create: () => ({
      spec: {
        driver: 'zarr3',
        metadata: {
          shape: [9, 11], data_type: 'uint8', chunk_grid: { name: 'regular', configuration: { chunk_shape: [4, 5] } },
          codecs: [{ name: 'transpose', configuration: { order: [1, 0] } }, bytesLE, { name: 'blosc', configuration: { cname: 'zstd', clevel: 3, shuffle: 'bitshuffle', typesize: 1 } }],
        },
      },
      dtype: 'uint8', shape: [9, 11],
    }),
    metadata: ['zarr.json'],
  },
  {
    name: 'n5 gzip',
    create: () => ({ spec: { driver: 'n5', metadata: { dimensions: [10, 7], blockSize: [4, 3], dataType: 'int16', compression: { type: 'gzip' } } }, dtype: 'int16', shape: [10, 7] }),
    metadata: ['attributes.json'],
  },
  {
    name: 'n5 raw uint64',
    create: () => ({ spec: { driver: 'n5', metadata: { dimensions: [5, 6], blockSize: [2, 4], dataType: 'uint64', compression: { type: 'raw' } } }, dtype: 'uint64', shape: [5, 6] }),
    metadata: ['attributes.json'],
  },
  {
    name: 'n5 lz4',
    create: () => ({ spec: { driver: 'n5', metadata: { dimensions: [9, 9], blockSize: [3, 3], dataType: 'float32', compression: { type: 'lz4' } } }, dtype: 'float32', shape: [9, 9] }),
    metadata: ['attributes.json'],
  },
  ...(
    [
      ['raw', 'uint8', 'none', 1],
      ['compressed_segmentation', 'uint64', 'rectangular', 1],
      ['compressed_segmentation', 'uint32', 'none', 2],
      ['png', 'uint16', 'none', 1],
      ['jpeg', 'uint8', 'none', 3],
      ['raw', 'uint16', 'rectangular-gzip', 1],
    ] as const
  ).map(([encoding, dtype, sharding, channels]): FormatCase => ({
    name: `precomputed ${encoding} ${dtype} sharding=${sharding}`,
    create: () => {
      const shape = [12, 9, 5, channels];
      const { spec } = buildPrecomputedVolume({
        dtype, shape, chunk: [8, 4, 4], encoding, blockSize: [4, 2, 2],
        sharding: sharding === 'none' ? 'none' : 'rectangular', shardShape: [16, 8, 8], shardDataGzip: sharding === 'rectangular-gzip',
      });
      return { spec, dtype, shape };
    },
    metadata: ['info'],
  })),
];

/** A deterministic fill of the whole array. */
function data(dtype: string, shape: number[], seed: number): NdArray {
  const a = NdArray.zeros(dtype as never, shape);
  const r = mulberry32(seed);
  const d = a.data as unknown as unknown[];
  let v = 1;
  for (let i = 0; i < d.length; i++) {
    if (r() < 0.3) v = Math.floor(r() * 200);
    d[i] = dtype.endsWith('64') ? BigInt(v) * 4294967311n : dtype.startsWith('float') ? v / 3 : v;
  }
  return a;
}

/** A JSON-level mutation of a metadata document: replace or delete the value at a random path. */
const jsonMutationArb = fc.record({
  path: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
  action: fc.oneof(
    fc.record({ kind: fc.constant<'delete'>('delete') }),
    fc.record({ kind: fc.constant<'set'>('set'), value: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(-1, 2 ** 53, 1e308, 'NaN', '', [0], [1e9, 1e9, 1e9], [[[[[[1]]]]]])) }),
  ),
});

function mutateJson(bytes: Uint8Array, m: { path: number[]; action: { kind: 'delete' } | { kind: 'set'; value: unknown } }): Uint8Array {
  const root = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  let parent: Record<string | number, unknown> | undefined;
  let key: string | number | undefined;
  let cur: unknown = root;
  for (const step of m.path) {
    if (typeof cur !== 'object' || cur === null) break;
    const keys = Array.isArray(cur) ? cur.map((_, i) => i) : Object.keys(cur);
    if (keys.length === 0) break;
    key = keys[step % keys.length]!;
    parent = cur as Record<string | number, unknown>;
    cur = parent[key];
  }
  if (parent !== undefined && key !== undefined) {
    if (m.action.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
    } else parent[key] = m.action.value;
  }
  return new TextEncoder().encode(JSON.stringify(root));
}

const built = new Map<string, { root: string; keys: string[]; spec: Record<string, unknown> }>();

beforeAll(async () => {
  for (const c of CASES) {
    const { spec, dtype, shape } = c.create();
    const root = fresh('base');
    const kvstore = `memory://${root}/`;
    const v = await open({ ...spec, kvstore, create: true });
    await v.write(data(dtype, shape, uniq));
    const keys = (await listAll(mem, `${root}/`)).map((k) => k.slice(root.length + 1));
    built.set(c.name, { root, keys, spec: { driver: spec.driver, kvstore } });
  }
}, 60_000);

describe('format fuzzing: data or a typed error, the same whatever the scratch memory held', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const base = built.get(c.name)!;
      const others = [...built.values()].filter((b) => b !== base);
      const readOther = (i: number) => async () => (await open(others[i % others.length]!.spec)).read();
      const target = fc.oneof(
        { weight: 3, arbitrary: fc.record({ key: fc.nat(), muts: mutationsArb, json: fc.constant(undefined) }) },
        { weight: 1, arbitrary: fc.record({ key: fc.constant(-1), muts: fc.constant([]), json: jsonMutationArb }) },
      );
      await fc.assert(
        fc.asyncProperty(target, fc.nat(), async (t, which) => {
          const root = fresh('mut');
          const metaKeys = base.keys.filter((k) => c.metadata.includes(k));
          const key = t.key < 0 ? metaKeys[0]! : base.keys[t.key % base.keys.length]!;
          for (const k of base.keys) {
            const r = await mem.read(`${base.root}/${k}`);
            if (r.state !== 'value') continue;
            let v = r.value;
            if (k === key) v = t.json ? mutateJson(v, t.json) : mutate(v, t.muts);
            await mem.write(`${root}/${k}`, v);
          }
          const kvstore = `memory://${root}/`;
          const readAll = async () => (await (await open({ driver: base.spec.driver, kvstore })).read()).toFlat();
          await poison(0xa5, [1024, 4096], readOther(which));
          const first = await settle(readAll);
          await poison(0x5a, [1024, 4096], readOther(which + 1));
          const second = await settle(readAll);
          expectSameOutcome(first, second, `${c.name}: ${key}`);
          await expectBoundedMemory();
          await mem.deleteRange(`${root}/`);
        }),
        { numRuns: 20 * SCALE, seed: SEED },
      );
    });
  }
});
