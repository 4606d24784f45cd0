import { type DataType, dtypeSize } from '../array/dtype.js';
import type { NdArray } from '../array/ndarray.js';
import type { CodecJSON } from '../codecs/codec.js';
import { SpecError, VolstoreError } from '../errors.js';
import { chunksInBox } from '../io/planner.js';
import { open } from '../open.js';
import { parseUrl } from '../spec/spec.js';
import type { Volume } from '../volume.js';
import { parseArgs, parseShapeArg, parseSpecArg } from './args.js';

/** `--codec zstd:3 | gzip:5 | blosc:zstd:5 | raw` as canonical bytes->bytes codecs. */
export function codecArg(s: string, dtype: DataType): CodecJSON[] {
  const [name, a, b] = s.split(':');
  const level = (v: string | undefined, dflt: number): number => {
    const n = v === undefined ? dflt : Number(v);
    if (!Number.isInteger(n)) throw new SpecError('--codec', `bad level in "${s}"`);
    return n;
  };
  switch (name) {
    case 'raw':
      return [];
    case 'zstd':
      return [{ name: 'zstd', configuration: { level: level(a, 3), checksum: false } }];
    case 'gzip':
      return [{ name: 'gzip', configuration: { level: level(a, 5) } }];
    case 'blosc':
      return [{ name: 'blosc', configuration: { cname: a ?? 'zstd', clevel: level(b, 5), shuffle: dtypeSize(dtype) === 1 ? 'bitshuffle' : 'shuffle', typesize: dtypeSize(dtype), blocksize: 0 } }];
    default:
      throw new SpecError('--codec', `unknown codec "${s}" (zstd:L, gzip:L, blosc:CNAME:L, raw)`);
  }
}

const BYTES_LE: CodecJSON = { name: 'bytes', configuration: { endian: 'little' } };

function typestr(d: DataType): string {
  if (d === 'bool') return '|b1';
  const size = dtypeSize(d);
  return `${size === 1 ? '|' : '<'}${d.startsWith('float') ? 'f' : d.startsWith('uint') ? 'u' : 'i'}${size}`;
}

export interface CopyOptions {
  driver?: string;
  chunkShape?: number[];
  shardShape?: number[];
  codec?: string;
  encoding?: string;
  sharding?: string;
}

/** What a destination is created from: a Volume, or a description of one (downsample). */
export type ArrayShapeSource = Pick<Volume, 'shape' | 'dtype' | 'chunkLayout' | 'dimensionNames' | 'fillValue'>;

/** The spec that creates the destination array from the source's dtype and shape. */
export async function destinationSpec(dst: string, src: ArrayShapeSource, o: CopyOptions): Promise<Record<string, unknown>> {
  const parsed = parseSpecArg(dst);
  const base: Record<string, unknown> = typeof parsed === 'string' ? parseUrl(parsed) : { ...parsed };
  const driver = o.driver ?? (base.driver as string | undefined) ?? 'zarr3';
  const shape = src.shape;
  const rank = shape.length;
  const chunk = o.chunkShape ?? [...src.chunkLayout.readChunk.shape];
  for (const [flag, s] of [['--chunk-shape', chunk], ['--shard-shape', o.shardShape]] as const) {
    if (s && s.length !== rank) throw new SpecError(flag, `has ${s.length} entries, the array has rank ${rank}`);
  }
  const dtype = src.dtype;
  const codecs = codecArg(o.codec ?? 'zstd:3', dtype);
  const labels = src.dimensionNames.some((l) => l) ? src.dimensionNames.map((l) => l || null) : undefined;
  const fill = typeof src.fillValue === 'bigint' ? Number(src.fillValue) : src.fillValue;
  const common = { ...base, driver, create: true, delete_existing: true, open: false };
  switch (driver) {
    case 'zarr3': {
      const shard = o.shardShape;
      if (shard) {
        shard.forEach((s, i) => {
          if (s % chunk[i]! !== 0) throw new SpecError('--shard-shape', `${shard} is not a multiple of the chunk shape ${chunk}`);
        });
      }
      return {
        ...common,
        metadata: {
          shape,
          data_type: dtype,
          chunk_grid: { name: 'regular', configuration: { chunk_shape: shard ?? chunk } },
          codecs: shard
            ? [{ name: 'sharding_indexed', configuration: { chunk_shape: chunk, codecs: [BYTES_LE, ...codecs], index_codecs: [BYTES_LE, { name: 'crc32c' }], index_location: 'end' } }]
            : [BYTES_LE, ...codecs],
          fill_value: typeof fill === 'number' && Number.isNaN(fill) ? 'NaN' : fill,
          ...(labels ? { dimension_names: labels } : {}),
        },
      };
    }
    case 'zarr': {
      if (o.shardShape) throw new SpecError('--shard-shape', 'zarr v2 has no sharding');
      const c = codecs[0];
      const compressor = !c ? null : c.name === 'blosc' ? { id: 'blosc', cname: c.configuration!.cname, clevel: c.configuration!.clevel, shuffle: dtypeSize(dtype) === 1 ? 2 : 1, blocksize: 0 } : { id: c.name, level: c.configuration!.level };
      return { ...common, metadata: { shape, chunks: chunk, dtype: typestr(dtype), compressor, fill_value: fill, order: 'C', filters: null } };
    }
    case 'n5': {
      if (o.shardShape) throw new SpecError('--shard-shape', 'N5 has no sharding');
      const { codecToN5Compression } = await import('../drivers/n5.js');
      return { ...common, metadata: { dimensions: shape, blockSize: chunk, dataType: dtype, compression: codecToN5Compression(codecs[0]) } };
    }
    case 'neuroglancer_precomputed': {
      const { precomputedCopySpec } = await import('./precomputed.js');
      return precomputedCopySpec(common, src, { chunkShape: o.chunkShape, shardShape: o.shardShape, encoding: o.encoding, sharding: o.sharding });
    }
    default:
      throw new SpecError('--driver', `unknown driver "${driver}"`);
  }
}

