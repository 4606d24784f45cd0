/**
 * Azure Storage credentials and where they come from, browser-safe (WebCrypto only):
 * - Shared Key: every request signed with HMAC-SHA256 over Microsoft's string-to-sign (verb,
 *   standard headers, canonicalized `x-ms-*` headers, canonicalized resource), written from the
 *   "Authorize with Shared Key" specification;
 * - SAS: a query string appended to every request URL (its `sig` is a secret);
 * - Microsoft Entra bearer tokens: a fixed token or a token provider, as `Authorization: Bearer`;
 * - anonymous: public containers.
 * The environment (`AZURE_STORAGE_CONNECTION_STRING`, `AZURE_STORAGE_ACCOUNT` +
 * `AZURE_STORAGE_KEY`, `AZURE_STORAGE_SAS_TOKEN`, `AZURE_STORAGE_TOKEN`) supplies them when the
 * store is given none; see {@link resolveAzureAccess}. No credential ever reaches an error
 * message, a log line, `spec()` or `url`: every value is registered with the store's
 * {@link Secrets}.
 */
import { SpecError } from '../errors.js';
import { type AuthProvider, ANONYMOUS, resolveAuth, type TokenProvider } from './auth.js';
import type { RequestSigner } from './http/client.js';
import { Secrets } from './http/secrets.js';
import { envVar, parseServiceUrl } from './http/url.js';

/** The `x-ms-version` volstore speaks (Put Blob up to 5000 MiB, Bearer tokens, `Encoded` list names). */
export const AZURE_API_VERSION = '2023-11-03';

/** The storage emulator's well-known account (published by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
/** The storage emulator's well-known account key (published by Microsoft; not a secret). */
export const AZURITE_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
/** The storage emulator's default blob endpoint (`UseDevelopmentStorage=true`). */
export const AZURITE_BLOB_ENDPOINT = `http://127.0.0.1:10000/${AZURITE_ACCOUNT}`;

/**
 * How an Azure store authenticates:
 * - `'anonymous'`: no credentials (public containers);
 * - `{ accountKey }`: Shared Key with the account's base64 key;
 * - `{ sasToken }`: a shared access signature (`sv=...&sig=...`, with or without a leading `?`);
 * - `{ bearerToken }`: a fixed Microsoft Entra access token (audience `https://storage.azure.com`);
 * - `{ getToken }` or a bare function: called per request attempt (cache and refresh inside it,
 *   e.g. around `@azure/identity`'s `getToken('https://storage.azure.com/.default')`).
 */
export type AzureCredentials =
  | 'anonymous'
  | { accountKey: string }
  | { sasToken: string }
  | { bearerToken: string }
  | { getToken: TokenProvider }
  | TokenProvider;

/** The parts of an Azure Storage connection string volstore uses. */
export interface AzureConnectionString {
  accountName?: string;
  accountKey?: string;
  /** The blob service endpoint, from `BlobEndpoint`, else built from protocol, account and suffix. */
  blobEndpoint?: string;
  /** `SharedAccessSignature`, without a leading `?`. */
  sas?: string;
}

/**
 * Parses a connection string (`Key=Value;Key=Value`, keys case-insensitive; values may contain
 * `=`). `UseDevelopmentStorage=true` means the emulator's account, key and endpoint. Throws
 * SpecError naming `field` (never quoting the string: it holds secrets).
 */
