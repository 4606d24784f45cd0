import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/testing/emulator.js';
import { GcsStore } from '../../src/kvstore/gcs.js';
import { describeKvStoreConformance } from './conformance.js';

let emu: Emulator;
let n = 0;
const FAST = { maxRetries: 8, initialDelayMs: 2, maxDelayMs: 20 };

beforeAll(async () => {
  emu = await startEmulator({ buckets: ['conf'] });
});
afterAll(async () => {
  await emu?.stop();
});

describeKvStoreConformance('gcs (emulator)', async () => ({
  store: new GcsStore({ bucket: 'conf', path: `t${++n}/`, endpoint: emu.url, retries: FAST }),
}));
