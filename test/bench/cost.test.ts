/**
 * The GCS cost model against hand-computed numbers: the operation classes, the published
 * pricing example, per-TB scaling, overrides, and the bench engine's counted operations turned
 * into cost for layouts whose request counts follow from their geometry.
 */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  BILLING_GB, classifyEmulatorRequests, classifyKvOperations, costPerTB, GCS_PRICES, operationsCost, parsePriceOverrides, TB,
} from '../../src/bench/cost.js';
import { runEngine } from '../../src/bench/engine.js';
import { BenchInputError } from '../../src/bench/errors.js';
import { parseCodec } from '../../src/bench/layout.js';

describe('prices', () => {
  it('are named, dated constants with a source and a region', () => {
    expect(GCS_PRICES).toMatchObject({ storagePerGbMonth: 0.02, classAPer10k: 0.05, classBPer10k: 0.004, egressPerGb: 0.12, region: 'us-east1' });
    expect(GCS_PRICES.asOf).toMatch(/^\d{4}-\d{2}$/);
    expect(GCS_PRICES.source).toMatch(/^https:\/\/cloud\.google\.com\/storage\/pricing/);
    expect(Object.isFrozen(GCS_PRICES)).toBe(true);
  });

  it('reproduce the pricing page example: 10,000 class A + 50,000 class B + 1 GB out = $0.05 + $0.02 + $0.12', () => {
    const c = operationsCost({ classA: 10_000, classB: 50_000, free: 0, egressBytes: BILLING_GB });
    expect(c.operations).toBeCloseTo(0.07, 12);
    expect(c.egress).toBeCloseTo(0.12, 12);
    expect(c.total).toBeCloseTo(0.19, 12);
  });

  it('are overridden by key=value lists and JSON, and bad overrides are refused by name', () => {
    const p = parsePriceOverrides('egressPerGb=0, classBPer10k=0.01');
    expect(p).toMatchObject({ egressPerGb: 0, classBPer10k: 0.01, classAPer10k: 0.05 });
    expect(p.source).toContain('overridden: egressPerGb=0, classBPer10k=0.01');
    expect(parsePriceOverrides('{"storagePerGbMonth": 0.026}').storagePerGbMonth).toBe(0.026);
    expect(() => parsePriceOverrides('egress=0')).toThrow(BenchInputError);
    expect(() => parsePriceOverrides('egress=0')).toThrow(/unknown price "egress"/);
    expect(() => parsePriceOverrides('classAPer10k=-1')).toThrow(/classAPer10k must be a number >= 0/);
    expect(() => parsePriceOverrides('classAPer10k')).toThrow(/not key=value/);
    expect(() => parsePriceOverrides('{"classAPer10k": "x"}')).toThrow(/must be a number/);
    expect(() => parsePriceOverrides('{nope')).toThrow(/not valid JSON/);
  });
});

describe('operation classes', () => {
  it('kvstore: reads are class B, writes and lists class A, deletes free, bytes read are egress', () => {
    expect(classifyKvOperations({ reads: 7, readBytes: 700, writes: 3, writeBytes: 300, lists: 2, deletes: 5 })).toEqual({ classA: 5, classB: 7, free: 5, egressBytes: 700 });
  });

  it('emulator request kinds: media/metadata/s3-get/s3-head B, upload/list/s3-put/s3-list A, deletes free, the rest uncounted', () => {
    const byKind = { media: 10, metadata: 2, 's3-get': 3, 's3-head': 1, upload: 4, list: 1, 's3-put': 2, 's3-list': 1, delete: 6, 's3-delete': 1, bucket: 9, options: 9 };
    expect(classifyEmulatorRequests(byKind, 1234)).toEqual({ classA: 8, classB: 16, free: 7, egressBytes: 1234 });
  });
});

describe('cost per TB', () => {
  it('scales reads, writes and storage to 1e12 decoded bytes', () => {
    // 1e9 decoded bytes read with 1000 GETs fetching 2^29 bytes: x1000 to a TB
    const c = costPerTB({
      read: { ops: { classA: 0, classB: 1000, free: 0, egressBytes: 2 ** 29 }, decodedBytes: 1e9 },
      // 64^3 uint8 chunks unsharded: one upload per 262144 bytes
      write: { ops: { classA: 1, classB: 0, free: 0, egressBytes: 0 }, decodedBytes: 64 ** 3 },
      stored: { storedBytes: 1, decodedBytes: 4 },
    });
    expect(c.readOpsPerTB).toBeCloseTo(1000 * 1000 * (0.004 / 1e4), 9); // $0.40
    expect(c.readPerTB).toBeCloseTo(0.4 + 0.5 * 1000 * 0.12, 9); // + 500 GB of egress = $60.40
    expect(c.writePerTB).toBeCloseTo((TB / 262_144) * (0.05 / 1e4), 9); // $19.07
    expect(c.storagePerTBMonth).toBeCloseTo(0.25 * (TB / BILLING_GB) * 0.02, 9); // $4.66
    expect(c.prices).toEqual({ ...GCS_PRICES });
  });

  it('uploads are not egress', () => {
    const c = costPerTB({ write: { ops: { classA: 0, classB: 0, free: 0, egressBytes: 1e12 }, decodedBytes: 1e12 } });
    expect(c.writePerTB).toBe(0);
  });
});

