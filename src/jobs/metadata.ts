/**
 * Destination metadata of a job, created once and verified by every other task.
 *
 * The metadata a job writes (zarr.json, .zarray, attributes.json, a precomputed `info`, an
 * OME-Zarr group) is first built by the drivers themselves in a private in-memory store
 * ({@link scratchMetadata}): exactly the bytes `open(..., create)` would write, for every level.
 * Then {@link publishMetadata} writes each object to the destination with a "must not exist"
 * condition. The task that comes first creates it; every other task finds it, reads it and
 * checks it equals what it would have written (same JSON), failing with a MetadataError that
 * names the key and the first field that differs. Nothing is ever overwritten. A precomputed
 * `info` may already hold other scales (adding a pyramid to an existing volume): its scales
 * are merged in under a generation condition, and a scale this job writes that exists must
 * equal this job's.
 */
import { AlreadyExistsError, MetadataError, throwIfAborted } from '../errors.js';
import { type KvStore, rmwPause } from '../kvstore/kvstore.js';
import { openKvStore } from '../kvstore/open.js';
import type { KvStoreSpec } from '../kvstore/spec.js';
import { Context } from '../context/context.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Metadata objects by key, relative to the job's root. */
export type MetadataObjects = Map<string, Uint8Array>;

/** JSON bytes as volstore writes metadata: two-space indented, UTF-8. */
export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, null, 2));
}

function parse(bytes: Uint8Array, key: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw new MetadataError(key, `not valid JSON: ${(e as Error).message}`);
  }
}

let scratchCounter = 0;

/**
 * Runs `build` with a fresh in-memory kvstore spec (a unique `memory://` path, where the drivers
 * create arrays exactly as they would at the destination) and returns every object it wrote,
 * by key. The scratch objects are deleted afterwards.
 */
export async function scratchMetadata(build: (root: KvStoreSpec) => Promise<void>): Promise<MetadataObjects> {
  const root: KvStoreSpec = { driver: 'memory', path: `volstore-job-scratch-${Date.now().toString(36)}-${++scratchCounter}-${Math.random().toString(36).slice(2)}/` };
  const store = await openKvStore(root, '', new Context());
  try {
    await build(root);
    const keys: string[] = [];
    for await (const k of store.list('')) keys.push(k);
    const out: MetadataObjects = new Map();
    for (const k of keys.sort()) {
      const r = await store.read(k);
      if (r.state === 'value') out.set(k, r.value);
    }
    return out;
  } finally {
    await store.deleteRange('');
  }
}

/**
 * The first place where two JSON values differ, as `path: found X, expected Y`, or undefined
 * when they are equal (object key order is ignored; numbers compare by value).
 */
