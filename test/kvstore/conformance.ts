/**
 * The one KvStore conformance suite. Every store registers with it from its own test file:
 *
 * ```ts
 * describeKvStoreConformance('memory', async () => ({ store: new MemoryStore() }));
 * describeKvStoreConformance('http', async () => {
 *   const server = await startServer();
 *   return { store: new HttpStore(server.url), populate: server.put, cleanup: server.close };
 * }, { readOnly: true });
 * ```
 *
 * Each `it` gets a FRESH fixture from `makeStore()` (so a cloud store should return a store
 * over a unique, empty prefix) and calls its `cleanup()` afterwards. The behaviour checked is
 * the contract in src/kvstore/kvstore.ts, with MemoryStore as the reference.
 *
 * Writable stores are filled with `store.write`. Read-only stores (`caps.readOnly`) are filled
 * through `populate` (from the fixture, else from `caps`) and run only the read tests.
 *
 * Stores with structured keys (the sharding adapters: "i,j,k" inner chunk positions, 16-hex-digit
 * chunk ids) give `caps.key`, an injective map from the suite's keys to theirs; prefix listing
 * is then not comparable and only `list('')` is checked. Operations a store does not support
 * (`caps.unsupported`) must throw UnsupportedError; the tests needing them are skipped, and data
 * is put with `populate` when `write` is unsupported.
 */
import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import { AbortError, ByteRangeError, UnsupportedError } from '../../src/errors.js';
import { type ByteRange, type KvStore, listAll, NO_GENERATION } from '../../src/kvstore/kvstore.js';

/** Writes `entries` (key -> bytes) behind the store's back; used for read-only stores. */
export type Populate = (entries: Record<string, Uint8Array>) => Promise<void>;

export interface KvStoreFixture {
  store: KvStore;
  /** Per-fixture populate (wins over `caps.populate`): e.g. writes into the backing server. */
  populate?: Populate;
  cleanup?: () => Promise<void>;
}

export interface KvStoreCaps {
  /** Only the read tests run; data comes from `populate`. */
  readOnly?: boolean;
  /** How to fill a store without `store.write` (required when `readOnly` unless the fixture has one). */
  populate?: Populate;
  /** The store can list keys. Default: `!readOnly`. */
  list?: boolean;
  /** The store reports `size` on reads. Default true (when present it is always checked). */
  reportsSize?: boolean;
  /** Size of the large-value round trip. Default 5 MiB. */
  largeValueBytes?: number;
  /** Writers in the conditional-write race. Default 16. */
  racingWriters?: number;
  /** Per-test timeout in ms (for slow emulators). Default: vitest's. */
  timeout?: number;
  /**
   * Maps the suite's keys to keys the store accepts (must be injective). Default: identity.
   * With a map, listing is checked only for the prefix '' (mapped keys do not keep prefixes).
   */
  key?: (suiteKey: string) => string;
  /** Operations that must throw UnsupportedError (their tests are skipped). */
  unsupported?: readonly UnsupportedOp[];
}

/** KvStore operations a store may declare unsupported. */
export type UnsupportedOp = 'write' | 'delete' | 'list' | 'deleteRange';

/** Keys with characters that URL-encoding, S3/GCS and filesystems tend to get wrong. */
export const SPECIAL_KEYS = [
  'odd/with space',
  'odd/100%',
  'odd/%2F%20',
  'odd/a+b',
  'odd/ünïcødé-日本-🙂',
  'odd/semi;colon,comma=eq&amp',
  'odd/~tilde!\'()*',
  'odd/q?x#y',
];

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Deterministic pseudo-random bytes (cheap, no crypto dependency). */
export function pseudoRandomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function abortedSignal(): AbortSignal {
  const ac = new AbortController();
  ac.abort(new Error('test abort'));
  return ac.signal;
}

/**
 * Declares the conformance tests for one store under `describe('kvstore conformance: <name>')`.
 * @param makeStore returns a fresh, empty store for each test.
 */
