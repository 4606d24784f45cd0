import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { BytesBytesCodec } from '../../src/codecs/codec.js';
import { setNodeZlibEnabled } from '../../src/codecs/compression-util.js';
import { VolstoreError } from '../../src/errors.js';
import { hasPython, load, python } from './helpers.js';

const CODECS: [string, Record<string, unknown>][] = [
  ['gzip', { level: 5 }],
  ['zlib', { level: 1 }],
  ['bz2', { level: 1 }],
  ['lz4', { acceleration: 1 }],
  ['zstd', { level: 3, checksum: false }],
  ['blosc', { cname: 'lz4', clevel: 5, shuffle: 'shuffle', typesize: 2, blocksize: 0 }],
  ['blosc', { cname: 'zstd', clevel: 3, shuffle: 'bitshuffle', typesize: 4, blocksize: 256 }],
  ['blosc', { cname: 'zlib', clevel: 9, shuffle: 'noshuffle', typesize: 8, blocksize: 0 }],
  ['blosc', { cname: 'blosclz', clevel: 5, shuffle: 'shuffle', typesize: 2, blocksize: 0 }],
  ['shuffle', { elementsize: 1 }],
];
const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 3000 }),
  fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3000 }).map((a) => Uint8Array.from(a)),
);

async function bb(name: string, conf: Record<string, unknown>): Promise<BytesBytesCodec> {
  return (await load(name, conf)) as BytesBytesCodec;
}

/** Decoding must give back the input or a typed error; never hang, never another value silently. */
async function decodeIsTypedOrCorrect(c: BytesBytesCodec, bad: Uint8Array, original?: Uint8Array): Promise<void> {
  try {
    const out = await c.decode(bad, { key: 'k/0' });
    if (original) expect(Buffer.from(out).equals(Buffer.from(original))).toBe(true);
  } catch (e) {
    expect(e).toBeInstanceOf(VolstoreError);
  }
}

for (const nodePath of [true, false]) {
  describe(`bytes->bytes codecs (node zlib fast path ${nodePath ? 'on' : 'off'})`, () => {
    setNodeZlibEnabled(nodePath);
    afterAll(() => setNodeZlibEnabled(true));
    for (const [name, conf] of CODECS) {
      if (!nodePath && name !== 'gzip' && name !== 'zlib') continue;
      const label = `${name} ${JSON.stringify(conf)}`;
      it(`${label}: round-trips random bytes`, async () => {
        setNodeZlibEnabled(nodePath);
        const c = await bb(name, conf);
        expect(c.toJSON()).toEqual({ name, configuration: expect.objectContaining(conf) });
        await fc.assert(
          fc.asyncProperty(bytesArb, async (data) => {
            const enc = await c.encode(data);
            const dec = await c.decode(enc, { key: 'k' });
            expect(Buffer.from(dec).equals(Buffer.from(data))).toBe(true);
          }),
          { numRuns: name === 'bz2' ? 15 : 40 },
        );
      });
      if (name === 'shuffle') continue;
      it(`${label}: truncated, garbled and random input give typed errors`, async () => {
        setNodeZlibEnabled(nodePath);
        const c = await bb(name, conf);
        await fc.assert(
          fc.asyncProperty(bytesArb, fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 64 }), async (data, cut, flip, junk) => {
            const enc = await c.encode(data);
            if (enc.length > 0) {
              // truncated: must never silently return the wrong thing
              await decodeIsTypedOrCorrect(c, enc.subarray(0, cut % enc.length), undefined).then(async () => {
                try {
                  const out = await c.decode(enc.subarray(0, cut % enc.length));
                  expect(out.length === data.length && Buffer.from(out).equals(Buffer.from(data))).toBe(true);
                } catch (e) {
                  expect(e).toBeInstanceOf(VolstoreError);
                }
              });
              const garbled = enc.slice();
              garbled[flip % enc.length] ^= 0x5a;
              await decodeIsTypedOrCorrect(c, garbled);
            }
            await decodeIsTypedOrCorrect(c, junk);
          }),
          { numRuns: name === 'bz2' ? 15 : 40 },
        );
      });
    }

    it('gzip encodes the same bytes whatever the time (no modification time in the header)', async () => {
      setNodeZlibEnabled(nodePath);
      const c = await bb('gzip', { level: 5 });
      const data = new Uint8Array(4000).map((_, i) => (i * 31) % 7);
      const now = vi.spyOn(Date, 'now').mockReturnValue(Date.UTC(2026, 0, 1));
      try {
        const first = await c.encode(data);
        now.mockReturnValue(Date.UTC(2026, 5, 1, 12, 30, 7));
        const later = await c.encode(data);
        expect(Buffer.from(later).equals(Buffer.from(first))).toBe(true);
        expect([...first.subarray(4, 8)]).toEqual([0, 0, 0, 0]); // MTIME: none
      } finally {
        now.mockRestore();
      }
    });

    it('gzip decodes multi-member streams and checks every trailer', async () => {
      setNodeZlibEnabled(nodePath);
      const c = await bb('gzip', { level: 6 });
      const parts = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(5000).fill(7), new Uint8Array([1, 2, 3])];
      const multi = Buffer.concat(parts.map((p) => gzipSync(p)));
      expect(Buffer.from(await c.decode(multi)).equals(Buffer.concat(parts))).toBe(true);
      // two identical members: a decoder stopping after the first would return half the data
      const twice = Buffer.concat([gzipSync(Buffer.from('abc')), gzipSync(Buffer.from('abc'))]);
      expect(Buffer.from(await c.decode(twice)).toString()).toBe('abcabc');
      const badCrc = Buffer.from(gzipSync(Buffer.from('hello world')));
      badCrc[badCrc.length - 6] ^= 1;
      await expect(c.decode(badCrc, { key: 'a/b' })).rejects.toThrow(/a\/b/);
    });
  });
}

