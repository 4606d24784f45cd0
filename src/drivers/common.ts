import { bytesOf, type DataType, type Scalar, dtypeSize, float16BitsToNumber, isBigIntDtype, isFloatDtype } from '../array/dtype.js';
import { cOrderStrides, NdArray, product } from '../array/ndarray.js';
import { copyStrided } from '../array/copy.js';
import type { ChunkGrid } from '../io/chunk-driver.js';
import { MAX_CHUNK_BYTES } from '../limits.js';
import { describeJson, jsonBoundsProblem, MAX_JSON_BYTES } from '../util/json.js';
import { AlreadyExistsError, ConditionFailedError, MetadataError, NotFoundError } from '../errors.js';
import { type KvStore, type LocalFile, NO_GENERATION, rmwPause } from '../kvstore/kvstore.js';
import { CodecChain } from '../codecs/chain.js';
import type { ChainRunner, ChunkSpec, CodecContext, CodecJSON, DecodeTarget } from '../codecs/codec.js';
import type { OpenMode, Schema } from './driver.js';
import { type MetadataCache, readMetadata, wroteMetadata } from '../cache/metadata.js';
import { now } from '../cache/pool.js';
import type { RequestPriority } from '../util/limiter.js';

/**
 * Parses stored JSON bytes; a MetadataError names the key when they are not valid JSON, larger
 * than MAX_JSON_BYTES or nested deeper than MAX_JSON_DEPTH (`src/util/json.ts`: such documents
 * once overflowed the stack while an error message was formatted). An integer `fill_value`
 * beyond 2^53 keeps its exact digits (see keepExactFillValue).
 */
