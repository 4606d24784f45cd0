/**
 * Local filesystem store (Node only). Keys are `/`-separated paths relative to a root
 * directory; each key is one file.
 *
 * - Writes are atomic: bytes go to a temporary file in the target's directory (named
 *   `.volstore-tmp-<pid>-<random>-<counter>`, never listed), then `rename()` replaces the target,
 *   so a reader sees the old value or the new one, never a mix.
 * - Generations are `dev.ino.mtimeNs.size` of the file (see {@link FileStore.write} on why they
 *   cannot repeat).
 * - Conditional writes are atomic across processes: every write that replaces a file, every
 *   `ifEqual: <generation>` write and every delete that may remove something takes the key's
 *   lock (`.volstore-tmp-lock-<name>`, a symbolic link made atomically; see `file-lock.ts`, also
 *   for how a lock left by a crashed writer is recovered) and checks the generation and renames
 *   (or unlinks) under it. A write
 *   creating a key that does not exist (no condition, or `ifEqual: ''`) needs no lock: `link()`
 *   creates it only if nothing is there, atomically. Within a process, writes to one path also
 *   queue on an in-process lock first.
 * - Writes and deletes never go through a symbolic link that leads out of the root (KvStoreError):
 *   each one resolves its directory (`realpath`) before it creates anything, so a link swapped
 *   in before it started is refused (not cached: a directory moved out of the root and linked
 *   back keeps its inode, so no cheaper check tells). Reads may follow links (a store may link
 *   to data kept elsewhere).
 * - Every filesystem operation runs under a {@link Limiter} (TensorStore's `file_io_concurrency`;
 *   see {@link defaultFileIoConcurrency} for the default when none is given).
 * - Reads use the callback `fs` API (open, fstat, pread, close; no FileHandle objects) and fill
 *   an uninitialised buffer (see {@link FileStore.read}).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { BigIntStats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { Limiter } from '../util/limiter.js';
import { errnoOf, fileError as wrap, generationOf, isMissing, shrankError } from './file-common.js';
import { acquireFileLock, type FileLock } from './file-lock.js';
import { KvStoreError, SpecError, throwIfAborted, VolstoreError } from '../errors.js';
import {
  type KvStore,
  type LocalFile,
  type ListOptions,
  NO_GENERATION,
  type ReadOptions,
  type ReadResult,
  resolveByteRange,
  type WriteOptions,
  type WriteResult,
} from './kvstore.js';

/** Name prefix of in-flight temporary files; keys with a segment starting with it are refused. */
export const TEMP_PREFIX = '.volstore-tmp-';

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /**
   * Bounds concurrent filesystem operations. Default: one limiter shared by the process, with
   * {@link defaultFileIoConcurrency} slots.
   */
  limiter?: Limiter;
  /** fsync the file before rename and the directory after. Default false (rename is still atomic). */
  fsync?: boolean;
}

/** libuv's threadpool size: `UV_THREADPOOL_SIZE` (read by libuv at first use), default 4. */
function uvThreadpoolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
}

/**
 * Default `file_io_concurrency` for FileStore: max(cores, 8 x libuv threadpool size), at most
 * 256 (so 32 with the default pool of 4 threads).
 *
 * Why higher than TensorStore's max(4, cores): there each slot is a thread doing a blocking
 * open + read + close. In Node a slot is an async operation that hops between libuv's pool
 * (each fs call) and the main thread (each callback), so with as many slots as pool threads the
 * pool idles while callbacks run and the pool is never fully fed. Measured with
 * bench/file-store.ts (64 and 512 files of 256 KiB, 2 cores, 4 pool threads), as a fraction of
 * `fs.readFile` with no limit: 4 slots 0.68-0.82x, 8 0.85-0.97x, 16 0.91-0.98x, 32 1.0-1.1x,
 * 64 no better than 32. A slot holds at most one open descriptor, so this also bounds open fds.
 */
export function defaultFileIoConcurrency(): number {
  return Math.min(256, Math.max(availableParallelism(), 8 * uvThreadpoolSize()));
}

let defaultLimiter: Limiter | undefined;
/** The process-wide default `file_io_concurrency` limiter ({@link defaultFileIoConcurrency}). */
export function defaultFileIoLimiter(): Limiter {
  return (defaultLimiter ??= new Limiter(defaultFileIoConcurrency()));
}

