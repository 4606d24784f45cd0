/**
 * Issue 9 #14 and the CLI issue's failed `copy` under `--faults 503:0.1`: writes are retried
 * like reads, and stay correct when an earlier attempt landed but its answer was lost:
 * - an unconditional write repeats the same bytes (idempotent);
 * - a conditional write that then meets "precondition failed" checks whether the stored object
 *   carries its write token (its own landed attempt) before reporting a conflict;
 * - a conditional delete that then finds the key gone succeeded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Context, NdArray, open } from '../../src/index.js';
import { GcsStore } from '../../src/kvstore/gcs.js';
import type { FetchLike } from '../../src/kvstore/http/client.js';
import type { KvStore } from '../../src/kvstore/kvstore.js';
import { S3Store } from '../../src/kvstore/s3.js';
import { type Emulator, startEmulator } from '../../src/testing/index.js';
import { pseudoRandomBytes } from './conformance.js';

const FAST = { maxRetries: 8, initialDelayMs: 1, maxDelayMs: 5 };
let emu: Emulator;
let n = 0;

beforeAll(async () => {
  emu = await startEmulator({ buckets: ['wrt'], seed: 5 });
});
afterAll(() => emu?.stop());

const isWrite = (method: string) => method === 'PUT' || method === 'POST' || method === 'DELETE';

/**
 * A fetch that lets the first write-like request reach the server (it lands), then throws a
 * connection reset instead of handing back the answer ('lost'); or, for 'refused', runs
 * `before` and answers 503 without sending the request at all.
 */
function faulty(mode: 'lost' | 'refused', before?: () => Promise<void>) {
  let armed = true;
  const writes: string[] = [];
  const f: FetchLike = async (url, init) => {
    const method = init.method ?? 'GET';
    if (isWrite(method)) writes.push(method);
    if (armed && isWrite(method)) {
      armed = false;
      if (mode === 'refused') {
        await before?.();
        return new Response('busy', { status: 503 });
      }
      const res = await fetch(url, init);
      await res.arrayBuffer();
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    }
    return fetch(url, init);
  };
  return { fetch: f, writes };
}

const makers: Record<string, (fetch?: FetchLike) => KvStore> = {
  gcs: (fetch) => new GcsStore({ bucket: 'wrt', path: `g${n}/`, endpoint: emu.url, retries: FAST, fetch }),
  s3: (fetch) => new S3Store({ bucket: 'wrt', path: `s${n}/`, endpoint: `${emu.url}/s3`, credentials: 'anonymous', retries: FAST, fetch }),
};

async function valueOf(store: KvStore, key: string): Promise<Uint8Array | undefined> {
  const r = await store.read(key);
  return r.state === 'value' ? r.value : undefined;
}

describe('a write whose first attempt landed but whose answer was lost', () => {
  for (const [name, make] of Object.entries(makers)) {
    it(`${name}: an unconditional write is retried and succeeds`, async () => {
      n++;
      const f = faulty('lost');
      const store = make(f.fetch);
      const v = pseudoRandomBytes(3000, 1);
      const w = await store.write('a', v);
      expect(w.ok).toBe(true);
      expect(f.writes.length).toBe(2);
      const r = await make().read('a');
      expect(r.state === 'value' && Buffer.from(r.value).equals(Buffer.from(v))).toBe(true);
      expect(r.generation).toBe(w.ok && w.generation);
    });

    it(`${name}: a conditional create (ifEqual "") reports success, not a conflict`, async () => {
      n++;
      const f = faulty('lost');
      const store = make(f.fetch);
      const v = pseudoRandomBytes(2000, 2);
      const w = await store.write('b', v, { ifEqual: '' });
      expect(w.ok).toBe(true);
      const r = await make().read('b');
      expect(r.state === 'value' && Buffer.from(r.value).equals(Buffer.from(v))).toBe(true);
      expect(r.generation).toBe(w.ok && w.generation);
    });

    it(`${name}: a conditional overwrite (ifEqual <generation>) reports success, not a conflict`, async () => {
      n++;
      const plain = make();
      const w0 = await plain.write('c', new Uint8Array([1]));
      expect(w0.ok).toBe(true);
      const f = faulty('lost');
      const v = pseudoRandomBytes(100, 3);
      const w = await make(f.fetch).write('c', v, { ifEqual: w0.ok ? w0.generation : '' });
      expect(w.ok).toBe(true);
      expect(Buffer.from((await valueOf(plain, 'c'))!).equals(Buffer.from(v))).toBe(true);
    });

    it(`${name}: a real conflict during the retry is still a conflict`, async () => {
      n++;
      const plain = make();
      const w0 = await plain.write('d', new Uint8Array([1]));
      const theirs = new Uint8Array([9, 9, 9]);
      // Our first attempt is refused (503, not executed); meanwhile someone else writes.
      const f = faulty('refused', async () => void (await plain.write('d', theirs)));
      const w = await make(f.fetch).write('d', new Uint8Array([2]), { ifEqual: w0.ok ? w0.generation : '' });
      expect(w).toEqual({ ok: false });
      expect([...(await valueOf(plain, 'd'))!]).toEqual([9, 9, 9]);
    });

    it(`${name}: a conditional delete whose first attempt landed returns true`, async () => {
      n++;
      const plain = make();
      const w0 = await plain.write('e', new Uint8Array([1]));
      const f = faulty('lost');
      expect(await make(f.fetch).delete('e', { ifEqual: w0.ok ? w0.generation : '' })).toBe(true);
      expect((await plain.read('e')).state).toBe('missing');
      expect(f.writes.length).toBe(2);
    });
  }
});

