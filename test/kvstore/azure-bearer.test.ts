/**
 * Microsoft Entra bearer tokens against Azurite. Azurite accepts `Authorization: Bearer` only
 * over HTTPS and with `--oauth basic` (it checks lifetime, issuer and audience, not the
 * signature), so it runs here with the self-signed certificate in test/fixtures/azurite/ and
 * the client trusts that certificate through an undici Agent.
 * - the KvStore conformance suite with a fixed token, and with a token provider;
 * - `AZURE_STORAGE_TOKEN` picked up from the environment;
 * - an expired token or one for another audience is refused (so the token is really checked),
 *   and the token never appears in the error.
 */
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvStoreError } from '../../src/errors.js';
import { AZURE_API_VERSION, sharedKeySigner } from '../../src/kvstore/azure-auth.js';
import { AzureStore } from '../../src/kvstore/azure.js';
import type { FetchLike } from '../../src/kvstore/http/client.js';
import { fixture } from '../fixture-path.js';
import { type Azurite, startAzurite } from './azurite.js';
import { describeKvStoreConformance } from './conformance.js';

const FAST = { maxRetries: 6, initialDelayMs: 1, maxDelayMs: 4 };
const cert = fixture('azurite', 'cert.pem');
const agent = new Agent({ connect: { ca: readFileSync(cert, 'utf8') } });
const tlsFetch: FetchLike = (url, init) => undiciFetch(url, { ...(init as object), dispatcher: agent }) as unknown as Promise<Response>;

const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** An unsigned JWT shaped like an Entra access token for Azure Storage. */
function entraToken(o: { aud?: string; expIn?: number; tag?: string } = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    aud: o.aud ?? 'https://storage.azure.com',
    iss: 'https://sts.windows.net/ab1f708d-50f6-404c-a006-d71b2ac7a606/',
    iat: now - 60,
    nbf: now - 60,
    exp: now + (o.expIn ?? 3600),
    oid: `volstore-test-${o.tag ?? 'x'}`,
  };
  return `${b64url({ typ: 'JWT', alg: 'RS256' })}.${b64url(claims)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk`;
}

let az: Azurite;
let n = 0;
const TOKEN = entraToken({ tag: 'fixed' });

beforeAll(async () => {
  delete process.env.AZURE_STORAGE_CONNECTION_STRING;
  delete process.env.AZURE_STORAGE_KEY;
  delete process.env.AZURE_STORAGE_SAS_TOKEN;
  az = await startAzurite({ tls: { cert, key: fixture('azurite', 'key.pem') }, oauth: 'basic' });
  expect(az.url.startsWith('https://127.0.0.1:')).toBe(true);
  // Create the container with a Shared Key signed request (our signer, over TLS).
  const sign = sharedKeySigner(az.account, az.accountKey);
  const url = `${az.blobEndpoint}/bearer?restype=container`;
  const headers = await sign({ method: 'PUT', url, headers: new Headers({ 'x-ms-version': AZURE_API_VERSION }) });
  const r = await tlsFetch(url, { method: 'PUT', headers });
  expect(r.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await az?.stop();
  await agent.close();
  delete process.env.AZURE_STORAGE_TOKEN;
});

describeKvStoreConformance('azure (Azurite over HTTPS, Entra bearer token)', async () => ({
  store: new AzureStore({ container: 'bearer', path: `t${++n}/`, endpoint: az.blobEndpoint, credentials: { bearerToken: TOKEN }, fetch: tlsFetch, retries: FAST }),
}));

let calls = 0;
describeKvStoreConformance('azure (Azurite over HTTPS, token provider)', async () => ({
  store: new AzureStore({
    container: 'bearer',
    path: `p${++n}/`,
    endpoint: az.blobEndpoint,
    credentials: { getToken: async () => (calls++, entraToken({ tag: String(calls % 3) })) },
    fetch: tlsFetch,
    retries: FAST,
  }),
}));

describe('azure bearer tokens', () => {
  it('the provider is asked per request', () => {
    expect(calls).toBeGreaterThan(20);
  });

  it('AZURE_STORAGE_TOKEN from the environment authenticates; without it the container is private', async () => {
    const anon = new AzureStore({ container: 'bearer', path: 'env/', endpoint: az.blobEndpoint, fetch: tlsFetch, retries: FAST });
    expect(anon.authKind).toBe('anonymous');
    await expect(anon.write('k', new Uint8Array([1]))).rejects.toMatchObject({ status: 403 });
    process.env.AZURE_STORAGE_TOKEN = TOKEN;
    try {
      const store = new AzureStore({ container: 'bearer', path: 'env/', endpoint: az.blobEndpoint, fetch: tlsFetch, retries: FAST });
      expect(store.authKind).toBe('bearer');
      expect((await store.write('k', new Uint8Array([1, 2, 3]))).ok).toBe(true);
      expect(await store.read('k')).toMatchObject({ state: 'value', value: new Uint8Array([1, 2, 3]) });
      expect(inspect(store, { depth: 10, showHidden: true })).not.toContain(TOKEN);
      expect(JSON.stringify(store)).not.toContain(TOKEN);
    } finally {
      delete process.env.AZURE_STORAGE_TOKEN;
    }
  });

  it('an expired token and a token for another audience are refused; the error never holds the token', async () => {
    for (const token of [entraToken({ expIn: -600, tag: 'expired' }), entraToken({ aud: 'https://management.azure.com', tag: 'aud' })]) {
      const store = new AzureStore({ container: 'bearer', endpoint: az.blobEndpoint, credentials: { bearerToken: token }, fetch: tlsFetch, retries: FAST });
      for (const op of [() => store.read('k'), () => store.write('k', new Uint8Array([1])), () => store.list('')[Symbol.asyncIterator]().next()]) {
        const e = (await op().catch((x: unknown) => x)) as KvStoreError;
        expect(e).toBeInstanceOf(KvStoreError);
        expect([401, 403]).toContain(e.status);
        const text = `${e.message}\n${e.stack}\n${inspect(e, { depth: 10, showHidden: true })}`;
        expect(e.message).toMatch(/AuthenticationFailed|failed to authenticate/);
        for (const part of [token, ...token.split('.').filter((p) => p.length > 20)]) expect(text.includes(part)).toBe(false);
      }
    }
  });
});
