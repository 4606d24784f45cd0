/**
 * Native codecs under Node: zstd through zstd-napi (an optional dependency) and gzip/zlib
 * through node:zlib, against the portable WASM / fflate paths and Debian's zstd CLI; and the
 * fallback to WASM when the native package cannot load.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { BytesBytesCodec } from '../../src/codecs/codec.js';
import { setNodeZlibEnabled } from '../../src/codecs/compression-util.js';
import { configureNativeCodecs, nativeZstd, nativeZstdLoaded } from '../../src/codecs/native.js';
import { zstd as wasmZstd } from '../../src/codecs/zstd.js';
import { CorruptionError } from '../../src/index.js';
import { mulberry32 } from '../../src/testing/prng.js';
import { load } from './helpers.js';

const HAVE_NATIVE = existsSync(new URL('../../node_modules/zstd-napi/build/Release/binding.node', import.meta.url));
const HAVE_ZSTD_CLI = existsSync('/usr/bin/zstd');

/** Compressible bytes: runs of a few random values (about 4x with zstd -3). */
function sample(n: number, seed = 1): Uint8Array {
  const r = mulberry32(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; ) {
    const v = (r() * 16) | 0;
    const run = 1 + ((r() * 8) | 0);
    for (let k = 0; k < run && i < n; k++) out[i++] = v * 16 + ((r() * 2) | 0);
  }
  return out;
}

