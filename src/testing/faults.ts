/**
 * Fault specifications for the emulator: which failure to inject, and how often.
 *
 * Text form: comma-separated `kind:probability`, e.g. `"503:0.1,429:0.05,reset:0.02,stall:0.01"`.
 * `kind` is an HTTP status (400-599, typically 408, 429, 500, 503) or one of:
 * - `reset`: the connection is destroyed without any response;
 * - `truncate`: the response headers announce the full Content-Length, then the body stops
 *   halfway and the connection is closed;
 * - `stall`: the response headers and half the body are sent, then nothing more, with the
 *   connection held open until the client gives up (or the emulator stops); a response without a
 *   body stalls before its headers. Clients need a read timeout to get past it;
 * - `flip`: one bit of an object's downloaded bytes (GCS media, S3 GET) is inverted in transit;
 *   the headers (length, `x-goog-hash`, ETag) still describe the stored object, so a client that
 *   verifies checksums notices. Drawn for any other request, it does nothing and is not counted.
 */

/** The fault kinds that are not HTTP statuses. */
export type FaultName = 'reset' | 'truncate' | 'stall' | 'flip';
const FAULT_NAMES: readonly string[] = ['reset', 'truncate', 'stall', 'flip'];

/** One injected fault kind and its per-request probability (0..1). */
export interface FaultSpec {
  /** An HTTP status code (e.g. 503, 429, 500, 408), `'reset'`, `'truncate'`, `'stall'` or `'flip'`. */
  kind: number | FaultName;
  /** Probability per eligible request, 0..1. */
  probability: number;
}

/** Parses the text form (or validates an array form); throws a `TypeError` naming the bad entry. */
export function parseFaults(spec: string | FaultSpec[] | undefined): FaultSpec[] {
  if (spec === undefined) return [];
  const entries: FaultSpec[] =
    typeof spec === 'string'
      ? spec
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0)
          .map((entry) => {
            const m = /^([a-z]+|\d{3}):([0-9.eE+-]+)$/.exec(entry);
            if (!m) throw new TypeError(`faults: cannot parse "${entry}" (want kind:probability)`);
            const kind = /^\d+$/.test(m[1]!) ? Number(m[1]) : m[1]!;
            return { kind: kind as FaultSpec['kind'], probability: Number(m[2]) };
          })
      : spec.map((f) => ({ ...f }));
  for (const f of entries) {
    if (typeof f.kind === 'number') {
      if (!Number.isInteger(f.kind) || f.kind < 400 || f.kind > 599)
        throw new TypeError(`faults: status ${f.kind} is not an HTTP error status (400-599)`);
    } else if (!FAULT_NAMES.includes(f.kind)) {
      throw new TypeError(`faults: unknown kind "${String(f.kind)}" (want a status, ${FAULT_NAMES.join(', ')})`);
    }
    if (!Number.isFinite(f.probability) || f.probability < 0 || f.probability > 1)
      throw new TypeError(`faults: probability ${f.probability} for ${f.kind} is not in [0, 1]`);
  }
  return entries;
}

/** The counter key of a fault kind: `'503'`, `'reset'`, `'truncate'`, `'stall'`, `'flip'`. */
export function faultKey(kind: FaultSpec['kind']): string {
  return String(kind);
}

/**
 * Picks the fault for one request from one uniform draw `r` in [0, 1): the specs are laid end to
 * end on [0, 1) in order, so exactly one draw is spent per eligible request whatever the outcome.
 */
export function pickFault(specs: readonly FaultSpec[], r: number): FaultSpec | undefined {
  let acc = 0;
  for (const f of specs) {
    acc += f.probability;
    if (r < acc) return f;
  }
  return undefined;
}

/**
 * As {@link pickFault}, also returning where in its slot of [0, 1) the draw fell (`within`, in
 * [0, 1)): a second deterministic number from the same single draw (`flip` uses it to choose
 * the byte and bit).
 */
export function pickFaultWithin(specs: readonly FaultSpec[], r: number): { fault: FaultSpec; within: number } | undefined {
  let acc = 0;
  for (const f of specs) {
    if (r < acc + f.probability) return { fault: f, within: Math.min(Math.max((r - acc) / f.probability, 0), 1 - Number.EPSILON) };
    acc += f.probability;
  }
  return undefined;
}