/** Per-path locks shared by every FileStore in the process (two stores may share a root). */
const pathLocks = new Map<string, Promise<void>>();
let tempCounter = 0;
/** This process's id and a random tag: temporary names are `<prefix><pid>-<tag>-<counter>`. */
const PID = process.pid;
const TEMP_TAG = randomBytes(6).toString('hex');
/** Largest mtime (ns) given to a file written by this process; keeps generations unique. */
let lastMtimeNs = 0n;

/**
 * A store on the local file system (Node only): one file per key under a root directory,
 * atomic writes (temporary file + rename), generations from mtime and size.
 *
 * ```ts
 * import { FileStore } from 'volstore/node';
 * const store = new FileStore('/data/em.zarr');
 * ```
 */
export class FileStore implements KvStore {
  readonly readOnly = false;
  /** Merged reads up to 1 MiB: see KvStore.coalesceLimit (measured with bench zarr3-file). */
  readonly coalesceLimit = 1 << 20;
  /**
   * Gaps bridged in merged shard reads: 256 KiB, the value the local sharded reads of the
   * zarr3-file bench were measured with (the cloud thresholds of src/sharding/coalesce.ts were
   * measured for request latency, which local reads do not have).
   */
  readonly coalesceGap = 256 * 1024;
  /** Absolute root directory, without trailing `/` (except for `/` itself). */
  readonly root: string;
  readonly limiter: Limiter;
  private readonly fsync: boolean;
  /** realpath(root), once the root exists. */
  private rootReal: string | undefined;

  /**
   * @param root absolute directory; created on first write if missing.
   * @param options a {@link Limiter} or {@link FileStoreOptions}.
   * @throws SpecError when `root` is not absolute or contains NUL.
   */
  constructor(root: string, options: Limiter | FileStoreOptions = {}) {
    if (typeof root !== 'string' || !path.isAbsolute(root) || root.includes('\0')) {
      throw new SpecError('path', `file store root must be an absolute path, got ${JSON.stringify(root)}`);
    }
    this.root = path.resolve(root);
    const opts = options instanceof Limiter ? { limiter: options } : options;
    this.limiter = opts.limiter ?? defaultFileIoLimiter();
    this.fsync = opts.fsync ?? false;
  }

  private get rootSlash(): string {
    return this.root.endsWith('/') ? this.root : `${this.root}/`;
  }

  get url(): string {
    return `file://${this.rootSlash}`;
  }

  spec(): Record<string, unknown> {
    return { driver: 'file', path: this.rootSlash };
  }

  /**
   * Reads one file (or a byte range of it). One open, one `fstat` of that same descriptor (so the
   * generation describes exactly the bytes returned), `pread`s of only the requested range into
   * an uninitialised buffer (every byte is overwritten before it is returned; a short read is an
   * error), one close, all under one limiter slot.
   *
   * Performance notes (bench/file-store.ts): a zero-filled 256 KiB `new Uint8Array(n)` comes
   * from calloc, i.e. fresh pages faulted in on every chunk (~45 us vs ~11 us for
   * `Buffer.allocUnsafeSlow`, whose memory malloc reuses), the biggest per-chunk cost after the
   * copy itself. The callback API avoids a FileHandle object per read; against FileHandle
   * promises it measured within noise. A `bigint` fstat costs the same as a number one (the
   * syscall dominates), so the generation keeps nanosecond mtimes.
   */
  async read(key: string, options: ReadOptions = {}): Promise<ReadResult> {
    const file = this.pathOf(key);
    const { signal } = options;
    return this.io(signal, async () => {
      throwIfAborted(signal);
      let fd: number;
      try {
        fd = await fdOpen(file);
      } catch (e) {
        if (isMissing(e)) return checkConditions(options, NO_GENERATION) ?? missing();
        throw wrap(key, 'open', e);
      }
      try {
        throwIfAborted(signal);
        let st: BigIntStats;
        try {
          st = await fdStat(fd);
        } catch (e) {
          throw wrap(key, 'stat', e);
        }
        // A directory opens fine on Linux; it is not a value.
        const generation = st.isFile() ? generationOf(st) : NO_GENERATION;
        const unchanged = checkConditions(options, generation);
        if (unchanged) return unchanged;
        if (!st.isFile()) return missing();
        const size = Number(st.size);
        const [start, end] = resolveByteRange(key, options.byteRange, size);
        const n = end - start;
        // Uninitialised and unpooled (exact byteLength); exposed as a plain Uint8Array so that
        // callers' `.slice()` copies (Buffer#slice would alias).
        const given = n === 0 ? undefined : options.buffer?.(n);
        const value = n === 0 ? new Uint8Array(0) : given && given.length >= n ? given.subarray(0, n) : new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
        let filled = 0;
        while (filled < n) {
          throwIfAborted(signal);
          let bytesRead: number;
          try {
            bytesRead = await fdRead(fd, value, filled, Math.min(n - filled, MAX_READ), start + filled);
          } catch (e) {
            throw wrap(key, 'read', e);
          }
          if (bytesRead === 0) {
            throw shrankError(key, size);
          }
          filled += bytesRead;
        }
        throwIfAborted(signal); // also when the signal fired during the last read
        return { state: 'value', value, generation, size };
      } finally {
        await fdClose(fd);
      }
    }, options.priority);
  }

