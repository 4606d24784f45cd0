/**
 * The emulator's object store: buckets of objects with GCS-style generations, shared by the GCS
 * and S3 front ends. Everything is held in memory; with a directory, every change is also written
 * through to disk and reloaded at start, so a restarted emulator sees the same objects.
 *
 * Disk layout under `dir`:
 *   <bucket>/bucket.json                    bucket resource (name, timeCreated)
 *   <bucket>/o/<sha256(name)>.bin           object bytes
 *   <bucket>/o/<sha256(name)>.json          sidecar: name, generation, metageneration, metadata...
 * Object names are hashed because GCS names may be 1024 bytes long and contain any character.
 * Files are written to a temporary name and renamed, data before sidecar.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { crc32cBase64 } from './crc32c.js';

/** Mutable, user-settable object metadata. */
export interface ObjectMeta {
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  metadata?: Record<string, string>;
}

export interface StoredObject extends ObjectMeta {
  bucket: string;
  name: string;
  data: Buffer;
  generation: number;
  metageneration: number;
  contentType: string;
  timeCreated: string;
  updated: string;
  /** base64 big-endian CRC-32C */
  crc32c: string;
  /** base64 MD5 */
  md5Hash: string;
}

export interface StoredBucket {
  name: string;
  timeCreated: string;
}

type Sidecar = Omit<StoredObject, 'data'> & { size: number };

