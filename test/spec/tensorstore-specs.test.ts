/**
 * Specs of the kinds TensorStore's documentation shows that volstore used to reject (issue 8
 * §5): zarr3 codec lists without an array->bytes codec, `bytes` without `endian`, relative
 * `file` paths, the gcs kvstore's billing project, zarr v2 `field`, and implicit / infinite
 * bounds in a spec's transform.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import FileSystemStore from '@zarrita/storage/fs';
import * as zarr from 'zarrita';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NdArray, NotFoundError, open, SpecError, UnsupportedError } from '../../src/index.js';
import { parseKvStore } from '../../src/kvstore/spec.js';
import { fixture } from '../fixture-path.js';

const FIX = fixture();
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-ts-specs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function zarritaFlat(p: string): Promise<number[]> {
  const arr = await zarr.open(new FileSystemStore(p), { kind: 'array' });
  const r = (await zarr.get(arr)) as { data: ArrayLike<number> };
  return Array.from(r.data);
}

/** A copy of a zarr-python v3 fixture with its zarr.json edited. */
async function editedFixture(name: string, edit: (meta: Record<string, unknown>) => void): Promise<string> {
  const p = path.join(dir, `${name}-${Math.random().toString(36).slice(2)}`);
  await cp(`${FIX}/zarr-python/v3.zarr/${name}`, p, { recursive: true });
  const meta = JSON.parse(await readFile(path.join(p, 'zarr.json'), 'utf8'));
  edit(meta);
  await writeFile(path.join(p, 'zarr.json'), JSON.stringify(meta));
  return p;
}

describe('zarr3 codecs', () => {
  it('a codec list with no array->bytes codec gets the default bytes codec (create)', async () => {
    const p = path.join(dir, 'blosc-only');
    const spec = {
      driver: 'zarr3',
      kvstore: { driver: 'file', path: `${p}/` },
      metadata: {
        shape: [100, 200],
        chunk_grid: { name: 'regular', configuration: { chunk_shape: [50, 50] } },
        chunk_key_encoding: { name: 'default' },
        data_type: 'uint16',
        codecs: [{ name: 'blosc', configuration: { cname: 'lz4', clevel: 5, shuffle: 'shuffle' } }],
      },
      create: true,
    };
    const v = await open(spec);
    const a = NdArray.zeros('uint16', [100, 200]);
    (a.data as Uint16Array).forEach((_, i, d) => (d[i] = (i * 31) % 65536));
    await v.write(a);
    const meta = JSON.parse(await readFile(path.join(p, 'zarr.json'), 'utf8'));
    expect(meta.codecs.map((c: { name: string }) => c.name)).toEqual(['bytes', 'blosc']);
    expect(meta.codecs[0].configuration).toEqual({ endian: 'little' });
    expect(await zarritaFlat(p)).toEqual(a.toFlat()); // another implementation reads it
  });

  it('reads zarr-python data whose zarr.json lists only blosc (bytes implied) or bytes without endian', async () => {
    const want = (await (await open(`file://${FIX}/zarr-python/v3.zarr/3d.chunked.i2/`)).read()).toFlat();
    const noBytes = await editedFixture('3d.chunked.i2', (m) => {
      m.codecs = (m.codecs as { name: string }[]).filter((c) => c.name !== 'bytes');
    });
    expect((await (await open(`file://${noBytes}/`)).read()).toFlat()).toEqual(want);
    const noEndian = await editedFixture('3d.chunked.i2', (m) => {
      m.codecs = (m.codecs as { name: string }[]).map((c) => (c.name === 'bytes' ? { name: 'bytes' } : c));
    });
    expect((await (await open(`file://${noEndian}/`)).read()).toFlat()).toEqual(want);
    // Inside a shard too: inner codecs without bytes, index codecs with bytes lacking endian.
    const sharded = await editedFixture('3d.chunked.compressed.sharded.i2', (m) => {
      const conf = (m.codecs as { configuration: { codecs: { name: string }[]; index_codecs: { name: string }[] } }[])[0]!.configuration;
      conf.codecs = conf.codecs.filter((c) => c.name !== 'bytes');
      conf.index_codecs = conf.index_codecs.map((c) => (c.name === 'bytes' ? { name: 'bytes' } : c));
    });
    const shardedWant = (await (await open(`file://${FIX}/zarr-python/v3.zarr/3d.chunked.compressed.sharded.i2/`)).read()).toFlat();
    expect((await (await open(`file://${sharded}/`)).read()).toFlat()).toEqual(shardedWant);
  });

  it('{"name": "bytes"} without endian creates little-endian data', async () => {
    const p = path.join(dir, 'bytes-no-endian');
    const v = await open({ driver: 'zarr3', kvstore: `file://${p}/`, create: true, dtype: 'int32', schema: { domain: { shape: [6] }, codec: { driver: 'zarr3', codecs: [{ name: 'bytes' }] } } });
    await v.write(new NdArray('int32', Int32Array.from([1, -2, 3, -4, 5, 0x01020304]), [6]));
    const chunk = await readFile(path.join(p, 'c', '0'));
    expect([...chunk.subarray(20, 24)]).toEqual([4, 3, 2, 1]);
    expect(await zarritaFlat(p)).toEqual([1, -2, 3, -4, 5, 0x01020304]);
  });
});

