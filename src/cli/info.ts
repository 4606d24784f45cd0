/**
 * `volstore info`: what an array (or a group) is, as text or `--json`.
 */
import type { PrecomputedDriver } from '../drivers/precomputed.js';
import type { PrecomputedScale } from '../drivers/precomputed-info.js';
import { Context } from '../context/context.js';
import { VolstoreError } from '../errors.js';
import { type Group, openGroup } from '../group.js';
import { DRIVER_SPEC_KEYS, open } from '../open.js';
import type { CodecJSON } from '../codecs/codec.js';
import { parseSpec, type Spec } from '../spec/spec.js';
import type { Volume } from '../volume.js';

function jsonScalar(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

/** A precomputed scale as `info` reports it. */
function describeScale(s: PrecomputedScale, index: number): Record<string, unknown> {
  return {
    index,
    key: s.key,
    size: s.size,
    voxel_offset: s.voxel_offset,
    resolution: s.resolution,
    chunk_sizes: s.chunk_sizes,
    encoding: s.encoding,
    ...(s.compressed_segmentation_block_size ? { compressed_segmentation_block_size: s.compressed_segmentation_block_size } : {}),
    sharding: s.sharding ?? null,
  };
}

/** The JSON `volstore info --json` prints for an array. */
export function describeArray(vol: Volume): Record<string, unknown> {
  const d = vol.domain;
  const out: Record<string, unknown> = {
    kind: 'array',
    driver: vol.driver.driverName,
    location: vol.driver.store.url,
    dtype: vol.dtype,
    domain: { inclusive_min: d.inclusiveMin, exclusive_max: d.exclusiveMax, shape: d.shape, labels: d.labels },
    chunk_layout: {
      grid_origin: vol.chunkLayout.gridOrigin,
      write_chunk: { shape: vol.chunkLayout.writeChunk.shape },
      read_chunk: { shape: vol.chunkLayout.readChunk.shape },
    },
    codecs: vol.codec,
    fill_value: jsonScalar(vol.fillValue),
  };
  if (vol.driver.driverName === 'neuroglancer_precomputed') {
    const p = vol.driver as PrecomputedDriver;
    out.scale_index = p.scaleIndex;
    out.sharding = p.scale.sharding ?? null;
    out.scales = p.info.scales.map(describeScale);
  }
  if (Object.keys(vol.attributes).length) out.attributes = vol.attributes;
  return out;
}

/** An HDF5 dataset's physical placement (CREMI / ilastik attributes), when it has one. */
async function hdf5Placement(vol: Volume): Promise<Record<string, unknown> | undefined> {
  if (vol.driver.driverName !== 'hdf5') return undefined;
  const { hdf5Spatial } = await import('../drivers/hdf5.js');
  const s = hdf5Spatial(vol.driver);
  return s ? { ...s } : undefined;
}

/** The JSON `volstore info --json` prints for an HDF5 file named without a dataset: its datasets. */
export async function describeHdf5File(spec: Spec, context: Context): Promise<Record<string, unknown> | undefined> {
  const parsed = parseSpec(spec, DRIVER_SPEC_KEYS);
  if ((parsed.driver !== undefined && parsed.driver !== 'hdf5') || parsed.path !== '') return undefined;
  const { isHdf5File } = await import('../drivers/hdf5-location.js');
  if (!(await isHdf5File(parsed.kvstore, context))) return undefined;
  const { listHdf5Datasets } = await import('../drivers/hdf5.js');
  const datasets = await listHdf5Datasets({ kvstore: parsed.kvstore }, { context });
  return { kind: 'hdf5-file', location: datasets[0]?.url.split('|')[0] ?? JSON.stringify(parsed.kvstore), datasets };
}

/** The JSON `volstore info --json` prints for a group. */
export async function describeGroup(g: Group): Promise<Record<string, unknown>> {
  return { kind: 'group', format: g.format, location: g.store.url, members: await g.members(), attributes: g.attributes };
}

function codecText(c: CodecJSON): string {
  const conf = c.configuration ?? {};
  if (c.name === 'sharding_indexed') {
    const inner = (conf.codecs as CodecJSON[] | undefined) ?? [];
    return `sharding_indexed(chunk ${(conf.chunk_shape as number[]).join('x')}: ${inner.map(codecText).join(', ')})`;
  }
  const args = Object.entries(conf).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join('x') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return args.length ? `${c.name}(${args.join(', ')})` : c.name;
}

function shardingText(s: unknown): string {
  if (!s) return 'none';
  const o = s as Record<string, unknown>;
  return `${o['@type']}: shard_bits ${o.shard_bits}, minishard_bits ${o.minishard_bits}, preshift_bits ${o.preshift_bits}, hash ${o.hash}, data ${o.data_encoding ?? 'raw'}, index ${o.minishard_index_encoding ?? 'raw'}`;
}

function rows(r: [string, string][]): string {
  const w = Math.max(...r.map(([k]) => k.length)) + 2;
  return `${r.map(([k, v]) => `${k.padEnd(w)}${v}`).join('\n')}\n`;
}

/** Human-readable text of {@link describeArray} / {@link describeGroup} output. */
export function infoText(j: Record<string, unknown>): string {
  if (j.kind === 'hdf5-file') {
    const ds = j.datasets as { path: string; dtype: string | null; hdf5Type: string; shape: number[]; chunks: number[] | null; filters: { name: string }[]; supported: boolean; problem?: string }[];
    return rows([
      ['hdf5 file', String(j.location)],
      ...ds.map((d): [string, string] => [
        `  ${d.path}`,
        d.supported
          ? `${d.dtype} ${d.shape.join('x') || 'scalar'}, ${d.chunks ? `chunks ${d.chunks.join('x')}` : 'contiguous'}${d.filters.length ? `, ${d.filters.map((f) => f.name).join('+')}` : ''}`
          : `not readable: ${d.problem ?? d.hdf5Type}`,
      ]),
      ['open one with', `<file url>|hdf5:<dataset path>`],
    ]);
  }
  if (j.kind === 'group') {
    const members = j.members as { name: string; kind: string }[];
    const attrs = JSON.stringify(j.attributes);
    return rows([
      ['group', `${j.format} at ${j.location}`],
      ['members', members.length ? members.map((m) => `${m.name} (${m.kind})`).join(', ') : '(none)'],
      ...(attrs !== '{}' ? [['attributes', attrs.length > 200 ? `${attrs.slice(0, 197)}...` : attrs] as [string, string]] : []),
    ]);
  }
  const d = j.domain as { inclusive_min: number[]; exclusive_max: number[]; shape: number[]; labels: string[] };
  const cl = j.chunk_layout as { write_chunk: { shape: number[] }; read_chunk: { shape: number[] } };
  const labelled = d.labels.some((l) => l);
  const r: [string, string][] = [
    ['array', `${j.driver} at ${j.location}`],
    ['dtype', String(j.dtype)],
    ['shape', d.shape.map((n, i) => (labelled ? `${d.labels[i] || i}: ${n}` : String(n))).join(', ')],
    ['domain', d.inclusive_min.map((lo, i) => `[${lo}, ${d.exclusive_max[i]})`).join(' x ')],
    ['chunks', `read ${cl.read_chunk.shape.join('x')}, write ${cl.write_chunk.shape.join('x')}${cl.write_chunk.shape.some((n, i) => n !== cl.read_chunk.shape[i]) ? ' (sharded)' : ''}`],
    ['codecs', (j.codecs as CodecJSON[]).map(codecText).join(' -> ')],
    ['fill value', JSON.stringify(j.fill_value)],
  ];
  if (j.driver === 'neuroglancer_precomputed') {
    r.push(['sharding', shardingText(j.sharding)]);
    for (const s of j.scales as Record<string, unknown>[]) {
      const cs = (s.chunk_sizes as number[][])[0]!;
      r.push([
        s.index === j.scale_index ? `scale ${s.index} *` : `scale ${s.index}`,
        `"${s.key}" size ${(s.size as number[]).join('x')}, resolution ${(s.resolution as number[]).join('x')} nm, offset ${(s.voxel_offset as number[]).join(',')}, chunk ${cs.join('x')}, ${s.encoding}, ${s.sharding ? `sharded (${shardingText(s.sharding)})` : 'unsharded'}`,
      ]);
    }
  }
  if (j.spatial) {
    const sp = j.spatial as { resolution?: number[]; unit?: string; offset?: number[]; voxelOffset?: number[] };
    const parts = [
      sp.resolution ? `resolution ${sp.resolution.join('x')} ${sp.unit ?? ''}`.trim() : undefined,
      sp.offset ? `offset ${sp.offset.join(',')} ${sp.unit ?? ''}`.trim() : undefined,
      sp.voxelOffset ? `voxel offset ${sp.voxelOffset.join(',')}` : undefined,
    ].filter((x) => x !== undefined);
    if (parts.length) r.push(['placement', parts.join(', ')]);
  }
  if (j.attributes) {
    const a = JSON.stringify(j.attributes);
    r.push(['attributes', a.length > 200 ? `${a.slice(0, 197)}...` : a]);
  }
  return rows(r);
}

/**
 * Opens `spec` as an array, or, where there is no array but a zarr / N5 group, as that group.
 * @throws the array's open error when there is no group either.
 */
export async function describeLocation(spec: Spec): Promise<Record<string, unknown>> {
  try {
    const vol = await open(spec);
    const out = describeArray(vol);
    const placement = await hdf5Placement(vol);
    if (placement) out.spatial = placement;
    return out;
  } catch (e) {
    if (!(e instanceof VolstoreError)) throw e;
    const parsed = parseSpec(spec, DRIVER_SPEC_KEYS);
    const file = await describeHdf5File(spec, new Context(parsed.context)).catch(() => undefined);
    if (file) return file;
    if (e.code !== 'not-found' && e.code !== 'metadata') throw e;
    if (parsed.driver !== undefined && !['zarr', 'zarr3', 'n5'].includes(parsed.driver)) throw e;
    let g: Group;
    try {
      g = await openGroup({ kvstore: parsed.kvstore, path: parsed.path }, { context: new Context(parsed.context) });
    } catch {
      throw e;
    }
    return describeGroup(g);
  }
}
