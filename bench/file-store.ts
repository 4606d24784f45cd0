/**
 * Micro-benchmark of FileStore's read path: reads N chunk files through FileStore.read vs plain
 * fs.readFile / fs.promises.readFile in the same run (interleaved rounds, medians) and prints MB/s
 * and ratios. `legacy` is a verbatim copy of the pre-optimisation read (FileHandle promises,
 * zero-filled buffer, limiter 4), so before/after compare within one run on a noisy machine.
 *
 *   npx tsx bench/file-store.ts [--files N] [--size BYTES] [--rounds R] [--limits 4,8,16] [--variants]
 *   (node --expose-gc --import tsx bench/file-store.ts ... to GC between timed runs)
 *
 * Defaults: 512 files of 256 KiB (the 512^3 raw volume in 64^3 chunks), then the 64-file XY slice.
 * `--variants` also times the building blocks (fstat bigint vs number, zero-filled vs
 * uninitialised buffers) to show where the time goes.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Limiter } from '../src/util/limiter.js';
import { KvStoreError, throwIfAborted } from '../src/errors.js';
import { defaultFileIoLimiter, FileStore } from '../src/kvstore/file.js';
import { resolveByteRange } from '../src/kvstore/kvstore.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const FILES = arg('files', 512);
const SIZE = arg('size', 256 * 1024);
const ROUNDS = arg('rounds', 7);
const VARIANTS = process.argv.includes('--variants');
const LIMITS = (process.argv.includes('--limits') ? process.argv[process.argv.indexOf('--limits') + 1]! : '4,8,16,32,Infinity')
  .split(',')
  .map(Number);

type Reader = (keys: readonly string[]) => Promise<number>;

/** The read path before this change, kept verbatim (minus the conditions) as the baseline. */
async function legacyRead(root: string, limiter: Limiter, key: string): Promise<Uint8Array> {
  const file = path.join(root, key);
  return limiter.run(async () => {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, 'r');
    } catch (e) {
      throw new KvStoreError(key, `open: ${String(e)}`);
    }
    try {
      throwIfAborted(undefined);
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) throw new Error('not a file');
      void `${st.dev.toString(36)}.${st.ino.toString(36)}.${st.mtimeNs.toString(36)}.${st.size.toString(36)}`;
      const size = Number(st.size);
      const [start, end] = resolveByteRange(key, undefined, size);
      const value = new Uint8Array(end - start);
      let filled = 0;
      while (filled < value.length) {
        const { bytesRead } = await fh.read(value, filled, value.length - filled, start + filled);
        if (bytesRead === 0) throw new KvStoreError(key, 'shrank');
        filled += bytesRead;
      }
      return value;
    } finally {
      await fh.close().catch(() => {});
    }
  });
}

const cb =
  <T>(f: (done: (e: NodeJS.ErrnoException | null, v: T) => void) => void) =>
  () =>
    new Promise<T>((res, rej) => f((e, v) => (e ? rej(e) : res(v))));

/** open + fstat(opts) + read into alloc(n) + close, callback API in small promises. */
function blockRead(
  root: string,
  limiter: Limiter,
  statBig: boolean,
  alloc: (n: number) => Uint8Array,
): (key: string) => Promise<Uint8Array> {
  return (key) =>
    limiter.run(async () => {
      const fd = await cb<number>((d) => fs.open(path.join(root, key), 'r', d))();
      try {
        const st = statBig
          ? await cb<fs.BigIntStats>((d) => fs.fstat(fd, { bigint: true }, d))()
          : await cb<fs.Stats>((d) => fs.fstat(fd, d))();
        const n = Number(st.size);
        const buf = alloc(n);
        let filled = 0;
        while (filled < n) {
          const r = await cb<number>((d) => fs.read(fd, buf, filled, n - filled, filled, d))();
          if (r === 0) throw new Error('shrank');
          filled += r;
        }
        return buf;
      } finally {
        await cb<void>((d) => fs.close(fd, (e) => d(e, undefined)))();
      }
    });
}

/** Same as blockRead(bigint, unsafe) but through FileHandle promises. */
function handleRead(root: string, limiter: Limiter): (key: string) => Promise<Uint8Array> {
  return (key) =>
    limiter.run(async () => {
      const fh = await fsp.open(path.join(root, key), 'r');
      try {
        const st = await fh.stat({ bigint: true });
        const n = Number(st.size);
        const buf = Buffer.allocUnsafeSlow(n);
        let filled = 0;
        while (filled < n) {
          const { bytesRead } = await fh.read(buf, filled, n - filled, filled);
          if (bytesRead === 0) throw new Error('shrank');
          filled += bytesRead;
        }
        return buf;
      } finally {
        await fh.close();
      }
    });
}

