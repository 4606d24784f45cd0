/** Shapes shared by the bench runner, the workloads and the report writers. */

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
}

export interface Measured {
  medianMs: number;
  samplesMs: number[];
  /** Bytes this contender moved per run (decoded bytes for readers, file bytes for readFile). */
  bytes: number;
  mbPerSec: number;
}

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
}

export interface ProfileEntry {
  function: string;
  location: string;
  selfMs: number;
  selfPct: number;
}

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
}

export interface Workload {
  name: string;
  description: string;
  run(opts: BenchOptions): Promise<WorkloadResult>;
}

export interface BenchReport {
  tool: string;
  version: string;
  date: string;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  options: { size: number; runs: number; warmup: number; seed: number; workloads: string[]; profile: boolean };
  workloads: WorkloadResult[];
  durationSec: number;
  errors: string[];
}
