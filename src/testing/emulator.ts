/**
 * The emulator server: one Node `http` server on 127.0.0.1 that serves the GCS JSON API (gcs.ts)
 * and an S3 subset (s3.ts) over one object store (storage.ts), with deterministic fault
 * injection, first-byte latency, bandwidth shaping and request/byte counters.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { OBJECT_KINDS, type Exchange, type FrontEnd, type Headers, type RequestKind } from './exchange.js';
import { faultKey, parseFaults, pickFaultWithin, type FaultSpec } from './faults.js';
import { GcsApi } from './gcs.js';
import { mulberry32 } from './prng.js';
import { S3Api } from './s3.js';
import { isValidBucketName, ObjectStore } from './storage.js';

/** Options of {@link startEmulator}. */
export interface EmulatorOptions {
  /** TCP port; default 0 picks a free ephemeral port. The server always binds 127.0.0.1. */
  port?: number;
  /** Persist buckets and objects under this directory (reloaded at start); in memory otherwise. */
  dir?: string;
  /** First-byte latency in milliseconds added to every response. */
  latencyMs?: number;
  /** Per-connection response throttle in megabits per second (unlimited when unset or 0). */
  bandwidthMbps?: number;
  /**
   * Faults injected into object requests (GCS media/metadata/list/upload/delete and the S3
   * object and list calls; never OPTIONS or bucket administration):
   * `"503:0.1,429:0.05,reset:0.02,truncate:0.01,stall:0.01,flip:0.01"` or the equivalent
   * {@link FaultSpec} array (kinds: see `faults.ts`).
   */
  faults?: string | FaultSpec[];
  /** Seed of the fault sequence: one draw per eligible request, in arrival order. Default 1. */
  seed?: number;
  /** Buckets created at start (existing ones are kept). */
  buckets?: string[];
}

/** Request and byte counters since start or the last {@link Emulator.resetCounters}. */
export interface EmulatorCounters {
  requests: {
    total: number;
    /** By upper-case HTTP method. */
    byMethod: Record<string, number>;
    /** By request kind: media, metadata, list, upload, delete, bucket, s3-get, ..., options. */
    byKind: Record<string, number>;
    /** Requests carrying credentials (an `Authorization` header or a presigned X-Amz-Signature). */
    authorized: number;
    /** Requests without credentials. */
    anonymous: number;
  };
  /** Request body bytes received. */
  bytesIn: number;
  /** Response body bytes sent (headers excluded). */
  bytesOut: number;
  /** Injected faults by kind: '503', '429', 'reset', 'truncate', 'stall', 'flip' (flips applied), ... */
  faults: Record<string, number>;
}

/** A running emulator. */
export interface Emulator {
  /** `http://127.0.0.1:PORT`: the GCS `apiEndpoint` / STORAGE_EMULATOR_HOST; S3 lives at `${url}/s3`. */
  url: string;
  port: number;
  /** A snapshot of the counters. */
  counters(): EmulatorCounters;
  resetCounters(): void;
  /** Replaces the fault specs (undefined: none). The PRNG sequence continues; it is not reseeded. */
  setFaults(faults: string | FaultSpec[] | undefined): void;
  /** Changes the first-byte latency in milliseconds. */
  setLatency(ms: number): void;
  /** Closes the server and destroys every open connection; waits for pending disk writes. */
  stop(): Promise<void>;
}

const CORS_ALLOW_METHODS = 'GET, HEAD, POST, PUT, DELETE, OPTIONS';
const CORS_ALLOW_HEADERS =
  'Range, Content-Type, Content-Range, Authorization, X-Upload-Content-Type, X-Upload-Content-Length, x-goog-*';
const CORS_EXPOSE_HEADERS =
  'Content-Range, Content-Length, ETag, Location, Range, x-goog-generation, x-goog-metageneration, x-goog-hash';

function emptyCounters(): EmulatorCounters {
  return {
    requests: { total: 0, byMethod: {}, byKind: {}, authorized: 0, anonymous: 0 },
    bytesIn: 0,
    bytesOut: 0,
    faults: {},
  };
}

