/**
 * Codec fuzzing: every codec (chain) decodes mutated encodings to data or a typed error, in
 * bounded time and memory, and never returns bytes the input did not determine: each mutated
 * input is decoded twice, with the decoders' scratch memory (the wasm core's heap, the wasm
 * decoders' buffers) filled with different contents in between, and both outcomes must agree.
 * Fixed seed; VOLSTORE_FUZZ_SCALE multiplies the runs (CI uses 1).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import type { DataType } from '../../src/array/dtype.js';
import { NdArray } from '../../src/array/ndarray.js';
import { CodecChain } from '../../src/codecs/chain.js';
import type { BytesBytesCodec, ChunkSpec, CodecJSON } from '../../src/codecs/codec.js';
import { mulberry32 } from '../../src/testing/prng.js';
import { fixture } from '../fixture-path.js';
import { load } from '../codecs/helpers.js';
import { SCALE, SEED, expectBoundedMemory, expectSameOutcome, mutate, mutationsArb, poison, settle } from './fuzz-helpers.js';

const LE = { name: 'bytes', configuration: { endian: 'little' } };
const BE = { name: 'bytes', configuration: { endian: 'big' } };
const spec = (dtype: DataType, shape: number[]): ChunkSpec => ({ dtype, shape, fillValue: dtype.endsWith('64') ? 0n : 0 });

/** Smooth-ish random content (compressible, so the compressors produce real streams). */
function content(s: ChunkSpec, seed: number): NdArray {
  const r = mulberry32(seed);
  const a = NdArray.zeros(s.dtype, s.shape);
  const n = a.data.length;
  const max = s.dtype === 'uint8' ? 255 : s.dtype === 'uint16' || s.dtype === 'int16' ? 65535 : 2 ** 31;
  let v = 0;
  for (let i = 0; i < n; i++) {
    if (r() < 0.2) v = Math.floor(r() * max);
    (a.data as unknown as unknown[])[i] = s.dtype.endsWith('64') ? BigInt(v) : s.dtype.startsWith('float') ? v / 7 : v % (max + 1);
  }
  return a;
}

interface ChainCase {
  name: string;
  codecs: CodecJSON[];
  spec: ChunkSpec;
  /** Encoded inputs written by another implementation (decode-only codecs), instead of our encoder. */
  encoded?: Uint8Array[];
}

const u16 = spec('uint16', [16, 12]);
const CHAINS: ChainCase[] = [
  { name: 'bytes LE', codecs: [LE], spec: u16 },
  { name: 'bytes BE (byte-swapping copy kernel)', codecs: [BE], spec: spec('uint32', [8, 8]) },
  { name: 'transpose + bytes + zstd', codecs: [{ name: 'transpose', configuration: { order: [1, 0] } }, LE, { name: 'zstd', configuration: { level: 3 } }], spec: u16 },
  { name: 'gzip', codecs: [LE, { name: 'gzip', configuration: { level: 5 } }], spec: u16 },
  { name: 'zlib', codecs: [LE, { name: 'zlib', configuration: { level: 5 } }], spec: u16 },
  { name: 'bz2', codecs: [LE, { name: 'bz2', configuration: { level: 1 } }], spec: u16 },
  { name: 'lz4', codecs: [LE, { name: 'lz4', configuration: { acceleration: 1 } }], spec: u16 },
  { name: 'zstd', codecs: [LE, { name: 'zstd', configuration: { level: 1 } }], spec: u16 },
  { name: 'shuffle + zlib', codecs: [LE, { name: 'shuffle', configuration: { elementsize: 2 } }, { name: 'zlib', configuration: { level: 1 } }], spec: u16 },
  { name: 'crc32c', codecs: [LE, { name: 'crc32c' }], spec: u16 },
  { name: 'blosc lz4 shuffle', codecs: [LE, { name: 'blosc', configuration: { cname: 'lz4', clevel: 5, shuffle: 'shuffle', blocksize: 128 } }], spec: u16 },
  { name: 'blosc zstd bitshuffle', codecs: [LE, { name: 'blosc', configuration: { cname: 'zstd', clevel: 5, shuffle: 'bitshuffle', blocksize: 256 } }], spec: u16 },
  { name: 'blosc zlib noshuffle', codecs: [LE, { name: 'blosc', configuration: { cname: 'zlib', clevel: 5, shuffle: 'noshuffle' } }], spec: u16 },
  { name: 'blosc blosclz (wasm c-blosc encoder)', codecs: [LE, { name: 'blosc', configuration: { cname: 'blosclz', clevel: 5, shuffle: 'noshuffle' } }], spec: u16 },
  { name: 'compressed_segmentation uint32', codecs: [{ name: 'compressed_segmentation', configuration: { block_size: [4, 4, 2] } }], spec: spec('uint32', [8, 6, 4, 2]) },
  { name: 'compressed_segmentation uint64', codecs: [{ name: 'compressed_segmentation', configuration: { block_size: [3, 4, 4] } }], spec: spec('uint64', [7, 8, 4]) },
  { name: 'png uint8 gray', codecs: [{ name: 'png', configuration: { level: 6 } }], spec: spec('uint8', [16, 8, 2, 1]) },
  { name: 'png uint16 rgb', codecs: [{ name: 'png', configuration: { level: 1 } }], spec: spec('uint16', [8, 8, 1, 3]) },
  { name: 'jpeg gray', codecs: [{ name: 'jpeg', configuration: { quality: 80 } }], spec: spec('uint8', [16, 16, 1, 1]) },
  { name: 'jpeg rgb', codecs: [{ name: 'jpeg', configuration: { quality: 80 } }], spec: spec('uint8', [16, 8, 1, 3]) },
  {
    name: 'xz (numcodecs LZMA chunks)',
    codecs: [LE, { name: 'xz', configuration: {} }],
    spec: spec('uint8', [300]),
    encoded: [0, 1, 2].map((i) => new Uint8Array(readFileSync(fixture('numcodecs', 'lzma.zarr', 'preset9', String(i))))),
  },
];