describe('whole-volume zarr3 sharded writes under faults', () => {
  for (const driver of ['gcs', 's3'] as const) {
    it(`${driver}: a write under 503/429/reset/truncate faults gives exact results; counters show the retries`, async () => {
      const shape = [64, 64, 40];
      const data = NdArray.zeros('uint16', shape);
      const d = data.data as Uint16Array;
      for (let i = 0; i < d.length; i++) d[i] = (i * 2654435761) >>> 16;
      const kvstore = (path: string) =>
        driver === 'gcs' ? { driver, bucket: 'wrt', path, endpoint: emu.url } : { driver, bucket: 'wrt', path, endpoint: `${emu.url}/s3` };
      const context = () =>
        new Context({
          gcs_request_retries: { max_retries: 40, initial_delay: '1ms', max_delay: '5ms' },
          s3_request_retries: { max_retries: 40, initial_delay: '1ms', max_delay: '5ms' },
        });
      const spec = (path: string) => ({
        driver: 'zarr3',
        kvstore: kvstore(path),
        create: true,
        delete_existing: true,
        dtype: 'uint16',
        schema: {
          domain: { shape },
          chunk_layout: { read_chunk: { shape: [8, 8, 8] }, write_chunk: { shape: [16, 16, 16] } },
        },
      });
      // Without faults: how many requests the write takes.
      emu.resetCounters();
      await (await open(spec(`${driver}-clean/`), { context: context() })).write(data);
      const clean = emu.counters().requests.total;
      // The same write under faults.
      emu.resetCounters();
      emu.setFaults('503:0.1,429:0.03,reset:0.05,truncate:0.1');
      try {
        await (await open(spec(`${driver}-faulty/`), { context: context() })).write(data);
      } finally {
        emu.setFaults(undefined);
      }
      const c = emu.counters();
      const faults = Object.values(c.faults).reduce((a, b) => a + b, 0);
      console.log(`${driver} sharded write: ${clean} requests without faults; ${c.requests.total} with ${JSON.stringify(c.faults)}`);
      expect(faults).toBeGreaterThan(5);
      expect(c.faults.truncate ?? 0).toBeGreaterThan(0);
      // Every refused request (status fault or reset) cost one more request: its retry. (A
      // truncated answer costs one only when its body was needed.)
      const refused = faults - (c.faults.truncate ?? 0);
      expect(c.requests.total).toBeGreaterThanOrEqual(clean + refused);
      expect(c.requests.total).toBeGreaterThan(clean);
      const back = await (await open({ driver: 'zarr3', kvstore: kvstore(`${driver}-faulty/`) }, { context: context() })).read();
      expect(Buffer.from(back.data.buffer).equals(Buffer.from(data.data.buffer))).toBe(true);
    });
  }
});
