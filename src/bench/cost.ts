/**
 * The GCS cost model of the bench and of `volstore tune`: named, dated list prices, the mapping
 * of storage operations to GCS operation classes, and cost per TB read / written / stored,
 * computed from operation counts and byte counts that the bench measured.
 *
 * Units: prices in USD. GCS bills storage and egress per "GB" of 2^30 bytes (its pricing pages
 * say so); the bench reports cost per TB of DECODED data, TB = 1e12 bytes (a terabyte of
 * voxels as a user counts it), so a layout that compresses well costs less per TB.
 */
import type { CountingStore, StoreCounters } from '../kvstore/counting.js';
import { BenchInputError } from './errors.js';

/** Prices the model uses (USD). Every member can be overridden (see {@link parsePriceOverrides}). */
export interface GcsPrices {
  /** Standard storage, USD per GB-month (GB = 2^30 bytes). */
  storagePerGbMonth: number;
  /** Class A operations (object writes, composes, listings), USD per 10,000 operations. */
  classAPer10k: number;
  /** Class B operations (object and metadata reads), USD per 10,000 operations. */
  classBPer10k: number;
  /** Data transfer out, USD per GB (GB = 2^30 bytes). 0 for reads from the same region. */
  egressPerGb: number;
  /** Where the numbers come from. */
  source: string;
  /** The region they are for. */
  region: string;
  /** When they were taken from the source (year-month). */
  asOf: string;
}

/**
 * GCS list prices, Standard storage class, regional bucket in us-east1 (us-central1 has the
 * same list prices), taken from the worked example on
 * https://cloud.google.com/storage/pricing-examples ("Simple example": Standard storage
 * $0.020 per GB-month; Class A $0.0050 and Class B $0.0004 per 1,000 operations, i.e. $0.05
 * and $0.004 per 10,000; data transfer to the Americas and EMEA $0.12 per GB, premium tier,
 * first TiB) as of 2025-01. Internet egress is the default because it is what a reader outside
 * Google Cloud pays; a reader in the bucket's region pays no egress: override with
 * `--price egressPerGb=0`. Prices change: check the source before relying on a number.
 */
export const GCS_PRICES: Readonly<GcsPrices> = Object.freeze({
  storagePerGbMonth: 0.02,
  classAPer10k: 0.05,
  classBPer10k: 0.004,
  egressPerGb: 0.12,
  source: 'https://cloud.google.com/storage/pricing-examples (Standard storage, regional)',
  region: 'us-east1',
  asOf: '2025-01',
});

/** The numeric members of {@link GcsPrices}: what an override may set. */
export const PRICE_KEYS = ['storagePerGbMonth', 'classAPer10k', 'classBPer10k', 'egressPerGb'] as const;
/** A price that `--price` may override. */
export type PriceKey = (typeof PRICE_KEYS)[number];

/** Bytes per GB as GCS bills them (2^30). */
export const BILLING_GB = 2 ** 30;
/** Bytes per TB in "cost per TB" (decimal, of decoded data). */
export const TB = 1e12;

/**
 * `prices` with overrides from a flag: `key=value[,key=value]` (keys of {@link PRICE_KEYS}) or a
 * JSON object of the same keys. `source` / `region` / `asOf` are marked as overridden.
 * @throws BenchInputError (the CLI's usage error) for an unknown key or a value that is not a number >= 0.
 */
