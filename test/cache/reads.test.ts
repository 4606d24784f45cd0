/**
 * The cache pool under real reads on the GCS emulator: dedup of concurrent reads, staleness
 * modes (recheck_cached_data / recheck_cached_metadata) proven by the emulator's request and
 * byte counters, writes invalidating, failed fetches never cached, shard indexes and metadata
 * in the same byte budget, and the byte bound under a random concurrent workload.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CodecChain } from '../../src/codecs/chain.js';
import { Context, MetadataError, NdArray, open } from '../../src/index.js';
import { AbortError, KvStoreError } from '../../src/errors.js';
import { GcsStore } from '../../src/kvstore/gcs.js';
import { type Emulator, startEmulator } from '../../src/testing/index.js';
import { mulberry32 } from '../../src/testing/prng.js';

const BUCKET = 'cache-reads';
let emu: Emulator;
let seq = 0;

beforeAll(async () => {
  emu = await startEmulator({ buckets: [BUCKET] });
});
afterAll(async () => {
  await emu.stop();
});
afterEach(() => {
  vi.restoreAllMocks();
  emu.setLatency(0);
  emu.setFaults(undefined);
});

const kv = (path: string) => ({ driver: 'gcs', bucket: BUCKET, path, endpoint: emu.url });

/** Requests the emulator served (object reads: media GETs) and bytes it sent, during `f`. */
async function counted<T>(f: () => Promise<T>): Promise<{ value: T; media: number; total: number; bytesOut: number }> {
  const a = emu.counters();
  const value = await f();
  const b = emu.counters();
  return {
    value,
    media: (b.requests.byKind.media ?? 0) - (a.requests.byKind.media ?? 0),
    total: b.requests.total - a.requests.total,
    bytesOut: b.bytesOut - a.bytesOut,
  };
}

/** A uint8 zarr3 array of `shape` with values (i * 7 + 3) & 255, written with no cache. */
async function makeArray(opts: { shape: number[]; chunk: number[]; shard?: number[] }): Promise<{ path: string; data: NdArray }> {
  const path = `a${++seq}/`;
  const layout = opts.shard ? { write_chunk: { shape: opts.shard }, read_chunk: { shape: opts.chunk } } : { chunk: { shape: opts.chunk } };
  const w = await open({
    driver: 'zarr3', kvstore: kv(path), create: true, dtype: 'uint8',
    schema: { domain: { shape: opts.shape }, chunk_layout: layout },
    metadata: opts.shard ? undefined : { codecs: [{ name: 'bytes' }, { name: 'zstd', configuration: { level: 1 } }] },
  } as never);
  const data = NdArray.zeros('uint8', opts.shape);
  (data.data as Uint8Array).forEach((_, i, a) => (a[i] = (i * 7 + 3) & 255));
  await w.write(data);
  return { path, data };
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
};

/** Counts chunk decodes by codec chains, whether into a read's result (decodeInto) or not. */
const spyDecodes = (): (() => number) => {
  const plain = vi.spyOn(CodecChain.prototype, 'decode');
  const into = vi.spyOn(CodecChain.prototype, 'decodeInto');
  return () => plain.mock.calls.length + into.mock.calls.length;
};

const bytesOf = (a: NdArray) => Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength);

