/**
 * The bench report page in a real browser: Debian's Chromium (playwright-core) opens the
 * `index.html` that `volstore bench` wrote (the engine on the GCS emulator with zarrita as a
 * peer: throughput, latency and cost charts) and the one `volstore tune` wrote (the sweep), from
 * file://, and finds charts that rendered with data (SVG bars / points with positive values and
 * a real size on screen), tables, no console error, no request beyond the page itself, and no
 * horizontal overflow at laptop (1280 px) and narrow (800 px) widths.
 *
 * Skipped (with a message) when /usr/bin/chromium is missing; .ci/run installs it.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`bench-report.test.ts: skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

let dir: string;
let browser: Browser | undefined;

const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'volstore-bench-report-'));
  const bench = await main([
    'bench', '--shape', '64,64,64', '--chunk-shape', '16,16,16', '--shard-shape', 'none', '--shard-shape', '64,64,64', '--codec', 'zstd',
    '--access', 'xy,block:16', '--latency-ms', '2', '--compare', 'zarrita', '--max-accesses', '8', '--out', path.join(dir, 'bench'), '--quiet',
  ], quiet);
  expect(bench).toBe(0);
  const tune = await main(['tune', '--shape', '256,256,256', '--mix', 'xy:0.5,block:32:0.5', '--codecs', 'raw,zstd', '--sample', '32', '--measure', '2', '--out', path.join(dir, 'tune'), '--quiet'], quiet);
  expect(tune).toBe(0);
  if (HAVE_CHROMIUM) {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }
});

afterAll(async () => {
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

interface PageFacts {
  errors: string[];
  requests: string[];
  charts: number;
  bars: { series: string; value: number; width: number }[];
  points: number;
  tables: number;
  overflow: { scrollWidth: number; innerWidth: number };
  titles: string[];
}

async function inspect(file: string, width: number): Promise<PageFacts> {
  const page = await browser!.newPage({ viewport: { width, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`file://${file}`);
  const facts = await page.evaluate(() => ({
    charts: document.querySelectorAll('svg.chart').length,
    bars: Array.from(document.querySelectorAll('svg.chart rect.bar')).map((r) => ({
      series: r.getAttribute('data-series') ?? '',
      value: Number(r.getAttribute('data-value')),
      width: r.getBoundingClientRect().width,
    })),
    points: document.querySelectorAll('svg.chart circle.pt').length,
    tables: document.querySelectorAll('table').length,
    overflow: { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth },
    titles: Array.from(document.querySelectorAll('svg.chart > title')).map((t) => t.textContent ?? ''),
  }));
  await page.close();
  return { errors, requests, ...facts };
}

describe.skipIf(!HAVE_CHROMIUM)('bench report in Chromium', () => {
  it('bench: throughput, latency and cost charts with data, tables, no errors, no network, no overflow', async () => {
    for (const width of [1280, 800]) {
      const f = await inspect(path.join(dir, 'bench', 'index.html'), width);
      expect(f.errors).toEqual([]);
      expect(f.requests.every((u) => u.startsWith('file://'))).toBe(true);
      expect(f.requests).toHaveLength(1); // the page itself: nothing else loads
      // write full, read xy, read block:16 throughput; latency; read cost; write + storage cost
      expect(f.charts).toBe(6);
      expect(f.titles).toEqual(expect.arrayContaining([
        expect.stringMatching(/read xy, throughput/),
        expect.stringMatching(/latency per access/),
        expect.stringMatching(/cost to read 1 TB/),
        expect.stringMatching(/cost to write and store 1 TB/),
      ]));
      const series = new Set(f.bars.map((b) => b.series));
      for (const s of ['volstore', 'zarrita', 'I/O only (ceiling)', 'volstore p95', 'zarrita p95', 'operations', 'egress', 'per TB written (operations)']) expect(series).toContain(s);
      expect(f.bars.every((b) => Number.isFinite(b.value) && b.value >= 0)).toBe(true);
      expect(f.bars.filter((b) => b.value > 0 && b.width > 0.4).length).toBeGreaterThan(f.bars.length * 0.9); // drawn, not collapsed
      expect(f.tables).toBeGreaterThanOrEqual(5);
      expect(f.overflow.scrollWidth).toBeLessThanOrEqual(f.overflow.innerWidth);
    }
  });

  it('tune: the sweep scatter and the model check chart', async () => {
    const f = await inspect(path.join(dir, 'tune', 'index.html'), 1280);
    expect(f.errors).toEqual([]);
    expect(f.requests).toHaveLength(1);
    expect(f.titles.some((t) => /tune sweep: \d+ candidates/.test(t))).toBe(true);
    expect(f.points).toBeGreaterThan(10);
    expect(f.titles).toContain('model vs measurement on the sample');
    expect(f.bars.filter((b) => b.series === 'measured' && b.value > 0)).toHaveLength(2);
    expect(f.overflow.scrollWidth).toBeLessThanOrEqual(f.overflow.innerWidth);
  });
});
