/**
 * Prefetching (src/io/prefetch.ts): `vol.prefetch()` warms the cache; the `neighbors` and
 * `sequential` policies of `vol.withPrefetch()` load ahead of demand reads; prefetches are
 * dropped (and their requests cancelled) when the window moves; budgets hold.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Context, NdArray, open, SpecError, type Volume } from '../../src/index.js';
import { type Emulator, startEmulator } from '../../src/testing/index.js';

const BUCKET = 'prefetch-test';
let emu: Emulator;
let seq = 0;
beforeAll(async () => {
  emu = await startEmulator({ buckets: [BUCKET] });
});
afterAll(async () => {
  await emu.stop();
});
afterEach(() => emu.setLatency(0));

const media = () => emu.counters().requests.byKind.media ?? 0;
const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

/** A [32, 32, 32] uint8 zarr3 volume (values (i * 5 + 1) & 255) in [4, 16, 16] chunks on the emulator. */
async function volume(opts: { cacheBytes?: number; sharded?: boolean } = {}): Promise<{ vol: Volume; context: Context; data: NdArray }> {
  const kv = { driver: 'gcs', bucket: BUCKET, path: `v${++seq}/`, endpoint: emu.url };
  const layout = opts.sharded ? { write_chunk: { shape: [16, 32, 32] }, read_chunk: { shape: [4, 16, 16] } } : { chunk: { shape: [4, 16, 16] } };
  const w = await open({ driver: 'zarr3', kvstore: kv, create: true, dtype: 'uint8', schema: { domain: { shape: [32, 32, 32] }, chunk_layout: layout } } as never);
  const data = NdArray.zeros('uint8', [32, 32, 32]);
  (data.data as Uint8Array).forEach((_, i, a) => (a[i] = (i * 5 + 1) & 255));
  await w.write(data);
  const context = new Context({ cache_pool: { total_bytes_limit: opts.cacheBytes ?? 1 << 24 } });
  const vol = await open({ driver: 'zarr3', kvstore: kv, recheck_cached_data: 'open' } as never, { context });
  return { vol, context, data };
}

const plane = (data: NdArray, z: number) => (data.data as Uint8Array).slice(z * 1024, (z + 1) * 1024);

describe('vol.prefetch()', () => {
  it('warms the cache for a region: a read of it afterwards makes no request', async () => {
    const { vol, context, data } = await volume();
    const r = await vol.slice([[0, 8], null, null]).prefetch();
    expect(r).toEqual({ chunks: 8, present: 0, loaded: 8, skipped: 0 });
    const before = media();
    const got = await vol.slice([5, null, null]).read();
    expect(media()).toBe(before);
    expect(Array.from(got.data as Uint8Array)).toEqual(Array.from(plane(data, 5)));
    expect(context.stats().prefetchHits).toBe(4);
    expect((await vol.slice([[0, 8], null, null]).prefetch()).present).toBe(8);
  });

  it('stays within its byte budget (chunks beyond it are skipped)', async () => {
    const { vol, context } = await volume();
    const r = await vol.prefetch({ budgetBytes: 3 * 4 * 16 * 16 });
    expect(r.loaded).toBe(3);
    expect(r.skipped).toBe(r.chunks - 3);
    expect(context.stats().cache.prefetch.unusedBytes).toBeLessThanOrEqual(3 * (4 * 16 * 16 + 128));
  });

  it('needs a cache: SpecError naming cache_pool.total_bytes_limit', async () => {
    const { vol } = await volume({ cacheBytes: 0 });
    await expect(vol.prefetch()).rejects.toBeInstanceOf(SpecError);
    expect(() => vol.withPrefetch('neighbors')).toThrow(/cache_pool.total_bytes_limit/);
  });
});

