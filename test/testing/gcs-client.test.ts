// Fidelity of the emulator against Google's own client, @google-cloud/storage 7.x, with checksum
// validation left on (the default).
import { Storage } from '@google-cloud/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/testing/index.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await startEmulator();
});
afterEach(async () => {
  await emu.stop();
});

/** The HTTP status of a client error (ApiError has `code`, a GaxiosError from resumable `status`). */
async function statusOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: unknown; status?: unknown; response?: { status?: number } };
    const s = typeof err.code === 'number' ? err.code : typeof err.status === 'number' ? err.status : err.response?.status;
    return s;
  }
  return undefined;
}

const payload = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff));

describe('@google-cloud/storage against the emulator (apiEndpoint)', () => {
  it('creates buckets, uploads resumable and multipart, downloads whole and ranged', async () => {
    const storage = new Storage({ apiEndpoint: emu.url, projectId: 'p' });
    const [bucket] = await storage.createBucket('vol-bucket');
    const [buckets] = await storage.getBuckets();
    expect(buckets.map((b) => b.name)).toContain('vol-bucket');
    expect(await statusOf(storage.createBucket('vol-bucket'))).toBe(409);

    const data = payload(300_000);
    const resumable = bucket.file('dir/chunk 0.bin'); // space and slash in the name
    await resumable.save(data); // resumable by default
    const multipart = bucket.file('dir/meta.json');
    await multipart.save(JSON.stringify({ a: 1 }), { resumable: false, contentType: 'application/json' });

    const [whole] = await resumable.download();
    expect(Buffer.compare(whole, data)).toBe(0);
    const [part] = await resumable.download({ start: 1000, end: 1999 });
    expect(Buffer.compare(part, data.subarray(1000, 2000))).toBe(0);
    const [json] = await multipart.download();
    expect(JSON.parse(json.toString())).toEqual({ a: 1 });

    const [meta] = await resumable.getMetadata();
    expect(meta.size).toBe('300000');
    expect(meta.crc32c).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    expect(typeof meta.generation).toBe('string');
    const [m2] = await multipart.getMetadata();
    expect(m2.contentType).toBe('application/json');
    expect(BigInt(m2.generation!)).toBeGreaterThan(BigInt(meta.generation!));
    expect(emu.counters().requests.byKind.upload).toBeGreaterThanOrEqual(3);
  });

  it('createWriteStream (resumable and multipart) round-trips', async () => {
    const storage = new Storage({ apiEndpoint: emu.url, projectId: 'p' });
    const [bucket] = await storage.createBucket('streams');
    for (const resumable of [true, false]) {
      const file = bucket.file(`stream-${resumable}`);
      const data = payload(70_000 + (resumable ? 1 : 0));
      await new Promise<void>((resolve, reject) => {
        const ws = file.createWriteStream({ resumable });
        ws.on('error', reject).on('finish', resolve);
        ws.write(data.subarray(0, 30_000));
        ws.end(data.subarray(30_000));
      });
      const [back] = await file.download();
      expect(Buffer.compare(back, data)).toBe(0);
    }
  });

  it('multi-chunk resumable uploads (chunkSize) go through 308 + Range', async () => {
    const storage = new Storage({ apiEndpoint: emu.url, projectId: 'p' });
    const [bucket] = await storage.createBucket('chunked');
    const data = payload(256 * 1024 * 2 + 1234);
    const file = bucket.file('big');
    await file.save(data, { chunkSize: 256 * 1024 });
    const [back] = await file.download();
    expect(Buffer.compare(back, data)).toBe(0);
    expect(emu.counters().requests.byKind.upload).toBe(4); // start + 3 chunks
  });

  it('lists with prefix, delimiter and pagination', async () => {
    const storage = new Storage({ apiEndpoint: emu.url, projectId: 'p' });
    const [bucket] = await storage.createBucket('listing');
    const names = ['a/1', 'a/2', 'a/sub/3', 'a/sub/4', 'b/5', 'top'];
    for (const n of names) await bucket.file(n).save(n, { resumable: false });

    const [all] = await bucket.getFiles();
    expect(all.map((f) => f.name)).toEqual(names);

    const [, , raw] = await bucket.getFiles({ prefix: 'a/', delimiter: '/', autoPaginate: false });
    const r = raw as { items?: { name: string }[]; prefixes?: string[] };
    expect(r.items!.map((i) => i.name)).toEqual(['a/1', 'a/2']);
    expect(r.prefixes).toEqual(['a/sub/']);

    const [, , top] = await bucket.getFiles({ delimiter: '/', autoPaginate: false });
    expect((top as { prefixes?: string[] }).prefixes).toEqual(['a/', 'b/']);

    // Pages of two: names and prefixes together count toward maxResults.
    const seen: string[] = [];
    let query: { pageToken?: string } | null = {};
    let pages = 0;
    while (query) {
      const [files, next, resp] = await bucket.getFiles({ autoPaginate: false, maxResults: 2, delimiter: '/', ...query });
      seen.push(...files.map((f) => f.name), ...((resp as { prefixes?: string[] }).prefixes ?? []));
      query = next as { pageToken?: string } | null;
      pages++;
    }
    expect(pages).toBe(2);
    expect(seen.sort()).toEqual(['a/', 'b/', 'top']);

    const [paged] = await bucket.getFiles({ maxResults: 4, autoPaginate: false });
    expect(paged.map((f) => f.name)).toEqual(names.slice(0, 4));
  });

  it('deletes, and preconditions fail with 412', async () => {
    const storage = new Storage({ apiEndpoint: emu.url, projectId: 'p' });
    const [bucket] = await storage.createBucket('pre');
    const file = bucket.file('obj');
    await file.save('v1', { preconditionOpts: { ifGenerationMatch: 0 } });
    expect(await statusOf(file.save('v2', { preconditionOpts: { ifGenerationMatch: 0 } }))).toBe(412);
    expect(await statusOf(file.save('v2', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }))).toBe(412);
    expect(await statusOf(file.save('v2', { preconditionOpts: { ifGenerationMatch: 12345 } }))).toBe(412);
    const [meta] = await file.getMetadata();
    await file.save('v3', { resumable: false, preconditionOpts: { ifGenerationMatch: Number(meta.generation) } });
    expect((await file.download())[0].toString()).toBe('v3');

    await file.delete();
    expect((await file.exists())[0]).toBe(false);
    expect(await statusOf(file.download())).toBe(404);
    expect(await statusOf(file.delete())).toBe(404);
  });

  it('updates metadata with setMetadata (metageneration bumps)', async () => {
    const storage = new Storage({ apiEndpoint: emu.url, projectId: 'p' });
    const [bucket] = await storage.createBucket('patch');
    const file = bucket.file('m');
    await file.save('x', { resumable: false, metadata: { metadata: { k: 'v' } } });
    const [before] = await file.getMetadata();
    expect(before.metadata).toEqual({ k: 'v' });
    await file.setMetadata({ metadata: { k2: 'v2' } });
    const [after] = await file.getMetadata();
    expect(after.metadata).toEqual({ k: 'v', k2: 'v2' });
    expect(after.metageneration).toBe('2');
    expect(after.generation).toBe(before.generation);
  });
});

describe('@google-cloud/storage with STORAGE_EMULATOR_HOST (paths without /storage/v1)', () => {
  it('uploads, lists, downloads and deletes', async () => {
    const prev = process.env.STORAGE_EMULATOR_HOST;
    process.env.STORAGE_EMULATOR_HOST = emu.url;
    try {
      const storage = new Storage({ projectId: 'p' });
      const [bucket] = await storage.createBucket('envhost');
      const data = payload(5000);
      await bucket.file('k/1').save(data);
      await bucket.file('k/2').save(data, { resumable: false });
      const [files] = await bucket.getFiles({ prefix: 'k/' });
      expect(files.map((f) => f.name)).toEqual(['k/1', 'k/2']);
      const [part] = await bucket.file('k/2').download({ start: 10, end: 19 });
      expect(Buffer.compare(part, data.subarray(10, 20))).toBe(0);
      await bucket.file('k/1').delete();
      expect((await bucket.file('k/1').exists())[0]).toBe(false);
    } finally {
      if (prev === undefined) delete process.env.STORAGE_EMULATOR_HOST;
      else process.env.STORAGE_EMULATOR_HOST = prev;
    }
  });
});