describe('the engine counts operations whose cost can be computed by hand', () => {
  it('64^3 uint8 in 32^3 raw chunks on the file store: 8 uploads to write it, 4 ranged GETs per XY plane', async () => {
    const { result } = await runEngine({
      name: 't', layouts: [{ dtype: 'uint8', shape: [64, 64, 64], chunk: [32, 32, 32], codec: parseCodec('raw') }], store: 'file',
      reads: [{ kind: 'xy' }], write: { kind: 'full' }, strategy: 'sequential', totalReadBytes: 1e9, maxAccesses: 16, repeat: 2, warmup: 0,
      concurrency: 1, seed: 1, tmpRoot: os.tmpdir(), log: () => {},
    });
    const [write, xy] = result.rows;
    // writing: 8 chunks = 8 objects, 8 class A operations for 262144 bytes; raw: stored = decoded
    expect(write!.op).toBe('write full');
    expect(write!.access).toMatchObject({ accesses: 8, requestsPerAccess: 1, storedBytesPerAccess: 32 ** 3, amplification: 1 });
    expect(write!.access!.requestsByKind).toEqual({ write: 8 });
    expect(write!.cost!.writePerTB).toBeCloseTo(8 * (0.05 / 1e4) * (TB / 64 ** 3), 6); // $152.59
    expect(write!.cost!.storagePerTBMonth).toBeCloseTo((TB / BILLING_GB) * 0.02, 6); // ratio 1: $18.63
    expect(write!.compressionRatio).toBe(1);
    // an XY plane of 64x64 covers 2 x 2 chunks of 32^3; raw (plain) chunks: 4 ranged GETs of
    // the one 32x32 plane each needs, 4096 bytes fetched for 4096 returned
    expect(xy!.op).toBe('read xy');
    expect(xy!.access).toMatchObject({ accesses: 16, requestsPerAccess: 4, storedBytesPerAccess: 4 * 32 ** 2, decodedBytesPerAccess: 64 * 64, amplification: 1 });
    const perTB = TB / (64 * 64);
    expect(xy!.cost!.readOpsPerTB).toBeCloseTo(4 * (0.004 / 1e4) * perTB, 6); // $390.63
    expect(xy!.cost!.readPerTB).toBeCloseTo(4 * (0.004 / 1e4) * perTB + ((4 * 32 ** 2) / BILLING_GB) * 0.12 * perTB, 4);
    expect(xy!.verified).toBe('volstore = expected');
  });

  it('the same volume in one 64^3 shard: one upload; a plane is one merged ranged GET once the index is cached', async () => {
    const { result } = await runEngine({
      name: 't', layouts: [{ dtype: 'uint8', shape: [64, 64, 64], chunk: [32, 32, 32], shard: [64, 64, 64], codec: parseCodec('raw') }], store: 'file',
      reads: [{ kind: 'xy' }], write: { kind: 'full' }, strategy: 'sequential', totalReadBytes: 1e9, maxAccesses: 8, repeat: 1, warmup: 1,
      concurrency: 1, seed: 1, tmpRoot: os.tmpdir(), log: () => {},
    });
    const [write, xy] = result.rows;
    expect(write!.access).toMatchObject({ accesses: 1, requestsPerAccess: 1 });
    // shard = 8 inner chunks of 32768 bytes + index (8 x 16 + 4 bytes)
    expect(write!.access!.storedBytesPerAccess).toBe(8 * 32 ** 3 + 8 * 16 + 4);
    expect(write!.cost!.writePerTB).toBeCloseTo((0.05 / 1e4) * (TB / 64 ** 3), 8); // $19.07
    // the warm-up read the index; each plane reads the 2 x 2 inner chunks of its z half: contiguous, one GET
    expect(xy!.access).toMatchObject({ requestsPerAccess: 1, storedBytesPerAccess: 4 * 32 ** 3 });
    expect(xy!.cost!.readOpsPerTB).toBeCloseTo((0.004 / 1e4) * (TB / (64 * 64)), 6);
  });
});