describe('concurrent reads of one chunk share one fetch and one decode', () => {
  for (const cacheBytes of [0, 1 << 24]) {
    it(`unsharded, cache_pool ${cacheBytes}: 8 readers -> 1 request, 1 decode; the result is the chunk`, async () => {
      const { path, data } = await makeArray({ shape: [32, 32], chunk: [16, 16] });
      const context = new Context({ cache_pool: { total_bytes_limit: cacheBytes } });
      const vol = await open({ driver: 'zarr3', kvstore: kv(path) } as never, { context });
      emu.setLatency(30);
      const decodes = spyDecodes();
      const c = await counted(() => Promise.all(Array.from({ length: 8 }, () => vol.slice([[0, 16], [0, 16]]).read())));
      expect(c.media).toBe(1);
      expect(decodes()).toBe(1);
      for (const r of c.value) expect(r.toFlat()).toEqual(data.toFlat().filter((_, i) => Math.floor(i / 32) < 16 && i % 32 < 16));
      expect(context.stats().cache.joined).toBe(7);
      expect(vol.stats()).toMatchObject({ misses: 1, joined: 7 });
    });
  }

  it('sharded: 8 readers of one inner chunk -> index + 1 data request (cold), 0 more while cached', async () => {
    const { path } = await makeArray({ shape: [32, 32], chunk: [8, 8], shard: [32, 32] });
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 24 } });
    const vol = await open({ driver: 'zarr3', kvstore: kv(path), recheck_cached_data: 'open' } as never, { context });
    emu.setLatency(30);
    const view = vol.slice([[8, 16], [8, 16]]);
    const decodes = spyDecodes();
    const c = await counted(() => Promise.all(Array.from({ length: 8 }, () => view.read())));
    expect(c.media).toBe(2);
    expect(decodes()).toBe(2); // the shard index and the one inner chunk
    const again = await counted(() => view.read());
    expect(again.total).toBe(0);
  });

  it('one reader aborting leaves the others their data; all aborting cancels the request (no byte sent)', async () => {
    const { path } = await makeArray({ shape: [16, 16], chunk: [16, 16] });
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 20 } });
    const vol = await open({ driver: 'zarr3', kvstore: kv(path) } as never, { context });
    emu.setLatency(150);
    const arrived = () => emu.counters().requests.byKind.media ?? 0;
    let base = arrived();
    const acs = [0, 1, 2].map(() => new AbortController());
    const ps = acs.map((ac) => vol.read({ signal: ac.signal }).catch((e: unknown) => e));
    await until(() => arrived() > base); // the shared request is at the server, its answer 150 ms away
    acs[0]!.abort();
    expect(await ps[0]).toBeInstanceOf(AbortError);
    expect(await ps[1]).toBeInstanceOf(NdArray);
    expect(await ps[2]).toBeInstanceOf(NdArray);

    const fresh = await open({ driver: 'zarr3', kvstore: kv(path) } as never, { context: new Context() });
    const all = [0, 1, 2].map(() => new AbortController());
    base = arrived();
    const c = await counted(async () => {
      const qs = all.map((ac) => fresh.read({ signal: ac.signal }).catch((e: unknown) => e));
      await until(() => arrived() > base);
      for (const ac of all) ac.abort();
      for (const q of qs) expect(await q).toBeInstanceOf(AbortError);
      await new Promise((r) => setTimeout(r, 300)); // past the latency: a live request would have been answered
    });
    expect(c.media).toBe(1); // the one shared request arrived...
    expect(c.bytesOut).toBe(0); // ...and was cancelled before any byte of its answer
  });
});

describe('recheck_cached_data (emulator counters)', () => {
  const N_CHUNKS = 4;
  const setup = async (recheck: unknown) => {
    const { path, data } = await makeArray({ shape: [32, 32], chunk: [16, 16] });
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 24 } });
    const spec = { driver: 'zarr3', kvstore: kv(path), ...(recheck === undefined ? {} : { recheck_cached_data: recheck }) };
    const vol = await open(spec as never, { context });
    const first = await counted(() => vol.read());
    expect(first.media).toBe(N_CHUNKS);
    expect(first.bytesOut).toBeGreaterThan(0);
    const other = await open({ driver: 'zarr3', kvstore: kv(path) } as never);
    return { vol, context, data, other, spec };
  };

  it('true (the default): every read revalidates each chunk with a conditional request that moves no body', async () => {
    const { vol, other } = await setup(undefined);
    const c = await counted(() => vol.read());
    expect(c.media).toBe(N_CHUNKS);
    expect(c.bytesOut).toBe(0); // 304s
    await other.slice([[0, 16], [0, 16]]).write(9);
    const after = await counted(() => vol.read());
    expect(after.media).toBe(N_CHUNKS);
    expect(after.bytesOut).toBeGreaterThan(0); // the one changed chunk came with its body
    expect(after.value.toFlat()[0]).toBe(9);
  });

  it('false: cached chunks are served with no request at all, even after another writer changed them', async () => {
    const { vol, other, data } = await setup(false);
    await other.slice([[0, 16], [0, 16]]).write(9);
    const c = await counted(() => vol.read());
    expect(c.total).toBe(0);
    expect(bytesOf(c.value).equals(bytesOf(data))).toBe(true);
  });

  it('"open": no request for data cached since the open; a new open revalidates what was cached before it', async () => {
    const { vol, other, context, spec } = await setup('open');
    expect((await counted(() => vol.read())).total).toBe(0);
    await other.slice([[0, 16], [0, 16]]).write(9);
    expect((await counted(() => vol.read())).value.toFlat()[0]).not.toBe(9); // cached since this open
    const reopened = await open(spec as never, { context });
    const c = await counted(() => reopened.read());
    expect(c.media).toBe(N_CHUNKS); // one conditional read per chunk...
    expect(c.value.toFlat()[0]).toBe(9);
    const chunkBytes = c.bytesOut;
    const again = await counted(() => open(spec as never, { context }).then((v) => v.read()));
    expect(again.bytesOut).toBe(0); // ...and with nothing changed, no body at all (metadata: 304 too)
    expect(chunkBytes).toBeGreaterThan(0);
  });

  it('a time bound (seconds since the epoch): data verified after it is fresh, before it is revalidated', async () => {
    const past = await setup(Date.now() / 1000 - 3600);
    expect((await counted(() => past.vol.read())).total).toBe(0);
    const future = await setup(Date.now() / 1000 + 3600);
    const c = await counted(() => future.vol.read());
    expect(c.media).toBe(N_CHUNKS);
    expect(c.bytesOut).toBe(0);
  });

  it('rejects other values with a SpecError naming the key', async () => {
    await expect(open({ driver: 'zarr3', kvstore: 'memory://x/', recheck_cached_data: 'sometimes' } as never)).rejects.toMatchObject({ code: 'spec', message: expect.stringMatching(/recheck_cached_data/) });
    await expect(open({ driver: 'zarr3', kvstore: 'memory://x/', recheck_cached_metadata: [] } as never)).rejects.toMatchObject({ code: 'spec' });
  });
});

