/**
 * Micro-benchmark of the HTTP object core against the built-in emulator on localhost: N objects
 * of SIZE bytes read through GcsStore (whole objects: crc32c-verified; and ranged reads, which
 * are not), S3Store, and plain `fetch` of the same GCS media URLs as the floor, in interleaved
 * rounds; prints medians and ratios to plain fetch. Localhost has no network latency, so this
 * shows the client-side cost per request and per byte (limiter, timers, validation, crc32c).
 *
 *   npx tsx bench/cloud-store.ts [--files N] [--size BYTES] [--rounds R]
 */
import { GcsStore } from '../src/kvstore/gcs.js';
import { S3Store } from '../src/kvstore/s3.js';
import { startEmulator } from '../src/testing/index.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const FILES = arg('files', 200);
const SIZE = arg('size', 256 * 1024);
const ROUNDS = arg('rounds', 7);

const emu = await startEmulator({ buckets: ['vol'] });
try {
  const gcs = new GcsStore({ bucket: 'vol', endpoint: emu.url });
  const s3 = new S3Store({ bucket: 'vol', endpoint: `${emu.url}/s3`, credentials: 'anonymous' });
  const data = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i++) data[i] = (i * 2654435761) >>> 24;
  const keys = Array.from({ length: FILES }, (_, i) => `o${i}`);
  await Promise.all(keys.map((k) => gcs.write(k, data)));

  const variants: Record<string, () => Promise<unknown>> = {
    'fetch (floor)': () =>
      Promise.all(keys.map((k) => fetch(`${emu.url}/storage/v1/b/vol/o/${k}?alt=media`).then((r) => r.arrayBuffer()))),
    'gcs whole (crc32c)': () => Promise.all(keys.map((k) => gcs.read(k))),
    'gcs ranged': () => Promise.all(keys.map((k) => gcs.read(k, { byteRange: { offset: 1, length: SIZE - 1 } }))),
    's3 whole': () => Promise.all(keys.map((k) => s3.read(k))),
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (const fn of Object.values(variants)) await fn(); // warm up
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of Object.entries(variants)) {
      const t = performance.now();
      await fn();
      times[name]!.push(performance.now() - t);
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  const floor = median(times['fetch (floor)']!);
  console.log(`${FILES} objects x ${SIZE} bytes, ${ROUNDS} interleaved rounds (medians):`);
  for (const [name, t] of Object.entries(times)) {
    const m = median(t);
    console.log(`  ${name.padEnd(20)} ${m.toFixed(1).padStart(8)} ms  ${((FILES * SIZE) / (m / 1000) / 1e6).toFixed(0).padStart(6)} MB/s  ${(m / floor).toFixed(2)}x fetch`);
  }
} finally {
  await emu.stop();
}