describe('relative file paths resolve against the working directory', () => {
  it('in kvstore specs and file:// URLs', async () => {
    const rel = 'test/fixtures/zarr-python/v2.zarr/3d.chunked.i2';
    expect(parseKvStore({ driver: 'file', path: rel }, 'kvstore').path).toBe(path.resolve(rel));
    expect(parseKvStore({ driver: 'file', path: `./x/../${rel}/` }, 'kvstore').path).toBe(`${path.resolve(rel)}/`);
    expect(parseKvStore(`file://${rel}`, 'kvstore').path).toBe(path.resolve(rel));
    const want = (await (await open(`file://${path.resolve(rel)}/`)).read()).toFlat();
    const viaSpec = await open({ driver: 'zarr', kvstore: { driver: 'file', path: rel } });
    expect((await viaSpec.read()).toFlat()).toEqual(want);
    expect((await (await open(`file://${rel}/`)).read()).toFlat()).toEqual(want);
    expect((viaSpec.spec().kvstore as { path: string }).path).toBe(`${path.resolve(rel)}/`);
  });
});

describe('gcs kvstore billing project (requester pays)', () => {
  it('user_project, gcs_user_project {project_id} and the context resource are sent as userProject', async () => {
    const urls: string[] = [];
    const server = createServer((req, res) => {
      urls.push(req.url ?? '');
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":404,"message":"No such object"}}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const cases: [Record<string, unknown>, Record<string, unknown>, string][] = [
        [{ user_project: 'proj-a' }, {}, 'proj-a'],
        [{ gcs_user_project: { project_id: 'proj-b' } }, {}, 'proj-b'],
        [{}, { gcs_user_project: { project_id: 'proj-c' } }, 'proj-c'],
        [{ gcs_user_project: 'gcs_user_project' }, { gcs_user_project: { project_id: 'proj-d' } }, 'proj-d'],
      ];
      for (const [kv, context, project] of cases) {
        urls.length = 0;
        await expect(open({ driver: 'zarr3', kvstore: { driver: 'gcs', bucket: 'b', path: 'em/', endpoint, ...kv }, context })).rejects.toThrow(NotFoundError);
        expect(urls.length).toBeGreaterThan(0);
        for (const u of urls) expect(new URL(u, endpoint).searchParams.get('userProject'), u).toBe(project);
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
    await expect(open({ driver: 'zarr3', kvstore: { driver: 'gcs', bucket: 'b', gcs_user_project: 5 } })).rejects.toThrow(/kvstore\.gcs_user_project/);
  });
});

describe('zarr v2 field (structured dtypes)', () => {
  it('is a typed UnsupportedError naming "field", not an unknown key', async () => {
    const spec = { driver: 'zarr', kvstore: `file://${FIX}/zarr-python/v2.zarr/3d.chunked.i2/`, field: 'r' };
    const e = await open(spec).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UnsupportedError);
    expect((e as Error).message).toMatch(/"field"/);
    expect(e).not.toBeInstanceOf(SpecError);
    const p = path.join(dir, 'structured');
    await cp(`${FIX}/zarr-python/v2.zarr/3d.chunked.i2`, p, { recursive: true });
    const meta = JSON.parse(await readFile(path.join(p, '.zarray'), 'utf8'));
    await writeFile(path.join(p, '.zarray'), JSON.stringify({ ...meta, dtype: [['r', '|u1'], ['g', '|u1']], fill_value: null }));
    await expect(open(`file://${p}/`)).rejects.toThrow(UnsupportedError);
  });
});

describe('implicit and infinite bounds in a spec transform', () => {
  const base = `file://${FIX}/zarr-python/v2.zarr/3d.chunked.i2/`; // [3, 3, 3]
  let all: NdArray;
  beforeAll(async () => {
    all = await (await open(base)).read();
  });

  it('implicit bounds (["-inf"], ["+inf"], [n], or none) take the array bounds at open', async () => {
    const cases: [Record<string, unknown>, number[], number[]][] = [
      [{ input_rank: 3 }, [0, 0, 0], [3, 3, 3]],
      [{ input_inclusive_min: [['-inf'], ['-inf'], ['-inf']], input_exclusive_max: [['+inf'], ['+inf'], ['+inf']] }, [0, 0, 0], [3, 3, 3]],
      [{ input_inclusive_min: [1, ['-inf'], 0], input_exclusive_max: [['+inf'], [2], 2], input_labels: ['z', 'y', 'x'] }, [1, 0, 0], [3, 3, 2]],
      [{ input_inclusive_min: [['-inf'], 0, 0], input_shape: [[7], 3, 3] }, [0, 0, 0], [3, 3, 3]],
    ];
    for (const [transform, lo, hi] of cases) {
      const v = await open({ driver: 'zarr', kvstore: base, transform });
      expect(v.domain.inclusiveMin, JSON.stringify(transform)).toEqual(lo);
      expect(v.domain.exclusiveMax, JSON.stringify(transform)).toEqual(hi);
      const got = (await v.read()).toFlat();
      const want: unknown[] = [];
      for (let z = lo[0]!; z < hi[0]!; z++) for (let y = lo[1]!; y < hi[1]!; y++) for (let x = lo[2]!; x < hi[2]!; x++) want.push(all.get([z, y, x]));
      expect(got).toEqual(want);
      expect(JSON.stringify(v.spec().transform)).not.toMatch(/inf/); // resolved: explicit from here on
    }
  });

  it('through output maps with offsets and negative strides', async () => {
    const v = await open({ driver: 'zarr', kvstore: base, transform: { input_rank: 3, output: [{ input_dimension: 0, offset: 1 }, { input_dimension: 1, offset: 2, stride: -1 }, { input_dimension: 2 }] } });
    expect(v.domain.inclusiveMin).toEqual([-1, 0, 0]);
    expect(v.domain.exclusiveMax).toEqual([2, 3, 3]);
    const a = await v.read();
    // The result is zero-based: result [i, j, k] is view [i - 1, j, k] = array [i, 2 - j, k].
    expect(a.get([0, 0, 0])).toBe(all.get([0, 2, 0]));
    expect(a.get([2, 2, 1])).toBe(all.get([2, 0, 1]));
  });

  it('explicit infinite bounds are a SpecError naming the field', async () => {
    const e = await open({ driver: 'zarr', kvstore: base, transform: { input_inclusive_min: ['-inf', 0, 0], input_exclusive_max: [3, 3, 3] } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SpecError);
    expect((e as SpecError).field).toBe('transform.input_inclusive_min[0]');
    await expect(open({ driver: 'zarr', kvstore: base, transform: { input_inclusive_min: [0, 0, 0], input_exclusive_max: [3, 3, '+inf'] } })).rejects.toThrow(/transform\.input_exclusive_max\[2\]/);
    await expect(open({ driver: 'zarr', kvstore: base, transform: { input_inclusive_min: [0, 0, 0], input_exclusive_max: [4, 3, 3] } })).rejects.toThrow();
  });
});

describe('docs/compatibility.md', () => {
  it('has a row per driver and kvstore', async () => {
    const doc = await readFile('docs/compatibility.md', 'utf8');
    for (const d of ['zarr3', 'zarr', 'n5', 'neuroglancer_precomputed', 'file', 'memory', 'gcs', 's3', 'http']) expect(doc).toMatch(new RegExp(`^\\| \`${d}\``, 'm'));
  });
});
