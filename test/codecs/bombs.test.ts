/**
 * Decompression bombs: a small stored chunk that inflates to 200 MB must fail fast with a
 * CorruptionError naming the key and the limit, with memory staying far below the bomb's size.
 * The bombs are generated at test time (node:zlib streaming, or the xz / bzip2 / zstd CLIs fed
 * from a stream of zeros), so nothing large sits on disk or in the test's own memory.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createDeflate, createGzip } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { setNodeZlibEnabled } from '../../src/codecs/compression-util.js';
import type { BytesBytesCodec } from '../../src/codecs/codec.js';
import { zstdDecodedBound } from '../../src/codecs/zstd.js';
import { CorruptionError, MemoryStore, open } from '../../src/index.js';
import { Uint64ShardedStore } from '../../src/sharding/precomputed-store.js';
import { chunkIdKey, parseShardingSpec } from '../../src/sharding/precomputed.js';
import { decodedBytesBound } from '../../src/limits.js';
import { freshName, sharedMemory } from '../core/helpers.js';
import { load } from './helpers.js';

const BOMB = 200_000_000;
const ZEROS = new Uint8Array(1 << 20);
const mem = sharedMemory();
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

/** Streams BOMB zero bytes through a node:zlib compressor; returns the (small) output. */
async function zlibBomb(kind: 'gzip' | 'zlib'): Promise<Uint8Array> {
  const z = kind === 'gzip' ? createGzip({ level: 9 }) : createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  z.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise((resolve) => z.on('end', resolve));
  for (let n = 0; n < BOMB; n += ZEROS.length) {
    if (!z.write(ZEROS.subarray(0, Math.min(ZEROS.length, BOMB - n)))) await new Promise((r) => z.once('drain', r));
  }
  z.end();
  await done;
  return new Uint8Array(Buffer.concat(parts));
}