  /** See KvStore.localFile: the validated path of `key`'s file (which may not exist). */
  localFile(key: string): LocalFile {
    return { path: this.pathOf(key), maxConcurrent: this.limiter.limit };
  }

  /**
   * Writes atomically: the bytes go to a temporary file in the key's directory, which then
   * replaces the key by `rename()` (or appears at it by `link()`), so readers see the old value
   * or the new one, never a mix. Parent directories are created as needed.
   *
   * 1. In one limiter slot: the key's directory is checked (a directory on the way that is a
   *    symbolic link leading out of the root is refused: KvStoreError), the temporary file
   *    created (O_EXCL), written, given an mtime of the current time in microseconds (above
   *    every mtime this process gave before), stat'ed and closed (descriptor calls, no
   *    FileHandle).
   * 2. A write with no condition, or `ifEqual: ''`, first tries `link()`: it creates the key
   *    atomically only if nothing is there, so it needs no lock (nothing is replaced, and no
   *    conditional writer can be between its check and its rename of an existing file, which
   *    stays there while it holds the lock). `ifEqual: ''` ends here (EEXIST: `{ ok: false }`).
   * 3. Otherwise (the key exists, or `ifEqual` names a generation) the key's cross-process lock
   *    is taken (`file-lock.ts`), then, in one limiter slot: the current file is stat'ed, the
   *    condition checked, the temporary file's mtime raised above the current file's if needed,
   *    and the temporary file renamed over the key. So a conditional write is atomic against
   *    every other volstore process writing or deleting that key, not only within this process.
   *
   * Syscalls (strace, Linux): a new key: realpath (one readlink per path component), open,
   * write, futimes, fstat, close, link, unlink (11 for `c/0/0` under `/tmp/x/`, 18 before the
   * lock-free create); an existing key: the same up to close, then link (EEXIST), symlink
   * (lock), stat, readlink, rename, readlink, unlink (16). `ifEqual: <generation>` does a stat
   * first (a condition that fails now fails later too: generations never repeat) and no link.
   *
   * Why generations (`dev.ino.mtimeNs.size`) cannot repeat: the new file is a new inode, so it
   * differs from the file it replaces; an older inode can be reused, but never with an mtime as
   * old as before: every file replacing another gets a later mtime (checked under the lock), and
   * mtimes are set with microsecond precision rather than taken from the coarse kernel clock.
   *
   * Aborting before the value is published rejects with AbortError and changes nothing; no
   * temporary file is left behind by a failed or aborted write (a crash may leave one, which is
   * never listed). With `fsync`, the file is synced before it is published and the directory
   * after.
   */
  async write(key: string, value: Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    const file = this.pathOf(key);
    const { signal, ifEqual } = options;
    const data = value.slice(); // the caller may mutate `value` while we wait for a slot
    const dir = path.dirname(file);
    const create = ifEqual === undefined || ifEqual === NO_GENERATION;
    return withPathLock(file, signal, async () => {
      // Fast path: a condition that fails now fails later too (generations never repeat).
      if (!create && (await this.io(signal, () => this.currentGeneration(key, file, signal))) !== ifEqual) {
        return { ok: false };
      }
      let tmp: TempFile | undefined;
      let result: WriteResult | undefined;
      let tmpGone = false; // renamed (or never made)
      try {
        result = await this.io(signal, async () => {
          tmp = await this.writeTemp(key, dir, data, signal);
          if (!create) return undefined;
          throwIfAborted(signal);
          if (await linkNew(key, tmp.path, file)) return { ok: true, generation: tmp.generation };
          if (ifEqual === NO_GENERATION) {
            if (await isDirectory(file)) throw new KvStoreError(key, 'file link failed (EEXIST): a directory sits at the key');
            return { ok: false };
          }
          return undefined; // the key exists: replace it under the lock
        });
        if (!result) {
          const t = tmp!;
          const lock = await acquireFileLock(file, key, TEMP_PREFIX, this.limiter, signal);
          try {
            result = await this.io(signal, async () => {
              let cur = await this.currentStat(key, file);
              if (ifEqual !== undefined && (cur ? generationOf(cur) : NO_GENERATION) !== ifEqual) return { ok: false };
              if (!cur) {
                // Gone since the link failed (deleted under its lock): create it, unless an
                // unlocked writer has linked a file there meanwhile, which then stays put
                // (replacing and deleting need the lock we hold): replace it in order.
                throwIfAborted(signal);
                await lock.check();
                if (await linkNew(key, t.path, file)) return { ok: true, generation: t.generation };
                cur = await this.currentStat(key, file);
              }
              let generation = t.generation;
              if (cur && cur.mtimeNs >= t.mtimeNs) generation = await this.setMtime(key, t.path, cur.mtimeNs + 1000n);
              throwIfAborted(signal);
              await lock.check();
              await fsp.rename(t.path, file).catch((e) => {
                throw wrap(key, 'rename', e);
              });
              tmpGone = true;
              return { ok: true, generation };
            });
          } finally {
            await lock.release();
          }
        }
      } finally {
        // After link this removes the extra name; after a failure, the temporary file.
        if (tmp && !tmpGone) await fsp.unlink(tmp.path).catch(() => {});
      }
      if (result.ok && this.fsync) await this.io(signal, () => syncDir(dir));
      return result;
    });
  }

