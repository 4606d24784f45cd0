/**
 * TensorStore kvstore specs: the keys each kvstore driver accepts, kvstore URLs, and path joining.
 * The one home of kvstore spec parsing (array specs are `src/spec/spec.ts`).
 */
import { SpecError } from '../errors.js';

/** A kvstore spec: `{driver, path, ...driver keys}`. */
export interface KvStoreSpec {
  driver: 'memory' | 'file' | 'gcs' | 's3' | 'http' | 'azure';
  path: string;
  [k: string]: unknown;
}

export const KVSTORE_KEYS: Record<KvStoreSpec['driver'], string[]> = {
  memory: ['driver', 'path', 'context', 'memory_key_value_store', 'atomic'],
  file: ['driver', 'path', 'context', 'file_io_concurrency', 'file_io_sync'],
  gcs: ['driver', 'bucket', 'path', 'context', 'gcs_request_concurrency', 'gcs_request_retries', 'gcs_user_project', 'user_project', 'endpoint'],
  s3: ['driver', 'bucket', 'path', 'context', 'endpoint', 'aws_region', 'host_header', 'requester_pays', 's3_request_concurrency', 's3_request_retries', 'aws_credentials'],
  http: ['driver', 'base_url', 'path', 'context', 'headers', 'http_request_concurrency', 'http_request_retries'],
  azure: ['driver', 'account', 'container', 'path', 'context', 'endpoint', 'azure_request_concurrency', 'azure_request_retries', 'azure_request_timeout'],
};

/** Segments of a slash path with `.`, `..` and empty segments resolved away. */
export function pathSegments(p: string): string[] {
  const out: string[] = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') out.pop();
    else out.push(s);
  }
  return out;
}

/**
 * A local path made absolute against the working directory (as TensorStore resolves relative
 * `file` kvstore paths), normalised (`.`, `..`, repeated slashes), keeping a trailing slash.
 * Absolute paths are only normalised.
 * @throws SpecError (naming `field`) for a relative path where there is no working directory (browsers).
 */
export function resolveLocalPath(p: string, field: string): string {
  let abs = p;
  if (!p.startsWith('/')) {
    const cwd = (globalThis as { process?: { cwd?: () => string } }).process?.cwd?.();
    if (typeof cwd !== 'string') throw new SpecError(field, `relative file path ${JSON.stringify(p)} needs a working directory (Node)`);
    abs = `${cwd}/${p}`;
  }
  const dir = p === '' || p === '.' || p === '..' || /\/(\.\.?)?$/.test(p);
  const segs = pathSegments(abs);
  return `/${segs.join('/')}${dir && segs.length ? '/' : ''}`;
}

export function kvstoreFromUrl(url: string): KvStoreSpec {
  const m = /^([a-z0-9+.-]+):\/\/(.*)$/i.exec(url);
  if (!m) throw new SpecError('kvstore', `not a URL: ${JSON.stringify(url)} (expected file:///..., memory://..., gs://..., s3://..., az://..., https://...)`);
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  switch (scheme) {
    case 'file':
      // file:///abs/path, or TensorStore's file://relative/path (against the working directory).
      return { driver: 'file', path: resolveLocalPath(decodeURIComponent(rest), 'kvstore') };
    case 'memory':
      return { driver: 'memory', path: decodeURIComponent(rest) };
    case 'gs':
    case 's3': {
      const slash = rest.indexOf('/');
      const bucket = slash < 0 ? rest : rest.slice(0, slash);
      if (!bucket) throw new SpecError('kvstore', `missing bucket in ${url}`);
      return { driver: scheme === 'gs' ? 'gcs' : 's3', bucket, path: slash < 0 ? '' : decodeURIComponent(rest.slice(slash + 1)) };
    }
    case 'az': {
      // az://container/path: the account (and endpoint) come from the environment.
      const slash = rest.indexOf('/');
      const container = slash < 0 ? rest : rest.slice(0, slash);
      if (!container) throw new SpecError('kvstore', `missing container in ${url}`);
      return { driver: 'azure', container, path: slash < 0 ? '' : decodeURIComponent(rest.slice(slash + 1)) };
    }
    case 'http':
    case 'https':
      return { driver: 'http', base_url: url, path: '' };
    default:
      throw new SpecError('kvstore', `unsupported URL scheme "${scheme}:" in ${url}`);
  }
}

