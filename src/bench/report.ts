import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { barChart, CHART_CSS, type BarGroup, scatterChart, type Series } from './charts.js';
import { GCS_PRICES, type GcsPrices } from './cost.js';
import type { BenchReport, BenchTable, Measured, ProfileSummary, ResultRow, TuneCandidate, TuneResult, WorkloadResult } from './types.js';

/**
 * The report in three forms (terminal text, Markdown, one self-contained HTML page with charts),
 * all built from the same tables. A row's columns come from a list of column definitions and a
 * column no row of a table fills is left out, so any workload's rows render (including fields
 * only some workloads set: latency percentiles, per-access figures, cost) with no special case,
 * and tables stay narrow enough for the page: what used to be one 17-column table is split into
 * speed, ratios, latency, I/O per access and cost.
 */

const ms = (m?: Measured) => (m ? fixed(m.medianMs) : undefined);
const rate = (bytes: number, msVal: number) => fixed(bytes / 1e6 / (msVal / 1e3));
const x = (r?: number) => (r === undefined || !Number.isFinite(r) ? undefined : `${r.toFixed(2)}x`);
const mb = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(1)}` : `${(b / 1e6).toFixed(3)}`);
const usd = (v?: number) => (v === undefined || !Number.isFinite(v) ? undefined : v >= 100 ? `$${v.toFixed(0)}` : v >= 1 ? `$${v.toFixed(2)}` : `$${v.toPrecision(2)}`);

/** 1234 -> "1234", 12.34 -> "12.3", 1.234 -> "1.23", 0.01234 -> "0.012". */
export function fixed(v: number | undefined): string | undefined {
  if (v === undefined || !Number.isFinite(v)) return undefined;
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** "703 ms, 191 MB/s" (MB/s of `bytes`). */
function speed(m: Measured | undefined, bytes?: number): string | undefined {
  if (!m) return undefined;
  return `${ms(m)} ms, ${rate(bytes ?? m.bytes, m.medianMs)} MB/s`;
}

/** One column of a result table. */
export interface Column {
  header: string;
  cell(r: ResultRow): string | undefined;
}

/** A titled table of result rows: the columns that some row fills. */
export interface RowTable {
  title: string;
  columns: Column[];
  footnote?: string;
}

const KEY: Column[] = [
  { header: 'layout', cell: (r) => r.layout },
  { header: 'op', cell: (r) => r.op },
];

/** The result tables, in report order. */
export const ROW_TABLES: RowTable[] = [
  {
    title: 'Time and throughput (median of runs)',
    columns: [
      ...KEY,
      { header: 'MB', cell: (r) => mb(r.decodedBytes) },
      { header: 'volstore', cell: (r) => speed(r.volstore) },
      { header: 'volstore read({out})', cell: (r) => speed(r.volstoreOut) },
      { header: 'zarrita', cell: (r) => speed(r.zarrita) },
      { header: 'I/O only*', cell: (r) => speed(r.readFile) },
      { header: 'I/O + decode', cell: (r) => speed(r.readDecode) },
    ],
    footnote:
      'Times are medians of the timed runs (a run = one full read, slice, or one pass over an access list); MB = 1e6 bytes; MB/s counts the decoded array bytes, ' +
      'except I/O only*, which counts the stored bytes it read. I/O only = the same files, byte ranges or store reads fetched with no decoding (the I/O ceiling); ' +
      'I/O + decode = the same plus decompressing every chunk (the I/O + decompression ceiling). read({out}) reads into a reused array (no fresh-memory first touch).',
  },
  {
    title: 'Ratios (> 1x: volstore faster)',
    columns: [
      ...KEY,
      { header: 'vs zarrita', cell: (r) => x(r.vsZarrita) },
      { header: 'read({out}) vs zarrita', cell: (r) => x(r.vsZarritaOut) },
      { header: 'of I/O ceiling', cell: (r) => x(r.vsReadFile) },
      { header: 'of I/O + decode', cell: (r) => x(r.vsReadDecode) },
      { header: 'target', cell: (r) => (r.target ? `${r.target.met ? 'met' : 'MISSED'} (${r.target.text})` : undefined) },
    ],
    footnote: 'vs zarrita = zarrita ms / volstore ms; of I/O ceiling = ceiling ms / volstore ms (1.00x = volstore at the ceiling).',
  },
  {
    title: 'Latency per access (ms)',
    columns: [
      ...KEY,
      { header: 'accesses', cell: (r) => (r.access ? String(r.access.accesses) : r.volstore.p95Ms !== undefined ? String(r.volstore.samplesMs.length) : undefined) },
      { header: 'in flight', cell: (r) => (r.access ? String(r.access.concurrency) : undefined) },
      { header: 'p50', cell: (r) => fixed(r.volstore.p50Ms) },
      { header: 'p95', cell: (r) => fixed(r.volstore.p95Ms) },
      { header: 'p99', cell: (r) => fixed(r.volstore.p99Ms) },
      { header: 'zarrita p50', cell: (r) => fixed(r.zarrita?.p50Ms) },
      { header: 'zarrita p95', cell: (r) => fixed(r.zarrita?.p95Ms) },
      { header: 'zarrita p99', cell: (r) => fixed(r.zarrita?.p99Ms) },
    ],
    footnote: 'Percentiles of the per-access latencies of all timed runs (interpolated; with few accesses p95 and p99 approach the slowest).',
  },
  {
    title: 'Requests and bytes per access',
    columns: [
      ...KEY,
      { header: 'requests', cell: (r) => fixed(r.access?.requestsPerAccess) },
      { header: 'stored kB', cell: (r) => fixed(r.access && r.access.storedBytesPerAccess / 1e3) },
      { header: 'decoded kB', cell: (r) => fixed(r.access && r.access.decodedBytesPerAccess / 1e3) },
      { header: 'amplification', cell: (r) => x(r.access?.amplification) },
      { header: 'stored MB/s', cell: (r) => fixed(r.access?.storedMBPerSec) },
      { header: 'cache hits', cell: (r) => (r.access?.cacheHitRate === undefined ? undefined : `${(100 * r.access.cacheHitRate).toFixed(0)}%`) },
      { header: 'faults', cell: (r) => (r.access?.faults ? Object.entries(r.access.faults).map(([k, v]) => `${k} ${v}`).join(', ') : undefined) },
    ],
    footnote:
      'requests = store requests per access (kvstore reads/writes/lists; on the emulator, HTTP requests including retries); stored kB = encoded bytes moved per access; ' +
      'amplification: reads = stored bytes fetched / stored bytes of the voxels returned (1.00x = nothing extra), writes = stored bytes uploaded / stored bytes of the data written.',
  },
  {
    title: 'Estimated GCS cost (USD)',
    columns: [
      ...KEY,
      { header: 'compression', cell: (r) => x(r.compressionRatio) },
      { header: 'per TB read', cell: (r) => usd(r.cost?.readPerTB) },
      { header: 'of which operations', cell: (r) => usd(r.cost?.readOpsPerTB) },
      { header: 'per TB written', cell: (r) => usd(r.cost?.writePerTB) },
      { header: 'storage per TB-month', cell: (r) => usd(r.cost?.storagePerTBMonth) },
      { header: 'peak RSS MB', cell: (r) => (r.peakRssBytes ? (r.peakRssBytes / 1e6).toFixed(0) : undefined) },
    ],
    footnote:
      'Per TB (1e12 bytes) of decoded array data, from the operations and bytes counted in the run: reads = class B operations + egress of the stored bytes fetched; ' +
      'writes = class A (+ B for read-modify-write) operations; storage = stored / decoded bytes x the monthly price. Peak RSS is the whole process\'s when the row was measured.',
  },
];

/** The cells of `rows` under a table's non-empty columns: [header, cell rows], or undefined when only the key columns are filled. */
export function tableCells(t: RowTable, rows: readonly ResultRow[]): { header: string[]; rows: string[][] } | undefined {
  const cols = t.columns.filter((c, i) => i < KEY.length || rows.some((r) => c.cell(r) !== undefined));
  if (cols.length <= KEY.length) return undefined;
  // rows that fill no non-key column of this table are left out of it
  const used = rows.filter((r) => cols.slice(KEY.length).some((c) => c.cell(r) !== undefined));
  return { header: cols.map((c) => c.header), rows: used.map((r) => cols.map((c) => c.cell(r) ?? '')) };
}

/** Columns of a profile's self-time table. */
export const PROFILE_HEADER = ['self ms', 'self %', 'function', 'location'];
/** The rows of a profile's self-time table. */
export function profileCells(p: ProfileSummary): string[][] {
  return p.top.map((e) => [e.selfMs.toFixed(0), `${e.selfPct.toFixed(1)}%`, e.function, e.location]);
}

/** A number cell: "12.3", "-1", "$4.50", "3.10x", "45%", "1.2e-5", or a speed "703 ms, 191 MB/s". */
const NUMBER_CELL = /^(?:[-$]?\d[\d.]*(?:e[-+]?\d+)?(?:x|%| [kMG]B)?|[\d.]+ ms, [\d.]+ MB\/s)$/;

/** A column is right-aligned when every non-empty cell is a number (see NUMBER_CELL) and one is not empty. */
function numericColumns(header: string[], rows: string[][]): boolean[] {
  return header.map((_, i) => rows.some((r) => (r[i] ?? '') !== '') && rows.every((r) => (r[i] ?? '') === '' || NUMBER_CELL.test(r[i]!)));
}

/** Plain-text table with aligned columns (numbers right-aligned). */
export function textTable(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = numericColumns(header, rows);
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** A Markdown table (numbers right-aligned, `|` escaped). */
export function markdownTable(header: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const numeric = numericColumns(header, rows);
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function envLine(r: BenchReport): string {
  const named = r.options.workloads.length > (r.options.engine ? 1 : 0);
  return `${r.tool} ${r.version}, ${r.node} on ${r.platform}, ${r.cpus} x ${r.cpuModel}; ${r.date}; ` +
    (named ? `size ${r.options.size}^3, ${r.options.runs} timed run(s) after ${r.options.warmup} warm-up, ` : '') +
    `seed ${r.options.seed}; ${r.durationSec.toFixed(0)} s total`;
}

/** Where the cost numbers come from, for the report. */
export function pricesLine(p: GcsPrices = GCS_PRICES): string {
  return `GCS prices: storage $${p.storagePerGbMonth}/GB-month, class A $${p.classAPer10k} and class B $${p.classBPer10k} per 10,000 operations, ` +
    `egress $${p.egressPerGb}/GB (GB = 2^30 bytes); ${p.region}, as of ${p.asOf}; source: ${p.source}. Override with --price key=value.`;
}

const hasCost = (r: BenchReport) => r.workloads.some((w) => w.rows.some((x) => x.cost));

/** The result tables of one workload, as [title, header, rows, footnote]. */
function workloadTables(w: WorkloadResult): { title: string; header: string[]; rows: string[][]; footnote?: string }[] {
  const out: { title: string; header: string[]; rows: string[][]; footnote?: string }[] = [];
  if (w.rows.length) {
    for (const t of ROW_TABLES) {
      const c = tableCells(t, w.rows);
      if (c) out.push({ title: t.title, ...c, footnote: t.footnote });
    }
  }
  for (const t of w.tables ?? []) out.push(t as BenchTable & { footnote?: string });
  return out;
}

/** The report as terminal text: environment, prices, then per workload its tables, notes and profiles. */
export function renderText(r: BenchReport): string {
  const out: string[] = [envLine(r), ''];
  if (hasCost(r)) out.push(pricesLine(r.prices), '');
  for (const w of r.workloads) {
    out.push(`== ${w.name}: ${w.description}${w.durationSec !== undefined ? ` (${w.durationSec.toFixed(0)} s)` : ''}`, '');
    for (const t of workloadTables(w)) out.push(`-- ${t.title}`, textTable(t.header, t.rows), ...(t.footnote ? ['', t.footnote] : []), '');
    for (const n of w.notes) out.push(`  - ${n}`);
    if (w.error) out.push(`  ERROR: ${w.error}`);
    for (const p of w.profiles) {
      out.push('', `-- profile: ${p.label}: ${p.totalMs.toFixed(0)} ms sampled${p.file ? ` (${p.file})` : ''}`);
      out.push(textTable(PROFILE_HEADER, profileCells(p).slice(0, 12)));
    }
    out.push('');
  }
  if (r.tune) out.push(renderTuneText(r.tune), '');
  for (const e of r.errors) out.push(`ERROR: ${e}`);
  return out.join('\n');
}

/** The report as Markdown (report.md). */
export function renderMarkdown(r: BenchReport): string {
  const out: string[] = ['# volstore bench', '', envLine(r), ''];
  if (hasCost(r)) out.push(pricesLine(r.prices), '');
  for (const e of r.errors) out.push(`**ERROR:** ${e}`, '');
  for (const w of r.workloads) {
    out.push(`## ${w.name}`, '', `${w.description}${w.durationSec !== undefined ? ` (${w.durationSec.toFixed(0)} s)` : ''}`, '');
    if (w.error) out.push(`**ERROR:** ${w.error}`, '');
    for (const t of workloadTables(w)) out.push(`### ${t.title}`, '', markdownTable(t.header, t.rows), '', ...(t.footnote ? [`_${t.footnote}_`, ''] : []));
    if (w.notes.length) out.push(...w.notes.map((n) => `- ${n}`), '');
    for (const p of w.profiles) {
      out.push(`### Profile: ${p.label}`, '', `${p.totalMs.toFixed(0)} ms sampled (main thread)${p.file ? `; raw profile: \`${p.file}\`` : ''}.`, '');
      out.push(markdownTable(PROFILE_HEADER, profileCells(p)), '');
      out.push('By file:', '', markdownTable(['self ms', 'self %', 'file'], p.byFile.slice(0, 10).map((f) => [f.selfMs.toFixed(0), `${f.selfPct.toFixed(1)}%`, f.file])), '');
    }
  }
  if (r.tune) out.push('## tune', '', '```', renderTuneText(r.tune), '```', '');
  return out.join('\n');
}

const escHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function htmlTable(header: string[], rows: string[][]): string {
  const numeric = numericColumns(header, rows);
  const td = (c: string, i: number, tag: string) => {
    const cls = [numeric[i] ? 'num' : '', /^MISSED/.test(c) ? 'miss' : /^met/.test(c) ? 'met' : ''].filter(Boolean).join(' ');
    return `<${tag}${cls ? ` class="${cls}"` : ''}>${escHtml(c)}</${tag}>`;
  };
  return `<div class="tw"><table>\n<thead><tr>${header.map((h, i) => td(h, i, 'th')).join('')}</tr></thead>\n<tbody>\n${rows
    .map((r) => `<tr>${r.map((c, i) => td(c, i, 'td')).join('')}</tr>`)
    .join('\n')}\n</tbody>\n</table></div>`;
}

/** Contenders of the throughput chart: what each row may carry, as decoded MB/s. */
const SPEED_SERIES: { name: string; pick: (r: ResultRow) => Measured | undefined }[] = [
  { name: 'volstore', pick: (r) => r.volstore },
  { name: 'volstore read({out})', pick: (r) => r.volstoreOut },
  { name: 'zarrita', pick: (r) => r.zarrita },
  { name: 'I/O only (ceiling)', pick: (r) => r.readFile },
  { name: 'I/O + decode (ceiling)', pick: (r) => r.readDecode },
];

const COLORS: Record<string, string> = {
  volstore: '#0072B2',
  'volstore read({out})': '#56B4E9',
  zarrita: '#E69F00',
  'I/O only (ceiling)': '#999999',
  'I/O + decode (ceiling)': '#009E73',
  'volstore p50': '#56B4E9',
  'volstore p95': '#0072B2',
  'zarrita p50': '#F0E442',
  'zarrita p95': '#E69F00',
  operations: '#0072B2',
  egress: '#D55E00',
  'per TB written (operations)': '#CC79A7',
  'storage per TB-month': '#009E73',
};
const seriesOf = (names: string[]): Series[] => names.map((name) => ({ name, color: COLORS[name] }));

/** The charts of one workload: throughput per op, latency per access, cost. */
export function workloadCharts(w: WorkloadResult): string[] {
  const charts: string[] = [];
  const ops = [...new Set(w.rows.map((r) => r.op))];
  for (const op of ops) {
    const rows = w.rows.filter((r) => r.op === op);
    const groups: BarGroup[] = rows.map((r) => ({
      label: r.layout,
      bars: SPEED_SERIES.map((s) => {
        const m = s.pick(r);
        // every bar in decoded MB/s: the ceilings as the same array bytes over their time
        return { series: s.name, value: m ? r.decodedBytes / 1e6 / (m.medianMs / 1e3) : undefined };
      }),
    }));
    charts.push(barChart({
      title: `${w.name}: ${op}, throughput`,
      unit: 'MB/s of array data (higher is better)',
      series: seriesOf(SPEED_SERIES.map((s) => s.name)),
      groups,
      clipSeries: ['I/O only (ceiling)', 'I/O + decode (ceiling)'],
    }));
  }
  const lat = w.rows.filter((r) => r.volstore.p95Ms !== undefined);
  if (lat.length) {
    const labelOf = (r: ResultRow) => (ops.length > 1 ? `${r.layout} · ${r.op}` : r.layout);
    charts.push(barChart({
      title: `${w.name}: latency per access`,
      unit: 'ms (lower is better)',
      series: seriesOf(['volstore p50', 'volstore p95', 'zarrita p50', 'zarrita p95']),
      groups: lat.map((r) => ({
        label: labelOf(r),
        bars: [
          { series: 'volstore p50', value: r.volstore.p50Ms },
          { series: 'volstore p95', value: r.volstore.p95Ms },
          { series: 'zarrita p50', value: r.zarrita?.p50Ms },
          { series: 'zarrita p95', value: r.zarrita?.p95Ms },
        ],
      })),
      // a peer orders of magnitude slower (zarrita with no cache in the viewer scroll) is cut
      // at the axis edge with its value written, so volstore's bars stay readable
      clipSeries: ['zarrita p50', 'zarrita p95'],
    }));
  }
  const reads = w.rows.filter((r) => r.cost?.readPerTB !== undefined);
  if (reads.length) {
    charts.push(barChart({
      title: `${w.name}: estimated GCS cost to read 1 TB`,
      unit: 'USD per TB of array data (lower is better)',
      series: seriesOf(['operations', 'egress']),
      stacked: true,
      format: (v) => `$${v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(2)}`,
      groups: reads.map((r) => ({
        label: `${r.layout} · ${r.op}`,
        bars: [
          { series: 'operations', value: r.cost!.readOpsPerTB },
          { series: 'egress', value: r.cost!.readPerTB! - (r.cost!.readOpsPerTB ?? 0) },
        ],
      })),
      note: 'Class B operations for the requests counted, plus egress of the stored bytes fetched (0 for readers in the bucket\'s region: --price egressPerGb=0).',
    }));
  }
  const writes = w.rows.filter((r) => r.cost?.writePerTB !== undefined || (r.cost?.storagePerTBMonth !== undefined && r.op.startsWith('write')));
  if (writes.length) {
    charts.push(barChart({
      title: `${w.name}: estimated GCS cost to write and store 1 TB`,
      unit: 'USD per TB of array data (lower is better)',
      series: seriesOf(['per TB written (operations)', 'storage per TB-month']),
      format: (v) => `$${v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(2)}`,
      groups: writes.map((r) => ({
        label: r.layout,
        bars: [
          { series: 'per TB written (operations)', value: r.cost?.writePerTB },
          { series: 'storage per TB-month', value: r.cost?.storagePerTBMonth },
        ],
      })),
    }));
  }
  return charts.filter(Boolean);
}

/** The report as one self-contained HTML page with inline SVG charts (index.html): no script, no network. */
export function renderHtml(r: BenchReport): string {
  const parts: string[] = [];
  for (const e of r.errors) parts.push(`<p class="error">ERROR: ${escHtml(e)}</p>`);
  if (r.workloads.length > 1) {
    parts.push(`<nav><ul>${r.workloads.map((w) => `<li><a href="#w-${escHtml(w.name)}">${escHtml(w.name)}</a></li>`).join('')}${r.tune ? '<li><a href="#tune">tune</a></li>' : ''}</ul></nav>`);
  }
  if (r.tune) parts.push(renderTuneHtml(r.tune));
  for (const w of r.workloads) {
    parts.push(`<section id="w-${escHtml(w.name)}"><h2>${escHtml(w.name)}</h2>`, `<p>${escHtml(w.description)}${w.durationSec !== undefined ? ` <span class="note">(${w.durationSec.toFixed(0)} s)</span>` : ''}</p>`);
    if (w.error) parts.push(`<p class="error">ERROR: ${escHtml(w.error)}</p>`);
    const charts = workloadCharts(w);
    if (charts.length) parts.push(`<div class="charts">${charts.join('\n')}</div>`);
    for (const t of workloadTables(w)) {
      parts.push(`<h3>${escHtml(t.title)}</h3>`, htmlTable(t.header, t.rows), ...(t.footnote ? [`<p class="note">${escHtml(t.footnote)}</p>`] : []));
    }
    if (w.notes.length) parts.push(`<ul class="notes">${w.notes.map((n) => `<li>${escHtml(n)}</li>`).join('')}</ul>`);
    for (const p of w.profiles) {
      parts.push(
        `<h3>Profile: ${escHtml(p.label)}</h3>`,
        `<p>${p.totalMs.toFixed(0)} ms sampled (main thread)${p.file ? `; raw profile: <a href="${escHtml(p.file)}">${escHtml(p.file)}</a>` : ''}</p>`,
        htmlTable(PROFILE_HEADER, profileCells(p)),
      );
    }
    parts.push('</section>');
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>volstore bench</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;padding:0 1em;color:#222;max-width:72em}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.tw{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px}
th,td{border:1px solid #ccc;padding:2px 6px;vertical-align:top}
th{background:#f3f3f3;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}
td.miss{color:#b00020;font-weight:600} td.met{color:#176b2c}
.error{color:#b00020;font-weight:600} .note{color:#555;font-size:12px;max-width:60em}
nav ul{display:flex;flex-wrap:wrap;gap:1em;list-style:none;padding:0}
ul.notes{font-size:13px;color:#333}
${CHART_CSS}
</style></head><body>
<h1>volstore bench</h1>
<p>${escHtml(envLine(r))}</p>
${hasCost(r) ? `<p class="note">${escHtml(pricesLine(r.prices))}</p>` : ''}
${parts.join('\n')}
</body></html>
`;
}

