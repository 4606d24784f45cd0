import type { Workload } from '../types.js';
import { zarr3File } from './zarr3-file.js';
import { precomputedSeg } from './precomputed-seg.js';
import { emulatorWorkload } from './emulator.js';
import { codecsWorkload } from './codecs.js';
import { layoutsWorkload } from './layouts.js';
import { viewerScrollWorkload } from './viewer-scroll.js';
import { streamWorkload } from './stream.js';

/**
 * The registry of bench workloads, in run order. A new workload is a module exporting a
 * `Workload` whose rows are `ResultRow`s, added here: the report's tables and charts pick up
 * whatever fields its rows fill (latency percentiles, per-access figures, cost) by themselves.
 */
export const WORKLOADS: readonly Workload[] = [zarr3File, precomputedSeg, emulatorWorkload, layoutsWorkload, codecsWorkload, viewerScrollWorkload];

/** Workloads run only when named (`--workload stream`): too long for the default run. */
export const OPT_IN_WORKLOADS: readonly Workload[] = [streamWorkload];

export function findWorkloads(names: readonly string[] | undefined): Workload[] {
  if (!names || names.length === 0) return [...WORKLOADS];
  const all = [...WORKLOADS, ...OPT_IN_WORKLOADS];
  return names.map((n) => {
    const w = all.find((x) => x.name === n);
    if (!w) throw new Error(`unknown workload "${n}" (known: ${all.map((x) => x.name).join(', ')})`);
    return w;
  });
}
