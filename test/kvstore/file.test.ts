import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Limiter } from '../../src/util/limiter.js';
import { KvStoreError, SpecError } from '../../src/errors.js';
import { defaultFileIoConcurrency, defaultFileIoLimiter, FileStore, TEMP_PREFIX } from '../../src/kvstore/file.js';
import { lockRecord } from '../../src/kvstore/file-lock.js';
import { listAll } from '../../src/kvstore/kvstore.js';
import { describeKvStoreConformance } from './conformance.js';

/**
 * Test hooks on the filesystem calls FileStore makes: a passthrough mock of node:fs/promises
 * whose `rename`, `link`, `open` and `readdir` first call `hooks.before(op)` when set.
 */
const hooks = vi.hoisted(() => ({
  before: undefined as undefined | ((op: string, args: unknown[]) => Promise<void> | void),
  /** When set (seconds), every temporary file's mtime is pinned to it after each write: a frozen clock. */
  frozenMtime: undefined as undefined | number,
}));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const wrap =
    <A extends unknown[], R>(op: string, f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      await hooks.before?.(op, a);
      return f(...a);
    };
  return {
    ...real,
    default: real,
    rename: wrap('rename', real.rename),
    link: wrap('link', real.link),
    open: wrap('open', real.open),
    readdir: wrap('readdir', real.readdir as (...a: unknown[]) => Promise<unknown>),
    unlink: wrap('unlink', real.unlink),
    symlink: wrap('symlink', real.symlink),
    readlink: wrap('readlink', real.readlink as (...a: unknown[]) => Promise<unknown>),
    realpath: wrap('realpath', real.realpath as (...a: unknown[]) => Promise<unknown>),
    stat: wrap('stat', real.stat as (...a: unknown[]) => Promise<unknown>),
  };
});

/**
 * Reads and the temporary file of a write use the callback API of node:fs: `open`, `fstat`,
 * `read`, `write`, `futimes`, `fsync` and `close` go through the same hooks (`fd-` prefixed
 * for the last four). With `hooks.frozenMtime` set, `futimes` sets that mtime instead of the
 * one asked for.
 */
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const hooked =
    (op: string, f: (...a: never[]) => void) =>
    (...a: unknown[]): void => {
      const done = a[a.length - 1] as (e: unknown) => void;
      Promise.resolve()
        .then(() => hooks.before?.(op, a))
        .then(
          () => (f as (...x: unknown[]) => void)(...a),
          (e: unknown) => done(e),
        );
    };
  return {
    ...real,
    default: real,
    open: hooked('open', real.open),
    fstat: hooked('fstat', real.fstat),
    read: hooked('read', real.read),
    write: hooked('fd-write', real.write),
    futimes: hooked('fd-futimes', ((fd: number, atime: number, mtime: number, cb: (e: unknown) => void) => {
      const frozen = hooks.frozenMtime;
      real.futimes(fd, frozen ?? atime, frozen ?? mtime, cb);
    }) as never),
    fsync: hooked('fd-fsync', real.fsync),
    close: hooked('fd-close', real.close),
  };
});

const enc = (s: string) => new TextEncoder().encode(s);

/** Open file descriptors of this process (Linux), to catch leaks; undefined elsewhere. */
async function openFds(): Promise<number | undefined> {
  return fs.readdir('/proc/self/fd').then(
    (l) => l.length,
    () => undefined,
  );
}
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function tempRoot(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'volstore-file-'));
}

/** Every file (relative path) under `dir`, including temporary ones. */
async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

describeKvStoreConformance('file', async () => {
  const root = await tempRoot();
  return { store: new FileStore(root), cleanup: () => fs.rm(root, { recursive: true, force: true }) };
});

