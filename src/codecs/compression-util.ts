import { CodecError, CorruptionError, SpecError, UnsupportedError, VolstoreError, throwIfAborted } from '../errors.js';
import type { CodecContext } from './codec.js';
import { describeJson } from '../util/json.js';

/** Shared helpers for the bytes->bytes codecs: config parsing, error wrapping, checksums. */

/** Reads an integer option of a codec configuration, with a default and an inclusive range. */
export function intOption(
  codec: string,
  config: Record<string, unknown>,
  key: string,
  dflt: number,
  min: number,
  max: number,
): number {
  const v = config[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new SpecError(`codecs.${codec}.${key}`, `expected an integer in [${min}, ${max}], got ${describeJson(v)}`);
  }
  return v;
}

export function keyOf(ctx: CodecContext | undefined): string {
  return ctx?.key ?? '<chunk>';
}

/** A CorruptionError for input that is truncated or inconsistent with its own framing. */
export function corrupt(codec: string, ctx: CodecContext | undefined, message: string, cause?: unknown): CorruptionError {
  return new CorruptionError(keyOf(ctx), `${codec}: ${message}`, cause === undefined ? undefined : { cause });
}

/** The decoded-size limit of a decode (CodecContext.maxDecodedBytes), Infinity when unset. */
export function limitOf(ctx: CodecContext | undefined): number {
  return ctx?.maxDecodedBytes ?? Infinity;
}

/** The CorruptionError for output beyond CodecContext.maxDecodedBytes (a decompression bomb). */
export function tooLarge(codec: string, ctx: CodecContext | undefined, what = 'decoded data'): CorruptionError {
  return corrupt(
    codec,
    ctx,
    `${what} exceeds the limit of ${limitOf(ctx)} bytes for this chunk (decompression bomb, or a chunk not of this array?)`,
  );
}

/** Deflate's largest expansion ratio (258-byte matches in ~2 bits each). */
const DEFLATE_MAX_RATIO = 1032;

/**
 * Pushes `b` through a streaming (fflate) decompressor. Without a limit, in one go; with one,
 * in slices of limit/1032 bytes (1-64 KiB), throwing {@link tooLarge} as soon as `produced()`
 * passes the limit, so a bomb stops after at most one slice's worth of output (about the
 * limit again, at least 1 MiB) beyond it.
 */
export function pushLimited(
  strm: { push(chunk: Uint8Array, final?: boolean): void },
  b: Uint8Array,
  produced: () => number,
  codec: string,
  ctx: CodecContext | undefined,
): void {
  const limit = limitOf(ctx);
  if (!Number.isFinite(limit)) {
    strm.push(b, true);
    return;
  }
  const slice = Math.min(65536, Math.max(1024, Math.floor(limit / DEFLATE_MAX_RATIO)));
  for (let p = 0; ; p += slice) {
    const end = Math.min(b.length, p + slice);
    strm.push(b.subarray(p, end), end === b.length);
    if (produced() > limit) throw tooLarge(codec, ctx);
    if (end === b.length) return;
  }
}

/**
 * Runs a decode step, turning any non-volstore failure (a library throwing a string, an Error,
 * a wasm abort) into a CodecError naming the codec and the key.
 */
export async function guardDecode<T>(codec: string, ctx: CodecContext | undefined, fn: () => T | Promise<T>): Promise<T> {
  throwIfAborted(ctx?.signal);
  try {
    return await fn();
  } catch (e) {
    if (e instanceof VolstoreError) throw e;
    throw new CodecError(codec, `cannot decode "${keyOf(ctx)}": ${errorMessage(e)}`, { cause: e });
  }
}

/** As guardDecode, for encode. */
export async function guardEncode<T>(codec: string, ctx: CodecContext | undefined, fn: () => T | Promise<T>): Promise<T> {
  throwIfAborted(ctx?.signal);
  try {
    return await fn();
  } catch (e) {
    if (e instanceof VolstoreError) throw e;
    throw new CodecError(codec, `cannot encode "${keyOf(ctx)}": ${errorMessage(e)}`, { cause: e });
  }
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

export function unsupported(codec: string, what: string): UnsupportedError {
  return new UnsupportedError(`codec "${codec}": ${what}`);
}

// ---- checksums ----

let CRC_TABLE: Int32Array | undefined;

function crcTable(): Int32Array {
  if (CRC_TABLE) return CRC_TABLE;
  // 8 tables for slicing-by-8 over the reflected IEEE polynomial 0xEDB88320.
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let s = 1; s < 8; s++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[s * 256 + n] = c;
    }
  }
  return (CRC_TABLE = t);
}

