// Fault injection and shaping: deterministic with a seed, visible to a raw client, counted.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFaults, startEmulator, type Emulator } from '../../src/testing/index.js';
import { parseCommandArgs, UsageError } from '../../src/cli/args.js';
import { SERVE, serveOptions } from '../../src/cli/serve.js';

const serveFlags = (argv: string[]) => serveOptions(parseCommandArgs(SERVE, argv).values);

const running: Emulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
});
async function start(opts: Parameters<typeof startEmulator>[0]): Promise<Emulator> {
  const e = await startEmulator(opts);
  running.push(e);
  return e;
}

/** A raw GET on a fresh connection: status and body, or the socket error / premature close. */
function rawGet(url: string): Promise<{ status?: number; body?: Buffer; error?: string; headerLength?: number }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', (e) =>
        resolve({ status: res.statusCode, error: e.message, body: Buffer.concat(chunks), headerLength: Number(res.headers['content-length']) }),
      );
      res.on('aborted', () => undefined);
    });
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.end();
  });
}

async function seed(emu: Emulator, name: string, size: number): Promise<Buffer> {
  const data = Buffer.alloc(size, 0x5a);
  const res = await fetch(`${emu.url}/upload/storage/v1/b/bkt/o?uploadType=media&name=${name}`, { method: 'POST', body: data });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  return data;
}

function outcome(r: { status?: number; error?: string }): string {
  return r.error !== undefined ? (r.status ? `truncate` : `reset`) : String(r.status);
}

