/**
 * `--timeout SECONDS` and `--retries N` as TensorStore context resources, for every network
 * store (gcs, s3, http): one place that knows the mapping. The CLI merges the result into the
 * `context` of every spec it opens.
 */
import type { Spec } from '../spec/spec.js';

const NETWORK_STORES = ['gcs', 's3', 'http'] as const;

/** Context resource JSON for the network flags; `{}` when neither is given. */
export function contextFromFlags(flags: { timeout?: number; retries?: number }): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const s of NETWORK_STORES) {
    if (flags.timeout !== undefined) out[`${s}_request_timeout`] = { first_byte: `${flags.timeout}s`, idle: `${flags.timeout}s` };
    if (flags.retries !== undefined) out[`${s}_request_retries`] = { max_retries: flags.retries };
  }
  return out;
}

/**
 * `spec` with `resources` merged into its `context`: a resource the spec already sets keeps its
 * other members, the flag's members win.
 */
export function withContext(spec: Spec, resources: Record<string, Record<string, unknown>>): Spec {
  if (Object.keys(resources).length === 0) return spec;
  const ctx = { ...((spec.context as Record<string, Record<string, unknown>> | undefined) ?? {}) };
  for (const [k, v] of Object.entries(resources)) ctx[k] = { ...(ctx[k] ?? {}), ...v };
  return { ...spec, context: ctx };
}
