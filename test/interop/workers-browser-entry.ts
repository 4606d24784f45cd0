/**
 * In-page script of test/interop/workers-browser.test.ts: the codec worker pool on its browser
 * platform (module Web Workers). It encodes arrays inline, decodes and encodes them through a
 * pool and inline, and returns plain values saying whether the results are identical, how many
 * tasks workers ran, and what a corrupt chunk threw.
 */
import { NdArray } from '../../src/array/ndarray.js';
import { CodecChain } from '../../src/codecs/chain.js';
import type { CodecJSON } from '../../src/codecs/codec.js';
import { CorruptionError } from '../../src/errors.js';
import { CodecWorkerPool } from '../../src/workers/pool.js';

export interface PoolCheckResult {
  /** What `pool.warm()` said: a worker came up. */
  warmed: boolean;
  identical: boolean;
  enabled: boolean;
  spawned: number;
  completed: number;
  inline: number;
  corruptIsCorruptionError: boolean;
  corruptMessage: string;
  /** The page is cross-origin isolated (SharedArrayBuffer usable). */
  isolated: boolean;
  /** The pool shares memory with its workers (lanes, results written by workers). */
  sharedMemory: boolean;
  /** decodeInto results (into shared memory when isolated, else plain) equal the inline path's. */
  intoIdentical: boolean;
  /** decodeInto tasks whose worker wrote the result itself. */
  placed: number;
}

const CHAINS: { codecs: CodecJSON[]; dtype: 'uint8' | 'uint16' | 'uint64'; shape: number[] }[] = [
  { codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd', configuration: { level: 3 } }], dtype: 'uint16', shape: [40, 30, 20] },
  { codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'gzip' }], dtype: 'uint8', shape: [64, 64] },
  { codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'blosc', configuration: { cname: 'lz4', clevel: 5, shuffle: 'shuffle', typesize: 2 } }], dtype: 'uint16', shape: [500] },
  { codecs: [{ name: 'compressed_segmentation', configuration: { block_size: [8, 8, 8] } }], dtype: 'uint64', shape: [16, 16, 16] },
];

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

async function poolCheck(): Promise<PoolCheckResult> {
  const pool = new CodecWorkerPool({ size: 2, minDecodeBytes: 0, minEncodeBytes: 0 });
  const warmed = await pool.warm();
  let identical = true;
  let intoIdentical = true;
  for (const [k, c] of CHAINS.entries()) {
    const chain = await CodecChain.create(c.codecs, { dtype: c.dtype, shape: c.shape, fillValue: c.dtype === 'uint64' ? 0n : 0 });
    const a = NdArray.zeros(c.dtype, c.shape);
    const d = a.data as unknown as { [i: number]: number | bigint; length: number };
    for (let i = 0; i < d.length; i++) d[i] = c.dtype === 'uint64' ? BigInt((i >> 5) % 7) : ((i * (k + 3)) >> 4) % 251;
    const inlineBytes = await chain.encodeInline(a);
    const [pooledBytes, ...decoded] = await Promise.all([
      chain.encode(a, { runner: pool }),
      chain.decode(inlineBytes, { runner: pool }),
      chain.decode(inlineBytes, { runner: pool }),
    ]);
    const inlineArr = await chain.decodeInline(inlineBytes);
    identical &&= sameBytes(pooledBytes, inlineBytes);
    for (const p of decoded) identical &&= sameBytes(p.data, inlineArr.data) && p.strides.join() === inlineArr.strides.join();
    // decode into a result: the chunk at an offset of a bigger C-order array (shared memory when
    // the page may have it: the worker writes it; else the chunk comes back and is placed here)
    const size = a.data.BYTES_PER_ELEMENT;
    const outShape = c.shape.map((n) => n + 2);
    const strides = outShape.map((_, i) => outShape.slice(i + 1).reduce((x, y) => x * y, size));
    const bytes = outShape.reduce((x, y) => x * y, size);
    const placement = { shape: c.shape, dstOffset: strides.reduce((x, y) => x + y, 0), dstStrides: strides, start: c.shape.map(() => 0), dims: c.shape.map((_, i) => i), steps: c.shape.map(() => 1) };
    const dst = new Uint8Array(crossOriginIsolated ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    const ref = new Uint8Array(bytes);
    await chain.decodeInto(inlineBytes, { runner: pool }, { dst, placement });
    await chain.decodeInto(inlineBytes, {}, { dst: ref, placement });
    intoIdentical &&= sameBytes(dst, ref) && ref.some((x) => x !== 0);
  }
  const chain = await CodecChain.create([{ name: 'bytes' }, { name: 'zstd' }, { name: 'crc32c' }], { dtype: 'uint8', shape: [1000], fillValue: 0 });
  const bad = await chain.encodeInline(NdArray.zeros('uint8', [1000], 3));
  bad[bad.length - 1]! ^= 1;
  let corrupt: unknown;
  try {
    await chain.decode(bad, { runner: pool, key: 'c/0' });
  } catch (e) {
    corrupt = e;
  }
  const result: PoolCheckResult = {
    warmed,
    identical,
    enabled: pool.enabled,
    spawned: pool.stats.spawned,
    completed: pool.stats.completed,
    inline: pool.stats.inline,
    corruptIsCorruptionError: corrupt instanceof CorruptionError,
    corruptMessage: corrupt instanceof Error ? corrupt.message : String(corrupt),
    isolated: crossOriginIsolated,
    sharedMemory: pool.sharedMemory,
    intoIdentical,
    placed: pool.stats.placed,
  };
  pool.close();
  return result;
}

declare global {
  interface Window {
    poolCheck: typeof poolCheck;
  }
}
window.poolCheck = poolCheck;
