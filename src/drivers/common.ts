import { type DataType, type Scalar, dtypeSize, float16BitsToNumber, isBigIntDtype, isFloatDtype } from '../array/dtype.js';
import { product } from '../array/ndarray.js';
import { MAX_CHUNK_BYTES } from '../limits.js';
import { AlreadyExistsError, MetadataError, NotFoundError } from '../errors.js';
import type { KvStore } from '../kvstore/kvstore.js';
import type { NdArray } from '../array/ndarray.js';
import type { CodecChain } from '../codecs/chain.js';
import type { ChainRunner } from '../codecs/codec.js';
import type { OpenMode, Schema } from './driver.js';

/**
 * Parses stored JSON bytes; a MetadataError names the key when they are not valid JSON. An
 * integer `fill_value` beyond 2^53 keeps its exact digits (see keepExactFillValue).
 */
export function parseJsonBytes(bytes: Uint8Array, key: string): unknown {
  let json: unknown;
  let text = '';
  try {
    json = JSON.parse((text = new TextDecoder().decode(bytes)));
  } catch (e) {
    throw new MetadataError(key, `not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) keepExactFillValue(json as Record<string, unknown>, text);
  return json;
}

const BIG_FILL = /"fill_value"\s*:\s*(-?\d+)\s*[,}]/g;

/**
 * JSON.parse rounds integers beyond 2^53: an int64/uint64 `fill_value` such as
 * 9223372036854775807 (numpy's iinfo max, as zarr-python writes it) would come back as 2^63
 * and wrap. Keep the literal digits as a string instead; parseFillValue reads them exactly.
 */
function keepExactFillValue(json: Record<string, unknown>, text: string): void {
  const v = json.fill_value;
  if (typeof v !== 'number' || !Number.isInteger(v) || Number.isSafeInteger(v)) return;
  for (const m of text.matchAll(BIG_FILL)) {
    if (Number(m[1]) === v) {
      json.fill_value = m[1];
      return;
    }
  }
}

/** Reads and parses a JSON metadata key; undefined when missing. Errors name the key. */
export async function readJson(store: KvStore, key: string, signal?: AbortSignal): Promise<{ json: Record<string, unknown>; generation: string } | undefined> {
  const r = await store.read(key, { signal });
  if (r.state !== 'value') return undefined;
  const json = parseJsonBytes(r.value, key);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new MetadataError(key, 'must be a JSON object');
  return { json: json as Record<string, unknown>, generation: r.generation };
}

/** The URL of a key of a store, for messages. */
export function keyUrl(store: KvStore, key: string): string {
  return store.url.endsWith('/') ? store.url + key : `${store.url}/${key}`;
}

/**
 * JSON text of metadata. An integer `fill_value` beyond 2^53 (held as a decimal string, see
 * fillValueToJson) is written as a JSON number literal, as zarr and TensorStore expect.
 */
export function encodeJson(json: unknown): Uint8Array {
  let text = JSON.stringify(json, null, 2);
  const fv = (json as { fill_value?: unknown } | null)?.fill_value;
  if (typeof fv === 'string' && /^-?\d+$/.test(fv)) text = text.replace(`"fill_value": "${fv}"`, `"fill_value": ${fv}`);
  return new TextEncoder().encode(text);
}

/**
 * The open/create state machine shared by every driver (TensorStore's semantics):
 * open only (default) needs existing metadata; create only needs none; open+create opens or
 * creates; delete_existing (with create, without open) removes what is there first.
 * `create` writes metadata with "must not exist", so two racing creators cannot both win.
 */
export async function openOrCreate<M>(args: {
  store: KvStore;
  metadataKey: string;
  mode: OpenMode;
  signal?: AbortSignal;
  /** Parses and validates existing metadata against the spec's constraints. */
  parse: (json: Record<string, unknown>) => M;
  /** Builds new metadata from the spec; called only when creating. */
  build: () => M;
  serialize: (m: M) => Record<string, unknown>;
}): Promise<M> {
  const { store, metadataKey, mode, signal } = args;
  if (mode.assumeMetadata) return args.build();
  if (mode.deleteExisting) {
    if (!mode.create || mode.open) throw new MetadataError(metadataKey, 'delete_existing requires create: true and open: false');
    await store.deleteRange('', { signal });
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    if (mode.open || !mode.create) {
      const existing = await readJson(store, metadataKey, signal);
      if (existing) {
        if (!mode.open) throw new AlreadyExistsError(keyUrl(store, metadataKey));
        return args.parse(existing.json);
      }
      if (!mode.create) throw new NotFoundError(keyUrl(store, metadataKey), 'no array metadata found (open: true, create: false)');
    }
    const m = args.build();
    const w = await store.write(metadataKey, encodeJson(args.serialize(m)), { ifEqual: '', signal });
    if (w.ok) return m;
    if (!mode.open) throw new AlreadyExistsError(keyUrl(store, metadataKey));
    // Lost a creation race with open: true: open what the winner wrote.
  }
  throw new MetadataError(metadataKey, 'metadata kept changing while opening');
}

export function expectArray(v: unknown, key: string, field: string): unknown[] {
  if (!Array.isArray(v)) throw new MetadataError(key, `"${field}" must be an array, got ${JSON.stringify(v)}`);
  return v;
}

export function expectShape(v: unknown, key: string, field: string, rank?: number, positive = false): number[] {
  const a = expectArray(v, key, field);
  if (rank !== undefined && a.length !== rank) throw new MetadataError(key, `"${field}" must have ${rank} entries, got ${a.length}`);
  for (const x of a) {
    if (!Number.isSafeInteger(x) || (x as number) < (positive ? 1 : 0)) {
      throw new MetadataError(key, `"${field}" must be ${positive ? 'positive' : 'non-negative'} integers, got ${JSON.stringify(v)}`);
    }
  }
  return a as number[];
}

/**
 * Throws MetadataError naming `field` when a read chunk (the unit decoded and cached) of `shape`
 * `dtype` elements would exceed {@link MAX_CHUNK_BYTES}: such metadata is hostile or mistaken,
 * and decoding one chunk would fail with a RangeError or run out of memory.
 */
export function checkChunkBytes(shape: readonly number[], dtype: DataType, key: string, field: string): void {
  const bytes = product(shape) * dtypeSize(dtype);
  if (bytes > MAX_CHUNK_BYTES) {
    throw new MetadataError(
      key,
      `"${field}" [${shape.join(', ')}] makes chunks of ${bytes} bytes (${dtype}), more than the ${MAX_CHUNK_BYTES}-byte limit (MAX_CHUNK_BYTES): use smaller chunks`,
    );
  }
}

/** Fill value JSON (zarr v2/v3 style) to a scalar of the dtype. */
export function parseFillValue(v: unknown, dtype: DataType, key: string, field = 'fill_value'): Scalar {
  const bad = (): never => {
    throw new MetadataError(key, `"${field}" ${JSON.stringify(v)} is not a valid ${dtype} fill value`);
  };
  if (v === null || v === undefined) return dtype === 'bool' ? false : isBigIntDtype(dtype) ? 0n : 0;
  if (dtype === 'bool') return typeof v === 'boolean' ? v : v === 0 || v === 1 ? v === 1 : bad();
  if (isFloatDtype(dtype)) {
    if (typeof v === 'number') return v;
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
    if (typeof v === 'string' && /^0x[0-9a-fA-F]+$/.test(v)) {
      const bits = BigInt(v);
      if (dtype === 'float16') return float16BitsToNumber(Number(bits));
      if (dtype === 'float32') return new Float32Array(new Uint32Array([Number(bits)]).buffer)[0]!;
      return new Float64Array(new BigUint64Array([bits]).buffer)[0]!;
    }
    return bad();
  }
  if (typeof v === 'boolean') return isBigIntDtype(dtype) ? BigInt(+v) : +v;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    if (typeof v === 'string' && /^-?\d+$/.test(v) && isBigIntDtype(dtype)) return BigInt(v);
    return bad();
  }
  return isBigIntDtype(dtype) ? BigInt(v) : v;
}

/** Scalar to fill value JSON (NaN/Infinity as strings, bigint as number when exact). */
export function fillValueToJson(v: Scalar, dtype: DataType): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'boolean') return v;
  if (dtype === 'bool') return v !== 0;
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}

/** Checks stored metadata against the schema constraints from the spec. */
export function checkSchema(schema: Schema, key: string, actual: { dtype: DataType; shape: readonly number[]; labels?: readonly (string | null)[]; chunkShape?: readonly number[]; writeChunkShape?: readonly number[]; fillValue?: Scalar }): void {
  if (schema.dtype !== undefined && schema.dtype !== actual.dtype) {
    throw new MetadataError(key, `dtype is ${actual.dtype}, but the spec requires ${schema.dtype}`);
  }
  if (schema.rank !== undefined && schema.rank !== actual.shape.length) {
    throw new MetadataError(key, `rank is ${actual.shape.length}, but the spec requires ${schema.rank}`);
  }
  const s = schema.domain?.shape;
  if (s && (s.length !== actual.shape.length || s.some((x, i) => x !== actual.shape[i]))) {
    throw new MetadataError(key, `shape is [${actual.shape}], but the spec's schema domain requires [${s}]`);
  }
  const labels = schema.domain?.labels;
  if (labels && actual.labels && labels.some((l, i) => l !== '' && (actual.labels![i] ?? '') !== l)) {
    throw new MetadataError(key, `dimension names are ${JSON.stringify(actual.labels)}, but the spec requires ${JSON.stringify(labels)}`);
  }
  if (schema.readChunkShape && actual.chunkShape && schema.readChunkShape.some((c, i) => c && c !== actual.chunkShape![i])) {
    throw new MetadataError(key, `read chunk shape is [${actual.chunkShape}], but the spec requires [${schema.readChunkShape}]`);
  }
  if (schema.writeChunkShape && actual.writeChunkShape && schema.writeChunkShape.some((c, i) => c && c !== actual.writeChunkShape![i])) {
    throw new MetadataError(key, `write chunk shape is [${actual.writeChunkShape}], but the spec requires [${schema.writeChunkShape}]`);
  }
}

/** A default chunk shape for a new array: up to 64 per dim (TensorStore chooses similarly ~1 MiB). */
export function defaultChunkShape(shape: readonly number[]): number[] {
  return shape.map((s) => Math.max(1, Math.min(s, 64)));
}

/**
 * Chunk coding through one codec chain, keyed for error messages by the chunk's store key.
 * With a `runner` (the Context's codec worker pool), the chain hands it the chunks worth moving
 * off the calling thread.
 */
export abstract class CodecChainDriver {
  protected constructor(
    protected readonly chain: CodecChain,
    protected readonly runner?: ChainRunner,
  ) {}

  abstract keyOf(chunk: readonly number[]): string;

  /** How errors name a chunk: its store key (drivers with virtual keys say where it lives). */
  describeChunk(chunk: readonly number[]): string {
    return this.keyOf(chunk);
  }

  decodeChunk(bytes: Uint8Array, chunk: readonly number[], signal?: AbortSignal): Promise<NdArray> {
    return this.chain.decode(bytes, { key: this.describeChunk(chunk), signal, runner: this.runner });
  }

  encodeChunk(array: NdArray, chunk: readonly number[], signal?: AbortSignal): Promise<Uint8Array> {
    return this.chain.encode(array, { key: this.describeChunk(chunk), signal, runner: this.runner });
  }
}
