/**
 * `volstore serve`: runs the emulator in the foreground until SIGINT/SIGTERM.
 *
 *   volstore serve [--port N] [--dir D] [--latency-ms N] [--bandwidth-mbps N]
 *                  [--faults SPEC] [--seed N] [--bucket B]...
 */
import { startEmulator, type EmulatorOptions } from './emulator.js';
import { S3_PATH_PREFIX } from './s3.js';
import { isValidBucketName } from './storage.js';

const USAGE = `usage: volstore serve [--port N] [--dir D] [--latency-ms N] [--bandwidth-mbps N]
                     [--faults SPEC] [--seed N] [--bucket B]...
Runs a local GCS (JSON API) + S3 emulator on 127.0.0.1 until interrupted.
  --faults  e.g. "503:0.1,429:0.05,reset:0.02,truncate:0.01,stall:0.01,flip:0.01"
            (probability per object request; stall holds a half-sent response open,
            flip inverts one bit of a downloaded object)`;

/** Parses the serve flags; throws an Error naming the bad flag. */
export function parseServeArgs(args: string[]): EmulatorOptions | 'help' {
  const opts: EmulatorOptions = {};
  const buckets: string[] = [];
  const num = (flag: string, v: string | undefined): number => {
    if (v === undefined || v.trim() === '' || !Number.isFinite(Number(v))) throw new Error(`${flag} needs a number, got ${v ?? '(nothing)'}`);
    return Number(v);
  };
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    let value: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      value = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = () => value ?? args[++i];
    switch (a) {
      case '-h':
      case '--help':
        return 'help';
      case '--port':
        opts.port = num(a, next());
        break;
      case '--dir': {
        const d = next();
        if (!d) throw new Error('--dir needs a directory');
        opts.dir = d;
        break;
      }
      case '--latency-ms':
        opts.latencyMs = num(a, next());
        break;
      case '--bandwidth-mbps':
        opts.bandwidthMbps = num(a, next());
        break;
      case '--faults': {
        const f = next();
        if (f === undefined) throw new Error('--faults needs a spec such as 503:0.1,reset:0.01');
        opts.faults = f;
        break;
      }
      case '--seed':
        opts.seed = num(a, next());
        break;
      case '--bucket': {
        const b = next();
        if (!b) throw new Error('--bucket needs a name');
        if (!isValidBucketName(b)) throw new Error(`--bucket ${JSON.stringify(b)} is not a valid bucket name (3-63 characters of a-z, 0-9, ".", "_", "-", starting and ending with a letter or digit)`);
        buckets.push(b);
        break;
      }
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  if (buckets.length) opts.buckets = buckets;
  return opts;
}

/** Runs `volstore serve`; resolves with the exit code once a signal stopped the server. */
export async function serveCommand(args: string[]): Promise<number> {
  let opts: EmulatorOptions | 'help';
  try {
    opts = parseServeArgs(args);
  } catch (e) {
    process.stderr.write(`volstore serve: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let emu;
  try {
    emu = await startEmulator(opts);
  } catch (e) {
    process.stderr.write(`volstore serve: ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(
    `volstore emulator listening on ${emu.url}\n` +
      `  GCS: new Storage({ apiEndpoint: '${emu.url}', projectId: 'p' })\n` +
      `       export STORAGE_EMULATOR_HOST=${emu.url}\n` +
      `  S3:  endpoint ${emu.url}${S3_PATH_PREFIX} with forcePathStyle (or Host BUCKET.s3.localhost:${emu.port})\n` +
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
  process.stdout.write('volstore emulator stopped\n');
  return 0;
}