export function parsePriceOverrides(text: string, prices: Readonly<GcsPrices> = GCS_PRICES): GcsPrices {
  const out: GcsPrices = { ...prices };
  const t = text.trim();
  let entries: [string, unknown][];
  if (t.startsWith('{')) {
    let j: unknown;
    try {
      j = JSON.parse(t);
    } catch (e) {
      throw new BenchInputError(`--price: not valid JSON: ${(e as Error).message}`);
    }
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new BenchInputError('--price: JSON must be an object');
    entries = Object.entries(j);
  } else {
    entries = t.split(',').filter((s) => s.trim() !== '').map((s) => {
      const eq = s.indexOf('=');
      if (eq <= 0) throw new BenchInputError(`--price: "${s}" is not key=value (keys: ${PRICE_KEYS.join(', ')})`);
      return [s.slice(0, eq).trim(), Number(s.slice(eq + 1).trim())];
    });
  }
  const changed: string[] = [];
  for (const [k, v] of entries) {
    if (!(PRICE_KEYS as readonly string[]).includes(k)) throw new BenchInputError(`--price: unknown price "${k}" (keys: ${PRICE_KEYS.join(', ')})`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new BenchInputError(`--price: ${k} must be a number >= 0, got ${JSON.stringify(v)}`);
    out[k as PriceKey] = v;
    changed.push(`${k}=${v}`);
  }
  if (changed.length) out.source = `${prices.source}; overridden: ${changed.join(', ')}`;
  return out;
}

/** Operations and bytes of some piece of work, as GCS would bill them. */
export interface OperationCounts {
  /** Class A operations: object writes (uploads, composes), listings. */
  classA: number;
  /** Class B operations: object reads (whole or ranged) and metadata reads. */
  classB: number;
  /** Free operations: deletes. */
  free: number;
  /** Bytes sent from the store to the reader (billed as egress). */
  egressBytes: number;
}

/** Key-value store operations counted at the kvstore interface (see {@link kvOperationCounts}). */
export interface KvOperationCounts {
  reads: number;
  readBytes: number;
  writes: number;
  writeBytes: number;
  lists: number;
  deletes: number;
}

/**
 * The billable operations of a {@link CountingStore}'s counters: every read call (a 404 is
 * charged too), every write call (a refused conditional write too), listings and deletes.
 */
export function kvOperationCounts(c: StoreCounters): KvOperationCounts {
  return { reads: c.objectsRead + c.readsEmpty, readBytes: c.bytesRead, writes: c.objectsWritten + c.writesRefused, writeBytes: c.bytesWritten, lists: c.lists, deletes: c.deletes };
}

/** GCS classes of kvstore operations: a read (whole or ranged) is one class B, a write one class A, a list (one page) one class A, a delete free. */
export function classifyKvOperations(c: KvOperationCounts): OperationCounts {
  return { classA: c.writes + c.lists, classB: c.reads, free: c.deletes, egressBytes: c.readBytes };
}

/**
 * GCS classes of the emulator's request kinds (its `counters().requests.byKind`), which count
 * every HTTP request including retries: `media`, `metadata`, `s3-get`, `s3-head` are class B;
 * `upload`, `list`, `s3-put`, `s3-list` class A; deletes free; bucket administration and CORS
 * preflights are not counted.
 */
export function classifyEmulatorRequests(byKind: Readonly<Record<string, number>>, bytesOut: number): OperationCounts {
  const n = (k: string) => byKind[k] ?? 0;
  return {
    classA: n('upload') + n('list') + n('s3-put') + n('s3-list'),
    classB: n('media') + n('metadata') + n('s3-get') + n('s3-head'),
    free: n('delete') + n('s3-delete'),
    egressBytes: bytesOut,
  };
}

/** USD of the operations and egress in `ops`. */
export function operationsCost(ops: OperationCounts, prices: Readonly<GcsPrices> = GCS_PRICES): { operations: number; egress: number; total: number } {
  const operations = (ops.classA * prices.classAPer10k + ops.classB * prices.classBPer10k) / 1e4;
  const egress = (ops.egressBytes / BILLING_GB) * prices.egressPerGb;
  return { operations, egress, total: operations + egress };
}

/** Estimated cost per TB (1e12 decoded bytes), as the bench reports it. */
export interface CostEstimate {
  /** USD to read 1 TB of decoded data with the measured access pattern: class B (+ A) operations and egress. */
  readPerTB?: number;
  /** Of readPerTB, the operations part (without egress). */
  readOpsPerTB?: number;
  /** USD to write 1 TB of decoded data the measured way: class A operations (+ class B of read-modify-writes). */
  writePerTB?: number;
  /** USD per month to store 1 TB of decoded data at the measured compression (stored / decoded bytes). */
  storagePerTBMonth?: number;
  /** The prices used. */
  prices: GcsPrices;
}

/**
 * Scales measured work to cost per TB of decoded data.
 * @param read operations and bytes of reads that returned `read.decodedBytes` bytes of array data
 * @param write operations of writes that stored `write.decodedBytes` bytes of array data
 * @param stored `storedBytes` of the stored data for `decodedBytes` of array data
 */
export function costPerTB(
  parts: {
    read?: { ops: OperationCounts; decodedBytes: number };
    write?: { ops: OperationCounts; decodedBytes: number };
    stored?: { storedBytes: number; decodedBytes: number };
  },
  prices: Readonly<GcsPrices> = GCS_PRICES,
): CostEstimate {
  const out: CostEstimate = { prices: { ...prices } };
  if (parts.read && parts.read.decodedBytes > 0) {
    const c = operationsCost(parts.read.ops, prices);
    const scale = TB / parts.read.decodedBytes;
    out.readPerTB = c.total * scale;
    out.readOpsPerTB = c.operations * scale;
  }
  if (parts.write && parts.write.decodedBytes > 0) {
    // uploads are not egress: only operations
    out.writePerTB = operationsCost({ ...parts.write.ops, egressBytes: 0 }, prices).total * (TB / parts.write.decodedBytes);
  }
  if (parts.stored && parts.stored.decodedBytes > 0) {
    out.storagePerTBMonth = ((parts.stored.storedBytes / parts.stored.decodedBytes) * TB / BILLING_GB) * prices.storagePerGbMonth;
  }
  return out;
}
