import type { Workload } from '../types.js';
import { zarr3File } from './zarr3-file.js';
import { precomputedSeg } from './precomputed-seg.js';
import { emulatorWorkload } from './emulator.js';
import { codecsWorkload } from './codecs.js';
import { layoutsWorkload } from './layouts.js';

/**
 * The registry of bench workloads, in run order. A new workload is a module exporting a
 * `Workload` whose rows are `ResultRow`s, added here: the report's tables and charts pick up
 * whatever fields its rows fill (latency percentiles, per-access figures, cost) by themselves.
 */
export const WORKLOADS: readonly Workload[] = [zarr3File, precomputedSeg, emulatorWorkload, layoutsWorkload, codecsWorkload];

export function findWorkloads(names: readonly string[] | undefined): Workload[] {
  if (!names || names.length === 0) return [...WORKLOADS];
  return names.map((n) => {
    const w = WORKLOADS.find((x) => x.name === n);
    if (!w) throw new Error(`unknown workload "${n}" (known: ${WORKLOADS.map((x) => x.name).join(', ')})`);
    return w;
  });
}
