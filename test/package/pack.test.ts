/**
 * The package as a user gets it: `npm pack` (which builds dist/ fresh through `prepare`), then
 * `npm install` of the tarball into a separate app, then importing the three entries and
 * running the installed `volstore` binary. Nothing here runs this repository's sources.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from '../fixture-path.js';

const run = promisify(execFile);
const REPO = path.resolve('.');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let tmp: string;
let app: string;
let packed: { filename: string; files: { path: string }[] };

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'volstore-pack-'));
  const { stdout } = await run(npm, ['pack', '--json', '--pack-destination', tmp], { cwd: REPO, maxBuffer: 64 << 20 });
  packed = JSON.parse(stdout.slice(stdout.indexOf('[')))[0];
  app = path.join(tmp, 'app');
  await mkdir(app);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'volstore-consumer', private: true, type: 'module' }));
  await run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(tmp, packed.filename)], { cwd: app, maxBuffer: 64 << 20 });
}, 300_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('packed package installed into a separate app', () => {
  it('ships built JS, types, the binary, LICENSE, CHANGELOG and README; no tests', () => {
    const files = packed.files.map((f) => f.path);
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/testing/index.js', 'dist/cli/entry.js', 'dist/browser/volstore.js', 'dist/browser/codec-worker.js', 'dist/browser/manifest.json', 'bin/volstore', 'LICENSE', 'CHANGELOG.md', 'README.md', 'package.json']) {
      expect(files, f).toContain(f);
    }
    expect(files.some((f) => f.startsWith('test/'))).toBe(false);
  });

  it('installs without a TypeScript runtime (no tsx, no esbuild) and with top-level main/types', async () => {
    expect(existsSync(path.join(app, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules', 'esbuild'))).toBe(false);
    const pkg = JSON.parse(await readFile(path.join(app, 'node_modules', 'volstore', 'package.json'), 'utf8'));
    expect(existsSync(path.join(app, 'node_modules', 'volstore', pkg.main))).toBe(true);
    expect(existsSync(path.join(app, 'node_modules', 'volstore', pkg.types))).toBe(true);
  });

  it('imports the three entries and reads a zarr array through the main entry', async () => {
    const script = `
      import * as v from 'volstore';
      import * as n from 'volstore/node';
      import * as t from 'volstore/testing';
      const a = await v.open(${JSON.stringify(`file://${fixture()}/zarr-python/v2.zarr/3d.chunked.i2/`)});
      const emu = await t.startEmulator({ buckets: ['vol'] });
      await emu.stop();
      console.log(JSON.stringify({ open: typeof v.open, copy: typeof v.copyVolume, file: typeof n.FileStore, cli: 'cli' in n, serve: 'serveCommand' in t, values: (await a.read()).toFlat().slice(0, 4) }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app });
    expect(JSON.parse(stdout)).toEqual({ open: 'function', copy: 'function', file: 'function', cli: false, serve: false, values: [0, 1, 2, 3] });
  });

  it('type-checks a consumer through the top-level "types" (an older, node10 resolver)', async () => {
    const tsconfig = { compilerOptions: { noEmit: true, skipLibCheck: true, module: 'esnext', moduleResolution: 'node', target: 'es2022', lib: ['es2022', 'dom'], types: [] }, files: ['use.ts'] };
    await writeFile(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    await writeFile(path.join(app, 'use.ts'), `import { open, type Volume } from 'volstore';\nexport const v: Promise<Volume> = open('memory://x/');\n`);
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app });
    // The types are really loaded (not "any"): a wrong annotation fails.
    await writeFile(path.join(app, 'use.ts'), `import { open } from 'volstore';\nexport const v: Promise<number> = open('memory://x/');\n`);
    const bad = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }).catch((e: { stdout: string }) => e);
    expect((bad as { stdout: string }).stdout).toMatch(/'Promise<Volume>' is not assignable/);
  });

  it('runs the installed volstore binary: --version, info, copy, read', async () => {
    const bin = path.join(app, 'node_modules', '.bin', 'volstore');
    const version = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')).version;
    expect((await run(bin, ['--version'], { cwd: app })).stdout).toBe(`volstore ${version}\n`);
    const info = await run(bin, ['info', '--json', `${fixture()}/zarr-python/v3.zarr/3d.chunked.compressed.sharded.i2`], { cwd: app });
    expect(JSON.parse(info.stdout)).toMatchObject({ kind: 'array', driver: 'zarr3', dtype: 'int16' });
    await run(bin, ['copy', `${fixture()}/zarr-python/v2.zarr/3d.chunked.i2`, 'copied.zarr', '-q'], { cwd: app });
    const read = await run(bin, ['read', 'copied.zarr', '-r', '0,0,:', '-o', 'row.npy', '--json'], { cwd: app });
    expect(JSON.parse(read.stdout)).toMatchObject({ out: 'row.npy', dtype: 'int16', shape: [3] });
    const usage = await run(bin, ['cpoy'], { cwd: app }).catch((e: { code: number; stderr: string }) => e);
    expect(usage).toMatchObject({ code: 2 });
    expect((usage as { stderr: string }).stderr).toMatch(/did you mean copy/);
  });
});
