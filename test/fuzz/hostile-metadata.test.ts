/**
 * Hostile metadata and spec JSON: nesting thousands deep, huge values, unknown codecs. Every
 * format must answer with a typed error naming the key (never a RangeError from a stack
 * overflow while an error message is formatted), and messages stay short whatever they print.
 */
import { describe, expect, it } from 'vitest';
import { MetadataError, SpecError, UnsupportedError, open } from '../../src/index.js';
import { MemoryStore } from '../../src/kvstore/memory.js';
import { describeJson, jsonBoundsProblem, MAX_JSON_DEPTH } from '../../src/util/json.js';

const mem = new MemoryStore('');
let uniq = 0;
const enc = (s: string) => new TextEncoder().encode(s);
const deep = (n: number, inner = '') => '['.repeat(n) + inner + ']'.repeat(n);

/** Stores `text` at `key` under a fresh memory:// root; returns its URL. */
async function stored(key: string, text: string): Promise<string> {
  const name = `hostile-${process.pid}-${++uniq}`;
  await mem.write(`${name}/${key}`, enc(text));
  return `memory://${name}/`;
}

const ZARRAY = (f: Record<string, string>) =>
  `{"zarr_format":2,"shape":${f.shape ?? '[4]'},"chunks":${f.chunks ?? '[2]'},"dtype":"<u2","compressor":${f.compressor ?? 'null'},"fill_value":${f.fill ?? '0'},"order":"C","filters":null}`;
const ZARR_JSON = (f: Record<string, string>) =>
  `{"zarr_format":3,"node_type":"array","shape":${f.shape ?? '[4]'},"data_type":"uint16","chunk_grid":{"name":"regular","configuration":{"chunk_shape":${f.chunks ?? '[2]'}}},"chunk_key_encoding":{"name":"default"},"fill_value":${f.fill ?? '0'},"codecs":${f.codecs ?? '[{"name":"bytes","configuration":{"endian":"little"}}]'}}`;
const N5 = (f: Record<string, string>) =>
  `{"dimensions":${f.shape ?? '[4]'},"blockSize":${f.chunks ?? '[2]'},"dataType":"uint16","compression":${f.compressor ?? '{"type":"raw"}'}}`;
const INFO = (f: Record<string, string>) =>
  `{"@type":"neuroglancer_multiscale_volume","type":"image","data_type":"uint8","num_channels":1,"scales":[{"key":"s0","size":${f.shape ?? '[4,4,4]'},"resolution":[1,1,1],"voxel_offset":[0,0,0],"chunk_sizes":${f.chunks ?? '[[2,2,2]]'},"encoding":"raw"}]}`;

const FORMATS = [
  ['zarr', '.zarray', ZARRAY],
  ['zarr3', 'zarr.json', ZARR_JSON],
  ['n5', 'attributes.json', N5],
  ['neuroglancer_precomputed', 'info', INFO],
] as const;

