/**
 * The `volstore` command line: a thin shell over the library. Exit codes: 0 ok, 1 failure,
 * 2 usage (unknown command or option, missing argument, bad option value).
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { encodeNpy } from '../array/npy.js';
import { VolstoreError } from '../errors.js';
import type { Selection } from '../index-space/index.js';
import { open } from '../open.js';
import { getLogLevel, log, setLogLevel } from '../util/log.js';
import type { Volume } from '../volume.js';
import { type CliIO, type CommandDef, commandHelp, didYouMean, type OptionDef, parseCommandArgs, parseSpecArg, UsageError } from './args.js';
import { withContext } from './context-flags.js';
import { copyCommand, DESTINATION_OPTIONS, downsampleCommand, networkContext } from './copy.js';
import { JOB_OPTIONS } from './job-flags.js';
import { describeLocation, infoText } from './info.js';
import { formatBytes } from './progress.js';

const HELP: OptionDef = { name: 'help', short: 'h', type: 'boolean', help: 'show this help' };
const VERBOSE: OptionDef = { name: 'verbose', short: 'v', type: 'boolean', help: 'log every request and retry (debug level)' };
const QUIET: OptionDef = { name: 'quiet', short: 'q', type: 'boolean', help: 'print nothing but errors (no progress, no summary)' };
const JSON_OUT: OptionDef = { name: 'json', type: 'boolean', help: 'print the result as one JSON document on standard output' };
const NETWORK: OptionDef[] = [
  { name: 'timeout', type: 'string', value: 'SECONDS', help: 'GCS/S3/HTTP: give up on a request with no first byte, or no\nprogress, for this long (it is then retried)' },
  { name: 'retries', type: 'string', value: 'N', help: 'GCS/S3/HTTP: retry a failed request at most N times' },
];
const COMMON = [...NETWORK, VERBOSE, QUIET, HELP];

const JOB_HELP = `Jobs: --task-index I --task-count N runs one of N tasks, each a contiguous share of the
destination shards; tasks never write the same shard. The first task creates the destination
metadata ("must not exist"), the others verify it. Pyramid levels wait for the tasks whose shards
they read (a manifest per task and level under <dst>/.volstore-job/). --resume skips finished
shares and shards; a killed task leaves no partial object. See docs/scale-out.md.`;

const SPEC_HELP = `A spec is TensorStore spec JSON ('{"driver":"zarr3","kvstore":"gs://bucket/em/"}'), a URL
(file:///abs/em.zarr, gs://bucket/em/, s3://bucket/em/, https://host/em/, memory://name/, or a
pipeline such as gs://bucket/em/|zarr3:), or a local path, absolute or relative (data/em.zarr,
./em.zarr, em.zarr|zarr3:).`;

/** Parses "0:512,100,:" into a selection over the volume's dimensions. @throws UsageError. */
export function parseRegion(r: string, vol: Volume): Selection {
  const parts = r.split(',');
  if (parts.length > vol.rank) throw new UsageError(`--region has ${parts.length} terms but the array has rank ${vol.rank}`);
  return parts.map((p, d) => {
    const t = p.trim();
    const lo = vol.domain.inclusiveMin[d]!;
    const hi = vol.domain.exclusiveMax[d]!;
    if (t === '' || t === ':') return [lo, hi] as const;
    if (/^-?\d+$/.test(t)) return Number(t);
    const m = /^(-?\d*):(-?\d*)$/.exec(t);
    if (!m) throw new UsageError(`--region term ${d} "${t}" is not start:stop, an integer or ":"`);
    return [m[1] === '' ? lo : Number(m[1]), m[2] === '' ? hi : Number(m[2])] as const;
  });
}

const INFO: CommandDef = {
  name: 'info',
  summary: 'Describe an array (dtype, shape, chunks, codecs, precomputed scales and sharding) or a group.',
  args: '<spec>',
  positionals: { min: 1, max: 1 },
  options: [JSON_OUT, ...COMMON],
  details: SPEC_HELP,
  async run({ positionals, values, io }) {
    const j = await describeLocation(withContext(parseSpecArg(positionals[0]!), networkContext(values)));
    io.stdout.write(values.json ? `${JSON.stringify(j, null, 2)}\n` : infoText(j));
    return 0;
  },
};

