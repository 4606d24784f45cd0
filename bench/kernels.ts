/**
 * Throughput of the wasm kernels against their plain TS references (test/wasm/reference.ts),
 * in the same run: `npx tsx bench/kernels.ts`. For the copy kernel, a plain `TypedArray.set`
 * of the same byte count is the memcpy baseline. MB/s counts the decoded / copied bytes.
 * Nothing here is asserted; the numbers inform which path `copyStrided` takes.
 */
import { readFileSync } from 'node:fs';
import { copyStrided } from '../src/array/copy.js';
import { decodeCompressedSegmentation, encodeCompressedSegmentation } from '../src/wasm/compressed-segmentation.js';
import { loadCore } from '../src/wasm/core.js';
import { downsample } from '../src/wasm/downsample.js';
import { compressedMortonCode, crc32c, murmurhash3_x86_128_uint64 } from '../src/wasm/kernels.js';
import {
  compressedMortonRef, copyStridedRef, crc32cRef, csegDecodeRef, csegEncodeRef, downsampleRef, murmur3U64Ref,
} from '../test/wasm/reference.js';
import { fixture } from '../test/fixture-path.js';

await loadCore();

/** MB/s of `f` moving `bytes` per call: warm up, then run for ~`ms` milliseconds; best of 3. */
function rate(bytes: number, f: () => void, ms = 300): number {
  for (let i = 0; i < 10; i++) f();
  let best = 0;
  for (let r = 0; r < 3; r++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    do { f(); n++; t = performance.now(); } while (t - t0 < ms / 3);
    best = Math.max(best, (bytes * n) / ((t - t0) / 1e3) / 1e6);
  }
  return best;
}

const rows: string[][] = [];
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
function report(kernel: string, wasm: number, ts: number, memcpy?: number, note = ''): void {
  rows.push([kernel, fmt(wasm), fmt(ts), `${(wasm / ts).toFixed(2)}x`, memcpy ? fmt(memcpy) : '', memcpy ? `${(wasm / memcpy).toFixed(2)}` : '', note]);
  console.error(`${kernel}: wasm/new ${fmt(wasm)} MB/s, ts ${fmt(ts)} MB/s`);
}

// ---------------------------------------------------------------------------------------------
// copy kernel: dst preallocated (as in a read), so only the copy itself is timed
function copyCase(name: string, elem: number, shape: number[], dstStrides: number[], srcStrides: number[], swap: boolean, dstOff = 0, srcOff = 0) {
  const span = (st: number[], off: number) => off + st.reduce((a, s, i) => a + Math.abs(s) * (shape[i]! - 1), 0) + elem;
  const src = new Uint8Array(span(srcStrides, srcOff)).map((_, i) => i * 31);
  const dst = new Uint8Array(span(dstStrides, dstOff));
  const bytes = shape.reduce((a, b) => a * b, 1) * elem;
  const mdst = new Uint8Array(bytes), msrc = src.subarray(0, bytes);
  const memcpy = rate(bytes, () => mdst.set(msrc));
  const w = rate(bytes, () => copyStrided(dst, dstOff, dstStrides, src, srcOff, srcStrides, shape, elem, swap));
  const t = rate(bytes, () => copyStridedRef(dst, dstOff, dstStrides, src, srcOff, srcStrides, shape, elem, swap));
  report(`copy ${name}`, w, t, memcpy);
}
const C3 = (s: number[], e: number) => [s[1]! * s[2]! * e, s[2]! * e, e];
// chunk 64^3 into a 256x256x64 array: contiguous inner runs of 64 elements
copyCase('u8 64^3 chunk -> 256x256x64 (runs 64 B)', 1, [64, 64, 64], C3([64, 256, 256], 1), C3([64, 64, 64], 1), false, 1000, 0);
copyCase('u8 64^3 chunk -> 64x512x512 (runs 64 B)', 1, [64, 64, 64], C3([64, 512, 512], 1), C3([64, 64, 64], 1), false, 64, 0);
copyCase('u8 64x512x512 -> 64^3 chunk (gather, runs 64 B)', 1, [64, 64, 64], C3([64, 64, 64], 1), C3([64, 512, 512], 1), false, 0, 64);
copyCase('u16 64^3 chunk -> 64x512x512 (runs 128 B)', 2, [64, 64, 64], C3([64, 512, 512], 2), C3([64, 64, 64], 2), false, 128, 0);
copyCase('u32 64^3 chunk -> 64x512x512 (runs 256 B)', 4, [64, 64, 64], C3([64, 512, 512], 4), C3([64, 64, 64], 4), false, 256, 0);
copyCase('u16 64^3 chunk -> 256x256x64 (runs 128 B)', 2, [64, 64, 64], C3([64, 256, 256], 2), C3([64, 64, 64], 2), false, 1000, 0);
copyCase('u8 64x64x16 chunk -> 256^2 rows of 16 B', 1, [64, 64, 16], C3([64, 256, 256], 1), C3([64, 64, 16], 1), false);
copyCase('u32 whole 64^3 chunk (one run)', 4, [64, 64, 64], C3([64, 64, 64], 4), C3([64, 64, 64], 4), false);
// transposes
copyCase('f32 512x512 transpose', 4, [512, 512], [512 * 4, 4], [4, 512 * 4], false);
copyCase('u16 64^3 F->C order', 2, [64, 64, 64], C3([64, 64, 64], 2), [2, 64 * 2, 64 * 64 * 2], false);
copyCase('u8 128^3 F->C order', 1, [128, 128, 128], C3([128, 128, 128], 1), [1, 128, 128 * 128], false);
copyCase('u64 64^3 F->C order', 8, [64, 64, 64], C3([64, 64, 64], 8), [8, 64 * 8, 64 * 64 * 8], false);
// byte swaps (big-endian N5 / zarr '>' data)
copyCase('u16 swap 64^3 contiguous', 2, [64, 64, 64], C3([64, 64, 64], 2), C3([64, 64, 64], 2), true);
copyCase('f32 swap 64^3 contiguous', 4, [64, 64, 64], C3([64, 64, 64], 4), C3([64, 64, 64], 4), true);
copyCase('f64 swap 64^3 contiguous', 8, [64, 64, 64], C3([64, 64, 64], 8), C3([64, 64, 64], 8), true);
copyCase('u16 swap 64^3 chunk -> 256x256x64', 2, [64, 64, 64], C3([64, 256, 256], 2), C3([64, 64, 64], 2), true);
copyCase('u32 swap + F->C 64^3', 4, [64, 64, 64], C3([64, 64, 64], 4), [4, 64 * 4, 64 * 64 * 4], true);
copyCase('u16 swap, 16^3 region of a 256^3 chunk (sparse: TS)', 2, [16, 16, 16], C3([16, 16, 16], 2), C3([256, 256, 256], 2), true);