// ---- tune

const kb = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(1)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(0)} kB`);

/** JSON with 2-space indentation, arrays of numbers kept on one line. */
export function compactJson(v: unknown): string {
  return JSON.stringify(v, null, 2).replace(/\[\s*(-?[\d.]+(?:,\s*-?[\d.]+)*)\s*\]/g, (_, inner: string) => `[${inner.split(/,\s*/).join(', ')}]`);
}

/** The ranked candidates of a tune sweep as a table (top `n`). */
export function tuneTable(t: TuneResult, n = 10): { header: string[]; rows: string[][] } {
  const header = ['#', 'read chunk', 'write chunk', 'codec', 'objects', 'predicted ms/access', 'measured ms/access', 'requests/access', 'read $/TB', 'memory', 'limits'];
  const rows = t.candidates.slice(0, n).map((c, i) => [
    String(i + 1),
    c.readChunk.join('x'),
    c.writeChunk.join('x') + (c.sharded ? '' : ' (unsharded)'),
    c.codec,
    String(c.objects),
    fixed(c.predicted.msPerAccess) ?? '',
    fixed(c.measured?.msPerAccess) ?? '',
    fixed(c.predicted.requestsPerAccess) ?? '',
    usd(c.cost.readPerTB) ?? '',
    kb(c.memoryBytes),
    c.violations.length ? c.violations.join('; ') : 'ok',
  ]);
  return { header, rows };
}

/** The recommendation and the top of the ranking, as terminal text. */
export function renderTuneText(t: TuneResult): string {
  const best = t.candidates.find((c) => c.violations.length === 0);
  const out: string[] = [];
  out.push(`== tune: ${t.input.shape.join('x')} ${t.input.dtype}, mix ${t.input.mix}, store ${t.input.store}`);
  out.push(`   calibration: ${t.calibration.summary}`);
  if (best) {
    out.push('', `Recommendation: read chunk ${best.readChunk.join('x')}, write chunk ${best.writeChunk.join('x')}${best.sharded ? ' (sharded)' : ' (unsharded)'}, codec ${best.codec}`);
    for (const reason of best.reasons) out.push(`  - ${reason}`);
    out.push('', 'TensorStore spec (fill in the kvstore):', compactJson(best.spec));
  } else {
    out.push('', 'No candidate meets the limits; the ranking below shows what each breaks.');
  }
  const tt = tuneTable(t);
  out.push('', textTable(tt.header, tt.rows));
  for (const n of t.notes) out.push(`  - ${n}`);
  return out.join('\n');
}

function candidateSeries(c: TuneCandidate): string {
  return c.codec;
}

/** The tune section of the page: the sweep as a scatter plot, the ranking, the spec. */
export function renderTuneHtml(t: TuneResult): string {
  const best = t.candidates.find((c) => c.violations.length === 0);
  const codecs = [...new Set(t.candidates.map(candidateSeries))];
  const scatter = scatterChart({
    title: `tune sweep: ${t.candidates.length} candidates`,
    xLabel: 'objects in the volume (log)',
    yLabel: 'predicted ms per access of the mix (log)',
    logX: true,
    logY: true,
    series: codecs.map((name) => ({ name })),
    points: t.candidates.map((c) => ({
      x: c.objects,
      y: c.predicted.msPerAccess,
      series: candidateSeries(c),
      label: `${c.readChunk.join('x')} in ${c.writeChunk.join('x')} ${c.codec}: ${fixed(c.predicted.msPerAccess)} ms/access${c.violations.length ? ` (${c.violations.join('; ')})` : ''}`,
      highlight: c === best,
      hollow: c.violations.length > 0,
    })),
    note: 'Each point is a candidate layout; hollow points break a limit; the large point is the recommendation.',
  });
  const measured = t.candidates.filter((c) => c.measured);
  const check = measured.length
    ? barChart({
      title: 'model vs measurement on the sample',
      unit: 'ms per access of the mix (lower is better)',
      series: [{ name: 'predicted', color: '#999999' }, { name: 'measured', color: '#0072B2' }],
      groups: measured.map((c) => ({
        label: `${c.readChunk.join('x')} in ${c.writeChunk.join('x')} ${c.codec}`,
        bars: [{ series: 'predicted', value: c.measured!.predictedSampleMs }, { series: 'measured', value: c.measured!.msPerAccess }],
      })),
    })
    : '';
  const tt = tuneTable(t, 20);
  return `<section id="tune"><h2>tune</h2>
