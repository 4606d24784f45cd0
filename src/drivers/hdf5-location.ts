/**
 * Where an HDF5 file lives, and whether a stored value is one. Small and free of the HDF5
 * library, so `src/open.ts` can import it statically (format detection) without loading
 * h5wasm.
 *
 * HDF5 is a single-file format: as in TensorStore's single-file drivers, the kvstore names the
 * FILE (`file:///data/sample_A.hdf`), and the driver's `path` is the dataset inside it
 * (`volumes/raw`), not a key prefix.
 */
import { ByteRangeError, SpecError } from '../errors.js';
import type { KvStore } from '../kvstore/kvstore.js';
import { type StoreResources, openKvStore } from '../kvstore/open.js';
import { PrefixedStore } from '../kvstore/prefixed.js';
import type { KvStoreSpec } from '../kvstore/spec.js';

/** The 8-byte HDF5 format signature `\x89HDF\r\n\x1a\n`. */
export const HDF5_SIGNATURE: readonly number[] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Opens a store whose key `''` is the file the kvstore spec names: the store of the file's
 * parent "directory" with the file name as prefix, so `url`/`spec()` name the file itself.
 * @throws SpecError when the spec names a directory (a path ending in `/`) or no file at all.
 */
export async function openFileStore(kv: KvStoreSpec, context: StoreResources): Promise<KvStore> {
  if (kv.driver === 'http' && !kv.path) {
    const base = kv.base_url as string;
    const cut = base.lastIndexOf('/');
    const name = base.slice(cut + 1);
    if (!name || base.slice(0, cut).endsWith('/')) throw new SpecError('kvstore', `must name a file, not a directory: ${base}`);
    return new PrefixedStore(await openKvStore({ ...kv, base_url: base.slice(0, cut + 1) }, '', context), decodeURIComponent(name));
  }
  const path = kv.path;
  const cut = path.lastIndexOf('/');
  const name = path.slice(cut + 1);
  if (!name) throw new SpecError('kvstore.path', `must name a file, not a directory: ${JSON.stringify(path)}`);
  const dir = cut < 0 ? '' : path.slice(0, cut + 1);
  const parent = await openKvStore({ ...kv, path: kv.driver === 'file' && dir === '' ? '/' : dir }, '', context);
  return new PrefixedStore(parent, name);
}

function isSignature(b: Uint8Array): boolean {
  return b.length >= 8 && HDF5_SIGNATURE.every((x, i) => b[i] === x);
}

/**
 * Finds the HDF5 superblock signature in the value at key `''` of `store` (a file store from
 * {@link openFileStore}): at byte 0, 512, 1024, 2048, ... as the HDF5 format allows (a user
 * block may precede it). Returns the signature's offset, `undefined` when the value is not an
 * HDF5 file, `null` when the value is missing. Reads 8 bytes per candidate offset.
 */
export async function findHdf5Signature(store: KvStore, signal?: AbortSignal): Promise<{ offset: number | undefined; size?: number; generation: string } | null> {
  let size: number | undefined;
  let generation = '';
  for (let offset = 0; size === undefined || offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
    let r;
    try {
      r = await store.read('', { byteRange: { offset, length: 8 }, signal });
    } catch (e) {
      if (e instanceof ByteRangeError) return { offset: undefined, size, generation };
      throw e;
    }
    if (r.state !== 'value') return r.state === 'missing' && offset === 0 ? null : { offset: undefined, size, generation };
    size ??= r.size;
    generation = r.generation;
    if (isSignature(r.value)) return { offset, size, generation };
    // Without a known size, stop after a few candidates rather than probing forever.
    if (size === undefined && offset >= 1 << 20) break;
  }
  return { offset: undefined, size, generation };
}

/**
 * True when the kvstore spec names an HDF5 file (format auto-detection, used by `open()` only
 * after no zarr/N5/precomputed metadata was found).
 */
export async function isHdf5File(kv: KvStoreSpec, context: StoreResources, signal?: AbortSignal): Promise<boolean> {
  let store: KvStore;
  try {
    store = await openFileStore(kv, context);
  } catch {
    return false;
  }
  try {
    const r = await findHdf5Signature(store, signal);
    return r !== null && r.offset !== undefined;
  } catch {
    return false;
  }
}
