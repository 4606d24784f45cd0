/**
 * The command line as people expect one: help, version, short flags, relative paths, "did you
 * mean", exit codes (0 ok, 1 failure, 2 usage), one-line errors, --json, progress output.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNpy } from '../../src/array/npy.js';
import { parseSpecArg, parseCommandArgs, UsageError } from '../../src/cli/args.js';
import { contextFromFlags, withContext } from '../../src/cli/context-flags.js';
import { progressLine, progressReporter } from '../../src/cli/progress.js';
import { NdArray, open } from '../../src/index.js';
import { setLogSink } from '../../src/util/log.js';
import { fixture } from '../fixture-path.js';
import { cli, spawnCli } from './helpers.js';

const FIX = fixture();
const ARR = `${FIX}/zarr-python/v2.zarr/3d.chunked.mixed.i2.F`;
const COMMANDS = ['info', 'read', 'copy', 'downsample', 'serve', 'bench', 'tune'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-ux-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** No stack trace lines ("    at f (file:1:2)") in what a user sees. */
const noStack = (s: string) => expect(s).not.toMatch(/^\s+at .+:\d+/m);

describe('help and version', () => {
  it('every command has --help and -h (exit 0, usage + its options on stdout)', async () => {
    for (const c of COMMANDS) {
      for (const flag of ['--help', '-h']) {
        const r = await cli([c, flag]);
        expect(r.code, c).toBe(0);
        expect(r.out).toMatch(new RegExp(`^Usage: volstore ${c}`));
        expect(r.out).toMatch(/--help/);
      }
    }
    // --help wins over missing arguments and other flags (it was "unknown option" before).
    expect((await cli(['info', '--help'])).out).toMatch(/--json/);
    expect((await cli(['copy', '--overwrite', '-h'])).code).toBe(0);
    expect((await cli(['help', 'copy'])).out).toMatch(/--overwrite/);
  });

  it('--version prints the package version; no command prints the command list with exit 2', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8'));
    const r = await cli(['--version']);
    expect(r).toMatchObject({ code: 0, out: `volstore ${pkg.version}\n` });
    expect((await cli(['-V'])).out).toBe(`volstore ${pkg.version}\n`);
    const none = await cli([]);
    expect(none.code).toBe(2);
    for (const c of COMMANDS) expect(none.err).toContain(c);
    expect((await cli(['--help'])).code).toBe(0);
  });
});

