/**
 * Cross-process exclusive locks for FileStore keys (Node only), so that "check the generation,
 * then rename" is atomic against other processes too (POSIX has no compare-and-rename).
 *
 * The lock of `<dir>/<name>` is the file `<dir>/.volstore-tmp-lock-<name>` (hashed when the name
 * is long), created with O_CREAT|O_EXCL: whoever creates it holds the lock; unlinking it releases
 * it. Node has no flock/fcntl locks (which the kernel would drop when a holder dies, as
 * TensorStore's file driver relies on), so a lock left by a crashed writer is recovered:
 *
 * - the lock file records `{pid, host, token, created}`; a lock of a process on this host that
 *   no longer exists, or of this very process but not held by it, is stale at once;
 * - any lock whose file is older than {@link LOCK_STALE_MS} is stale (a holder keeps it for a
 *   stat and a rename, i.e. microseconds; this also covers writers on other hosts sharing the
 *   directory over NFS);
 * - a stale lock is removed under a second O_EXCL "breaker" file, after re-reading it and seeing
 *   the same owner token, so two processes breaking the same stale lock cannot remove a fresh
 *   lock a third one took in between. A breaker older than {@link BREAKER_STALE_MS} (a process
 *   that died inside the few syscalls it is held for) is removed directly.
 *
 * A holder that was itself judged stale (stopped for longer than LOCK_STALE_MS) notices before
 * it publishes: {@link FileLock.check} sees its lock file unlinked and throws.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { KvStoreError, throwIfAborted } from '../errors.js';
import type { Limiter } from '../util/limiter.js';

/** A lock whose file is older than this (ms) is taken to be abandoned. */
export const LOCK_STALE_MS = 30_000;
/** A breaker file older than this (ms) is taken to be abandoned. */
export const BREAKER_STALE_MS = 10_000;

/** The lock file of `file`: `<dir>/<tempPrefix>lock-<name>` (the name hashed when long), inside FileStore's temporary-file namespace, so never listed. */
export function lockPathOf(file: string, tempPrefix: string): string {
  const name = path.basename(file);
  const plain = `${tempPrefix}lock-${name}`;
  // Leave room for the breaker suffix within NAME_MAX (255 bytes).
  const short = Buffer.byteLength(plain) <= 240 ? plain : `${tempPrefix}lock-h-${createHash('sha256').update(name).digest('hex')}`;
  return path.join(path.dirname(file), short);
}

interface Owner {
  pid: number;
  host: string;
  token: string;
  created: number;
}

/** Tokens of the locks this process holds right now. */
const held = new Set<string>();
const HOST = hostname();

/** A held lock: verify it is still ours, then release it. */
export interface FileLock {
  /** Throws KvStoreError if the lock was broken (its file unlinked or replaced) while held. */
  check(): Promise<void>;
  /** Releases the lock (removes its file if it is still ours). Never throws. */
  release(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) === 'EPERM'; // exists, owned by another user
  }
}

/**
 * Takes the lock of `file`, waiting (backing off from 1 to 50 ms) while another live process
 * holds it. Each filesystem call runs in its own `limiter` slot (none is held while waiting).
 * `key` names the key in errors. Throws AbortError when `signal` fires while waiting,
 * KvStoreError (ENOENT included: the caller creates the directory first) for other failures.
 */
export async function acquireFileLock(file: string, key: string, tempPrefix: string, limiter: Limiter, signal?: AbortSignal): Promise<FileLock> {
  const lockPath = lockPathOf(file, tempPrefix);
  const owner: Owner = { pid: process.pid, host: HOST, token: randomBytes(12).toString('hex'), created: Date.now() };
  const body = JSON.stringify(owner);
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(signal);
    const fh = await limiter.run(async () => {
      let h: fsp.FileHandle;
      try {
        h = await fsp.open(lockPath, 'wx');
      } catch (e) {
        if (errnoOf(e) === 'EEXIST') return undefined;
        throw fail(key, 'create lock', e);
      }
      try {
        await h.writeFile(body);
      } catch (e) {
        await h.close().catch(() => {});
        await fsp.unlink(lockPath).catch(() => {});
        throw fail(key, 'write lock', e);
      }
      return h;
    }, signal);
    if (fh) {
      held.add(owner.token);
      const ino = (await fh.stat()).ino;
      return {
        check: async () => {
          const st = await fsp.stat(lockPath).catch(() => undefined);
          if (!st || st.ino !== ino) {
            throw new KvStoreError(key, `the lock ${lockPath} was taken from this writer (held over ${LOCK_STALE_MS} ms?); nothing was written`);
          }
        },
        release: async () => {
          held.delete(owner.token);
          try {
            const st = await fsp.stat(lockPath).catch(() => undefined);
            if (st && st.ino === ino) await fsp.unlink(lockPath).catch(() => {});
          } finally {
            await fh.close().catch(() => {});
          }
        },
      };
    }
    if (await limiter.run(() => isStale(lockPath), signal)) {
      await limiter.run(() => breakLock(lockPath), signal);
      continue;
    }
    await sleep(Math.min(50, 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()));
  }
}

/** Reads a lock's owner and age; undefined when it no longer exists. */
async function inspect(lockPath: string): Promise<{ owner: Owner | undefined; ageMs: number; text: string; ino: number } | undefined> {
  try {
    const [st, text] = await Promise.all([fsp.stat(lockPath), fsp.readFile(lockPath, 'utf8')]);
    let owner: Owner | undefined;
    try {
      const j = JSON.parse(text) as Partial<Owner>;
      if (typeof j.pid === 'number' && typeof j.host === 'string' && typeof j.token === 'string') owner = j as Owner;
    } catch {
      // being written right now, or garbage: judged by age alone
    }
    return { owner, ageMs: Date.now() - st.mtimeMs, text, ino: st.ino };
  } catch {
    return undefined;
  }
}

function staleOwner(info: { owner: Owner | undefined; ageMs: number }): boolean {
  if (info.ageMs > LOCK_STALE_MS) return true;
  const o = info.owner;
  if (!o || o.host !== HOST) return false;
  if (o.pid === process.pid) return !held.has(o.token);
  return !isAlive(o.pid);
}

async function isStale(lockPath: string): Promise<boolean> {
  const info = await inspect(lockPath);
  return info !== undefined && staleOwner(info);
}

/** Removes a stale lock under the breaker file, if it is still the same stale lock. */
async function breakLock(lockPath: string): Promise<void> {
  const breaker = `${lockPath}.break`;
  let h: fsp.FileHandle;
  try {
    h = await fsp.open(breaker, 'wx');
  } catch (e) {
    if (errnoOf(e) !== 'EEXIST') return;
    const st = await fsp.stat(breaker).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > BREAKER_STALE_MS) await fsp.unlink(breaker).catch(() => {});
    return;
  }
  try {
    const info = await inspect(lockPath);
    if (info && staleOwner(info)) {
      // Still the lock judged stale (a new holder would have a new token and a fresh age).
      await fsp.unlink(lockPath).catch(() => {});
    }
  } finally {
    await h.close().catch(() => {});
    await fsp.unlink(breaker).catch(() => {});
  }
}

function fail(key: string, op: string, e: unknown): KvStoreError {
  const code = errnoOf(e) ?? 'error';
  return new KvStoreError(key, `file ${op} failed (${code}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}
