import { open as fsOpen, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { boxPositions } from '../array/grid.js';

/**
 * The I/O ceiling: plain `fs` reads of exactly the chunk / shard files (or, for a slice of a
 * sharded array, the shard indexes and inner-chunk byte ranges) a reader has to touch, with no
 * decoding or copying. Optionally each chunk is also zstd-decoded, which gives the I/O +
 * decompression ceiling for compressed layouts.
 */

export interface Zarr3Layout {
  /** Array directory (with zarr.json). */
  dir: string;
  shape: readonly number[];
  /** Read chunk shape (the inner chunk when sharded). */
  chunk: readonly number[];
  /** Shard shape, when sharded (index at the end, 16 bytes per inner chunk + crc32c). */
  shard?: readonly number[];
}

export type Box = readonly (readonly [number, number])[];

/** A read of one file: the whole file, or (sharded) its index and then some inner chunks. */
export interface FileRead {
  file: string;
  /** Inner chunk positions (C-order linear index inside the shard) to read; all when absent. */
  inner?: number[];
}

/** Grid positions of the cells of shape `cell` that intersect `box`, C order. */
function cells(box: Box, cell: readonly number[]): number[][] {
  return [...boxPositions(box.map(([lo], d) => Math.floor(lo / cell[d]!)), box.map(([, hi], d) => Math.ceil(hi / cell[d]!)))];
}

/** Files (and inner chunks) that reading `box` of the layout touches. */
export function planReads(layout: Zarr3Layout, box: Box): FileRead[] {
  const key = (idx: number[]) => path.join(layout.dir, 'c', ...idx.map(String));
  if (!layout.shard) return cells(box, layout.chunk).map((idx) => ({ file: key(idx) }));
  const shard = layout.shard;
  const perShard = shard.map((s, d) => s / layout.chunk[d]!);
  const full = box.every(([lo, hi], d) => lo === 0 && hi === layout.shape[d]);
  return cells(box, shard).map((sidx) => {
    if (full) return { file: key(sidx) };
    const sub: Box = box.map(([lo, hi], d) => [
      Math.max(lo, sidx[d]! * shard[d]!) - sidx[d]! * shard[d]!,
      Math.min(hi, (sidx[d]! + 1) * shard[d]!) - sidx[d]! * shard[d]!,
    ]);
    const inner = cells(sub, layout.chunk).map((c) => c.reduce((a, v, d) => a * perShard[d]! + v, 0));
    return { file: key(sidx), inner };
  });
}

/** Every data file under the array (everything but metadata). */
export async function allDataFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name !== 'zarr.json' && !e.name.startsWith('.'))
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();
}

const MISSING = 0xffffffffffffffffn;

/** Splits a whole shard file into its inner chunks' bytes (skipping missing ones). */
function splitShard(buf: Uint8Array, nInner: number): Uint8Array[] {
  const indexBytes = nInner * 16 + 4;
  const dv = new DataView(buf.buffer, buf.byteOffset + buf.length - indexBytes, indexBytes);
  const out: Uint8Array[] = [];
  for (let i = 0; i < nInner; i++) {
    const off = dv.getBigUint64(i * 16, true);
    if (off === MISSING) continue;
    const n = Number(dv.getBigUint64(i * 16 + 8, true));
    out.push(buf.subarray(Number(off), Number(off) + n));
  }
  return out;
}

async function pool<T>(items: readonly T[], concurrency: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await f(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/**
 * Performs the reads; returns the bytes read from disk. With `decode`, every chunk's bytes are
 * passed through it (e.g. a zstd decoder) and the decoded byte count is also returned.
 */
export async function executeReads(
  layout: Zarr3Layout,
  reads: readonly FileRead[],
  opts: { concurrency?: number; decode?: (b: Uint8Array) => Uint8Array | Promise<Uint8Array> } = {},
): Promise<{ fileBytes: number; decodedBytes: number }> {
  const nInner = layout.shard ? layout.shard.reduce((a, s, d) => a * (s / layout.chunk[d]!), 1) : 1;
  let fileBytes = 0;
  let decodedBytes = 0;
  const decodeAll = async (chunks: Uint8Array[]) => {
    if (!opts.decode) return;
    for (const c of chunks) decodedBytes += (await opts.decode(c)).length;
  };
  await pool(reads, opts.concurrency ?? 16, async (r) => {
    if (!r.inner) {
      let buf: Uint8Array;
      try {
        buf = await readFile(r.file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // missing chunk = fill value
        throw e;
      }
      fileBytes += buf.length;
      await decodeAll(layout.shard ? splitShard(buf, nInner) : [buf]);
      return;
    }
    let fh;
    try {
      fh = await fsOpen(r.file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      const { size } = await fh.stat();
      const indexBytes = nInner * 16 + 4;
      const index = Buffer.allocUnsafe(indexBytes);
      await fh.read(index, 0, indexBytes, size - indexBytes);
      fileBytes += indexBytes;
      const chunks: Uint8Array[] = [];
      for (const i of r.inner) {
        const off = index.readBigUInt64LE(i * 16);
        if (off === MISSING) continue;
        const n = Number(index.readBigUInt64LE(i * 16 + 8));
        const b = Buffer.allocUnsafe(n);
        await fh.read(b, 0, n, Number(off));
        fileBytes += n;
        chunks.push(b);
      }
      await decodeAll(chunks);
    } finally {
      await fh.close();
    }
  });
  return { fileBytes, decodedBytes };
}
