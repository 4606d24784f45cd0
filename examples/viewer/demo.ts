/**
 * The viewer's demo dataset, written with volstore from Node into a bucket of the built-in GCS
 * emulator (or any gs:// endpoint):
 *  - `em/s0/`: an EM-like uint8 image (src/bench/volume-gen.ts), zarr3 sharded (zstd in 8x96x96
 *    inner chunks, 32x192x192 shards), dimension names [z, y, x];
 *  - `em/s1/`: the same, downsampled 2x in y and x (`downsampleVolume`, mean): the coarser level
 *    the viewer switches to when zoomed out;
 *  - `seg/`: a uint64 segmentation (src/bench/seg-gen.ts), neuroglancer precomputed with
 *    compressed_segmentation encoding in 96x96x8 chunks, sharded, [x, y, z, channel].
 * Inner chunks decode to 72 KiB (image) and 576 KiB (labels): above the codec pool's 64 KiB
 * crossover, so in a browser they decode in Web Workers.
 */
import { NdArray } from '../../src/array/ndarray.js';
import { generateVolume } from '../../src/bench/volume-gen.js';
import { generateSegmentation } from '../../src/bench/seg-gen.js';
import { destinationSpec } from '../../src/jobs/destination.js';
import { downsampledShape, downsampleVolume } from '../../src/jobs/downsample.js';
import { open } from '../../src/open.js';

/** Where the demo volumes live and how to open them. */
export interface DemoDataset {
  /** Image levels, finest first (zarr3 specs with the emulator endpoint). */
  image: Record<string, unknown>[];
  /** The segmentation (precomputed spec). */
  seg: Record<string, unknown>;
  /** URLs of the same (`gs://bucket/path/|driver:`), for the viewer's address bar. */
  imageUrls: string[];
  segUrl: string;
  /** Image shape [z, y, x]. */
  shape: [number, number, number];
}

/** Image shape [z, y, x] of the demo (the segmentation is [x, y, z, 1]). */
export const DEMO_SHAPE: [number, number, number] = [96, 384, 384];

/** A zarr3 sharded uint8 spec (zstd inner chunks, crc32c index) at `path` in `bucket`. */
export function imageSpec(endpoint: string, bucket: string, path: string, shape: readonly number[], create = false): Record<string, unknown> {
  return {
    driver: 'zarr3',
    kvstore: { driver: 'gcs', bucket, path, endpoint },
    ...(create
      ? {
          create: true,
          dtype: 'uint8',
          schema: { domain: { shape, labels: ['z', 'y', 'x'] }, chunk_layout: { write_chunk: { shape: [32, 192, 192] }, read_chunk: { shape: [8, 96, 96] } } },
          metadata: {
            dimension_names: ['z', 'y', 'x'],
            codecs: [
              {
                name: 'sharding_indexed',
                configuration: {
                  chunk_shape: [8, 96, 96],
                  codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'zstd', configuration: { level: 3, checksum: false } }],
                  index_codecs: [{ name: 'bytes', configuration: { endian: 'little' } }, { name: 'crc32c' }],
                  index_location: 'end',
                },
              },
            ],
          },
        }
      : {}),
  };
}

/**
 * Writes the demo dataset to `bucket` at the GCS JSON API `endpoint` (e.g. the emulator's URL).
 * @param shape image shape [z, y, x] (each a multiple of the chunk shape is not required).
 * @returns the specs and URLs of what it wrote.
 */
export async function writeDemo(endpoint: string, bucket: string, shape: [number, number, number] = DEMO_SHAPE, seed = 1): Promise<DemoDataset> {
  const [Z, Y, X] = shape;
  const s0 = await open(imageSpec(endpoint, bucket, 'em/s0/', shape, true));
  await s0.write(new NdArray('uint8', generateVolume(shape, seed), shape));
  const shape1 = downsampledShape(shape, [1, 2, 2]);
  const s1 = await open(imageSpec(endpoint, bucket, 'em/s1/', shape1, true));
  await downsampleVolume(s0, s1, { factors: [1, 2, 2] });

  const segShape = [X, Y, Z, 1];
  const like = { shape: segShape, dtype: 'uint64' as const, chunkLayout: { gridOrigin: [0, 0, 0, 0], readChunk: { shape: segShape }, writeChunk: { shape: segShape } }, dimensionNames: ['x', 'y', 'z', 'channel'], fillValue: 0 };
  const segCreate = await destinationSpec({ driver: 'neuroglancer_precomputed', kvstore: { driver: 'gcs', bucket, path: 'seg/', endpoint } }, like, {
    driver: 'neuroglancer_precomputed', encoding: 'compressed_segmentation', sharding: 'auto', chunkShape: [96, 96, 8], resolution: [8, 8, 8],
  });
  const seg = await open(segCreate);
  await seg.write(new NdArray('uint64', generateSegmentation([X, Y, Z], seed).labels, segShape));

  const gs = (p: string, d: string) => `gs://${bucket}/${p}|${d}:`;
  return {
    image: [imageSpec(endpoint, bucket, 'em/s0/', shape), imageSpec(endpoint, bucket, 'em/s1/', shape1)],
    seg: { driver: 'neuroglancer_precomputed', kvstore: { driver: 'gcs', bucket, path: 'seg/', endpoint } },
    imageUrls: [gs('em/s0/', 'zarr3'), gs('em/s1/', 'zarr3')],
    segUrl: gs('seg/', 'neuroglancer-precomputed'),
    shape,
  };
}
