import { build } from 'esbuild';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as volstore from '../../src/index.js';
import * as node from '../../src/node.js';
import * as testing from '../../src/testing/index.js';

const ENTRIES = { volstore: 'src/index.ts', 'volstore/node': 'src/node.ts', 'volstore/testing': 'src/testing/index.ts' } as const;

/** Every exported name of an entry (types included), with whether its declaration has a doc comment. */
function exportedDocs(): Map<string, Map<string, boolean>> {
  const program = ts.createProgram(Object.values(ENTRIES), { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const out = new Map<string, Map<string, boolean>>();
  for (const [entry, file] of Object.entries(ENTRIES)) {
    const sf = program.getSourceFile(file)!;
    const docs = new Map<string, boolean>();
    for (const sym of checker.getExportsOfModule(checker.getSymbolAtLocation(sf)!)) {
      const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
      docs.set(sym.getName(), ts.displayPartsToString(target.getDocumentationComment(checker)).trim().length > 0);
    }
    out.set(entry, docs);
  }
  return out;
}

describe('public API', () => {
  it('the main entry exports exactly this surface', () => {
    expect(Object.keys(volstore).sort()).toMatchInlineSnapshot(`
      [
        "AbortError",
        "AlreadyExistsError",
        "AzureStore",
        "ByteRangeError",
        "CodecError",
        "ConditionFailedError",
        "Context",
        "CorruptionError",
        "CountingStore",
        "GcsStore",
        "Group",
        "HttpStore",
        "IndexDomain",
        "IndexTransform",
        "KvStoreError",
        "MAX_CHUNKS_PER_REQUEST",
        "MAX_CHUNK_BYTES",
        "MAX_READ_BYTES",
        "MAX_SHARD_INDEX_BYTES",
        "MemoryStore",
        "MetadataError",
        "NdArray",
        "NotFoundError",
        "OutOfBoundsError",
        "ReadOnlyError",
        "S3Store",
        "SpecError",
        "StoreTally",
        "UnsupportedError",
        "VolstoreError",
        "Volume",
        "WorkerCrashError",
        "WriteChunkPlan",
        "copyVolume",
        "decodeNpy",
        "defaultDownsampleMethod",
        "deleteJobOutput",
        "destinationSpec",
        "downsampleVolume",
        "downsampledShape",
        "encodeNpy",
        "locationOverlap",
        "open",
        "openGroup",
        "ownerOf",
        "planCopy",
        "planJob",
        "publishJobMetadata",
        "refuseNonEmpty",
        "runJob",
        "shareOf",
        "storageLocation",
        "throwIfAborted",
        "voxelGeometry",
      ]
    `);
  });

  it('volstore/node exports exactly this surface (no CLI)', () => {
    expect(Object.keys(node).sort()).toMatchInlineSnapshot(`
      [
        "AzureStore",
        "FileStore",
        "GcsStore",
        "HttpStore",
        "S3Store",
        "decodeNpy",
        "encodeNpy",
      ]
    `);
  });

  it('volstore/testing exports exactly this surface (no serve command)', () => {
    expect(Object.keys(testing).sort()).toMatchInlineSnapshot(`
      [
        "S3_PATH_PREFIX",
        "parseFaults",
        "startEmulator",
      ]
    `);
  });

  it('every export of the three entries (types too) has a doc comment', () => {
    const docs = exportedDocs();
    const missing = [...docs].flatMap(([entry, m]) => [...m].filter(([, has]) => !has).map(([name]) => `${entry}: ${name}`));
    expect(missing).toEqual([]);
    // The type-only surface is locked too.
    expect([...docs.get('volstore')!.keys()].filter((n) => !(n in volstore)).sort()).toMatchInlineSnapshot(`
      [
        "ArrayShapeSource",
        "AzureCredentials",
        "AzureStoreOptions",
        "ByteRange",
        "ChunkLayout",
        "CopyProgress",
        "CopyTask",
        "DataType",
        "DestinationOptions",
        "DownsampleMethod",
        "DownsampleOptions",
        "ErrorCode",
        "GcsStoreOptions",
        "GroupFormat",
        "GroupMember",
        "HttpStoreOptions",
        "IoOptions",
        "JobKind",
        "JobLayout",
        "JobLevel",
        "JobOptions",
        "JobPlanOptions",
        "JobSummary",
        "KvStore",
        "LevelGeometry",
        "LevelSummary",
        "OpenOptions",
        "ReadOptions",
        "ReadResult",
        "RunJobOptions",
        "S3StoreOptions",
        "Scalar",
        "Selection",
        "StorageLocation",
        "StoreCounters",
        "TypedArray",
        "VolumeReadOptions",
        "VoxelGeometry",
        "WriteOptions",
        "WriteResult",
      ]
    `);
  });

  it('examples import only the package entries (and node: modules), as an application would', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    for (const f of (await readdir('examples')).filter((n) => n.endsWith('.ts'))) {
      const src = await readFile(`examples/${f}`, 'utf8');
      const specifiers = [...src.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
      expect(specifiers.length, f).toBeGreaterThan(0);
      for (const sp of specifiers) expect(['volstore', 'volstore/node', 'volstore/testing'].includes(sp) || sp.startsWith('node:'), `${f}: ${sp}`).toBe(true);
    }
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
    expect(inputs.filter((i) => i.startsWith('node:') || i.includes('src/kvstore/file.ts') || i.includes('google-auth-library') || i.includes('src/cli/'))).toEqual([]);
    expect(inputs.some((i) => i.includes('src/drivers/zarr3.ts'))).toBe(true); // drivers load lazily but are bundled
    expect(inputs.some((i) => i.includes('src/kvstore/gcs.ts') && inputs.some((j) => j.includes('src/jobs/copy.ts')))).toBe(true);
  });
});