<p>${escHtml(`${t.input.shape.join('x')} ${t.input.dtype}; mix ${t.input.mix}; store ${t.input.store}; calibration: ${t.calibration.summary}`)}</p>
${best ? `<p><b>Recommendation:</b> read chunk ${escHtml(best.readChunk.join('x'))}, write chunk ${escHtml(best.writeChunk.join('x'))}, codec ${escHtml(best.codec)}</p><ul class="notes">${best.reasons.map((x2) => `<li>${escHtml(x2)}</li>`).join('')}</ul>` : '<p class="error">No candidate meets the limits.</p>'}
<div class="charts">${scatter}${check}</div>
${best ? `<h3>TensorStore spec (fill in the kvstore)</h3><pre>${escHtml(compactJson(best.spec))}</pre>` : ''}
<h3>Ranking</h3>${htmlTable(tt.header, tt.rows)}
<ul class="notes">${t.notes.map((n) => `<li>${escHtml(n)}</li>`).join('')}</ul></section>`;
}

/** Writes report.json, report.md and index.html into `dir` (created). Returns the paths. */
export async function writeReport(r: BenchReport, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    ['report.json', `${JSON.stringify(r, null, 2)}\n`],
    ['report.md', renderMarkdown(r)],
    ['index.html', renderHtml(r)],
  ];
  for (const [name, text] of files) await writeFile(path.join(dir, name), text);
  return files.map(([n]) => path.join(dir, n));
}
