/**
 * Running the CLI in tests, always from the sources (never a possibly stale dist/): in-process
 * through `main()` with captured streams (fast), or as a child process through tsx (real exit
 * codes, working directories, non-TTY pipes).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { main } from '../../src/cli/main.js';

export const ENTRY = path.resolve('src/cli/entry.ts');
/** tsx's loader by absolute URL, so a child in any working directory finds it. */
export const TSX = pathToFileURL(path.resolve('node_modules/tsx/dist/loader.mjs')).href;

export interface Captured {
  code: number;
  out: string;
  err: string;
}

/** Runs `main(args)` in this process with string-capturing stdout / stderr (non-TTY unless `tty`). */
export async function cli(args: string[], options: { tty?: boolean } = {}): Promise<Captured> {
  let out = '';
  let err = '';
  const stdout = { write: (s: string) => ((out += s), true), isTTY: false };
  const stderr = { write: (s: string) => ((err += s), true), isTTY: options.tty === true, columns: 100 };
  const code = await main(args, { stdout, stderr });
  return { code, out, err };
}

/** Runs `volstore args` as a child process from the sources, in `cwd`, with piped (non-TTY) output. */
export function spawnCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Captured> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, ENTRY, ...args],
      { cwd: options.cwd, env: { ...process.env, ...options.env }, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, out: stdout, err: stderr });
      },
    );
  });
}
