/**
 * Charts of the bench report as static inline SVG, generated here: grouped horizontal bar charts
 * (optionally stacked) and scatter plots. Written by hand rather than with a charting library
 * because the report must be one self-contained page that renders with no network and no
 * script (it also prints and diffs well), and the two chart kinds it needs are ~200 lines; a
 * library inlined into the page would be 50-300 kB of JavaScript for the same bars.
 *
 * Every mark carries `data-series` / `data-value` attributes (what the Chromium test checks);
 * every chart has a `<title>` and a legend; colours are the Okabe-Ito palette (colour-blind safe).
 */

/** One series of a chart (a colour in the legend). */
export interface Series {
  name: string;
  color?: string;
}

/** One bar: a value of a series (NaN / undefined values are skipped). */
export interface Bar {
  series: string;
  value: number | undefined;
  /** Text after the bar (default: the value formatted). */
  label?: string;
}

/** A group of bars (one category: a layout, an op). */
export interface BarGroup {
  label: string;
  bars: Bar[];
}

/** Options of {@link barChart}. */
export interface BarChartOptions {
  title: string;
  /** Unit of the values, shown on the axis ("MB/s", "ms", "USD per TB"). */
  unit: string;
  series: Series[];
  groups: BarGroup[];
  /** Stack the bars of a group into one (e.g. operations + egress). */
  stacked?: boolean;
  /** Format of value labels. */
  format?: (v: number) => string;
  /** A note under the chart. */
  note?: string;
  /**
   * Series whose bars may run off the axis (ceilings far above the contenders): when their
   * largest value is more than 3x the largest of the other series, the axis ends at 3x that,
   * and their longer bars are cut at the edge, marked, and labelled with their true value.
   */
  clipSeries?: string[];
}

/** Okabe-Ito: blue, orange, bluish green, reddish purple, sky blue, vermillion, yellow, black. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** "1.23", "12.3", "123", "1.2k", "12k": compact numbers for labels. */
export function compactNumber(v: number): string {
  if (!Number.isFinite(v)) return '';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 0.1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toPrecision(2);
}

/** A "nice" axis maximum and tick step at or above `max`. */
function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { max: Math.ceil(max / step - 1e-9) * step, step };
}

function colorOf(series: Series[], name: string): string {
  const i = series.findIndex((s) => s.name === name);
  return series[i]?.color ?? PALETTE[Math.max(0, i) % PALETTE.length]!;
}

function legend(series: Series[], x: number, y: number, width: number): { svg: string; height: number } {
  const out: string[] = [];
  let cx = x;
  let cy = y;
  for (const s of series) {
    const w = 18 + s.name.length * 6.6 + 14;
    if (cx + w > x + width && cx > x) {
      cx = x;
      cy += 18;
    }
    out.push(`<rect x="${cx}" y="${cy - 9}" width="11" height="11" fill="${colorOf(series, s.name)}"/><text x="${cx + 15}" y="${cy}" class="lg">${esc(s.name)}</text>`);
    cx += w;
  }
  return { svg: `<g class="legend">${out.join('')}</g>`, height: cy - y + 18 };
}

/**
 * A horizontal grouped (or stacked) bar chart as an SVG string, scaled to its container's
 * width (viewBox). Groups with no finite value are left out; a chart with no bars at all is ''.
 */
