/**
 * The Azure Blob store (src/kvstore/azure.ts) against Azurite, Microsoft's storage emulator,
 * started in this process on 127.0.0.1 (random port, in memory):
 * - the whole KvStore conformance suite with Shared Key, with a SAS that Microsoft's
 *   `@azure/storage-blob` generated, and with a connection string carrying Azurite's BlobEndpoint;
 * - cross-reads: what volstore writes, `@azure/storage-blob` reads (bytes, ETag, metadata), and
 *   the other way round; delimited listings equal the SDK's hierarchy listing;
 * - `az://` URLs and `{"driver": "azure"}` specs opened through the one spec parser and factory,
 *   with the account and endpoint from `AZURE_STORAGE_CONNECTION_STRING` alone;
 * - retries: injected 503 ServerBusy answers (also after a write landed: the write token tells);
 * - keys confined; credentials (account key, SAS sig, Shared Key signatures, connection string)
 *   absent from every error message, stack, cause, `util.inspect`, log line, `url` and `spec()`,
 *   also when the server echoes every request header back.
 */
import { inspect } from 'node:util';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Context } from '../../src/context/context.js';
import { KvStoreError, SpecError } from '../../src/errors.js';
import { AZURE_API_VERSION, AZURITE_ACCOUNT_KEY, parseConnectionString, resolveAzureAccess, sharedKeyStringToSign } from '../../src/kvstore/azure-auth.js';
import { AzureStore, type AzureStoreOptions, parseListBlobs } from '../../src/kvstore/azure.js';
import { listAll } from '../../src/kvstore/kvstore.js';
import { openKvStore } from '../../src/kvstore/open.js';
import { kvstoreFromUrl, parseKvStore } from '../../src/kvstore/spec.js';
import { setLogLevel, setLogSink } from '../../src/util/log.js';
import { type Azurite, startAzurite } from './azurite.js';
import { describeKvStoreConformance, pseudoRandomBytes, SPECIAL_KEYS } from './conformance.js';
import { tinyServer } from './tiny-server.js';

const FAST = { maxRetries: 6, initialDelayMs: 1, maxDelayMs: 4 };
const enc = (s: string) => new TextEncoder().encode(s);

let az: Azurite;
let svc: BlobServiceClient;
let cred: StorageSharedKeyCredential;
let sas: string;
let n = 0;
const ENV_KEYS = ['AZURE_STORAGE_CONNECTION_STRING', 'AZURE_STORAGE_ACCOUNT', 'AZURE_STORAGE_KEY', 'AZURE_STORAGE_SAS_TOKEN', 'AZURE_STORAGE_TOKEN'];
const savedEnv: Record<string, string | undefined> = {};

beforeAll(async () => {
  for (const k of ENV_KEYS) {
    savedEnv[k] = process.env[k];
    delete process.env[k];
  }
  az = await startAzurite();
  cred = new StorageSharedKeyCredential(az.account, az.accountKey);
  svc = new BlobServiceClient(az.blobEndpoint, cred);
  for (const c of ['conf', 'sas', 'conn', 'cross', 'misc']) await svc.getContainerClient(c).create();
  sas = generateBlobSASQueryParameters(
    { containerName: 'sas', permissions: ContainerSASPermissions.parse('racwdl'), expiresOn: new Date(Date.now() + 3600_000) },
    cred,
  ).toString();
}, 60_000);

