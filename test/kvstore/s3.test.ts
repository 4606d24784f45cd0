import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import { S3Store } from '../../src/kvstore/s3.js';
import { describeKvStoreConformance } from './conformance.js';

let emu: Emulator;
let n = 0;
const FAST = { maxRetries: 8, initialDelayMs: 2, maxDelayMs: 20 };
const CREDS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

beforeAll(async () => {
  emu = await startEmulator({ buckets: ['conf'] });
});
afterAll(async () => {
  await emu?.stop();
});

describeKvStoreConformance('s3 (emulator)', async () => ({
  store: new S3Store({ bucket: 'conf', path: `t${++n}/`, endpoint: `${emu.url}/s3`, credentials: CREDS, retries: FAST }),
}));

import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { KvStoreError } from '../../src/errors.js';
import { TransientError } from '../../src/kvstore/retry.js';
import { listAll } from '../../src/kvstore/kvstore.js';
import { parseListObjectsV2 } from '../../src/kvstore/s3.js';
import { Context } from '../../src/context/context.js';
import { openKvStore } from '../../src/kvstore/open.js';
import { kvstoreFromUrl } from '../../src/kvstore/spec.js';
import { pseudoRandomBytes } from './conformance.js';

describe('s3: URLs, addressing, context', () => {
  it('opens s3:// URLs through the one spec parser', async () => {
    expect(kvstoreFromUrl('s3://bucket/path/')).toEqual({ driver: 's3', bucket: 'bucket', path: 'path/' });
    expect(kvstoreFromUrl('s3://bucket')).toEqual({ driver: 's3', bucket: 'bucket', path: '' });
    const s = await openKvStore({ ...kvstoreFromUrl('s3://my-bucket/data/'), aws_region: 'eu-west-1' }, '', new Context());
    expect(s.url).toBe('s3://my-bucket/data/');
    expect(s.spec()).toMatchObject({ driver: 's3', bucket: 'my-bucket', path: 'data/', aws_region: 'eu-west-1' });
  });

  it('virtual-host style on AWS, path style for custom endpoints and dotted buckets', async () => {
    const urls: string[] = [];
    const fake = async (u: string) => (urls.push(u), new Response(null, { status: 404 }));
    await new S3Store({ bucket: 'b1', path: 'p/', region: 'eu-west-1', credentials: 'anonymous', fetch: fake }).read('a b');
    await new S3Store({ bucket: 'b.dot', region: 'us-east-1', credentials: 'anonymous', fetch: fake }).read('k');
    await new S3Store({ bucket: 'b2', endpoint: 'http://minio:9000/', credentials: 'anonymous', fetch: fake }).read('k');
    await new S3Store({ bucket: 'b3', endpoint: 'http://minio:9000', forcePathStyle: false, credentials: 'anonymous', fetch: fake }).read('k');
    expect(urls).toEqual([
      'https://b1.s3.eu-west-1.amazonaws.com/p/a%20b',
      'https://s3.us-east-1.amazonaws.com/b.dot/k',
      'http://minio:9000/b2/k',
      'http://b3.minio:9000/k',
    ]);
  });

  it('maps context resources', () => {
    const context = new Context({ s3_request_concurrency: { limit: 4 }, s3_request_retries: { max_retries: 1 } });
    expect(context.limiter('s3_request_concurrency', 32).limit).toBe(4);
  });

  it('parses ListObjectsV2 XML with entities', () => {
    const xml =
      '<?xml version="1.0"?><ListBucketResult><Name>b</Name><IsTruncated>true</IsTruncated>' +
      '<Contents><Key>a&amp;b &lt;c&gt; &#233;&#x263A;</Key><ETag>&quot;x&quot;</ETag></Contents>' +
      '<Contents><Key>plain</Key></Contents><NextContinuationToken>tok&amp;1</NextContinuationToken></ListBucketResult>';
    expect(parseListObjectsV2(xml)).toEqual({ keys: ['a&b <c> é☺', 'plain'], truncated: true, nextToken: 'tok&1' });
    // Names are kept as written (no number parsing, no trimming).
    const odd = '<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>007</Key></Contents><Contents><Key> x </Key></Contents></ListBucketResult>';
    expect(parseListObjectsV2(odd)).toEqual({ keys: ['007', ' x '], truncated: false });
  });

  it('a cut or garbled ListObjectsV2 answer is a retryable error naming the prefix, never a shorter listing', () => {
    const cut = '<?xml version="1.0"?><ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key></Contents><Contents><Ke';
    expect(() => parseListObjectsV2(cut, 'em/')).toThrow(TransientError);
    try {
      parseListObjectsV2(cut, 'em/');
    } catch (e) {
      expect((e as TransientError).final).toBeInstanceOf(KvStoreError);
      expect(String((e as TransientError).final)).toMatch(/em\/.*malformed XML/);
    }
    expect(() => parseListObjectsV2('<Error><Code>AccessDenied</Code></Error>', 'em/')).toThrow(TransientError);
  });
});