describe('fault injection', () => {
  it('parses the text form and rejects nonsense', () => {
    expect(parseFaults('503:0.1, 429:0.05,reset:0.02,truncate:0.01')).toEqual([
      { kind: 503, probability: 0.1 },
      { kind: 429, probability: 0.05 },
      { kind: 'reset', probability: 0.02 },
      { kind: 'truncate', probability: 0.01 },
    ]);
    expect(() => parseFaults('boom:0.1')).toThrow(/unknown kind/);
    expect(() => parseFaults('503:2')).toThrow(/not in \[0, 1\]/);
    expect(() => parseFaults('200:0.1')).toThrow(/not an HTTP error/);
    expect(() => parseFaults('503')).toThrow(/cannot parse/);
  });

  it('parses stall and flip', () => {
    expect(parseFaults('stall:0.02,flip:0.01')).toEqual([
      { kind: 'stall', probability: 0.02 },
      { kind: 'flip', probability: 0.01 },
    ]);
  });

  it('flip inverts exactly one bit of a download, chosen by the seed; headers still describe the stored object', async () => {
    const flipsOf = async (seedValue: number): Promise<{ pos: number; bit: number }[]> => {
      const emu = await start({ buckets: ['bkt'], seed: seedValue });
      const data = await seed(emu, 'o', 4000);
      emu.setFaults('flip:0.5');
      const out: { pos: number; bit: number }[] = [];
      let flips = 0;
      for (let i = 0; i < 24; i++) {
        const res = await fetch(`${emu.url}/storage/v1/b/bkt/o/o?alt=media`);
        const body = Buffer.from(await res.arrayBuffer());
        expect(res.status).toBe(200);
        expect(body.length).toBe(data.length);
        expect(res.headers.get('x-goog-hash')).toContain('crc32c=');
        const diff = [...body].flatMap((b, p) => (b !== data[p] ? [{ pos: p, x: b ^ data[p]! }] : []));
        if (diff.length) {
          expect(diff.length).toBe(1);
          expect([1, 2, 4, 8, 16, 32, 64, 128]).toContain(diff[0]!.x);
          out.push({ pos: diff[0]!.pos, bit: Math.log2(diff[0]!.x) });
          flips++;
        } else out.push({ pos: -1, bit: -1 });
      }
      expect(flips).toBeGreaterThan(0);
      expect(emu.counters().faults.flip).toBe(flips);
      // metadata, listings and uploads are never flipped (nor counted)
      emu.setFaults('flip:1');
      const meta = await fetch(`${emu.url}/storage/v1/b/bkt/o/o`);
      expect(((await meta.json()) as { size: string }).size).toBe('4000');
      expect(emu.counters().faults.flip).toBe(flips);
      const s3 = Buffer.from(await (await fetch(`${emu.url}/s3/bkt/o`)).arrayBuffer());
      expect(s3.equals(data)).toBe(false);
      expect(emu.counters().faults.flip).toBe(flips + 1);
      return out;
    };
    const a = await flipsOf(5);
    expect(await flipsOf(5)).toEqual(a);
    expect(await flipsOf(6)).not.toEqual(a);
  });

  it('stall sends the headers and half the body, then holds the connection open; stop() still returns', async () => {
    const emu = await start({ buckets: ['bkt'], seed: 3 });
    const data = await seed(emu, 'o', 100_000);
    emu.setFaults('stall:1');
    const got = await new Promise<{ status: number; received: number; ended: boolean }>((resolve, reject) => {
      const req = request(`${emu.url}/storage/v1/b/bkt/o/o?alt=media`, { agent: false }, (res) => {
        let received = 0;
        let ended = false;
        res.on('data', (c: Buffer) => {
          received += c.length;
          if (received >= data.length / 2) {
            // everything that will come has come; give the server a moment, then give up
            setTimeout(() => {
              resolve({ status: res.statusCode!, received, ended });
              req.destroy();
            }, 200);
          }
        });
        res.on('end', () => (ended = true));
        res.on('error', () => undefined);
      });
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
      req.end();
    });
    expect(got).toEqual({ status: 200, received: data.length / 2, ended: false });
    expect(emu.counters().faults.stall).toBe(1);
    // a stalled bodiless request (metadata HEAD-like DELETE) is held too, and stop() ends it
    const pending = fetch(`${emu.url}/storage/v1/b/bkt/o/o`, { method: 'DELETE' }).then(
      (r) => r.status,
      () => 'closed',
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(emu.counters().faults.stall).toBe(2);
    await emu.stop();
    expect(await pending).toBe('closed');
  });

  it('repeats the same fault sequence for the same seed, and counts faults', async () => {
    const spec = '503:0.2,429:0.1,500:0.1,reset:0.1,truncate:0.1';
    const run = async (seedValue: number) => {
      const emu = await start({ buckets: ['bkt'], seed: seedValue });
      await seed(emu, 'o', 1000);
      emu.setFaults(spec);
      emu.resetCounters();
      const seq: string[] = [];
      for (let i = 0; i < 40; i++) seq.push(outcome(await rawGet(`${emu.url}/storage/v1/b/bkt/o/o?alt=media`)));
      return { seq, counters: emu.counters() };
    };
    const a = await run(42);
    const b = await run(42);
    const c = await run(43);
    expect(a.seq).toEqual(b.seq);
    expect(a.seq).not.toEqual(c.seq);
    const tally = (s: string[], k: string) => s.filter((x) => x === k).length;
    expect(a.counters.faults['503'] ?? 0).toBe(tally(a.seq, '503'));
    expect(a.counters.faults['429'] ?? 0).toBe(tally(a.seq, '429'));
    expect(a.counters.faults['500'] ?? 0).toBe(tally(a.seq, '500'));
    expect(a.counters.faults.reset ?? 0).toBe(tally(a.seq, 'reset'));
    expect(a.counters.faults.truncate ?? 0).toBe(tally(a.seq, 'truncate'));
    expect(tally(a.seq, '200')).toBeGreaterThan(0);
    expect(tally(a.seq, '200')).toBeLessThan(40);
    expect(a.counters.requests.byKind.media).toBe(40);
  });

  it('status faults answer GCS JSON (or S3 XML); faults skip OPTIONS and bucket admin', async () => {
    const emu = await start({ buckets: ['bkt'], faults: '503:1' });
    const res = await fetch(`${emu.url}/storage/v1/b/bkt/o/x`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 503, errors: [{ domain: 'global', reason: 'backendError' }] } });
    const s3 = await fetch(`${emu.url}/s3/bkt/x`);
    expect(s3.status).toBe(503);
    expect(await s3.text()).toMatch(/<Code>SlowDown<\/Code>/);
    emu.setFaults('429:1');
    const r429 = await fetch(`${emu.url}/storage/v1/b/bkt/o?prefix=a`);
    expect(await r429.json()).toMatchObject({ error: { code: 429, errors: [{ reason: 'rateLimitExceeded' }] } });
    expect((await fetch(`${emu.url}/storage/v1/b/bkt`)).status).toBe(200);
    expect((await fetch(`${emu.url}/storage/v1/b/bkt/o/x`, { method: 'OPTIONS' })).status).toBe(204);
    expect(emu.counters().faults).toEqual({ '503': 2, '429': 1 });
    // A faulted write has no effect.
    emu.setFaults('500:1');
    const w = await fetch(`${emu.url}/upload/storage/v1/b/bkt/o?uploadType=media&name=w`, { method: 'POST', body: 'x' });
    expect(w.status).toBe(500);
    emu.setFaults(undefined);
    expect((await fetch(`${emu.url}/storage/v1/b/bkt/o/w`)).status).toBe(404);
  });

  it('reset drops the connection without a response; truncate cuts the body after full headers', async () => {
    const emu = await start({ buckets: ['bkt'] });
    await seed(emu, 'o', 100_000);
    emu.setFaults('reset:1');
    const r = await rawGet(`${emu.url}/storage/v1/b/bkt/o/o?alt=media`);
    expect(r.status).toBeUndefined();
    expect(r.error).toMatch(/ECONNRESET|socket hang up/);
    await expect(fetch(`${emu.url}/storage/v1/b/bkt/o/o?alt=media`)).rejects.toThrow();

    emu.setFaults('truncate:1');
    const t = await rawGet(`${emu.url}/storage/v1/b/bkt/o/o?alt=media`);
    expect(t.status).toBe(200);
    expect(t.headerLength).toBe(100_000);
    expect(t.error).toBeDefined();
    expect(t.body!.length).toBe(50_000);
    const f = await fetch(`${emu.url}/storage/v1/b/bkt/o/o?alt=media`);
    expect(f.headers.get('content-length')).toBe('100000');
    await expect(f.arrayBuffer()).rejects.toThrow();
    expect(emu.counters().faults).toEqual({ reset: 2, truncate: 2 });
  });
});