/** The error `p` rejects with (fails the test if it resolves). */
async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('metadata nested thousands deep', () => {
  for (const [driver, key, make] of FORMATS) {
    for (const field of ['shape', 'chunks', 'fill'] as const) {
      if (field === 'fill' && (driver === 'n5' || driver === 'neuroglancer_precomputed')) continue;
      it(`${driver} ${key} "${field}" nested 5,000 and 100,000 deep is MetadataError naming the key`, async () => {
        for (const n of [5000, 100_000]) {
          const url = await stored(key, make({ [field]: deep(n, '1') }));
          for (const d of [driver, undefined]) {
            const e = await errorOf(open(d ? { driver: d, kvstore: url } : url));
            expect(e, `${e}`).toBeInstanceOf(MetadataError);
            expect(e.message).toContain(key);
            expect(e.message.length).toBeLessThan(1000);
          }
        }
      });
    }
  }

  it('nesting up to the limit is accepted where the format allows any JSON (user attributes)', async () => {
    const attrs = `{"a":${deep(MAX_JSON_DEPTH - 2, '1')}}`;
    const url = await stored('zarr.json', ZARR_JSON({}).replace(/}$/, `,"attributes":${attrs}}`));
    const v = await open(url);
    expect(v.dtype).toBe('uint16');
    const over = await stored('zarr.json', ZARR_JSON({}).replace(/}$/, `,"attributes":{"a":${deep(MAX_JSON_DEPTH, '1')}}}`));
    await expect(open(over)).rejects.toBeInstanceOf(MetadataError);
  });

  it('a spec nested 5,000 deep is SpecError, for every driver', async () => {
    let nested: unknown = 1;
    for (let i = 0; i < 5000; i++) nested = [nested];
    for (const driver of ['zarr', 'zarr3', 'n5', 'neuroglancer_precomputed']) {
      const e = await errorOf(open({ driver, kvstore: 'memory://deep-spec/', create: true, metadata: { shape: nested } }));
      expect(e, `${driver}: ${e}`).toBeInstanceOf(SpecError);
    }
  });
});

describe('metadata with huge values prints short messages', () => {
  for (const [driver, key, make] of FORMATS) {
    it(`${driver}: a 1,000,000-entry shape and a 1 MB string are typed errors with messages under 1,000 characters`, async () => {
      const big = `[${Array.from({ length: 1_000_000 }, () => '-1').join(',')}]`;
      for (const text of [make({ shape: big }), make({ chunks: big }), make({ shape: JSON.stringify('x'.repeat(1 << 20)) })]) {
        const e = await errorOf(open({ driver, kvstore: await stored(key, text) }));
        expect(e, `${e}`).toBeInstanceOf(MetadataError);
        expect(e.message.length).toBeLessThan(1000);
      }
    });
  }
});

describe('an unknown zarr v3 codec', () => {
  it('names the metadata key of the array, the codec and where it sits', async () => {
    const url = await stored('zarr.json', ZARR_JSON({ codecs: '[{"name":"bytes","configuration":{"endian":"little"}},{"name":"no-such-codec"}]' }));
    const e = await errorOf(open(url));
    expect(e).toBeInstanceOf(UnsupportedError);
    expect(e.message).toContain(`${url}zarr.json`);
    expect(e.message).toContain('"no-such-codec"');
    expect(e.message).toContain('codecs[1]');
  });

  it('inside a shard: names the array and the nested position', async () => {
    const codecs = '[{"name":"sharding_indexed","configuration":{"chunk_shape":[1],"codecs":[{"name":"bytes","configuration":{"endian":"little"}},{"name":"zfp"}],"index_codecs":[{"name":"bytes","configuration":{"endian":"little"}}]}}]';
    const url = await stored('zarr.json', ZARR_JSON({ codecs }));
    const e = await errorOf(open(url));
    expect(e).toBeInstanceOf(UnsupportedError);
    expect(e.message).toContain(`${url}zarr.json`);
    expect(e.message).toContain('codecs[0].configuration.codecs[1]');
  });
});

describe('json bounds helpers', () => {
  it('jsonBoundsProblem walks any depth without recursion; describeJson is bounded', () => {
    let v: unknown = 0;
    for (let i = 0; i < 1_000_000; i++) v = { a: v };
    expect(jsonBoundsProblem(v)).toMatch(/nested more than 128/);
    expect(jsonBoundsProblem({ a: [1, { b: 2 }] })).toBeUndefined();
    expect(describeJson(v).length).toBeLessThanOrEqual(200);
    expect(describeJson(v)).toContain('{…}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(jsonBoundsProblem(cyclic)).toBeDefined();
    expect(describeJson(cyclic).length).toBeLessThanOrEqual(200);
    expect(describeJson([1, 'a', null, { k: true }, 2n])).toBe('[1,"a",null,{"k":true},2]');
    expect(describeJson(new Array(1e6).fill(7))).toMatch(/^\[7,7,.*…$/);
  });
});