const READ: CommandDef = {
  name: 'read',
  summary: 'Read a region of an array into a C-order .npy file.',
  args: '<spec>',
  positionals: { min: 1, max: 1 },
  options: [
    { name: 'out', short: 'o', type: 'string', value: 'FILE', help: 'the .npy file to write (required)' },
    { name: 'region', short: 'r', type: 'string', value: 'R', help: 'per dimension "start:stop", an integer (drops the dimension) or ":",\ncomma-separated, in the array\'s own order (default: everything)' },
    JSON_OUT,
    ...COMMON,
  ],
  details: SPEC_HELP,
  async run({ positionals, values, io }) {
    if (typeof values.out !== 'string') throw new UsageError('--out FILE is required');
    let vol = await open(withContext(parseSpecArg(positionals[0]!), networkContext(values)));
    if (typeof values.region === 'string') vol = vol.slice(parseRegion(values.region, vol));
    const arr = await vol.read();
    const bytes = encodeNpy(arr);
    await writeFile(values.out, bytes);
    if (values.json) io.stdout.write(`${JSON.stringify({ out: values.out, dtype: arr.dtype, shape: arr.shape, bytes: bytes.byteLength })}\n`);
    else if (!values.quiet) io.stderr.write(`wrote ${values.out}: ${arr.dtype} [${arr.shape.join(', ')}] (${formatBytes(bytes.byteLength)})\n`);
    return 0;
  },
};

const COPY: CommandDef = {
  name: 'copy',
  summary: "Create <dst> with <src>'s dtype and shape and copy all data, one destination shard at a time.",
  args: '<src> <dst>',
  positionals: { min: 2, max: 2 },
  options: [...DESTINATION_OPTIONS, ...JOB_OPTIONS, JSON_OUT, ...COMMON],
  details: `An existing destination is refused unless --overwrite is given; a destination that is the
source, inside it or around it is always refused. To neuroglancer_precomputed, a [z, y, x] source
is written as [x, y, z] with its resolution and offset (OME-Zarr multiscales, N5 resolution /
pixelResolution, precomputed info) kept.

${JOB_HELP}

${SPEC_HELP}`,
  run: copyCommand,
};

const DOWNSAMPLE: CommandDef = {
  name: 'downsample',
  summary: 'Write a downsampled copy, or with --levels a multiscale pyramid: mean for images, mode for labels.',
  args: '<src> <dst>',
  positionals: { min: 2, max: 2 },
  options: [
    { name: 'factors', short: 'f', type: 'string', value: 'a,b,c', help: "integer factor per dimension in the source's order (required);\nmissing trailing entries are 1" },
    { name: 'method', short: 'm', type: 'string', value: 'mean|mode', help: 'default: mode for 32/64-bit integers (labels), else mean' },
    {
      name: 'levels',
      short: 'l',
      type: 'string',
      value: 'N',
      help: 'write a multiscale pyramid of N levels at <dst>: level 0 is the source\n(copied), each next level the previous one downsampled by --factors;\nzarr3: OME-Zarr 0.5 group s0..; n5: s0.. with downsamplingFactors;\nprecomputed: scales in one info (into the source\'s own volume:\nits scale is level 0 and only the new scales are written)',
    },
    ...DESTINATION_OPTIONS,
    ...JOB_OPTIONS,
    JSON_OUT,
    ...COMMON,
  ],
  details: `Without --levels, <dst> is one array: the source downsampled once.

${JOB_HELP}

${SPEC_HELP}`,
  run: downsampleCommand,
};