describe('usage errors exit 2 with a pointer to help; did you mean', () => {
  it('mistyped commands and options', async () => {
    const cmd = await cli(['cpoy', 'a', 'b']);
    expect(cmd.code).toBe(2);
    expect(cmd.err).toMatch(/unknown command "cpoy" \(did you mean copy\?\)/);
    const opt = await cli(['read', ARR, '--regoin', '0', '-o', 'x.npy']);
    expect(opt.code).toBe(2);
    expect(opt.err).toMatch(/unknown option --regoin \(did you mean --region\?\)/);
    expect(opt.err).toMatch(/volstore read --help/);
    const short = await cli(['read', ARR, '-x']);
    expect(short.code).toBe(2);
    expect(short.err).toMatch(/unknown option -x/);
  });

  it('missing arguments and values, bad values, extra arguments', async () => {
    const cases: [string[], RegExp][] = [
      [['copy', ARR], /missing argument: volstore copy <src> <dst>/],
      [['read', ARR], /--out FILE is required/],
      [['read', ARR, '--out'], /option --out needs a value/],
      [['read', ARR, '--out', '--region', '0'], /option --out needs a value/],
      [['info', ARR, 'extra'], /unexpected argument "extra"/],
      [['info', ARR, '--json=yes'], /--json takes no value/],
      [['downsample', ARR, `${dir}/ds`], /--factors is required/],
      [['downsample', ARR, `${dir}/ds`, '-f', '2,0'], /--factors expects comma-separated positive integers/],
      [['copy', ARR, `${dir}/c`, '--codec', 'snappy'], /unknown codec "snappy"/],
      [['copy', ARR, `${dir}/c`, '--driver', 'hdf6'], /unknown driver "hdf6"/],
      [['copy', ARR, `${dir}/c`, '--timeout', 'soon'], /--timeout expects a number/],
      [['copy', ARR, `${dir}/c`, '--retries', '2.5'], /--retries expects an integer/],
      [['read', ARR, '-o', `${dir}/x.npy`, '--region', '0:1:2'], /--region term 0/],
      [['bench', '--size', 'big'], /--size expects an integer/],
      [['serve', '--faults', 'oops:2'], /--faults/],
      [['read', ARR, '-o', `${dir}/x.npy`, '-v', '-q'], /exclude each other/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(re);
      noStack(r.err);
    }
  });
});

describe('failures exit 1 with one line and no stack trace', () => {
  it('a missing output directory, a missing array, a bad spec key', async () => {
    const out = await cli(['read', ARR, '-o', `${dir}/no/such/dir/x.npy`]);
    expect(out.code).toBe(1);
    expect(out.err).toBe(`volstore read: cannot open ${dir}/no/such/dir/x.npy: no such file or directory (ENOENT)\n`);
    const missing = await cli(['info', `${dir}/nothing-here`]);
    expect(missing.code).toBe(1);
    expect(missing.err.trim().split('\n')).toHaveLength(1);
    expect(missing.err).toMatch(/NotFoundError/);
    const bad = await cli(['info', '{"driver":"zarr3","kvstore":"memory://x/","bogus":1}']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/spec field "bogus"/);
    for (const r of [out, missing, bad]) noStack(r.err);
  });

  it('as a child process too (real exit codes, stderr only)', async () => {
    const r = await spawnCli(['read', ARR, '-o', `${dir}/no/such/x.npy`]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^volstore read: cannot open .* no such file or directory \(ENOENT\)\n$/);
    expect((await spawnCli(['reed'])).code).toBe(2);
  });
});

describe('short flags, relative paths, --json', () => {
  it('read -r -o with a relative source path and a relative output, from another working directory', async () => {
    const cwd = path.dirname(ARR);
    const out = path.join(dir, 'rel.npy');
    const r = await spawnCli(['read', `./${path.basename(ARR)}`, '-r', '1,0:2,:', '-o', path.relative(cwd, out)], { cwd });
    expect(r.code, r.err).toBe(0);
    const a = decodeNpy(new Uint8Array(await readFile(out)));
    expect(a.toFlat()).toEqual([9, 10, 11, 12, 13, 14]);
    // A bare relative path without "./", and the pipeline form.
    expect((await spawnCli(['info', '--json', path.basename(ARR)], { cwd })).code).toBe(0);
    const piped = await spawnCli(['info', '--json', `${path.basename(ARR)}|zarr:`], { cwd });
    expect(JSON.parse(piped.out).driver).toBe('zarr');
    // Relative paths inside spec JSON resolve against the working directory too.
    const json = await spawnCli(['info', '--json', `{"driver":"zarr","kvstore":{"driver":"file","path":"${path.basename(ARR)}"}}`], { cwd });
    expect(JSON.parse(json.out).domain.shape).toEqual(JSON.parse(piped.out).domain.shape);
  });

  it('spec arguments: JSON, URLs, absolute and relative paths', () => {
    expect(parseSpecArg('{"driver":"zarr3","kvstore":"memory://a/"}')).toEqual({ driver: 'zarr3', kvstore: 'memory://a/' });
    expect(parseSpecArg('gs://b/em/|zarr3:')).toEqual({ driver: 'zarr3', kvstore: { driver: 'gcs', bucket: 'b', path: 'em/' } });
    expect(parseSpecArg('/data/em.zarr')).toEqual({ kvstore: { driver: 'file', path: '/data/em.zarr' } });
    expect(parseSpecArg('data/em.zarr/')).toEqual({ kvstore: { driver: 'file', path: `${process.cwd()}/data/em.zarr/` } });
    expect(parseSpecArg('./em.zarr|zarr3:s0')).toEqual({ driver: 'zarr3', path: 's0', kvstore: { driver: 'file', path: `${process.cwd()}/em.zarr` } });
    expect(() => parseSpecArg('{"driver":')).toThrow(UsageError);
  });

  it('--json for info, read, copy and downsample prints one JSON document on stdout', async () => {
    const info = await cli(['info', ARR, '--json']);
    expect(JSON.parse(info.out)).toMatchObject({ kind: 'array', driver: 'zarr', dtype: 'int16' });
    const read = await cli(['read', ARR, '-o', `${dir}/j.npy`, '--json']);
    expect(JSON.parse(read.out)).toEqual({ out: `${dir}/j.npy`, dtype: 'int16', shape: [3, 3, 3], bytes: expect.any(Number) });
    expect(read.err).toBe('');
    const copy = await cli(['copy', ARR, `${dir}/jcopy`, '--json']);
    expect(copy.code, copy.err).toBe(0);
    expect(JSON.parse(copy.out)).toMatchObject({ driver: 'zarr3', shape: [3, 3, 3], dtype: 'int16', chunks: expect.any(Number), bytes: 54 });
    expect(copy.err).toBe(''); // no progress with --json
    const ds = await cli(['downsample', `${dir}/jcopy`, `${dir}/jds`, '-f', '2,2,2', '--json']);
    expect(ds.code, ds.err).toBe(0);
    expect(JSON.parse(ds.out)).toMatchObject({ factors: [2, 2, 2], method: 'mean', shape: [2, 2, 2] });
    // Errors in --json mode are JSON too.
    const err = await cli(['info', `${dir}/none`, '--json']);
    expect(JSON.parse(err.out).error).toMatchObject({ name: 'NotFoundError', code: 'not-found' });
  });

  it('info prints text by default; --quiet silences read and copy', async () => {
    const t = await cli(['info', ARR]);
    expect(t.out).toMatch(/^array\s+zarr at file:\/\//);
    expect(t.out).toMatch(/^dtype\s+int16$/m);
    const q = await cli(['read', ARR, '-o', `${dir}/q.npy`, '-q']);
    expect(q).toMatchObject({ code: 0, out: '', err: '' });
  });
});

describe('progress', () => {
  async function bigSource(): Promise<string> {
    const p = path.join(dir, 'progress-src');
    const v = await open({ driver: 'zarr3', kvstore: `file://${p}/`, create: true, delete_existing: true, dtype: 'uint8', schema: { domain: { shape: [16, 16, 16] }, chunk_layout: { chunk: { shape: [4, 16, 16] } } } });
    await v.write(NdArray.zeros('uint8', [16, 16, 16], 3));
    return p;
  }

  it('not a TTY: plain lines, no carriage returns, the last line at 100%', async () => {
    const src = await bigSource();
    const r = await spawnCli(['copy', src, path.join(dir, 'progress-dst')]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).not.toContain('\r');
    const lines = r.err.trim().split('\n');
    expect(lines.at(-2)).toMatch(/^copy: 4\/4 chunks, 4\.1 kB of 4\.1 kB \(100%\), .*\/s$/);
    expect(lines.at(-1)).toMatch(/^copied 4\.1 kB \(4 write chunks\) to file:\/\/.*progress-dst\/ in [\d.]+ s$/);
  });

  it('a TTY gets a redrawn bar with chunks, bytes, rate and ETA', async () => {
    let err = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((err += s), true), isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true } };
    const rep = progressReporter(io as never, 'copy', { quiet: false });
    rep.update({ chunksDone: 0, chunksTotal: 4, bytesDone: 0, bytesTotal: 4_000_000 });
    rep.update({ chunksDone: 4, chunksTotal: 4, bytesDone: 4_000_000, bytesTotal: 4_000_000 });
    rep.stop();
    expect(err).toMatch(/copy \[.*\] 100% \| 4\/4 chunks \| 4\.0 MB of 4\.0 MB \| .*\/s \| ETA/);
  });

  it('plain lines are rate limited', () => {
    let err = '';
    let t = 0;
    const rep = progressReporter({ stdout: { write: () => true }, stderr: { write: (s: string) => ((err += s), true) } }, 'copy', { quiet: false, intervalMs: 10_000, now: () => t });
    for (let i = 0; i <= 100; i++) {
      t = i * 1000; // one chunk per second: a line every 10 s
      rep.update({ chunksDone: i, chunksTotal: 100, bytesDone: i * 1e6, bytesTotal: 1e8 });
    }
    rep.stop();
    const lines = err.trim().split('\n');
    expect(lines).toHaveLength(11); // at 1 s, 11 s, ..., 91 s, and the last one
    expect(lines.at(-1)).toMatch(/^copy: 100\/100 chunks, .* \(100%\)/);
    expect(progressLine('copy', { chunksDone: 5, chunksTotal: 10, bytesDone: 5e6, bytesTotal: 1e7 }, 5)).toBe('copy: 5/10 chunks, 5.0 MB of 10.0 MB (50%), 1.0 MB/s, ETA 5s');
  });
});