function zstdCli(args: string[], input: Uint8Array): Uint8Array {
  const r = spawnSync('/usr/bin/zstd', args, { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`zstd ${args.join(' ')}: ${r.stderr.toString()}`);
  return new Uint8Array(r.stdout);
}

const zstdCodec = async (level = 3) => (await load('zstd', { level, checksum: false })) as BytesBytesCodec;

afterEach(() => {
  configureNativeCodecs({ enabled: true, zstdLoader: 'default' });
  setNodeZlibEnabled(true);
});

describe('native zstd (zstd-napi)', () => {
  it.skipIf(!HAVE_NATIVE)('loads under Node when the package is installed', async () => {
    const n = await nativeZstd();
    expect(n?.version).toMatch(/^1\.\d+\.\d+$/);
  });

  it.skipIf(!HAVE_NATIVE || !HAVE_ZSTD_CLI)('decodes exactly what the WASM decoder decodes, for CLI and library frames', async () => {
    const c = await zstdCodec();
    const wasm = await wasmZstd(3);
    for (const [i, n] of [0, 1, 1000, 131072, 131073, 700_000].entries()) {
      const data = sample(n, i + 1);
      const frames = [
        await wasm.encode(data), // numcodecs: content size in the header
        zstdCli(['-c', '-q', '-3'], data), // streaming CLI frame: no content size
        zstdCli(['-c', '-q', '-19', '--check'], data), // with a checksum
      ];
      for (const f of frames) {
        const ours = await c.decode(f, { maxDecodedBytes: 2 * n + 65536 });
        expect(nativeZstdLoaded()).toBeDefined();
        expect(Buffer.from(ours).equals(Buffer.from(await wasm.decode(f)))).toBe(true);
        expect(ours.length).toBe(n);
      }
    }
    // two frames back to back, and a skippable frame between them
    const a = sample(5000, 7), b = sample(3000, 8);
    const skippable = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    const cat = Buffer.concat([await wasm.encode(a), skippable, zstdCli(['-c', '-q'], b)]);
    expect(Buffer.from(await c.decode(new Uint8Array(cat))).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it.skipIf(!HAVE_NATIVE || !HAVE_ZSTD_CLI)('encodes frames the zstd CLI and the WASM decoder read back', async () => {
    const data = sample(300_000, 3);
    for (const level of [-5, 0, 1, 3, 9]) {
      const c = await zstdCodec(level);
      const enc = await c.encode(data);
      expect(nativeZstdLoaded()).toBeDefined();
      expect(Buffer.from(zstdCli(['-d', '-c', '-q'], enc)).equals(Buffer.from(data))).toBe(true);
      expect(Buffer.from(await (await wasmZstd(3)).decode(enc)).equals(Buffer.from(data))).toBe(true);
      expect(enc.buffer.byteLength).toBe(enc.length); // its own buffer, at its exact size
    }
  });

  it.skipIf(!HAVE_NATIVE)('reports corrupt and truncated frames as CorruptionError naming the key', async () => {
    const c = await zstdCodec();
    const enc = await c.encode(sample(100_000));
    const flipped = enc.slice();
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    for (const bad of [enc.subarray(0, enc.length - 10), flipped]) {
      const e = await Promise.resolve(c.decode(bad, { key: 'c/0/0', maxDecodedBytes: 300_000 })).then(() => undefined, (x: unknown) => x);
      // a flipped byte in a literal section can decode to wrong data of the right length only
      // when the frame has no checksum; a truncated frame or a broken sequence must fail
      if (bad === flipped && e === undefined) continue;
      expect(e).toBeInstanceOf(CorruptionError);
      expect((e as Error).message).toContain('c/0/0');
    }
  });

  it.skipIf(!HAVE_NATIVE)('stops at the decoded-size limit: frame headers, block headers, and the output buffer', async () => {
    const c = await zstdCodec();
    const data = sample(200_000);
    const sized = await c.encode(data);
    await expect(c.decode(sized, { key: 'k', maxDecodedBytes: 100_000 })).rejects.toThrow(/limit of 100000 bytes/);
    if (HAVE_ZSTD_CLI) {
      // no content size: the block headers bound it to within one block of the limit, then the
      // native decoder's output buffer (sized to the limit) stops it
      const stream = zstdCli(['-c', '-q', '-3'], data);
      await expect(c.decode(stream, { key: 'k', maxDecodedBytes: 199_000 })).rejects.toThrow(/limit of 199000 bytes/);
      expect((await c.decode(stream, { maxDecodedBytes: 200_000 })).length).toBe(200_000);
    }
  });

  it.skipIf(!HAVE_NATIVE)('decodes into a caller-provided output buffer (a worker\'s reused scratch): same bytes, same limits', async () => {
    const c = await zstdCodec();
    const data = sample(300_000, 9);
    const enc = await c.encode(data);
    const scratch = new Uint8Array(400_000).fill(0xaa);
    let asked = 0;
    const out = await c.decode(enc, { maxDecodedBytes: 400_000, output: (n) => scratch.subarray(0, (asked = n)) });
    expect(asked).toBe(300_000); // the frame says its size: exactly that is asked for
    expect(out.buffer).toBe(scratch.buffer);
    expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
    await expect(c.decode(enc, { key: 'k', maxDecodedBytes: 100_000, output: (n) => scratch.subarray(0, n) })).rejects.toThrow(/limit of 100000 bytes/);
  });

  it('pooled decodes fall back to WASM in workers too (VOLSTORE_NATIVE_CODECS=0 in the workers\' environment)', async () => {
    const { CodecWorkerPool } = await import('../../src/workers/pool.js');
    const { CodecChain } = await import('../../src/codecs/chain.js');
    const was = process.env.VOLSTORE_NATIVE_CODECS;
    process.env.VOLSTORE_NATIVE_CODECS = '0'; // what workers started now see
    const pool = new CodecWorkerPool({ size: 1, minDecodeBytes: 0, minEncodeBytes: 0 });
    try {
      expect(await pool.warm()).toBe(true);
      const chain = await CodecChain.create([{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd', configuration: { level: 3 } }], { dtype: 'uint8', shape: [200_000], fillValue: 0 });
      const data = sample(200_000, 12);
      const viaWorker = await chain.encode(new (await import('../../src/array/ndarray.js')).NdArray('uint8', data, [200_000]), { runner: pool });
      const back = await chain.decode(viaWorker, { runner: pool });
      expect(Buffer.from(back.data as Uint8Array).equals(Buffer.from(data))).toBe(true);
      expect(pool.stats.completed).toBe(2);
      // the worker encoded with numcodecs' WASM zstd (its frame differs from libzstd 1.5.7's here)
      const wasm = await wasmZstd(3);
      expect(Buffer.from(viaWorker).equals(Buffer.from(await wasm.encode(data)))).toBe(true);
      const native = await nativeZstd();
      if (native) expect(Buffer.from(viaWorker).equals(Buffer.from(native.encode(data, 3)))).toBe(false);
    } finally {
      pool.close();
      if (was === undefined) delete process.env.VOLSTORE_NATIVE_CODECS;
      else process.env.VOLSTORE_NATIVE_CODECS = was;
    }
  });

  it('falls back to WASM when the native package cannot load', async () => {
    configureNativeCodecs({
      zstdLoader: () => Promise.reject(Object.assign(new Error("Cannot find package 'zstd-napi'"), { code: 'ERR_MODULE_NOT_FOUND' })),
    });
    expect(await nativeZstd()).toBeUndefined();
    const c = await zstdCodec();
    const data = sample(50_000, 5);
    const enc = await c.encode(data);
    expect(Buffer.from(await c.decode(enc, { maxDecodedBytes: 200_000 })).equals(Buffer.from(data))).toBe(true);
    expect(nativeZstdLoaded()).toBeUndefined();
    // and the WASM bounds still hold (frame headers, and block headers for streaming frames)
    await expect(c.decode(enc, { key: 'k', maxDecodedBytes: 10_000 })).rejects.toThrow(/limit of 10000 bytes/);
    if (HAVE_ZSTD_CLI) {
      const stream = zstdCli(['-c', '-q', '-3'], sample(1_000_000, 6));
      await expect(c.decode(stream, { key: 'k', maxDecodedBytes: 100_000 })).rejects.toThrow(/limit of 100000 bytes/);
    }
    // frames from the native encoder decode on the WASM path and vice versa
    configureNativeCodecs({ zstdLoader: 'default' });
    if (HAVE_NATIVE) {
      const nativeEnc = await c.encode(data);
      expect(nativeZstdLoaded()).toBeDefined();
      configureNativeCodecs({ enabled: false });
      expect(Buffer.from(await c.decode(nativeEnc)).equals(Buffer.from(data))).toBe(true);
      configureNativeCodecs({ enabled: true });
      expect(Buffer.from(await c.decode(enc)).equals(Buffer.from(data))).toBe(true);
    }
  });
});

describe('gzip / zlib through node:zlib', () => {
  for (const name of ['gzip', 'zlib'] as const) {
    it(`${name}: node:zlib and fflate encodings decode identically on both paths`, async () => {
      const c = (await load(name, { level: 5 })) as BytesBytesCodec;
      const data = sample(250_000, 11);
      const viaNode = await c.encode(data);
      setNodeZlibEnabled(false);
      const viaFflate = await c.encode(data);
      for (const enc of [viaNode, viaFflate]) {
        expect(Buffer.from(await c.decode(enc, { maxDecodedBytes: 600_000 })).equals(Buffer.from(data))).toBe(true);
      }
      setNodeZlibEnabled(true);
      for (const enc of [viaNode, viaFflate]) {
        expect(Buffer.from(await c.decode(enc, { maxDecodedBytes: 600_000 })).equals(Buffer.from(data))).toBe(true);
      }
      // node:zlib's output is what the system gzip / zlib read
      if (name === 'gzip' && existsSync('/usr/bin/gzip')) {
        const r = spawnSync('/usr/bin/gzip', ['-d', '-c'], { input: viaNode, maxBuffer: 1 << 24 });
        expect(Buffer.from(r.stdout).equals(Buffer.from(data))).toBe(true);
      }
    });
  }
});
