/** URL building for the HTTP-backed stores, random tokens and environment lookups. Browser-safe. */
import { SpecError } from '../../errors.js';

/**
 * Percent-encodes each `/`-separated segment of a key for use in a URL path (RFC 3986
 * unreserved characters stay; `!'()*` are encoded too, as SigV4 requires). Keys must have been
 * checked with `checkKey` first: `.`/`..` segments would still be normalised away by URL parsers.
 */
export function encodeKeyPath(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

/** `url` with the defined `params` added to its query string. */
export function withQuery(url: string, params: Record<string, string | undefined> | undefined): string {
  if (!params) return url;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.append(k, v);
  const qs = q.toString();
  if (!qs) return url;
  const hash = url.indexOf('#');
  const base = hash < 0 ? url : url.slice(0, hash);
  return `${base}${base.includes('?') ? '&' : '?'}${qs}`;
}

/** A random lower-case hex token of `bytes` random bytes (cache busting, write tokens). */
export function randomToken(bytes = 6): string {
  const b = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** `process.env[name]` when running under Node (undefined in browsers); empty counts as unset. */
export function envVar(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.[name];
  return v ? v : undefined;
}

/**
 * Parses a service or base URL given in a spec: http(s) only, and no user name or password (a
 * fetch cannot send them, and they would leak into messages; credentials belong in headers or
 * auth options). Throws SpecError naming `field`; the message never repeats the user-info.
 */
export function parseServiceUrl(url: string, field: string): URL {
  const shown = JSON.stringify(url.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@?#]*@/gi, '$1[redacted]@'));
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SpecError(field, `invalid URL ${shown}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new SpecError(field, `expected an http(s) URL, got ${shown}`);
  if (u.username || u.password) {
    throw new SpecError(field, `URL ${shown} contains a user name or password; pass credentials as a header (e.g. Authorization) or auth option instead`);
  }
  return u;
}
