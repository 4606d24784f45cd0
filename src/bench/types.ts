/** Shapes shared by the bench runner, the workloads and the report writers. */
import type { CostEstimate, GcsPrices } from './cost.js';
import type { DataType } from '../array/dtype.js';
import type { Calibration, Prediction } from './model.js';

/** Re-exported for the bench's callers (errors.ts holds it, below every bench module). */
export { BenchInputError } from './errors.js';

/** What every workload gets from the runner. */
export interface BenchOptions {
  /** Edge length of the cubic test volume (voxels). */
  size: number;
  /** Timed runs per measurement (the median is reported). */
  runs: number;
  /** Untimed warm-up runs per contender before the timed runs. */
  warmup: number;
  seed: number;
  /** Where the temporary volumes go (a fresh directory under it, removed at the end). */
  tmpRoot: string;
  /** Profile volstore's full reads with the inspector and summarize self time. */
  profile: boolean;
  /** Directory for .cpuprofile files when profiling (the report directory). */
  outDir: string;
  log: (msg: string) => void;
  /**
   * Fine-grained progress of the running workload, 0..1 (optional: a workload that never calls
   * it advances the runner's bar once, when it ends).
   */
  progress?: (fraction: number) => void;
  /** GCS prices for cost estimates (default GCS_PRICES). */
  prices?: GcsPrices;
}

/** One contender's timing of one op: the median of its timed runs, the samples, and what they moved. */
export interface Measured {
  medianMs: number;
  samplesMs: number[];
  /** Bytes this contender moved per run (decoded bytes for readers, file bytes for readFile). */
  bytes: number;
  mbPerSec: number;
  /**
   * Per-access latency percentiles (ms), when each sample is one access (a slice, a block, a
   * scroll step) or the per-access latencies were recorded separately. Interpolated between
   * closest ranks: with few samples p95 / p99 approach the maximum.
   */
  p50Ms?: number;
  p95Ms?: number;
  p99Ms?: number;
}

/** Per-access figures of an access pattern run by the bench engine (src/bench/engine.ts). */
export interface AccessMetrics {
  /** Accesses timed (reads: slices / blocks; writes: blocks written). */
  accesses: number;
  /** Accesses in flight at once. */
  concurrency: number;
  /** Store requests per access (kvstore reads + writes + lists; emulator: HTTP requests incl. retries). */
  requestsPerAccess: number;
  /** Stored (encoded) bytes moved per access, to or from the store. */
  storedBytesPerAccess: number;
  /** Decoded array bytes returned (reads) or written (writes) per access. */
  decodedBytesPerAccess: number;
  /** Stored MB per second (MB = 1e6 bytes) moved to or from the store. */
  storedMBPerSec: number;
  /**
   * Reads: stored bytes fetched / stored bytes of the voxels returned (= fetched x compression
   * ratio / returned); 1 = only what was asked for. Writes: stored bytes uploaded / stored bytes
   * of the data written (> 1 when partial shards are rewritten).
   */
  amplification?: number;
  /** Decoded-chunk cache hits / (hits + misses) during the run (with a cache_pool). */
  cacheHitRate?: number;
  /** Requests by kind (kvstore: read, write, list, delete; emulator: media, upload, ...). */
  requestsByKind: Record<string, number>;
  /** Faults the emulator injected during the run, by kind. */
  faults?: Record<string, number>;
}

/** One row of the report: a layout and an op, with every contender's timing and, where measured, per-access figures and cost. */
export interface ResultRow {
  layout: string;
  op: string;
  /** Bytes of the decoded result (what volstore / zarrita return). */
  decodedBytes: number;
  /** Bytes of the chunk / shard files (or byte ranges) the I/O ceiling read. */
  fileBytes: number;
  volstore: Measured;
  /** volstore reading into a reused output array (`read({out})`): no fresh-memory first touch. */
  volstoreOut?: Measured;
  zarrita?: Measured;
  /** fs reads of the same files / ranges: the I/O ceiling. */
  readFile?: Measured;
  /** fs reads plus zstd decode of every chunk (zstd layouts): the I/O + decompression ceiling. */
  readDecode?: Measured;
  /** volstore speed / zarrita speed (= zarrita ms / volstore ms); > 1 means volstore is faster. */
  vsZarrita?: number;
  /** zarrita ms / volstore read({out}) ms. */
  vsZarritaOut?: number;
  /** readFile ms / volstore ms: the fraction of the I/O-only speed volstore reaches. */
  vsReadFile?: number;
  /** readDecode ms / volstore ms: the fraction of the read+decode speed volstore reaches. */
  vsReadDecode?: number;
  target?: { text: string; met: boolean };
  /** How the result was checked ("volstore = zarrita = expected"). */
  verified: string;
  /** Per-access figures (bench engine rows). */
  access?: AccessMetrics;
  /** Estimated GCS cost per TB from the row's measured operations and bytes. */
  cost?: CostEstimate;
  /** Decoded bytes / stored bytes of the layout. */
  compressionRatio?: number;
  /**
   * Peak resident set size of the process (bytes) when the row was measured: process-wide
   * (`process.resourceUsage().maxRSS`), so it includes everything that ran before in the same
   * process (the generated volume among it), unless the run was isolated in a child process.
   */
  peakRssBytes?: number;
}

