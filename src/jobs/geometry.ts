/**
 * Physical voxel geometry of a stored array, from the metadata conventions connectomics tools
 * write: precomputed `resolution` / `voxel_offset`, N5 `resolution` / `pixelResolution`
 * (BigDataViewer, Saalfeld lab), HDF5 dataset attributes (CREMI `resolution` / `offset`, ilastik
 * `element_size_um`), and OME-Zarr `multiscales` (v0.4 in zarr v2 `.zattrs`, v0.5
 * under `ome` in zarr v3 group attributes) on the group above a zarr array.
 */
import type { PrecomputedDriver } from '../drivers/precomputed.js';
import { VolstoreError } from '../errors.js';
import { openGroup } from '../group.js';
import type { KvStoreSpec } from '../kvstore/spec.js';
import type { OpenOptions } from '../open.js';
import type { Volume } from '../volume.js';

/** Voxel size and origin per dimension of the stored array (its own dimension order). */
export interface VoxelGeometry {
  /** Voxel size per array dimension in nanometres; undefined where the metadata gives none (channels). */
  resolution: (number | undefined)[];
  /** The array's origin in voxels per array dimension (precomputed `voxel_offset`, OME translation / scale). */
  offset: number[];
  /** Axis names per array dimension from the metadata ('' where unnamed): OME `axes`, N5 `axes`, labels. */
  axes: string[];
  /** Where the values came from, e.g. `OME-Zarr multiscales (../.zattrs)`. */
  source: string;
}

/** Nanometres per unit, for the unit names OME-Zarr (UDUNITS-2) and N5 tools write. */
const NM_PER_UNIT: Record<string, number> = {
  nm: 1, nanometer: 1, nanometre: 1,
  um: 1e3, 'µm': 1e3, 'μm': 1e3, micrometer: 1e3, micrometre: 1e3, micron: 1e3,
  mm: 1e6, millimeter: 1e6, millimetre: 1e6,
  cm: 1e7, centimeter: 1e7, m: 1e9, meter: 1e9, metre: 1e9,
  pm: 1e-3, picometer: 1e-3, angstrom: 0.1, 'Å': 0.1,
};

function nmFactor(unit: unknown): number {
  return typeof unit === 'string' && unit in NM_PER_UNIT ? NM_PER_UNIT[unit]! : 1;
}

const isNumArray = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** An integer when `x` is within 1e-6 of one (float noise from scale x translation), else undefined. */
function nearInt(x: number): number | undefined {
  const r = Math.round(x);
  return Math.abs(x - r) <= 1e-6 * Math.max(1, Math.abs(x)) ? r : undefined;
}

function n5Geometry(vol: Volume, rank: number, names: string[]): VoxelGeometry | undefined {
  const a = vol.attributes as Record<string, unknown>;
  const pr = a.pixelResolution as { dimensions?: unknown; unit?: unknown } | undefined;
  if (pr && isNumArray(pr.dimensions, rank)) {
    const f = nmFactor(pr.unit);
    return { resolution: pr.dimensions.map((d) => d * f), offset: new Array<number>(rank).fill(0), axes: names, source: 'N5 pixelResolution' };
  }
  if (isNumArray(a.resolution, rank)) {
    const units = a.units;
    const res = a.resolution.map((r, i) => r * (Array.isArray(units) ? nmFactor(units[i]) : 1));
    return { resolution: res, offset: new Array<number>(rank).fill(0), axes: names, source: 'N5 resolution' };
  }
  return undefined;
}

interface OmeTransform { type?: string; scale?: unknown; translation?: unknown }

function applyTransforms(ts: unknown, rank: number, scale: number[], shift: number[]): void {
  if (!Array.isArray(ts)) return;
  for (const t of ts as OmeTransform[]) {
    if (t?.type === 'scale' && isNumArray(t.scale, rank)) {
      t.scale.forEach((s, i) => {
        scale[i]! *= s;
        shift[i]! *= s;
      });
    } else if (t?.type === 'translation' && isNumArray(t.translation, rank)) {
      t.translation.forEach((v, i) => (shift[i]! += v));
    }
  }
}