describe('recheck_cached_metadata (emulator counters)', () => {
  it('"open" (default): a second open with the same Context costs one bodyless conditional read', async () => {
    const { path } = await makeArray({ shape: [8], chunk: [8] });
    const context = new Context();
    const first = await counted(() => open({ driver: 'zarr3', kvstore: kv(path) } as never, { context }));
    expect(first.media).toBe(1);
    expect(first.bytesOut).toBeGreaterThan(0);
    const second = await counted(() => open({ driver: 'zarr3', kvstore: kv(path) } as never, { context }));
    expect(second.media).toBe(1);
    expect(second.bytesOut).toBe(0);
    expect(context.stats().cache.byKind.metadata.entries).toBe(1);
  });

  it('format detection and the driver share one metadata read', async () => {
    const { path } = await makeArray({ shape: [8], chunk: [8] });
    const c = await counted(() => open({ kvstore: kv(path) } as never));
    // zarr.json found (1) and three missing candidates; the driver's own zarr.json read is served from the pool.
    expect(c.media).toBe(4);
  });

  it('false: a second open makes no request', async () => {
    const { path } = await makeArray({ shape: [8], chunk: [8] });
    const context = new Context();
    const spec = { driver: 'zarr3', kvstore: kv(path), recheck_cached_metadata: false };
    await open(spec as never, { context });
    expect((await counted(() => open(spec as never, { context }))).total).toBe(0);
  });

  it('true: every read revalidates the metadata (304); metadata changed since open is a MetadataError', async () => {
    const { path } = await makeArray({ shape: [8], chunk: [8] });
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 20 } });
    const vol = await open({ driver: 'zarr3', kvstore: kv(path), recheck_cached_metadata: true, recheck_cached_data: false } as never, { context });
    await vol.read();
    const c = await counted(() => vol.read());
    expect(c.media).toBe(1); // zarr.json, conditional; the chunk is cached (recheck_cached_data false)
    expect(c.bytesOut).toBe(0);
    const store = new GcsStore({ bucket: BUCKET, path, endpoint: emu.url });
    const r = await store.read('zarr.json');
    const json = JSON.parse(new TextDecoder().decode((r as { value: Uint8Array }).value));
    json.shape = [16];
    await store.write('zarr.json', new TextEncoder().encode(JSON.stringify(json)));
    await expect(vol.read()).rejects.toBeInstanceOf(MetadataError);
  });
});

describe('writes and failures', () => {
  it('a write through a handle invalidates the chunks it touched (seen even with recheck_cached_data false)', async () => {
    const { path } = await makeArray({ shape: [32, 32], chunk: [16, 16] });
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 24 } });
    const vol = await open({ driver: 'zarr3', kvstore: kv(path), recheck_cached_data: false } as never, { context });
    await vol.read();
    await vol.slice([[0, 4], [0, 4]]).write(200);
    const c = await counted(() => vol.read());
    expect(c.media).toBe(1); // only the written chunk is fetched again
    expect(c.value.toFlat()[0]).toBe(200);
  });

  it('sharded: a write drops the shard index from the pool; the next read sees the new shard', async () => {
    const { path } = await makeArray({ shape: [16, 16], chunk: [8, 8], shard: [16, 16] });
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 24 } });
    const vol = await open({ driver: 'zarr3', kvstore: kv(path), recheck_cached_data: false } as never, { context });
    await vol.read();
    expect(context.stats().cache.byKind['shard-index'].entries).toBe(1);
    await vol.slice([[0, 8], [0, 8]]).write(77);
    expect(context.stats().cache.byKind['shard-index'].entries).toBe(0);
    const got = (await vol.read()).toFlat();
    expect(got[0]).toBe(77);
    expect(got[8]).toBe((8 * 7 + 3) & 255);
  });

  it('a failed fetch is never cached: the next read fetches again and succeeds', async () => {
    const { path, data } = await makeArray({ shape: [16, 16], chunk: [16, 16] });
    const context = new Context({ cache_pool: { total_bytes_limit: 1 << 20 }, gcs_request_retries: { max_retries: 0 } });
    const vol = await open({ driver: 'zarr3', kvstore: kv(path), recheck_cached_data: false } as never, { context });
    emu.setFaults('503:1');
    await expect(vol.read()).rejects.toBeInstanceOf(KvStoreError);
    emu.setFaults(undefined);
    expect(context.stats().cache.byKind.chunk.entries).toBe(0);
    const c = await counted(() => vol.read());
    expect(c.media).toBe(1);
    expect(bytesOf(c.value).equals(bytesOf(data))).toBe(true);
  });
});

