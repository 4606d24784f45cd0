import { open, NdArray } from './src/index.js';
import * as zarr from 'zarrita';
import FS from '@zarrita/storage/fs';
const dir = '/tmp/xzvol';
const spec = { driver: 'zarr3', kvstore: { driver: 'file', path: dir }, dtype: 'uint8' } as const;
if (process.argv[2] === 'create') {
  const w = await open({ ...spec, create: true, schema: { domain: { shape: [512, 512, 512] }, chunk_layout: { chunk: { shape: [64, 64, 64] } } } } as never);
  const a = NdArray.zeros('uint8', [512, 512, 512]);
  (a.data as Uint8Array).forEach((_, i, d) => (d[i] = (i * 31) & 255));
  await w.write(a);
  process.exit(0);
}
const v = await open(spec as never);
const za = await zarr.open(new FS(dir) as never, { kind: 'array' });
async function time(name: string, f: (y: number) => Promise<unknown>) {
  const t: number[] = [];
  for (let i = 0; i < 40; i++) { const t0 = performance.now(); await f(100 + i); t.push(performance.now() - t0); }
  t.sort((a, b) => a - b);
  console.log(name, 'p50', t[20]!.toFixed(2), 'min', t[0]!.toFixed(2));
}
for (let r = 0; r < 2; r++) {
  await time('zarrita xz', (y) => zarr.get(za as never, [null, y, null]));
  await time('volstore xz', (y) => v.slice([null, y, null]).read());
  await time('zarrita xy', (y) => zarr.get(za as never, [y, null, null]));
  await time('volstore xy', (y) => v.slice([y, null, null]).read());
}
process.exit(0);
