import { type CodecFactory, registerCodec } from './codec.js';

/**
 * The one codec registry: every canonical codec name and the module that implements it.
 * Each module exports `factory: CodecFactory`. Loaded lazily on first use.
 * `sharding_indexed` is not listed here: it lives with the rest of sharding in `src/sharding/`
 * (it contains codec chains itself) and is registered by `registerShardingCodec()` there.
 */
const CODECS: Record<string, () => Promise<{ factory: CodecFactory }>> = {
  // array -> array
  transpose: () => import('./transpose.js'),
  delta: () => import('./delta.js'),
  fixedscaleoffset: () => import('./fixedscaleoffset.js'),
  bitround: () => import('./bitround.js'),
  // array -> bytes
  bytes: () => import('./bytes.js'),
  compressed_segmentation: () => import('./compressed-segmentation.js'),
  jpeg: () => import('./jpeg.js'),
  png: () => import('./png.js'),
  // the N5 driver's block framing (header + compressed big-endian Fortran-order elements)
  n5_block: () => import('./n5-block.js'),
  // bytes -> bytes
  gzip: () => import('./gzip.js'),
  zlib: () => import('./zlib.js'),
  bz2: () => import('./bz2.js'),
  lz4: () => import('./lz4.js'),
  zstd: () => import('./zstd.js'),
  blosc: () => import('./blosc.js'),
  xz: () => import('./xz.js'),
  crc32c: () => import('./crc32c.js'),
  shuffle: () => import('./shuffle.js'),
};

let registered = false;

/** Registers the built-in codecs (idempotent). Called by the drivers before creating codecs. */
export function registerBuiltinCodecs(): void {
  if (registered) return;
  registered = true;
  for (const [name, load] of Object.entries(CODECS)) registerCodec(name, async () => (await load()).factory);
}