export function parseKvStore(v: unknown, field: string): KvStoreSpec {
  if (typeof v === 'string') return kvstoreFromUrl(v);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SpecError(field, 'must be a kvstore spec object or URL');
  const o = v as Record<string, unknown>;
  const driver = o.driver as KvStoreSpec['driver'];
  const allowed = KVSTORE_KEYS[driver];
  if (!allowed) throw new SpecError(`${field}.driver`, `unknown kvstore driver ${JSON.stringify(o.driver)} (known: ${Object.keys(KVSTORE_KEYS).join(', ')})`);
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new SpecError(`${field}.${k}`, `unknown key for kvstore driver "${driver}"`);
  const path = o.path ?? '';
  if (typeof path !== 'string') throw new SpecError(`${field}.path`, 'must be a string');
  if ((driver === 'gcs' || driver === 's3') && typeof o.bucket !== 'string') throw new SpecError(`${field}.bucket`, 'required (a string)');
  if (driver === 'azure' && typeof o.container !== 'string') throw new SpecError(`${field}.container`, 'required (a string)');
  if (driver === 'azure' && o.account !== undefined && typeof o.account !== 'string') throw new SpecError(`${field}.account`, 'must be a string');
  if (driver === 'http' && typeof o.base_url !== 'string') throw new SpecError(`${field}.base_url`, 'required (a string)');
  if (driver === 'gcs') {
    const up = o.gcs_user_project;
    if (up !== undefined && !(typeof up === 'string' && /^gcs_user_project(#.*)?$/.test(up)) && !(typeof up === 'object' && up !== null && typeof (up as { project_id?: unknown }).project_id === 'string')) {
      throw new SpecError(`${field}.gcs_user_project`, `must be {"project_id": "..."} or a context reference "gcs_user_project#...", got ${JSON.stringify(up)}`);
    }
    if (o.user_project !== undefined && typeof o.user_project !== 'string') throw new SpecError(`${field}.user_project`, `must be a project id string, got ${JSON.stringify(o.user_project)}`);
  }
  // Relative file paths resolve against the working directory, as in TensorStore.
  return { ...o, driver, path: driver === 'file' ? resolveLocalPath(path, `${field}.path`) : path } as KvStoreSpec;
}

/**
 * The requester-pays billing project of a gcs kvstore spec: `user_project` (a project id), an
 * inline `gcs_user_project: {"project_id": ...}`, or a `gcs_user_project` context reference
 * (`"gcs_user_project#name"`) looked up with `resource`; else the context's `gcs_user_project`.
 * Sent as `userProject=` on every request.
 */
export function gcsUserProject(spec: KvStoreSpec, resource: (name: string) => Record<string, unknown> | undefined): string | undefined {
  if (typeof spec.user_project === 'string') return spec.user_project;
  const up = spec.gcs_user_project;
  if (typeof up === 'object' && up !== null) return (up as { project_id?: string }).project_id;
  const ref = typeof up === 'string' ? up : 'gcs_user_project';
  return (resource(ref) ?? resource('gcs_user_project'))?.project_id as string | undefined;
}

/** Joins path pieces with single slashes; keeps a trailing slash when the last piece has one. */
export function joinPath(...parts: string[]): string {
  const nonEmpty = parts.filter((p) => p !== '');
  if (nonEmpty.length === 0) return '';
  let out = nonEmpty[0]!;
  for (const p of nonEmpty.slice(1)) out = `${out.replace(/\/+$/, '')}/${p.replace(/^\/+/, '')}`;
  return out;
}
