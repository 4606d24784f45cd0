import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNpy } from '../../src/array/npy.js';
import { Context, KvStoreError, NdArray, open } from '../../src/index.js';
import { type Emulator, startEmulator } from '../../src/testing/index.js';

const run = promisify(execFile);

/** Fast retries so fault-heavy tests finish quickly (defaults are TensorStore's 1 s / 32 s). */
const context = () =>
  new Context({ gcs_request_retries: { max_retries: 40, initial_delay: '5ms', max_delay: '50ms' } });

function volumeData(shape: number[]): NdArray<'uint16'> {
  const a = NdArray.zeros('uint16', shape);
  const d = a.data as Uint16Array;
  for (let i = 0; i < d.length; i++) d[i] = (i * 2654435761) >>> 16;
  return a;
}

describe('zarr3 volumes on the GCS emulator', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ buckets: ['vol'], seed: 11 });
  });
  afterAll(async () => {
    await emu.stop();
  });

  for (const sharded of [false, true]) {
    it(`reads exact data with 20% 503s and 5% resets (${sharded ? 'sharded' : 'unsharded'}); counters show the retries`, async () => {
      const shape = [40, 48, 36];
      const spec = {
        driver: 'zarr3',
        kvstore: { driver: 'gcs', bucket: 'vol', path: `faults-${sharded}/`, endpoint: emu.url },
        create: true,
        delete_existing: true,
        dtype: 'uint16',
        schema: {
          domain: { shape },
          chunk_layout: { read_chunk: { shape: [8, 16, 12] }, write_chunk: { shape: sharded ? [16, 32, 24] : [8, 16, 12] } },
        },
      };
      const data = volumeData(shape);
      const vol = await open(spec, { context: context() });
      await vol.write(data);
      emu.resetCounters();
      emu.setFaults('503:0.2,reset:0.05');
      try {
        const back = await (await open({ driver: 'zarr3', kvstore: spec.kvstore }, { context: context() })).read();
        expect(Buffer.from(back.data.buffer).equals(Buffer.from(data.data.buffer))).toBe(true);
        const c = emu.counters();
        expect((c.faults['503'] ?? 0) + (c.faults.reset ?? 0)).toBeGreaterThan(0);
        // Every fault was answered by a retry: more requests than the fault-free read needs.
        expect(c.requests.total).toBeGreaterThan((c.faults['503'] ?? 0) + (c.faults.reset ?? 0));
      } finally {
        emu.setFaults(undefined);
      }
    });
  }

  it('a 403 fails fast with a clear error; an AbortSignal stops a read', async () => {
    emu.setFaults('403:1');
    try {
      emu.resetCounters();
      const err = await open({ driver: 'zarr3', kvstore: { driver: 'gcs', bucket: 'vol', path: 'faults-false/', endpoint: emu.url } }, { context: context() }).catch((e) => e);
      expect(err).toBeInstanceOf(KvStoreError);
      expect(String(err)).toMatch(/403/);
      expect(String(err)).toMatch(/zarr\.json/);
      expect(emu.counters().requests.total).toBe(1); // fails fast: no retries
    } finally {
      emu.setFaults(undefined);
    }
    emu.setLatency(300);
    try {
      const vol = await open({ driver: 'zarr3', kvstore: { driver: 'gcs', bucket: 'vol', path: 'faults-false/', endpoint: emu.url } }, { context: context() });
      const ac = new AbortController();
      const p = vol.read({ signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await expect(p).rejects.toMatchObject({ code: 'aborted' });
    } finally {
      emu.setLatency(0);
    }
  });

  it('volstore read gs://... with STORAGE_EMULATOR_HOST reads data uploaded by @google-cloud/storage', async () => {
    // Google's client uploads a zarr v2 array (metadata + two chunks, raw).
    const storage = new Storage({ apiEndpoint: emu.url, projectId: 'p' });
    const bucket = storage.bucket('vol');
    await bucket.file('gcsclient/a.zarr/.zarray').save(JSON.stringify({
      zarr_format: 2, shape: [4, 3], chunks: [2, 3], dtype: '<i4', compressor: null, fill_value: 0, order: 'C', filters: null,
    }));
    const chunk = (vals: number[]) => Buffer.from(new Int32Array(vals).buffer);
    await bucket.file('gcsclient/a.zarr/0.0').save(chunk([1, 2, 3, 4, 5, 6]), { resumable: false });
    await bucket.file('gcsclient/a.zarr/1.0').save(chunk([7, 8, 9, 10, 11, 12]));
    const dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-cli-'));
    try {
      const out = path.join(dir, 'a.npy');
      await run(path.resolve('bin/volstore'), ['read', 'gs://vol/gcsclient/a.zarr/', '--region', '1:4,1:3', '--out', out], {
        env: { ...process.env, STORAGE_EMULATOR_HOST: emu.url.replace('http://', '') },
      });
      const arr = decodeNpy(new Uint8Array(await readFile(out)));
      expect(arr.shape).toEqual([3, 2]);
      expect(arr.toFlat()).toEqual([5, 6, 8, 9, 11, 12]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
