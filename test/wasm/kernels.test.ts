import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { factory } from '../../src/codecs/crc32c.js';
import type { BytesBytesCodec } from '../../src/codecs/codec.js';
import { CorruptionError } from '../../src/errors.js';
import { loadCore } from '../../src/wasm/core.js';
import {
  compressedMortonCode, crc32c, murmurhash3_x86_128_uint64, murmurhash3_x86_128_uint64_words,
} from '../../src/wasm/kernels.js';
import { compressedMortonRef, crc32cRef, murmur3U64Ref } from './reference.js';

beforeAll(async () => {
  await loadCore();
});

describe('crc32c', () => {
  it('matches the golden vector', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32cRef(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('matches the reference on random bytes, offsets and continuation', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(40), fc.nat(3000), (bytes, off, cut) => {
      const b = bytes.subarray(Math.min(off, bytes.length));
      expect(crc32c(b)).toBe(crc32cRef(b));
      const k = Math.min(cut, b.length);
      expect(crc32c(b.subarray(k), crc32c(b.subarray(0, k)))).toBe(crc32cRef(b));
    }));
  });

  it('streams inputs larger than its wasm window', () => {
    const big = new Uint8Array(300_000).map((_, i) => (i * 2654435761) >>> 24);
    expect(crc32c(big)).toBe(crc32cRef(big));
  });
});

describe('crc32c codec', () => {
  let codec: BytesBytesCodec;
  beforeAll(async () => {
    codec = (await factory({}, { dtype: 'uint8', shape: [1], fillValue: 0 })) as BytesBytesCodec;
  });

  it('appends the checksum LE and verifies it', async () => {
    const data = new TextEncoder().encode('123456789');
    const enc = await codec.encode(data);
    expect([...enc.subarray(9)]).toEqual([0x83, 0x92, 0x06, 0xe3]);
    expect(codec.encodedSize!(9)).toBe(13);
    expect([...(await codec.decode(enc))]).toEqual([...data]);
    expect(codec.toJSON()).toEqual({ name: 'crc32c' });
  });

  it('throws CorruptionError naming key and checksums on mismatch or truncation', async () => {
    const enc = await codec.encode(new TextEncoder().encode('123456789'));
    enc[0] ^= 1;
    expect(() => codec.decode(enc, { key: 'c/0/1' })).toThrow(CorruptionError);
    expect(() => codec.decode(enc, { key: 'c/0/1' })).toThrow(/c\/0\/1.*stored 0xe3069283, computed 0x[0-9a-f]{8}/);
    expect(() => codec.decode(new Uint8Array(3), { key: 'k' })).toThrow(CorruptionError);
  });
});

describe('murmurhash3_x86_128 of a uint64', () => {
  const golden: [bigint, number, number[]][] = [
    [0n, 0, [0xe028ae41, 0x4772b084, 0x4772b084, 0x4772b084]],
    [1n, 0, [0x16d4ce9a, 0xe8bd67d6, 0xe8bd67d6, 0xe8bd67d6]],
    [42n, 0, [0x5119f47a, 0xc20b94f9, 0xc20b94f9, 0xc20b94f9]],
    [0n, 1, [0x5ad58a7e, 0x54337108, 0x54337108, 0x54337108]],
    [42n, 2, [0x2d83d9c7, 0x082115eb, 0x082115eb, 0x082115eb]],
  ];
  it('matches the golden vectors', () => {
    for (const [x, s, words] of golden) {
      expect(murmurhash3_x86_128_uint64_words(x, s)).toEqual(words);
      expect(murmur3U64Ref(x, s)).toEqual(words);
    }
    expect(murmurhash3_x86_128_uint64(0n)).toBe(0x4772b084e028ae41n);
  });

  it('matches the reference on random ids and seeds', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.nat({ max: 0xffffffff }), (id, seed) => {
      expect(murmurhash3_x86_128_uint64_words(id, seed)).toEqual(murmur3U64Ref(id, seed));
    }));
  });

  it('gives cloud-volume\'s shard for chunk 1822975381 (preshift 6, minishard 11, shard 7 bits)', () => {
    const h = murmurhash3_x86_128_uint64(1822975381n >> 6n);
    expect(Number(h & 0x7ffn)).toBe(18);
    expect(((h >> 11n) & 0x7fn).toString(16)).toBe('42');
  });

  it('rejects ids outside uint64', () => {
    expect(() => murmurhash3_x86_128_uint64(-1n)).toThrow(RangeError);
    expect(() => murmurhash3_x86_128_uint64(2n ** 64n)).toThrow(RangeError);
  });
});

describe('compressedMortonCode', () => {
  it('matches the golden vectors', () => {
    const cases: [number[], number[], bigint][] = [
      [[1, 0, 0], [3, 3, 3], 0b1n], [[2, 0, 0], [3, 3, 3], 0b001000n], [[2, 2, 0], [3, 3, 3], 0b011000n],
      [[2, 2, 1], [3, 3, 3], 0b011100n], [[1, 2, 0], [2, 3, 1], 0b000101n], [[3, 3, 0], [4, 4, 1], 0b1111n],
      [[5, 5, 0], [8, 8, 2], 0b1100011n],
    ];
    for (const [p, g, want] of cases) {
      expect(compressedMortonCode(p, g)).toBe(want);
      expect(compressedMortonRef(p, g)).toBe(want);
    }
  });

  it('gives cloud-volume\'s shard "458d" (identity, preshift 9, minishard 6, shard 16 bits)', () => {
    const grid = [Math.ceil(248832 / 128), Math.ceil(134144 / 128), Math.ceil(7063 / 16)];
    const id = compressedMortonCode([1131, 411, 177], grid);
    expect(((id >> 9n >> 6n) & 0xffffn).toString(16)).toBe('458d');
  });

  it('matches the reference on random grids', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 1 << 20 }), { minLength: 1, maxLength: 3 }).chain((g) =>
        fc.tuple(fc.constant(g), fc.tuple(...g.map((e) => fc.nat(e - 1))))),
      ([g, p]) => { expect(compressedMortonCode(p, g)).toBe(compressedMortonRef(p, g)); }));
  });

  it('rejects positions outside the grid and codes over 64 bits', () => {
    expect(() => compressedMortonCode([3], [3])).toThrow(RangeError);
    expect(() => compressedMortonCode([0, 0, 0], [2 ** 22, 2 ** 22, 2 ** 22])).toThrow(/64 bits/);
  });
});
