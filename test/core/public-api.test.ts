import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import * as volstore from '../../src/index.js';

describe('public API', () => {
  it('the main entry exports exactly this surface', () => {
    expect(Object.keys(volstore).sort()).toMatchInlineSnapshot(`
      [
        "AbortError",
        "AlreadyExistsError",
        "ByteRangeError",
        "CodecError",
        "ConditionFailedError",
        "Context",
        "CorruptionError",
        "Group",
        "IndexDomain",
        "IndexTransform",
        "KvStoreError",
        "MAX_CHUNK_BYTES",
        "MAX_READ_BYTES",
        "MAX_SHARD_INDEX_BYTES",
        "MemoryStore",
        "MetadataError",
        "NdArray",
        "NotFoundError",
        "OutOfBoundsError",
        "ReadOnlyError",
        "SpecError",
        "UnsupportedError",
        "VolstoreError",
        "Volume",
        "WorkerCrashError",
        "open",
        "openGroup",
        "throwIfAborted",
      ]
    `);
  });

  it('the main entry bundles for browsers: no node: module is reachable from it', async () => {
    const r = await build({
      entryPoints: ['src/index.ts'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      splitting: true,
      outdir: 'unused',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile!.inputs);
    expect(inputs.some((i) => i.startsWith('node:') || i.includes('src/kvstore/file.ts') || i.includes('google-auth-library'))).toBe(false);
    expect(inputs.some((i) => i.includes('src/drivers/zarr3.ts'))).toBe(true); // drivers load lazily but are bundled
  });
});
