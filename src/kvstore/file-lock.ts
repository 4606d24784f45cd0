/**
 * Cross-process exclusive locks for FileStore keys (Node only), so that "check the generation,
 * then rename" is atomic against other processes too (POSIX has no compare-and-rename).
 *
 * The lock of `<dir>/<name>` is `<dir>/.volstore-tmp-lock-<name>` (hashed when the name is long).
 * It is a symbolic link whose target is the owner record `<pid>.<token>@<host>` (see
 * {@link lockRecord}): `symlink()` creates it atomically with its content in one syscall and
 * fails with EEXIST when it exists, so whoever creates it holds the lock; unlinking it releases
 * it. The record is kept under 60 bytes so that ext4 stores it inside the inode (a "fast"
 * symlink: measured about half the CPU time of creating and removing an 84-byte one, which needs
 * a data block, and of an O_EXCL file written and closed). On a filesystem
 * without symbolic links (EPERM/ENOTSUP from `symlink`: FAT, some network shares) the lock is a
 * regular file created with O_CREAT|O_EXCL holding the same record (3 syscalls). Both kinds
 * exclude each other (same name) and are read by {@link readLockOwner}.
 *
 * Node has no flock/fcntl locks (which the kernel would drop when a holder dies, as
 * TensorStore's file driver relies on), so a lock left by a crashed writer is recovered:
 *
 * - a lock of a process on this host that no longer exists, or of this very process but not
 *   held by it, is stale at once;
 * - any lock older than {@link LOCK_STALE_MS} is stale (a holder keeps it for a stat and a
 *   rename, i.e. microseconds; this also covers writers on other hosts sharing the directory
 *   over NFS);
 * - a stale lock is removed under a second exclusive "breaker" entry (`<lock>.break`, made the
 *   same way), after re-reading it and seeing the same owner, so two processes breaking the same
 *   stale lock cannot remove a fresh lock a third one took in between. A breaker older than
 *   {@link BREAKER_STALE_MS} (a process that died inside the few syscalls it is held for) is
 *   removed directly.
 *
 * A holder that was itself judged stale (stopped for longer than LOCK_STALE_MS) notices before
 * it publishes: {@link FileLock.check} sees its record gone or replaced and throws.
 *
 * Cost of an uncontended lock (symbolic link kind): `symlink` to take it, `readlink` for
 * {@link FileLock.check}, `readlink` + `unlink` to release it; no descriptor is held.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { KvStoreError, throwIfAborted } from '../errors.js';
import type { Limiter } from '../util/limiter.js';

/** A lock older than this (ms) is taken to be abandoned. */
export const LOCK_STALE_MS = 30_000;
/** A breaker older than this (ms) is taken to be abandoned. */
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
  /** The host name, or `#` and a hash of it when long (see {@link lockRecord}). */
  host: string;
  token: string;
}

/** Tokens of the locks this process holds right now. */
const held = new Set<string>();

/** `host` as written in lock records: itself when short, else `#` + 96 bits of its SHA-256. */
function hostId(host: string): string {
  return Buffer.byteLength(host) <= 30 && !host.startsWith('#') ? host : `#${createHash('sha256').update(host).digest('base64url').slice(0, 16)}`;
}
const HOST = hostId(hostname());

/**
 * The owner record of a lock: `<pid>.<token>@<host>`, where `token` is unique per acquisition
 * and `host` is the host name (or a hash of it, over 30 bytes), at most 59 bytes in all.
 * Exported for tests that plant locks; `host` defaults to this host.
 */
export function lockRecord(pid: number, token: string, host?: string): string {
  return `${pid}.${token}@${host === undefined ? HOST : hostId(host)}`;
}

/** Parses a lock record; undefined when it is not one (a lock file being written, garbage). */
function parseRecord(text: string): Owner | undefined {
  const m = /^(\d+)\.([A-Za-z0-9_-]+)@(.+)$/.exec(text);
  return m ? { pid: Number(m[1]), token: m[2]!, host: m[3]! } : undefined;
}