afterAll(async () => {
  await az?.stop();
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

afterEach(() => {
  for (const k of ENV_KEYS) delete process.env[k];
  setLogSink(undefined);
  setLogLevel('warn');
});

const sharedKeyStore = (o: Partial<AzureStoreOptions> = {}) =>
  new AzureStore({ container: 'misc', endpoint: az.blobEndpoint, credentials: { accountKey: az.accountKey }, retries: FAST, ...o });

describeKvStoreConformance('azure (Azurite, Shared Key)', async () => ({
  store: new AzureStore({ container: 'conf', path: `t${++n}/`, endpoint: az.blobEndpoint, credentials: { accountKey: az.accountKey }, retries: FAST }),
}));

describeKvStoreConformance('azure (Azurite, SAS from @azure/storage-blob)', async () => ({
  store: new AzureStore({ container: 'sas', path: `t${++n}`, endpoint: az.blobEndpoint, credentials: { sasToken: `?${sas}` }, retries: FAST }),
}));

describeKvStoreConformance('azure (Azurite, connection string with BlobEndpoint)', async () => ({
  store: new AzureStore({ container: 'conn', path: `t${++n}/`, connectionString: az.connectionString, retries: FAST }),
}));

describe('azure: URLs, specs, environment', () => {
  it('az:// URLs and driver specs go through the one spec parser', () => {
    expect(kvstoreFromUrl('az://vol/em/raw/')).toEqual({ driver: 'azure', container: 'vol', path: 'em/raw/' });
    expect(kvstoreFromUrl('az://vol')).toEqual({ driver: 'azure', container: 'vol', path: '' });
    expect(() => kvstoreFromUrl('az:///x')).toThrow(SpecError);
    const spec = parseKvStore({ driver: 'azure', account: 'acct', container: 'vol', path: 'p/', endpoint: 'https://e' }, 'kvstore');
    expect(spec).toMatchObject({ driver: 'azure', account: 'acct', container: 'vol' });
    expect(() => parseKvStore({ driver: 'azure', path: 'p/' }, 'kvstore')).toThrow(/container/);
    expect(() => parseKvStore({ driver: 'azure', container: 'vol', bucket: 'x' }, 'kvstore')).toThrow(/bucket/);
  });

  it('an az:// URL reaches Azurite with AZURE_STORAGE_CONNECTION_STRING alone; writes are visible to the SDK', async () => {
    process.env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
    const store = await openKvStore(kvstoreFromUrl('az://misc/env/'), 'sub', new Context({ azure_request_retries: { max_retries: 2 } }));
    expect(store.url).toBe('az://misc/env/sub/');
    expect(store.spec()).toEqual({ driver: 'azure', account: 'devstoreaccount1', container: 'misc', path: 'env/sub/', endpoint: az.blobEndpoint });
    const w = await store.write('k', enc('via env'));
    expect(w.ok).toBe(true);
    const got = await svc.getContainerClient('misc').getBlobClient('env/sub/k').downloadToBuffer();
    expect(got.toString()).toBe('via env');
    // The spec reopens the same store (the endpoint is part of it; credentials are not).
    const again = await openKvStore(store.spec() as never, '', new Context());
    expect(await again.read('k')).toMatchObject({ state: 'value', generation: (w as { generation: string }).generation });
  });

  it('UseDevelopmentStorage=true means the emulator account, key and default endpoint', () => {
    expect(parseConnectionString('UseDevelopmentStorage=true')).toEqual({
      accountName: 'devstoreaccount1',
      accountKey: AZURITE_ACCOUNT_KEY,
      blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1',
    });
    expect(parseConnectionString('DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn')).toEqual({
      accountName: 'acct',
      accountKey: 'a2V5',
      blobEndpoint: 'https://acct.blob.core.chinacloudapi.cn',
    });
    expect(parseConnectionString('BlobEndpoint=https://x.example/;SharedAccessSignature=?sv=1&sig=abc')).toEqual({ blobEndpoint: 'https://x.example/', sas: 'sv=1&sig=abc' });
  });

  it('environment precedence: connection string, then account + key, then SAS, then bearer token, else anonymous', () => {
    expect(resolveAzureAccess({ account: 'acct' })).toMatchObject({ kind: 'anonymous', endpoint: 'https://acct.blob.core.windows.net', endpointGiven: false });
    process.env.AZURE_STORAGE_TOKEN = 'entra-token-value';
    expect(resolveAzureAccess({ account: 'acct' })).toMatchObject({ kind: 'bearer', source: 'AZURE_STORAGE_TOKEN' });
    process.env.AZURE_STORAGE_SAS_TOKEN = '?sv=2023&sig=abcd';
    expect(resolveAzureAccess({ account: 'acct' })).toMatchObject({ kind: 'sas', sas: 'sv=2023&sig=abcd' });
    process.env.AZURE_STORAGE_ACCOUNT = 'acct';
    process.env.AZURE_STORAGE_KEY = AZURITE_ACCOUNT_KEY;
    expect(resolveAzureAccess({})).toMatchObject({ kind: 'shared-key', source: 'AZURE_STORAGE_KEY', account: 'acct' });
    // A key for another account is not sent to this one.
    expect(resolveAzureAccess({ account: 'other' })).toMatchObject({ kind: 'sas', account: 'other' });
    process.env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
    expect(resolveAzureAccess({})).toMatchObject({ kind: 'shared-key', source: 'AZURE_STORAGE_CONNECTION_STRING', account: 'devstoreaccount1', endpoint: az.blobEndpoint });
    // A connection string for another account is ignored as a whole (endpoint too).
    expect(resolveAzureAccess({ account: 'acct' })).toMatchObject({ kind: 'shared-key', source: 'AZURE_STORAGE_KEY', endpoint: 'https://acct.blob.core.windows.net' });
    // Explicit options win over the environment.
    expect(resolveAzureAccess({ account: 'acct', credentials: 'anonymous', endpoint: 'http://127.0.0.1:1/acct/' })).toMatchObject({
      kind: 'anonymous',
      endpoint: 'http://127.0.0.1:1/acct',
    });
  });

  it('bad names, endpoints and keys are SpecErrors that do not echo secrets', () => {
    expect(() => new AzureStore({ container: 'A_b', account: 'acct' })).toThrow(SpecError);
    expect(() => new AzureStore({ container: 'ab', account: 'acct' })).toThrow(SpecError);
    expect(() => new AzureStore({ container: 'a--b', account: 'acct' })).toThrow(SpecError);
    expect(() => new AzureStore({ container: 'vol' })).toThrow(/no storage account/);
    expect(() => new AzureStore({ container: 'vol', account: 'acct', path: '../x' })).toThrow(SpecError);
    expect(() => new AzureStore({ container: 'vol', account: 'acct', endpoint: 'ftp://x' })).toThrow(SpecError);
    expect(() => new AzureStore({ container: 'vol', account: 'acct', endpoint: 'https://h/?sig=QUERY-SECRET' })).toThrow(/query/);
    const badKey = 'not base64 SECRET-KEY-TEXT!';
    const e = (() => {
      try {
        new AzureStore({ container: 'vol', account: 'acct', credentials: { accountKey: badKey } });
      } catch (x) {
        return x as Error;
      }
    })();
    expect(e).toBeInstanceOf(SpecError);
    expect(String(e?.message) + String(e?.stack)).not.toContain('SECRET-KEY-TEXT');
    const cs = 'AccountName=acct;AccountKey=CONN-SECRET-KEY;garbage';
    const e2 = (() => {
      try {
        new AzureStore({ container: 'vol', connectionString: cs });
      } catch (x) {
        return x as Error;
      }
    })();
    expect(e2).toBeInstanceOf(SpecError);
    expect(String(e2?.message) + String(e2?.stack)).not.toContain('CONN-SECRET-KEY');
  });

  it('context resources azure_request_{concurrency,retries,timeout} are accepted and validated', async () => {
    const ctx = new Context({ azure_request_concurrency: { limit: 3 }, azure_request_retries: { max_retries: 0 }, azure_request_timeout: { first_byte: '5s', idle: '5s' } });
    expect(ctx.limiter('azure_request_concurrency', 32).limit).toBe(3);
    expect(() => new Context({ azure_request_retries: { max_retries: -1 } })).toThrow(SpecError);
    expect(() => new Context({ azure_request_timeout: { first_byte: 'soon' } })).toThrow(SpecError);
    // max_retries 0 reaches the store: one 503 is final.
    let calls = 0;
    const store = new AzureStore({
      container: 'misc',
      endpoint: az.blobEndpoint,
      credentials: 'anonymous',
      retries: { maxRetries: 0 },
      fetch: async () => (calls++, new Response('<Error><Code>ServerBusy</Code><Message>busy</Message></Error>', { status: 503 })),
    });
    const err = await store.read('k').catch((x: unknown) => x);
    expect(err).toBeInstanceOf(KvStoreError);
    expect((err as KvStoreError).status).toBe(503);
    expect((err as Error).message).toContain('ServerBusy');
    expect(calls).toBe(1);
  });

  it('keys that could leave the store root are refused before any request', async () => {
    let calls = 0;
    const store = sharedKeyStore({ path: 'root/', fetch: async (u, i) => (calls++, globalThis.fetch(u, i)) });
    for (const bad of ['../x', 'a/../../x', '/abs', 'a/./b', '%2e%2e/x', 'a\\..\\b', 'nul\0']) {
      await expect(store.read(bad), bad).rejects.toBeInstanceOf(KvStoreError);
      await expect(store.write(bad, enc('x')), bad).rejects.toBeInstanceOf(KvStoreError);
      await expect(store.delete(bad), bad).rejects.toBeInstanceOf(KvStoreError);
    }
    await expect(listAll(store, '../')).rejects.toBeInstanceOf(KvStoreError);
    expect(calls).toBe(0);
  });
});

describe('azure: cross-reads with @azure/storage-blob', () => {
  it('the SDK reads what volstore wrote: bytes, ETag (= generation), write token metadata, special names', async () => {
    const store = new AzureStore({ container: 'cross', path: 'v2sdk', endpoint: az.blobEndpoint, credentials: { accountKey: az.accountKey }, retries: FAST });
    const cc = svc.getContainerClient('cross');
    const values = new Map<string, Uint8Array>();
    for (const [i, k] of [...SPECIAL_KEYS, 'a/b/c', 'big'].entries()) values.set(k, pseudoRandomBytes(k === 'big' ? 3 << 20 : 100 + i, i + 1));
    const gens = new Map<string, string>();
    for (const [k, v] of values) {
      const w = await store.write(k, v);
      if (!w.ok) throw new Error(`write ${k}`);
      gens.set(k, w.generation);
    }
    for (const [k, v] of values) {
      const bc = cc.getBlobClient(`v2sdk/${k}`);
      const got = await bc.downloadToBuffer();
      expect(Buffer.compare(got, Buffer.from(v)), k).toBe(0);
      const props = await bc.getProperties();
      expect(props.etag, k).toBe(gens.get(k));
      expect(props.contentLength).toBe(v.length);
      expect(props.blobType).toBe('BlockBlob');
      expect(props.metadata?.vswrite).toMatch(/^[0-9a-f]{16}$/);
    }
    const sdkNames: string[] = [];
    for await (const b of cc.listBlobsFlat({ prefix: 'v2sdk/' })) sdkNames.push(b.name.slice('v2sdk/'.length));
    expect(sdkNames.sort()).toEqual([...values.keys()].sort());
    expect(await listAll(store, '')).toEqual([...values.keys()].sort());
  });

  it('volstore reads what the SDK wrote: whole, ranged, suffix, conditional on the SDK ETag', async () => {
    const cc = svc.getContainerClient('cross');
    const data = pseudoRandomBytes(200_000, 7);
    const up = await cc.getBlockBlobClient('sdk2v/blob one').uploadData(data);
    const store = new AzureStore({ container: 'cross', path: 'sdk2v/', endpoint: az.blobEndpoint, credentials: { accountKey: az.accountKey }, retries: FAST });
    const whole = await store.read('blob one');
    expect(whole).toMatchObject({ state: 'value', generation: up.etag, size: data.length });
    expect(Buffer.compare(Buffer.from((whole as { value: Uint8Array }).value), Buffer.from(data))).toBe(0);
    const mid = await store.read('blob one', { byteRange: { offset: 1000, length: 4096 } });
    expect((mid as { value: Uint8Array }).value).toEqual(data.subarray(1000, 5096));
    const tail = await store.read('blob one', { byteRange: { suffix: 777 } });
    expect((tail as { value: Uint8Array }).value).toEqual(data.subarray(data.length - 777));
    expect(await store.read('blob one', { ifNotEqual: up.etag })).toEqual({ state: 'unchanged', generation: up.etag });
    // A conditional write on the SDK's ETag succeeds once; the SDK then sees the new bytes.
    const w = await store.write('blob one', enc('replaced'), { ifEqual: up.etag! });
    expect(w.ok).toBe(true);
    expect(await store.write('blob one', enc('again'), { ifEqual: up.etag! })).toEqual({ ok: false });
    expect((await cc.getBlobClient('sdk2v/blob one').downloadToBuffer()).toString()).toBe('replaced');
    // The SDK's conditional delete honours volstore's generation.
    await expect(cc.getBlobClient('sdk2v/blob one').delete({ conditions: { ifMatch: up.etag } })).rejects.toMatchObject({ statusCode: 412 });
    await cc.getBlobClient('sdk2v/blob one').delete({ conditions: { ifMatch: (w as { generation: string }).generation } });
    expect(await store.read('blob one')).toEqual({ state: 'missing', generation: '' });
  });

  it('listEntries with a delimiter equals the SDK hierarchy listing, across pages', async () => {
    const cc = svc.getContainerClient('cross');
    const names = ['h/a', 'h/b/1', 'h/b/2', 'h/c/d/e', 'h/c/x', 'h/z', 'h/ü x/1'];
    for (const nm of names) await cc.getBlockBlobClient(nm).uploadData(Buffer.from(nm));
    const store = new AzureStore({ container: 'cross', path: 'h/', endpoint: az.blobEndpoint, credentials: { accountKey: az.accountKey }, retries: FAST, listPageSize: 2 });
    const ours: string[] = [];
    for await (const e of store.listEntries('', { delimiter: '/' })) ours.push(e.kind === 'key' ? `key:${e.key}` : `prefix:${e.prefix}`);
    const theirs: string[] = [];
    for await (const it of cc.listBlobsByHierarchy('/', { prefix: 'h/' })) {
      theirs.push(it.kind === 'blob' ? `key:${it.name.slice(2)}` : `prefix:${it.name.slice(2)}`);
    }
    expect(ours.sort()).toEqual(theirs.sort());
    expect(ours.sort()).toEqual(['key:a', 'key:z', 'prefix:b/', 'prefix:c/', 'prefix:ü x/']);
    const sub: string[] = [];
    for await (const e of store.listEntries('c/', { delimiter: '/' })) sub.push(e.kind === 'key' ? e.key : `${e.prefix}*`);
    expect(sub.sort()).toEqual(['c/d/*', 'c/x']);
    expect(await listAll(store, 'c')).toEqual(['c/d/e', 'c/x']);
    expect(store.stats.requests).toBeGreaterThan(4); // pages of 2 were followed
  });

  it('parses List Blobs XML: entities, Encoded names, empty lists, no marker; malformed XML is transient', () => {
    const page = parseListBlobs(
      '<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="x" ContainerName="c"><Prefix>p</Prefix>' +
        '<Blobs><Blob><Name>a&amp;b &lt;c&gt; &#233;</Name><Properties><Etag>0x1</Etag></Properties></Blob>' +
        '<Blob><Name Encoded="true">bad%EF%BF%BEname</Name></Blob><Blob><Name> 007 </Name></Blob>' +
        '<BlobPrefix><Name>dir/</Name></BlobPrefix></Blobs><NextMarker>m&amp;1</NextMarker></EnumerationResults>',
    );
    expect(page).toEqual({ names: ['a&b <c> é', 'bad\uFFFEname', ' 007 '], prefixes: ['dir/'], nextMarker: 'm&1' });
    expect(parseListBlobs('<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>')).toEqual({ names: [], prefixes: [] });
    expect(() => parseListBlobs('<Other/>')).toThrow(/EnumerationResults/);
  });
});

describe('azure: retries (the core behaviour over Azurite)', () => {
  /** A fetch that answers 503 ServerBusy instead of Azurite for the requests `fail` picks. */
  function faulty(fail: (method: string, n: number) => boolean, after = false) {
    let i = 0;
    const seen: string[] = [];
    const fetch = async (url: string, init: RequestInit) => {
      const m = init.method ?? 'GET';
      const hit = fail(m, i++);
      seen.push(m);
      const busy = () => new Response('<?xml version="1.0"?><Error><Code>ServerBusy</Code><Message>Please retry</Message></Error>', { status: 503 });
      if (hit && !after) return busy();
      const r = await globalThis.fetch(url, init);
      if (hit && after) {
        await r.body?.cancel();
        return busy(); // the request DID land
      }
      return r;
    };
    return { fetch, seen };
  }

  it('every other request answered 503: reads, writes, deletes and lists still succeed, with visible retries', async () => {
    const f = faulty((_m, k) => k % 2 === 0);
    const store = sharedKeyStore({ path: 'retry1/', fetch: f.fetch });
    const w = await store.write('k', enc('v'));
    expect(w.ok).toBe(true);
    expect(await store.read('k', { byteRange: { offset: 0, length: 1 } })).toMatchObject({ state: 'value' });
    expect(await listAll(store, '')).toEqual(['k']);
    expect(await store.delete('k')).toBe(true);
    expect(store.stats.retries).toBeGreaterThanOrEqual(4);
    expect(f.seen.length).toBe(store.stats.requests);
  });

  it('a conditional write whose success was answered 503 resolves ok (its write token is found), not a false conflict', async () => {
    let firstPut = true;
    const f = faulty((m) => {
      if (m !== 'PUT' || !firstPut) return false;
      firstPut = false;
      return true;
    }, true);
    const store = sharedKeyStore({ path: 'retry2/', fetch: f.fetch });
    const w = await store.write('k', enc('mine'), { ifEqual: '' });
    expect(w.ok).toBe(true);
    expect(f.seen).toEqual(['PUT', 'PUT', 'HEAD']); // 503 (landed), 409 BlobAlreadyExists, stat finds our token
    const props = await svc.getContainerClient('misc').getBlobClient('retry2/k').getProperties();
    expect(props.etag).toBe((w as { generation: string }).generation);
    // A real conflict stays a conflict.
    expect(await sharedKeyStore({ path: 'retry2/' }).write('k', enc('theirs'), { ifEqual: '' })).toEqual({ ok: false });
  });

  it('retries run out with an error naming key, status and attempts', async () => {
    const store = sharedKeyStore({ path: 'retry3/', fetch: faulty(() => true).fetch, retries: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 2 } });
    const e = (await store.read('gone').catch((x: unknown) => x)) as KvStoreError;
    expect(e).toBeInstanceOf(KvStoreError);
    expect(e.key).toBe('gone');
    expect(e.status).toBe(503);
    expect(e.message).toMatch(/gave up after 3 attempts/);
  });
});

describe('azure: credentials never leak', () => {
  const WRONG_KEY = Buffer.from('WRONG-ACCOUNT-KEY-0123456789-abcdefghijklmnop').toString('base64');

  /** Every text an error exposes: message, stack, causes, JSON and inspection. */
  function exposed(e: unknown): string {
    const parts: string[] = [inspect(e, { depth: 20, showHidden: true })];
    for (let x: unknown = e, d = 0; x && d < 10; x = (x as { cause?: unknown }).cause, d++) {
      parts.push(String((x as Error).message), String((x as Error).stack), JSON.stringify(x));
    }
    return parts.join('\n');
  }

  it('Azurite rejecting a wrong key, a forged SAS and a bad connection-string key: no key, signature or sig in any error or log', async () => {
    const logged: string[] = [];
    setLogSink((_l, line) => logged.push(line));
    setLogLevel('debug');
    const sentAuth: string[] = [];
    const spy = async (u: string, i: RequestInit) => {
      const a = new Headers(i.headers).get('authorization');
      if (a) sentAuth.push(a);
      return globalThis.fetch(u, i);
    };
    const forgedSig = 'FORGEDsig0123456789abcdefABCDEF0123456789xyz=';
    const forged = sas.replace(/sig=[^&]+/, `sig=${encodeURIComponent(forgedSig)}`);
    const stores = [
      new AzureStore({ container: 'misc', endpoint: az.blobEndpoint, credentials: { accountKey: WRONG_KEY }, retries: FAST, fetch: spy }),
      new AzureStore({ container: 'sas', endpoint: az.blobEndpoint, credentials: { sasToken: forged }, retries: FAST }),
      new AzureStore({ container: 'misc', connectionString: az.connectionString.replace(az.accountKey, WRONG_KEY), retries: FAST, fetch: spy }),
    ];
    const secrets = [WRONG_KEY, forgedSig, encodeURIComponent(forgedSig)];
    let checked = 0;
    for (const store of stores) {
      for (const op of [
        () => store.read('k'),
        () => store.read('k', { byteRange: { suffix: 4 } }),
        () => store.write('k', enc('x'), { ifEqual: '' }),
        () => store.delete('k', { ifEqual: '"0x1"' }),
        () => listAll(store, ''),
      ]) {
        const e = await op().then(
          (v) => new Error(`resolved ${JSON.stringify(v)}`),
          (x: unknown) => x,
        );
        expect(e).toBeInstanceOf(KvStoreError);
        expect((e as KvStoreError).status).toBe(403);
        const text = exposed(e);
        expect(text).toMatch(/AuthorizationFailure|AuthenticationFailed|failed to authenticate/);
        for (const s of [...secrets, ...sentAuth, ...sentAuth.map((a) => a.split(':').pop()!)]) expect(text.includes(s), `error exposes ${s}`).toBe(false);
        checked++;
      }
      for (const s of [...secrets, ...sentAuth]) {
        expect(inspect(store, { depth: 20, showHidden: true }).includes(s)).toBe(false);
        expect(JSON.stringify(store).includes(s)).toBe(false);
        expect(JSON.stringify(store.spec()).includes(s) || store.url.includes(s)).toBe(false);
      }
    }
    expect(checked).toBe(15);
    expect(sentAuth.length).toBeGreaterThan(5);
    expect(sentAuth.every((a) => a.startsWith('SharedKey devstoreaccount1:'))).toBe(true);
    expect(logged.length).toBeGreaterThan(0);
    for (const s of [...secrets, ...sentAuth.map((a) => a.split(':').pop()!)]) expect(logged.join('\n').includes(s)).toBe(false);
  });

  it('a server echoing every request header and URL in its errors: Shared Key signatures, SAS and bearer tokens are scrubbed', async () => {
    const echo = await tinyServer((req, res) => {
      const dump = `${req.method} ${req.url} ${JSON.stringify(req.headers)}`;
      const body = `<?xml version="1.0"?><Error><Code>AuthenticationFailed</Code><Message>you sent ${dump.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Message></Error>`;
      res.writeHead(403, { 'content-type': 'application/xml' }).end(req.method === 'HEAD' ? undefined : body);
    });
    try {
      const S = { sig: 'SAS-SIGNATURE-SECRET-abc123', token: 'eyJ0eXAiOiJKV1QiLCJhbGciOi.ENTRA-TOKEN-SECRET.x', key: Buffer.from('SHARED-KEY-SECRET-0123456789').toString('base64') };
      const sentAuth: string[] = [];
      const fetch = async (u: string, i: RequestInit) => {
        const a = new Headers(i.headers).get('authorization');
        if (a) sentAuth.push(a);
        return globalThis.fetch(u, i);
      };
      const base = { container: 'vol', path: 'p/', endpoint: `${echo.url}/acct`, retries: FAST, fetch };
      const stores = [
        new AzureStore({ ...base, credentials: { accountKey: S.key } }),
        new AzureStore({ ...base, credentials: { sasToken: `sv=2023-11-03&sp=r&sig=${S.sig}` } }),
        new AzureStore({ ...base, credentials: { bearerToken: S.token } }),
        new AzureStore({ ...base, credentials: () => S.token }),
      ];
      for (const store of stores) {
        for (const op of [() => store.read('k'), () => store.write('k', enc('x')), () => store.delete('k'), () => listAll(store, '')]) {
          const e = await op().catch((x: unknown) => x);
          expect(e).toBeInstanceOf(KvStoreError);
          const text = exposed(e);
          expect(text).toContain('AuthenticationFailed');
          expect(text).toContain('[redacted]');
          for (const s of [S.sig, S.token, S.key, ...sentAuth.map((a) => a.split(/[ :]/).pop()!)]) expect(text.includes(s), `exposes ${s}`).toBe(false);
        }
      }
      // The credentials did travel (to the endpoint's origin), each in its own form.
      const seen = echo.seen.map((s) => `${s.url} ${String(s.headers.authorization)}`).join('\n');
      expect(seen).toContain(`sig=${S.sig}`);
      expect(seen).toContain(`Bearer ${S.token}`);
      expect(seen).toMatch(/SharedKey acct:[A-Za-z0-9+/]+=*/);
      expect(echo.seen.every((s) => s.headers['x-ms-version'] === AZURE_API_VERSION)).toBe(true);
    } finally {
      await echo.close();
    }
  });

  it('credentials go to the endpoint origin only: a redirect elsewhere is an error and the other host sees nothing', async () => {
    const other = await tinyServer((_req, res) => void res.writeHead(404).end());
    const front = await tinyServer((req, res) => void res.writeHead(307, { location: `${other.url}${req.url}` }).end());
    try {
      for (const credentials of [{ accountKey: AZURITE_ACCOUNT_KEY }, { sasToken: 'sv=1&sig=REDIRECT-SAS-SIG' }, { bearerToken: 'REDIRECT-BEARER-TOKEN' }]) {
        const store = new AzureStore({ container: 'vol', endpoint: `${front.url}/acct`, credentials, retries: FAST });
        const e = await store.read('k').catch((x: unknown) => x);
        expect(e).toBeInstanceOf(KvStoreError);
        expect((e as KvStoreError).status).toBe(307);
        expect(String((e as Error).message)).not.toMatch(/REDIRECT-(SAS|BEARER)/);
      }
      expect(front.seen.length).toBe(3);
      expect(other.seen.length).toBe(0);
    } finally {
      await front.close();
      await other.close();
    }
  });

  it('the Shared Key string-to-sign follows the specification (canonical headers and resource)', () => {
    const h = new Headers({
      'x-ms-version': '2023-11-03',
      'x-ms-date': 'Mon, 30 Nov 2026 00:00:00 GMT',
      'x-ms-meta-vswrite': 'abc',
      'x-ms-blob-type': 'BlockBlob',
      'content-type': 'application/octet-stream',
      'if-none-match': '*',
      range: 'bytes=0-9',
    });
    const s = sharedKeyStringToSign('acct', 'put', 'https://acct.blob.core.windows.net/vol/a%20b/c?comp=list&Restype=container&b=2&b=1', h, 10);
    expect(s).toBe(
      [
        'PUT',
        '',
        '',
        '10',
        '',
        'application/octet-stream',
        '',
        '',
        '',
        '*',
        '',
        'bytes=0-9',
        'x-ms-blob-type:BlockBlob',
        'x-ms-date:Mon, 30 Nov 2026 00:00:00 GMT',
        'x-ms-meta-vswrite:abc',
        'x-ms-version:2023-11-03',
        '/acct/vol/a%20b/c',
        'b:1,2',
        'comp:list',
        'restype:container',
      ].join('\n'),
    );
    // An empty body signs an empty Content-Length.
    expect(sharedKeyStringToSign('acct', 'GET', 'https://h/vol/k', new Headers(), 0).split('\n')[3]).toBe('');
  });
});