describe('network flags and logging', () => {
  it('--timeout and --retries map to the gcs/s3/http context resources', () => {
    expect(contextFromFlags({ timeout: 30, retries: 5 })).toEqual({
      gcs_request_timeout: { first_byte: '30s', idle: '30s' },
      gcs_request_retries: { max_retries: 5 },
      s3_request_timeout: { first_byte: '30s', idle: '30s' },
      s3_request_retries: { max_retries: 5 },
      http_request_timeout: { first_byte: '30s', idle: '30s' },
      http_request_retries: { max_retries: 5 },
    });
    expect(contextFromFlags({})).toEqual({});
    expect(contextFromFlags({ timeout: 2.5 })).toMatchObject({ http_request_timeout: { first_byte: '2.5s', idle: '2.5s' } });
    // Merged into a spec's own context, the flag's members win and the others stay.
    const spec = withContext({ kvstore: 'gs://b/', context: { gcs_request_retries: { max_retries: 1, initial_delay: '1s' } } }, contextFromFlags({ retries: 9 }));
    expect(spec.context).toMatchObject({ gcs_request_retries: { max_retries: 9, initial_delay: '1s' } });
  });

  it('--retries is accepted by the Context of the opened array', async () => {
    const r = await cli(['info', ARR, '--retries', '3', '--json']);
    expect(r.code, r.err).toBe(0);
  });

  it('--verbose logs at debug level for the command only', async () => {
    const lines: string[] = [];
    const prev = setLogSink((_l, line) => lines.push(line));
    try {
      expect((await cli(['info', ARR, '-v'])).code).toBe(0);
      expect(lines.some((l) => l.startsWith('volstore debug: info'))).toBe(true);
      lines.length = 0;
      expect((await cli(['info', ARR])).code).toBe(0);
      expect(lines).toEqual([]);
    } finally {
      setLogSink(prev);
    }
  });

  it('the parser is util.parseArgs with repeatable and grouped short options', () => {
    const def = { name: 't', args: '', positionals: { min: 0, max: 1 }, options: [{ name: 'bucket', short: 'b', type: 'string' as const, multiple: true, help: '' }, { name: 'quiet', short: 'q', type: 'boolean' as const, help: '' }, { name: 'verbose', short: 'v', type: 'boolean' as const, help: '' }] };
    expect(parseCommandArgs(def, ['-b', 'x', '--bucket=y', '-qv', 'pos'])).toEqual({ values: { bucket: ['x', 'y'], quiet: true, verbose: true }, positionals: ['pos'] });
    expect(parseCommandArgs(def, ['--', '--not-an-option'])).toEqual({ values: {}, positionals: ['--not-an-option'] });
  });
});