describe('shaping', () => {
  it('adds at least the configured first-byte latency, changeable at runtime', async () => {
    const emu = await start({ buckets: ['bkt'], latencyMs: 120 });
    await seed(emu, 'o', 10);
    let t0 = performance.now();
    await (await fetch(`${emu.url}/storage/v1/b/bkt/o/o?alt=media`)).arrayBuffer();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(115);
    emu.setLatency(250);
    t0 = performance.now();
    await (await fetch(`${emu.url}/storage/v1/b/bkt/o/o`)).arrayBuffer();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(245);
  });

  it('throttles response bandwidth (lower bound only)', async () => {
    const emu = await start({ buckets: ['bkt'], bandwidthMbps: 8 }); // 1 MB/s
    const data = await seed(emu, 'o', 300_000);
    emu.resetCounters();
    const t0 = performance.now();
    const body = Buffer.from(await (await fetch(`${emu.url}/storage/v1/b/bkt/o/o?alt=media`)).arrayBuffer());
    const elapsed = performance.now() - t0;
    expect(Buffer.compare(body, data)).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(280); // 300 kB at 1 MB/s = 300 ms
    expect(emu.counters().bytesOut).toBe(300_000);
  });

  it('counts requests, bytes and auth', async () => {
    const emu = await start({ buckets: ['bkt'] });
    await seed(emu, 'o', 1234);
    await (await fetch(`${emu.url}/storage/v1/b/bkt/o/o?alt=media`, { headers: { Authorization: 'Bearer x' } })).arrayBuffer();
    await (await fetch(`${emu.url}/storage/v1/b/bkt/o/o`, { method: 'DELETE' })).arrayBuffer();
    const c = emu.counters();
    expect(c.requests.total).toBe(3);
    expect(c.requests.byMethod).toEqual({ POST: 1, GET: 1, DELETE: 1 });
    expect(c.requests.byKind).toEqual({ upload: 1, media: 1, delete: 1 });
    expect(c.requests.authorized).toBe(1);
    expect(c.requests.anonymous).toBe(2);
    expect(c.bytesIn).toBe(1234);
    expect(c.bytesOut).toBeGreaterThanOrEqual(1234);
    emu.resetCounters();
    expect(emu.counters()).toEqual({
      requests: { total: 0, byMethod: {}, byKind: {}, authorized: 0, anonymous: 0 },
      bytesIn: 0,
      bytesOut: 0,
      faults: {},
    });
  });

  it('stop() closes idle keep-alive connections', async () => {
    const emu = await startEmulator({ buckets: ['bkt'] });
    await (await fetch(`${emu.url}/storage/v1/b/bkt`)).arrayBuffer(); // leaves a keep-alive socket
    await emu.stop();
    await expect(fetch(`${emu.url}/storage/v1/b/bkt`)).rejects.toThrow();
  });
});

describe('serve command flags', () => {
  it('parses every flag', () => {
    expect(
      serveFlags([
        '--port', '9000', '--dir', '/tmp/x', '--latency-ms=5', '--bandwidth-mbps', '100',
        '--faults', '503:0.1', '--seed', '7', '--bucket', 'aaa', '--bucket', 'bbb',
      ]),
    ).toEqual({ port: 9000, dir: '/tmp/x', latencyMs: 5, bandwidthMbps: 100, faults: parseFaults('503:0.1'), seed: 7, buckets: ['aaa', 'bbb'] });
    expect(parseCommandArgs(SERVE, ['--help']).values.help).toBe(true);
    expect(() => serveFlags(['--port', 'x'])).toThrow(UsageError);
    expect(() => serveFlags(['--port', 'x'])).toThrow(/--port/);
    expect(() => serveFlags(['--nope'])).toThrow(UsageError);
    expect(() => serveFlags(['--faults', 'teapot:2'])).toThrow(/--faults/);
  });
});