  /** Deletes under the key's cross-process lock (see {@link write}); refuses symlinked directories leaving the root. */
  async delete(key: string, options: WriteOptions = {}): Promise<boolean> {
    const file = this.pathOf(key);
    const { signal, ifEqual } = options;
    const dir = path.dirname(file);
    return withPathLock(file, signal, async () => {
      if (ifEqual !== undefined && (await this.io(signal, () => this.currentGeneration(key, file, signal))) !== ifEqual) return false;
      if (ifEqual === NO_GENERATION) return true; // already missing
      const inside = await this.io(signal, () => this.checkInsideRoot(key, dir));
      if (!inside) return ifEqual === undefined; // no directory, so no file (and nothing to lock)
      let lock: FileLock;
      try {
        lock = await acquireFileLock(file, key, TEMP_PREFIX, this.limiter, signal);
      } catch (e) {
        // The directory vanished (a concurrent deleteRange): the key is missing.
        if (e instanceof KvStoreError && isMissing(e.cause)) return ifEqual === undefined;
        throw e;
      }
      try {
        return await this.io(signal, async () => {
          if (ifEqual !== undefined) {
            const cur = await this.currentStat(key, file);
            if ((cur ? generationOf(cur) : NO_GENERATION) !== ifEqual) return false;
          }
          throwIfAborted(signal);
          await lock.check();
          try {
            await fsp.unlink(file);
          } catch (e) {
            // EISDIR/EPERM: a directory sits at the key, which reads as missing.
            if (!isMissing(e) && !(await isDirectory(file))) throw wrap(key, 'unlink', e);
          }
          return true;
        });
      } finally {
        await lock.release();
      }
    });
  }

  /** Deletes every key starting with `prefix`, then removes the directories that became empty. */
  async deleteRange(prefix: string, options: ListOptions = {}): Promise<void> {
    const { signal } = options;
    const keys: string[] = [];
    for await (const k of this.list(prefix, { signal })) keys.push(k);
    const dirs = new Set<string>();
    await Promise.all(
      keys.map(async (k) => {
        await this.delete(k, { signal });
        dirs.add(path.dirname(this.pathOf(k)));
      }),
    );
    // Deepest first, climbing toward (never removing) the root; stop at the first non-empty one.
    const sorted = [...dirs].sort((a, b) => b.length - a.length);
    const removed = new Set<string>();
    for (let dir of sorted) {
      while (dir !== this.root && dir.startsWith(this.rootSlash) && !removed.has(dir)) {
        throwIfAborted(signal);
        const ok = await this.limiter.run(
          () => fsp.rmdir(dir).then(
            () => true,
            () => false, // ENOTEMPTY (e.g. a concurrent write), ENOENT: leave it
          ),
          signal,
        );
        if (!ok) break;
        removed.add(dir);
        dir = path.dirname(dir);
      }
    }
  }

