/**
 * Micro-benchmark of blosc and LZ4 decoding: volstore's own decoders (`src/codecs/blosc.ts`,
 * `src/codecs/lz-blocks.ts`) against numcodecs' wasm c-blosc / LZ4 (which volstore used before,
 * and which returned uninitialised memory for corrupt blosc frames), interleaved rounds in one
 * run, medians, printed as MB/s and ours/wasm ratios.
 *
 *   npx tsx bench/blosc-decode.ts [--rounds R]
 *
 * Inputs: the 64^3 uint64 segmentation fixture (very compressible), a smooth float32 field
 * (barely compressible) and an 8-bit photo from the image fixtures (EM-like texture).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bloscDecode, bloscEncode, type BloscOptions } from '../src/codecs/blosc.js';
import { lz4DecodeBlock } from '../src/codecs/lz-blocks.js';
import { decodePng } from '../src/codecs/png.js';

const i = process.argv.indexOf('--rounds');
const ROUNDS = i >= 0 ? Number(process.argv[i + 1]) : 9;
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures');

const seg = new Uint8Array(readFileSync(path.join(fixtures, 'neuroglancer/64x64x64-raw-uint64-segmentation.dat')));
const f32 = new Uint8Array(new Float32Array(524288).map((_, k) => Math.sin(k / 100) * 1000 + (k % 7)).buffer);
const photo = decodePng(new Uint8Array(readFileSync(path.join(fixtures, 'images/D75_08b.png')))).data as Uint8Array;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function compare(name: string, bytes: number, ours: () => unknown, wasm: () => unknown): Promise<void> {
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(await time(ours));
    b.push(await time(wasm));
  }
  const mbs = (ms: number) => (bytes / 1e6 / (ms / 1000)).toFixed(0);
  console.log(`${name.padEnd(36)} ours ${mbs(median(a)).padStart(5)} MB/s  wasm ${mbs(median(b)).padStart(5)} MB/s  ratio ${(median(b) / median(a)).toFixed(2)}`);
}

const { default: Blosc } = await import('numcodecs/blosc');
const wasmBlosc = Blosc.fromConfig({ id: 'blosc', cname: 'lz4', clevel: 5, shuffle: 1, blocksize: 0 });
for (const [label, data, typesize] of [['seg u64', seg, 8], ['f32 field', f32, 4], ['photo u8', photo, 1]] as const) {
  for (const cname of ['lz4', 'zstd', 'blosclz', 'zlib'] as const) {
    for (const shuffle of ['shuffle', 'bitshuffle', 'noshuffle'] as const) {
      if (typesize === 1 && shuffle === 'shuffle') continue;
      const o: BloscOptions = { cname, clevel: 5, shuffle, typesize, blocksize: 0 };
      const frame = await bloscEncode(data, o);
      await compare(`blosc ${label} ${cname} ${shuffle}`, data.length, () => bloscDecode(frame), () => wasmBlosc.decode(frame));
    }
  }
}

const { default: LZ4 } = await import('numcodecs/lz4');
const wasmLz4 = LZ4.fromConfig({ id: 'lz4', acceleration: 1 });
for (const [label, data] of [['seg u64', seg], ['f32 field', f32], ['photo u8', photo]] as const) {
  const framed = await wasmLz4.encode(data);
  const out = new Uint8Array(data.length);
  await compare(`lz4 block ${label}`, data.length, () => lz4DecodeBlock(framed.subarray(4), out), () => wasmLz4.decode(framed));
}
