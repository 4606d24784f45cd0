/**
 * Layouts the bench engine creates and `volstore tune` recommends: zarr v3 arrays [z, y, x]
 * with a read chunk, an optional shard (write chunk) and a codec; their names, their zarr v3
 * metadata and the TensorStore spec that creates them.
 */
import { type DataType, dtypeSize, isDataType } from '../array/dtype.js';
import type { CodecJSON } from '../codecs/codec.js';
import { BenchInputError } from './errors.js';

/** A named inner-chunk codec chain (without the sharding codec). */
export interface CodecChoice {
  /** Short name: `raw`, `zstd(3)`, `gzip(6)`, `blosc(lz4)`, or `custom`. */
  name: string;
  /** zarr v3 codecs of one read chunk (bytes + compressors). */
  codecs: CodecJSON[];
}

/** A layout to create: zarr v3, C order [z, y, x] (or whatever the shape's rank). */
export interface Layout {
  dtype: DataType;
  shape: number[];
  /** Read chunk shape (the inner chunk when sharded). */
  chunk: number[];
  /** Shard shape (a multiple of `chunk` per dimension); undefined = unsharded. */
  shard?: number[];
  codec: CodecChoice;
}

const BYTES_LE: CodecJSON = { name: 'bytes', configuration: { endian: 'little' } };

/**
 * Parses a codec flag: `raw`, `zstd[:LEVEL]` (default 3), `gzip[:LEVEL]` (default 6),
 * `blosc[:lz4|zstd|blosclz|zlib|lz4hc]` (shuffle; default lz4), or a JSON array of zarr v3
 * codecs (`[{"name":"bytes"},{"name":"zstd"}]`). All of these TensorStore reads and writes.
 * @throws BenchInputError naming `flag`.
 */
