import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/testing/emulator.js';
import { S3Store } from '../../src/kvstore/s3.js';
import { describeKvStoreConformance } from './conformance.js';

let emu: Emulator;
let n = 0;
const FAST = { maxRetries: 8, initialDelayMs: 2, maxDelayMs: 20 };
const CREDS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

beforeAll(async () => {
  emu = await startEmulator({ buckets: ['conf'] });
});
afterAll(async () => {
  await emu?.stop();
});

describeKvStoreConformance('s3 (emulator)', async () => ({
  store: new S3Store({ bucket: 'conf', path: `t${++n}/`, endpoint: `${emu.url}/s3`, credentials: CREDS, retries: FAST }),
}));
