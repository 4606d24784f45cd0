/**
 * The `--json` output of `volstore bench` and `volstore tune`: its shape (every key and the type
 * of every value) is snapshot-tested, and every key is documented in bench/README.md's schema
 * section, so a change to the output is a deliberate change to the snapshot and the docs.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseMix } from '../../src/bench/access.js';
import { parseCodec } from '../../src/bench/layout.js';
import { runBench } from '../../src/bench/run.js';
import { tune } from '../../src/bench/tune.js';

/**
 * The value's shape: objects key by key (sorted), leaves as type names, arrays as the merged
 * shape of their elements (the union of their objects' keys: optional members show once any
 * element has them).
 */
function shape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length ? [v.map(shape).reduce(merge)] : [];
  if (typeof v === 'object') return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, shape((v as Record<string, unknown>)[k])]));
  return typeof v;
}

function merge(a: unknown, b: unknown): unknown {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = a as Record<string, unknown>, kb = b as Record<string, unknown>;
    const ks = [...new Set([...Object.keys(ka), ...Object.keys(kb)])].sort();
    return Object.fromEntries(ks.map((k) => [k, k in ka && k in kb ? merge(ka[k], kb[k]) : (ka[k] ?? kb[k])]));
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length && b.length ? [merge(a[0], b[0])] : a.length ? a : b;
  return a === b ? a : [a, b].sort().join(' | ');
}

/** Every object key in a shape. */
function keys(v: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) v.forEach((x) => keys(x, out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.add(k), keys(x, out);
  return out;
}

/** Words of the README's JSON schema section. */
async function documentedKeys(): Promise<Set<string>> {
  const md = await readFile('bench/README.md', 'utf8');
  const start = md.indexOf('## JSON output');
  expect(start).toBeGreaterThan(0);
  const section = md.slice(start, md.indexOf('\n## ', start + 5) >>> 0 || undefined);
  return new Set(section.match(/[A-Za-z_][A-Za-z0-9_]*/g));
}

// keys inside free-form maps (request kinds, workload params, spec JSON) are data, not schema
const MAP_KEYS = new Set(['read', 'write', 'media', 'upload', 'list', 'delete']);

describe('bench --json', () => {
  it('has a stable, documented shape', async () => {
    const { report } = await runBench({
      writeFiles: false, seed: 1, tmpRoot: os.tmpdir(), log: () => {},
      engine: {
        name: 'layouts (custom)', description: 'd', store: 'memory', strategy: 'sequential', totalReadBytes: 1e6, repeat: 1, concurrency: 1,
        layouts: [{ dtype: 'uint8', shape: [32, 32, 32], chunk: [16, 16, 16], codec: parseCodec('zstd') }],
        reads: [{ kind: 'xy' }], compare: ['zarrita'], cacheBytes: 1 << 20,
      },
    });
    const json = JSON.parse(JSON.stringify(report)) as unknown;
    const s = shape(json);
    expect(s).toMatchSnapshot();
    const documented = await documentedKeys();
    const missing = [...keys(s)].filter((k) => !documented.has(k) && !MAP_KEYS.has(k));
    expect(missing).toEqual([]);
  });
});

describe('tune --json', () => {
  it('has a stable, documented shape', async () => {
    const r = await tune({
      shape: [64, 64, 64], dtype: 'uint8', mix: parseMix('xy'), mixText: 'xy', store: 'memory', budgetS: 30, sampleEdge: 32,
      measureTop: 1, chunkBytes: [4096], shardEdges: [32], codecs: [parseCodec('raw')], seed: 1, tmpRoot: os.tmpdir(), log: () => {},
    });
    const json = JSON.parse(JSON.stringify(r)) as { candidates: unknown[] };
    // the first candidate (measured) carries every optional member
    const s = shape(json);
    expect(s).toMatchSnapshot();
    const documented = await documentedKeys();
    const spec = new Set(['driver', 'kvstore', 'path', 'create', 'metadata', 'shape', 'data_type', 'chunk_grid', 'name', 'configuration', 'chunk_shape', 'chunk_key_encoding', 'fill_value', 'codecs', 'endian', 'index_codecs', 'index_location']);
    const missing = [...keys(s)].filter((k) => !documented.has(k) && !spec.has(k) && !/^\d+x\d+x\d+$/.test(k) && k !== 'xy' && k !== 'raw');
    expect(missing).toEqual([]);
  });
});