/** CRC-32 (IEEE, as in gzip), continuing from `crc` (0 to start). */
export function crc32(data: Uint8Array, crc = 0): number {
  const t = crcTable();
  let c = ~crc;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c =
      t[7 * 256 + (a & 0xff)]! ^
      t[6 * 256 + ((a >>> 8) & 0xff)]! ^
      t[5 * 256 + ((a >>> 16) & 0xff)]! ^
      t[4 * 256 + (a >>> 24)]! ^
      t[3 * 256 + data[i + 4]!]! ^
      t[2 * 256 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
  }
  for (; i < n; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Adler-32 (as in zlib streams). */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  const n = data.length;
  for (let i = 0; i < n; ) {
    const end = Math.min(i + 5552, n); // largest run before the sums can overflow 2^32
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

export function readU32LE(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

export function writeU32LE(b: Uint8Array, p: number, v: number): void {
  b[p] = v & 0xff;
  b[p + 1] = (v >>> 8) & 0xff;
  b[p + 2] = (v >>> 16) & 0xff;
  b[p + 3] = (v >>> 24) & 0xff;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---- optional Node fast path for inflate ----

/** The subset of node:zlib the gzip/zlib codecs use. */
export interface NodeZlib {
  gunzip(b: Uint8Array, opts: NodeZlibOptions, cb: (err: Error | null, out: Uint8Array) => void): void;
  inflate(b: Uint8Array, opts: NodeZlibOptions, cb: (err: Error | null, out: Uint8Array) => void): void;
  gzipSync(b: Uint8Array, opts: NodeZlibOptions): Uint8Array;
  deflateSync(b: Uint8Array, opts: NodeZlibOptions): Uint8Array;
  /** Synchronous inflate (native zlib, checks the Adler-32 trailer): for many small streams on a worker's thread. */
  inflateSync(b: Uint8Array, opts: NodeZlibOptions): Uint8Array;
}

export interface NodeZlibOptions {
  maxOutputLength?: number;
  /** Compression level 0-9 (encoding). */
  level?: number;
}

let nodeZlibEnabled = true;
let nodeZlibPromise: Promise<NodeZlib | undefined> | undefined;

/**
 * Turns the Node zlib fast path (inflate and deflate) on or off (on by default under Node). For
 * tests and benchmarks comparing it with the portable fflate path.
 */
export function setNodeZlibEnabled(enabled: boolean): void {
  nodeZlibEnabled = enabled;
}

/**
 * Node's zlib, or undefined outside Node. The specifier is built at run time and the import is
 * marked ignorable, so browser bundlers neither resolve nor bundle it; the guard keeps browsers
 * from ever evaluating it.
 */
export function nodeZlib(): Promise<NodeZlib | undefined> {
  if (!nodeZlibEnabled) return Promise.resolve(undefined);
  if (nodeZlibPromise) return nodeZlibPromise;
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (!isNode) return (nodeZlibPromise = Promise.resolve(undefined));
  const specifier = ['node', 'zlib'].join(':');
  nodeZlibPromise = import(/* webpackIgnore: true */ /* @vite-ignore */ specifier).then(
    (m: { default?: NodeZlib } & NodeZlib) => (m.default ?? m) as NodeZlib,
    () => undefined,
  );
  return nodeZlibPromise;
}

/**
 * Deflates with node:zlib's synchronous one-shot call (native zlib; ~2x fflate's speed): on the
 * calling thread, which in a worker pool is a worker. Returns a plain Uint8Array over the
 * result's own memory.
 */
export function nodeDeflate(fn: (b: Uint8Array, opts: NodeZlibOptions) => Uint8Array, data: Uint8Array, level: number): Uint8Array {
  const out = fn(data, { level });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Runs a node:zlib one-shot inflate with `maxOutputLength` = the context's limit: node stops
 * inflating as soon as the output would pass it (ERR_BUFFER_TOO_LARGE), thrown here as
 * {@link tooLarge}; other failures as CorruptionError.
 */
export function callNode(
  fn: (b: Uint8Array, opts: NodeZlibOptions, cb: (err: Error | null, out: Uint8Array) => void) => void,
  data: Uint8Array,
  codec: string,
  ctx: CodecContext | undefined,
): Promise<Uint8Array> {
  const limit = limitOf(ctx);
  // node accepts 1 .. buffer.kMaxLength (2^32 on 64-bit Node 20)
  const opts: NodeZlibOptions = Number.isFinite(limit) ? { maxOutputLength: Math.max(1, Math.min(limit, 2 ** 32)) } : {};
  return new Promise((resolve, reject) => {
    fn(data, opts, (err, out) => {
      if (err) {
        if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' && Number.isFinite(limit)) reject(tooLarge(codec, ctx));
        else reject(corrupt(codec, ctx, err.message, err));
      } else resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    });
  });
}