/** OME-Zarr multiscales of `attrs` (v0.4 top level, v0.5 under `ome`) for dataset `name`. */
function omeGeometry(attrs: Record<string, unknown>, name: string, rank: number, where: string): VoxelGeometry | undefined {
  const ome = (attrs.ome as Record<string, unknown> | undefined) ?? attrs;
  const ms = ome.multiscales;
  if (!Array.isArray(ms)) return undefined;
  for (const m of ms as Record<string, unknown>[]) {
    const ds = Array.isArray(m?.datasets) ? (m.datasets as Record<string, unknown>[]).find((d) => d?.path === name) : undefined;
    if (!ds) continue;
    const axes = Array.isArray(m.axes) ? (m.axes as unknown[]) : [];
    const scale = new Array<number>(rank).fill(1);
    const shift = new Array<number>(rank).fill(0);
    applyTransforms(ds.coordinateTransformations, rank, scale, shift);
    applyTransforms(m.coordinateTransformations, rank, scale, shift);
    const axisInfo = (i: number): { name: string; type?: string; unit?: unknown } => {
      const a = axes[i];
      if (typeof a === 'string') return { name: a }; // v0.3 wrote names only
      const o = (a ?? {}) as { name?: unknown; type?: unknown; unit?: unknown };
      return { name: typeof o.name === 'string' ? o.name : '', type: typeof o.type === 'string' ? o.type : undefined, unit: o.unit };
    };
    const resolution = scale.map((s, i) => {
      const a = axisInfo(i);
      if (a.type !== undefined && a.type !== 'space') return undefined; // time, channel
      return s * nmFactor(a.unit);
    });
    const offset = shift.map((t, i) => (resolution[i] === undefined ? 0 : nearInt(t / scale[i]!) ?? 0));
    return { resolution, offset, axes: scale.map((_, i) => axisInfo(i).name), source: `OME-Zarr multiscales (${where})` };
  }
  return undefined;
}

/** CREMI `resolution`/`offset` (nm) or ilastik `element_size_um` on an HDF5 dataset. */
async function hdf5Geometry(vol: Volume, names: string[]): Promise<VoxelGeometry | undefined> {
  const { hdf5Spatial } = await import('../drivers/hdf5.js');
  const sp = hdf5Spatial(vol.driver);
  if (!sp?.resolution) return undefined;
  const f = nmFactor(sp.unit);
  return {
    resolution: sp.resolution.map((r) => r * f),
    offset: sp.voxelOffset ?? new Array<number>(sp.resolution.length).fill(0),
    axes: names,
    source: `HDF5 attributes (${sp.attributes.join(', ')})`,
  };
}

/**
 * The voxel geometry of the array behind `vol`, or undefined when its metadata records none.
 * Reads the parent group's attributes for zarr arrays (one or two small reads).
 * @throws only AbortError and storage errors other than a missing parent group.
 */
export async function voxelGeometry(vol: Volume, options: OpenOptions = {}): Promise<VoxelGeometry | undefined> {
  const d = vol.driver;
  const rank = d.grid.shape.length;
  const names = d.grid.dimensionNames.map((n) => n ?? '');
  if (d.driverName === 'neuroglancer_precomputed') {
    const scale = (d as PrecomputedDriver).scale;
    return { resolution: [...scale.resolution, undefined], offset: [...d.grid.origin], axes: names, source: 'precomputed info' };
  }
  if (d.driverName === 'n5') return n5Geometry(vol, rank, names);
  if (d.driverName === 'hdf5') return hdf5Geometry(vol, names);
  if (d.driverName !== 'zarr' && d.driverName !== 'zarr3') return undefined;
  const own = omeGeometry(vol.attributes as Record<string, unknown>, '.', rank, 'the array\'s attributes');
  if (own) return own;
  // OME-Zarr: the multiscales live on the group holding the scale arrays.
  const kv = d.spec().kvstore as KvStoreSpec | undefined;
  if (!kv || typeof kv.path !== 'string') return undefined;
  const parts = kv.path.replace(/\/+$/, '').split('/');
  const name = parts.pop();
  if (!name) return undefined;
  try {
    const g = await openGroup({ kvstore: { ...kv, path: parts.length ? `${parts.join('/')}/` : '' } }, { ...options, context: options.context ?? vol.context });
    const geo = omeGeometry(g.attributes, name, rank, `parent ${g.format} group`);
    if (geo) geo.axes = geo.axes.map((a, i) => a || names[i]!);
    return geo;
  } catch (e) {
    if (e instanceof VolstoreError && (e.code === 'not-found' || e.code === 'metadata' || e.code === 'spec')) return undefined;
    throw e;
  }
}