export function parseConnectionString(text: string, field = 'AZURE_STORAGE_CONNECTION_STRING'): AzureConnectionString {
  const kv = new Map<string, string>();
  for (const part of text.split(';')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw new SpecError(field, 'malformed connection string: expected Key=Value pairs separated by ";"');
    kv.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
  }
  if (kv.size === 0) throw new SpecError(field, 'empty connection string');
  if (kv.get('usedevelopmentstorage')?.toLowerCase() === 'true') {
    return { accountName: AZURITE_ACCOUNT, accountKey: AZURITE_ACCOUNT_KEY, blobEndpoint: AZURITE_BLOB_ENDPOINT };
  }
  const accountName = kv.get('accountname') || undefined;
  const accountKey = kv.get('accountkey') || undefined;
  const sasRaw = kv.get('sharedaccesssignature');
  const sas = sasRaw ? sasRaw.replace(/^\?/, '') : undefined;
  let blobEndpoint = kv.get('blobendpoint') || undefined;
  if (blobEndpoint === undefined && accountName !== undefined) {
    const protocol = (kv.get('defaultendpointsprotocol') || 'https').toLowerCase();
    if (protocol !== 'http' && protocol !== 'https') throw new SpecError(field, 'DefaultEndpointsProtocol must be http or https');
    blobEndpoint = `${protocol}://${accountName}.blob.${kv.get('endpointsuffix') || 'core.windows.net'}`;
  }
  if (blobEndpoint === undefined) throw new SpecError(field, 'connection string names neither AccountName nor BlobEndpoint');
  return {
    ...(accountName !== undefined ? { accountName } : {}),
    ...(accountKey !== undefined ? { accountKey } : {}),
    blobEndpoint,
    ...(sas !== undefined ? { sas } : {}),
  };
}