describe('bytes->bytes codecs against independent implementations', () => {
  it('gzip and zlib encode at the configured level and Node reads them', async () => {
    const data = new Uint8Array(100000).map((_, i) => (i * 7) % 13);
    const zlib = await import('node:zlib');
    for (const level of [1, 9]) {
      const g = await (await bb('gzip', { level })).encode(data);
      expect(zlib.gunzipSync(g).equals(Buffer.from(data))).toBe(true);
      const z = await (await bb('zlib', { level })).encode(data);
      expect(zlib.inflateSync(z).equals(Buffer.from(data))).toBe(true);
    }
    const fast = await (await bb('gzip', { level: 1 })).encode(data);
    const best = await (await bb('gzip', { level: 9 })).encode(data);
    expect(best.length).toBeLessThanOrEqual(fast.length);
  });

  it.skipIf(!hasPython(['bz2']))('bz2 output is readable by Python, and Python output by us', async () => {
    const c = await bb('bz2', { level: 9 });
    const data = new Uint8Array(200000).map((_, i) => (i >> 5) & 0xff);
    const enc = await c.encode(data);
    const back = python('import bz2,sys; sys.stdout.buffer.write(bz2.decompress(sys.stdin.buffer.read()))', enc)!;
    expect(back.equals(Buffer.from(data))).toBe(true);
    const pyEnc = python('import bz2,sys; d=sys.stdin.buffer.read(); sys.stdout.buffer.write(bz2.compress(d,3)+bz2.compress(d,1))', data)!;
    const dec = await c.decode(pyEnc);
    expect(Buffer.from(dec).equals(Buffer.concat([data, data]))).toBe(true);
  });

  it.skipIf(!hasPython(['lzma']))('xz decodes Python lzma output and refuses to encode', async () => {
    const c = await bb('xz', { preset: 6 });
    const data = Buffer.from('volstore xz '.repeat(5000));
    const enc = python('import lzma,sys; sys.stdout.buffer.write(lzma.compress(sys.stdin.buffer.read(), format=lzma.FORMAT_XZ))', data)!;
    expect(Buffer.from(await c.decode(enc)).equals(data)).toBe(true);
    await expect(async () => c.encode(data)).rejects.toMatchObject({ code: 'unsupported', message: expect.stringContaining('xz') });
    await expect(c.decode(enc.subarray(0, enc.length - 10), { key: 'n5/0/0' })).rejects.toBeInstanceOf(VolstoreError);
  });

  it('zstd decodes streaming frames without a content size (zstd CLI / Python)', async () => {
    const c = await bb('zstd', { level: 0, checksum: false });
    const data = Buffer.from('streaming frame '.repeat(3000));
    let frame = python(
      'import sys\ntry:\n import zstandard\n c=zstandard.ZstdCompressor(write_content_size=False)\n sys.stdout.buffer.write(c.compress(sys.stdin.buffer.read()))\nexcept ImportError:\n import subprocess; sys.stdout.buffer.write(subprocess.run(["zstd","-c","-q"],input=sys.stdin.buffer.read(),capture_output=True,check=True).stdout)',
      data,
    );
    if (!frame) return;
    expect(frame[4]! >> 6).toBe(0); // Frame_Content_Size_flag 0 ...
    expect((frame[4]! >> 5) & 1).toBe(0); // ... and not single-segment: no content size
    expect(Buffer.from(await c.decode(frame)).equals(data)).toBe(true);
    if (hasPython(['numcodecs'])) {
      frame = python('import numcodecs,sys; sys.stdout.buffer.write(numcodecs.Zstd(level=5).encode(sys.stdin.buffer.read()))', data)!;
      expect(Buffer.from(await c.decode(frame)).equals(data)).toBe(true);
    }
    // a frame with a content checksum (zstd --check), and the same frame with the checksum broken
    frame = python('import subprocess,sys; sys.stdout.buffer.write(subprocess.run(["zstd","-c","-q","--check"],input=sys.stdin.buffer.read(),capture_output=True,check=True).stdout)', data);
    if (frame && frame.length > 0) {
      expect(Buffer.from(await c.decode(frame)).equals(data)).toBe(true);
      const broken = Buffer.from(frame);
      broken[broken.length - 1] ^= 0xff;
      await expect(c.decode(broken, { key: 'z' })).rejects.toBeInstanceOf(VolstoreError);
    }
    await expect(async () => (await bb('zstd', { level: 1, checksum: true })).encode(data)).rejects.toMatchObject({ code: 'unsupported' });
  });

  it('shuffle matches numcodecs Shuffle', async () => {
    const c = await bb('shuffle', { elementsize: 4 });
    const data = Uint8Array.from({ length: 24 }, (_, i) => i);
    const enc = await c.encode(data);
    expect(Array.from(enc.subarray(0, 6))).toEqual([0, 4, 8, 12, 16, 20]);
    if (hasPython(['numcodecs'])) {
      const py = python('import numcodecs,sys; sys.stdout.buffer.write(bytes(numcodecs.Shuffle(4).encode(sys.stdin.buffer.read())))', data)!;
      expect(Buffer.from(enc).equals(py)).toBe(true);
    }
    await expect(async () => c.decode(new Uint8Array(5))).rejects.toBeInstanceOf(VolstoreError);
  });
});
