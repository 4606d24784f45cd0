import { SpecError } from '../errors.js';
import type { Volume } from '../volume.js';
import { buildPrecomputedVolume, type PrecomputedVolumeOptions } from '../drivers/precomputed-info.js';

const ENCODINGS = ['raw', 'jpeg', 'png', 'compressed_segmentation'] as const;

/**
 * The `volstore copy --driver neuroglancer_precomputed` destination spec. `src` must already be
 * seen in [x, y, z] or [x, y, z, channel] order (the CLI transposes a zarr [z, y, x] source).
 * `--sharding auto` picks hashed sharding parameters for ~1 GiB shards; `--shard-shape` asks
 * for rectangular (identity-hash) shards of about that many voxels.
 */
export function precomputedCopySpec(
  common: Record<string, unknown>,
  src: Pick<Volume, 'shape' | 'dtype'>,
  o: { chunkShape?: number[]; shardShape?: number[]; encoding?: string; sharding?: string },
): Record<string, unknown> {
  const encoding = o.encoding ?? 'raw';
  if (!(ENCODINGS as readonly string[]).includes(encoding)) {
    throw new SpecError('--encoding', `must be one of ${ENCODINGS.join(', ')}, got "${encoding}"`);
  }
  if (o.sharding !== undefined && o.sharding !== 'auto' && o.sharding !== 'none') {
    throw new SpecError('--sharding', `must be "auto" or "none", got "${o.sharding}"`);
  }
  const shape = src.shape;
  if (shape.length !== 3 && shape.length !== 4) throw new SpecError('--driver', `neuroglancer_precomputed needs a rank 3 or 4 source, got rank ${shape.length}`);
  const opts: PrecomputedVolumeOptions = {
    dtype: src.dtype,
    shape,
    chunk: o.chunkShape?.slice(0, 3),
    encoding: encoding as PrecomputedVolumeOptions['encoding'],
    sharding: o.shardShape ? 'rectangular' : o.sharding === 'auto' ? 'auto' : 'none',
    shardShape: o.shardShape?.slice(0, 3),
  };
  const { spec } = buildPrecomputedVolume(opts);
  const { open: _o, ...rest } = common;
  return { ...rest, ...spec, driver: 'neuroglancer_precomputed', open: true, create: true, delete_existing: false };
}