/** Standard base64 to bytes; undefined when it is not base64. */
function base64Bytes(s: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s) || s.length % 4 !== 0) return undefined;
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function toBase64(bytes: ArrayBuffer): string {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

/** Headers whose values enter the Shared Key string-to-sign, in order (after the verb). */
const SIGNED_HEADERS = [
  'content-encoding',
  'content-language',
  'content-length',
  'content-md5',
  'content-type',
  'date',
  'if-modified-since',
  'if-match',
  'if-none-match',
  'if-unmodified-since',
  'range',
] as const;

/**
 * The Shared Key string-to-sign of one request (API versions 2009-09-19 and later; an empty
 * Content-Length for bodies of 0 bytes as of 2015-02-21). `headers` must already carry
 * `x-ms-date` and `x-ms-version`; `bodyLength` is the byte length fetch will send.
 */
export function sharedKeyStringToSign(account: string, method: string, url: string, headers: Headers, bodyLength: number): string {
  const lines: string[] = [method.toUpperCase()];
  for (const name of SIGNED_HEADERS) {
    if (name === 'content-length') lines.push(bodyLength > 0 ? String(bodyLength) : '');
    else lines.push(headers.get(name) ?? '');
  }
  // Canonicalized headers: every x-ms-* header, lower-case, sorted by name, whitespace runs
  // folded, one `name:value\n` each.
  const xms: [string, string][] = [];
  headers.forEach((value, name) => {
    if (name.startsWith('x-ms-')) xms.push([name, value.replace(/\s+/g, ' ').trim()]);
  });
  xms.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const canonHeaders = xms.map(([n, v]) => `${n}:${v}\n`).join('');
  // Canonicalized resource: /account + the encoded path as sent, then each query parameter
  // (lower-case name, sorted) with its decoded values sorted and joined by ','.
  const u = new URL(url);
  let resource = `/${account}${u.pathname || '/'}`;
  const params = new Map<string, string[]>();
  for (const [k, v] of u.searchParams) {
    const name = k.toLowerCase();
    const list = params.get(name) ?? [];
    list.push(v);
    params.set(name, list);
  }
  for (const name of [...params.keys()].sort()) resource += `\n${name}:${params.get(name)!.sort().join(',')}`;
  return `${lines.join('\n')}\n${canonHeaders}${resource}`;
}

/**
 * A {@link RequestSigner} for Shared Key: stamps `x-ms-date` and signs with HMAC-SHA256
 * (WebCrypto) under the base64 `accountKey`. Throws SpecError (without the key) when the key is
 * not base64.
 */
export function sharedKeySigner(account: string, accountKey: string, field = 'credentials.accountKey'): RequestSigner {
  const raw = base64Bytes(accountKey);
  if (!raw) throw new SpecError(field, 'the account key must be base64 (as shown in the Azure portal)');
  let key: Promise<CryptoKey> | undefined;
  return async ({ method, url, headers, body }) => {
    key ??= globalThis.crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const h = new Headers(headers);
    h.set('x-ms-date', new Date().toUTCString());
    const toSign = sharedKeyStringToSign(account, method, url, h, body?.length ?? 0);
    const mac = await globalThis.crypto.subtle.sign('HMAC', await key, new TextEncoder().encode(toSign));
    h.set('authorization', `SharedKey ${account}:${toBase64(mac)}`);
    return h;
  };
}

/** A {@link RequestSigner} that only stamps `x-ms-version` and `x-ms-date` (SAS, bearer, anonymous). */
export function versionStamp(): RequestSigner {
  return async ({ headers }) => {
    const h = new Headers(headers);
    h.set('x-ms-date', new Date().toUTCString());
    return h;
  };
}

/** Everything a store needs to reach one account, resolved from options and the environment. */
export interface AzureAccess {
  /** Account name (undefined only with an explicit endpoint and no Shared Key). */
  account?: string;
  /** Blob service endpoint without a trailing slash: containers are its first path segment. */
  endpoint: string;
  /** Whether the endpoint was given (option or connection string) rather than derived. */
  endpointGiven: boolean;
  /** 'shared-key' | 'sas' | 'bearer' | 'provider' | 'anonymous', and where it came from. */
  kind: string;
  source: string;
  /** SAS query string (no leading `?`), appended to every URL. */
  sas?: string;
  /** Bearer token provider, when kind is 'bearer' / 'provider'. */
  auth: AuthProvider;
  /** Signer: Shared Key, or the `x-ms-date` stamp for the other modes. */
  sign: RequestSigner;
  /** Every credential value, for scrubbing. */
  secrets: Secrets;
}

/** Options {@link resolveAzureAccess} reads (the store's). */
export interface AzureAccessOptions {
  account?: string;
  endpoint?: string;
  credentials?: AzureCredentials;
  /** A connection string; default `AZURE_STORAGE_CONNECTION_STRING`. */
  connectionString?: string;
}

/** Registers a SAS: the whole string and each query value that looks secret (sig above all). */
function addSas(secrets: Secrets, sas: string): void {
  secrets.add(sas);
  for (const [k, v] of new URLSearchParams(sas)) if (k === 'sig' || k === 'skoid' || k === 'sktid' || k === 'saoid' || k === 'suoid') secrets.add(v);
}

/** The account of a blob endpoint: `acct.blob.<suffix>` host, else the first path segment (emulators). */
export function accountOfEndpoint(endpoint: string): string | undefined {
  const u = new URL(endpoint);
  const host = /^([a-z0-9]+)\.blob\./i.exec(u.hostname)?.[1];
  if (host) return host.toLowerCase();
  const seg = u.pathname.split('/').find((s) => s !== '');
  return seg ? decodeURIComponent(seg) : undefined;
}

/**
 * Resolves account, endpoint and credentials. Explicit options win; otherwise, in order:
 * 1. the connection string (`connectionString` option or `AZURE_STORAGE_CONNECTION_STRING`),
 *    when its AccountName is the store's account (or the store names none): its endpoint
 *    (`BlobEndpoint`, e.g. Azurite's `http://127.0.0.1:10000/devstoreaccount1`) and its
 *    AccountKey (Shared Key) or SharedAccessSignature;
 * 2. `AZURE_STORAGE_ACCOUNT` + `AZURE_STORAGE_KEY` (Shared Key), when that account is the store's;
 * 3. `AZURE_STORAGE_SAS_TOKEN` (SAS);
 * 4. `AZURE_STORAGE_TOKEN` (a Microsoft Entra bearer token);
 * 5. anonymous.
 * Throws SpecError for a missing account, a malformed endpoint, key or connection string.
 */
export function resolveAzureAccess(o: AzureAccessOptions): AzureAccess {
  const secrets = new Secrets();
  const connText = o.connectionString ?? envVar('AZURE_STORAGE_CONNECTION_STRING');
  const connField = o.connectionString !== undefined ? 'connectionString' : 'AZURE_STORAGE_CONNECTION_STRING';
  let conn = connText ? parseConnectionString(connText, connField) : undefined;
  if (connText) {
    // Registered even when it ends up unused: it is a secret either way.
    secrets.add(conn?.accountKey);
    if (conn?.sas) addSas(secrets, conn.sas);
  }
  const envAccount = envVar('AZURE_STORAGE_ACCOUNT');
  if (conn && o.account !== undefined && conn.accountName !== undefined && conn.accountName !== o.account) conn = undefined;
  let account = o.account ?? conn?.accountName ?? envAccount;
  let endpointGiven = true;
  let endpoint = o.endpoint ?? conn?.blobEndpoint;
  if (endpoint === undefined) {
    endpointGiven = false;
    if (account === undefined) {
      throw new SpecError('kvstore.account', 'no storage account: set "account", AZURE_STORAGE_ACCOUNT or AZURE_STORAGE_CONNECTION_STRING');
    }
    endpoint = `https://${account}.blob.core.windows.net`;
  }
  const u = parseServiceUrl(endpoint, o.endpoint !== undefined ? 'kvstore.endpoint' : connField);
  if (u.search || u.hash) throw new SpecError(o.endpoint !== undefined ? 'kvstore.endpoint' : connField, 'the blob endpoint must not carry a query (pass a SAS as credentials)');
  endpoint = `${u.origin}${u.pathname}`.replace(/\/+$/, '');
  account ??= accountOfEndpoint(endpoint);
  if (account !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(account)) {
    throw new SpecError('kvstore.account', `invalid storage account name ${JSON.stringify(account)} (lower-case letters and digits)`);
  }

  const done = (kind: string, source: string, extra: { sas?: string; auth?: AuthProvider; sign?: RequestSigner } = {}): AzureAccess => ({
    account,
    endpoint: endpoint!,
    endpointGiven,
    kind,
    source,
    auth: extra.auth ?? ANONYMOUS,
    sign: extra.sign ?? versionStamp(),
    secrets,
    ...(extra.sas !== undefined ? { sas: extra.sas } : {}),
  });
  const sharedKey = (key: string, source: string, field: string) => {
    secrets.add(key);
    if (account === undefined) throw new SpecError('kvstore.account', 'Shared Key authentication needs the account name');
    return done('shared-key', source, { sign: sharedKeySigner(account, key, field) });
  };
  const sas = (token: string, source: string) => {
    const t = token.replace(/^\?/, '');
    addSas(secrets, t);
    return done('sas', source, { sas: t });
  };
  const bearer = (token: string, source: string) => {
    secrets.add(token);
    return done('bearer', source, { auth: resolveAuth({ bearerToken: token }) });
  };

  const c = o.credentials;
  if (c !== undefined) {
    if (c === 'anonymous') return done('anonymous', 'credentials');
    if (typeof c === 'function') return done('provider', 'credentials', { auth: resolveAuth(c) });
    if ('accountKey' in c) return sharedKey(c.accountKey, 'credentials', 'credentials.accountKey');
    if ('sasToken' in c) return sas(c.sasToken, 'credentials');
    if ('bearerToken' in c) return bearer(c.bearerToken, 'credentials');
    if ('getToken' in c) return done('provider', 'credentials', { auth: resolveAuth(c) });
    throw new SpecError('credentials', 'expected "anonymous", {accountKey}, {sasToken}, {bearerToken}, {getToken} or a function');
  }
  if (conn?.accountKey) return sharedKey(conn.accountKey, connField, connField);
  if (conn?.sas) return sas(conn.sas, connField);
  const envKey = envVar('AZURE_STORAGE_KEY');
  if (envKey) secrets.add(envKey);
  if (envKey && envAccount !== undefined && envAccount === account) return sharedKey(envKey, 'AZURE_STORAGE_KEY', 'AZURE_STORAGE_KEY');
  const envSas = envVar('AZURE_STORAGE_SAS_TOKEN');
  if (envSas) return sas(envSas, 'AZURE_STORAGE_SAS_TOKEN');
  const envToken = envVar('AZURE_STORAGE_TOKEN');
  if (envToken) return bearer(envToken, 'AZURE_STORAGE_TOKEN');
  return done('anonymous', 'default');
}