describe('group roots', () => {
  it('info on a zarr v2, zarr v3 or N5 group root lists its members instead of "no array metadata found"', async () => {
    for (const [root, kind] of [[`${FIX}/zarr-python/v2.zarr`, 'zarr'], [`${FIX}/zarr-python/v3.zarr`, 'zarr3']] as const) {
      const r = await cli(['info', root, '--json']);
      expect(r.code, r.err).toBe(0);
      const j = JSON.parse(r.out);
      expect(j).toMatchObject({ kind: 'group', format: kind });
      expect(j.members.length).toBeGreaterThan(3);
      const text = await cli(['info', root]);
      expect(text.out).toMatch(/^group\s+/);
      expect(text.out).toMatch(/^members\s+.*\(array\)/m);
    }
    const n5 = path.join(dir, 'group.n5');
    await mkdir(n5, { recursive: true });
    const { openGroup } = await import('../../src/index.js');
    const g = await openGroup({ kvstore: `file://${n5}/`, format: 'n5', create: true });
    await g.open('raw').catch(() => undefined);
    await open({ driver: 'n5', kvstore: `file://${n5}/`, path: 'raw', create: true, dtype: 'uint8', schema: { domain: { shape: [4, 4] } } });
    const r = await cli(['info', n5, '--json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ kind: 'group', format: 'n5', members: [{ name: 'raw', kind: 'array' }] });
  });
});
