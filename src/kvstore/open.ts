import { SpecError } from '../errors.js';
import type { Limiter } from '../util/limiter.js';
import { gcsUserProject, joinPath, type KvStoreSpec } from './spec.js';
import type { KvStore } from './kvstore.js';
import { MemoryStore } from './memory.js';
import { PrefixedStore } from './prefixed.js';
import { requestTimeoutsFromJson, retryPolicyFromJson } from './retry.js';
import { importNodeOnly } from '../util/node-only.js';
import { DEFAULT_REQUEST_CONCURRENCY } from '../limits.js';

const SHARED_MEMORY = new MemoryStore('');

/**
 * What opening a store needs from a Context: its shared limiters and resource JSON. A
 * `Context` is one; stores know nothing else of it (not its cache).
 */
export interface StoreResources {
  limiter(resource: string, defaultLimit: number): Limiter;
  resource(name: string): Record<string, unknown> | undefined;
}

/**
 * The `headers` of an http kvstore spec: TensorStore's array of `"Name: value"` strings, or an
 * object of name -> value. Throws SpecError for anything else (without echoing values: they
 * may be secrets).
 */
export function httpHeaders(v: unknown): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  const out: Record<string, string> = {};
  if (Array.isArray(v)) {
    for (const [i, h] of v.entries()) {
      const colon = typeof h === 'string' ? h.indexOf(':') : -1;
      if (colon <= 0) throw new SpecError(`kvstore.headers[${i}]`, 'expected a "Name: value" string');
      out[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
    }
    return out;
  }
  if (typeof v !== 'object' || v === null) throw new SpecError('kvstore.headers', 'expected an array of "Name: value" strings or an object');
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw new SpecError(`kvstore.headers.${k}`, 'expected a string value');
    out[k] = x;
  }
  return out;
}

function withSlash(p: string): string {
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

/**
 * Opens the store rooted at `kvstore.path` + `subPath` (with a trailing '/'), using the
 * context's shared limits, retry policies (`*_request_retries`) and request timeouts
 * (`*_request_timeout`; defaults in retry.ts). Memory stores are process-wide: `memory://name/` opened twice in one
 * process sees the same data.
 */
export async function openKvStore(spec: KvStoreSpec, subPath: string, context: StoreResources): Promise<KvStore> {
  const path = withSlash(joinPath(spec.path, subPath));
  switch (spec.driver) {
    case 'memory':
      return path ? new PrefixedStore(SHARED_MEMORY, path) : SHARED_MEMORY;
    case 'file': {
      const { FileStore, defaultFileIoConcurrency } = await importNodeOnly<typeof import('./file.js')>('./file.js', import.meta.url); // Node only
      return new FileStore(path.replace(/\/+$/, '') || '/', {
        limiter: context.limiter('file_io_concurrency', defaultFileIoConcurrency()),
      });
    }
    case 'gcs': {
      const { GcsStore } = await import('./gcs.js');
      return new GcsStore({
        bucket: spec.bucket as string,
        path,
        endpoint: spec.endpoint as string | undefined,
        userProject: gcsUserProject(spec, (name) => context.resource(name)),
        concurrency: context.limiter('gcs_request_concurrency', DEFAULT_REQUEST_CONCURRENCY),
        retries: retryPolicyFromJson(context.resource('gcs_request_retries'), 'context.gcs_request_retries'),
        timeouts: requestTimeoutsFromJson(context.resource('gcs_request_timeout'), 'context.gcs_request_timeout'),
      });
    }
    case 's3': {
      const { S3Store } = await import('./s3.js');
      return new S3Store({
        bucket: spec.bucket as string,
        path,
        endpoint: spec.endpoint as string | undefined,
        region: spec.aws_region as string | undefined,
        concurrency: context.limiter('s3_request_concurrency', DEFAULT_REQUEST_CONCURRENCY),
        retries: retryPolicyFromJson(context.resource('s3_request_retries'), 'context.s3_request_retries'),
        timeouts: requestTimeoutsFromJson(context.resource('s3_request_timeout'), 'context.s3_request_timeout'),
      });
    }
    case 'azure': {
      const { AzureStore } = await import('./azure.js');
      return new AzureStore({
        account: spec.account as string | undefined,
        container: spec.container as string,
        path,
        endpoint: spec.endpoint as string | undefined,
        concurrency: context.limiter('azure_request_concurrency', DEFAULT_REQUEST_CONCURRENCY),
        retries: retryPolicyFromJson(context.resource('azure_request_retries'), 'context.azure_request_retries'),
        timeouts: requestTimeoutsFromJson(context.resource('azure_request_timeout'), 'context.azure_request_timeout'),
      });
    }
    case 'http': {
      const { HttpStore } = await import('./http.js');
      return new HttpStore({
        baseUrl: withSlash(joinPath(spec.base_url as string, path)),
        headers: httpHeaders(spec.headers),
        concurrency: context.limiter('http_request_concurrency', DEFAULT_REQUEST_CONCURRENCY),
        retries: retryPolicyFromJson(context.resource('http_request_retries'), 'context.http_request_retries'),
        timeouts: requestTimeoutsFromJson(context.resource('http_request_timeout'), 'context.http_request_timeout'),
      });
    }
  }
}
