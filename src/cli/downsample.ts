import { dtypeSize } from '../array/dtype.js';
import { NdArray } from '../array/ndarray.js';
import { SpecError, UnsupportedError, VolstoreError } from '../errors.js';
import { open } from '../open.js';
import { parseUrl } from '../spec/spec.js';
import { type DownsampleArray, type DownsampleMethod, downsample, downsampledShape } from '../wasm/downsample.js';
import { loadCore } from '../wasm/core.js';
import type { Volume } from '../volume.js';
import { parseArgs, parseShapeArg, parseSpecArg } from './args.js';
import { copyVolume, destinationSpec } from './copy.js';

/**
 * Reads `src` one destination write chunk at a time and writes it downsampled by integer
 * `factors` (mean for images, mode for segmentations) with the WASM kernel. Source windows
 * are aligned to the factors, so chunks are independent and the result equals downsampling
 * the whole array at once (edge windows average or vote over the voxels that exist).
 */
export async function downsampleVolume(src: Volume, dst: Volume, factors: readonly number[], method: DownsampleMethod, concurrency?: number): Promise<void> {
  if (src.dtype === 'float16' || src.dtype === 'bool') throw new UnsupportedError(`downsampling ${src.dtype} is not supported`);
  if (method === 'mode' && src.dtype.startsWith('float')) throw new UnsupportedError('mode downsampling needs an integer dtype (label volumes)');
  const want = downsampledShape(src.shape, factors);
  if (want.some((n, i) => n !== dst.shape[i])) throw new VolstoreError('spec', `destination shape [${dst.shape}] is not the downsampled shape [${want}]`);
  await loadCore();
  const slo = src.domain.inclusiveMin;
  const dlo = dst.domain.inclusiveMin;
  await copyVolume(src, dst, {
    concurrency,
    produce: async (region) => {
      const srcRegion = region.map(([a, b], d) => {
        const s0 = slo[d]! + (a - dlo[d]!) * factors[d]!;
        return [s0, Math.min(slo[d]! + (b - dlo[d]!) * factors[d]!, src.domain.exclusiveMax[d]!)] as const;
      });
      const block = await src.slice(srcRegion).read();
      const out = downsample(block.data as DownsampleArray, block.shape, factors, method, 'C');
      return new NdArray(src.dtype, out as never, downsampledShape(block.shape, factors));
    },
  });
}

export async function downsampleCommand(args: string[]): Promise<number> {
  const { positional, flags } = parseArgs(args, {
    values: ['factors', 'method', 'driver', 'chunk-shape', 'shard-shape', 'codec', 'encoding', 'sharding', 'concurrency'],
    booleans: ['quiet'],
  });
  if (positional.length !== 2 || typeof flags.factors !== 'string') {
    throw new VolstoreError('spec', 'usage: volstore downsample <src> <dst> --factors a,b,c [--method mean|mode] [copy options]');
  }
  const src = await open(parseSpecArg(positional[0]!));
  let factors = parseShapeArg(flags.factors, '--factors');
  if (factors.length > src.rank) throw new SpecError('--factors', `has ${factors.length} entries, the array has rank ${src.rank}`);
  factors = [...factors, ...new Array<number>(src.rank - factors.length).fill(1)]; // e.g. the channel dim
  if (src.rank > 4) throw new UnsupportedError('downsampling supports rank <= 4');
  // Default: labels (32/64-bit integers) vote, images average.
  const method = (flags.method as string | undefined) ?? (/^u?int(32|64)$/.test(src.dtype) ? 'mode' : 'mean');
  if (method !== 'mean' && method !== 'mode') throw new SpecError('--method', `must be mean or mode, got "${method}"`);
  const shape = downsampledShape(src.shape, factors);
  const dstArg = parseSpecArg(positional[1]!);
  const driver = (flags.driver as string | undefined) ?? (typeof dstArg === 'string' ? (parseUrl(dstArg).driver as string | undefined) : undefined);
  const chunk = src.chunkLayout.readChunk.shape.map((c, i) => Math.min(c, shape[i]!));
  const spec = await destinationSpec(positional[1]!, {
    shape,
    dtype: src.dtype,
    chunkLayout: { ...src.chunkLayout, readChunk: { shape: chunk } },
    dimensionNames: src.dimensionNames,
    fillValue: src.fillValue,
  }, {
    driver,
    chunkShape: typeof flags['chunk-shape'] === 'string' ? parseShapeArg(flags['chunk-shape'], '--chunk-shape') : undefined,
    shardShape: typeof flags['shard-shape'] === 'string' ? parseShapeArg(flags['shard-shape'], '--shard-shape') : undefined,
    codec: flags.codec as string | undefined,
    encoding: flags.encoding as string | undefined,
    sharding: flags.sharding as string | undefined,
  });
  const dst = await open(spec);
  const t0 = performance.now();
  await downsampleVolume(src, dst, factors, method, flags.concurrency ? Number(flags.concurrency) : undefined);
  if (!flags.quiet) {
    const mb = (shape.reduce((a, b) => a * b, 1) * dtypeSize(src.dtype)) / 1e6;
    process.stderr.write(`downsampled by [${factors}] (${method}) to [${shape}]: ${mb.toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
  }
  return 0;
}
