#!/usr/bin/env node
/**
 * Bundle sizes of `dist/browser/` (built by scripts/build-browser.mjs): prints the README's
 * markdown table. A row's size is what a page downloads for it: the main entry and the worker
 * with every chunk they import statically; a codec, the chunks only it needs (loaded by
 * dynamic import the first time an array uses that codec). Sizes raw (minified) and gzip'd (-9).
 *
 * Usage: node scripts/bundle-sizes.mjs [dist/browser] [--json]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The rows: { name, files, bytes, gzipBytes }. */
export function bundleSizes(dir = path.join(ROOT, 'dist/browser')) {
  const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const by = new Map(m.files.map((f) => [f.file, f]));
  const closure = (file, seen = new Set()) => {
    if (seen.has(file)) return seen;
    seen.add(file);
    for (const i of by.get(file).imports) closure(i, seen);
    return seen;
  };
  const main = closure(m.main);
  const sum = (files) => ({ files: files.length, bytes: files.reduce((a, f) => a + by.get(f).bytes, 0), gzipBytes: files.reduce((a, f) => a + by.get(f).gzipBytes, 0) });
  const rows = [
    { name: 'main entry (`volstore.js` + its static imports)', ...sum([...main]) },
    { name: 'codec worker (`codec-worker.js` + its static imports)', ...sum([...closure(m.worker)]) },
    { name: 'codec worker, beyond the main entry (already cached)', ...sum([...closure(m.worker)].filter((f) => !main.has(f))) },
  ];
  const groups = new Map();
  for (const f of m.files) {
    if (main.has(f.file) || !/^(codec:|driver:|store:|fflate)/.test(f.label)) continue;
    const extra = [...closure(f.file)].filter((x) => !main.has(x));
    const g = groups.get(f.label) ?? new Set();
    for (const x of extra) g.add(x);
    groups.set(f.label, g);
  }
  for (const [label, files] of [...groups].sort((a, b) => a[0].localeCompare(b[0]))) rows.push({ name: label, ...sum([...files]) });
  return rows;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const rows = bundleSizes(args.find((a) => !a.startsWith('--')));
  if (args.includes('--json')) console.log(JSON.stringify(rows, null, 1));
  else {
    const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
    console.log('| part | files | minified | gzip |\n|---|---:|---:|---:|');
    for (const r of rows) console.log(`| ${r.name} | ${r.files} | ${kib(r.bytes)} | ${kib(r.gzipBytes)} |`);
  }
}
