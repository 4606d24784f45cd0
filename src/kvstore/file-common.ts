/**
 * What the file store and a codec worker reading chunk files itself
 * (`src/workers/codec-worker.ts`, also the browser's worker entry, hence no `node:` imports here)
 * must agree on: a file's generation, which errors mean a missing key, and how a failed file
 * call is reported.
 */
import { KvStoreError, VolstoreError } from '../errors.js';

export interface BigStat {
  dev: bigint;
  ino: bigint;
  mtimeNs: bigint;
  size: bigint;
}

/** The file store's generation of a file: device, inode, modification time (ns) and size, from a bigint stat. */
export function generationOf(st: BigStat): string {
  return `${st.dev.toString(36)}.${st.ino.toString(36)}.${st.mtimeNs.toString(36)}.${st.size.toString(36)}`;
}

/** The errno code of a Node system error (`ENOENT`...), if any. */
export function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/** Whether opening a key's file failed because there is no such key (no file, or a file on the path). */
export function isMissing(e: unknown): boolean {
  const code = errnoOf(e);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A read that hit the end of `key`'s file before `expected` bytes: it was cut short behind our back. */
export function shrankError(key: string, expected: number): KvStoreError {
  return new KvStoreError(key, `file shrank while reading (expected ${expected} bytes); written outside volstore?`);
}

/** A failed file call `op` on `key`'s file as KvStoreError naming the key and the errno code. */
export function fileError(key: string, op: string, e: unknown): Error {
  if (e instanceof VolstoreError) return e;
  const code = errnoOf(e) ?? 'error';
  const msg = e instanceof Error ? e.message : String(e);
  return new KvStoreError(key, `file ${op} failed (${code}): ${msg}`, { cause: e });
}