/** The SDK signer's hash interface over node:crypto (HMAC when given a secret). */
class Sha256 {
  private readonly h: Hash | Hmac;
  constructor(secret?: string | Uint8Array) {
    this.h = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(data: string | Uint8Array): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

describe('s3: signing, credentials, interop', () => {
  it('signs with SigV4 exactly as the AWS SDK signer does', async () => {
    let captured: { url: string; headers: Headers } | undefined;
    const fake = async (u: string, init: RequestInit) => {
      captured = { url: u, headers: new Headers(init.headers) };
      return new Response(null, { status: 404 });
    };
    const creds = { ...CREDS, sessionToken: 'SESSION-TOKEN' };
    const store = new S3Store({ bucket: 'bkt', region: 'us-west-2', credentials: creds, fetch: fake });
    await store.read('dir/key with space', { byteRange: { offset: 0, length: 10 } });
    const h = captured!.headers;
    const auth = h.get('authorization')!;
    expect(auth).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-west-2\/s3\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/);
    expect(h.get('x-amz-security-token')).toBe('SESSION-TOKEN');
    // Recompute with the SDK's signer over the same request and timestamp.
    const url = new URL(captured!.url);
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(auth)![1]!.split(';');
    const headers: Record<string, string> = {};
    for (const name of signedHeaders) headers[name] = name === 'host' ? url.host : h.get(name)!;
    const amzDate = h.get('x-amz-date')!;
    const signer = new SignatureV4({ credentials: creds, region: 'us-west-2', service: 's3', sha256: Sha256 as never, uriEscapePath: false, applyChecksum: false });
    const date = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
    const signed = await signer.sign(
      { method: 'GET', protocol: url.protocol, hostname: url.hostname, path: url.pathname, query: {}, headers },
      { signingDate: date },
    );
    const sdkSig = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))![1];
    expect(/Signature=([0-9a-f]{64})/.exec(auth)![1]).toBe(sdkSig);
  });

