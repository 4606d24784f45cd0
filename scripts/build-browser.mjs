#!/usr/bin/env node
/**
 * Builds `dist/browser/`: volstore's main entry as plain ES modules a page can load from any
 * static server with no bundler, no import map and no polyfills:
 *
 *   <script type="module">import { open } from '/volstore/volstore.js';</script>
 *
 * - `volstore.js`: the main entry (src/index.ts), dependencies (fflate, numcodecs, ...) bundled in;
 * - `codec-worker.js`: the codec worker, beside the chunk that starts it (`web.ts` creates it
 *   with `new URL('./codec-worker.js', import.meta.url)`);
 * - `chunk-*.js`: code-split chunks loaded on demand by dynamic import: each driver, each codec
 *   (zstd, blosc, gzip, ...), the cloud stores; a page reading raw zarr3 never downloads zstd.
 * - `manifest.json`: which chunk holds what, with sizes (raw and gzip'd), for
 *   `scripts/bundle-sizes.mjs` (the README table) and the e2e test's network-log check.
 *
 * Run by `npm run build:browser` and by `prepare` (after tsc). Usage: node scripts/build-browser.mjs [outdir]
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What a chunk is, from the inputs esbuild put in it (first match wins). */
const LABELS = [
  [/numcodecs\/.*zstd|src\/codecs\/zstd\.ts/, 'codec: zstd'],
  [/numcodecs\/.*blosc|src\/codecs\/blosc\.ts/, 'codec: blosc'],
  [/numcodecs\/.*lz4|src\/codecs\/lz4\.ts/, 'codec: lz4'],
  [/xz-decompress|src\/codecs\/xz\.ts/, 'codec: xz'],
  [/seek-bzip|src\/codecs\/bz2\.ts/, 'codec: bz2'],
  [/jpeg-js|src\/codecs\/jpeg\.ts/, 'codec: jpeg'],
  [/src\/codecs\/png\.ts/, 'codec: png'],
  [/src\/codecs\/compressed-segmentation\.ts/, 'codec: compressed_segmentation'],
  [/src\/codecs\/gzip\.ts/, 'codec: gzip'],
  [/src\/codecs\/zlib\.ts/, 'codec: zlib'],
  [/fflate/, 'fflate (gzip/zlib inflate)'],
  [/src\/codecs\/crc32c\.ts/, 'codec: crc32c'],
  [/src\/codecs\/(?!codec\.|registry\.|chain\.|compression-util\.|elements\.|lz-blocks\.)(\w[\w-]*)\.ts/, null], // any other codec: named below
  [/h5wasm|src\/drivers\/hdf5(-lib)?\.ts/, 'driver: hdf5 (h5wasm)'],
  [/src\/drivers\/precomputed\.ts/, 'driver: neuroglancer_precomputed'],
  [/src\/drivers\/zarr3\.ts/, 'driver: zarr3'],
  [/src\/drivers\/zarr2\.ts/, 'driver: zarr'],
  [/src\/drivers\/n5\.ts/, 'driver: n5'],
  [/src\/kvstore\/gcs\.ts/, 'store: gcs'],
  [/src\/kvstore\/s3\.ts|aws4fetch/, 'store: s3'],
  [/src\/kvstore\/azure/, 'store: azure'],
  [/src\/kvstore\/http\.ts/, 'store: http'],
  [/src\/jobs\//, 'jobs'],
];

function labelOf(inputs) {
  for (const [re, label] of LABELS) {
    const hit = inputs.find((i) => re.test(i));
    if (!hit) continue;
    if (label) return label;
    return `codec: ${re.exec(hit)[1]}`;
  }
  return 'shared';
}

/**
 * Builds into `outdir` and writes its manifest.json.
 * @returns the manifest: { main, worker, files: [{ file, label, bytes, gzipBytes, inputs }] }
 */
export async function buildBrowser(outdir = path.join(ROOT, 'dist/browser')) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const r = await build({
    absWorkingDir: ROOT,
    entryPoints: { volstore: 'src/index.ts', 'codec-worker': 'src/workers/codec-worker.ts' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    legalComments: 'linked',
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    metafile: true,
    logLevel: 'warning',
  });
  const files = [];
  for (const [out, meta] of Object.entries(r.metafile.outputs)) {
    if (!out.endsWith('.js')) continue;
    const file = path.basename(out);
    const inputs = Object.keys(meta.inputs);
    const body = readFileSync(path.join(ROOT, out));
    const label = file === 'volstore.js' ? 'main entry' : file === 'codec-worker.js' ? 'codec worker' : labelOf(inputs);
    files.push({ file, label, bytes: body.length, gzipBytes: gzipSync(body, { level: 9 }).length, imports: meta.imports.filter((i) => i.kind === 'import-statement').map((i) => path.basename(i.path)), inputs });
  }
  files.sort((a, b) => (a.label === 'main entry' ? -1 : b.label === 'main entry' ? 1 : a.label.localeCompare(b.label)));
  const manifest = { main: 'volstore.js', worker: 'codec-worker.js', files };
  writeFileSync(path.join(outdir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  return manifest;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const m = await buildBrowser(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
  console.log(`dist/browser: ${m.files.length} files, ${(m.files.reduce((a, f) => a + f.bytes, 0) / 1024).toFixed(0)} KiB`);
}