describe('one byte budget for chunks, shard indexes and metadata', () => {
  it('two handles of one array with one Context share shard indexes (the second reads data only)', async () => {
    const { path } = await makeArray({ shape: [32, 32], chunk: [8, 8], shard: [16, 16] });
    const context = new Context({ cache_pool: { total_bytes_limit: 0 } }); // no chunk cache: indexes are still kept
    const a = await open({ driver: 'zarr3', kvstore: kv(path) } as never, { context });
    const b = await open({ driver: 'zarr3', kvstore: kv(path) } as never, { context });
    expect((await counted(() => a.read())).media).toBe(8); // 4 shards x (index + data)
    expect((await counted(() => b.read())).media).toBe(4); // data only
    const s = context.stats().cache;
    expect(s.byKind['shard-index'].entries).toBe(4);
    expect(s.byKind.chunk.entries).toBe(0);
    expect(s.byKind.metadata.entries).toBe(1);
  });

  it('under a small budget, indexes are evicted like chunks and reads stay right', async () => {
    const { path, data } = await makeArray({ shape: [32, 32], chunk: [8, 8], shard: [16, 16] });
    const context = new Context({ cache_pool: { total_bytes_limit: 3 * 1024 } });
    const vol = await open({ driver: 'zarr3', kvstore: kv(path) } as never, { context });
    for (let i = 0; i < 3; i++) expect(bytesOf(await vol.read()).equals(bytesOf(data))).toBe(true);
    const s = context.stats().cache;
    expect(s.bytesUsed).toBeLessThanOrEqual(3 * 1024);
    expect(s.byKind['shard-index'].evictions + s.byKind.metadata.evictions).toBeGreaterThan(0);
  });

  it('random concurrent reads: bytes charged never exceed the limit (+ in flight), results are exact', async () => {
    const shape = [48, 48, 48];
    const { path, data } = await makeArray({ shape, chunk: [8, 8, 8], shard: [16, 16, 16] });
    const limit = 40 * 1024;
    const context = new Context({ cache_pool: { total_bytes_limit: limit } });
    const vol = await open({ driver: 'zarr3', kvstore: kv(path), recheck_cached_data: 'open' } as never, { context });
    const r = mulberry32(3);
    let samples = 0;
    const sampler = setInterval(() => {
      const s = context.stats().cache;
      expect(s.bytesUsed).toBeLessThanOrEqual(limit + s.prefetch.reservedBytes);
      samples++;
    }, 1);
    try {
      for (let round = 0; round < 6; round++) {
        await Promise.all(Array.from({ length: 6 }, async () => {
          const lo = shape.map((s) => Math.floor(r() * (s - 1)));
          const hi = lo.map((l, k) => l + 1 + Math.floor(r() * Math.min(20, shape[k]! - l - 1)));
          const got = await vol.slice(lo.map((l, k) => [l, hi[k]!] as [number, number])).read();
          const want: number[] = [];
          for (let z = lo[0]!; z < hi[0]!; z++) for (let y = lo[1]!; y < hi[1]!; y++) for (let x = lo[2]!; x < hi[2]!; x++) want.push((data.data as Uint8Array)[(z * 48 + y) * 48 + x]!);
          expect(got.toFlat()).toEqual(want);
        }));
        expect(context.stats().cache.bytesUsed).toBeLessThanOrEqual(limit);
      }
    } finally {
      clearInterval(sampler);
    }
    expect(samples).toBeGreaterThan(0);
    expect(context.stats().evictions).toBeGreaterThan(0);
  });
});