/** blosc frames c-blosc 1.21 wrote, one per compressor (BloscLZ and Snappy streams, split blocks). */
function bloscFixtureFrames(cname: string): Uint8Array[] {
  const idx = JSON.parse(readFileSync(fixture('numcodecs', 'blosc-index.json'), 'utf8')) as {
    frames: { cname: string; shuffle: number; typesize: number; blocksize: number; input: string; offset: number; length: number }[];
  };
  const all = readFileSync(fixture('numcodecs', 'blosc-frames.bin'));
  return idx.frames
    .filter((f) => f.cname === cname && f.input === 'ramp' && f.blocksize === 1024)
    .slice(0, 3)
    .map((f) => new Uint8Array(all.subarray(f.offset, f.offset + f.length)));
}

describe('codec fuzzing: data or a typed error, never bytes the input did not determine', () => {
  for (const c of CHAINS) {
    it(c.name, async () => {
      const chain = await CodecChain.create(c.codecs, c.spec);
      const encoded = c.encoded ?? (await Promise.all([1, 2, 3].map((s) => chain.encode(content(c.spec, s)))));
      const [base, otherA, otherB] = encoded as [Uint8Array, Uint8Array, Uint8Array];
      const outSize = c.spec.shape.reduce((a, b) => a * b, 1) * 8;
      const decode = (b: Uint8Array) => async () => (await chain.decode(b, { key: `fuzz/${c.name}` })).toFlat();
      await fc.assert(
        fc.asyncProperty(mutationsArb, async (muts) => {
          const bytes = mutate(base, muts);
          await poison(0xa5, [outSize, bytes.length], decode(otherA));
          const first = await settle(decode(bytes));
          await poison(0x5a, [outSize, bytes.length], decode(otherB));
          const second = await settle(decode(bytes));
          expectSameOutcome(first, second, c.name);
          await expectBoundedMemory();
        }),
        { numRuns: 40 * SCALE, seed: SEED },
      );
    });
  }

  for (const cname of ['blosclz', 'snappy', 'lz4', 'zlib', 'zstd']) {
    it(`blosc frames c-blosc wrote (${cname} streams)`, async () => {
      const codec = (await load('blosc', {}, spec('uint8', [1]))) as BytesBytesCodec;
      const [base, otherA, otherB] = bloscFixtureFrames(cname) as [Uint8Array, Uint8Array, Uint8Array];
      const decode = (b: Uint8Array) => async () => codec.decode(b, { key: `fuzz/blosc-${cname}`, maxDecodedBytes: 1 << 20 });
      await fc.assert(
        fc.asyncProperty(mutationsArb, async (muts) => {
          const bytes = mutate(base, muts);
          await poison(0xa5, [bytes.length, 12003], decode(otherA));
          const first = await settle(decode(bytes));
          await poison(0x5a, [bytes.length, 12003], decode(otherB));
          const second = await settle(decode(bytes));
          expectSameOutcome(first, second, `blosc ${cname}`);
          await expectBoundedMemory();
        }),
        { numRuns: 40 * SCALE, seed: SEED },
      );
    });
  }
});