  /** Walks only the directory named by `prefix`'s directory part; skips temporary files. */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<string> {
    const { signal } = options;
    throwIfAborted(signal);
    const slash = prefix.lastIndexOf('/');
    const dirPart = prefix.slice(0, slash + 1); // '' or 'a/b/'
    const namePrefix = prefix.slice(slash + 1);
    if (prefix.includes('\\') || prefix.includes('\0') || (dirPart && !validSegments(dirPart.slice(0, -1)))) {
      throw new KvStoreError(prefix, 'invalid list prefix: it must be a relative "/"-separated path inside the root');
    }
    const stack: string[] = [dirPart];
    let top = true;
    while (stack.length) {
      const rel = stack.pop()!;
      throwIfAborted(signal);
      const dirPath = path.join(this.root, rel);
      let entries: import('node:fs').Dirent[];
      try {
        entries = await this.limiter.run(() => fsp.readdir(dirPath, { withFileTypes: true }), signal);
      } catch (e) {
        if (isMissing(e)) entries = [];
        else if (e instanceof VolstoreError) throw e;
        else throw wrap(rel || prefix, 'readdir', e);
      }
      for (const ent of entries) {
        if (top && !ent.name.startsWith(namePrefix)) continue;
        if (ent.name.startsWith(TEMP_PREFIX) || ent.name.includes('\\')) continue;
        const relKey = rel + ent.name;
        let isDir = ent.isDirectory();
        let isFile = ent.isFile();
        if (ent.isSymbolicLink()) {
          // Follow links to files; never descend into linked directories (cycles).
          const st = await this.limiter.run(() => fsp.stat(path.join(this.root, relKey)), signal).catch(() => undefined);
          isFile = st?.isFile() ?? false;
          isDir = false;
        }
        if (isDir) stack.push(`${relKey}/`);
        else if (isFile) yield relKey;
      }
      top = false;
    }
  }

  /** Maps a key to its absolute path, refusing anything that could leave the root. */
  private pathOf(key: string): string {
    if (typeof key !== 'string' || key === '') throw new KvStoreError(String(key), 'invalid key: empty');
    if (key.includes('\0') || key.includes('\\')) {
      throw new KvStoreError(key, 'invalid key: NUL and backslash are not allowed');
    }
    if (key.startsWith('/')) throw new KvStoreError(key, 'invalid key: absolute paths are not allowed');
    if (!validSegments(key)) {
      throw new KvStoreError(key, `invalid key: empty, ".", ".." or "${TEMP_PREFIX}*" path segment`);
    }
    const full = path.resolve(this.root, key);
    if (!full.startsWith(this.rootSlash)) throw new KvStoreError(key, 'invalid key: escapes the store root');
    return full;
  }

  /** Runs `fn` under the I/O limiter. */
  private io<T>(signal: AbortSignal | undefined, fn: () => Promise<T>, priority?: ReadOptions['priority']): Promise<T> {
    throwIfAborted(signal);
    return this.limiter.run(fn, signal, priority);
  }

  private async currentGeneration(key: string, file: string, signal: AbortSignal | undefined): Promise<string> {
    throwIfAborted(signal);
    const st = await this.currentStat(key, file);
    return st ? generationOf(st) : NO_GENERATION;
  }

  /** The stat of the file at `file`; undefined when missing or not a regular file. */
  private async currentStat(key: string, file: string): Promise<BigIntStats | undefined> {
    try {
      const st = await fsp.stat(file, { bigint: true });
      return st.isFile() ? st : undefined;
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw wrap(key, 'stat', e);
    }
  }

