/**
 * The README's emulator recipe works as written: the shell block between the
 * `<!-- emulator-recipe -->` markers runs in bash, with `./bin/volstore` run from the sources
 * (never a stale dist/) and the port moved to a free one. It creates the bucket, writes a
 * volume, describes it and reads it back.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeNpy } from '../../src/array/npy.js';
import { open } from '../../src/index.js';
import { fixture } from '../fixture-path.js';
import { ENTRY, TSX } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-recipe-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

it('the README emulator recipe writes a volume to the emulator and reads it back', async () => {
  const readme = await readFile('README.md', 'utf8');
  const m = /<!-- emulator-recipe -->\s*```sh\n([\s\S]*?)```\s*<!-- \/emulator-recipe -->/.exec(readme);
  expect(m, 'README has the marked recipe').not.toBeNull();
  const port = await freePort();
  const script = m![1]!
    .replaceAll('./bin/volstore', `"${process.execPath}" --import ${TSX} "${ENTRY}"`)
    .replaceAll('4443', String(port));
  // The recipe runs from a clone's root: give it the fixtures there.
  await mkdir(path.join(dir, 'test'), { recursive: true });
  await symlink(fixture(), path.join(dir, 'test', 'fixtures'));
  // Whatever happens, the background server stops with the shell.
  const full = `set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n${script}`;
  const r = await new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile('bash', ['-c', full], { cwd: dir, timeout: 120_000 }, (e, out, err) => resolve({ code: e ? Number(e.code ?? 1) : 0, out, err }));
  });
  expect(r.code, `${r.out}\n${r.err}`).toBe(0);
  expect(await readFile(path.join(dir, 'serve.log'), 'utf8')).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+\n.*\n.*\n  buckets: demo/);
  expect(r.out).toMatch(/^array\s+zarr3 at gs:\/\/demo\/em\//m);
  const crop = decodeNpy(new Uint8Array(await readFile(path.join(dir, 'crop.npy'))));
  const want = await (await open(`file://${fixture()}/zarr-python/v3.zarr/3d.chunked.compressed.sharded.i2/`)).read();
  expect(crop.shape).toEqual(want.shape);
  expect(crop.toFlat()).toEqual(want.toFlat());
});
