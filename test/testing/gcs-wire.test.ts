// The GCS JSON API on the wire (raw fetch): headers, ranges, preconditions, errors, the resumable
// protocol, list parameters, checksums, CORS and persistence.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c, crc32cBase64 } from '../../src/testing/crc32c.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await startEmulator({ buckets: ['bkt'] });
});
afterEach(async () => {
  await emu.stop();
});

const obj = (name: string) => `${emu.url}/storage/v1/b/bkt/o/${encodeURIComponent(name)}`;
async function upload(name: string, body: string, query = ''): Promise<Response> {
  return fetch(`${emu.url}/upload/storage/v1/b/bkt/o?uploadType=media&name=${encodeURIComponent(name)}${query}`, {
    method: 'POST',
    body,
    headers: { 'Content-Type': 'text/plain' },
  });
}

describe('crc32c', () => {
  it('matches the golden vector', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32cBase64(Buffer.from('123456789'))).toBe(Buffer.from([0xe3, 0x06, 0x92, 0x83]).toString('base64'));
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('agrees with a bitwise reference at every length and alignment', () => {
    const ref = (d: Uint8Array) => {
      let c = 0xffffffff;
      for (const byte of d) {
        c ^= byte;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      }
      return ~c >>> 0;
    };
    const buf = Uint8Array.from({ length: 64 }, (_, i) => (i * 151 + 13) & 0xff);
    for (let off = 0; off < 8; off++) for (let len = 0; len + off <= 64; len++) {
      const d = buf.subarray(off, off + len);
      expect(crc32c(d)).toBe(ref(d));
    }
  });
});

