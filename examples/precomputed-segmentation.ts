/** Create a sharded neuroglancer precomputed compressed_segmentation volume and read a slice. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildPrecomputedVolume } from '../src/drivers/precomputed-info.js';
import { NdArray, open } from '../src/index.js';

const dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-seg-'));
try {
  const shape = [128, 128, 64, 1]; // [x, y, z, channel]
  const { spec } = buildPrecomputedVolume({ dtype: 'uint64', shape, chunk: [32, 32, 32], encoding: 'compressed_segmentation', sharding: 'auto' });
  const seg = await open({ ...spec, kvstore: `file://${dir}/seg/`, create: true });
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