describe('vol.withPrefetch()', () => {
  it('neighbors: reading slices loads the next chunk layer along the scroll axis; reads there are prefetch hits', async () => {
    const { vol, context, data } = await volume();
    const viewer = vol.withPrefetch({ policy: 'neighbors', axis: 0, depth: 1 });
    await viewer.slice([0, null, null]).read(); // layer 0 (z 0-3); the window: layer 1 (z 4-7)
    await until(() => context.stats().cache.inFlight === 0 && viewer.stats().prefetch!.active === 0, 'the prefetch');
    const before = media();
    for (let z = 1; z < 8; z++) expect(Array.from((await viewer.slice([z, null, null]).read()).data as Uint8Array)).toEqual(Array.from(plane(data, z)));
    expect(media()).toBe(before); // layer 1 was prefetched while layer 0 was shown
    expect(viewer.stats().prefetchHits).toBe(4);
    await until(() => context.stats().cache.inFlight === 0 && viewer.stats().prefetch!.active === 0, 'the next prefetch');
    expect(context.stats().cache.byKind.chunk.entries).toBe(12); // layers 0, 1 and (moving up) 2
  });

  it('sequential: a crop service walking blocks finds the next block loaded', async () => {
    const { vol, context } = await volume();
    const walker = vol.withPrefetch({ policy: 'sequential', depth: 1 });
    await walker.slice([[0, 4], [0, 16], [0, 16]]).read(); // read-ahead starts during this read: the next block in C order
    await walker.slice([[0, 4], [0, 16], [16, 32]]).read(); // served by that prefetch; step: +16 in x; next: C order wraps to y 16
    await until(() => context.stats().cache.inFlight === 0 && walker.stats().prefetch!.active === 0, 'the prefetch');
    const before = media();
    await walker.slice([[0, 4], [16, 32], [0, 16]]).read();
    expect(media()).toBe(before);
    expect(walker.stats().prefetchHits).toBe(2);
  });

  it('sequential over thin slices reads ahead into the next chunk layer, not the slices of the layer just read', async () => {
    const { vol, context } = await volume();
    const walker = vol.withPrefetch({ policy: 'sequential', depth: 1, duringReads: false });
    await walker.slice([[0, 1], [0, 16], [0, 16]]).read();
    await walker.slice([[1, 2], [0, 16], [0, 16]]).read(); // step +1 in z; planes 2, 3 lie in the chunks read
    await until(() => context.stats().cache.inFlight === 0 && walker.stats().prefetch!.active === 0, 'the prefetch');
    const before = media();
    for (let z = 2; z < 8; z++) await walker.slice([[z, z + 1], [0, 16], [0, 16]]).read();
    expect(media() - before).toBeLessThan(2); // plane 4's chunk was prefetched (planes 5..7 may race their own prefetch)
    expect(walker.stats().prefetchHits).toBeGreaterThanOrEqual(1);
  });

  it('a prefetch is dropped when the window moves: its requests are cancelled and its slots free at once', async () => {
    const { vol, context } = await volume();
    const viewer = vol.withPrefetch({ policy: 'neighbors', axis: 0, depth: 1 });
    emu.setLatency(1000);
    await viewer.slice([0, null, null]).read(); // layer 0; then the window (layer 1) loads, slowly
    await until(() => viewer.stats().prefetch!.active === 4, 'the prefetch to start');
    expect(context.stats().requestsByResource.gcs_request_concurrency!.activePrefetch).toBe(4);
    const bytes = emu.counters().bytesOut;
    let farDone = false;
    const far = viewer.slice([28, null, null]).read().finally(() => (farDone = true)); // the window jumps past layer 7
    await until(() => context.stats().requestsByResource.gcs_request_concurrency!.activePrefetch === 0, 'the slots to free');
    expect(farDone).toBe(false); // freed long before any answer (1 s of server latency) came back
    await far;
    await new Promise((r) => setTimeout(r, 1100)); // past the latency: live requests would have been answered
    expect(emu.counters().bytesOut - bytes).toBe(4 * 4 * 16 * 16); // the far read's 4 raw chunks, nothing of layer 1
    expect(context.stats().cache.prefetch.dropped).toBe(4);
    expect(context.stats().cache.byKind.chunk.entries).toBe(8); // layers 0 and 7 only
  });

  it('a demand read joining a prefetch keeps it alive when the window moves on', async () => {
    const { vol, context, data } = await volume();
    const viewer = vol.withPrefetch({ policy: 'neighbors', axis: 0, depth: 1 });
    await viewer.slice([0, null, null]).read();
    emu.setLatency(200);
    await viewer.slice([1, null, null]).read();
    await until(() => viewer.stats().prefetch!.active === 4, 'the prefetch to start');
    const joinedBefore = context.stats().cache.joined;
    const joined = vol.slice([5, null, null]).read(); // another handle: joins the prefetch loads of layer 1
    await until(() => context.stats().cache.joined >= joinedBefore + 4, 'the demand read to join');
    await viewer.slice([20, null, null]).read().catch(() => undefined); // the viewer's window moves away
    expect(Array.from((await joined).data as Uint8Array)).toEqual(Array.from(plane(data, 5)));
    expect(context.stats().prefetchHits).toBeGreaterThanOrEqual(4);
  });

  it('decodes of prefetch loads reach the codec pool as prefetch work (never taking every worker), demand reads as demand', async () => {
    const { vol, context, data } = await volume();
    const seen: string[] = [];
    const pool = context.codecPool;
    const original = { decode: pool.decode, decodeInto: pool.decodeInto };
    pool.decode = function (chain, b, ctx) {
      seen.push(`decode:${ctx.priority?.level ?? 'none'}`);
      return original.decode.call(this, chain, b, ctx);
    };
    pool.decodeInto = function (chain, b, ctx, target) {
      seen.push(`decodeInto:${ctx.priority?.level ?? 'none'}`);
      return original.decodeInto.call(this, chain, b, ctx, target);
    };
    try {
      await vol.slice([[0, 8], null, null]).prefetch();
      expect(seen.length).toBe(8);
      expect(new Set(seen)).toEqual(new Set(['decode:prefetch']));
      seen.length = 0;
      const got = await vol.slice([[8, 12], null, null]).read();
      expect(Array.from(got.data as Uint8Array)).toEqual(Array.from((data.data as Uint8Array).slice(8 * 1024, 12 * 1024)));
      // (decodeInto of a chunk the cache keeps goes on to the pool's decode)
      expect(seen.filter((x) => x.startsWith('decodeInto:')), JSON.stringify(seen)).toHaveLength(4);
      expect(seen.every((x) => x.endsWith(':demand'))).toBe(true);
    } finally {
      Object.assign(pool, original);
    }
  });

  it('rejects an unknown policy or axis with a SpecError', async () => {
    const { vol } = await volume();
    expect(() => vol.withPrefetch({ policy: 'sideways' as never })).toThrow(SpecError);
    expect(() => vol.withPrefetch({ policy: 'neighbors', axis: 'q' })).toThrow(/prefetch.axis/);
    expect(vol.withPrefetch('off').stats().prefetch).toBeUndefined();
  });
});