/** A function's self time in a CPU profile. */
export interface ProfileEntry {
  function: string;
  location: string;
  selfMs: number;
  selfPct: number;
}

/** A CPU profile's summary: top functions and files by self time. */
export interface ProfileSummary {
  label: string;
  file?: string;
  totalMs: number;
  top: ProfileEntry[];
  /** Self time grouped by source file (or "(native)", "(gc)", "(idle)", ...). */
  byFile: { file: string; selfMs: number; selfPct: number }[];
}

/** A free-form table of a workload (codec speeds, crossovers...), rendered after its rows. */
export interface BenchTable {
  title: string;
  header: string[];
  rows: string[][];
  footnote?: string;
}

/** What a workload returns: its rows, extra tables, notes, profiles, or its error. */
export interface WorkloadResult {
  name: string;
  description: string;
  params: Record<string, unknown>;
  rows: ResultRow[];
  /** Tables beyond the volume-read rows (e.g. the codecs workload's per-codec speeds). */
  tables?: BenchTable[];
  notes: string[];
  profiles: ProfileSummary[];
  error?: string;
  /** Wall-clock seconds the workload took (set by the runner). */
  durationSec?: number;
}

/** A named benchmark workload (registered in workloads/index.ts). */
export interface Workload {
  name: string;
  description: string;
  run(opts: BenchOptions): Promise<WorkloadResult>;
}

/** The whole report (report.json, `volstore bench --json`): environment, options, prices, workloads, errors. */
export interface BenchReport {
  tool: string;
  version: string;
  date: string;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  options: {
    size: number;
    runs: number;
    warmup: number;
    seed: number;
    workloads: string[];
    profile: boolean;
    /** The engine's options when the run benched a user layout or dataset (`volstore bench --spec/--shape/...`). */
    engine?: Record<string, unknown>;
  };
  workloads: WorkloadResult[];
  durationSec: number;
  errors: string[];
  /** The GCS prices cost estimates in this report used (when any row has a cost). */
  prices?: GcsPrices;
  /** A `volstore tune` sweep, when this report is one. */
  tune?: TuneResult;
}

/** One ranked candidate. */
export interface TuneCandidate {
  readChunk: number[];
  writeChunk: number[];
  sharded: boolean;
  /** Codec name (`zstd(3)`...) and its zarr v3 codec JSON (inside the sharding codec when sharded). */
  codec: string;
  codecJson: unknown[];
  /** The TensorStore spec that creates this layout (kvstore to fill in). */
  spec: Record<string, unknown>;
  /** Objects the whole volume takes (shards, or chunks when unsharded). */
  objects: number;
  /** Compression ratio of the codec at this chunk shape (measured on the sample). */
  compressionRatio: number;
  /** Modelled memory need (bytes): max(writer: a decoded write chunk + its encoding, reader: chunks in flight). */
  memoryBytes: number;
  predicted: Prediction;
  cost: CostEstimate;
  /** Limits this candidate breaks (empty: it meets them all). */
  violations: string[];
  /** Measured with the bench engine on the sample (top candidates only). */
  measured?: {
    /** Mix-weighted mean time per access (ms). */
    msPerAccess: number;
    /** The model's prediction for the same sample, for comparison. */
    predictedSampleMs: number;
    sampleShape: number[];
    byPattern: Record<string, { meanMs: number; p50Ms: number; p95Ms: number; requestsPerAccess: number; storedBytesPerAccess: number }>;
    writeMBps?: number;
  };
  /** Why it ranks where it does (the measured and predicted numbers), for the best ones. */
  reasons: string[];
}

/** The result of a sweep: inputs, calibration, candidates best first, notes. */
export interface TuneResult {
  input: {
    shape: number[];
    dtype: DataType;
    mix: string;
    store: string;
    latencyMs?: number;
    bandwidthMbps?: number;
    maxObjects?: number;
    maxCostPerTB?: number;
    maxMemoryBytes?: number;
    budgetS: number;
    from?: unknown;
  };
  calibration: Calibration;
  /** Ranked: candidates meeting every limit first (best first), then the others. */
  candidates: TuneCandidate[];
  notes: string[];
  durationSec: number;
}
