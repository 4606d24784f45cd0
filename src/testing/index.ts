/**
 * `volstore/testing`: a local GCS + S3 emulator with deterministic fault injection, for tests and
 * benchmarks. Node only.
 *
 * ```ts
 * const emu = await startEmulator({ buckets: ['vol'], faults: '503:0.1', seed: 7 });
 * const storage = new Storage({ apiEndpoint: emu.url, projectId: 'p' }); // GCS
 * const s3 = new S3Client({ endpoint: `${emu.url}/s3`, forcePathStyle: true, ... }); // S3
 * await emu.stop();
 * ```
 * The command line runs the same emulator: `volstore serve --bucket b`.
 * @module volstore/testing
 */
export { startEmulator } from './emulator.js';
export type { Emulator, EmulatorCounters, EmulatorOptions } from './emulator.js';
export { parseFaults } from './faults.js';
export type { FaultSpec } from './faults.js';
export { S3_PATH_PREFIX } from './s3.js';
