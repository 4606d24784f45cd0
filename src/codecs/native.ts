import { importNodeOnly } from '../util/node-only.js';
import { log } from '../util/log.js';

/**
 * Native codec backends under Node: zstd through the `zstd-napi` package (an optional
 * dependency: N-API bindings to libzstd, built from the sources inside the npm package by
 * node-gyp when no prebuilt binary is at hand). Loaded once, lazily, through a computed
 * specifier (browser bundles never see it). When the package cannot load (not installed, no
 * compiler at install time, a browser, or `VOLSTORE_NATIVE_CODECS=0`), codecs use their
 * portable WASM / JS implementation instead: same results, slower.
 */

/** The part of `zstd-napi/binding` volstore uses (see the package's binding.d.ts). */
export interface NativeZstdBinding {
  DCtx: new () => {
    /** ZSTD_decompressDCtx: whole frames into `dst` (throws when it is too small); bytes written. */
    decompress(dst: Uint8Array, src: Uint8Array): number;
    /**
     * ZSTD_decompressStream: decodes from `src` into `dst` until one of them is used up (or a
     * frame ends); returns [hint, bytes written, bytes consumed]. Throws on corrupt data.
     */
    decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
    /** ZSTD_DCtx_reset (`ResetDirective.sessionOnly`: abandon the frame in progress). */
    reset(directive: number): void;
  };
  ResetDirective: { readonly sessionOnly: number };
  CCtx: new () => {
    /** ZSTD_compressCCtx at `level`; bytes written to `dst` (size it with compressBound). */
    compress(dst: Uint8Array, src: Uint8Array, level: number): number;
  };
  compressBound(n: number): number;
  versionString(): string;
}

/** A loaded native zstd: one decompression and one compression context per thread. */
export interface NativeZstd {
  readonly version: string;
  /**
   * Decodes whole frames into a new buffer of `capacity` bytes (or into `into`, at least that
   * long); returns the bytes written (a view). Throws the library's Error when the data is
   * corrupt or needs more than `capacity` bytes (message "Destination buffer is too small").
   */
  decode(src: Uint8Array, capacity: number, into?: Uint8Array): Uint8Array;
  /**
   * Decodes frames only until `needed` bytes are out, into a new buffer of `capacity` bytes (or
   * `into`, at least that long), and returns the whole `capacity` bytes of it: only the first
   * `needed` hold data. libzstd's streaming API decodes whole blocks; `blockEnds` (the offsets
   * in `src` just past each block, ascending) let it see one block more at a time, so it
   * stops after the block holding the last byte needed. The context is reset afterwards (the
   * next decode starts clean). Throws the library's Error on corrupt data, or an Error when
   * the frames end before `needed` bytes.
   */
  decodePrefix(src: Uint8Array, needed: number, capacity: number, blockEnds: readonly number[], into?: Uint8Array): Uint8Array;
  /** Encodes `src` as one frame (with its content size) at `level`. */
  encode(src: Uint8Array, level: number): Uint8Array;
}

type Loader = () => Promise<NativeZstdBinding>;

const defaultLoader: Loader = async () => {
  const m = await importNodeOnly<{ default?: NativeZstdBinding } & NativeZstdBinding>('zstd-napi/binding.js');
  return m.default ?? m;
};

let loader: Loader = defaultLoader;
let enabled = envEnabled();
let loading: Promise<NativeZstd | undefined> | undefined;
let loaded: NativeZstd | undefined;

function envEnabled(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string }; env?: Record<string, string | undefined> } }).process;
  if (typeof p?.versions?.node !== 'string') return false; // not Node: no native modules
  const v = p.env?.VOLSTORE_NATIVE_CODECS;
  return v === undefined || !/^(0|false|no|off)$/i.test(v);
}