export function jsonDifference(found: unknown, expected: unknown, path = ''): string | undefined {
  const show = (v: unknown) => {
    const s = JSON.stringify(v);
    return s === undefined ? 'nothing' : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  };
  const here = path || '(top level)';
  if (Array.isArray(found) || Array.isArray(expected)) {
    if (!Array.isArray(found) || !Array.isArray(expected)) return `${here}: found ${show(found)}, this job writes ${show(expected)}`;
    if (found.length !== expected.length) return `${here}: found ${found.length} entries, this job writes ${expected.length}`;
    for (let i = 0; i < found.length; i++) {
      const d = jsonDifference(found[i], expected[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (typeof found === 'object' && found !== null && typeof expected === 'object' && expected !== null) {
    const a = found as Record<string, unknown>;
    const b = expected as Record<string, unknown>;
    for (const k of new Set([...Object.keys(b), ...Object.keys(a)])) {
      const d = jsonDifference(a[k], b[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(found, expected) || found === expected ? undefined : `${here}: found ${show(found)}, this job writes ${show(expected)}`;
}

/** How {@link publishMetadata} treats metadata that is already there. */
export interface PublishOptions {
  /**
   * Accept existing metadata equal to this job's (another task of the job, or an earlier run,
   * created it). When false, an existing object is AlreadyExistsError. Default true.
   */
  allowExisting?: boolean;
  /**
   * Keys of the precomputed scales this job creates. Other scales in the job's `info` are
   * copies of ones that existed when it was planned: verified if present, never refused.
   * Default: every scale of the job's `info`.
   */
  ownScales?: ReadonlySet<string>;
  signal?: AbortSignal;
}

/** What {@link publishMetadata} did, by key. */
export interface PublishResult {
  /** Keys this call created (or, for a precomputed `info`, added scales to). */
  created: string[];
  /** Keys found equal to this job's. */
  verified: string[];
}

/** Rounds of read + conditional write of a precomputed `info` before giving up. */
const INFO_ATTEMPTS = 16;

/**
 * Writes each metadata object to `store` under a "must not exist" condition, or verifies the
 * one already there (see the module comment). Objects are published in key order.
 * @throws MetadataError naming the key and the first differing field when existing metadata
 *   differs; AlreadyExistsError when it exists and `allowExisting` is false; storage errors.
 */
export async function publishMetadata(store: KvStore, objects: MetadataObjects, options: PublishOptions = {}): Promise<PublishResult> {
  const allowExisting = options.allowExisting ?? true;
  const result: PublishResult = { created: [], verified: [] };
  for (const [key, bytes] of [...objects].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    throwIfAborted(options.signal);
    const where = `${store.url}${key}`;
    if (key === 'info' || key.endsWith('/info')) {
      (await publishInfo(store, key, bytes, allowExisting, options.ownScales, options.signal)) ? result.created.push(key) : result.verified.push(key);
      continue;
    }
    const w = await store.write(key, bytes, { ifEqual: '', signal: options.signal });
    if (w.ok) {
      result.created.push(key);
      continue;
    }
    const r = await store.read(key, { signal: options.signal });
    if (r.state !== 'value') throw new MetadataError(where, 'a "must not exist" write was refused, yet the key reads as missing');
    const diff = jsonDifference(parse(r.value, where), parse(bytes, key));
    if (diff) throw new MetadataError(where, `differs from what this job writes: ${diff}`);
    if (!allowExisting) throw new AlreadyExistsError(where, 'already exists; pass --overwrite to replace it');
    result.verified.push(key);
  }
  return result;
}

interface InfoJson {
  scales?: { key?: unknown }[];
  [k: string]: unknown;
}

/**
 * A precomputed `info`: created when missing; otherwise this job's scales are added to it (same
 * top-level fields required), each scale that exists verified. Returns true when it wrote.
 */
async function publishInfo(store: KvStore, key: string, bytes: Uint8Array, allowExisting: boolean, own: ReadonlySet<string> | undefined, signal?: AbortSignal): Promise<boolean> {
  const where = `${store.url}${key}`;
  const ours = parse(bytes, key) as InfoJson;
  for (let attempt = 0; attempt < INFO_ATTEMPTS; attempt++) {
    const r = await store.read(key, { signal });
    if (r.state !== 'value') {
      if ((await store.write(key, bytes, { ifEqual: '', signal })).ok) return true;
      await rmwPause(attempt, signal); // another task created it first: read what it wrote
      continue;
    }
    const found = parse(r.value, where) as InfoJson;
    if (typeof found !== 'object' || found === null || !Array.isArray(found.scales)) throw new MetadataError(where, 'not a precomputed info (no "scales" list)');
    // Top-level members this job sets must match; others (mesh, segment_properties, ...) are kept.
    for (const [k, v] of Object.entries(ours)) {
      if (k === 'scales') continue;
      const d = jsonDifference(found[k], v, k);
      if (d) throw new MetadataError(where, `differs from what this job writes: ${d}`);
    }
    const scales = [...found.scales];
    let added = false;
    for (const s of ours.scales ?? []) {
      const i = scales.findIndex((x) => x?.key === s.key);
      if (i < 0) {
        scales.push(s);
        added = true;
        continue;
      }
      const d = jsonDifference(scales[i], s, `scales[${i}]`);
      if (d) throw new MetadataError(where, `scale "${String(s.key)}" differs from what this job writes: ${d}`);
      if (!allowExisting && (!own || own.has(String(s.key)))) throw new AlreadyExistsError(where, `scale "${String(s.key)}" already exists; pass --overwrite to replace it`);
    }
    if (!added) return false;
    const w = await store.write(key, jsonBytes({ ...found, scales }), { ifEqual: r.generation, signal });
    if (w.ok) return true;
    await rmwPause(attempt, signal); // lost a race with another task: let the others through
  }
  throw new MetadataError(where, `kept changing under concurrent writers (${INFO_ATTEMPTS} attempts)`);
}

/**
 * A short, stable identity of a job: the first 16 hex digits of the SHA-256 of `parts` as
 * canonical JSON. Every task of one job computes the same value; a job with other metadata,
 * levels, factors or source computes another, so its manifests never mix with this one's.
 */
export async function jobDigest(parts: unknown): Promise<string> {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v instanceof Uint8Array) return decoder.decode(v);
    if (v instanceof Map) return canonical(Object.fromEntries(v));
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  const data = encoder.encode(JSON.stringify(canonical(parts)));
  const hash = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', data));
  return [...hash.slice(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
