/** Create a sharded neuroglancer precomputed compressed_segmentation volume and read a slice. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { destinationSpec, NdArray, open } from 'volstore';

const dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-seg-'));
try {
  const shape = [128, 128, 64, 1]; // [x, y, z, channel]
  // The spec of a new volume shaped like this (the one `volstore copy -d neuroglancer_precomputed`
  // uses): compressed_segmentation in 32^3 chunks, hashed shards sized automatically, 8x8x40 nm.
  const like = { shape, dtype: 'uint64' as const, chunkLayout: { gridOrigin: [0, 0, 0, 0], readChunk: { shape }, writeChunk: { shape } }, dimensionNames: ['x', 'y', 'z', 'channel'], fillValue: 0 };
  const spec = await destinationSpec(`file://${dir}/seg/`, like, {
    driver: 'neuroglancer_precomputed', encoding: 'compressed_segmentation', sharding: 'auto', chunkShape: [32, 32, 32], resolution: [8, 8, 40],
  });
  const seg = await open(spec);
  const labels = NdArray.zeros('uint64', shape);
  const d = labels.data as BigUint64Array;
  for (let z = 0; z < 64; z++) for (let y = 0; y < 128; y++) for (let x = 0; x < 128; x++) {
    d[x * 128 * 64 + y * 64 + z] = BigInt(1 + (x >> 4) + 8 * (y >> 4) + 64 * (z >> 4)) * 1000003n;
  }
  await seg.write(labels);
  const slice = await seg.slice([null, null, 20, 0]).read();
  console.log(`XY slice ${slice.shape.join('x')}: label at (5,5) = ${slice.get([5, 5])}`);
  console.log(seg.chunkLayout, seg.codec);
} finally {
  await rm(dir, { recursive: true, force: true });
}