const BUCKET_CHARS = /^[a-z0-9][a-z0-9._-]*[a-z0-9]$/;
const DOTTED_QUAD = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * GCS bucket naming (https://cloud.google.com/storage/docs/buckets#naming): 3-63 characters of
 * `[a-z0-9._-]` that start and end with a letter or digit; with dots, up to 222 characters with
 * every dot-separated part at most 63 (so no `..`); not an IPv4 address; not starting with
 * "goog". Every name the emulator stores or looks up on disk passes this first, so a name can
 * never be a path (`..`, `/`, `\`).
 */
export function isValidBucketName(name: unknown): name is string {
  if (typeof name !== 'string' || name.length < 3 || !BUCKET_CHARS.test(name)) return false;
  if (name.length > (name.includes('.') ? 222 : 63)) return false;
  if (name.split('.').some((part) => part.length === 0 || part.length > 63)) return false;
  return !DOTTED_QUAD.test(name) && !name.startsWith('goog');
}

function byteCompare(a: string, b: string): number {
  // GCS and S3 list in UTF-8 byte order; for the BMP, code-unit order differs only for surrogates.
  return a === b ? 0 : Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class ObjectStore {
  private readonly buckets = new Map<string, { info: StoredBucket; objects: Map<string, StoredObject>; sorted?: StoredObject[] }>();
  private lastGeneration = 0;
  private readonly writes = new Map<string, Promise<void>>();

  /** The absolute directory everything is persisted under (undefined: memory only). */
  readonly dir: string | undefined;

  /** @param dir persist under this directory (made absolute); in memory only when undefined. */
  constructor(dir?: string) {
    this.dir = dir === undefined ? undefined : resolve(dir);
  }

  /**
   * The path of `parts` under `dir`, which must stay strictly inside it: every path the store
   * touches on disk is built here. Throws an Error otherwise (a bug, or a name that slipped by).
   */
  private pathIn(...parts: string[]): string {
    const root = this.dir!;
    const p = resolve(root, ...parts);
    if (!p.startsWith(root.endsWith(sep) ? root : root + sep)) throw new Error(`emulator: refusing a path outside its directory: ${JSON.stringify(parts)}`);
    return p;
  }

  /** Loads persisted buckets and objects (no-op in memory mode). */
  async init(): Promise<void> {
    if (!this.dir) return;
    await mkdir(this.dir, { recursive: true });
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !isValidBucketName(entry.name)) continue;
      let info: StoredBucket;
      try {
        info = JSON.parse(await readFile(this.pathIn(entry.name, 'bucket.json'), 'utf8')) as StoredBucket;
      } catch {
        continue; // not a bucket directory
      }
      if (info?.name !== entry.name) continue; // a bucket lives in the directory of its own name
      const b = { info, objects: new Map<string, StoredObject>() };
      this.buckets.set(info.name, b);
      let files: string[] = [];
      try {
        files = await readdir(this.pathIn(entry.name, 'o'));
      } catch {
        /* empty bucket */
      }
      for (const f of files) {
        if (!/^[0-9a-f]{64}\.json$/.test(f)) continue;
        try {
          const side = JSON.parse(await readFile(this.pathIn(entry.name, 'o', f), 'utf8')) as Sidecar;
          const data = await readFile(this.pathIn(entry.name, 'o', f.slice(0, -5) + '.bin'));
          if (data.length !== side.size) continue; // torn write: data and sidecar disagree
          const { size: _size, ...rest } = side;
          b.objects.set(side.name, { ...rest, data });
          this.lastGeneration = Math.max(this.lastGeneration, side.generation);
        } catch {
          /* skip unreadable sidecars */
        }
      }
    }
  }

  /** A fresh generation: microseconds since the epoch, strictly increasing. */
  nextGeneration(): number {
    this.lastGeneration = Math.max(this.lastGeneration + 1, Date.now() * 1000);
    return this.lastGeneration;
  }

  getBucket(name: string): StoredBucket | undefined {
    return this.buckets.get(name)?.info;
  }

  listBuckets(): StoredBucket[] {
    return [...this.buckets.values()].map((b) => b.info).sort((a, b) => byteCompare(a.name, b.name));
  }

  /**
   * Creates a bucket; returns undefined if it already exists.
   * @throws TypeError for a name GCS would refuse ({@link isValidBucketName}).
   */
  async createBucket(name: string): Promise<StoredBucket | undefined> {
    if (!isValidBucketName(name)) throw new TypeError(`invalid bucket name ${JSON.stringify(name)} (3-63 characters of a-z, 0-9, ".", "_", "-")`);
    if (this.buckets.has(name)) return undefined;
    const info: StoredBucket = { name, timeCreated: new Date().toISOString() };
    this.buckets.set(name, { info, objects: new Map() });
    if (this.dir) {
      await mkdir(this.pathIn(name, 'o'), { recursive: true });
      await atomicWrite(this.pathIn(name, 'bucket.json'), JSON.stringify(info));
    }
    return info;
  }

  /** Deletes an empty bucket: 'missing' | 'not-empty' | 'ok'. */
  async deleteBucket(name: string): Promise<'missing' | 'not-empty' | 'ok'> {
    const b = this.buckets.get(name);
    if (!b) return 'missing';
    if (b.objects.size > 0) return 'not-empty';
    this.buckets.delete(name);
    if (this.dir && isValidBucketName(name)) await rm(this.pathIn(name), { recursive: true, force: true });
    return 'ok';
  }

  get(bucket: string, name: string): StoredObject | undefined {
    return this.buckets.get(bucket)?.objects.get(name);
  }

  /** All objects of a bucket in UTF-8 byte order of their names (undefined if no bucket). */
  list(bucket: string): StoredObject[] | undefined {
    const b = this.buckets.get(bucket);
    if (!b) return undefined;
    if (!b.sorted) b.sorted = [...b.objects.values()].sort((x, y) => byteCompare(x.name, y.name));
    return b.sorted;
  }

  /**
   * Stores a new generation of an object. `check` runs synchronously against the current object
   * right before the swap, so preconditions and the write are atomic; if it returns a value the
   * write is abandoned and that value is returned instead.
   */
  async put<F>(
    bucket: string,
    name: string,
    data: Buffer,
    meta: ObjectMeta,
    check?: (existing: StoredObject | undefined) => F | undefined,
  ): Promise<StoredObject | { failed: F }> {
    const b = this.buckets.get(bucket);
    if (!b) throw new Error(`no bucket ${bucket}`);
    const existing = b.objects.get(name);
    const failed = check?.(existing);
    if (failed !== undefined) return { failed };
    const now = new Date().toISOString();
    const obj: StoredObject = {
      bucket,
      name,
      data,
      generation: this.nextGeneration(),
      metageneration: 1,
      contentType: meta.contentType ?? 'application/octet-stream',
      ...(meta.cacheControl !== undefined && { cacheControl: meta.cacheControl }),
      ...(meta.contentDisposition !== undefined && { contentDisposition: meta.contentDisposition }),
      ...(meta.contentLanguage !== undefined && { contentLanguage: meta.contentLanguage }),
      ...(meta.metadata !== undefined && { metadata: { ...meta.metadata } }),
      timeCreated: now,
      updated: now,
      crc32c: crc32cBase64(data),
      md5Hash: createHash('md5').update(data).digest('base64'),
    };
    b.objects.set(name, obj);
    b.sorted = undefined;
    await this.persist(obj, true);
    return obj;
  }

  /** Replaces the metadata of the current generation and bumps its metageneration. */
  async patch(obj: StoredObject, meta: ObjectMeta): Promise<StoredObject> {
    const next: StoredObject = { ...obj, metageneration: obj.metageneration + 1, updated: new Date().toISOString() };
    for (const k of ['contentType', 'cacheControl', 'contentDisposition', 'contentLanguage'] as const) {
      if (meta[k] !== undefined) next[k] = meta[k]!;
    }
    if (meta.metadata !== undefined) {
      const merged: Record<string, string> = { ...(obj.metadata ?? {}) };
      for (const [k, v] of Object.entries(meta.metadata)) {
        if (v === null) delete merged[k];
        else merged[k] = String(v);
      }
      next.metadata = merged;
    }
    const b = this.buckets.get(obj.bucket)!;
    b.objects.set(obj.name, next);
    b.sorted = undefined;
    await this.persist(next, false);
    return next;
  }

  /** Deletes the current generation if `check` passes; returns the check failure, or whether it existed. */
  async delete<F>(
    bucket: string,
    name: string,
    check?: (existing: StoredObject | undefined) => F | undefined,
  ): Promise<boolean | { failed: F }> {
    const b = this.buckets.get(bucket);
    if (!b) return false;
    const existing = b.objects.get(name);
    const failed = check?.(existing);
    if (failed !== undefined) return { failed };
    if (!existing) return false;
    b.objects.delete(name);
    b.sorted = undefined;
    if (this.dir) {
      const base = this.objectBase(bucket, name);
      await this.chain(base, async () => {
        await rm(base + '.json', { force: true });
        await rm(base + '.bin', { force: true });
      });
    }
    return true;
  }

  /** Waits for every pending disk write. */
  async flush(): Promise<void> {
    await Promise.all([...this.writes.values()]);
  }

  private objectBase(bucket: string, name: string): string {
    const h = createHash('sha256').update(name, 'utf8').digest('hex');
    if (!isValidBucketName(bucket)) throw new Error(`emulator: invalid bucket name ${JSON.stringify(bucket)}`);
    return this.pathIn(bucket, 'o', h);
  }

  private async persist(obj: StoredObject, withData: boolean): Promise<void> {
    if (!this.dir) return;
    const base = this.objectBase(obj.bucket, obj.name);
    const { data, ...rest } = obj;
    const side: Sidecar = { ...rest, size: data.length };
    await this.chain(base, async () => {
      if (withData) await atomicWrite(base + '.bin', data);
      await atomicWrite(base + '.json', JSON.stringify(side));
    });
  }

  /** Serialises disk writes per object so that the last write wins on disk too. */
  private chain(key: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.writes.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tracked = next.finally(() => {
      if (this.writes.get(key) === tracked) this.writes.delete(key);
    });
    this.writes.set(key, tracked);
    return next;
  }
}

let tmpCounter = 0;
async function atomicWrite(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${++tmpCounter}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** One page of a delimiter-aware listing, shared by the GCS and S3 front ends. */
export interface ListPage {
  /** Objects and collapsed prefixes, in byte order; `prefix` entries end with the delimiter. */
  entries: ({ object: StoredObject } | { prefix: string })[];
  /** More entries follow; resume strictly after `last`. */
  truncated: boolean;
  last: string | undefined;
}


/**
 * Lists `objects` (sorted by name) under `prefix`, collapsing names at the first `delimiter`
 * after the prefix, starting strictly after `after`, at most `max` entries, optionally within
 * [startOffset, endOffset) by name. A collapsed prefix sorts before every name it covers, so
 * resuming "strictly after the last emitted entry" skips the names it collapsed.
 */
export function listPage(
  objects: Iterable<StoredObject>,
  o: { prefix: string; delimiter: string; after?: string; max: number; startOffset?: string; endOffset?: string },
): ListPage {
  const entries: ListPage['entries'] = [];
  let last: string | undefined;
  for (const obj of objects) {
    const n = obj.name;
    if (!n.startsWith(o.prefix)) continue;
    if (o.startOffset && byteCompare(n, o.startOffset) < 0) continue;
    if (o.endOffset && byteCompare(n, o.endOffset) >= 0) continue;
    let key = n;
    let isPrefix = false;
    if (o.delimiter) {
      const i = n.indexOf(o.delimiter, o.prefix.length);
      if (i >= 0) {
        key = n.slice(0, i + o.delimiter.length);
        isPrefix = true;
      }
    }
    if (o.after !== undefined && byteCompare(key, o.after) <= 0) continue;
    if (isPrefix && key === last) continue;
    if (entries.length >= o.max) return { entries, truncated: true, last };
    entries.push(isPrefix ? { prefix: key } : { object: obj });
    last = key;
  }
  return { entries, truncated: false, last };
}
