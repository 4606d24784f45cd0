/**
 * Progress of a copy or downsample on standard error: a live bar (bytes, chunks, rate, ETA) on
 * a terminal; plain periodic lines when standard error is a file or pipe (no carriage returns
 * in logs); nothing with `--quiet` or `--json`.
 */
import cliProgress from 'cli-progress';
import type { CopyProgress as JobProgress } from '../jobs/copy.js';

/** The progress fields a reporter shows. */
export type CopyProgress = Pick<JobProgress, 'chunksDone' | 'chunksTotal' | 'bytesDone' | 'bytesTotal'>;
import type { CliIO } from './args.js';

/** "1.5 GB", "12.0 MB", "512 B": decimal units. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** "45s", "3m05s", "2h07m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export interface ProgressReporter {
  update(p: CopyProgress): void;
  /** Ends the bar (or prints the last line); call once, also on failure. */
  stop(): void;
}

/** One plain progress line, as written to logs. */
export function progressLine(label: string, p: CopyProgress, elapsedSeconds: number): string {
  const rate = elapsedSeconds > 0 ? p.bytesDone / elapsedSeconds : 0;
  const pct = p.bytesTotal > 0 ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 100;
  const eta = rate > 0 ? (p.bytesTotal - p.bytesDone) / rate : Infinity;
  return `${label}: ${p.chunksDone}/${p.chunksTotal} chunks, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)} (${pct}%), ${formatBytes(rate)}/s${p.chunksDone < p.chunksTotal ? `, ETA ${formatDuration(eta)}` : ''}`;
}

/**
 * A reporter for `label` ("copy", "downsample") writing to `io.stderr`.
 * @param options.intervalMs non-TTY: at most one line per interval (default 10 s), plus the last.
 */
export function progressReporter(io: CliIO, label: string, options: { quiet: boolean; intervalMs?: number; now?: () => number }): ProgressReporter {
  if (options.quiet) return { update() {}, stop() {} };
  const now = options.now ?? (() => performance.now());
  const t0 = now();
  const stream = io.stderr;
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {chunks} chunks | {done} of {size} | {rate}/s | ETA {eta_formatted}`,
        stream: stream as NodeJS.WritableStream,
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
        barsize: 24,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    let last: CopyProgress | undefined;
    const payload = (p: CopyProgress) => ({
      chunks: `${p.chunksDone}/${p.chunksTotal}`,
      done: formatBytes(p.bytesDone),
      size: formatBytes(p.bytesTotal),
      rate: formatBytes((p.bytesDone / Math.max(1e-3, now() - t0)) * 1000),
    });
    return {
      update(p) {
        last = p;
        if (!started) {
          bar.start(Math.max(1, p.bytesTotal), p.bytesDone, payload(p));
          started = true;
        } else bar.update(p.bytesDone, payload(p));
      },
      stop() {
        if (started) {
          if (last) bar.update(last.bytesDone, payload(last));
          bar.stop();
        }
      },
    };
  }
  const interval = options.intervalMs ?? 10_000;
  let lastLine = -Infinity;
  let last: CopyProgress | undefined;
  let printedLast = false;
  return {
    update(p) {
      last = p;
      printedLast = false;
      const t = now();
      if (p.chunksDone > 0 && t - lastLine >= interval) {
        stream.write(`${progressLine(label, p, (t - t0) / 1000)}\n`);
        lastLine = t;
        printedLast = true;
      }
    },
    stop() {
      if (last && !printedLast && last.chunksDone > 0) stream.write(`${progressLine(label, last, (now() - t0) / 1000)}\n`);
    },
  };
}

/** Progress of a run measured as a fraction (bench, tune): {@link fractionProgress}. */
export interface FractionProgress {
  /** `fraction` 0..1 done; `label` = what runs now. */
  update(fraction: number, label: string): void;
  /** A log line: above the bar on a terminal, as is otherwise. */
  log(line: string): void;
  stop(): void;
}

/**
 * A bar on standard error for work measured as a fraction (`label [=====] 42% | workload | 1m05s
 * | ETA 1m30s`) when standard error is a terminal; quiet otherwise (a log or a pipe gets no bar)
 * and always with `quiet`. Log lines go above the bar on a terminal; when standard error is
 * not a terminal they are written only with `log` (e.g. `volstore bench --log`).
 */
export function fractionProgress(io: CliIO, label: string, options: { quiet: boolean; log?: boolean; now?: () => number }): FractionProgress {
  const stream = io.stderr;
  if (options.quiet) return { update() {}, log() {}, stop() {} };
  if (!stream.isTTY) return { update() {}, log: (l) => void (options.log && stream.write(`${l}\n`)), stop() {} };
  const now = options.now ?? (() => performance.now());
  const t0 = now();
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {what} | {elapsed} | ETA {left}`,
      stream: stream as NodeJS.WritableStream,
      hideCursor: true,
      fps: 5,
      barsize: 24,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let last = { fraction: 0, what: '' };
  const payload = () => {
    const s = (now() - t0) / 1000;
    return { what: last.what, elapsed: formatDuration(s), left: last.fraction > 0.02 ? formatDuration((s * (1 - last.fraction)) / last.fraction) : '?' };
  };
  return {
    update(fraction, what) {
      last = { fraction: Math.min(1, Math.max(0, fraction)), what };
      if (!started) {
        bar.start(1000, Math.round(last.fraction * 1000), payload());
        started = true;
      } else bar.update(Math.round(last.fraction * 1000), payload());
    },
    log(line) {
      if (!started) {
        stream.write(`${line}\n`);
        return;
      }
      // clear the bar's line, write the log line, redraw the bar below it
      stream.write(`\r\x1b[2K${line}\n`);
      bar.update(Math.round(last.fraction * 1000), payload());
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