export function barChart(o: BarChartOptions): string {
  const fmt = o.format ?? compactNumber;
  const groups = o.groups
    .map((g) => ({ ...g, bars: g.bars.filter((b) => b.value !== undefined && Number.isFinite(b.value) && b.value >= 0) }))
    .filter((g) => g.bars.length > 0);
  if (groups.length === 0) return '';
  const used = o.series.filter((s) => groups.some((g) => g.bars.some((b) => b.series === s.name)));
  const W = 760;
  // a long "layout · op" label goes on two lines (split at the dot) rather than off the left edge
  const textW = (t: string) => t.length * 6.4 + 12;
  const linesOf = (label: string) => (textW(label) > 300 && label.includes(' · ') ? label.split(' · ') : [label]);
  const labelW = Math.min(300, Math.max(90, ...groups.flatMap((g) => linesOf(g.label).map(textW))));
  const plotX = labelW + 8;
  const plotW = W - plotX - 70;
  const barH = 13;
  const gap = 8;
  const top = 30;
  const lineH = 12;
  const groupH = (g: (typeof groups)[number]) => Math.max(o.stacked ? barH : g.bars.length * barH, linesOf(g.label).length * lineH) + gap;
  const maxVal = Math.max(...groups.map((g) => (o.stacked ? g.bars.reduce((a, b) => a + b.value!, 0) : Math.max(...g.bars.map((b) => b.value!)))));
  const clip = new Set(o.stacked ? [] : (o.clipSeries ?? []));
  const others = groups.flatMap((g) => g.bars.filter((b) => !clip.has(b.series)).map((b) => b.value!));
  const othersMax = others.length ? Math.max(...others) : 0;
  const { max, step } = niceScale(othersMax > 0 && maxVal > 3 * othersMax ? 3 * othersMax : maxVal);
  const sx = (v: number) => (Math.min(v, max) / max) * plotW;
  const plotH = groups.reduce((a, g) => a + groupH(g), 0);
  const parts: string[] = [];
  // grid and ticks
  for (let t = 0; t <= max + 1e-9; t += step) {
    const x = plotX + sx(t);
    parts.push(`<line x1="${x.toFixed(1)}" y1="${top - 4}" x2="${x.toFixed(1)}" y2="${top + plotH}" class="grid"/>`);
    parts.push(`<text x="${x.toFixed(1)}" y="${top + plotH + 14}" class="tick" text-anchor="middle">${esc(fmt(t))}</text>`);
  }
  let y = top;
  let anyCut = false;
  for (const g of groups) {
    const h = groupH(g) - gap;
    const lines = linesOf(g.label);
    const ly = y + h / 2 + 4 - ((lines.length - 1) * lineH) / 2;
    parts.push(lines.length === 1
      ? `<text x="${plotX - 6}" y="${ly.toFixed(1)}" class="cat" text-anchor="end">${esc(g.label)}</text>`
      : `<text x="${plotX - 6}" y="${ly.toFixed(1)}" class="cat" text-anchor="end"><title>${esc(g.label)}</title>${lines.map((l, i) => `<tspan x="${plotX - 6}" dy="${i === 0 ? 0 : lineH}">${esc(l)}</tspan>`).join('')}</text>`);
    let acc = 0;
    g.bars.forEach((b, i) => {
      const by = o.stacked ? y : y + i * barH;
      const x0 = plotX + sx(acc);
      const w = Math.max(0.5, sx(b.value!));
      const cut = !o.stacked && b.value! > max;
      anyCut ||= cut;
      parts.push(
        `<rect class="bar" x="${x0.toFixed(1)}" y="${by.toFixed(1)}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${colorOf(o.series, b.series)}" ` +
          `data-series="${esc(b.series)}" data-value="${b.value}"${cut ? ' data-clipped="1"' : ''}><title>${esc(`${g.label} / ${b.series}: ${fmt(b.value!)} ${o.unit}`)}</title></rect>`,
      );
      // a cut bar ends in a white zig-zag: it goes on beyond the axis
      if (cut) parts.push(`<path d="M${(x0 + w - 6).toFixed(1)} ${by.toFixed(1)} l4 ${((barH - 2) / 2).toFixed(1)} l-4 ${((barH - 2) / 2).toFixed(1)}" stroke="#fff" stroke-width="2" fill="none"/>`);
      if (o.stacked) acc += b.value!;
      else parts.push(`<text x="${(x0 + w + 3).toFixed(1)}" y="${(by + barH - 4).toFixed(1)}" class="val">${esc(b.label ?? fmt(b.value!))}${cut ? ' \u2192' : ''}</text>`);
    });
    if (o.stacked) parts.push(`<text x="${(plotX + sx(acc) + 3).toFixed(1)}" y="${(y + barH - 4).toFixed(1)}" class="val">${esc(fmt(acc))}</text>`);
    y += groupH(g);
  }
  const lg = legend(used, plotX, top + plotH + 34, plotW);
  const H = top + plotH + 34 + lg.height;
  return (
    `<svg class="chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(o.title)}" xmlns="http://www.w3.org/2000/svg">` +
    `<title>${esc(o.title)}</title>` +
    `<text x="2" y="16" class="ttl">${esc(o.title)}</text><text x="${W}" y="16" class="unit" text-anchor="end">${esc(o.unit)}</text>` +
    parts.join('') +
    lg.svg +
    `</svg>` +
    (o.note || anyCut ? `<p class="note">${esc([o.note, anyCut ? 'Bars far beyond the others are cut at the edge of the axis (white zig-zag; the label gives the value).' : ''].filter(Boolean).join(' '))}</p>` : '')
  );
}

/** One point of a scatter plot. */
export interface Point {
  x: number;
  y: number;
  series: string;
  label: string;
  /** Drawn larger, with its label (e.g. the recommendation). */
  highlight?: boolean;
  /** Drawn hollow (e.g. a candidate that breaks a limit). */
  hollow?: boolean;
}

