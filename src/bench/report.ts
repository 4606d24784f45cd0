import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BenchReport, Measured, ProfileSummary, ResultRow } from './types.js';

/** The report as tables: one header + rows of cells, shared by the text, Markdown and HTML forms. */

const ms = (m?: Measured) => (m ? (m.medianMs >= 100 ? m.medianMs.toFixed(0) : m.medianMs.toFixed(1)) : '');
const rate = (m?: Measured) => (m ? (m.mbPerSec >= 100 ? m.mbPerSec.toFixed(0) : m.mbPerSec.toFixed(1)) : '');
const x = (r?: number) => (r === undefined ? '' : `${r.toFixed(2)}x`);
const mb = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(1)}` : `${(b / 1e6).toFixed(3)}`);

export const RESULT_HEADER = [
  'layout', 'op', 'MB',
  'volstore ms', 'volstore MB/s',
  'volstore(out) ms',
  'zarrita ms', 'zarrita MB/s',
  'readFile ms', 'readFile MB/s*',
  'read+zstd ms', 'read+zstd MB/s',
  'volstore/zarrita', 'volstore(out)/zarrita', 'volstore/readFile', 'volstore/read+zstd', 'target',
];

export function resultCells(r: ResultRow): string[] {
  return [
    r.layout, r.op, mb(r.decodedBytes),
    ms(r.volstore), rate(r.volstore),
    ms(r.volstoreOut),
    ms(r.zarrita), rate(r.zarrita),
    ms(r.readFile), rate(r.readFile),
    ms(r.readDecode), rate(r.readDecode),
    x(r.vsZarrita), x(r.vsZarritaOut), x(r.vsReadFile), x(r.vsReadDecode),
    r.target ? `${r.target.met ? 'met' : 'MISSED'} (${r.target.text})` : '',
  ];
}

export const TABLE_FOOTNOTE =
  'Times are medians; MB/s counts decoded bytes (MB = 1e6 bytes), except readFile* which counts the file bytes read. ' +
  'volstore/zarrita = zarrita ms / volstore ms (speed-up over zarrita); volstore(out) reads into a reused array ' +
  '(read({out})), skipping the allocation and first touch of fresh memory that every new result pays; volstore/readFile and volstore/read+zstd = ' +
  'ceiling ms / volstore ms (fraction of the I/O-only and I/O+decompression speed reached; 1.00x = at the ceiling).';

export const PROFILE_HEADER = ['self ms', 'self %', 'function', 'location'];
export function profileCells(p: ProfileSummary): string[][] {
  return p.top.map((e) => [e.selfMs.toFixed(0), `${e.selfPct.toFixed(1)}%`, e.function, e.location]);
}

/** Plain-text table with aligned columns (numbers right-aligned). */
export function textTable(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^[-\d.%x]*$/.test(r[i] ?? '')));
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable(header: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^[-\d.%x]*$/.test(r[i] ?? '')));
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function envLine(r: BenchReport): string {
  return `${r.tool} ${r.version}, ${r.node} on ${r.platform}, ${r.cpus} x ${r.cpuModel}; ${r.date}; ` +
    `size ${r.options.size}^3, ${r.options.runs} timed run(s) after ${r.options.warmup} warm-up, seed ${r.options.seed}; ${r.durationSec.toFixed(0)} s total`;
}

export function renderText(r: BenchReport): string {
  const out: string[] = [envLine(r), ''];
  for (const w of r.workloads) {
    out.push(`== ${w.name}: ${w.description}`, '');
    if (w.rows.length) out.push(textTable(RESULT_HEADER, w.rows.map(resultCells)), '', TABLE_FOOTNOTE, '');
    for (const t of w.tables ?? []) out.push(`-- ${t.title}`, textTable(t.header, t.rows), ...(t.footnote ? ['', t.footnote] : []), '');
    for (const n of w.notes) out.push(`  - ${n}`);
    if (w.error) out.push(`  ERROR: ${w.error}`);
    for (const p of w.profiles) {
      out.push('', `-- profile: ${p.label}: ${p.totalMs.toFixed(0)} ms sampled${p.file ? ` (${p.file})` : ''}`);
      out.push(textTable(PROFILE_HEADER, profileCells(p).slice(0, 12)));
    }
    out.push('');
  }
  for (const e of r.errors) out.push(`ERROR: ${e}`);
  return out.join('\n');
}

export function renderMarkdown(r: BenchReport): string {
  const out: string[] = ['# volstore bench', '', envLine(r), ''];
  for (const e of r.errors) out.push(`**ERROR:** ${e}`, '');
  for (const w of r.workloads) {
    out.push(`## ${w.name}`, '', w.description, '');
    if (w.error) out.push(`**ERROR:** ${w.error}`, '');
    if (w.rows.length) out.push(markdownTable(RESULT_HEADER, w.rows.map(resultCells)), '', `_${TABLE_FOOTNOTE}_`, '');
    for (const t of w.tables ?? []) out.push(`### ${t.title}`, '', markdownTable(t.header, t.rows), '', ...(t.footnote ? [`_${t.footnote}_`, ''] : []));
    if (w.notes.length) out.push(...w.notes.map((n) => `- ${n}`), '');
    for (const p of w.profiles) {
      out.push(`### Profile: ${p.label}`, '', `${p.totalMs.toFixed(0)} ms sampled (main thread)${p.file ? `; raw profile: \`${p.file}\`` : ''}.`, '');
      out.push(markdownTable(PROFILE_HEADER, profileCells(p)), '');
      out.push('By file:', '', markdownTable(['self ms', 'self %', 'file'], p.byFile.slice(0, 10).map((f) => [f.selfMs.toFixed(0), `${f.selfPct.toFixed(1)}%`, f.file])), '');
    }
  }
  return out.join('\n');
}

const escHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function htmlTable(header: string[], rows: string[][]): string {
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^[-\d.%x]*$/.test(r[i] ?? '')));
  const td = (c: string, i: number, tag: string) => {
    const cls = [numeric[i] ? 'num' : '', /^MISSED/.test(c) ? 'miss' : /^met/.test(c) ? 'met' : ''].filter(Boolean).join(' ');
    return `<${tag}${cls ? ` class="${cls}"` : ''}>${escHtml(c)}</${tag}>`;
  };
  return `<table>\n<thead><tr>${header.map((h, i) => td(h, i, 'th')).join('')}</tr></thead>\n<tbody>\n${rows
    .map((r) => `<tr>${r.map((c, i) => td(c, i, 'td')).join('')}</tr>`)
    .join('\n')}\n</tbody>\n</table>`;
}

export function renderHtml(r: BenchReport): string {
  const parts: string[] = [];
  for (const e of r.errors) parts.push(`<p class="error">ERROR: ${escHtml(e)}</p>`);
  for (const w of r.workloads) {
    parts.push(`<h2>${escHtml(w.name)}</h2>`, `<p>${escHtml(w.description)}</p>`);
    if (w.error) parts.push(`<p class="error">ERROR: ${escHtml(w.error)}</p>`);
    if (w.rows.length) parts.push(htmlTable(RESULT_HEADER, w.rows.map(resultCells)), `<p class="note">${escHtml(TABLE_FOOTNOTE)}</p>`);
    for (const t of w.tables ?? []) {
      parts.push(`<h3>${escHtml(t.title)}</h3>`, htmlTable(t.header, t.rows), ...(t.footnote ? [`<p class="note">${escHtml(t.footnote)}</p>`] : []));
    }
    if (w.notes.length) parts.push(`<ul>${w.notes.map((n) => `<li>${escHtml(n)}</li>`).join('')}</ul>`);
    for (const p of w.profiles) {
      parts.push(
        `<h3>Profile: ${escHtml(p.label)}</h3>`,
        `<p>${p.totalMs.toFixed(0)} ms sampled (main thread)${p.file ? `; raw profile: <a href="${escHtml(p.file)}">${escHtml(p.file)}</a>` : ''}</p>`,
        htmlTable(PROFILE_HEADER, profileCells(p)),
      );
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>volstore bench</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:3px 8px;white-space:nowrap}
th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.miss{color:#b00020;font-weight:600} td.met{color:#176b2c}
.error{color:#b00020;font-weight:600} .note{color:#555;font-size:12px;max-width:60em}
</style></head><body>
<h1>volstore bench</h1>
<p>${escHtml(envLine(r))}</p>
${parts.join('\n')}
</body></html>
`;
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