describe('GCS JSON API on the wire', () => {
  it('uploads and serves media with the GCS headers', async () => {
    const res = await upload('a/x.txt', 'hello world');
    expect(res.status).toBe(200);
    const r = (await res.json()) as Record<string, string>;
    expect(r).toMatchObject({ kind: 'storage#object', name: 'a/x.txt', bucket: 'bkt', size: '11', metageneration: '1' });
    expect(r.md5Hash).toBe(createHash('md5').update('hello world').digest('base64'));
    expect(r.crc32c).toBe(crc32cBase64(Buffer.from('hello world')));
    expect(r.generation).toMatch(/^\d+$/);
    expect(r.id).toBe(`bkt/a/x.txt/${r.generation}`);

    const m = await fetch(`${obj('a/x.txt')}?alt=media&cachebust=${Math.random()}`);
    expect(m.status).toBe(200);
    expect(await m.text()).toBe('hello world');
    expect(m.headers.get('x-goog-generation')).toBe(r.generation);
    expect(m.headers.get('x-goog-metageneration')).toBe('1');
    expect(m.headers.get('x-goog-hash')).toBe(`crc32c=${r.crc32c},md5=${r.md5Hash}`);
    expect(m.headers.get('x-goog-stored-content-length')).toBe('11');
    expect(m.headers.get('x-goog-stored-content-encoding')).toBe('identity');
    expect(m.headers.get('accept-ranges')).toBe('bytes');
    expect(m.headers.get('etag')).toBeTruthy();
    expect(m.headers.get('content-type')).toBe('text/plain');

    // Emulator-host form (/b/...) and the mediaLink form (/download/storage/v1/...).
    expect(await (await fetch(`${emu.url}/b/bkt/o/${encodeURIComponent('a/x.txt')}?alt=media`)).text()).toBe('hello world');
    const meta = (await (await fetch(`${emu.url}/b/bkt/o/${encodeURIComponent('a/x.txt')}`)).json()) as { mediaLink: string };
    expect(await (await fetch(meta.mediaLink)).text()).toBe('hello world');

    // Generations increase.
    const r2 = (await (await upload('a/x.txt', 'v2')).json()) as { generation: string };
    expect(BigInt(r2.generation)).toBeGreaterThan(BigInt(r.generation!));
  });

  it('serves ranges: 206, suffix, clamped end, 416 only past EOF, malformed ignored', async () => {
    await upload('r', '0123456789');
    const get = (range: string) => fetch(`${obj('r')}?alt=media`, { headers: { Range: range } });
    let res = await get('bytes=2-4');
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 2-4/10');
    expect(await res.text()).toBe('234');
    res = await get('bytes=7-');
    expect(await res.text()).toBe('789');
    res = await get('bytes=-3');
    expect(res.headers.get('content-range')).toBe('bytes 7-9/10');
    expect(await res.text()).toBe('789');
    res = await get('bytes=-30');
    expect(await res.text()).toBe('0123456789');
    res = await get('bytes=8-100');
    expect(res.headers.get('content-range')).toBe('bytes 8-9/10');
    expect(await res.text()).toBe('89');
    res = await get('bytes=10-20');
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */10');
    await res.arrayBuffer();
    for (const bad of ['bytes=5-2', 'bytes=abc', 'items=1-2', 'bytes=1-2,4-5']) {
      res = await get(bad);
      expect(res.status, bad).toBe(200);
      expect(await res.text()).toBe('0123456789');
    }
  });

  it('evaluates preconditions on reads and writes', async () => {
    const r = (await (await upload('p', 'one')).json()) as { generation: string };
    const g = r.generation;
    const media = (q: string) => fetch(`${obj('p')}?alt=media&${q}`);
    expect((await media(`ifGenerationMatch=${g}`)).status).toBe(200);
    const fail = await media('ifGenerationMatch=1');
    expect(fail.status).toBe(412);
    expect(await fail.json()).toMatchObject({ error: { code: 412, errors: [{ domain: 'global', reason: 'conditionNotMet' }] } });
    const nm = await media(`ifGenerationNotMatch=${g}`);
    expect(nm.status).toBe(304);
    expect(await nm.text()).toBe('');
    expect((await media('ifMetagenerationMatch=1')).status).toBe(200);
    expect((await media('ifMetagenerationNotMatch=1')).status).toBe(304);
    expect((await fetch(`${obj('p')}?ifMetagenerationMatch=2`)).status).toBe(412);
    expect((await fetch(`${obj('missing')}?alt=media&ifGenerationMatch=5`)).status).toBe(412);
    expect((await media('ifGenerationMatch=abc')).status).toBe(400);

    expect((await upload('p', 'two', '&ifGenerationMatch=0')).status).toBe(412);
    expect((await upload('p', 'two', `&ifGenerationNotMatch=${g}`)).status).toBe(412);
    expect((await upload('new', 'x', '&ifGenerationMatch=0')).status).toBe(200);
    const w = await upload('p', 'two', `&ifGenerationMatch=${g}`);
    expect(w.status).toBe(200);
    const g2 = ((await w.json()) as { generation: string }).generation;

    expect((await fetch(`${obj('p')}?ifGenerationMatch=${g}`, { method: 'DELETE' })).status).toBe(412);
    const del = await fetch(`${obj('p')}?ifGenerationMatch=${g2}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    const del2 = await fetch(obj('p'), { method: 'DELETE' });
    expect(del2.status).toBe(404);
    expect(await del2.json()).toMatchObject({ error: { code: 404, errors: [{ reason: 'notFound' }] } });
  });

  it('answers GCS-shaped errors; a 404 on alt=media is plain text', async () => {
    const media = await fetch(`${obj('nope')}?alt=media`);
    expect(media.status).toBe(404);
    expect(media.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await media.text()).toBe('No such object: bkt/nope');
    const meta = await fetch(obj('nope'));
    expect(meta.status).toBe(404);
    expect(await meta.json()).toMatchObject({ error: { code: 404, message: 'No such object: bkt/nope', errors: [{ reason: 'notFound' }] } });
    const noBucket = await fetch(`${emu.url}/storage/v1/b/zz-missing/o`);
    expect(noBucket.status).toBe(404);
    const badHash = await fetch(`${emu.url}/upload/storage/v1/b/bkt/o?uploadType=media&name=h`, {
      method: 'POST',
      body: 'data',
      headers: { 'x-goog-hash': `crc32c=${crc32cBase64(Buffer.from('other'))}` },
    });
    expect(badHash.status).toBe(400);
    expect(await badHash.json()).toMatchObject({ error: { errors: [{ reason: 'invalid' }] } });
    const bucket = await fetch(`${emu.url}/storage/v1/b?project=p`, { method: 'POST', body: JSON.stringify({ name: 'bkt' }) });
    expect(bucket.status).toBe(409);
    expect(await bucket.json()).toMatchObject({ error: { errors: [{ reason: 'conflict' }] } });
  });

  it('accepts a multipart upload streamed without Content-Length', async () => {
    const boundary = 'XyZ';
    const parts = [
      `--${boundary}\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ name: 'mp', metadata: { a: 'b' } })}\r\n`,
      `--${boundary}\r\nContent-Type: application/octet-stream\r\n\r\n`,
      'binary\r\n--payload',
      `\r\n--${boundary}--`,
    ];
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (const p of parts) c.enqueue(new TextEncoder().encode(p));
        c.close();
      },
    });
    const res = await fetch(`${emu.url}/upload/storage/v1/b/bkt/o?uploadType=multipart`, {
      method: 'POST',
      body: stream,
      headers: { 'Content-Type': `multipart/related; boundary=${boundary}` },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(200);
    const r = (await res.json()) as { size: string; metadata: Record<string, string>; contentType: string };
    expect(r).toMatchObject({ size: '17', metadata: { a: 'b' }, contentType: 'application/octet-stream' });
    expect(await (await fetch(`${obj('mp')}?alt=media`)).text()).toBe('binary\r\n--payload');
  });

  it('speaks the resumable protocol: 308 + Range, status queries, every Content-Range form, cancel', async () => {
    const start = await fetch(`${emu.url}/upload/storage/v1/b/bkt/o?uploadType=resumable&name=res`, {
      method: 'POST',
      body: JSON.stringify({ contentType: 'application/x-test' }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(start.status).toBe(200);
    const session = start.headers.get('location')!;
    expect(session).toMatch(/upload_id=/);
    const put = (range: string | undefined, body?: string) =>
      fetch(session, { method: 'PUT', body: body ?? '', headers: range ? { 'Content-Range': range } : {} });

    let res = await put('bytes */*');
    expect(res.status).toBe(308);
    expect(res.headers.get('range')).toBeNull(); // nothing received yet
    res = await put('bytes 0-3/*', 'abcd');
    expect(res.status).toBe(308);
    expect(res.headers.get('range')).toBe('bytes=0-3');
    res = await put('bytes 2-5/*', 'cdef'); // overlaps the persisted bytes: only 'ef' is new
    expect(res.headers.get('range')).toBe('bytes=0-5');
    res = await put('bytes 9-9/*', 'x'); // a gap
    expect(res.status).toBe(400);
    res = await put('bytes */10');
    expect(res.status).toBe(308);
    expect(res.headers.get('range')).toBe('bytes=0-5');
    res = await put('bytes 6-9/10', 'ghij');
    expect(res.status).toBe(200);
    const r = (await res.json()) as { size: string; contentType: string };
    expect(r).toMatchObject({ size: '10', contentType: 'application/x-test' });
    res = await put('bytes */10'); // finished sessions keep answering with the resource
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(await (await fetch(`${obj('res')}?alt=media`)).text()).toBe('abcdefghij');

    // Single shot of unknown size: bytes 0-*/*.
    const s2 = (
      await fetch(`${emu.url}/upload/storage/v1/b/bkt/o?uploadType=resumable&name=one`, { method: 'POST' })
    ).headers.get('location')!;
    res = await fetch(s2, { method: 'PUT', body: 'whole', headers: { 'Content-Range': 'bytes 0-*/*' } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { size: string }).size).toBe('5');

    // Known total up front, committed by a status query after the last byte.
    const s3 = (
      await fetch(`${emu.url}/upload/storage/v1/b/bkt/o?uploadType=resumable&name=two`, { method: 'POST' })
    ).headers.get('location')!;
    res = await fetch(s3, { method: 'PUT', body: 'ab', headers: { 'Content-Range': 'bytes 0-1/2' } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();

    // Cancel.
    const s4 = (
      await fetch(`${emu.url}/upload/storage/v1/b/bkt/o?uploadType=resumable&name=gone`, { method: 'POST' })
    ).headers.get('location')!;
    expect((await fetch(s4, { method: 'DELETE' })).status).toBe(499);
    expect((await fetch(s4, { method: 'PUT', body: 'x', headers: { 'Content-Range': 'bytes 0-0/1' } })).status).toBe(404);
    expect((await fetch(`${obj('gone')}`)).status).toBe(404);
  });

  it('lists with startOffset/endOffset, string int64s, and omits empty fields', async () => {
    for (const n of ['a', 'b', 'c', 'd']) await upload(n, n);
    const list = async (q: string) =>
      (await (await fetch(`${emu.url}/storage/v1/b/bkt/o?${q}`)).json()) as {
        items?: { name: string; size: string }[];
        prefixes?: string[];
        nextPageToken?: string;
      };
    const r = await list('startOffset=b&endOffset=d&unknownParam=1');
    expect(r.items!.map((i) => i.name)).toEqual(['b', 'c']);
    expect(r.items![0]!.size).toBe('1');
    expect(r.prefixes).toBeUndefined();
    expect(r.nextPageToken).toBeUndefined();
    const empty = await list('prefix=zzz');
    expect(empty).toEqual({ kind: 'storage#objects' });
    const p1 = await list('maxResults=3');
    expect(p1.items!.map((i) => i.name)).toEqual(['a', 'b', 'c']);
    const p2 = await list(`maxResults=3&pageToken=${p1.nextPageToken}`);
    expect(p2.items!.map((i) => i.name)).toEqual(['d']);
    expect(p2.nextPageToken).toBeUndefined();
  });

  it('manages buckets', async () => {
    const c = await fetch(`${emu.url}/storage/v1/b?project=p`, { method: 'POST', body: JSON.stringify({ name: 'new-bucket' }) });
    expect(c.status).toBe(200);
    expect(await c.json()).toMatchObject({ kind: 'storage#bucket', name: 'new-bucket' });
    expect((await fetch(`${emu.url}/storage/v1/b/new-bucket`)).status).toBe(200);
    const l = (await (await fetch(`${emu.url}/storage/v1/b?project=p`)).json()) as { items: { name: string }[] };
    expect(l.items.map((b) => b.name)).toEqual(['bkt', 'new-bucket']);
    expect((await fetch(`${emu.url}/storage/v1/b?project=p`, { method: 'POST', body: JSON.stringify({ name: 'X!' }) })).status).toBe(400);
    expect(emu.counters().requests.byKind.bucket).toBe(4);
  });

  it('answers CORS preflights and exposes the GCS headers', async () => {
    const res = await fetch(`${obj('anything')}?alt=media`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const methods = res.headers.get('access-control-allow-methods')!;
    for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS']) expect(methods).toContain(m);
    const allow = res.headers.get('access-control-allow-headers')!.toLowerCase();
    for (const h of ['range', 'content-type', 'content-range', 'authorization', 'x-upload-content-type', 'x-upload-content-length', 'x-goog-*'])
      expect(allow).toContain(h);
    await upload('c', 'x');
    const get = await fetch(`${obj('c')}?alt=media`, { headers: { Origin: 'http://example.test' } });
    expect(get.headers.get('access-control-allow-origin')).toBe('*');
    const expose = get.headers.get('access-control-expose-headers')!.toLowerCase();
    for (const h of ['content-range', 'content-length', 'etag', 'location', 'range', 'x-goog-generation', 'x-goog-metageneration', 'x-goog-hash'])
      expect(expose).toContain(h);
    expect(emu.counters().requests.byKind.options).toBe(1);
  });
});

describe('persistence with dir', () => {
  it('a restarted emulator sees the objects, generations and buckets', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'volstore-emu-'));
    try {
      const a = await startEmulator({ dir, buckets: ['keep'] });
      const res = await fetch(`${a.url}/upload/storage/v1/b/keep/o?uploadType=media&name=${encodeURIComponent('deep/ä name')}`, {
        method: 'POST',
        body: 'persisted',
      });
      const gen = ((await res.json()) as { generation: string }).generation;
      await fetch(`${a.url}/upload/storage/v1/b/keep/o?uploadType=media&name=tmp`, { method: 'POST', body: 'x' });
      await fetch(`${a.url}/storage/v1/b/keep/o/tmp`, { method: 'DELETE' });
      await a.stop();

      const b = await startEmulator({ dir });
      try {
        const m = await fetch(`${b.url}/storage/v1/b/keep/o/${encodeURIComponent('deep/ä name')}?alt=media`);
        expect(await m.text()).toBe('persisted');
        expect(m.headers.get('x-goog-generation')).toBe(gen);
        expect((await fetch(`${b.url}/storage/v1/b/keep/o/tmp`)).status).toBe(404);
        const again = await fetch(`${b.url}/upload/storage/v1/b/keep/o?uploadType=media&name=x`, { method: 'POST', body: 'y' });
        expect(BigInt(((await again.json()) as { generation: string }).generation)).toBeGreaterThan(BigInt(gen));
      } finally {
        await b.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
