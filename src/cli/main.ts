import { writeFile } from 'node:fs/promises';
import { encodeNpy } from '../array/npy.js';
import { VolstoreError } from '../errors.js';
import type { Selection } from '../index-space/index.js';
import { open } from '../open.js';
import type { Volume } from '../volume.js';
import { parseArgs, parseSpecArg } from './args.js';
import { copyCommand } from './copy.js';

const USAGE = `volstore <command> [options]

Commands:
  info <spec|url>                       print driver, dtype, domain, chunk layout, codecs, fill value (JSON)
  read <spec|url> [--region R] --out file.npy
                                        read a region (R: per dimension "start:stop" or an integer,
                                        comma-separated, in the array's own dimension order) to C-order .npy
  copy <src> <dst> [--driver zarr3|zarr|n5|neuroglancer_precomputed] [--chunk-shape a,b,c]
       [--shard-shape a,b,c] [--codec zstd:3|gzip:5|blosc:zstd:5|raw] [--encoding E] [--sharding auto]
                                        create dst from src's dtype and shape and copy all data, shard by shard
  downsample <src> <dst> --factors a,b,c [--method mean|mode] [copy options]
                                        write a downsampled copy (one pyramid level) with the WASM kernel:
                                        mean for images, mode for label volumes
  serve [--port N] [--dir D] [--latency-ms N] [--bandwidth-mbps N] [--faults SPEC] [--seed N] [--bucket B]
                                        run the built-in GCS/S3 emulator on 127.0.0.1
  bench [--workload NAME]... [--size N] [--runs R] [--warmup W] [--seed S] [--out DIR] [--quick]
        [--profile] [--list]            run the benchmark workloads (zarr3-file, precomputed-seg,
                                        emulator) and write bench-report/{report.md,report.json,index.html}

A spec is TensorStore spec JSON ('{"driver":"zarr3","kvstore":"file:///data/em/"}'), a URL
(file:///abs/path.zarr, gs://bucket/path/, s3://bucket/path/, https://host/path/, memory://name/,
or the pipeline form gs://bucket/path/|zarr3:), or an absolute local path.
`;

/** Parses "0:512,100,:" into a selection over the volume's dimensions. */
export function parseRegion(r: string, vol: Volume): Selection {
  const parts = r.split(',');
  if (parts.length > vol.rank) throw new VolstoreError('spec', `--region has ${parts.length} terms but the array has rank ${vol.rank}`);
  return parts.map((p, d) => {
    const t = p.trim();
    const lo = vol.domain.inclusiveMin[d]!;
    const hi = vol.domain.exclusiveMax[d]!;
    if (t === '' || t === ':') return [lo, hi] as const;
    if (/^-?\d+$/.test(t)) return Number(t);
    const m = /^(-?\d*):(-?\d*)$/.exec(t);
    if (!m) throw new VolstoreError('spec', `--region term ${d} "${t}" is not start:stop or an integer`);
    return [m[1] === '' ? lo : Number(m[1]), m[2] === '' ? hi : Number(m[2])] as const;
  });
}

export function describe(vol: Volume): Record<string, unknown> {
  const d = vol.domain;
  const fv = vol.fillValue;
  return {
    driver: vol.driver.driverName,
    dtype: vol.dtype,
    domain: {
      inclusive_min: d.inclusiveMin,
      exclusive_max: d.exclusiveMax,
      shape: d.shape,
      labels: d.labels,
    },
    chunk_layout: {
      grid_origin: vol.chunkLayout.gridOrigin,
      write_chunk: { shape: vol.chunkLayout.writeChunk.shape },
      read_chunk: { shape: vol.chunkLayout.readChunk.shape },
    },
    codecs: vol.codec,
    fill_value: typeof fv === 'bigint' ? fv.toString() : typeof fv === 'number' && !Number.isFinite(fv) ? String(fv) : fv,
  };
}

async function infoCommand(args: string[]): Promise<number> {
  const { positional } = parseArgs(args, {});
  if (positional.length !== 1) throw new VolstoreError('spec', 'usage: volstore info <spec|url>');
  const vol = await open(parseSpecArg(positional[0]!));
  process.stdout.write(`${JSON.stringify(describe(vol), null, 2)}\n`);
  return 0;
}

async function readCommand(args: string[]): Promise<number> {
  const { positional, flags } = parseArgs(args, { values: ['region', 'out'] });
  if (positional.length !== 1 || typeof flags.out !== 'string') throw new VolstoreError('spec', 'usage: volstore read <spec|url> [--region R] --out file.npy');
  let vol = await open(parseSpecArg(positional[0]!));
  if (typeof flags.region === 'string') vol = vol.slice(parseRegion(flags.region, vol));
  const arr = await vol.read();
  await writeFile(flags.out, encodeNpy(arr));
  process.stderr.write(`wrote ${flags.out}: ${arr.dtype} [${arr.shape.join(', ')}]\n`);
  return 0;
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  info: infoCommand,
  read: readCommand,
  copy: copyCommand,
  downsample: async (args) => (await import('./downsample.js')).downsampleCommand(args),
  serve: async (args) => (await import('../testing/serve.js')).serveCommand(args),
  bench: async (args) => (await import('./bench.js')).benchCommand(args),
};

/** The `volstore` command line. Returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    process.stderr.write(`volstore: unknown command "${cmd}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (e) {
    if (e instanceof VolstoreError) {
      process.stderr.write(`volstore ${cmd}: ${e.name} (${e.code}): ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