function cloneCounters(c: EmulatorCounters): EmulatorCounters {
  return {
    requests: { ...c.requests, byMethod: { ...c.requests.byMethod }, byKind: { ...c.requests.byKind } },
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    faults: { ...c.faults },
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function validateNumber(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isFinite(v) || v < 0)) throw new TypeError(`${name} must be a finite number >= 0, got ${v}`);
}

/**
 * Starts a GCS + S3 emulator on 127.0.0.1.
 * @throws TypeError for a malformed option (e.g. an unparsable fault spec); the listen error if the port is taken.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  validateNumber('latencyMs', options.latencyMs);
  validateNumber('bandwidthMbps', options.bandwidthMbps);
  for (const b of options.buckets ?? []) {
    if (!isValidBucketName(b)) throw new TypeError(`buckets: ${JSON.stringify(b)} is not a valid bucket name (3-63 characters of a-z, 0-9, ".", "_", "-")`);
  }
  let faults = parseFaults(options.faults);
  let latencyMs = options.latencyMs ?? 0;
  const bytesPerSecond = options.bandwidthMbps ? (options.bandwidthMbps * 1e6) / 8 : 0;
  const random = mulberry32(options.seed ?? 1);
  let counters = emptyCounters();

  const store = new ObjectStore(options.dir);
  await store.init();
  for (const b of options.buckets ?? []) await store.createBucket(b);
  const gcs = new GcsApi(store);
  const s3 = new S3Api(store);

  const sockets = new Set<Socket>();
  const inc = (rec: Record<string, number>, k: string) => {
    rec[k] = (rec[k] ?? 0) + 1;
  };

  /** Writes a body in slices paced to the bandwidth limit; returns false if the socket went away. */
  async function writeBody(res: ServerResponse, body: Buffer): Promise<boolean> {
    const t0 = Date.now();
    const slice = bytesPerSecond ? Math.max(1024, Math.floor(bytesPerSecond / 50)) : 1 << 20;
    for (let off = 0; off < body.length; off += slice) {
      if (res.destroyed || res.socket?.destroyed) return false;
      if (bytesPerSecond && off > 0) {
        const due = t0 + (off / bytesPerSecond) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
      }
      const piece = body.subarray(off, off + slice);
      counters.bytesOut += piece.length;
      if (!res.write(piece)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    if (bytesPerSecond && body.length > 0) {
      // Pace the tail too, so the whole body takes at least size/bandwidth.
      const wait = t0 + (body.length / bytesPerSecond) * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
    }
    return !res.destroyed;
  }

  function resetSocket(req: IncomingMessage): void {
    const s = req.socket as Socket & { resetAndDestroy?: () => void };
    if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
    else s.destroy();
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
    const host = req.headers.host ?? `127.0.0.1:${port}`;
    const front: FrontEnd = s3.matches(host, path) ? s3 : gcs;
    const kind: RequestKind = front.kind(method, path, query, host);

    counters.requests.total++;
    inc(counters.requests.byMethod, method);
    inc(counters.requests.byKind, kind);
    if (req.headers.authorization !== undefined || query.has('X-Amz-Signature')) counters.requests.authorized++;
    else counters.requests.anonymous++;

    // One draw per eligible request, taken on arrival so the sequence depends only on order.
    const drawn = OBJECT_KINDS.has(kind) && faults.length > 0 ? pickFaultWithin(faults, random()) : undefined;
    const fault = drawn?.fault;

    const chunks: Buffer[] = [];
    for await (const c of req) {
      chunks.push(c as Buffer);
      counters.bytesIn += (c as Buffer).length;
    }
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    let truncate = fault?.kind === 'truncate';
    let stall = fault?.kind === 'stall';
    let flip = fault?.kind === 'flip' && (kind === 'media' || kind === 's3-get');

    const ex: Exchange = {
      req,
      method,
      path,
      query,
      body,
      origin: `http://${host}`,
      header(name: string) {
        const v = req.headers[name.toLowerCase()];
        return Array.isArray(v) ? v.join(', ') : v;
      },
      async send(status: number, headers: Headers, payload?: Buffer | string, opts?: { noBody?: boolean }) {
        const buf = payload === undefined ? Buffer.alloc(0) : typeof payload === 'string' ? Buffer.from(payload) : payload;
        if (latencyMs > 0) await sleep(latencyMs);
        if (res.destroyed) return;
        const h: Headers = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS, ...headers };
        const noBody = opts?.noBody === true || method === 'HEAD' || status === 204 || status === 304;
        if (status !== 204 && status !== 304 && !Object.keys(h).some((k) => k.toLowerCase() === 'content-length'))
          h['Content-Length'] = buf.length;
        if (flip && !noBody && buf.length > 0 && status >= 200 && status < 300) {
          flip = false;
          // One bit of the object's bytes, chosen by the same draw that picked the fault.
          const at = drawn!.within * buf.length;
          const pos = Math.floor(at);
          const flipped = Buffer.from(buf);
          flipped[pos] = flipped[pos]! ^ (1 << Math.floor((at - pos) * 8));
          inc(counters.faults, 'flip');
          res.writeHead(status, h);
          await writeBody(res, flipped);
          res.end();
          return;
        }
        if (stall) {
          stall = false;
          inc(counters.faults, 'stall');
          if (!noBody && buf.length >= 2) {
            res.writeHead(status, h);
            res.flushHeaders();
            await writeBody(res, buf.subarray(0, Math.floor(buf.length / 2)));
          }
          // Hold the connection open and silent until the client (or stop()) closes it.
          const socket = req.socket;
          if (!socket.destroyed) await new Promise<void>((r) => socket.once('close', () => r()));
          return;
        }
        if (truncate) {
          truncate = false;
          if (noBody || buf.length < 2) {
            // Nothing to cut in half: a truncated empty body is a dropped connection.
            resetSocket(req);
            return;
          }
          res.writeHead(status, h);
          res.flushHeaders();
          await writeBody(res, buf.subarray(0, Math.floor(buf.length / 2)));
          await new Promise<void>((r) => (res.socket ? res.socket.write('', () => r()) : r()));
          res.socket?.destroy();
          return;
        }
        res.writeHead(status, h);
        if (!noBody) await writeBody(res, buf);
        res.end();
      },
    };

    if (method === 'OPTIONS') {
      // CORS preflight: answered for every path, never faulted.
      const reqHeaders = req.headers['access-control-request-headers'];
      await ex.send(
        204,
        {
          'Access-Control-Allow-Methods': CORS_ALLOW_METHODS,
          'Access-Control-Allow-Headers': reqHeaders ? `${CORS_ALLOW_HEADERS}, ${reqHeaders}` : CORS_ALLOW_HEADERS,
          'Access-Control-Max-Age': '3600',
        },
        undefined,
        { noBody: true },
      );
      return;
    }

    // stall and flip are counted when they take effect (flip only on object downloads).
    if (fault && fault.kind !== 'stall' && fault.kind !== 'flip') inc(counters.faults, faultKey(fault.kind));
    if (fault?.kind === 'reset') {
      if (latencyMs > 0) await sleep(latencyMs);
      resetSocket(req);
      return;
    }
    if (typeof fault?.kind === 'number') {
      // The request is not executed: a throttled or failed request has no effect.
      await front.sendFault(ex, fault.kind);
      return;
    }
    await front.handle(ex);
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      // A bug in a handler: answer 500 if we still can, else drop the connection.
      if (!res.headersSent && !res.destroyed && !req.socket.destroyed) {
        const message = err instanceof Error ? err.message : String(err);
        const body = JSON.stringify({ error: { code: 500, message, errors: [{ domain: 'global', reason: 'internalError', message }] } });
        res.writeHead(500, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      } else {
        res.destroy();
      }
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket) => {
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    counters: () => cloneCounters(counters),
    resetCounters() {
      counters = emptyCounters();
    },
    setFaults(f) {
      faults = parseFaults(f);
    },
    setLatency(ms: number) {
      validateNumber('latencyMs', ms);
      latencyMs = ms;
    },
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of sockets) s.destroy();
        sockets.clear();
        await closed;
        await store.flush();
      })();
      return stopped;
    },
  };
}