/**
 * Turns the native codecs on or off (default: on under Node unless `VOLSTORE_NATIVE_CODECS=0`),
 * and optionally replaces how the zstd binding is loaded (tests use a loader that fails, as when
 * the package is not installed). Resets what was loaded. For tests and benchmarks comparing the
 * native and the WASM paths.
 */
export function configureNativeCodecs(options: { enabled?: boolean; zstdLoader?: Loader | 'default' }): void {
  if (options.enabled !== undefined) enabled = options.enabled;
  if (options.zstdLoader !== undefined) loader = options.zstdLoader === 'default' ? defaultLoader : options.zstdLoader;
  loading = undefined;
  loaded = undefined;
}

/** Whether native codecs may be used (see configureNativeCodecs). */
export function nativeCodecsEnabled(): boolean {
  return enabled;
}

/**
 * The native zstd, or undefined when it is disabled or cannot load (logged once at debug level;
 * the caller falls back to WASM). Never throws.
 */
export function nativeZstd(): Promise<NativeZstd | undefined> {
  if (!enabled) return Promise.resolve(undefined);
  if (loaded) return Promise.resolve(loaded);
  loading ??= loader().then(
    (b) => (loaded = wrapZstd(b)),
    (e: unknown) => {
      log.debug(`zstd: native zstd-napi unavailable, using WASM (${e instanceof Error ? e.message : String(e)})`);
      return undefined;
    },
  );
  return loading;
}

/** Whether native zstd is loaded now (after a `nativeZstd()` that found it). */
export function nativeZstdLoaded(): NativeZstd | undefined {
  return enabled ? loaded : undefined;
}

/**
 * A buffer of `n` bytes in its own ArrayBuffer (so it can be transferred to another thread),
 * not zero-filled under Node (the callers overwrite every byte they return: a native decoder's
 * reported output length is checked before anything is handed out).
 */
function uninitialized(n: number): Uint8Array<ArrayBuffer> {
  const B = (globalThis as { Buffer?: { allocUnsafeSlow(n: number): Uint8Array } }).Buffer;
  if (!B) return new Uint8Array(n);
  const b = B.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, n);
}

function wrapZstd(b: NativeZstdBinding): NativeZstd {
  const dctx = new b.DCtx();
  const cctx = new b.CCtx();
  let scratch = new Uint8Array(0);
  return {
    version: b.versionString(),
    decode(src, capacity, into) {
      if (into && into.length >= capacity) return into.subarray(0, dctx.decompress(into.subarray(0, capacity), src));
      const dst = uninitialized(capacity);
      const n = dctx.decompress(dst, src);
      if (n === capacity) return dst;
      // a view would keep the whole buffer alive (in caches too): copy out when much is unused
      return capacity - n > 65536 ? dst.slice(0, n) : dst.subarray(0, n);
    },
    decodePrefix(src, needed, capacity, blockEnds, into) {
      const dst = into && into.length >= capacity ? into.subarray(0, capacity) : uninitialized(capacity);
      let written = 0;
      let read = 0;
      try {
        for (let k = 0; written < needed; k++) {
          // up to the end of the next block (then the rest: a checksum, skippable frames)
          const end = k < blockEnds.length ? blockEnds[k]! : src.length;
          for (;;) {
            const [, produced, consumed] = dctx.decompressStream(dst.subarray(written, needed), src.subarray(read, end));
            written += produced;
            read += consumed;
            if (written >= needed || (produced === 0 && consumed === 0)) break;
          }
          if (written < needed && k >= blockEnds.length) throw new Error(`frames end after ${written} decoded bytes, ${needed} needed`);
        }
      } finally {
        dctx.reset(b.ResetDirective.sessionOnly);
      }
      return dst;
    },
    encode(src, level) {
      const bound = b.compressBound(src.length);
      // one scratch per thread, reused: the result is copied out at its exact size
      if (scratch.length < bound) scratch = uninitialized(Math.max(bound, 2 * scratch.length));
      const n = cctx.compress(scratch, src, level);
      return scratch.slice(0, n);
    },
  };
}