/** A held lock: verify it is still ours, then release it. */
export interface FileLock {
  /** Throws KvStoreError if the lock was broken (its entry unlinked or replaced) while held. */
  check(): Promise<void>;
  /** Releases the lock (removes its entry if it is still ours). Never throws. */
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

/** errnos of `symlink()` on a filesystem that has no symbolic links. */
const NO_SYMLINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Creates `p` holding `body`, failing with EEXIST (rejecting with the errno error) when an entry
 * of that name exists: a symbolic link to `body`, or an O_EXCL regular file where the
 * filesystem has no symbolic links (the file is removed again if writing `body` fails).
 */
async function createExclusive(p: string, body: string): Promise<void> {
  try {
    await fsp.symlink(body, p);
    return;
  } catch (e) {
    if (!NO_SYMLINKS.has(errnoOf(e) ?? '')) throw e;
  }
  const h = await fsp.open(p, 'wx');
  try {
    await h.writeFile(body);
  } catch (e) {
    await h.close().catch(() => {});
    await fsp.unlink(p).catch(() => {});
    throw e;
  }
  await h.close();
}

/**
 * The owner record of the lock (or breaker) entry `p`: a symbolic link's target, or a regular
 * file's content; undefined when there is no such entry (or it cannot be read).
 */
export async function readLockOwner(p: string): Promise<string | undefined> {
  try {
    return await fsp.readlink(p);
  } catch (e) {
    if (errnoOf(e) !== 'EINVAL') return undefined; // EINVAL: not a symbolic link
  }
  return fsp.readFile(p, 'utf8').catch(() => undefined);
}

/**
 * Takes the lock of `file`, waiting (backing off from 1 to 50 ms) while another live process
 * holds it. Each filesystem call runs in its own `limiter` slot (none is held while waiting).
 * `key` names the key in errors. Throws AbortError when `signal` fires while waiting,
 * KvStoreError (ENOENT included: the caller creates the directory first) for other failures.
 */
export async function acquireFileLock(file: string, key: string, tempPrefix: string, limiter: Limiter, signal?: AbortSignal): Promise<FileLock> {
  const lockPath = lockPathOf(file, tempPrefix);
  const token = randomBytes(9).toString('base64url');
  const body = lockRecord(process.pid, token);
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(signal);
    const got = await limiter.run(
      () =>
        createExclusive(lockPath, body).then(
          () => true,
          (e: unknown) => {
            if (errnoOf(e) === 'EEXIST') return false;
            throw fail(key, 'create lock', e);
          },
        ),
      signal,
    );
    if (got) {
      held.add(token);
      return {
        check: async () => {
          if ((await readLockOwner(lockPath)) !== body) {
            throw new KvStoreError(key, `the lock ${lockPath} was taken from this writer (held over ${LOCK_STALE_MS} ms?); nothing was written`);
          }
        },
        release: async () => {
          held.delete(token);
          if ((await readLockOwner(lockPath)) === body) await fsp.unlink(lockPath).catch(() => {});
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

/** Reads a lock's owner record and age; undefined when it no longer exists. */
async function inspect(lockPath: string): Promise<{ owner: Owner | undefined; ageMs: number; text: string } | undefined> {
  const [st, text] = await Promise.all([fsp.lstat(lockPath).catch(() => undefined), readLockOwner(lockPath)]);
  if (!st || text === undefined) return undefined;
  // No owner: a regular-file lock being written right now, or garbage: judged by age alone.
  return { owner: parseRecord(text), ageMs: Date.now() - st.mtimeMs, text };
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

/** Removes a stale lock under the breaker entry, if it is still the same stale lock. */
async function breakLock(lockPath: string): Promise<void> {
  const breaker = `${lockPath}.break`;
  const mine = lockRecord(process.pid, randomBytes(9).toString('base64url'));
  try {
    await createExclusive(breaker, mine);
  } catch (e) {
    if (errnoOf(e) !== 'EEXIST') return;
    const st = await fsp.lstat(breaker).catch(() => undefined);
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
    await fsp.unlink(breaker).catch(() => {});
  }
}

function fail(key: string, op: string, e: unknown): KvStoreError {
  const code = errnoOf(e) ?? 'error';
  return new KvStoreError(key, `file ${op} failed (${code}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}