// ---------------------------------------------------------------------------------------------
const mb = new Uint8Array(1 << 20).map((_, i) => (i * 2654435761) >>> 23);
report('crc32c 1 MiB', rate(mb.length, () => crc32c(mb)), rate(mb.length, () => crc32cRef(mb)));
const small = mb.subarray(0, 4096);
report('crc32c 4 KiB', rate(small.length, () => crc32c(small)), rate(small.length, () => crc32cRef(small)));

let id = 0n;
const murW = rate(8 * 1000, () => { for (let i = 0; i < 1000; i++) murmurhash3_x86_128_uint64(id++); });
const murT = rate(8 * 1000, () => { for (let i = 0; i < 1000; i++) { const o = murmur3U64Ref(id++); void ((BigInt(o[1]!) << 32n) | BigInt(o[0]!)); } });
report('murmurhash3 uint64 (8 B per call)', murW, murT, undefined, `${fmt(murW / 8)} / ${fmt(murT / 8)} M calls/s`);
const grid = [1944, 1048, 442];
const morW = rate(12 * 1000, () => { for (let i = 0; i < 1000; i++) compressedMortonCode([i, i % 1048, i % 442], grid); });
const morT = rate(12 * 1000, () => { for (let i = 0; i < 1000; i++) compressedMortonRef([i, i % 1048, i % 442], grid); });
report('compressed Morton (3 x uint32 per call)', morW, morT, undefined, `${fmt(morW / 12)} / ${fmt(morT / 12)} M calls/s`);

// ---------------------------------------------------------------------------------------------
const raw = readFileSync(fixture('neuroglancer/64x64x64-raw-uint64-segmentation.dat'));
const u64 = new BigUint64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
const u32 = Uint32Array.from(u64, (v) => Number(v & 0xffffffffn));
const vol = [64, 64, 64, 1];
for (const [name, data] of [['uint64', u64], ['uint32', u32]] as const) {
  for (const blk of [[8, 8, 8], [16, 16, 8]]) {
    const enc = encodeCompressedSegmentation(data, vol, blk);
    const b = data.byteLength;
    // into a preallocated output (as the codec does into a chunk buffer), then allocating one
    const out = name === 'uint64' ? new BigUint64Array(u64.length) : new Uint32Array(u64.length);
    report(`cseg decode ${name} ${blk.join('x')} into out`, rate(b, () => decodeCompressedSegmentation(enc, vol, blk, name, 'k', out)), rate(b, () => csegDecodeRef(enc, vol, blk, name, out)));
    report(`cseg decode ${name} ${blk.join('x')} new array`, rate(b, () => decodeCompressedSegmentation(enc, vol, blk, name)), rate(b, () => csegDecodeRef(enc, vol, blk, name)), undefined, 'includes page faults of a fresh output');
    report(`cseg encode ${name} ${blk.join('x')}`, rate(b, () => encodeCompressedSegmentation(data, vol, blk)), rate(b, () => csegEncodeRef(data, vol, blk), 1000), undefined, 'TS ref: simple (indexOf), no table sharing');
  }
}

// ---------------------------------------------------------------------------------------------
const img = new Uint8Array(128 * 128 * 64).map((_, i) => (i * 7) & 255);
report('downsample mean u8 64x128x128 /2', rate(img.length, () => downsample(img, [64, 128, 128], [2, 2, 2], 'mean')), rate(img.length, () => downsampleRef(img, [64, 128, 128], [2, 2, 2], 'mean'), 1000));
const f32 = new Float32Array(64 * 64 * 64).map((_, i) => Math.sin(i));
report('downsample mean f32 64^3 /2', rate(f32.byteLength, () => downsample(f32, [64, 64, 64], [2, 2, 2], 'mean')), rate(f32.byteLength, () => downsampleRef(f32, [64, 64, 64], [2, 2, 2], 'mean'), 1000));
report('downsample mode u64 64^3 /2 (fixture)', rate(u64.byteLength, () => downsample(u64, [64, 64, 64], [2, 2, 2], 'mode')), rate(u64.byteLength, () => downsampleRef(u64, [64, 64, 64], [2, 2, 2], 'mode'), 1000));
report('downsample mode u32 64^3 /2 (fixture)', rate(u32.byteLength, () => downsample(u32, [64, 64, 64], [2, 2, 2], 'mode')), rate(u32.byteLength, () => downsampleRef(u32, [64, 64, 64], [2, 2, 2], 'mode'), 1000));

const head = ['kernel', 'wasm/new MB/s', 'TS ref MB/s', 'ratio', 'memcpy MB/s', 'vs memcpy', 'note'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => r.map((c, i) => (i === 0 || i === 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(line(head));
for (const r of rows) console.log(line(r));
