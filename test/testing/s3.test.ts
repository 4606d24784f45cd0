// The S3 subset: @aws-sdk/client-s3 v3 against the path-style prefix `${emu.url}/s3`, and raw
// fetch for virtual-host addressing and the wire details.
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/testing/index.js';

let emu: Emulator;
let s3: S3Client;
beforeEach(async () => {
  emu = await startEmulator({ buckets: ['pre-made'] });
  s3 = new S3Client({
    endpoint: `${emu.url}/s3`,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
});
afterEach(async () => {
  s3.destroy();
  await emu.stop();
});

async function s3Status(p: Promise<unknown>): Promise<{ status?: number; name?: string }> {
  try {
    await p;
    return {};
  } catch (e) {
    if (e instanceof S3ServiceException) return { status: e.$metadata.httpStatusCode, name: e.name };
    throw e;
  }
}

describe('@aws-sdk/client-s3 against the emulator', () => {
  it('puts, gets (whole and ranged), heads, lists and deletes', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'vol' }));
    const body = Buffer.from('0123456789abcdefghij');
    const put = await s3.send(new PutObjectCommand({ Bucket: 'vol', Key: 'dir/a b+c.bin', Body: body, Metadata: { k: 'v' } }));
    expect(put.ETag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);

    const got = await s3.send(new GetObjectCommand({ Bucket: 'vol', Key: 'dir/a b+c.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).toString()).toBe(body.toString());
    expect(got.Metadata).toEqual({ k: 'v' });

    const ranged = await s3.send(new GetObjectCommand({ Bucket: 'vol', Key: 'dir/a b+c.bin', Range: 'bytes=5-9' }));
    expect(ranged.ContentRange).toBe('bytes 5-9/20');
    expect(ranged.$metadata.httpStatusCode).toBe(206);
    expect(await ranged.Body!.transformToString()).toBe('56789');

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'vol', Key: 'dir/a b+c.bin' }));
    expect(head.ContentLength).toBe(20);
    expect(head.ETag).toBe(put.ETag);

    for (const k of ['dir/sub/x', 'dir/sub/y', 'other']) await s3.send(new PutObjectCommand({ Bucket: 'vol', Key: k, Body: k }));
    const l1 = await s3.send(new ListObjectsV2Command({ Bucket: 'vol', Prefix: 'dir/', Delimiter: '/' }));
    expect(l1.Contents?.map((c) => c.Key)).toEqual(['dir/a b+c.bin']);
    expect(l1.CommonPrefixes?.map((c) => c.Prefix)).toEqual(['dir/sub/']);
    expect(l1.KeyCount).toBe(2);

    const keys: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'vol', MaxKeys: 2, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((c) => c.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      pages++;
    } while (token);
    expect(pages).toBe(2);
    expect(keys).toEqual(['dir/a b+c.bin', 'dir/sub/x', 'dir/sub/y', 'other']);

    await s3.send(new DeleteObjectCommand({ Bucket: 'vol', Key: 'other' }));
    expect(await s3Status(s3.send(new GetObjectCommand({ Bucket: 'vol', Key: 'other' })))).toEqual({
      status: 404,
      name: 'NoSuchKey',
    });
    expect((await s3Status(s3.send(new HeadObjectCommand({ Bucket: 'vol', Key: 'other' })))).status).toBe(404);
    // Deleting a missing key is a success in S3.
    await s3.send(new DeleteObjectCommand({ Bucket: 'vol', Key: 'other' }));

    const c = emu.counters();
    expect(c.requests.byKind['s3-put']).toBe(4);
    expect(c.requests.byKind['s3-list']).toBe(3);
    expect(c.requests.authorized).toBe(c.requests.total); // every SDK request is SigV4-signed
  });

  it('conditional writes and reads: If-None-Match * and If-Match', async () => {
    const first = await s3.send(new PutObjectCommand({ Bucket: 'pre-made', Key: 'k', Body: 'one', IfNoneMatch: '*' }));
    expect(await s3Status(s3.send(new PutObjectCommand({ Bucket: 'pre-made', Key: 'k', Body: 'two', IfNoneMatch: '*' })))).toEqual({
      status: 412,
      name: 'PreconditionFailed',
    });
    expect(
      (await s3Status(s3.send(new PutObjectCommand({ Bucket: 'pre-made', Key: 'k', Body: 'two', IfMatch: '"0000"' })))).status,
    ).toBe(412);
    await s3.send(new PutObjectCommand({ Bucket: 'pre-made', Key: 'k', Body: 'two', IfMatch: first.ETag }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'pre-made', Key: 'k' }));
    expect(await got.Body!.transformToString()).toBe('two');
    expect((await s3Status(s3.send(new GetObjectCommand({ Bucket: 'pre-made', Key: 'k', IfMatch: first.ETag })))).status).toBe(412);
    expect((await s3Status(s3.send(new GetObjectCommand({ Bucket: 'pre-made', Key: 'k', IfNoneMatch: got.ETag })))).status).toBe(
      304,
    );
  });

  it('accepts a streamed body (aws-chunked with a checksum trailer)', async () => {
    const { Readable } = await import('node:stream');
    const data = Buffer.alloc(100_000, 7);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'pre-made',
        Key: 'stream',
        Body: Readable.from([data.subarray(0, 40_000), data.subarray(40_000)]),
        ContentLength: data.length,
      }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'pre-made', Key: 'stream' }));
    expect(head.ContentLength).toBe(100_000);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'pre-made', Key: 'stream' }));
    expect(Buffer.compare(Buffer.from(await got.Body!.transformToByteArray()), data)).toBe(0);
  });
});