/**
 * Copies every element of `src` into `dst` (same shape), one destination write chunk (shard) at
 * a time, a few in flight, so each destination shard is written exactly once.
 */
export async function copyVolume(
  src: Volume,
  dst: Volume,
  options: {
    concurrency?: number;
    onProgress?: (done: number, total: number) => void;
    /** Produces the data of a destination region (default: the same region of `src`). */
    produce?: (region: readonly (readonly [number, number])[]) => Promise<NdArray>;
  } = {},
): Promise<void> {
  if (!options.produce && (src.rank !== dst.rank || src.shape.some((s, i) => s !== dst.shape[i]))) {
    throw new VolstoreError('spec', `source shape [${src.shape}] differs from destination shape [${dst.shape}]`);
  }
  const lo = dst.domain.inclusiveMin;
  const hi = dst.domain.exclusiveMax;
  const srcView = options.produce ? src : src.translateTo(lo);
  const produce = options.produce ?? ((region) => srcView.slice(region).read());
  // The destination's write chunks (shards) in the view's coordinates: the view is the array
  // itself, or the array transposed / with integer-indexed dims (unit strides).
  const grid = dst.driver.grid;
  const cell = lo.map(() => 1);
  const origin = [...lo];
  dst.transform.outputs.forEach((m, k) => {
    if (m.kind !== 'dim') return;
    if (m.stride !== 1) throw new VolstoreError('spec', 'copy destination views must have unit strides');
    cell[m.inputDim] = grid.writeChunkShape[k]!;
    origin[m.inputDim] = grid.origin[k]! - m.offset;
  });
  const cells = chunksInBox({ ...grid, origin, chunkShape: cell }, lo, hi);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < cells.length) {
      const c = cells[next++]!;
      const region = c.map((p, d) => {
        const a = origin[d]! + p * cell[d]!;
        return [Math.max(a, lo[d]!), Math.min(a + cell[d]!, hi[d]!)] as const;
      });
      await dst.slice(region).write(await produce(region));
      options.onProgress?.(++done, cells.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, cells.length) }, worker));
}

export async function copyCommand(args: string[]): Promise<number> {
  const { positional, flags } = parseArgs(args, { values: ['driver', 'chunk-shape', 'shard-shape', 'codec', 'encoding', 'sharding', 'concurrency'], booleans: ['quiet'] });
  if (positional.length !== 2) throw new VolstoreError('spec', 'usage: volstore copy <src> <dst> [options]');
  let src = await open(parseSpecArg(positional[0]!));
  const dstArg = parseSpecArg(positional[1]!);
  const dstDriver = (flags.driver as string | undefined) ?? (typeof dstArg === 'string' ? (parseUrl(dstArg).driver as string | undefined) : (dstArg.driver as string | undefined));
  if (dstDriver === 'neuroglancer_precomputed' && src.driver.driverName !== 'neuroglancer_precomputed' && src.rank === 3) {
    // zarr / N5-from-zarr sources are [z, y, x] (C order) unless labelled: precomputed is [x, y, z].
    const l = src.dimensionNames;
    src = ['x', 'y', 'z'].every((n) => l.includes(n)) ? src.transpose(['x', 'y', 'z']) : src.transpose([2, 1, 0]);
  }
  const spec = await destinationSpec(positional[1]!, src, {
    driver: flags.driver as string | undefined,
    chunkShape: typeof flags['chunk-shape'] === 'string' ? parseShapeArg(flags['chunk-shape'], '--chunk-shape') : undefined,
    shardShape: typeof flags['shard-shape'] === 'string' ? parseShapeArg(flags['shard-shape'], '--shard-shape') : undefined,
    codec: flags.codec as string | undefined,
    encoding: flags.encoding as string | undefined,
    sharding: flags.sharding as string | undefined,
  });
  let dst = await open(spec);
  if (dst.rank === src.rank + 1 && dst.driver.driverName === 'neuroglancer_precomputed') dst = dst.slice([null, null, null, dst.domain.inclusiveMin[3]!]);
  const t0 = performance.now();
  await copyVolume(src, dst, {
    concurrency: flags.concurrency ? Number(flags.concurrency) : undefined,
    onProgress: flags.quiet ? undefined : (d, n) => process.stderr.write(`\rcopied ${d}/${n} write chunks`),
  });
  const bytes = src.shape.reduce((a, b) => a * b, 1) * dtypeSize(src.dtype);
  if (!flags.quiet) process.stderr.write(`\ncopied ${(bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
  return 0;
}