export function parseCodec(text: string, dtype: DataType = 'uint8', flag = '--codec'): CodecChoice {
  const t = text.trim();
  if (t.startsWith('[')) {
    let j: unknown;
    try {
      j = JSON.parse(t);
    } catch (e) {
      throw new BenchInputError(`${flag}: not valid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(j) || j.some((c) => typeof c !== 'object' || c === null || typeof (c as { name?: unknown }).name !== 'string')) {
      throw new BenchInputError(`${flag}: JSON must be an array of codecs ({"name": ...})`);
    }
    return { name: (j as CodecJSON[]).map((c) => c.name).join('+'), codecs: j as CodecJSON[] };
  }
  const [name, arg] = t.split(':', 2) as [string, string | undefined];
  const level = (dflt: number, lo: number, hi: number) => {
    if (arg === undefined) return dflt;
    const n = Number(arg);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new BenchInputError(`${flag}: ${name} level must be an integer ${lo}..${hi}, got "${arg}"`);
    return n;
  };
  switch (name) {
    case 'raw':
      if (arg !== undefined) break;
      return { name: 'raw', codecs: [BYTES_LE] };
    case 'zstd': {
      const l = level(3, -7, 22);
      return { name: `zstd(${l})`, codecs: [BYTES_LE, { name: 'zstd', configuration: { level: l, checksum: false } }] };
    }
    case 'gzip': {
      const l = level(6, 0, 9);
      return { name: `gzip(${l})`, codecs: [BYTES_LE, { name: 'gzip', configuration: { level: l } }] };
    }
    case 'blosc': {
      const cname = arg ?? 'lz4';
      if (!['lz4', 'lz4hc', 'blosclz', 'zstd', 'zlib'].includes(cname)) throw new BenchInputError(`${flag}: blosc compressor "${cname}" (want lz4, lz4hc, blosclz, zstd, zlib)`);
      return {
        name: `blosc(${cname})`,
        codecs: [BYTES_LE, { name: 'blosc', configuration: { cname, clevel: 5, shuffle: 'shuffle', typesize: dtypeSize(dtype), blocksize: 0 } }],
      };
    }
  }
  throw new BenchInputError(`${flag}: "${text}" is not a codec (raw, zstd[:LEVEL], gzip[:LEVEL], blosc[:lz4|zstd|...], or a JSON codec array)`);
}

/** @throws BenchInputError unless `text` names a data type. */
export function parseDtype(text: string, flag = '--dtype'): DataType {
  const t = text.trim();
  if (!isDataType(t) || t === 'bool' || t === 'float16') throw new BenchInputError(`${flag}: "${text}" is not a supported data type (uint8, uint16, uint32, uint64, int8..int64, float32, float64)`);
  return t;
}

/**
 * A chunk shape of about `bytes` bytes: powers of two per dimension, as near a cube as they can
 * be (the later, faster-varying dimensions get the larger factors), never larger than `shape`
 * rounded up to a power of two.
 */
export function chunkShapeForBytes(bytes: number, dtype: DataType, shape: readonly number[]): number[] {
  const elems = Math.max(1, Math.floor(bytes / dtypeSize(dtype)));
  const logTarget = Math.max(0, Math.floor(Math.log2(elems)));
  const rank = shape.length;
  const cap = shape.map((s) => Math.ceil(Math.log2(Math.max(1, s))));
  const logs = new Array<number>(rank).fill(0);
  let left = logTarget;
  // hand out one doubling at a time, round-robin from the last dimension, skipping capped ones
  for (let guard = 0; left > 0 && guard < 64 * rank; guard++) {
    const d = rank - 1 - (guard % rank);
    if (logs[d]! < cap[d]!) {
      logs[d]!++;
      left--;
    } else if (logs.every((l, i) => l >= cap[i]!)) break;
  }
  return logs.map((l) => 2 ** l);
}

/** "64^3" or "16x128x128". */
export function shapeName(s: readonly number[]): string {
  return s.every((x) => x === s[0]) && s.length === 3 ? `${s[0]}^3` : s.join('x');
}

/** "64^3 zstd(3), 256^3 shards" / "16x128x128 raw". */
export function layoutName(l: Layout): string {
  return `${shapeName(l.chunk)} ${l.codec.name}${l.shard ? `, ${shapeName(l.shard)} shards` : ''}`;
}

/** Objects the layout stores for its whole volume (shards, or chunks when unsharded), metadata excluded. */
export function objectCount(l: Pick<Layout, 'shape' | 'chunk' | 'shard'>): number {
  const w = l.shard ?? l.chunk;
  return l.shape.reduce((a, s, d) => a * Math.ceil(s / w[d]!), 1);
}

/** The write chunk: the shard, or the chunk when unsharded. */
export function writeChunkOf(l: Pick<Layout, 'chunk' | 'shard'>): number[] {
  return l.shard ?? l.chunk;
}

/**
 * Checks a layout: ranks agree, shapes are positive, the shard is a whole multiple of the chunk.
 * @throws BenchInputError naming the flag.
 */
export function checkLayout(l: Layout): void {
  const rank = l.shape.length;
  if (l.chunk.length !== rank) throw new BenchInputError(`--chunk-shape has ${l.chunk.length} dimensions, --shape has ${rank}`);
  if (l.shard) {
    if (l.shard.length !== rank) throw new BenchInputError(`--shard-shape has ${l.shard.length} dimensions, --shape has ${rank}`);
    l.shard.forEach((s, d) => {
      if (s % l.chunk[d]! !== 0) throw new BenchInputError(`--shard-shape [${l.shard!.join(', ')}] is not a multiple of the chunk shape [${l.chunk.join(', ')}] (dimension ${d})`);
    });
  }
}

/** The codecs of the array: the chunk codecs, or sharding_indexed around them. */
export function arrayCodecs(l: Layout): CodecJSON[] {
  if (!l.shard) return l.codec.codecs;
  return [{
    name: 'sharding_indexed',
    configuration: {
      chunk_shape: l.chunk,
      codecs: l.codec.codecs,
      index_codecs: [BYTES_LE, { name: 'crc32c' }],
      index_location: 'end',
    },
  }];
}

/** zarr v3 `metadata` of the layout (as a TensorStore spec's `metadata` member). */
export function zarr3Metadata(l: Layout): Record<string, unknown> {
  return {
    shape: l.shape,
    data_type: l.dtype,
    chunk_grid: { name: 'regular', configuration: { chunk_shape: l.shard ?? l.chunk } },
    chunk_key_encoding: { name: 'default' },
    fill_value: 0,
    codecs: arrayCodecs(l),
  };
}

/**
 * The TensorStore spec that creates the layout on `kvstore` (TensorStore and volstore both
 * accept it: `ts.open(spec)` / `open(spec)`).
 */
export function createSpec(l: Layout, kvstore: Record<string, unknown> | string): Record<string, unknown> {
  return { driver: 'zarr3', kvstore, create: true, metadata: zarr3Metadata(l) };
}
