import { describe, expect, it } from 'vitest';
import { copyStrided } from '../../src/array/copy.js';
import { decodeCompressedSegmentation, encodeCompressedSegmentation } from '../../src/wasm/compressed-segmentation.js';
import { loadCore } from '../../src/wasm/core.js';
import { downsample } from '../../src/wasm/downsample.js';
import { compressedMortonCode, crc32c, murmurhash3_x86_128_uint64 } from '../../src/wasm/kernels.js';

describe('wasm core memory', () => {
  it('stops growing over 10,000 calls of every kernel (every per-call buffer is freed)', async () => {
    const core = await loadCore();
    const seg = Uint32Array.from({ length: 16 * 16 * 8 }, (_, i) => (i >> 5) % 5);
    const img = new Uint16Array(32 * 32 * 2).map((_, i) => i);
    const bytes = new Uint8Array(100_000).map((_, i) => i);
    const src = new Uint8Array(64 * 32 * 4).map((_, i) => i);
    const dst = new Uint8Array(src.length);
    const round = (i: number) => {
      const enc = encodeCompressedSegmentation(seg, [16, 16, 8, 1], [8, 8, 8]);
      decodeCompressedSegmentation(enc, [16, 16, 8, 1], [8, 8, 8], 'uint32');
      downsample(img, [2, 32, 32], [1, 2, 2], i % 2 ? 'mean' : 'mode');
      crc32c(bytes.subarray(0, 1000 + (i % 97) * 1000));
      if (i % 100 === 0) crc32c(bytes); // spans more than one streaming window
      // a transposed 4-byte swapped copy big enough for the wasm path
      copyStrided(dst, 0, [32 * 4, 4], src, 0, [4, 64 * 4], [64, 32], 4, true);
      murmurhash3_x86_128_uint64(BigInt(i));
      compressedMortonCode([i % 7, 3, 1], [8, 8, 8]);
    };
    for (let i = 0; i < 100; i++) round(i);
    const warm = core.memoryBytes();
    for (let i = 100; i < 10_000; i++) round(i);
    expect(core.memoryBytes()).toBe(warm);
    // views stay usable after growth: a call that must grow memory still decodes correctly
    const big = new Uint32Array(256 * 256 * 64).map((_, i) => i % 3);
    const enc = encodeCompressedSegmentation(big, [256, 256, 64, 1], [8, 8, 8]);
    expect(core.memoryBytes()).toBeGreaterThan(warm);
    const dec = decodeCompressedSegmentation(enc, [256, 256, 64, 1], [8, 8, 8], 'uint32');
    expect(dec[12345]).toBe(12345 % 3);
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });
});