describe('S3 wire details (raw HTTP)', () => {
  it('answers XML errors, 416, and shares objects with the GCS API', async () => {
    const put = await fetch(`${emu.url}/s3/pre-made/x/y.txt`, { method: 'PUT', body: 'hello' });
    expect(put.status).toBe(200);
    // Same object through the GCS JSON API.
    const media = await fetch(`${emu.url}/storage/v1/b/pre-made/o/${encodeURIComponent('x/y.txt')}?alt=media`);
    expect(await media.text()).toBe('hello');

    const missing = await fetch(`${emu.url}/s3/pre-made/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/xml');
    expect(await missing.text()).toMatch(/<Code>NoSuchKey<\/Code>/);

    const noBucket = await fetch(`${emu.url}/s3/absent/k`);
    expect(await noBucket.text()).toMatch(/<Code>NoSuchBucket<\/Code>/);

    const r416 = await fetch(`${emu.url}/s3/pre-made/x/y.txt`, { headers: { Range: 'bytes=5-' } });
    expect(r416.status).toBe(416);
    expect(await r416.text()).toMatch(/InvalidRange/);
    const suffix = await fetch(`${emu.url}/s3/pre-made/x/y.txt`, { headers: { Range: 'bytes=-3' } });
    expect(suffix.status).toBe(206);
    expect(suffix.headers.get('content-range')).toBe('bytes 2-4/5');
    expect(await suffix.text()).toBe('llo');

    const list = await (await fetch(`${emu.url}/s3/pre-made?list-type=2&prefix=x/`)).text();
    expect(list).toMatch(/<Key>x\/y.txt<\/Key>/);
    expect(list).toMatch(/<KeyCount>1<\/KeyCount>/);
    expect(emu.counters().requests.anonymous).toBe(emu.counters().requests.total);
  });

  it('supports virtual-host addressing via Host: BUCKET.s3.localhost', async () => {
    const call = (method: string, path: string, body?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: emu.port, method, path, headers: { Host: `pre-made.s3.localhost:${emu.port}` } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode!, body: text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    expect((await call('PUT', '/vh/key', 'virtual')).status).toBe(200);
    expect(await call('GET', '/vh/key')).toEqual({ status: 200, body: 'virtual' });
    expect((await call('GET', '/?list-type=2')).body).toMatch(/<Key>vh\/key<\/Key>/);
    expect((await call('DELETE', '/vh/key')).status).toBe(204);
  });
});