describe('FileStore', () => {
  let root: string;
  let store: FileStore;
  beforeEach(async () => {
    root = await tempRoot();
    store = new FileStore(root);
  });
  afterEach(async () => {
    hooks.before = undefined;
    hooks.frozenMtime = undefined;
    await fs.rm(root, { recursive: true, force: true });
  });

  it('url and spec name the root with a trailing slash', () => {
    expect(store.url).toBe(`file://${root}/`);
    expect(store.spec()).toEqual({ driver: 'file', path: `${root}/` });
    expect(new FileStore(`${root}/`).spec()).toEqual({ driver: 'file', path: `${root}/` });
  });

  it('defaults to a shared limiter of max(cores, 8 x libuv pool threads), capped at 256', () => {
    const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    expect(defaultFileIoConcurrency()).toBe(Math.min(256, Math.max(os.availableParallelism(), 8 * pool)));
    expect(defaultFileIoLimiter().limit).toBe(defaultFileIoConcurrency());
    expect(store.limiter).toBe(defaultFileIoLimiter());
  });

  it('refuses a relative root', () => {
    expect(() => new FileStore('relative/dir')).toThrow(SpecError);
  });

  it('stores keys as files under the root', async () => {
    await store.write('a/b/c', enc('abc'));
    expect(await fs.readFile(path.join(root, 'a/b/c'), 'utf8')).toBe('abc');
  });

  it.each([
    '../x',
    '/abs',
    'a//b',
    'a/../../b',
    'a/../b',
    'a/./b',
    '.',
    '..',
    '',
    'a/',
    'a\\b',
    '..\\x',
    'a\0b',
    `a/${TEMP_PREFIX}1`,
  ])('refuses the key %j with a KvStoreError naming it', async (key) => {
    for (const op of [
      () => store.read(key),
      () => store.write(key, enc('x')),
      () => store.delete(key),
    ]) {
      const err = await op().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KvStoreError);
      expect((err as KvStoreError).key).toBe(key);
    }
    // Nothing escaped into the parent of the root.
    await expect(fs.access(path.join(root, '..', 'x'))).rejects.toThrow();
    await expect(fs.access('/abs')).rejects.toThrow();
  });

  it('refuses list prefixes that would leave the root', async () => {
    for (const prefix of ['../', '/etc/', 'a//', 'a/../../', 'a\\']) {
      await expect(listAll(store, prefix)).rejects.toBeInstanceOf(KvStoreError);
    }
  });

  it('a directory at the key reads as missing; a file as a parent reads as missing', async () => {
    await store.write('dir/child', enc('v'));
    expect(await store.read('dir')).toEqual({ state: 'missing', generation: '' });
    expect(await store.read('dir/child/deeper')).toEqual({ state: 'missing', generation: '' });
    expect(await store.delete('dir')).toBe(true);
    expect((await store.read('dir/child')).state).toBe('value');
  });

  it('an fs error other than ENOENT is a KvStoreError naming key and errno', async () => {
    await store.write('file', enc('v'));
    const err = await store.write('file/below', enc('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvStoreError);
    expect((err as KvStoreError).key).toBe('file/below');
    expect((err as Error).message).toMatch(/E(EXIST|NOTDIR)/);
  });

  it('a successful write leaves no temporary files', async () => {
    await store.write('a/b', enc('1'));
    await store.write('a/b', enc('2'));
    await store.write('a/c', enc('3'), { ifEqual: '' });
    await store.write('a/c', enc('4'), { ifEqual: '' }); // fails: exists
    expect(await allFiles(root)).toEqual(['a/b', 'a/c']);
  });

  it('a failed write (target is a directory) throws and leaves no temporary files', async () => {
    await fs.mkdir(path.join(root, 'a/target'), { recursive: true });
    await fs.writeFile(path.join(root, 'a/target/inner'), 'x');
    await expect(store.write('a/target', enc('v'))).rejects.toBeInstanceOf(KvStoreError);
    await expect(store.write('a/target', enc('v'), { ifEqual: '' })).rejects.toBeInstanceOf(KvStoreError);
    expect(await allFiles(root)).toEqual(['a/target/inner']);
  });

  it('a write failing at rename (e.g. ENOSPC) keeps the old value and leaves no temp file', async () => {
    await store.write('k', enc('old'));
    hooks.before = (op) => {
      if (op === 'rename') throw Object.assign(new Error('no space left'), { code: 'ENOSPC' });
    };
    const err = await store.write('k', enc('new')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvStoreError);
    expect((err as Error).message).toContain('ENOSPC');
    hooks.before = undefined;
    const r = await store.read('k');
    expect(r.state === 'value' && dec(r.value)).toBe('old');
    expect(await allFiles(root)).toEqual(['k']);
  });

  it('crash safety: the old value stays readable until the rename', async () => {
    await store.write('k', enc('old value'));
    let release!: () => void;
    const paused = new Promise<void>((r) => (release = r));
    let reachedRename!: () => void;
    const atRename = new Promise<void>((r) => (reachedRename = r));
    hooks.before = async (op) => {
      if (op === 'rename') {
        reachedRename();
        await paused;
      }
    };
    const reader = new FileStore(root, new Limiter(4)); // its own limiter: the writer holds a slot
    const writing = store.write('k', enc('new value, longer'));
    await atRename;
    // The new bytes are fully on disk under a temporary name; readers still see the old value.
    const during = await reader.read('k');
    expect(during.state === 'value' && dec(during.value)).toBe('old value');
    expect((await allFiles(root)).some((f) => f.startsWith(TEMP_PREFIX))).toBe(true);
    expect(await listAll(reader, '')).toEqual(['k']);
    hooks.before = undefined;
    release();
    await writing;
    const after = await reader.read('k');
    expect(after.state === 'value' && dec(after.value)).toBe('new value, longer');
  });

  it('a leftover temporary file from a crashed writer is not listed and does not affect reads', async () => {
    await store.write('d/k', enc('v'));
    await fs.writeFile(path.join(root, 'd', `${TEMP_PREFIX}999-dead-1`), 'partial');
    expect(await listAll(store, '')).toEqual(['d/k']);
    expect(await listAll(store, 'd/')).toEqual(['d/k']);
    await store.deleteRange('d/');
    expect(await allFiles(root)).toEqual([`d/${TEMP_PREFIX}999-dead-1`]);
  });

  it('readers never see a partial value while writers replace it', async () => {
    const size = 1 << 20;
    const vals = [1, 2, 3, 4].map((b) => new Uint8Array(size).fill(b));
    await store.write('big', vals[0]!);
    let stop = false;
    const writer = (async () => {
      for (let i = 0; i < 12; i++) await store.write('big', vals[i % 4]!);
      stop = true;
    })();
    let reads = 0;
    while (!stop) {
      const r = await store.read('big');
      expect(r.state).toBe('value');
      if (r.state === 'value') {
        expect(r.value.length).toBe(size);
        expect(r.value.every((b) => b === r.value[0])).toBe(true);
      }
      reads++;
    }
    await writer;
    expect(reads).toBeGreaterThan(0);
  });

  it('reads with a byte range read only the needed bytes', async () => {
    const big = new Uint8Array(4 << 20).map((_, i) => i & 0xff);
    await store.write('big', big);
    const r = await store.read('big', { byteRange: { offset: 3_000_000, length: 10 } });
    expect(r.state === 'value' && [...r.value]).toEqual([...big.subarray(3_000_000, 3_000_010)]);
    expect(r.state === 'value' && r.value.buffer.byteLength).toBe(10);
    expect(r.state === 'value' && r.size).toBe(4 << 20);
  });

  it('a read returns a plain Uint8Array of exactly the bytes read (not a pooled or aliasing Buffer)', async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    await store.write('v', bytes);
    const all = await store.read('v');
    if (all.state !== 'value') throw new Error('expected a value');
    expect(Object.getPrototypeOf(all.value)).toBe(Uint8Array.prototype);
    expect(all.value.byteOffset).toBe(0);
    expect(all.value.buffer.byteLength).toBe(bytes.length);
    expect(all.value).toEqual(bytes);
    const small = await store.read('v', { byteRange: { offset: 5, length: 3 } });
    if (small.state !== 'value') throw new Error('expected a value');
    expect(Object.getPrototypeOf(small.value)).toBe(Uint8Array.prototype);
    expect(small.value.buffer.byteLength).toBe(3);
    expect([...small.value]).toEqual([...bytes.subarray(5, 8)]);
    const copy = small.value.slice();
    copy[0] = 255 - copy[0]!;
    expect(small.value[0]).toBe(bytes[5]); // slice copies (Buffer#slice would alias)
  });

  it('reads only the requested range: suffix and inner ranges are single preads at the right offset', async () => {
    const big = new Uint8Array(2 << 20).map((_, i) => (i * 13) & 0xff);
    await store.write('shard', big);
    const reads: [number, number][] = [];
    hooks.before = (op, args) => {
      if (op === 'read') reads.push([args[3] as number, args[4] as number]); // length, position
    };
    const idx = await store.read('shard', { byteRange: { suffix: 1028 } });
    const inner = await store.read('shard', { byteRange: { offset: 262_144, length: 65_536 } });
    hooks.before = undefined;
    expect(reads).toEqual([
      [1028, (2 << 20) - 1028],
      [65_536, 262_144],
    ]);
    expect(idx.state === 'value' && idx.value).toEqual(big.subarray((2 << 20) - 1028));
    expect(inner.state === 'value' && inner.value).toEqual(big.subarray(262_144, 262_144 + 65_536));
  });

  it('a file that shrinks while being read is an error naming the key, never a partly filled value', async () => {
    await store.write('k', new Uint8Array(100_000).fill(7));
    hooks.before = async (op) => {
      if (op === 'read') await fs.truncate(path.join(root, 'k'), 10); // written outside volstore
    };
    const err = await store.read('k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvStoreError);
    expect((err as KvStoreError).key).toBe('k');
    expect((err as Error).message).toMatch(/shrank/);
  });

  it('an fstat or read failure is a KvStoreError naming the key and errno', async () => {
    await store.write('k', enc('value'));
    for (const [op, name] of [['fstat', 'stat'], ['read', 'read']]) {
      hooks.before = (o) => {
        if (o === op) throw Object.assign(new Error('i/o error'), { code: 'EIO' });
      };
      const err = await store.read('k').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KvStoreError);
      expect((err as KvStoreError).key).toBe('k');
      expect((err as Error).message).toContain(`file ${name} failed (EIO)`);
    }
    hooks.before = (o) => {
      if (o === 'open') throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
    };
    const err = await store.read('k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvStoreError);
    expect((err as Error).message).toContain('open failed (EACCES)');
  });

  it('the generation describes the bytes returned, even if the file is replaced after open', async () => {
    const w = await store.write('k', enc('old bytes'));
    if (!w.ok) throw new Error('setup');
    const writer = new FileStore(root, new Limiter(1)); // its own limiter: the reader holds a slot
    let replaced: Promise<unknown> | undefined;
    hooks.before = async (op) => {
      if (op === 'fstat' && !replaced) {
        replaced = writer.write('k', enc('new bytes, longer'));
        await replaced; // renamed over the name we already opened
      }
    };
    const r = await store.read('k');
    hooks.before = undefined;
    expect(r.state === 'value' && dec(r.value)).toBe('old bytes');
    expect(r.generation).toBe(w.generation);
    const now = await store.read('k');
    expect(now.state === 'value' && dec(now.value)).toBe('new bytes, longer');
    expect(now.generation).not.toBe(w.generation);
  });

  it('aborting after the open rejects with AbortError', async () => {
    await store.write('k', new Uint8Array(1000));
    for (const op of ['fstat', 'read']) {
      const ac = new AbortController();
      hooks.before = (o) => {
        if (o === op) ac.abort();
      };
      await expect(store.read('k', { signal: ac.signal })).rejects.toMatchObject({ code: 'aborted' });
    }
  });

  it('no read path leaks a file descriptor', async () => {
    const before = await openFds();
    if (before === undefined) return; // no /proc
    await store.write('k', new Uint8Array(5000).fill(1));
    await store.write('d/child', enc('x'));
    const w = await store.read('k');
    for (let i = 0; i < 20; i++) {
      await store.read('k');
      await store.read('k', { byteRange: { suffix: 10 } });
      await store.read('k', { ifEqual: 'other' }); // unchanged
      await store.read('k', { ifNotEqual: w.generation }); // unchanged
      await store.read('d'); // directory: missing
      await store.read('nope'); // missing
      await expect(store.read('k', { byteRange: { offset: 6000 } })).rejects.toThrow(); // range error
      const ac = new AbortController();
      hooks.before = (o) => {
        if (o === 'read') ac.abort();
      };
      await expect(store.read('k', { signal: ac.signal })).rejects.toMatchObject({ code: 'aborted' });
      hooks.before = (o) => {
        if (o === 'read') throw Object.assign(new Error('i/o error'), { code: 'EIO' });
      };
      await expect(store.read('k')).rejects.toBeInstanceOf(KvStoreError);
      hooks.before = undefined;
    }
    expect(await openFds()).toBe(before);
  });

  it('generation changes on rewrite of the same size within one clock tick, and never repeats', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const w = await store.write('k', enc('same'));
      if (!w.ok) throw new Error('write failed');
      expect(seen.has(w.generation)).toBe(false);
      seen.add(w.generation);
    }
    // A stale generation must not match again after inode reuse.
    const first = [...seen][0]!;
    expect(await store.write('k', enc('x'), { ifEqual: first })).toEqual({ ok: false });
  });

  // 1.79e9 s: today's magnitude, where a double steps by 0.24 us, so `sec + us / 1e6` handed to
  // utimes lands one microsecond low about half the time (the 1 us bump was lost: failed before
  // the fix in nsToSeconds).
  it.each([1_000_000_000, 1_790_000_000.123457])('generations never repeat even when the clock does not move (inode reuse; mtime %d s)', async (frozen) => {
    hooks.frozenMtime = frozen; // every new file gets the same mtime, as within one coarse tick
    const seen = new Set<string>();
    const inodes = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const w = await store.write('k', enc('same'));
      if (!w.ok) throw new Error('write failed');
      expect(seen.has(w.generation), `generation repeated at write ${i}`).toBe(false);
      seen.add(w.generation);
      inodes.add(w.generation.split('.')[1]!);
      expect((await store.read('k')).generation).toBe(w.generation);
    }
    // On ext4/tmpfs `inodes.size` is 2 here: the replaced file's inode is reused by the next
    // temporary file, which is exactly the case the mtime bump exists for.
    expect(inodes.size).toBeGreaterThan(0);
    const first = [...seen][0]!;
    expect(await store.write('k', enc('x'), { ifEqual: first })).toEqual({ ok: false });
  });

  it('fsync mode round-trips', async () => {
    const synced = new FileStore(root, { fsync: true });
    const w = await synced.write('s/k', enc('durable'));
    const r = await synced.read('s/k');
    expect(r.state === 'value' && dec(r.value)).toBe('durable');
    expect(w.ok && w.generation).toBe(r.generation);
  });

  it('an operation waiting for a limiter slot rejects with AbortError when aborted', async () => {
    const limited = new FileStore(root, new Limiter(1));
    let release!: () => void;
    const paused = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const atLink = new Promise<void>((r) => (reached = r));
    hooks.before = async (op) => {
      if (op === 'link') {
        reached();
        await paused;
      }
    };
    const writing = limited.write('k', enc('v'));
    await atLink; // the writer holds the only slot
    const ac = new AbortController();
    const reading = limited.read('other', { signal: ac.signal });
    ac.abort();
    await expect(reading).rejects.toMatchObject({ code: 'aborted' });
    release();
    expect(await writing).toMatchObject({ ok: true });
    expect(limited.limiter.active).toBe(0);
  });

  it('deleteRange removes the directories it emptied, and only those', async () => {
    await store.write('a/b/c/d', enc('1'));
    await store.write('a/b/e', enc('2'));
    await store.write('a/f', enc('3'));
    await fs.mkdir(path.join(root, 'untouched/empty'), { recursive: true });
    await store.deleteRange('a/b/');
    const entries = (await fs.readdir(root, { recursive: true })).sort();
    expect(entries).toEqual(['a', 'a/f', 'untouched', 'untouched/empty']);
    await store.deleteRange('a/');
    expect((await fs.readdir(root)).sort()).toEqual(['untouched']);
    await expect(fs.access(root)).resolves.toBeUndefined(); // the root itself stays
  });

  it('list walks only the directory under the prefix', async () => {
    await store.write('p/q/r', enc('1'));
    await store.write('other/deep/tree/x', enc('2'));
    const dirs: string[] = [];
    hooks.before = (op, args) => {
      if (op === 'readdir') dirs.push(path.relative(root, String(args[0])));
    };
    expect(await listAll(store, 'p/q/')).toEqual(['p/q/r']);
    hooks.before = undefined;
    expect(dirs).toEqual(['p/q']);
  });

  it('honours the concurrency limit of its Limiter', async () => {
    let inFlight = 0;
    let peak = 0;
    class CountingLimiter extends Limiter {
      override run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
        return super.run(async () => {
          inFlight++;
          peak = Math.max(peak, inFlight);
          try {
            return await fn();
          } finally {
            inFlight--;
          }
        }, signal);
      }
    }
    const limiter = new CountingLimiter(2);
    const limited = new FileStore(root, { limiter });
    let fsCallsOverLimit = 0;
    hooks.before = () => {
      if (limiter.active > 2) fsCallsOverLimit++;
    };
    await Promise.all(Array.from({ length: 40 }, (_, i) => limited.write(`c/${i % 10}/${i}`, enc(`v${i}`))));
    await Promise.all(Array.from({ length: 40 }, (_, i) => limited.read(`c/${i % 10}/${i}`)));
    expect((await listAll(limited, 'c/')).length).toBe(40);
    await limited.deleteRange('c/');
    expect(peak).toBe(2);
    expect(fsCallsOverLimit).toBe(0);
    expect(limiter.active).toBe(0);
  });

  it('two FileStores on the same root serialise conditional writes to a key', async () => {
    const other = new FileStore(root);
    const w0 = await store.write('k', enc('0'));
    if (!w0.ok) throw new Error('setup');
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => (i % 2 ? store : other).write('k', enc(`${i}`), { ifEqual: w0.generation })),
    );
    expect(results.filter((r) => r.ok).length).toBe(1);
  });

  it('two processes racing to create the same keys (ifEqual ""): exactly one wins each', async () => {
    const fileTs = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/kvstore/file.ts')).href;
    const child = path.join(root, '..', `${path.basename(root)}-child.mjs`);
    const N = 30;
    await fs.writeFile(
      child,
      `import { FileStore } from ${JSON.stringify(fileTs)};
const [root, id, n] = process.argv.slice(2);
const store = new FileStore(root);
process.stdout.write('ready\\n');
await new Promise((r) => process.stdin.once('data', r));
const won = [];
await Promise.all(Array.from({ length: Number(n) }, async (_, i) => {
  const r = await store.write('race/' + i, new TextEncoder().encode(id), { ifEqual: '' });
  if (r.ok) won.push(i);
}));
process.stdout.write(JSON.stringify(won) + '\\n');
process.exit(0);
`,
    );
    try {
      const procs = ['A', 'B'].map((id) => {
        const p = spawn(process.execPath, ['--import', 'tsx', child, root, id, String(N)], {
          cwd: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'),
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        p.stdout.on('data', (d: Buffer) => (out += d));
        p.stderr.on('data', (d: Buffer) => (err += d));
        const ready = new Promise<void>((res, rej) => {
          p.stdout.on('data', () => out.includes('ready') && res());
          p.on('exit', (code) => rej(new Error(`child ${id} exited ${code} before ready: ${err}`)));
        });
        const done = new Promise<number[]>((res, rej) =>
          p.on('exit', (code) => {
            if (code !== 0) return rej(new Error(`child ${id} exited ${code}: ${err}`));
            res(JSON.parse(out.split('\n').filter(Boolean).at(-1)!) as number[]);
          }),
        );
        return { id, p, ready, done };
      });
      await Promise.all(procs.map((c) => c.ready));
      for (const c of procs) c.p.stdin.write('go\n');
      const [a, b] = await Promise.all(procs.map((c) => c.done));
      const winners = new Map<number, string>();
      for (const [id, won] of [['A', a!], ['B', b!]] as const) {
        for (const i of won) {
          expect(winners.has(i), `key ${i} won twice`).toBe(false);
          winners.set(i, id);
        }
      }
      expect(winners.size).toBe(N);
      for (const [i, id] of winners) {
        const r = await store.read(`race/${i}`);
        expect(r.state === 'value' && dec(r.value)).toBe(id);
      }
      expect((await allFiles(root)).filter((f) => f.includes(TEMP_PREFIX))).toEqual([]);
    } finally {
      await fs.rm(child, { force: true });
    }
  });

  it('4 processes x 50 read-modify-writes of one chunk or shard lose no write (zarr2, zarr3 sharded, precomputed sharded)', async () => {
    const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const child = path.join(repo, 'test/kvstore/file-rmw-child.ts');
    const { open } = await import('../../src/index.js');
    const { buildPrecomputedVolume } = await import('../../src/drivers/precomputed-info.js');
    const P = 4;
    const N = 50;
    const kv = (name: string) => ({ driver: 'file', path: `${root}/${name}/` });
    const bytesLE = { name: 'bytes', configuration: { endian: 'little' } };
    const pre = buildPrecomputedVolume({
      dtype: 'uint16', shape: [40, 5, 1, 1], chunk: [8, 1, 1], encoding: 'raw', sharding: 'rectangular', shardShape: [40, 5, 1],
    });
    const cases = [
      { name: 'zarr2', rank: 1, create: { driver: 'zarr', kvstore: kv('z2'), metadata: { shape: [200], chunks: [200], dtype: '<u2', compressor: null } } },
      {
        name: 'zarr3 sharded', rank: 1,
        create: {
          driver: 'zarr3', kvstore: kv('z3'),
          metadata: {
            shape: [200], data_type: 'uint16', chunk_grid: { name: 'regular', configuration: { chunk_shape: [200] } },
            codecs: [{ name: 'sharding_indexed', configuration: { chunk_shape: [10], codecs: [bytesLE], index_codecs: [bytesLE, { name: 'crc32c' }] } }],
          },
        },
      },
      { name: 'precomputed sharded', rank: 4, create: { ...pre.spec, kvstore: kv('pre') } },
    ];
    for (const c of cases) await open({ ...c.create, create: true });
    const specs = JSON.stringify(cases.map((c) => ({ spec: { driver: c.create.driver, kvstore: c.create.kvstore }, rank: c.rank })));
    // One process per worker serves every case in turn: each prints "ready", then a result line.
    const procs = Array.from({ length: P }, (_, id) => {
      const p = spawn(process.execPath, ['--import', 'tsx', child, specs, String(id), String(N)], { cwd: repo, stdio: ['pipe', 'pipe', 'pipe'] });
      const lines: string[] = [];
      const waiters: ((l: string) => void)[] = [];
      let buf = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const l = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const w = waiters.shift();
          if (w) w(l);
          else lines.push(l);
        }
      });
      p.stderr.on('data', (d: Buffer) => (err += d));
      const exited = new Promise<never>((_, rej) => p.on('exit', (code) => rej(new Error(`child ${id} exited ${code}: ${err}`))));
      exited.catch(() => {});
      const next = () => Promise.race([lines.length ? Promise.resolve(lines.shift()!) : new Promise<string>((r) => waiters.push(r)), exited]);
      return { p, next };
    });
    try {
      for (const c of cases) {
        expect(await Promise.all(procs.map((x) => x.next()))).toEqual(procs.map(() => 'ready'));
        for (const x of procs) x.p.stdin.write('go\n');
        const results = (await Promise.all(procs.map((x) => x.next()))).map((l) => JSON.parse(l) as { errors: string[] });
        expect(results.flatMap((r) => r.errors), c.name).toEqual([]);
        const vol = await open({ driver: c.create.driver, kvstore: c.create.kvstore });
        const got = (await vol.read()).toFlat() as number[];
        // element i sits at [i] (rank 1) or [i % 40, i / 40, 0, 0] (C order: flat index x * 5 + y)
        const want = got.map((_, f) => (c.rank === 1 ? f + 1 : Math.floor(f / 5) + 40 * (f % 5) + 1));
        const lost = got.filter((v, f) => v !== want[f]).length;
        expect(lost, `${c.name}: ${lost} of ${P * N} writes lost`).toBe(0);
        expect((await allFiles(root)).filter((f) => f.includes(TEMP_PREFIX)), c.name).toEqual([]);
      }
    } finally {
      for (const x of procs) x.p.kill();
    }
  });

  describe('cross-process lock files', () => {
    const lockOf = (key: string) => path.join(root, path.dirname(key), `${TEMP_PREFIX}lock-${path.basename(key)}`);
    async function deadPid(): Promise<number> {
      const p = spawn(process.execPath, ['-e', '0']);
      await new Promise((r) => p.on('exit', r));
      return p.pid!;
    }
    const owner = (pid: number, host = os.hostname()) => lockRecord(pid, 'feedface', host);

    it('a lock left by a writer that died is broken at once, and the write goes through', async () => {
      await store.write('d/k', enc('old'));
      await fs.writeFile(lockOf('d/k'), owner(await deadPid()));
      expect(await store.write('d/k', enc('new'))).toMatchObject({ ok: true });
      const r = await store.read('d/k');
      expect(r.state === 'value' && dec(r.value)).toBe('new');
      expect(await allFiles(root)).toEqual(['d/k']);
    });

    it('a lock of a live process is waited for, not broken', async () => {
      await store.write('d/k', enc('old'));
      const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
      try {
        await fs.writeFile(lockOf('d/k'), owner(holder.pid!));
        let released = false;
        const writing = store.write('d/k', enc('new')).then((w) => ({ w, released }));
        await new Promise((r) => setTimeout(r, 300));
        expect((await store.read('d/k')).state === 'value').toBe(true);
        const r0 = await store.read('d/k');
        expect(r0.state === 'value' && dec(r0.value)).toBe('old'); // still waiting
        released = true;
        await fs.unlink(lockOf('d/k'));
        const { w, released: wasReleased } = await writing;
        expect(w.ok).toBe(true);
        expect(wasReleased).toBe(true);
      } finally {
        holder.kill();
      }
    });

    it('a lock older than LOCK_STALE_MS is broken whoever holds it (another host, NFS)', async () => {
      const { LOCK_STALE_MS } = await import('../../src/kvstore/file-lock.js');
      await store.write('d/k', enc('old'));
      await fs.writeFile(lockOf('d/k'), owner(1, 'some-other-host'));
      const old = (Date.now() - LOCK_STALE_MS - 5000) / 1000;
      await fs.utimes(lockOf('d/k'), old, old);
      expect(await store.write('d/k', enc('new'))).toMatchObject({ ok: true });
      expect(await allFiles(root)).toEqual(['d/k']);
    });

    it('a process killed while holding a lock does not block the key', async () => {
      await store.write('d/k', enc('old'));
      const lockTs = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/kvstore/file-lock.ts')).href;
      const limiterTs = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/util/limiter.ts')).href;
      const script = `import { acquireFileLock } from ${JSON.stringify(lockTs)};
import { Limiter } from ${JSON.stringify(limiterTs)};
await acquireFileLock(${JSON.stringify(path.join(root, 'd/k'))}, 'd/k', ${JSON.stringify(TEMP_PREFIX)}, new Limiter(1));
process.kill(process.pid, 'SIGKILL');`;
      const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'),
      });
      const signal = await new Promise((r) => p.on('exit', (_c, s) => r(s)));
      expect(signal).toBe('SIGKILL');
      expect((await fs.lstat(lockOf('d/k'))).isSymbolicLink()).toBe(true); // left behind
      expect(await store.write('d/k', enc('new'), {})).toMatchObject({ ok: true });
      const r = await store.read('d/k');
      expect(r.state === 'value' && dec(r.value)).toBe('new');
      expect(await allFiles(root)).toEqual(['d/k']);
    });

    it('an abandoned breaker file is removed after BREAKER_STALE_MS; aborting a waiting write changes nothing', async () => {
      const { BREAKER_STALE_MS } = await import('../../src/kvstore/file-lock.js');
      await store.write('d/k', enc('old'));
      await fs.writeFile(lockOf('d/k'), owner(await deadPid()));
      await fs.writeFile(`${lockOf('d/k')}.break`, '');
      const old = (Date.now() - BREAKER_STALE_MS - 5000) / 1000;
      await fs.utimes(`${lockOf('d/k')}.break`, old, old);
      expect(await store.write('d/k', enc('new'))).toMatchObject({ ok: true });
      expect(await allFiles(root)).toEqual(['d/k']);
      // a live holder: the write waits; aborting it rejects and leaves the value alone
      const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
      try {
        await fs.writeFile(lockOf('d/k'), owner(holder.pid!));
        const ac = new AbortController();
        const writing = store.write('d/k', enc('never'), { signal: ac.signal });
        setTimeout(() => ac.abort(), 100);
        await expect(writing).rejects.toMatchObject({ code: 'aborted' });
        await fs.unlink(lockOf('d/k'));
        const r = await store.read('d/k');
        expect(r.state === 'value' && dec(r.value)).toBe('new');
        expect(await allFiles(root)).toEqual(['d/k']);
      } finally {
        holder.kill();
      }
    });
  });

  describe('symbolic links', () => {
    let outside: string;
    beforeEach(async () => {
      outside = await tempRoot();
    });
    afterEach(async () => {
      await fs.rm(outside, { recursive: true, force: true });
    });

    it('refuses to write or delete through a symlinked directory that leaves the root', async () => {
      await fs.symlink(outside, path.join(root, 'link'));
      await fs.writeFile(path.join(outside, 'victim'), 'keep');
      for (const key of ['link/x', 'link/sub/deeper/x', 'link/victim']) {
        const err = await store.write(key, enc('evil')).catch((e: unknown) => e);
        expect(err, key).toBeInstanceOf(KvStoreError);
        expect((err as KvStoreError).key).toBe(key);
        expect((err as Error).message).toMatch(/symbolic link/);
        // "create if absent" fails either way: refused, or (for the existing victim) not absent
        const c = await store.write(key, enc('evil'), { ifEqual: '' }).catch((e: unknown) => e);
        if (!(c instanceof KvStoreError)) expect(c).toEqual({ ok: false });
      }
      await expect(store.delete('link/victim')).rejects.toBeInstanceOf(KvStoreError);
      expect((await fs.readdir(outside)).sort()).toEqual(['victim']); // nothing created, nothing removed
      expect(await fs.readFile(path.join(outside, 'victim'), 'utf8')).toBe('keep');
      // a nested link pointing out, below a real directory
      await fs.mkdir(path.join(root, 'real'));
      await fs.symlink('../../' + path.basename(outside), path.join(root, 'real', 'up'));
      await expect(store.write('real/up/y', enc('evil'))).rejects.toBeInstanceOf(KvStoreError);
      expect((await fs.readdir(outside)).sort()).toEqual(['victim']);
    });

    it('links that stay inside the root, and a root that is itself a link, work', async () => {
      await fs.mkdir(path.join(root, 'target'));
      await fs.symlink('target', path.join(root, 'alias'));
      expect(await store.write('alias/k', enc('v'))).toMatchObject({ ok: true });
      expect(await fs.readFile(path.join(root, 'target/k'), 'utf8')).toBe('v');
      expect(await store.delete('alias/k')).toBe(true);
      const linkedRoot = path.join(outside, 'root-link');
      await fs.symlink(root, linkedRoot);
      const viaLink = new FileStore(linkedRoot);
      expect(await viaLink.write('a/b', enc('w'))).toMatchObject({ ok: true });
      expect(await fs.readFile(path.join(root, 'a/b'), 'utf8')).toBe('w');
    });

    it('a symbolic link swapped in after writes to that directory is refused (every write checks; the directory moved out keeps its inode)', async () => {
      for (const k of ['a/k1', 'x/y/k']) expect(await store.write(k, enc('v1'))).toMatchObject({ ok: true });
      // The same directory inodes, now outside the root, reached through links inside it.
      await fs.rename(path.join(root, 'a'), path.join(outside, 'a'));
      await fs.symlink(path.join(outside, 'a'), path.join(root, 'a'));
      await fs.rename(path.join(root, 'x'), path.join(outside, 'x'));
      await fs.symlink(path.join(outside, 'x'), path.join(root, 'x'));
      for (const [key, opts] of [
        ['a/k2', {}],
        ['a/k1', {}],
        ['a/k3', { ifEqual: '' }],
        ['x/y/k', {}],
        ['x/y/new', {}],
      ] as const) {
        const err = await store.write(key, enc('evil'), opts).catch((e: unknown) => e);
        expect(err, key).toBeInstanceOf(KvStoreError);
        expect((err as Error).message).toMatch(/symbolic link/);
      }
      await expect(store.delete('a/k1')).rejects.toBeInstanceOf(KvStoreError);
      expect(await allFiles(outside)).toEqual(['a/k1', 'x/y/k']);
      expect(await fs.readFile(path.join(outside, 'a/k1'), 'utf8')).toBe('v1');
      expect(await fs.readFile(path.join(outside, 'x/y/k'), 'utf8')).toBe('v1');
    });
  });

  describe('which writes take the cross-process lock', () => {
    /** The fs/promises calls one operation makes. */
    async function opsOf(f: () => Promise<unknown>): Promise<string[]> {
      const ops: string[] = [];
      hooks.before = (op) => void ops.push(op);
      try {
        await f();
      } finally {
        hooks.before = undefined;
      }
      return ops;
    }

    it('creating a key (no condition, or ifEqual "") links without a lock; replacing one or ifEqual <gen> takes it', async () => {
      const create = await opsOf(() => store.write('d/k', enc('1')));
      expect(create.filter((o) => ['symlink', 'link', 'rename'].includes(o))).toEqual(['link']);
      const createIfAbsent = await opsOf(() => store.write('d/j', enc('1'), { ifEqual: '' }));
      expect(createIfAbsent.filter((o) => ['symlink', 'link', 'rename'].includes(o))).toEqual(['link']);
      const exists = await opsOf(() => store.write('d/j', enc('2'), { ifEqual: '' }));
      expect(exists.filter((o) => ['symlink', 'link', 'rename'].includes(o))).toEqual(['link']);
      const replace = await opsOf(() => store.write('d/k', enc('2')));
      expect(replace.filter((o) => ['symlink', 'link', 'rename'].includes(o))).toEqual(['link', 'symlink', 'rename']);
      const g = (await store.read('d/k')).generation;
      const cond = await opsOf(() => store.write('d/k', enc('3'), { ifEqual: g }));
      expect(cond.filter((o) => ['symlink', 'link', 'rename'].includes(o))).toEqual(['symlink', 'rename']);
      const r = await store.read('d/k');
      expect(r.state === 'value' && dec(r.value)).toBe('3');
      expect((await store.read('d/j')).state === 'value' && dec((await store.read('d/j') as { value: Uint8Array }).value)).toBe('1');
      expect(await allFiles(root)).toEqual(['d/j', 'd/k']);
      expect(await fs.readdir(path.join(root, 'd'))).toEqual(expect.not.arrayContaining([expect.stringContaining(TEMP_PREFIX)]));
    });

    it('a lock taken from a writer while it holds it: the write fails naming the key, changes nothing, and leaves the new holder\'s lock', async () => {
      const lockPath = path.join(root, 'd', `${TEMP_PREFIX}lock-k`);
      await store.write('d/k', enc('old'));
      const foreign = lockRecord(process.pid + 1, 'someoneelse', 'other-host');
      hooks.before = async (op) => {
        if (op === 'stat') {
          // Under the lock (an unconditional replace stats only there): broken and retaken.
          hooks.before = undefined;
          await fs.unlink(lockPath);
          await fs.symlink(foreign, lockPath);
        }
      };
      const err = await store.write('d/k', enc('new')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KvStoreError);
      expect((err as KvStoreError).key).toBe('d/k');
      expect((err as Error).message).toMatch(/taken from this writer/);
      const r = await store.read('d/k');
      expect(r.state === 'value' && dec(r.value)).toBe('old');
      expect(await fs.readlink(lockPath)).toBe(foreign); // not removed by our release
      expect(await allFiles(root)).toEqual(['d/k']);
    });

    it('where symbolic links cannot be made (EPERM), the lock is an O_EXCL file with the same record', async () => {
      await store.write('d/k', enc('0'));
      const lockPath = path.join(root, 'd', `${TEMP_PREFIX}lock-k`);
      let seen: string | undefined;
      let kind: string | undefined;
      hooks.before = async (op) => {
        if (op === 'symlink') throw Object.assign(new Error('operation not permitted'), { code: 'EPERM' });
        if (op === 'rename') {
          kind = (await fs.lstat(lockPath)).isFile() ? 'file' : 'other';
          seen = await fs.readFile(lockPath, 'utf8');
        }
      };
      const g = (await store.read('d/k')).generation;
      expect(await store.write('d/k', enc('1'), { ifEqual: g })).toMatchObject({ ok: true });
      expect(await store.write('d/k', enc('2'), { ifEqual: g })).toEqual({ ok: false });
      expect(await store.write('d/k', enc('3'))).toMatchObject({ ok: true });
      expect(await store.delete('d/k')).toBe(true);
      hooks.before = undefined;
      expect(kind).toBe('file');
      expect(seen).toMatch(new RegExp(`^${process.pid}\\.[A-Za-z0-9_-]+@`));
      expect(await fs.readdir(path.join(root, 'd'))).toEqual([]);
    });

    describe('across processes', () => {
      const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
      /**
       * A child process that, on a line on stdin, writes `value` to `key` without a condition and
       * prints `done <generation>`. It prints `lock-busy` each time it finds the key's lock held
       * (its fs/promises `symlink` fails with EEXIST).
       */
      async function unconditionalWriter(key: string, value: string) {
        const fileTs = pathToFileURL(path.join(repo, 'src/kvstore/file.ts')).href;
        const script = path.join(root, '..', `${path.basename(root)}-writer.mjs`);
        await fs.writeFile(
          script,
          `import { createRequire, syncBuiltinESMExports } from 'node:module';
const fsp = createRequire(import.meta.url)('node:fs').promises;
const symlink = fsp.symlink;
fsp.symlink = async (...a) => {
  try {
    return await symlink(...a);
  } catch (e) {
    if (e.code === 'EEXIST') process.stdout.write('lock-busy\\n');
    throw e;
  }
};
syncBuiltinESMExports();
const { FileStore } = await import(${JSON.stringify(fileTs)});
const [root, key, value] = process.argv.slice(2);
const store = new FileStore(root);
process.stdout.write('ready\\n');
await new Promise((r) => process.stdin.once('data', r));
const w = await store.write(key, new TextEncoder().encode(value));
process.stdout.write('done ' + w.generation + '\\n');
process.exit(0);
`,
        );
        const p = spawn(process.execPath, ['--import', 'tsx', script, root, key, value], { cwd: repo, stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        const waiters: { word: string; resolve: (line: string) => void }[] = [];
        p.stdout.on('data', (d: Buffer) => {
          out += d;
          for (const w of [...waiters]) {
            const line = out.split('\n').find((l) => l.startsWith(w.word));
            if (line !== undefined) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(line);
            }
          }
        });
        p.stderr.on('data', (d: Buffer) => (err += d));
        const exited = new Promise<never>((_, rej) => p.on('exit', (code) => rej(new Error(`writer exited ${code}: ${err}`))));
        exited.catch(() => {});
        /** Resolves with the first line starting with one of `words` (seen before or later). */
        const next = (...words: string[]) =>
          Promise.race([
            ...words.map(
              (word) =>
                new Promise<string>((resolve) => {
                  const line = out.split('\n').find((l) => l.startsWith(word));
                  if (line !== undefined) resolve(line);
                  else waiters.push({ word, resolve });
                }),
            ),
            exited,
          ]);
        return { p, next, cleanup: () => (p.kill(), fs.rm(script, { force: true })) };
      }

      it('an unconditional write from another process waits for a conditional write holding the lock and lands after it', async () => {
        const w0 = await store.write('d/k', enc('old'));
        if (!w0.ok) throw new Error('setup');
        const child = await unconditionalWriter('d/k', 'unconditional');
        try {
          await child.next('ready');
          let release!: () => void;
          const paused = new Promise<void>((r) => (release = r));
          let atRename!: () => void;
          const reached = new Promise<void>((r) => (atRename = r));
          hooks.before = async (op) => {
            if (op === 'rename') {
              atRename();
              await paused; // the conditional writer holds the lock, its condition checked
            }
          };
          const cond = store.write('d/k', enc('conditional'), { ifEqual: w0.generation });
          await reached;
          child.p.stdin.write('go\n');
          // The child must find the lock held; had it written, the conditional write below would replace a value it never checked.
          const first = await child.next('lock-busy', 'done');
          expect(first).toBe('lock-busy');
          const during = await store.read('d/k');
          expect(during.state === 'value' && dec(during.value)).toBe('old');
          hooks.before = undefined;
          release();
          const c = await cond;
          expect(c.ok).toBe(true);
          const done = await child.next('done');
          const childGen = done.slice('done '.length);
          const now = await store.read('d/k');
          expect(now.state === 'value' && dec(now.value)).toBe('unconditional');
          expect(now.generation).toBe(childGen);
          // The later file has the later mtime (generation field 3, base 36).
          const mtime = (g: string) => BigInt(parseInt(g.split('.')[2]!, 36));
          expect(mtime(childGen) > mtime(c.ok ? c.generation : '')).toBe(true);
          expect(await allFiles(root)).toEqual(['d/k']);
        } finally {
          await child.cleanup();
        }
      });

      it('"create if absent" racing an unconditional create in another process: the second link fails, nothing is replaced', async () => {
        const child = await unconditionalWriter('d/new', 'unconditional');
        try {
          await child.next('ready');
          await fs.mkdir(path.join(root, 'd'));
          let release!: () => void;
          const paused = new Promise<void>((r) => (release = r));
          let atLink!: () => void;
          const reached = new Promise<void>((r) => (atLink = r));
          hooks.before = async (op) => {
            if (op === 'link') {
              atLink();
              await paused; // checked nothing: link itself is the check
            }
          };
          const create = store.write('d/new', enc('create'), { ifEqual: '' });
          await reached;
          child.p.stdin.write('go\n');
          const done = await child.next('done');
          hooks.before = undefined;
          release();
          expect(await create).toEqual({ ok: false });
          const now = await store.read('d/new');
          expect(now.state === 'value' && dec(now.value)).toBe('unconditional');
          expect(now.generation).toBe(done.slice('done '.length));
          expect(await allFiles(root)).toEqual(['d/new']);
        } finally {
          await child.cleanup();
        }
      });
    });
  });
});