/** The subcommands, in help order. `serve`, `bench` and `tune` load their modules on use. */
export async function commands(): Promise<CommandDef[]> {
  const [{ SERVE }, { BENCH }, { TUNE }] = await Promise.all([import('./serve.js'), import('./bench.js'), import('./tune.js')]);
  return [INFO, READ, COPY, DOWNSAMPLE, SERVE, BENCH, TUNE];
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(cmds: CommandDef[]): string {
  const w = Math.max(...cmds.map((c) => c.name.length)) + 2;
  return `Usage: volstore <command> [options]

Commands:
${cmds.map((c) => `  ${c.name.padEnd(w)}${c.summary.split('\n')[0]}`).join('\n')}

Run "volstore <command> --help" for a command's options.
Global: volstore --version, volstore --help. Exit codes: 0 ok, 1 failure, 2 usage.
`;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
  ECONNREFUSED: 'connection refused',
};

/** One line for an error that is not volstore's own (file system, network, bug). */
export function describeForeignError(e: unknown): string {
  const n = e as NodeJS.ErrnoException;
  if (n && typeof n.code === 'string' && typeof n.syscall === 'string') {
    return `cannot ${n.syscall}${n.path ? ` ${n.path}` : ''}: ${ERRNO_TEXT[n.code] ?? n.code} (${n.code})`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** The process's standard streams. */
export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr };
}

/**
 * Runs the `volstore` command line on `argv` (without `node` and the script). Returns the exit
 * code: 0 ok, 1 failure, 2 usage. Never throws.
 */
export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  const cmds = await commands();
  let args = [...argv];
  // Global flags may come before the command: `volstore -v copy ...`.
  const lead: string[] = [];
  while (args[0] && ['-v', '--verbose', '-q', '--quiet'].includes(args[0])) lead.push(args.shift()!);
  const [name, ...rest] = args;
  if (name === '--version' || name === '-V') {
    io.stdout.write(`volstore ${version()}\n`);
    return 0;
  }
  if (name === undefined) {
    io.stderr.write(usage(cmds));
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? cmds.find((c) => c.name === rest[0]) : undefined;
    io.stdout.write(target ? commandHelp(target) : usage(cmds));
    return 0;
  }
  const cmd = cmds.find((c) => c.name === name);
  if (!cmd) {
    const what = name.startsWith('-') ? 'option (options go after the command)' : 'command';
    io.stderr.write(`volstore: unknown ${what} "${name}"${didYouMean(name, cmds.map((c) => c.name))}\nRun "volstore --help" for the commands.\n`);
    return 2;
  }
  args = [...lead, ...rest];
  // --help wins over everything else on the line (before "--").
  const end = args.indexOf('--');
  if ((end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')) {
    io.stdout.write(commandHelp(cmd));
    return 0;
  }
  const prevLevel = getLogLevel();
  let json = false;
  let verbose = false;
  try {
    const { values, positionals } = parseCommandArgs(cmd, args);
    json = values.json === true;
    verbose = values.verbose === true;
    if (values.verbose && values.quiet) throw new UsageError('--verbose and --quiet exclude each other');
    if (values.verbose) setLogLevel('debug');
    else if (values.quiet) setLogLevel('error');
    log.debug(`${cmd.name} ${JSON.stringify({ args: positionals, options: values })}`);
    return await cmd.run({ positionals, values, io });
  } catch (e) {
    const fail = (code: number, message: string, extra: Record<string, unknown> = {}) => {
      io.stderr.write(`volstore ${cmd.name}: ${message}\n`);
      if (json) io.stdout.write(`${JSON.stringify({ error: { message, ...extra } })}\n`);
      return code;
    };
    if (e instanceof UsageError) {
      io.stderr.write(`volstore ${cmd.name}: ${e.message}\nRun "volstore ${cmd.name} --help" for usage.\n`);
      return 2;
    }
    if (e instanceof VolstoreError) return fail(1, `${e.name}: ${e.message}`, { name: e.name, code: e.code });
    const code = fail(1, describeForeignError(e), { name: e instanceof Error ? e.name : 'Error' });
    if (verbose && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
    return code;
  } finally {
    setLogLevel(prevLevel);
  }
}