  it('takes credentials from the environment; anonymous otherwise', async () => {
    const saved = { ...process.env };
    const seen: (string | null)[] = [];
    const fake = async (_u: string, init: RequestInit) => (seen.push(new Headers(init.headers).get('authorization')), new Response(null, { status: 404 }));
    try {
      process.env.AWS_ACCESS_KEY_ID = 'AKIDENV';
      process.env.AWS_SECRET_ACCESS_KEY = 'secretenv';
      process.env.AWS_REGION = 'ap-south-1';
      const s = new S3Store({ bucket: 'b', fetch: fake });
      expect(s.region).toBe('ap-south-1');
      await s.read('k');
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
      await new S3Store({ bucket: 'b', fetch: fake }).read('k');
    } finally {
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
    expect(seen[0]).toMatch(/Credential=AKIDENV\/\d{8}\/ap-south-1\/s3/);
    expect(seen[1]).toBeNull();
  });

  it('interoperates with @aws-sdk/client-s3 through the emulator', async () => {
    const sdk = new S3Client({ endpoint: `${emu.url}/s3`, forcePathStyle: true, region: 'us-east-1', credentials: CREDS });
    const store = new S3Store({ bucket: 'conf', path: 'interop/', endpoint: `${emu.url}/s3`, credentials: CREDS });
    const v = pseudoRandomBytes(10_000, 4);
    await store.write('ours', v);
    const got = await sdk.send(new GetObjectCommand({ Bucket: 'conf', Key: 'interop/ours' }));
    expect(Buffer.compare(await got.Body!.transformToByteArray(), v)).toBe(0);
    await sdk.send(new PutObjectCommand({ Bucket: 'conf', Key: 'interop/theirs', Body: v }));
    const r = await store.read('theirs', { byteRange: { offset: 5, length: 5 } });
    expect(r.state === 'value' && Buffer.compare(r.value, v.subarray(5, 10))).toBe(0);
    expect(r.generation).toMatch(/^"[0-9a-f]{32}"$/); // no write token on foreign objects
    sdk.destroy();
  });

  it('lists across ListObjectsV2 pages', async () => {
    const store = new S3Store({ bucket: 'conf', path: 'many/', endpoint: `${emu.url}/s3`, credentials: CREDS, listPageSize: 10 });
    const keys = Array.from({ length: 25 }, (_, i) => `k/${String(i).padStart(5, '0')}&<é>`);
    await Promise.all(keys.map((k) => store.write(k, new Uint8Array([1]))));
    emu.resetCounters();
    expect(await listAll(store, 'k/')).toEqual(keys);
    expect(emu.counters().requests.byKind['s3-list']).toBe(3);
  });
});

describe('s3: faults', () => {
  it('200 reads under 503:0.2,reset:0.05 return exact bytes', async () => {
    const store = new S3Store({ bucket: 'conf', path: 'faults/', endpoint: `${emu.url}/s3`, credentials: CREDS, retries: FAST });
    const objects = Array.from({ length: 10 }, (_, i) => pseudoRandomBytes(5000 + i, i + 100));
    for (const [i, v] of objects.entries()) await store.write(`o${i}`, v);
    emu.resetCounters();
    const before = store.stats.retries;
    emu.setFaults('503:0.2,reset:0.05');
    try {
      for (let i = 0; i < 200; i++) {
        const v = objects[i % 10]!;
        const r = await store.read(`o${i % 10}`, i % 2 ? { byteRange: { suffix: 100 } } : {});
        expect(r.state === 'value' && Buffer.compare(r.value, i % 2 ? v.subarray(v.length - 100) : v)).toBe(0);
      }
    } finally {
      emu.setFaults(undefined);
    }
    const c = emu.counters();
    console.log(`s3 faults: ${JSON.stringify(c.faults)}; retries ${store.stats.retries - before}`);
    expect(store.stats.retries - before).toBe((c.faults['503'] ?? 0) + (c.faults['reset'] ?? 0));
  });

  it('403 fails fast, or reads as missing with treat403AsMissing', async () => {
    const strict = new S3Store({ bucket: 'conf', endpoint: `${emu.url}/s3`, credentials: CREDS, retries: FAST });
    const lenient = new S3Store({ bucket: 'conf', endpoint: `${emu.url}/s3`, credentials: CREDS, treat403AsMissing: true });
    emu.setFaults('403:1');
    try {
      emu.resetCounters();
      const e = (await strict.read('secret/key').catch((x: unknown) => x)) as KvStoreError;
      expect(e).toBeInstanceOf(KvStoreError);
      expect(e.status).toBe(403);
      expect(e.message).toContain('"secret/key"');
      expect(e.message).not.toContain(CREDS.secretAccessKey);
      expect(emu.counters().requests.total).toBe(1);
      expect(await lenient.read('secret/key')).toEqual({ state: 'missing', generation: '' });
    } finally {
      emu.setFaults(undefined);
    }
  });
});