  /** Sets the mtime of `file` to `mtimeNs` (microsecond precision); returns its new generation. */
  private async setMtime(key: string, file: string, mtimeNs: bigint): Promise<string> {
    try {
      await fsp.utimes(file, new Date(), nsToSeconds(mtimeNs));
      const st = await fsp.stat(file, { bigint: true });
      if (st.mtimeNs > lastMtimeNs) lastMtimeNs = st.mtimeNs;
      return generationOf(st);
    } catch (e) {
      throw wrap(key, 'utimes', e);
    }
  }

  /**
   * The real path of the root (symbolic links in the root's own path are the user's choice),
   * creating the root when `create` is set; undefined when it does not exist.
   */
  private async realRoot(key: string, create: boolean): Promise<string | undefined> {
    if (this.rootReal) return this.rootReal;
    try {
      if (create) await fsp.mkdir(this.root, { recursive: true });
      this.rootReal = await fsp.realpath(this.root);
    } catch (e) {
      if (!create && isMissing(e)) return undefined;
      throw wrap(key, 'realpath', e);
    }
    return this.rootReal;
  }

  /**
   * Whether `dir` exists (false: missing), throwing KvStoreError when it, or the deepest of its
   * ancestors that exists, resolves (through symbolic links) outside the root.
   */
  private async checkInsideRoot(key: string, dir: string, create = false): Promise<boolean> {
    const root = await this.realRoot(key, create);
    if (root === undefined) return false;
    for (let d = dir, exists = true; ; d = path.dirname(d), exists = false) {
      let real: string;
      try {
        real = await fsp.realpath(d);
      } catch (e) {
        if (isMissing(e) && d !== this.root && d.startsWith(this.rootSlash)) continue;
        throw wrap(key, 'realpath', e);
      }
      if (real !== root && !real.startsWith(root.endsWith('/') ? root : `${root}/`)) {
        throw new KvStoreError(key, `refusing to write through "${path.relative(this.root, d)}": a symbolic link leading out of the store root (to ${real})`);
      }
      return exists;
    }
  }

  /** Creates `dir` (and parents) after checking that nothing on the way leads out of the root. */
  private async mkdirInsideRoot(key: string, dir: string): Promise<void> {
    if (await this.checkInsideRoot(key, dir, true)) return;
    await fsp.mkdir(dir, { recursive: true }).catch((e) => {
      throw wrap(key, 'mkdir', e);
    });
    await this.checkInsideRoot(key, dir); // a link swapped in meanwhile
  }

  /**
   * Writes `data` to a fresh temporary file in `dir` (created after checking the directory
   * stays inside the root); returns its path, generation and mtime. On failure the file is
   * removed again.
   */
  private async writeTemp(key: string, dir: string, data: Uint8Array, signal: AbortSignal | undefined): Promise<TempFile> {
    let fd: number | undefined;
    let tmp = '';
    // A concurrent deleteRange may remove the freshly made parent; retry a few times.
    for (let attempt = 0; fd === undefined; attempt++) {
      throwIfAborted(signal);
      await this.mkdirInsideRoot(key, dir);
      tmp = path.join(dir, `${TEMP_PREFIX}${PID}-${TEMP_TAG}-${++tempCounter}`);
      try {
        fd = await fdOpenNew(tmp);
      } catch (e) {
        // EEXIST: a leftover of a crashed process with our pid and tag (practically never).
        const code = errnoOf(e);
        if ((code !== 'ENOENT' && code !== 'EEXIST') || attempt >= 5) throw wrap(key, 'open', e);
      }
    }
    try {
      let off = 0;
      while (off < data.length) {
        throwIfAborted(signal);
        off += await fdWrite(fd, data, off, data.length - off);
      }
      // The current time in microseconds, above every mtime this process gave before (reserved
      // synchronously so that parallel writes differ).
      const nowMs = performance.timeOrigin + performance.now();
      const now = BigInt(Math.round(nowMs * 1000)) * 1000n;
      const want = (lastMtimeNs = now > lastMtimeNs ? now : lastMtimeNs + 1000n);
      await fdUtimes(fd, nowMs / 1000, nsToSeconds(want));
      const st = await fdStat(fd);
      if (st.mtimeNs > lastMtimeNs) lastMtimeNs = st.mtimeNs;
      if (this.fsync) await fdSync(fd);
      const closing = fd;
      fd = undefined;
      await fdCloseChecked(closing); // close reports deferred write errors (NFS): before publishing
      return { path: tmp, generation: generationOf(st), mtimeNs: st.mtimeNs };
    } catch (e) {
      if (fd !== undefined) await fdClose(fd);
      await fsp.unlink(tmp).catch(() => {});
      throw e instanceof VolstoreError ? e : wrap(key, 'write', e);
    }
  }
}

