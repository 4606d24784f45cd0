import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPrecomputedVolume } from '../../src/drivers/precomputed-info.js';
import { NdArray, open } from '../../src/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'volstore-precomputed-api-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('neuroglancer_precomputed through the public API', () => {
  for (const [encoding, dtype, sharding] of [
    ['raw', 'uint16', 'none'], ['compressed_segmentation', 'uint64', 'auto'], ['png', 'uint8', 'rectangular'],
    ['compressed_segmentation', 'uint32', 'rectangular'], ['raw', 'float32', 'auto'],
  ] as const) {
    it(`${encoding} ${dtype} sharding=${sharding}: create, write, reopen, read`, async () => {
      const kvstore = { driver: 'file', path: `${dir}/${encoding}-${dtype}-${sharding}/` };
      const { spec } = buildPrecomputedVolume({
        dtype, shape: [37, 20, 11, 1], chunk: [16, 8, 4], encoding, voxelOffset: [10, -4, 2], resolution: [8, 8, 40],
        sharding, targetShardBytes: 4 * 16 * 8 * 4 * 8, shardShape: [32, 16, 8],
      });
      const vol = await open({ ...spec, kvstore, create: true });
      const src = NdArray.zeros(dtype, [37, 20, 11, 1]);
      for (let x = 0; x < 37; x++) for (let y = 0; y < 20; y++) for (let z = 0; z < 11; z++) {
        const v = Math.floor(x / 5) + 3 * Math.floor(y / 4) + 17 * z;
        src.set([x, y, z, 0], dtype === 'uint64' ? BigInt(v) << 33n : v);
      }
      await vol.write(src);
      const again = await open({ driver: 'neuroglancer_precomputed', kvstore, scale_metadata: { resolution: [8, 8, 40] } });
      const back = await again.read();
      expect(back.shape).toEqual([37, 20, 11, 1]);
      expect(back.toFlat()).toEqual(src.toFlat());
    });
  }
});
