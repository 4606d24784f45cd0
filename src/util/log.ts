/**
 * volstore's one logger: requests, retries and slow operations are reported here, never with
 * `console` directly. Browser-safe.
 *
 * The level comes from `VOLSTORE_LOG` (`error`, `warn`, `info`, `debug`; default `warn`) in
 * Node, or from {@link setLogLevel} (the CLI's `--verbose` sets `debug`, `--quiet` `error`).
 * Messages must never contain secrets: callers pass URLs and headers through the redaction
 * helpers of the store that made them.
 */

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Where log lines go: one formatted line per call. Default: standard error / the console. */
export type LogSink = (level: LogLevel, line: string) => void;

const defaultSink: LogSink = (_level, line) => {
  // eslint-disable-next-line no-console
  console.error(line);
};

function levelFromEnv(): LogLevel {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.VOLSTORE_LOG;
  const v = env?.toLowerCase();
  return v && v in RANK ? (v as LogLevel) : 'warn';
}

let level: LogLevel = levelFromEnv();
let sink: LogSink = defaultSink;

/** Sets the level below which messages are dropped. */
export function setLogLevel(l: LogLevel): void {
  if (!(l in RANK)) throw new RangeError(`unknown log level ${JSON.stringify(l)} (error, warn, info, debug)`);
  level = l;
}

export function getLogLevel(): LogLevel {
  return level;
}

/** Replaces where log lines go (tests, or an application's own logger); returns the previous sink. */
export function setLogSink(s: LogSink | undefined): LogSink {
  const prev = sink;
  sink = s ?? defaultSink;
  return prev;
}

/** Whether a message at `l` would be written (to skip building expensive messages). */
export function logEnabled(l: LogLevel): boolean {
  return RANK[l] <= RANK[level];
}

function emit(l: LogLevel, msg: string): void {
  if (logEnabled(l)) sink(l, `volstore ${l}: ${msg}`);
}

export const log = {
  error: (msg: string): void => emit('error', msg),
  warn: (msg: string): void => emit('warn', msg),
  info: (msg: string): void => emit('info', msg),
  debug: (msg: string): void => emit('debug', msg),
};
