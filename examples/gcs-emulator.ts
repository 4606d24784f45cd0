/** Write a sharded zarr3 volume to the built-in GCS emulator, read a slice back, show requests. */
import { NdArray, open } from 'volstore';
import { startEmulator } from 'volstore/testing';

const emu = await startEmulator({ buckets: ['demo'], latencyMs: 5 });
try {
  const kvstore = { driver: 'gcs', bucket: 'demo', path: 'em/', endpoint: emu.url };
  const vol = await open({
    driver: 'zarr3', kvstore, create: true, dtype: 'uint16',
    schema: { domain: { shape: [64, 128, 128] }, chunk_layout: { write_chunk: { shape: [64, 64, 64] }, read_chunk: { shape: [16, 32, 32] } } },
  });
  const a = NdArray.zeros('uint16', [64, 128, 128]);
  (a.data as Uint16Array).forEach((_, i, d) => (d[i] = i % 65521));
  await vol.write(a);
  emu.resetCounters();
  const xy = await (await open({ driver: 'zarr3', kvstore })).slice([10, null, null]).read();
  console.log(`XY slice ${xy.shape.join('x')}, first values ${xy.toFlat().slice(0, 4)}; requests:`, emu.counters().requests.byKind);
} finally {
  await emu.stop();
}