export function parseJsonBytes(bytes: Uint8Array, key: string): unknown {
  if (bytes.length > MAX_JSON_BYTES) throw new MetadataError(key, `${bytes.length} bytes is more than the ${MAX_JSON_BYTES}-byte limit for metadata`);
  let json: unknown;
  let text = '';
  try {
    json = JSON.parse((text = new TextDecoder().decode(bytes)));
  } catch (e) {
    throw new MetadataError(key, `not valid JSON: ${describeJson((e as Error).message)}`);
  }
  const problem = jsonBoundsProblem(json);
  if (problem) throw new MetadataError(key, `rejected: ${problem}`);
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

/**
 * Reads and parses a JSON metadata key (through the cache pool when `cache` is given);
 * undefined when missing. Errors name the key.
 */
export async function readJson(store: KvStore, key: string, signal?: AbortSignal, cache?: MetadataCache): Promise<{ json: Record<string, unknown>; generation: string } | undefined> {
  const r = await readMetadata(store, key, signal, cache);
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

/** Rounds of read + conditional write before {@link openOrCreate} gives up on a metadata key. */
const MAX_METADATA_ATTEMPTS = 16;

/**
 * The open/create state machine shared by every driver (TensorStore's semantics):
 * open only (default) needs existing metadata; create only needs none; open+create opens or
 * creates; delete_existing (with create, without open) removes what is there first;
 * assume_metadata builds the metadata from the spec and neither reads nor writes it.
 *
 * The metadata key may hold more than this array: an N5 group's attributes.json, a precomputed
 * `info` with other scales. `parse` then returns undefined, and creating adds the array to
 * what is there (`build` and `serialize` get the existing JSON). Creation writes conditionally
 * on the generation read (`''`, "must not exist", when the key was missing), so two racing
 * creators cannot both win; the loser re-reads and opens (or fails) on the next round.
 * @throws AlreadyExistsError / NotFoundError per the mode; MetadataError from `parse`;
 *   ConditionFailedError when the key keeps changing under concurrent writers.
 */
export async function openOrCreate<M>(args: {
  store: KvStore;
  metadataKey: string;
  mode: OpenMode;
  signal?: AbortSignal;
  /**
   * Metadata reads through the Context's cache pool (`recheck_cached_metadata`); `open()`
   * passes it as `DriverOpenRequest.metadataCache`. Records the metadata opened in it.
   */
  cache?: MetadataCache;
  /**
   * Parses and validates existing metadata against the spec's constraints; undefined when the
   * key exists but holds no such array (creating then adds it).
   */
  parse: (json: Record<string, unknown>) => M | undefined;
  /** Builds new metadata from the spec (and what the key holds already); called only when creating. */
  build: (existing: Record<string, unknown> | undefined) => M;
  /** The JSON to store for new metadata (merged with what the key holds already). */
  serialize: (m: M, existing: Record<string, unknown> | undefined) => Record<string, unknown>;
  /**
   * delete_existing: removes the existing array and returns what the key should hold
   * afterwards (undefined: nothing). Default: deletes everything under the store.
   */
  deleteExisting?: (existing: Record<string, unknown> | undefined) => Promise<Record<string, unknown> | undefined>;
  /** The NotFoundError message when opening finds no such array. */
  notFound?: (existing: Record<string, unknown> | undefined) => string;
  /** The AlreadyExistsError message when creating (without open) finds the array. */
  alreadyExists?: (m: M) => string;
}): Promise<M> {
  const { store, metadataKey, mode, signal } = args;
  if (mode.assumeMetadata) return args.build(undefined);
  if (mode.deleteExisting && (!mode.create || mode.open)) {
    throw new MetadataError(metadataKey, 'delete_existing requires create: true and open: false');
  }
  const url = keyUrl(store, metadataKey);
  let deleted = false;
  const { cache } = args;
  for (let attempt = 0; attempt < MAX_METADATA_ATTEMPTS; attempt++) {
    // After a lost race the cached bytes are known to be old: revalidate them.
    const r = await readMetadata(store, metadataKey, signal, cache, attempt === 0 ? cache?.recheckBefore : now());
    let generation = r.generation;
    let existing = r.state === 'value' ? jsonObject(parseJsonBytes(r.value, metadataKey), metadataKey) : undefined;
    if (mode.deleteExisting && !deleted) {
      deleted = true;
      if (args.deleteExisting) {
        existing = await args.deleteExisting(existing);
      } else {
        await store.deleteRange('', { signal });
        existing = undefined;
        generation = NO_GENERATION;
      }
    }
    const found = existing ? args.parse(existing) : undefined;
    if (found !== undefined) {
      if (!mode.open) throw new AlreadyExistsError(url, args.alreadyExists?.(found));
      if (cache && r.state === 'value' && !deleted) cache.opened = { store, key: metadataKey, generation: r.generation, value: r.value };
      return found;
    }
    if (!mode.create) throw new NotFoundError(url, args.notFound?.(existing) ?? 'no array metadata found (open: true, create: false)');
    const m = args.build(existing);
    const bytes = encodeJson(args.serialize(m, existing));
    const w = await store.write(metadataKey, bytes, { ifEqual: generation, signal });
    wroteMetadata(cache, store, metadataKey, w.ok ? bytes : undefined, w.ok ? w.generation : '');
    if (w.ok) {
      if (cache) cache.opened = { store, key: metadataKey, generation: w.generation, value: bytes };
      return m;
    }
    // Lost a race with another writer: read again and open, add to, or refuse what is there.
    await rmwPause(attempt, signal);
  }
  throw new ConditionFailedError(url, `metadata kept changing under concurrent writers (${MAX_METADATA_ATTEMPTS} attempts)`);
}

function jsonObject(json: unknown, key: string): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new MetadataError(key, 'must be a JSON object');
  return json as Record<string, unknown>;
}

export function expectArray(v: unknown, key: string, field: string): unknown[] {
  if (!Array.isArray(v)) throw new MetadataError(key, `"${field}" must be an array, got ${describeJson(v)}`);
  return v;
}

export function expectShape(v: unknown, key: string, field: string, rank?: number, positive = false): number[] {
  const a = expectArray(v, key, field);
  if (rank !== undefined && a.length !== rank) throw new MetadataError(key, `"${field}" must have ${rank} entries, got ${a.length}`);
  for (const x of a) {
    if (!Number.isSafeInteger(x) || (x as number) < (positive ? 1 : 0)) {
      throw new MetadataError(key, `"${field}" must be ${positive ? 'positive' : 'non-negative'} integers, got ${describeJson(v)}`);
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
    throw new MetadataError(key, `"${field}" ${describeJson(v)} is not a valid ${dtype} fill value`);
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

/**
 * Checks stored metadata against the schema constraints from the spec: dtype, rank, domain
 * (shape, origin, labels), read and write chunk shapes, fill value. Only fields present on both
 * sides are compared. Every driver calls it with what its metadata says (see
 * {@link checkGridSchema} for the planner's grid).
 * @throws MetadataError naming the key and the first mismatch.
 */
export function checkSchema(schema: Schema, key: string, actual: { dtype: DataType; shape: readonly number[]; origin?: readonly number[]; labels?: readonly (string | null)[]; chunkShape?: readonly number[]; writeChunkShape?: readonly number[]; fillValue?: Scalar }): void {
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
  const o = schema.domain?.inclusiveMin;
  const origin = actual.origin ?? actual.shape.map(() => 0);
  if (o && (o.length !== origin.length || o.some((x, i) => x !== origin[i]))) {
    throw new MetadataError(key, `origin is [${origin}], but the spec's schema domain requires [${o}]`);
  }
  const labels = schema.domain?.labels;
  if (labels && actual.labels && labels.some((l, i) => l !== '' && (actual.labels![i] ?? '') !== l)) {
    throw new MetadataError(key, `dimension names are ${describeJson(actual.labels)}, but the spec requires ${describeJson(labels)}`);
  }
  if (schema.readChunkShape && actual.chunkShape && schema.readChunkShape.some((c, i) => c && c !== actual.chunkShape![i])) {
    throw new MetadataError(key, `read chunk shape is [${actual.chunkShape}], but the spec requires [${schema.readChunkShape}]`);
  }
  if (schema.writeChunkShape && actual.writeChunkShape && schema.writeChunkShape.some((c, i) => c && c !== actual.writeChunkShape![i])) {
    throw new MetadataError(key, `write chunk shape is [${actual.writeChunkShape}], but the spec requires [${schema.writeChunkShape}]`);
  }
  if (schema.fillValue !== undefined && actual.fillValue !== undefined && !sameScalar(schema.fillValue, actual.fillValue)) {
    throw new MetadataError(key, `fill value is ${String(actual.fillValue)}, but the spec requires ${String(schema.fillValue)}`);
  }
}

/** {@link checkSchema} against a driver's chunk grid (every field the grid declares). */
export function checkGridSchema(schema: Schema, key: string, grid: ChunkGrid): void {
  checkSchema(schema, key, {
    dtype: grid.dtype,
    shape: grid.shape,
    origin: grid.origin,
    labels: grid.dimensionNames,
    chunkShape: grid.chunkShape,
    writeChunkShape: grid.writeChunkShape,
    fillValue: grid.fillValue,
  });
}

function sameScalar(a: Scalar, b: Scalar): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b || (Number.isNaN(a) && Number.isNaN(b));
  // bigint vs number, booleans: compare values
  return String(typeof a === 'boolean' ? +a : a) === String(typeof b === 'boolean' ? +b : b);
}

/**
 * The in-domain extent of the chunk at grid position `pos`: the chunk shape, clipped at the
 * domain's upper end. Formats that store edge chunks cropped (N5, precomputed) store this much.
 */
export function chunkExtent(grid: ChunkGrid, pos: readonly number[]): number[] {
  return grid.chunkShape.map((c, d) => Math.max(0, Math.min(c, grid.shape[d]! - pos[d]! * c)));
}

/**
 * A decoded edge chunk of `extent` padded to the full chunk shape with the fill value (the
 * planner always gets full chunks); `a` itself when it is already full.
 */
export function padToChunk(grid: ChunkGrid, a: NdArray): NdArray {
  const full = grid.chunkShape;
  if (a.shape.every((e, i) => e === full[i])) return a;
  const size = dtypeSize(a.dtype);
  const out = NdArray.zeros(a.dtype, full, grid.fillValue);
  copyStrided(
    bytesOf(out.data), 0, cOrderStrides(full).map((s) => s * size),
    bytesOf(a.data), a.offset * size, a.strides.map((s) => s * size),
    a.shape, size,
  );
  return out;
}

/** The in-domain corner of a full chunk array, as a view (no copy): what cropping formats store. */
export function cropToExtent(a: NdArray, extent: readonly number[]): NdArray {
  return new NdArray(a.dtype, a.data, extent, a.strides, a.offset);
}

/** A default chunk shape for a new array: up to 64 per dim (TensorStore chooses similarly ~1 MiB). */
export function defaultChunkShape(shape: readonly number[]): number[] {
  return shape.map((s) => Math.max(1, Math.min(s, 64)));
}

/**
 * Chunk coding through codec chains, keyed for error messages by the chunk's store key. With a
 * `runner` (the Context's codec worker pool), the chains hand it the chunks worth moving off
 * the calling thread; reads decode straight into their result (decodeChunkInto).
 *
 * One chain serves every chunk unless the format stores edge chunks cropped (N5 writes,
 * precomputed): such a driver overrides {@link chainFor} to give a chain per stored extent
 * ({@link ChainsByExtent}), and {@link toStored} / {@link fromStored} to crop what it encodes
 * and pad what it decodes (the planner always sees full chunks).
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

  /** The chain coding chunk `chunk` (`encode`: for writing it). Default: the one chain. */
  protected chainFor(_chunk: readonly number[], _encode: boolean): CodecChain | Promise<CodecChain> {
    return this.chain;
  }

  /** What is encoded of a full chunk array (default: all of it; cropping formats: its in-domain corner). */
  protected toStored(array: NdArray, _chunk: readonly number[]): NdArray {
    return array;
  }

  /** The full chunk array for what the decode chain returned (default: as it is; cropping formats: padded). */
  protected fromStored(array: NdArray, _chunk: readonly number[]): NdArray {
    return array;
  }

  private ctx(chunk: readonly number[], signal: AbortSignal | undefined, priority?: RequestPriority): CodecContext {
    return { key: this.describeChunk(chunk), signal, runner: this.runner, priority };
  }

  async decodeChunk(bytes: Uint8Array, chunk: readonly number[], signal?: AbortSignal, priority?: RequestPriority): Promise<NdArray> {
    const chain = await this.chainFor(chunk, false);
    return this.fromStored(await chain.decode(bytes, this.ctx(chunk, signal, priority)), chunk);
  }

  /** See ChunkDriver.decodeChunkInto: through the chain's decodeInto (a worker of the runner writes the result). */
  async decodeChunkInto(bytes: Uint8Array, chunk: readonly number[], target: DecodeTarget, signal?: AbortSignal, priority?: RequestPriority): Promise<NdArray | undefined> {
    const chain = await this.chainFor(chunk, false);
    const a = await chain.decodeInto(bytes, this.ctx(chunk, signal, priority), target);
    return a && this.fromStored(a, chunk);
  }

  /** See ChunkDriver.decodeFileInto: the runner's worker reads the file, decodes and places the chunk. */
  async decodeFileInto(file: LocalFile, chunk: readonly number[], target: DecodeTarget, signal?: AbortSignal, priority?: RequestPriority): Promise<'placed' | 'missing' | undefined> {
    if (!this.runner?.decodeFileInto || target.keep) return undefined;
    const chain = await this.chainFor(chunk, false);
    return this.runner.decodeFileInto(chain, file, this.ctx(chunk, signal, priority), target);
  }

  /** See ChunkDriver.wantsSharedResult: when the runner (a codec worker pool) would write such a result itself. */
  wantsSharedResult(bytes: number, fileReads?: boolean): boolean {
    return this.runner?.wantsSharedResult?.(this.chain, bytes, fileReads) ?? false;
  }

  async encodeChunk(array: NdArray, chunk: readonly number[], signal?: AbortSignal): Promise<Uint8Array> {
    const chain = await this.chainFor(chunk, true);
    return chain.encode(this.toStored(array, chunk), this.ctx(chunk, signal));
  }

  /** See ChunkDriver.encodeChunkUnlessFill: the fill check runs in the codec worker with the encode. */
  async encodeChunkUnlessFill(array: NdArray, chunk: readonly number[], signal?: AbortSignal): Promise<Uint8Array | null> {
    const chain = await this.chainFor(chunk, true);
    return chain.encodeUnlessFill(this.toStored(array, chunk), this.ctx(chunk, signal));
  }
}

/**
 * Codec chains by stored chunk extent, built on first use (at most 2^rank of them: interior
 * chunks and the edge combinations), for formats that store edge chunks cropped.
 */
export class ChainsByExtent {
  private readonly chains = new Map<string, Promise<CodecChain>>();
  constructor(
    private readonly codecs: readonly CodecJSON[],
    private readonly spec: ChunkSpec,
    private readonly field?: string,
  ) {}

  /** The chain for chunks stored with `extent` (the spec's shape replaced by it). */
  get(extent: readonly number[]): Promise<CodecChain> {
    const k = extent.join(',');
    let c = this.chains.get(k);
    if (!c) {
      c = CodecChain.create(this.codecs, { ...this.spec, shape: [...extent] }, this.field);
      this.chains.set(k, c);
      c.catch(() => this.chains.delete(k));
    }
    return c;
  }
}