export function describeKvStoreConformance(
  name: string,
  makeStore: () => Promise<KvStoreFixture>,
  caps: KvStoreCaps = {},
): void {
  const readOnly = caps.readOnly ?? false;
  const unsupported = new Set<UnsupportedOp>(caps.unsupported ?? []);
  const K = caps.key ?? ((k: string) => k);
  const mapped = caps.key !== undefined;
  const canWrite = !readOnly && !unsupported.has('write');
  const canDelete = !readOnly && !unsupported.has('delete');
  const canList = (caps.list ?? !readOnly) && !unsupported.has('list');
  const canPrefixList = canList && !mapped;
  const canDeleteRange = !readOnly && !unsupported.has('deleteRange');
  const largeBytes = caps.largeValueBytes ?? 5 * 1024 * 1024;
  const writers = caps.racingWriters ?? 16;
  const timeout = caps.timeout;

  describe(`kvstore conformance: ${name}`, () => {
    let fx: KvStoreFixture;
    let store: KvStore;
    beforeEach(async () => {
      fx = await makeStore();
      store = fx.store;
    }, timeout);
    afterEach(async () => {
      await store.close?.();
      await fx.cleanup?.();
    }, timeout);

    /** Puts entries (suite keys) with `populate` if the store cannot write, else with `store.write`. */
    async function put(entries: Record<string, Uint8Array>): Promise<void> {
      const storeEntries = Object.fromEntries(Object.entries(entries).map(([k, v]) => [K(k), v]));
      if (!canWrite) {
        const populate = fx.populate ?? caps.populate;
        if (!populate) throw new Error(`${name}: stores that cannot write need a populate function`);
        await populate(storeEntries);
      } else {
        for (const [k, v] of Object.entries(storeEntries)) {
          const r = await store.write(k, v);
          expect(r.ok, `write ${k}`).toBe(true);
        }
      }
    }

    async function readOk(key: string) {
      const r = await store.read(K(key));
      expect(r.state, `read ${key}`).toBe('value');
      if (r.state !== 'value') throw new Error('unreachable');
      return r;
    }

    const skip = (title: string, fn: () => Promise<void>) => it.skip(title, fn);
    const t = (title: string, fn: () => Promise<void>) => it(title, fn, timeout);
    const tw = canWrite ? t : skip;
    const twd = canWrite && canDelete ? t : skip;
    const tl = canPrefixList ? t : skip;
    const twl = canPrefixList && canWrite && canDelete && canDeleteRange ? t : skip;

    if (unsupported.size > 0) {
      t(`unsupported operations (${[...unsupported].join(', ')}) throw UnsupportedError`, async () => {
        const checks: Record<UnsupportedOp, () => Promise<unknown>> = {
          write: () => store.write(K('k'), enc('v')),
          delete: () => store.delete(K('k')),
          deleteRange: () => store.deleteRange(''),
          list: async () => {
            for await (const _ of store.list('')) break;
          },
        };
        for (const op of unsupported) await expect(checks[op](), op).rejects.toBeInstanceOf(UnsupportedError);
      });
    }

    describe('reads', () => {
      t('reports readOnly consistently', async () => {
        expect(store.readOnly).toBe(readOnly);
        expect(typeof store.url).toBe('string');
        expect(typeof store.spec().driver).toBe('string');
      });

      t('a missing key reads as state missing with generation ""', async () => {
        const r = await store.read(K('no/such/key'));
        expect(r).toEqual({ state: 'missing', generation: NO_GENERATION });
        expect(await store.read(K('nokey'))).toEqual({ state: 'missing', generation: NO_GENERATION });
      });

      t('reads back stored bytes with a non-empty generation and size', async () => {
        await put({ 'a/b': enc('hello world') });
        const r = await readOk('a/b');
        expect(dec(r.value)).toBe('hello world');
        expect(r.generation).not.toBe(NO_GENERATION);
        expect(typeof r.generation).toBe('string');
        if (caps.reportsSize !== false || r.size !== undefined) expect(r.size).toBe(11);
      });

      t('generation is stable across reads', async () => {
        await put({ k: enc('v') });
        const a = await readOk('k');
        const b = await readOk('k');
        const c = await store.read(K('k'), { byteRange: { offset: 0, length: 1 } });
        expect(b.generation).toBe(a.generation);
        expect(c.generation).toBe(a.generation);
      });

      t('byte ranges: offset, offset+length, suffix, zero-length', async () => {
        await put({ r: enc('0123456789') });
        const rd = async (byteRange: ByteRange) => {
          const r = await store.read(K('r'), { byteRange });
          if (r.state !== 'value') throw new Error(`expected value, got ${r.state}`);
          if (r.size !== undefined) expect(r.size).toBe(10);
          return dec(r.value);
        };
        expect(await rd({ offset: 0 })).toBe('0123456789');
        expect(await rd({ offset: 3 })).toBe('3456789');
        expect(await rd({ offset: 2, length: 3 })).toBe('234');
        expect(await rd({ offset: 0, length: 10 })).toBe('0123456789');
        expect(await rd({ suffix: 4 })).toBe('6789');
        expect(await rd({ suffix: 10 })).toBe('0123456789');
        expect(await rd({ suffix: 0 })).toBe('');
        expect(await rd({ offset: 4, length: 0 })).toBe('');
        expect(await rd({ offset: 10, length: 0 })).toBe('');
        expect(await rd({ offset: 10 })).toBe('');
      });

      t('byte ranges past the end throw ByteRangeError naming the key', async () => {
        await put({ r: enc('0123456789') });
        await expect(store.read(K('r'), { byteRange: { offset: 11 } })).rejects.toBeInstanceOf(ByteRangeError);
        await expect(store.read(K('r'), { byteRange: { offset: 8, length: 3 } })).rejects.toBeInstanceOf(ByteRangeError);
        // The key, as the store or (a prefixed view) its base store spells it.
        const keyPattern = new RegExp(`(^|/)${K('r').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
        await expect(store.read(K('r'), { byteRange: { offset: 11, length: 0 } })).rejects.toMatchObject({
          code: 'byte-range',
          key: expect.stringMatching(keyPattern),
        });
      });

      t('ifNotEqual the current generation -> unchanged; otherwise the value', async () => {
        await put({ k: enc('v') });
        const { generation } = await readOk('k');
        expect(await store.read(K('k'), { ifNotEqual: generation })).toEqual({ state: 'unchanged', generation });
        const other = await store.read(K('k'), { ifNotEqual: 'some-other-generation' });
        expect(other.state).toBe('value');
        const miss = await store.read(K('missing'), { ifNotEqual: NO_GENERATION });
        expect(miss).toEqual({ state: 'unchanged', generation: NO_GENERATION });
      });

      t('ifEqual match -> value; mismatch -> unchanged', async () => {
        await put({ k: enc('v') });
        const { generation } = await readOk('k');
        const hit = await store.read(K('k'), { ifEqual: generation });
        expect(hit.state).toBe('value');
        expect(hit.generation).toBe(generation);
        expect(await store.read(K('k'), { ifEqual: 'some-other-generation' })).toMatchObject({ state: 'unchanged' });
        expect(await store.read(K('k'), { ifEqual: NO_GENERATION })).toMatchObject({ state: 'unchanged' });
        expect(await store.read(K('missing'), { ifEqual: NO_GENERATION })).toEqual({
          state: 'missing',
          generation: NO_GENERATION,
        });
        expect(await store.read(K('missing'), { ifEqual: generation })).toEqual({
          state: 'unchanged',
          generation: NO_GENERATION,
        });
      });

      t('binary values with all 256 byte values', async () => {
        const all = new Uint8Array(512);
        for (let i = 0; i < 512; i++) all[i] = (i * 7 + (i >> 8)) & 0xff;
        const seq = Uint8Array.from({ length: 256 }, (_, i) => i);
        await put({ bin: all, seq });
        expect((await readOk('bin')).value).toEqual(all);
        expect((await readOk('seq')).value).toEqual(seq);
        const mid = await store.read(K('seq'), { byteRange: { offset: 250, length: 6 } });
        expect(mid.state === 'value' && [...mid.value]).toEqual([250, 251, 252, 253, 254, 255]);
      });

      t('an empty value is a value, not missing', async () => {
        await put({ empty: new Uint8Array(0) });
        const r = await readOk('empty');
        expect(r.value.length).toBe(0);
        if (r.size !== undefined) expect(r.size).toBe(0);
        const z = await store.read(K('empty'), { byteRange: { offset: 0, length: 0 } });
        expect(z.state).toBe('value');
        await expect(store.read(K('empty'), { byteRange: { offset: 1 } })).rejects.toBeInstanceOf(ByteRangeError);
      });

      t(`a large value (${largeBytes} bytes) round-trips, also by range`, async () => {
        const big = pseudoRandomBytes(largeBytes, 7);
        await put({ big });
        const r = await readOk('big');
        expect(r.value.length).toBe(largeBytes);
        expect(Buffer.compare(r.value, big)).toBe(0);
        const tail = await store.read(K('big'), { byteRange: { suffix: 1000 } });
        expect(tail.state === 'value' && Buffer.compare(tail.value, big.subarray(largeBytes - 1000))).toBe(0);
        const mid = await store.read(K('big'), { byteRange: { offset: 1_000_003, length: 4097 } });
        expect(mid.state === 'value' && Buffer.compare(mid.value, big.subarray(1_000_003, 1_004_100))).toBe(0);
      });

      t('keys with special characters', async () => {
        const entries = Object.fromEntries(SPECIAL_KEYS.map((k, i) => [k, enc(`v${i}:${k}`)]));
        await put(entries);
        for (const [i, k] of SPECIAL_KEYS.entries()) expect(dec((await readOk(k)).value)).toBe(`v${i}:${k}`);
        if (canPrefixList) expect(await listAll(store, 'odd/')).toEqual([...SPECIAL_KEYS].sort());
      });

      t('an aborted signal rejects reads with AbortError', async () => {
        await put({ k: enc('v') });
        await expect(store.read(K('k'), { signal: abortedSignal() })).rejects.toBeInstanceOf(AbortError);
        await expect(store.read(K('missing'), { signal: abortedSignal() })).rejects.toBeInstanceOf(AbortError);
      });
    });

    describe('list', () => {
      const nested = ['x/1', 'x/2/3', 'x/2/4/5', 'xy', 'xz/1', 'y/x', 'top'];

      tl('lists exactly the keys with the prefix', async () => {
        await put(Object.fromEntries(nested.map((k) => [k, enc(k)])));
        expect(await listAll(store, '')).toEqual([...nested].sort());
        expect(await listAll(store, 'x')).toEqual(['x/1', 'x/2/3', 'x/2/4/5', 'xy', 'xz/1']);
        expect(await listAll(store, 'x/')).toEqual(['x/1', 'x/2/3', 'x/2/4/5']);
        expect(await listAll(store, 'x/2')).toEqual(['x/2/3', 'x/2/4/5']);
        expect(await listAll(store, 'x/2/4/5')).toEqual(['x/2/4/5']);
        expect(await listAll(store, 'y/')).toEqual(['y/x']);
        expect(await listAll(store, 'to')).toEqual(['top']);
        expect(await listAll(store, 'nothing/')).toEqual([]);
        expect(await listAll(store, 'x/9')).toEqual([]);
      });

      (canList && mapped ? t : skip)("list('') lists exactly the stored keys", async () => {
        await put(Object.fromEntries(nested.map((k) => [k, enc(k)])));
        expect(await listAll(store, '')).toEqual(nested.map(K).sort());
      });

      (canList ? t : skip)('list honours an aborted signal', async () => {
        await put({ 'a/b': enc('1') });
        const it = store.list('', { signal: abortedSignal() })[Symbol.asyncIterator]();
        await expect(it.next()).rejects.toBeInstanceOf(AbortError);
      });
    });

    describe('writes', () => {
      tw('write returns the generation that reads report', async () => {
        const w = await store.write(K('a/b/c'), enc('abc'));
        expect(w.ok).toBe(true);
        const r = await readOk('a/b/c');
        expect(dec(r.value)).toBe('abc');
        expect(w.ok && w.generation).toBe(r.generation);
      });

      tw('the stored value is a copy of the input, and reads return copies', async () => {
        const v = enc('abcd');
        await store.write(K('k'), v);
        v[0] = 0x7a;
        expect(dec((await readOk('k')).value)).toBe('abcd');
        const r1 = await readOk('k');
        r1.value[1] = 0x7a;
        expect(dec((await readOk('k')).value)).toBe('abcd');
      });

      twd('generations change on every write, even of identical bytes', async () => {
        const seen = new Set<string>([NO_GENERATION]);
        for (let i = 0; i < 20; i++) {
          const w = await store.write(K('g'), enc('same'));
          expect(w.ok).toBe(true);
          if (!w.ok) return;
          expect(seen.has(w.generation), `generation ${w.generation} repeated at write ${i}`).toBe(false);
          seen.add(w.generation);
          expect((await readOk('g')).generation).toBe(w.generation);
        }
        // Rewrites interleaved with deletes must not bring an old generation back either.
        for (let i = 0; i < 10; i++) {
          await store.delete(K('g'));
          const w = await store.write(K('g'), enc('same'));
          expect(w.ok && !seen.has(w.generation)).toBe(true);
          if (w.ok) seen.add(w.generation);
        }
      });

      tw('write ifEqual "" creates a missing key and fails on an existing one', async () => {
        const w = await store.write(K('new'), enc('first'), { ifEqual: NO_GENERATION });
        expect(w.ok).toBe(true);
        expect(await store.write(K('new'), enc('second'), { ifEqual: NO_GENERATION })).toEqual({ ok: false });
        const r = await readOk('new');
        expect(dec(r.value)).toBe('first');
        expect(w.ok && w.generation).toBe(r.generation);
      });

      tw('write ifEqual <gen> succeeds only with the current generation', async () => {
        const w1 = await store.write(K('k'), enc('1'));
        const w2 = await store.write(K('k'), enc('2'));
        if (!w1.ok || !w2.ok) throw new Error('setup writes failed');
        expect(await store.write(K('k'), enc('stale'), { ifEqual: w1.generation })).toEqual({ ok: false });
        expect(await store.write(K('missing'), enc('x'), { ifEqual: w2.generation })).toEqual({ ok: false });
        expect((await store.read(K('missing'))).state).toBe('missing');
        const w3 = await store.write(K('k'), enc('3'), { ifEqual: w2.generation });
        expect(w3.ok).toBe(true);
        const r = await readOk('k');
        expect(dec(r.value)).toBe('3');
        expect(w3.ok && w3.generation).toBe(r.generation);
        expect(r.generation).not.toBe(w2.generation);
      });

      twd('delete removes a key; deleting a missing key is fine', async () => {
        await store.write(K('d/k'), enc('v'));
        expect(await store.delete(K('d/k'))).toBe(true);
        expect(await store.read(K('d/k'))).toEqual({ state: 'missing', generation: NO_GENERATION });
        expect(await store.delete(K('d/k'))).toBe(true);
        expect(await store.delete(K('never/was'))).toBe(true);
      });

      twd('delete ifEqual: only with the current generation ("" = must be missing)', async () => {
        const w = await store.write(K('k'), enc('v'));
        if (!w.ok) throw new Error('setup write failed');
        expect(await store.delete(K('k'), { ifEqual: 'some-other-generation' })).toBe(false);
        expect(await store.delete(K('k'), { ifEqual: NO_GENERATION })).toBe(false);
        expect((await store.read(K('k'))).state).toBe('value');
        expect(await store.delete(K('k'), { ifEqual: w.generation })).toBe(true);
        expect((await store.read(K('k'))).state).toBe('missing');
        expect(await store.delete(K('k'), { ifEqual: NO_GENERATION })).toBe(true);
        expect(await store.delete(K('k'), { ifEqual: w.generation })).toBe(false);
      });

      twl('deleteRange(prefix) removes exactly the prefixed keys', async () => {
        const keys = ['x/1', 'x/2/3', 'x/2/4/5', 'xy', 'xz/1', 'y/x', 'top', 'odd/a b'];
        for (const k of keys) await store.write(k, enc(k));
        await store.deleteRange('x/2');
        expect(await listAll(store, '')).toEqual(['odd/a b', 'top', 'x/1', 'xy', 'xz/1', 'y/x']);
        await store.deleteRange('x/');
        expect(await listAll(store, '')).toEqual(['odd/a b', 'top', 'xy', 'xz/1', 'y/x']);
        await store.deleteRange('x');
        expect(await listAll(store, '')).toEqual(['odd/a b', 'top', 'y/x']);
        await store.deleteRange('nothing');
        expect(await listAll(store, '')).toEqual(['odd/a b', 'top', 'y/x']);
        expect((await store.read('y/x')).state).toBe('value');
        expect((await store.read('x/1')).state).toBe('missing');
        // A key can be written again under a range that was deleted.
        await store.write('x/2/3', enc('again'));
        expect(dec((await readOk('x/2/3')).value)).toBe('again');
        await store.deleteRange('');
        expect(await listAll(store, '')).toEqual([]);
      });

      (mapped && canWrite && canDeleteRange ? t : skip)("deleteRange('') removes every key", async () => {
        const keys = ['x/1', 'x/2/3', 'y', 'odd/a b'];
        for (const k of keys) await store.write(K(k), enc(k));
        await store.deleteRange('');
        for (const k of keys) expect((await store.read(K(k))).state, k).toBe('missing');
        if (canList) expect(await listAll(store, '')).toEqual([]);
        await store.write(K('y'), enc('again'));
        expect(dec((await readOk('y')).value)).toBe('again');
      });

      (canWrite && canDelete && canList ? t : skip)('list sees writes and deletes', async () => {
        await store.write(K('p/a'), enc('1'));
        await store.write(K('p/b c'), enc('2'));
        const prefix = mapped ? '' : 'p/';
        expect(await listAll(store, prefix)).toEqual([K('p/a'), K('p/b c')].sort());
        await store.delete(K('p/a'));
        expect(await listAll(store, prefix)).toEqual([K('p/b c')]);
      });

      tw(`${writers} racing conditional writers: exactly one wins and its value is stored`, async () => {
        for (const start of ['missing', 'existing'] as const) {
          const key = `race/${start}`;
          let g0 = NO_GENERATION;
          if (start === 'existing') {
            const w = await store.write(K(key), enc('initial'));
            if (!w.ok) throw new Error('setup write failed');
            g0 = w.generation;
          }
          const results = await Promise.all(
            Array.from({ length: writers }, (_, i) => store.write(K(key), enc(`writer-${i}`), { ifEqual: g0 })),
          );
          const winners = results.flatMap((r, i) => (r.ok ? [{ i, generation: r.generation }] : []));
          expect(winners.length, `${start}: winners`).toBe(1);
          const r = await readOk(key);
          expect(dec(r.value)).toBe(`writer-${winners[0]!.i}`);
          expect(r.generation).toBe(winners[0]!.generation);
        }
      });

      tw('racing unconditional writers leave one complete value', async () => {
        const vals = Array.from({ length: 8 }, (_, i) => new Uint8Array(64 * 1024).fill(i + 1));
        await Promise.all(vals.map((v) => store.write(K('u'), v)));
        const r = await readOk('u');
        expect(r.value.length).toBe(64 * 1024);
        expect(r.value.every((b) => b === r.value[0])).toBe(true);
      });

      tw('an aborted signal rejects writes and deletes with AbortError and changes nothing', async () => {
        await store.write(K('k'), enc('v'));
        await expect(store.write(K('k'), enc('x'), { signal: abortedSignal() })).rejects.toBeInstanceOf(AbortError);
        await expect(store.write(K('n'), enc('x'), { signal: abortedSignal() })).rejects.toBeInstanceOf(AbortError);
        if (canDelete) await expect(store.delete(K('k'), { signal: abortedSignal() })).rejects.toBeInstanceOf(AbortError);
        if (canDeleteRange) await expect(store.deleteRange('', { signal: abortedSignal() })).rejects.toBeInstanceOf(AbortError);
        expect(dec((await readOk('k')).value)).toBe('v');
        expect((await store.read(K('n'))).state).toBe('missing');
      });
    });
  });
}