function all(read: (key: string) => Promise<Uint8Array>): Reader {
  return async (keys) => {
    const bufs = await Promise.all(keys.map(read));
    return bufs.reduce((a, b) => a + b.length, 0);
  };
}

async function main(): Promise<void> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'volstore-fsbench-'));
  try {
    const keys: string[] = [];
    const data = new Uint8Array(SIZE).map((_, i) => (i * 31) & 0xff);
    for (let i = 0; i < FILES; i++) {
      const key = `c/${i >> 6}/${(i >> 3) & 7}/${i & 7}`;
      await fsp.mkdir(path.dirname(path.join(root, key)), { recursive: true });
      await fsp.writeFile(path.join(root, key), data);
      keys.push(key);
    }
    const store = (limit?: number) => new FileStore(root, limit ? new Limiter(limit) : undefined);
    const subsets = FILES > 64 ? [keys, keys.slice(0, 64)] : [keys];
    const viaStore = (s: FileStore): Reader =>
      all(async (k) => {
        const r = await s.read(k);
        if (r.state !== 'value') throw new Error(`missing ${k}`);
        return r.value;
      });
    const contenders: [string, Reader][] = [
      ['fs.readFile', all((k) => cb<Buffer>((d) => fs.readFile(path.join(root, k), d))())],
      ['fs.promises.readFile', all((k) => fsp.readFile(path.join(root, k)))],
      ['legacy FileStore.read (lim 4)', all((k) => legacyRead(root, new Limiter(4), k))],
      [`FileStore.read (default lim ${defaultFileIoLimiter().limit})`, viaStore(store())],
    ];
    for (const lim of LIMITS) contenders.push([`FileStore.read lim ${lim}`, viaStore(store(lim))]);
    if (VARIANTS) {
      const lim = new Limiter(16);
      const lim4 = new Limiter(4);
      const zeroed = (n: number) => new Uint8Array(n);
      const unsafe = (n: number) => Buffer.allocUnsafeSlow(n);
      contenders.push(
        ['cb lim16 bigint stat, zeroed', all(blockRead(root, lim, true, zeroed))],
        ['cb lim16 bigint stat, unsafe', all(blockRead(root, lim, true, unsafe))],
        ['FileHandle lim16 bigint stat, unsafe', all(handleRead(root, lim))],
        ['cb lim16 number stat, unsafe', all(blockRead(root, lim, false, unsafe))],
        ['cb lim4 bigint stat, unsafe', all(blockRead(root, lim4, true, unsafe))],
        ['FileHandle lim4 bigint stat, unsafe', all(handleRead(root, lim4))],
      );
    }

    const gc = (globalThis as { gc?: () => void }).gc;
    for (const subset of subsets) {
      // Small sets take milliseconds: more rounds for a stable median.
      const rounds = subset.length <= 64 ? ROUNDS * 5 : ROUNDS;
      const times = new Map<string, number[]>(contenders.map(([n]) => [n, []]));
      let bytes = 0;
      for (let round = -1; round < rounds; round++) {
        // Rotate the order every round so no contender always runs right after another.
        for (let j = 0; j < contenders.length; j++) {
          const [name, read] = contenders[(j + round + 1) % contenders.length]!;
          gc?.();
          const t0 = performance.now();
          bytes = await read(subset);
          const ms = performance.now() - t0;
          if (round >= 0) times.get(name)!.push(ms);
        }
      }
      const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
      const base = median(times.get('fs.readFile')!);
      console.log(`\n${subset.length} files x ${SIZE} B = ${(bytes / 1e6).toFixed(1)} MB, ${rounds} rounds, median (gc: ${gc ? 'yes' : 'no'})`);
      console.log(`${'contender'.padEnd(40)} ${'ms'.padStart(8)} ${'MB/s'.padStart(8)} ${'vs readFile'.padStart(12)}`);
      for (const [name] of contenders) {
        const ms = median(times.get(name)!);
        console.log(`${name.padEnd(40)} ${ms.toFixed(1).padStart(8)} ${(bytes / 1e3 / ms).toFixed(0).padStart(8)} ${(base / ms).toFixed(2).padStart(11)}x`);
      }
    }
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
  }
}

await main();
