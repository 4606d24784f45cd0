/**
 * The flags that split `copy` and `downsample` into tasks of a job: which task this process is
 * (`--task-index` / `--task-count`, or the index and count the batch system puts in the
 * environment), `--resume`, `--memory-limit` and the waits between pyramid levels.
 */
import { type OptionDef, type OptionValues, parseNumberArg, UsageError } from './args.js';

/** Options of a job's task, shared by `copy` and `downsample`. */
export const JOB_OPTIONS: OptionDef[] = [
  {
    name: 'task-index',
    type: 'string',
    value: 'I',
    help: 'run task I (0-based) of --task-count: a contiguous share of the\ndestination shards (default: $JOB_COMPLETION_INDEX (Kubernetes),\n$CLOUD_RUN_TASK_INDEX, $BATCH_TASK_INDEX, else 0)',
  },
  { name: 'task-count', type: 'string', value: 'N', help: 'tasks the job is split into (default: $CLOUD_RUN_TASK_COUNT,\n$BATCH_TASK_COUNT, $VOLSTORE_TASK_COUNT, else 1)' },
  { name: 'resume', type: 'boolean', help: 'skip work already done: level shares with a manifest, shards\nthat are present and decode; existing metadata equal to the\njob\'s is accepted' },
  { name: 'memory-limit', type: 'string', value: 'BYTES', help: 'bound the shards in flight to fit (e.g. 4GiB, 500MB);\nthe process itself adds ~100-200 MB' },
  { name: 'wait-timeout', type: 'string', value: 'DURATION', help: 'pyramids: longest wait for the tasks a level reads from\n(default 6h; e.g. 90m, 3600s)' },
  { name: 'wait-poll', type: 'string', value: 'DURATION', help: 'pyramids: longest pause between two checks for them (default 30s)' },
];

/** Which task of how many this process runs. */
export interface TaskSelection {
  index: number;
  count: number;
  /** Where each came from (for messages): a flag or an environment variable. */
  indexFrom: string;
  countFrom: string;
}

const INDEX_VARS = ['JOB_COMPLETION_INDEX', 'CLOUD_RUN_TASK_INDEX', 'BATCH_TASK_INDEX'] as const;
const COUNT_VARS = ['CLOUD_RUN_TASK_COUNT', 'BATCH_TASK_COUNT', 'VOLSTORE_TASK_COUNT'] as const;

function envInt(env: NodeJS.ProcessEnv, names: readonly string[]): { value: number; from: string } | undefined {
  for (const n of names) {
    const v = env[n];
    if (v === undefined || v === '') continue;
    if (!/^\d+$/.test(v.trim())) throw new UsageError(`$${n} is "${v}", not a non-negative integer`);
    return { value: Number(v.trim()), from: `$${n}` };
  }
  return undefined;
}

/**
 * The task of this process: flags first, then the batch system's environment (Kubernetes
 * Indexed Jobs set only the index: pass `--task-count` = the Job's `completions`, or set
 * VOLSTORE_TASK_COUNT).
 * @throws UsageError for malformed values, an index outside [0, count), or an index from the
 *   environment without a count.
 */
export function taskFromFlags(values: OptionValues, env: NodeJS.ProcessEnv = process.env): TaskSelection {
  const flag = (name: string) => (typeof values[name] === 'string' ? parseNumberArg(values[name] as string, `--${name}`, { integer: true, min: 0 }) : undefined);
  const fi = flag('task-index');
  const fc = flag('task-count');
  if (fc === 0) throw new UsageError('--task-count must be at least 1');
  const ei = fi === undefined ? envInt(env, INDEX_VARS) : undefined;
  const ec = fc === undefined ? envInt(env, COUNT_VARS) : undefined;
  const index = fi ?? ei?.value ?? 0;
  const count = fc ?? ec?.value ?? 1;
  const indexFrom = fi !== undefined ? '--task-index' : ei?.from ?? 'default';
  const countFrom = fc !== undefined ? '--task-count' : ec?.from ?? 'default';
  if (count < 1) throw new UsageError(`task count from ${countFrom} must be at least 1`);
  if (ei && countFrom === 'default' && ei.from === '$JOB_COMPLETION_INDEX') {
    throw new UsageError('$JOB_COMPLETION_INDEX is set but Kubernetes does not give the task count: pass --task-count (the Job\'s completions) or set VOLSTORE_TASK_COUNT');
  }
  if (index >= count) throw new UsageError(`task index ${index} (from ${indexFrom}) is not below the task count ${count} (from ${countFrom})`);
  return { index, count, indexFrom, countFrom };
}

const BYTE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 2 ** 10, kib: 2 ** 10, mi: 2 ** 20, mib: 2 ** 20, gi: 2 ** 30, gib: 2 ** 30, ti: 2 ** 40, tib: 2 ** 40,
};

/** "4GiB", "500MB", "1.5G", "1048576" as bytes. @throws UsageError naming the flag. */
export function parseBytesArg(s: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(s);
  const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`${flag} expects a size such as 4GiB, 500MB or 1048576, got "${s}"`);
  const n = Math.floor(Number(m[1]) * unit);
  if (!(n > 0)) throw new UsageError(`${flag} must be positive, got "${s}"`);
  return n;
}

const DURATION_UNITS: Record<string, number> = { '': 1000, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3600_000 };

/** "90m", "6h", "45s", "250ms", "30" (seconds) as milliseconds. @throws UsageError naming the flag. */
export function parseDurationArg(s: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/.exec(s);
  const unit = m ? DURATION_UNITS[m[2]!] : undefined;
  if (!m || unit === undefined) throw new UsageError(`${flag} expects a duration such as 90m, 6h, 45s or 250ms, got "${s}"`);
  return Number(m[1]) * unit;
}