/** BOMB zeros piped through a CLI compressor (undefined when the tool is missing). */
function cliBomb(cmd: string): Uint8Array | undefined {
  const tool = cmd.split(' ')[0]!;
  if (!existsSync(`/usr/bin/${tool}`) && !existsSync(`/bin/${tool}`)) return undefined;
  const r = spawnSync('/bin/sh', ['-c', `head -c ${BOMB} /dev/zero | ${cmd}`], { maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr.toString()}`);
  return new Uint8Array(r.stdout);
}

/** A 64x64 uint8 zarr v2 array (4096-byte chunks) whose chunk "0.0" holds `chunk`. */
async function zarr2With(compressor: Record<string, unknown>, chunk: Uint8Array): Promise<string> {
  const name = freshName('bomb');
  const meta = { zarr_format: 2, shape: [64, 64], chunks: [64, 64], dtype: '|u1', compressor, fill_value: 0, order: 'C', filters: null };
  await mem.write(`${name}/.zarray`, enc(meta));
  await mem.write(`${name}/0.0`, chunk);
  return `memory://${name}/`;
}

/** Reads the array; expects a CorruptionError naming the key and the limit, memory bounded. */
async function expectBombRejected(url: string, key: string, limit: number): Promise<void> {
  const vol = await open(url);
  globalThis.gc?.();
  const before = process.memoryUsage();
  let err: unknown;
  try {
    await vol.read();
  } catch (e) {
    err = e;
  }
  const after = process.memoryUsage();
  expect(err, 'expected CorruptionError').toBeInstanceOf(CorruptionError);
  expect((err as Error).message).toContain(key);
  expect((err as Error).message).toContain(`limit of ${limit} bytes`);
  // far below the 200 MB the bomb inflates to (fflate may overshoot by one 16 KiB input slice)
  expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(BOMB / 4);
  expect(after.rss - before.rss).toBeLessThan(BOMB / 2);
}

const LIMIT_4096 = decodedBytesBound(4096); // a 64x64 uint8 chunk

describe('decompression bombs stop at the decoded-size limit', () => {
  afterEach(() => setNodeZlibEnabled(true));

  for (const kind of ['gzip', 'zlib'] as const) {
    it(`${kind} (node:zlib maxOutputLength)`, async () => {
      const bomb = await zlibBomb(kind);
      expect(bomb.length).toBeLessThan(BOMB / 500);
      await expectBombRejected(await zarr2With({ id: kind, level: 9 }, bomb), '0.0', LIMIT_4096);
    });

    it(`${kind} (fflate, as in browsers)`, async () => {
      setNodeZlibEnabled(false);
      const bomb = await zlibBomb(kind);
      await expectBombRejected(await zarr2With({ id: kind, level: 9 }, bomb), '0.0', LIMIT_4096);
    });
  }

  const bz2 = cliBomb('bzip2 -c -1');
  it.skipIf(!bz2)('bz2', async () => {
    await expectBombRejected(await zarr2With({ id: 'bz2', level: 1 }, bz2!), '0.0', LIMIT_4096);
  });

  const zstdStream = cliBomb('zstd -c -q -3');
  it.skipIf(!zstdStream)('zstd without a content size (bounded from the block headers)', async () => {
    await expectBombRejected(await zarr2With({ id: 'zstd', level: 3 }, zstdStream!), '0.0', LIMIT_4096);
  });

  const zstdSized = cliBomb(`zstd -c -q -3 --stream-size=${BOMB}`);
  it.skipIf(!zstdSized)('zstd with a content size', async () => {
    await expectBombRejected(await zarr2With({ id: 'zstd', level: 3 }, zstdSized!), '0.0', LIMIT_4096);
  });

  const xz = cliBomb('xz -c -0');
  it.skipIf(!xz)('xz (N5 block), and the xz decoder stays usable afterwards', async () => {
    const name = freshName('bomb-n5');
    await mem.write(`${name}/attributes.json`, enc({ dimensions: [64, 64], blockSize: [64, 64], dataType: 'uint8', compression: { type: 'xz', preset: 0 } }));
    const header = new Uint8Array([0, 0, 0, 2, 0, 0, 0, 64, 0, 0, 0, 64]);
    const block = new Uint8Array(header.length + xz!.length);
    block.set(header);
    block.set(xz!, header.length);
    await mem.write(`${name}/0/0`, block);
    await expectBombRejected(`memory://${name}/`, '0/0', LIMIT_4096);
    // the decoder's global lock was released: a valid xz chunk still decodes
    const c = (await load('xz', { preset: 0 })) as BytesBytesCodec;
    const small = spawnSync('/bin/sh', ['-c', 'printf volstore | xz -c'], {}).stdout;
    expect(new TextDecoder().decode(await c.decode(new Uint8Array(small)))).toBe('volstore');
  });

  it('gzip N5 block', async () => {
    const name = freshName('bomb-n5gz');
    await mem.write(`${name}/attributes.json`, enc({ dimensions: [64, 64], blockSize: [64, 64], dataType: 'uint8', compression: { type: 'gzip' } }));
    const bomb = await zlibBomb('gzip');
    const block = new Uint8Array(12 + bomb.length);
    block.set([0, 0, 0, 2, 0, 0, 0, 64, 0, 0, 0, 64]);
    block.set(bomb, 12);
    await mem.write(`${name}/0/0`, block);
    await expectBombRejected(`memory://${name}/`, '0/0', LIMIT_4096);
  });

  it('lz4 and blosc headers claiming more than the limit are rejected before decoding', async () => {
    const lz4 = new Uint8Array(1024);
    new DataView(lz4.buffer).setUint32(0, 200_000, true); // plausible for 1020 compressed bytes
    await expectBombRejected(await zarr2With({ id: 'lz4' }, lz4), '0.0', LIMIT_4096);
    const blosc = new Uint8Array(64);
    const v = new DataView(blosc.buffer);
    blosc[0] = 2;
    blosc[1] = 1;
    blosc[2] = 0x02; // memcpyed
    blosc[3] = 1;
    v.setUint32(4, 200_000, true);
    v.setUint32(8, 200_000, true);
    v.setUint32(12, 64, true);
    await expectBombRejected(await zarr2With({ id: 'blosc', cname: 'lz4', clevel: 5, shuffle: 0 }, blosc), '0.0', LIMIT_4096);
  });

  it('valid chunks at the limit still decode, for every compressor', async () => {
    const data = new Uint8Array(4096).map((_, i) => (i * 7919) % 251);
    for (const compressor of [{ id: 'gzip', level: 1 }, { id: 'zlib', level: 1 }, { id: 'bz2', level: 1 }, { id: 'zstd', level: 1 }, { id: 'lz4' }, { id: 'blosc', cname: 'zstd', clevel: 5, shuffle: 1 }]) {
      const url = await zarr2With(compressor, new Uint8Array(0));
      const vol = await open(url);
      await vol.write(new (await import('../../src/index.js')).NdArray('uint8', data, [64, 64]));
      expect([...(await vol.read()).data]).toEqual([...data]);
    }
  });
});

describe('neuroglancer_uint64_sharded_v1 gzip', () => {
  it('a gzip chunk or minishard index past its limit is a CorruptionError', async () => {
    const base = new MemoryStore();
    const spec = (data: 'raw' | 'gzip', index: 'raw' | 'gzip' = 'raw') => ({
      '@type': 'neuroglancer_uint64_sharded_v1' as const, preshift_bits: 0, hash: 'identity' as const, minishard_bits: 0, shard_bits: 0,
      minishard_index_encoding: index, data_encoding: data,
    });
    const bomb = await zlibBomb('gzip');
    // stored raw, read back as if data_encoding were gzip: the chunk is the bomb
    await new Uint64ShardedStore(base, spec('raw')).write(chunkIdKey(1n), bomb);
    const reader = new Uint64ShardedStore(base, spec('gzip'), { maxChunkBytes: 1 << 20 });
    const before = process.memoryUsage().arrayBuffers;
    await expect(reader.read(chunkIdKey(1n))).rejects.toSatisfy((e) => e instanceof CorruptionError && /limit of 1048576 bytes/.test((e as Error).message));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(BOMB / 4);
    // a small gzip chunk still reads
    const ok = new Uint64ShardedStore(new MemoryStore(), spec('gzip', 'gzip'), { maxChunkBytes: 1 << 20, maxMinishardIndexBytes: 1 << 16 });
    await ok.write(chunkIdKey(2n), new Uint8Array([1, 2, 3]));
    const r = await ok.read(chunkIdKey(2n));
    expect(r.state === 'value' && [...r.value]).toEqual([1, 2, 3]);
  });

  it('minishard_bits making an index over MAX_SHARD_INDEX_BYTES is a MetadataError', () => {
    const j = { '@type': 'neuroglancer_uint64_sharded_v1', preshift_bits: 0, hash: 'identity', minishard_bits: 30, shard_bits: 0 };
    expect(() => parseShardingSpec(j, 'sharding')).toThrow(/MAX_SHARD_INDEX_BYTES/);
  });
});

describe('zstdDecodedBound', () => {
  it('is exact for frames with a content size and within one block otherwise', async () => {
    const data = new Uint8Array(300_000).map((_, i) => (i % 97) ^ (i >> 9));
    const c = (await load('zstd', { level: 3, checksum: false })) as BytesBytesCodec;
    const framed = await c.encode(data);
    expect(zstdDecodedBound(framed)).toMatchObject({ exact: data.length, upper: data.length, sized: true, checksum: false });
    const cli = spawnSync('/bin/sh', ['-c', 'zstd -c -q -3'], { input: data });
    if (cli.status === 0) {
      const b = zstdDecodedBound(new Uint8Array(cli.stdout));
      expect(b.upper).toBeGreaterThanOrEqual(data.length);
      expect(b.upper).toBeLessThanOrEqual(data.length + 128 * 1024);
      expect(b.sized).toBe(false);
    }
  });

  it('rejects truncated frames with CorruptionError', () => {
    expect(() => zstdDecodedBound(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0x01]))).toThrow(CorruptionError);
  });
});