/** Options of {@link scatterChart}. */
export interface ScatterOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  points: Point[];
  logX?: boolean;
  logY?: boolean;
  note?: string;
}

function axis(values: number[], log: boolean): { lo: number; hi: number; ticks: number[]; f: (v: number) => number } {
  const fin = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = Math.min(...fin);
  let hi = Math.max(...fin);
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo));
    hi = 10 ** Math.ceil(Math.log10(hi));
    if (hi === lo) hi = lo * 10;
    const ticks: number[] = [];
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
    return { lo, hi, ticks, f: (v) => (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) };
  }
  const s = niceScale(hi > 0 ? hi : 1);
  lo = Math.min(0, lo);
  hi = s.max;
  const ticks: number[] = [];
  for (let t = lo; t <= hi + 1e-9; t += s.step) ticks.push(t);
  return { lo, hi, ticks, f: (v) => (v - lo) / (hi - lo || 1) };
}

/** A scatter plot as an SVG string ('' with no finite point). */
export function scatterChart(o: ScatterOptions): string {
  const pts = o.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!o.logX || p.x > 0) && (!o.logY || p.y > 0));
  if (pts.length === 0) return '';
  const W = 760, H = 380, L = 70, R = 20, T = 30, B = 50;
  const ax = axis(pts.map((p) => p.x), !!o.logX);
  const ay = axis(pts.map((p) => p.y), !!o.logY);
  const px = (v: number) => L + ax.f(v) * (W - L - R);
  const py = (v: number) => H - B - ay.f(v) * (H - T - B);
  const parts: string[] = [];
  for (const t of ax.ticks) {
    parts.push(`<line x1="${px(t).toFixed(1)}" y1="${T}" x2="${px(t).toFixed(1)}" y2="${H - B}" class="grid"/>`);
    parts.push(`<text x="${px(t).toFixed(1)}" y="${H - B + 14}" class="tick" text-anchor="middle">${esc(compactNumber(t))}</text>`);
  }
  for (const t of ay.ticks) {
    parts.push(`<line x1="${L}" y1="${py(t).toFixed(1)}" x2="${W - R}" y2="${py(t).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${L - 5}" y="${(py(t) + 4).toFixed(1)}" class="tick" text-anchor="end">${esc(compactNumber(t))}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - B + 32}" class="axl" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text x="14" y="${(T + H - B) / 2}" class="axl" text-anchor="middle" transform="rotate(-90 14 ${(T + H - B) / 2})">${esc(o.yLabel)}</text>`);
  // highlighted points last, on top
  for (const p of [...pts].sort((a, b) => Number(!!a.highlight) - Number(!!b.highlight))) {
    const c = colorOf(o.series, p.series);
    const r = p.highlight ? 7 : 4;
    parts.push(
      `<circle class="pt" cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="${r}" ${p.hollow ? `fill="none" stroke="${c}" stroke-width="1.5"` : `fill="${c}" fill-opacity="0.8"`}` +
        `${p.highlight ? ' stroke="#000" stroke-width="2"' : ''} data-series="${esc(p.series)}" data-x="${p.x}" data-y="${p.y}"><title>${esc(p.label)}</title></circle>`,
    );
    if (p.highlight) parts.push(`<text x="${(px(p.x) + 10).toFixed(1)}" y="${(py(p.y) - 8).toFixed(1)}" class="val">${esc(p.label)}</text>`);
  }
  const used = o.series.filter((s) => pts.some((p) => p.series === s.name));
  const lg = legend(used, L, H + 4, W - L - R);
  return (
    `<svg class="chart" viewBox="0 0 ${W} ${H + lg.height + 6}" width="100%" role="img" aria-label="${esc(o.title)}" xmlns="http://www.w3.org/2000/svg">` +
    `<title>${esc(o.title)}</title><text x="0" y="16" class="ttl">${esc(o.title)}</text>` +
    parts.join('') +
    lg.svg +
    `</svg>` +
    (o.note ? `<p class="note">${esc(o.note)}</p>` : '')
  );
}

/** The CSS the charts use (put once in the page's <style>). */
export const CHART_CSS = `
svg.chart{display:block;max-width:60em;margin:1em 0;font:11px system-ui,sans-serif}
svg.chart .ttl{font-size:13px;font-weight:600;fill:#222}
svg.chart .unit,svg.chart .tick,svg.chart .axl{fill:#555}
svg.chart .cat{fill:#222}
svg.chart .val{fill:#333;font-size:10px}
svg.chart .lg{fill:#222}
svg.chart .grid{stroke:#e3e3e3;stroke-width:1}
`;
