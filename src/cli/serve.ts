/**
 * `volstore serve`: the built-in GCS + S3 emulator (src/testing/) in the foreground until
 * SIGINT / SIGTERM.
 */
import { startEmulator, type EmulatorOptions } from '../testing/emulator.js';
import { isValidBucketName } from '../testing/storage.js';
import { parseFaults } from '../testing/faults.js';
import { S3_PATH_PREFIX } from '../testing/s3.js';
import { type CommandDef, type OptionValues, parseNumberArg, UsageError } from './args.js';

/**
 * The emulator options of `volstore serve`'s flags.
 * @throws UsageError for a bad number, fault spec or bucket name.
 */
export function serveOptions(values: OptionValues): EmulatorOptions {
  const num = (name: string, opts?: { integer?: boolean }) => (typeof values[name] === 'string' ? parseNumberArg(values[name] as string, `--${name}`, opts) : undefined);
  const buckets = values.bucket as string[] | undefined;
  for (const b of buckets ?? []) {
    if (!isValidBucketName(b)) throw new UsageError(`--bucket: ${JSON.stringify(b)} is not a valid bucket name (3-63 characters of a-z, 0-9, ".", "_", "-", as GCS requires)`);
  }
  const opts: EmulatorOptions = {
    port: num('port', { integer: true }),
    dir: values.dir as string | undefined,
    latencyMs: num('latency-ms'),
    bandwidthMbps: num('bandwidth-mbps'),
    seed: num('seed', { integer: true }),
    buckets,
  };
  if (typeof values.faults === 'string') {
    try {
      opts.faults = parseFaults(values.faults);
    } catch (e) {
      throw new UsageError(`--faults: ${(e as Error).message}`);
    }
  }
  return opts;
}

export const SERVE: CommandDef = {
  name: 'serve',
  summary: 'Run the built-in GCS (JSON API) + S3 emulator on 127.0.0.1 until interrupted.',
  args: '',
  positionals: { min: 0, max: 0 },
  options: [
    { name: 'port', short: 'p', type: 'string', value: 'N', help: 'TCP port (default 0: a free port, printed at start)' },
    { name: 'bucket', short: 'b', type: 'string', multiple: true, value: 'NAME', help: 'create this bucket at start (repeatable)' },
    { name: 'dir', type: 'string', value: 'DIR', help: 'keep buckets and objects under DIR (reloaded at start); default in memory' },
    { name: 'latency-ms', type: 'string', value: 'N', help: 'first-byte latency added to every response' },
    { name: 'bandwidth-mbps', type: 'string', value: 'N', help: 'per-connection response throttle (megabits per second)' },
    { name: 'faults', type: 'string', value: 'SPEC', help: 'faults per object request, e.g. "503:0.1,429:0.05,reset:0.02,truncate:0.01"' },
    { name: 'seed', type: 'string', value: 'N', help: 'seed of the fault sequence (default 1)' },
    { name: 'help', short: 'h', type: 'boolean', help: 'show this help' },
  ],
  details: `Point clients at it with STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT (GCS) or the S3
endpoint http://127.0.0.1:PORT${S3_PATH_PREFIX} with path-style addressing. A bucket must exist
before it is written: create it with --bucket.`,
  async run({ values, io }) {
    const opts = serveOptions(values);
    const emu = await startEmulator(opts);
    io.stdout.write(
      `volstore emulator listening on ${emu.url}\n` +
        `  GCS: export STORAGE_EMULATOR_HOST=${emu.url}\n` +
        `  S3:  endpoint ${emu.url}${S3_PATH_PREFIX} (path-style)\n` +
        `  buckets: ${opts.buckets?.length ? opts.buckets.join(', ') : '(none: create them with --bucket)'}\n` +
        (opts.dir ? `  objects persist under ${opts.dir}\n` : '  objects are kept in memory\n'),
    );
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await emu.stop();
    io.stdout.write('volstore emulator stopped\n');
    return 0;
  },
};
