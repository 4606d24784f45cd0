/**
 * Where a spec's array lives, normalised, so two specs can be compared: `file:///a/b.zarr/`,
 * `{"driver": "file", "path": "/a/./b.zarr"}` and `/a/b.zarr` with a driver-level `path` name
 * the same place; `gs://b/em/` and `gs://b/em/s0/` nest.
 */
import { DRIVER_SPEC_KEYS } from '../open.js';
import { joinPath, pathSegments } from '../kvstore/spec.js';
import { parseSpec, type Spec } from '../spec/spec.js';

/** A store identity (`file`, `memory`, `gs://bucket`, `s3://bucket`, `https://host`) and a path in it. */
export interface StorageLocation {
  store: string;
  /** Path segments below the store root, without `.`, `..` or empty segments. */
  segments: string[];
}

/**
 * The normalised location of the array a spec (or URL) names. `resolveFile` maps an absolute
 * local path to its canonical form (e.g. `fs.realpathSync` of the longest existing prefix, so
 * symlinked directories compare equal); default: the path as written.
 * @throws SpecError for an invalid spec (as `open` would).
 */
export function storageLocation(spec: Spec | string, resolveFile: (absPath: string) => string = (p) => p): StorageLocation {
  const parsed = parseSpec(spec, DRIVER_SPEC_KEYS);
  const kv = parsed.kvstore;
  const path = joinPath(kv.path, parsed.path);
  switch (kv.driver) {
    case 'file':
      return { store: 'file', segments: pathSegments(resolveFile(`/${pathSegments(path).join('/')}`)) };
    case 'memory':
      return { store: 'memory', segments: pathSegments(path) };
    case 'gcs':
    case 's3':
      return { store: `${kv.driver === 'gcs' ? 'gs' : 's3'}://${kv.bucket as string}${kv.endpoint ? `@${kv.endpoint as string}` : ''}`, segments: pathSegments(path) };
    case 'azure':
      return { store: `az://${(kv.account as string | undefined) ?? ''}/${kv.container as string}${kv.endpoint ? `@${kv.endpoint as string}` : ''}`, segments: pathSegments(path) };
    case 'http': {
      const u = new URL(kv.base_url as string);
      return { store: `${u.protocol}//${u.host}`, segments: pathSegments(`${decodeURIComponent(u.pathname)}/${path}`) };
    }
  }
}

/**
 * How two locations relate: `same`, `a-inside-b` (a is below b), `b-inside-a`, or undefined
 * when they are disjoint.
 */
export function locationOverlap(a: StorageLocation, b: StorageLocation): 'same' | 'a-inside-b' | 'b-inside-a' | undefined {
  if (a.store !== b.store) return undefined;
  const n = Math.min(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) if (a.segments[i] !== b.segments[i]) return undefined;
  if (a.segments.length === b.segments.length) return 'same';
  return a.segments.length > b.segments.length ? 'a-inside-b' : 'b-inside-a';
}
