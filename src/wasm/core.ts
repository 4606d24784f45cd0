/**
 * Loader for the volstore WebAssembly core (C sources in `wasm/src`, built by `wasm/build.sh`).
 * The module ships as base64 inside `core.wasm.ts`, so it loads the same way in Node and in
 * browsers (no `node:` imports, no file paths). It is instantiated once, lazily.
 *
 * Memory discipline: every buffer a kernel call allocates is freed before the call returns, and
 * views of `memory.buffer` are re-created after anything that may grow memory (growth detaches
 * the old ArrayBuffer).
 */
import { CORE_WASM_BASE64 } from './core.wasm.js';

/** Raw exports of the compiled core. Pointers and sizes are wasm32 numbers. */
export interface CoreExports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  vs_malloc(n: number): number;
  vs_free(p: number): void;
  vs_error_ptr(): number;
  vs_copy_strided(dst: number, dstStrides: number, src: number, srcStrides: number, shape: number, rank: number, elemSize: number, swap: number): void;
  vs_crc32c(p: number, n: number, init: number): number;
  vs_murmur3_u64(lo: number, hi: number, seed: number): number;
  vs_compressed_morton(pos: number, grid: number, rank: number): number;
  vs_cseg_encode(data: number, wpv: number, vol: number, blk: number, out: number, cap: number): number;
  vs_cseg_decode(input: number, nwords: number, wpv: number, vol: number, blk: number, out: number, strides: number): number;
  vs_downsample(method: number, dtype: number, input: number, out: number, shape: number, factors: number): number;
}

/** Size of the persistent parameter block (shapes, strides) allocated once at load. */
const PARAM_BYTES = 1024;

/** A loaded core: the exports plus helpers for moving bytes in and out. */
export class Core {
  readonly exports: CoreExports;
  /** Persistent scratch for small parameter arrays (not per call; never freed). */
  readonly params: number;
  private u8view: Uint8Array;

  constructor(instance: WebAssembly.Instance) {
    this.exports = instance.exports as unknown as CoreExports;
    this.exports._initialize();
    this.params = this.exports.vs_malloc(PARAM_BYTES);
    if (this.params === 0) throw new Error('volstore wasm core: cannot allocate its parameter block');
    this.u8view = new Uint8Array(this.exports.memory.buffer);
  }

  /** A byte view of the whole memory, re-created if memory grew since the last call. */
  u8(): Uint8Array {
    if (this.u8view.buffer !== this.exports.memory.buffer) this.u8view = new Uint8Array(this.exports.memory.buffer);
    return this.u8view;
  }

  /** Int32 view over `params` (re-created: memory may have grown). */
  paramsI32(): Int32Array {
    return new Int32Array(this.exports.memory.buffer, this.params, PARAM_BYTES / 4);
  }

  /** Allocates `n` bytes (8-byte aligned); throws RangeError when memory cannot grow. */
  alloc(n: number): number {
    const p = this.exports.vs_malloc(n);
    if (p === 0) throw new RangeError(`volstore wasm core: out of memory allocating ${n} bytes`);
    return p;
  }

  free(p: number): void {
    this.exports.vs_free(p);
  }

  /** Current size of the module's memory in bytes. */
  memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /** Last error recorded by a kernel: {code, offset (bytes into the input), value}. */
  lastError(): { code: number; offset: number; value: number } {
    const v = new Uint32Array(this.exports.memory.buffer, this.exports.vs_error_ptr(), 3);
    return { code: v[0]!, offset: v[1]!, value: v[2]! };
  }
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const s = atob(CORE_WASM_BASE64);
  const bytes = new Uint8Array(new ArrayBuffer(s.length));
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

// Emscripten's standalone module calls this on memory.grow; views are refreshed lazily instead.
const imports = { env: { emscripten_notify_memory_growth: (_index: number) => {} } };

let core: Core | undefined;
let loading: Promise<Core> | undefined;

/** Loads the core once (async compile: works on a browser main thread). */
export function loadCore(): Promise<Core> {
  if (core) return Promise.resolve(core);
  loading ??= WebAssembly.instantiate(moduleBytes(), imports).then((r) => {
    core ??= new Core(r.instance);
    return core;
  });
  return loading;
}

/**
 * The core, instantiated synchronously on first use if `loadCore()` has not finished. Sync
 * compilation works in Node and in workers; a browser main thread refuses modules over 4 KB,
 * so there call `await loadCore()` first (this then throws an Error saying so).
 */
export function coreSync(): Core {
  if (core) return core;
  try {
    core = new Core(new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()), imports));
  } catch (err) {
    throw new Error('volstore wasm core is not loaded: await loadCore() before calling kernels', { cause: err });
  }
  return core;
}

/** The core if already available (loaded, or sync-instantiable), else undefined. */
export function tryCoreSync(): Core | undefined {
  if (core || syncRefused) return core;
  try {
    return coreSync();
  } catch {
    syncRefused = true; // do not decode and compile again on every call
    return undefined;
  }
}

let syncRefused = false;