/** A written temporary file: its path, generation and mtime (ns). */
interface TempFile {
  path: string;
  generation: string;
  mtimeNs: bigint;
}

/**
 * `link(tmp, file)`: creates `file` as a second name of the temporary file, atomically, only if
 * nothing is at `file`. True when linked, false on EEXIST; KvStoreError for other failures.
 */
async function linkNew(key: string, tmp: string, file: string): Promise<boolean> {
  try {
    await fsp.link(tmp, file);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'EEXIST') return false;
    throw wrap(key, 'link', e);
  }
}

/** Largest single read (Linux transfers at most ~2 GiB per read(2) anyway). */
const MAX_READ = 1 << 30;

// Thin promise wrappers over the callback fs API (one promise per syscall, no FileHandle).
function fdOpen(file: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, 'r', (e, fd) => (e ? reject(e) : resolve(fd))));
}
function fdStat(fd: number): Promise<BigIntStats> {
  return new Promise((resolve, reject) => fs.fstat(fd, { bigint: true }, (e, st) => (e ? reject(e) : resolve(st))));
}
function fdRead(fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, off, len, pos, (e, n) => (e ? reject(e) : resolve(n))));
}
/** Never rejects: a failed close of a read-only descriptor loses nothing. */
function fdClose(fd: number): Promise<void> {
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}
/** Creates and opens `file` for writing; fails with EEXIST if it exists (O_CREAT|O_EXCL). */
function fdOpenNew(file: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, 'wx', (e, fd) => (e ? reject(e) : resolve(fd))));
}
function fdWrite(fd: number, buf: Uint8Array, off: number, len: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, off, len, null, (e, n) => (e ? reject(e) : resolve(n))));
}
/** Sets atime and mtime (seconds since the epoch, fractional) of a descriptor (futimens). */
function fdUtimes(fd: number, atime: number, mtime: number): Promise<void> {
  return new Promise((resolve, reject) => fs.futimes(fd, atime, mtime, (e) => (e ? reject(e) : resolve())));
}
function fdSync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
}
/** Rejects when close fails: after writing, a failed close may mean lost data (NFS). */
function fdCloseChecked(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (e) => (e ? reject(e) : resolve())));
}

/**
 * `ns` (a time since the epoch, >= 0) as the seconds to pass to `utimes`/`futimes` so that the
 * file gets exactly `ns` rounded down to a microsecond. libuv splits the double into seconds and
 * nanoseconds and truncates those to microseconds; `sec + us / 1e6` is not exact in a double (a
 * step of 0.24 us near today's ~1.8e9 s), so it could land one microsecond lower, undoing a
 * 1 us mtime bump. Aiming at the middle of the microsecond leaves a margin of 0.5 us.
 */
function nsToSeconds(ns: bigint): number {
  const sec = ns / 1_000_000_000n;
  const us = (ns % 1_000_000_000n) / 1000n;
  return Number(sec) + (Number(us) + 0.5) / 1e6;
}

function missing(): ReadResult {
  return { state: 'missing', generation: NO_GENERATION };
}

/** The 'unchanged' result when a read condition is not met, else undefined. */
function checkConditions(options: ReadOptions, generation: string): ReadResult | undefined {
  if (options.ifEqual !== undefined && options.ifEqual !== generation) return { state: 'unchanged', generation };
  if (options.ifNotEqual !== undefined && options.ifNotEqual === generation) return { state: 'unchanged', generation };
  return undefined;
}

/** Segments must be non-empty, not `.`/`..`, and not look like our temporary files. */
function validSegments(rel: string): boolean {
  return rel.split('/').every((s) => s !== '' && s !== '.' && s !== '..' && !s.startsWith(TEMP_PREFIX));
}

async function isDirectory(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}


/** Serialises async work on one path within the process (FIFO). */
async function withPathLock<T>(p: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  throwIfAborted(signal);
  const prev = pathLocks.get(p) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = prev.then(() => mine);
  pathLocks.set(p, tail);
  try {
    await prev;
    throwIfAborted(signal);
    return await fn();
  } finally {
    release();
    if (pathLocks.get(p) === tail) pathLocks.delete(p);
  }
}
