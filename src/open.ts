import { Context } from './context/context.js';
import type { DriverModule } from './drivers/driver.js';
import { MetadataError, NotFoundError, SpecError } from './errors.js';
import { IndexDomain, IndexTransform } from './index-space/index.js';
import type { KvStore } from './kvstore/kvstore.js';
import { openKvStore } from './kvstore/open.js';
import { isHdf5File, openFileStore } from './drivers/hdf5-location.js';
import { parseSpec, type Spec } from './spec/spec.js';
import { Volume } from './volume.js';

const DRIVERS: Record<string, () => Promise<{ driver: DriverModule }>> = {
  zarr: () => import('./drivers/zarr2.js'),
  zarr3: () => import('./drivers/zarr3.js'),
  n5: () => import('./drivers/n5.js'),
  neuroglancer_precomputed: () => import('./drivers/precomputed.js'),
  hdf5: () => import('./drivers/hdf5.js'),
};

/** Top-level spec keys each driver accepts beyond the common ones. */
export const DRIVER_SPEC_KEYS: Record<string, readonly string[]> = {
  zarr: ['metadata', 'key_encoding', 'metadata_key', 'field'],
  zarr3: ['metadata'],
  n5: ['metadata'],
  neuroglancer_precomputed: ['scale_index', 'scale_metadata', 'multiscale_metadata'],
  hdf5: [],
};

/** Options of {@link open}: a shared Context (cache, concurrency limits) and an AbortSignal for the metadata reads. */
export interface OpenOptions {
  /** Shared resources (cache, concurrency); a fresh Context when absent. */
  context?: Context;
  signal?: AbortSignal;
  /**
   * Instrumentation: wraps the key-value store the array (and its container) is read from and
   * written to, before the driver sees it; the wrapper must pass every call through (the bench
   * and the jobs count requests and bytes with it: `CountingStore`, src/kvstore/counting.ts).
   */
  wrapKvStore?: (store: KvStore) => KvStore;
}

/**
 * Detects the format from the metadata present, reading the candidate keys concurrently (one
 * round trip). Used only when the spec names no driver.
 */
async function detectDriver(store: KvStore, signal?: AbortSignal): Promise<string> {
  const candidates: [string, string][] = [
    ['zarr.json', 'zarr3'],
    ['.zarray', 'zarr'],
    ['attributes.json', 'n5'],
    ['info', 'neuroglancer_precomputed'],
  ];
  const results = await Promise.all(candidates.map(([k]) => store.read(k, { signal })));
  for (let i = 0; i < candidates.length; i++) {
    const r = results[i]!;
    if (r.state !== 'value') continue;
    const [key, driver] = candidates[i]!;
    if (driver === 'zarr3') {
      const j = safeJson(r.value);
      if (j?.node_type === 'group') throw new MetadataError(key, 'this is a zarr v3 group, not an array: add the array\'s path');
    }
    if (driver === 'n5' && !Array.isArray(safeJson(r.value)?.dimensions)) continue;
    return driver;
  }
  if (results[1]!.state !== 'value' && (await store.read('.zgroup', { signal })).state === 'value') {
    throw new MetadataError('.zgroup', 'this is a zarr v2 group, not an array: add the array\'s path');
  }
  throw new NotFoundError(store.url, 'no array metadata found (looked for zarr.json, .zarray, attributes.json, info); name the driver to create one');
}

function safeJson(b: Uint8Array): Record<string, unknown> | undefined {
  try {
    return JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Opens (or creates) an array from a TensorStore spec JSON or a URL (`file:///data/em.zarr`,
 * `gs://bucket/em/|zarr3:`, `memory://scratch/`). With no driver named, detects it from the
 * metadata found.
 * @throws SpecError for an unknown or mistyped key (naming it), MetadataError for bad stored
 *   metadata, NotFoundError / AlreadyExistsError per the open/create flags.
 *
 * ```ts
 * const em = await open('gs://bucket/em/|zarr3:');                       // detect or name the format
 * const seg = await open({ driver: 'neuroglancer_precomputed', kvstore: 'https://host/seg/', scale_index: 1 });
 * const out = await open({ driver: 'zarr3', kvstore: 'file:///data/out/', create: true, dtype: 'uint8',
 *   schema: { domain: { shape: [64, 512, 512] }, chunk_layout: { chunk: { shape: [64, 64, 64] } } } });
 * ```
 */
export async function open(spec: Spec | string, options: OpenOptions = {}): Promise<Volume> {
  const parsed = parseSpec(spec, DRIVER_SPEC_KEYS);
  const context = options.context ?? new Context(parsed.context);
  let name = parsed.driver;
  // Single-file formats (hdf5): the kvstore names the file, `path` is inside it.
  const wrap = options.wrapKvStore ?? ((s: KvStore) => s);
  let store = wrap(name === 'hdf5' ? await openFileStore(parsed.kvstore, context) : await openKvStore(parsed.kvstore, parsed.path, context));
  if (!name) {
    if (parsed.create) throw new SpecError('driver', 'required when creating');
    name = await detectDriver(store, options.signal).catch(async (e: unknown) => {
      if (e instanceof NotFoundError && (await isHdf5File(parsed.kvstore, context, options.signal))) return 'hdf5';
      throw e;
    });
    if (name === 'hdf5') store = wrap(await openFileStore(parsed.kvstore, context));
  }
  const module = (await DRIVERS[name]!()).driver;
  const driver = await module.open({
    store,
    spec: parsed.raw,
    mode: { open: parsed.open, create: parsed.create, deleteExisting: parsed.deleteExisting, assumeMetadata: parsed.assumeMetadata },
    schema: parsed.schema,
    storeFillChunks: parsed.storeDataEqualToFillValue,
    signal: options.signal,
    container: { path: parsed.path, store: async () => wrap(await openKvStore(parsed.kvstore, '', context)) },
    context,
  });
  const g = driver.grid;
  const labels = g.dimensionNames.map((n) => n ?? '');
  const unique = new Set(labels.filter((l) => l !== ''));
  const domain = new IndexDomain(
    g.origin,
    g.origin.map((o, i) => o + g.shape[i]!),
    unique.size === labels.filter((l) => l !== '').length ? labels : undefined,
  );
  let transform = IndexTransform.identity(domain);
  if (parsed.transform !== undefined) {
    transform = transform.compose(IndexTransform.fromJSON(parsed.transform, 'transform', domain));
  }
  return new Volume(
    driver,
    transform,
    context,
    { recheckCachedData: parsed.recheckCachedData, fillMissingDataReads: parsed.fillMissingDataReads },
    {},
  );
}
