/**
 * The emulator never touches the disk outside `dir`: bucket names are validated as GCS does
 * (a name can never be a path), on every front end and at start, and every path it builds is
 * checked to stay inside `dir`. The reported defects: `--bucket ..` then an unauthenticated
 * `DELETE /storage/v1/b/%2e%2e` removed the parent of `--dir`; `--bucket ../../x` wrote outside it.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/testing/index.js';
import { parseCommandArgs, UsageError } from '../../src/cli/args.js';
import { SERVE, serveOptions } from '../../src/cli/serve.js';
import { isValidBucketName } from '../../src/testing/storage.js';

let sandbox: string;
let dir: string;
let emu: Emulator | undefined;

/** Everything under the sandbox, relative, sorted (to prove nothing appeared or vanished). */
async function tree(): Promise<string[]> {
  return (await readdir(sandbox, { recursive: true })).map(String).sort();
}

/** A raw request (fetch normalises `..` path segments; real clients and attackers need not). */
function raw(method: string, url: string, body?: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, method, path: url.slice(u.origin.length), headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeEach(async () => {
  sandbox = await mkdtemp(path.join(tmpdir(), 'volstore-confine-'));
  dir = path.join(sandbox, 'a', 'b', 'dir');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(sandbox, 'a', 'b', 'sentinel'), 'parent of --dir');
  await writeFile(path.join(sandbox, 'a', 'sentinel'), 'grandparent');
});

afterEach(async () => {
  await emu?.stop();
  emu = undefined;
  await rm(sandbox, { recursive: true, force: true });
});

describe('bucket names', () => {
  it('follow the GCS rules', () => {
    for (const ok of ['abc', 'my-bucket_1', 'a.b.c', 'x'.repeat(63), `${'a'.repeat(63)}.${'b'.repeat(63)}.ccc`, '0ab']) {
      expect(isValidBucketName(ok), ok).toBe(true);
    }
    for (const bad of [
      '', 'b', 'ab', '..', '.', '...', '../x', '../../x', 'a/b', 'a\\b', 'a..b', '.abc', 'abc.', '-abc', 'abc_', 'ABC', 'a b',
      'x'.repeat(64), `${'a'.repeat(64)}.bb`, 'a'.repeat(223), '192.168.1.1', 'goog-bucket', 'abc%2e', 'ab\0c', '%2e%2e',
    ]) {
      expect(isValidBucketName(bad), JSON.stringify(bad)).toBe(false);
    }
    expect(isValidBucketName(7)).toBe(false);
  });

  it('an invalid --bucket is a usage error of volstore serve and a TypeError of startEmulator; nothing is created', async () => {
    for (const b of ['..', '../../x', '/abs', 'ab']) {
      expect(() => serveOptions(parseCommandArgs(SERVE, ['--dir', dir, '--bucket', b]).values)).toThrow(UsageError);
      expect(() => serveOptions(parseCommandArgs(SERVE, ['--dir', dir, '--bucket', b]).values)).toThrow(/not a valid bucket name/);
      await expect(startEmulator({ dir, buckets: [b] })).rejects.toBeInstanceOf(TypeError);
    }
    expect(await tree()).toEqual(['a', 'a/b', 'a/b/dir', 'a/b/sentinel', 'a/sentinel']);
  });
});

describe('the emulator with --dir touches nothing outside it', () => {
  it('DELETE and PUT of "..", "%2e%2e" and path-like buckets on GCS and S3 change nothing outside --dir', async () => {
    emu = await startEmulator({ dir, buckets: ['vol'] });
    const before = await tree();
    const u = emu.url;
    const attempts: [string, string, string?][] = [
      ['DELETE', `${u}/storage/v1/b/%2e%2e`],
      ['DELETE', `${u}/storage/v1/b/..`],
      ['DELETE', `${u}/b/%2e%2e`],
      ['DELETE', `${u}/storage/v1/b/%2e%2e%2f%2e%2e`],
      ['DELETE', `${u}/storage/v1/b/vol%2f..%2f..`],
      ['POST', `${u}/storage/v1/b?project=p`, JSON.stringify({ name: '..' })],
      ['POST', `${u}/storage/v1/b?project=p`, JSON.stringify({ name: '../../x' })],
      ['POST', `${u}/upload/storage/v1/b/%2e%2e/o?uploadType=media&name=evil`, 'evil'],
      ['PUT', `${u}/s3/%2e%2e`],
      ['PUT', `${u}/s3/..`],
      ['DELETE', `${u}/s3/%2e%2e`],
      ['DELETE', `${u}/s3/..`],
      ['PUT', `${u}/s3/%2e%2e/evil`, 'evil'],
      ['PUT', `${u}/s3/vol/..%2f..%2f..%2fevil`, 'evil'],
      ['POST', `${u}/upload/storage/v1/b/vol/o?uploadType=media&name=${encodeURIComponent('../../../evil')}`, 'evil'],
    ];
    for (const [method, url, body] of attempts) {
      const status = await raw(method, url, body);
      // object writes into the real bucket succeed (the name is hashed on disk); nothing else does
      if (!url.includes('/vol/')) expect(status, `${method} ${url}`).toBeGreaterThanOrEqual(400);
    }
    // S3 virtual-host style with a hostile bucket
    expect(await raw('DELETE', `${u}/`, undefined, { Host: `..s3.localhost:${emu.port}` })).toBeGreaterThanOrEqual(400);
    await emu.stop();
    emu = undefined;
    const after = await tree();
    const outside = (t: string[]) => t.filter((p) => !p.startsWith('a/b/dir/'));
    expect(outside(after)).toEqual(outside(before));
    expect(after.filter((p) => p.startsWith('a/b/dir/') && !p.startsWith('a/b/dir/vol'))).toEqual([]);
  });

  it('the reported sequence: serve --bucket .. then DELETE /storage/v1/b/%2e%2e leaves the parent of --dir alone', async () => {
    const before = await tree();
    try {
      emu = await startEmulator({ dir, buckets: ['vol', '..'] });
    } catch (e) {
      expect(e).toBeInstanceOf(TypeError); // refused at start: nothing to delete
    }
    if (emu) {
      await raw('DELETE', `${emu.url}/storage/v1/b/%2e%2e`);
      await emu.stop();
      emu = undefined;
    }
    expect(await tree()).toEqual(before);
  });

  it('a hostile directory under --dir (bucket.json naming another path) is not loaded as a bucket', async () => {
    await mkdir(path.join(dir, 'evil', 'o'), { recursive: true });
    await writeFile(path.join(dir, 'evil', 'bucket.json'), JSON.stringify({ name: '../..', timeCreated: 'x' }));
    await mkdir(path.join(dir, '..x'), { recursive: true });
    await writeFile(path.join(dir, '..x', 'bucket.json'), JSON.stringify({ name: '..x', timeCreated: 'x' }));
    emu = await startEmulator({ dir });
    const list = (await (await fetch(`${emu.url}/storage/v1/b?project=p`)).json()) as { items?: { name: string }[] };
    expect(list.items ?? []).toEqual([]);
    expect(await raw('DELETE', `${emu.url}/storage/v1/b/%2e%2e%2f%2e%2e`)).toBeGreaterThanOrEqual(400);
    await emu.stop();
    emu = undefined;
    expect(await tree()).toContain('a/sentinel');
    expect(await tree()).toContain('a/b/sentinel');
  });
});
