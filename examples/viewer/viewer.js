// @ts-check
/**
 * volstore slice viewer: XY, XZ and YZ slices of an image volume with a segmentation overlay,
 * read in the browser with volstore's public API only (`import ... from 'volstore'`).
 *
 * - Layers: an image (uint8/uint16/float: contrast window) and/or labels (uint32/uint64: a
 *   stable hashed colour per id, blended over the image). Each layer may have several levels,
 *   finest first; the XY view reads the coarsest level no finer than the screen (zoomed out 2x:
 *   a 2x-downsampled level, or the finest one read with a stride).
 * - Z scrolling (wheel, arrow keys, j/k, PageUp/PageDown) reads XY slices through
 *   `vol.withPrefetch({ policy: 'neighbors', axis: 'z' })`: while the slice on screen is
 *   shown, the chunks next to it along z load into the shared cache, so the next slice is a hit.
 * - Pan (drag) and zoom (ctrl+wheel or +/-) on the XY view; XZ and YZ show the same x / y range
 *   at the cursor lines, 128 slices of z around the current one.
 * - Live counters: storage requests and bytes (a `CountingStore` around every store), cache
 *   hit rate, prefetch hits, slice latency (last, p50, p95), codec worker tasks, longest
 *   main-thread task (`PerformanceObserver` 'longtask').
 * - `window.viewer`: the same operations as a small API (load, goto, zoom, readRegion, stats,
 *   bench, ...), used by the e2e test and handy from the devtools console.
 *
 * Query parameters: `image` (URL or JSON spec; levels separated by ` ` or `;`), `seg` (same),
 * `endpoint` (a GCS JSON API or S3 endpoint for gs:// and s3:// URLs, e.g. the emulator),
 * `window=lo,hi` (contrast), `alpha` (overlay 0..1), `z`.
 */
import { Context, CountingStore, open } from 'volstore';
import { autoWindow, isLabelType, paint } from './render.js';

/** @typedef {import('volstore').Volume} Volume */
/** @typedef {{ vol: Volume, view: Volume, scroll: Volume, shape: number[], factor: number[] }} Level */
/** @typedef {{ kind: 'image' | 'labels', dtype: string, levels: Level[] }} Layer */

const XY_SIZE = 384; // XY canvas, pixels
const SIDE_DEPTH = 128; // z slices shown by XZ / YZ

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** Viewer state. */
const S = {
  /** @type {Context | undefined} */ context: undefined,
  counts: { objectsRead: 0, bytesRead: 0, readsEmpty: 0, objectsWritten: 0, bytesWritten: 0, writesRefused: 0, deletes: 0, lists: 0, requests: 0, retries: 0 },
  /** @type {Layer | undefined} */ image: undefined,
  /** @type {Layer | undefined} */ labels: undefined,
  /** full-resolution [z, y, x] extent */ shape: [0, 0, 0],
  z: 0, cx: 0, cy: 0, zoom: 1,
  /** @type {[number, number]} */ window: [0, 255],
  windowFixed: false,
  alpha: 0.4,
  /** XY slice latencies, ms */ latencies: /** @type {number[]} */ ([]),
  longestTask: 0,
  longTasks: 0,
  /** @type {number[]} */ benchMarks: [],
  /** @type {[number, number][]} long tasks: start, duration (ms) */ taskLog: [],
  /** longest gap between timer callbacks while the gap monitor runs (ms) */ longestGap: 0,
  /** @type {ReturnType<typeof setTimeout> | undefined} */ gapTimer: undefined,
  /** @type {Promise<unknown> | undefined} */ rendering: undefined,
  pending: false,
  renders: 0,
  /** @type {{ key: string, img?: HTMLCanvasElement }} */ xz: { key: '' },
  /** @type {{ key: string, img?: HTMLCanvasElement }} */ yz: { key: '' },
  /** the last configuration loaded (the benchmark reloads it) @type {any} */ lastConfig: undefined,
};

// --------------------------------------------------------------------------------------------
// Opening

/**
 * A spec for `open()` from what the user typed: JSON (a TensorStore spec), or a URL
 * (`gs://bucket/path/|zarr3:`, `s3://...`, `https://host/path/|neuroglancer-precomputed:`; no
 * driver: detected). `gs://` and `s3://` URLs get `endpoint` (an emulator, a private endpoint)
 * when one is given. Anything else is passed to `open()` as it is.
 * @param {string} text @param {string} endpoint
 * @returns {string | Record<string, unknown>}
 */
export function specOf(text, endpoint) {
  const t = text.trim();
  if (t.startsWith('{')) return JSON.parse(t);
  const [url = '', driverPart] = t.split('|');
  const aliases = /** @type {Record<string, string>} */ ({ zarr2: 'zarr', zarr: 'zarr', zarr3: 'zarr3', n5: 'n5', 'neuroglancer-precomputed': 'neuroglancer_precomputed', neuroglancer_precomputed: 'neuroglancer_precomputed' });
  const dm = driverPart === undefined ? undefined : /^([a-z0-9_-]+):$/.exec(driverPart);
  if (driverPart !== undefined && !dm) return t;
  const driver = dm ? { driver: aliases[dm[1] ?? ''] ?? dm[1] } : {};
  const cloud = /^(gs|s3):\/\/([^/]+)\/?(.*)$/.exec(url);
  if (cloud) {
    const kvstore = { driver: cloud[1] === 'gs' ? 'gcs' : 's3', bucket: cloud[2], path: decodeURIComponent(cloud[3] ?? ''), ...(endpoint ? { endpoint } : {}) };
    return { ...driver, kvstore };
  }
  if (/^https?:\/\//.test(url)) return { ...driver, kvstore: { driver: 'http', base_url: url } };
  return t;
}

/**
 * A [z, y, x] view of a volume: labelled dimensions are put in z, y, x order (a precomputed
 * [x, y, z, channel] volume: channel 0, transposed); unlabelled ones are taken as C order
 * [..., z, y, x] (leading dimensions at their first index).
 * @param {Volume} vol
 */
function zyxView(vol) {
  const labels = vol.domain.labels;
  if (['x', 'y', 'z'].every((l) => labels.includes(l))) {
    /** @type {Record<string, number>} */
    const fixed = {};
    for (let d = 0; d < vol.rank; d++) if (!['x', 'y', 'z'].includes(labels[d] ?? '')) fixed[labels[d] || String(d)] = vol.domain.inclusiveMin[d] ?? 0;
    let v = vol;
    if (Object.keys(fixed).length) v = v.slice(Object.fromEntries(Object.entries(fixed)));
    return v.transpose(['z', 'y', 'x']);
  }
  if (vol.rank < 3) throw new Error(`a ${vol.rank}-d volume cannot be shown as z, y, x slices`);
  const lead = vol.rank - 3;
  let v = lead ? vol.slice(vol.domain.inclusiveMin.map((m, d) => (d < lead ? m : null))) : vol;
  return v.label(['z', 'y', 'x']);
}

/**
 * Opens the levels of a layer (finest first).
 * @param {(string | Record<string, unknown>)[]} specs
 * @returns {Promise<Layer>}
 */
async function openLayer(specs) {
  const context = /** @type {Context} */ (S.context);
  const wrapKvStore = (/** @type {import('volstore').KvStore} */ s) => new CountingStore(s, S.counts);
  /** @type {Level[]} */
  const levels = [];
  for (const given of specs) {
    // Volumes a viewer shows do not change while it is open: cached chunks are used without
    // revalidation (TensorStore's recheck_cached_data "open"), unless the spec says otherwise.
    const spec = typeof given === 'string' ? specOf(given, '') : given;
    const vol = await open(typeof spec === 'string' ? spec : { recheck_cached_data: 'open', ...spec }, { context, wrapKvStore });
    const view = zyxView(vol);
    const shape = view.shape;
    levels.push({ vol, view, scroll: view.withPrefetch({ policy: 'neighbors', axis: 'z', depth: 1 }), shape, factor: [1, 1, 1] });
  }
  const base = /** @type {Level} */ (levels[0]).shape;
  for (const l of levels) l.factor = base.map((n, d) => Math.max(1, Math.round(n / (l.shape[d] ?? 1))));
  const dtype = /** @type {Level} */ (levels[0]).vol.dtype;
  return { kind: isLabelType(dtype) ? 'labels' : 'image', dtype, levels };
}

/**
 * Opens an image and/or a segmentation, and shows the middle slice.
 * @param {{ image?: (string | Record<string, unknown>)[], seg?: (string | Record<string, unknown>)[], window?: [number, number], alpha?: number, z?: number, cacheBytes?: number }} cfg
 */
export async function load(cfg) {
  S.context = new Context({ cache_pool: { total_bytes_limit: cfg.cacheBytes ?? 512 * 1024 * 1024 } });
  S.counts = { objectsRead: 0, bytesRead: 0, readsEmpty: 0, objectsWritten: 0, bytesWritten: 0, writesRefused: 0, deletes: 0, lists: 0, requests: 0, retries: 0 };
  S.latencies = [];
  S.xz = { key: '' };
  S.yz = { key: '' };
  const layers = [];
  for (const specs of [cfg.image, cfg.seg]) if (specs?.length) layers.push(await openLayer(specs));
  S.image = layers.find((l) => l.kind === 'image');
  S.labels = layers.find((l) => l.kind === 'labels');
  const first = S.image ?? S.labels;
  if (!first) throw new Error('nothing to show: give an image or a segmentation');
  S.shape = /** @type {Level} */ (first.levels[0]).shape;
  S.cy = S.shape[1] / 2;
  S.cx = S.shape[2] / 2;
  S.zoom = Math.min(XY_SIZE / S.shape[1], XY_SIZE / S.shape[2], 1) >= 1 ? 1 : Math.min(XY_SIZE / S.shape[1], XY_SIZE / S.shape[2]);
  S.z = Math.min(S.shape[0] - 1, Math.max(0, cfg.z ?? Math.floor(S.shape[0] / 2)));
  S.windowFixed = !!cfg.window;
  if (cfg.window) S.window = cfg.window;
  if (cfg.alpha !== undefined) S.alpha = cfg.alpha;
  S.renders = 0;
  if (S.image && !cfg.window) {
    // automatic contrast from the first XY slice (uint8: the full range, nothing to read)
    const { box, f } = xyBox();
    const a = S.image.dtype === 'uint8' ? undefined : await readPlane(S.image, box, f, false);
    S.window = autoWindow(S.image.dtype, a ? /** @type {ArrayLike<number>} */ (/** @type {unknown} */ (a.data)) : []);
  }
  await render();
  return summary();
}

function summary() {
  /** @param {Layer | undefined} l */
  const d = (l) => l && { kind: l.kind, dtype: l.dtype, levels: l.levels.map((v) => ({ shape: v.shape, factor: v.factor, codec: JSON.parse(JSON.stringify(v.vol.codec)) })) };
  return { shape: S.shape, image: d(S.image), labels: d(S.labels), z: S.z };
}

// --------------------------------------------------------------------------------------------
// Reading planes

/** The level of `layer` for screen factor `f` (full-res voxels per level voxel), and the stride left to apply. */
function levelFor(/** @type {Layer} */ layer, /** @type {number} */ f) {
  let best = /** @type {Level} */ (layer.levels[0]);
  for (const l of layer.levels) if (l.factor[1] === l.factor[2] && (l.factor[1] ?? 1) <= f && (l.factor[1] ?? 1) > (best.factor[1] ?? 1) && f % (l.factor[1] ?? 1) === 0) best = l;
  return { level: best, stride: f / (best.factor[1] ?? 1) };
}

/**
 * Reads a plane of `layer` covering full-resolution box `box` ([z0, z1), [y0, y1), [x0, x1);
 * one of them one voxel thick) at screen factor `f` (y and x only).
 * @param {Layer} layer @param {number[][]} box @param {number} f @param {boolean} scroll use the prefetching handle
 * @returns {Promise<import('volstore').NdArray>}
 */
async function readPlane(layer, box, f, scroll) {
  const { level, stride } = levelFor(layer, f);
  const lf = level.factor;
  /** @type {Record<string, number | [number, number]>} */
  const sel = {};
  ['z', 'y', 'x'].forEach((name, d) => {
    const [a, b] = /** @type {[number, number]} */ (box[d]);
    const fa = Math.floor(a / (lf[d] ?? 1));
    const fb = Math.min(level.shape[d] ?? 0, Math.max(fa + 1, Math.ceil(b / (lf[d] ?? 1))));
    sel[name] = b - a === 1 && d === 0 ? fa : [fa, fb];
  });
  let v = (scroll ? level.scroll : level.view).slice(sel);
  if (stride > 1) v = v.stride({ y: stride, x: stride });
  return v.read();
}

/** 32-bit words of a label array (1 or 2 per element). */
function labelWords(/** @type {import('volstore').NdArray} */ a) {
  const d = /** @type {ArrayBufferView & { length: number }} */ (a.data);
  const words = a.dtype === 'uint64' || a.dtype === 'int64' ? 2 : 1;
  return { words: /** @type {1 | 2} */ (words), data: new Uint32Array(d.buffer, d.byteOffset, d.length * words) };
}

/**
 * Paints a plane (image and/or labels, each [h, w] C order) into a new canvas of h x w pixels.
 * @param {import('volstore').NdArray | undefined} img @param {import('volstore').NdArray | undefined} lab
 */
function planeCanvas(img, lab) {
  const shape = (img ?? lab)?.shape ?? [0, 0];
  const [h, w] = [shape[0] ?? 0, shape[1] ?? 0];
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
  const id = ctx.createImageData(w, h);
  const sameShape = lab && lab.shape[0] === h && lab.shape[1] === w;
  const lw = lab && sameShape ? labelWords(lab) : undefined;
  paint(id.data, img ? /** @type {ArrayLike<number>} */ (/** @type {unknown} */ (img.data)) : null, S.window, lw?.data ?? null, lw?.words ?? 1, Math.round(S.alpha * 256));
  ctx.putImageData(id, 0, 0);
  return c;
}

// --------------------------------------------------------------------------------------------
// Rendering

/** The full-resolution box the XY view shows, and its screen factor. */
function xyBox() {
  const half = XY_SIZE / (2 * S.zoom);
  const f = Math.max(1, 2 ** Math.floor(Math.log2(1 / S.zoom + 1e-9)));
  const y0 = Math.max(0, Math.floor(S.cy - half)), y1 = Math.min(S.shape[1], Math.ceil(S.cy + half));
  const x0 = Math.max(0, Math.floor(S.cx - half)), x1 = Math.min(S.shape[2], Math.ceil(S.cx + half));
  return { box: [[S.z, S.z + 1], [Math.max(0, Math.min(y0, y1 - 1)), Math.max(1, y1)], [Math.max(0, Math.min(x0, x1 - 1)), Math.max(1, x1)]], f, half };
}

/** Draws `src` (level pixels of box) onto `canvas` for view origin (oy, ox) at `zoom` (screen px per full-res voxel). */
function blit(/** @type {HTMLCanvasElement} */ canvas, /** @type {HTMLCanvasElement} */ src, /** @type {number[][]} */ box, /** @type {number} */ oy, /** @type {number} */ ox, /** @type {number} */ zy, /** @type {number} */ zx) {
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#111';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const [b0, b1] = [/** @type {number[]} */ (box[0]), /** @type {number[]} */ (box[1])];
  ctx.drawImage(src, ((b1[0] ?? 0) - ox) * zx, ((b0[0] ?? 0) - oy) * zy, ((b1[1] ?? 0) - (b1[0] ?? 0)) * zx, ((b0[1] ?? 0) - (b0[0] ?? 0)) * zy);
}

/** The scroll handles' counters, summed (demand reads only: prefetch loads count when a read uses them). */
function scrollCounters() {
  const sum = { hits: 0, misses: 0, prefetchHits: 0 };
  for (const l of [S.image, S.labels].flatMap((x) => x?.levels ?? [])) {
    const s = l.scroll.stats();
    sum.hits += s.hits;
    sum.misses += s.misses;
    sum.prefetchHits += s.prefetchHits;
  }
  return sum;
}

async function renderXY() {
  const t0 = performance.now();
  const { box, f, half } = xyBox();
  const before = scrollCounters();
  const [img, lab] = await Promise.all([
    S.image && readPlane(S.image, box, f, true),
    S.labels && readPlane(S.labels, box, f, true),
  ]);
  const after = scrollCounters();
  // this slice's chunk reads: from the cache, from a prefetch, or fetched now
  const chunks = { hits: after.hits - before.hits, misses: after.misses - before.misses, prefetchHits: after.prefetchHits - before.prefetchHits };
  const c = planeCanvas(img, lab);
  // the plane covers box y/x at factor f: its pixels are f voxels wide
  const canvas = /** @type {HTMLCanvasElement} */ ($('xy'));
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#111';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const [by, bx] = [/** @type {number[]} */ (box[1]), /** @type {number[]} */ (box[2])];
  const oy = S.cy - half, ox = S.cx - half;
  ctx.drawImage(c, ((bx[0] ?? 0) - ox) * S.zoom, ((by[0] ?? 0) - oy) * S.zoom, c.width * f * S.zoom, c.height * f * S.zoom);
  const ms = performance.now() - t0;
  S.latencies.push(ms);
  S.renders++;
  return { ms, z: S.z, chunks, level: S.image ? levelFor(S.image, f).level.factor : [1, 1, 1], f };
}

/** XZ (fixed y = cy) or YZ (fixed x = cx) over the XY view's range, SIDE_DEPTH slices of z around z. */
async function renderSide(/** @type {'xz' | 'yz'} */ which) {
  const { box: xy, f } = xyBox();
  const z0 = Math.max(0, Math.min(S.shape[0] - SIDE_DEPTH, S.z - SIDE_DEPTH / 2));
  const z1 = Math.min(S.shape[0], z0 + SIDE_DEPTH);
  const fixed = which === 'xz' ? Math.floor(S.cy) : Math.floor(S.cx);
  const box = which === 'xz' ? [[z0, z1], [fixed, fixed + 1], xy[2]] : [[z0, z1], xy[1], [fixed, fixed + 1]];
  const key = JSON.stringify([box, f]);
  const st = S[which];
  if (st.key !== key) {
    st.key = key;
    const read = async (/** @type {Layer | undefined} */ l) => {
      if (!l) return undefined;
      const { level, stride } = levelFor(l, f);
      const lf = level.factor;
      /** @type {Record<string, number | [number, number]>} */
      const sel = {};
      ['z', 'y', 'x'].forEach((name, d) => {
        const [a, b] = /** @type {[number, number]} */ (box[d]);
        const fa = Math.floor(a / (lf[d] ?? 1));
        sel[name] = b - a === 1 && d > 0 ? fa : [fa, Math.min(level.shape[d] ?? 0, Math.max(fa + 1, Math.ceil(b / (lf[d] ?? 1))))];
      });
      let v = level.view.slice(sel);
      if (stride > 1) v = v.stride(which === 'xz' ? { x: stride } : { y: stride });
      return v.read();
    };
    const [img, lab] = await Promise.all([read(S.image), read(S.labels)]);
    if (st.key !== key) return; // moved on meanwhile
    st.img = planeCanvas(img, lab);
  }
  const canvas = /** @type {HTMLCanvasElement} */ ($(which));
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#111';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!st.img) return;
  const half = XY_SIZE / (2 * S.zoom);
  const range = which === 'xz' ? /** @type {number[]} */ (box[2]) : /** @type {number[]} */ (box[1]);
  const o = (which === 'xz' ? S.cx : S.cy) - half;
  ctx.drawImage(st.img, ((range[0] ?? 0) - o) * S.zoom, 0, st.img.width * f * S.zoom, z1 - z0);
  ctx.strokeStyle = 'rgba(255, 220, 0, 0.8)';
  ctx.beginPath();
  ctx.moveTo(0, S.z - z0 + 0.5);
  ctx.lineTo(canvas.width, S.z - z0 + 0.5);
  ctx.stroke();
}

/** Renders every view for the current state; concurrent calls coalesce into one more render. */
export function render() {
  if (S.rendering) {
    S.pending = true;
    return S.rendering;
  }
  const run = async () => {
    /** @type {Awaited<ReturnType<typeof renderXY>> | undefined} */
    let r;
    do {
      S.pending = false;
      [r] = await Promise.all([renderXY(), renderSide('xz'), renderSide('yz')]);
      showCounters();
    } while (S.pending);
    return r;
  };
  S.rendering = run().finally(() => (S.rendering = undefined));
  return S.rendering;
}

// --------------------------------------------------------------------------------------------
// Navigation

/** Shows slice `z` (clamped); resolves when it is on screen, with the XY read + paint time. */
export async function goto(/** @type {number} */ z) {
  S.z = Math.max(0, Math.min(S.shape[0] - 1, Math.round(z)));
  $('z').textContent = `z ${S.z} / ${S.shape[0] - 1}`;
  return render();
}

/** Sets zoom (screen pixels per full-resolution voxel) and the view centre. */
export async function view(/** @type {{ zoom?: number, cx?: number, cy?: number }} */ v) {
  if (v.zoom !== undefined) S.zoom = Math.max(1 / 64, Math.min(16, v.zoom));
  if (v.cx !== undefined) S.cx = v.cx;
  if (v.cy !== undefined) S.cy = v.cy;
  return render();
}

function bindInput() {
  const xy = /** @type {HTMLCanvasElement} */ ($('xy'));
  xy.addEventListener('wheel', (e) => {
    e.preventDefault();
    if (e.ctrlKey) void view({ zoom: S.zoom * (e.deltaY < 0 ? 1.25 : 0.8) });
    else void goto(S.z + Math.sign(e.deltaY));
  }, { passive: false });
  let drag = /** @type {{ x: number, y: number, cx: number, cy: number } | undefined} */ (undefined);
  xy.addEventListener('pointerdown', (e) => {
    drag = { x: e.clientX, y: e.clientY, cx: S.cx, cy: S.cy };
    xy.setPointerCapture(e.pointerId);
  });
  xy.addEventListener('pointermove', (e) => {
    if (drag) void view({ cx: drag.cx - (e.clientX - drag.x) / S.zoom, cy: drag.cy - (e.clientY - drag.y) / S.zoom });
  });
  xy.addEventListener('pointerup', () => (drag = undefined));
  window.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement) return;
    const step = { ArrowUp: -1, ArrowDown: 1, k: -1, j: 1, PageUp: -10, PageDown: 10 }[e.key];
    if (step !== undefined) {
      e.preventDefault();
      void goto(S.z + step);
    } else if (e.key === '+' || e.key === '=') void view({ zoom: S.zoom * 1.25 });
    else if (e.key === '-') void view({ zoom: S.zoom * 0.8 });
  });
  $('open').addEventListener('submit', (e) => {
    e.preventDefault();
    void openFromForm();
  });
  $('bench').addEventListener('click', () => void bench());
}

// --------------------------------------------------------------------------------------------
// Counters

const pct = (/** @type {number[]} */ xs, /** @type {number} */ p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return /** @type {number} */ (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
};

/** Live counters: storage, cache, prefetch, latency, workers, main thread. */
export function stats() {
  const c = S.context?.stats();
  const pool = S.context?.codecPool.stats;
  const prefetch = [S.image, S.labels].flatMap((l) => l?.levels ?? []).map((l) => l.scroll.stats());
  return {
    requests: c?.requests ?? 0,
    bytes: S.counts.bytesRead,
    objectsRead: S.counts.objectsRead,
    hits: c?.hits ?? 0,
    misses: c?.misses ?? 0,
    hitRate: c && c.hits + c.misses ? c.hits / (c.hits + c.misses) : 0,
    prefetchHits: c?.prefetchHits ?? 0,
    prefetchActive: prefetch.reduce((a, s) => a + (s.prefetch?.active ?? 0), 0),
    cacheBytes: c?.bytes ?? 0,
    latency: { last: S.latencies.at(-1) ?? NaN, p50: pct(S.latencies, 50), p95: pct(S.latencies, 95), n: S.latencies.length },
    workers: pool ? { ...pool } : undefined,
    longestTask: S.longestTask,
    longTasks: S.longTasks,
    taskLog: S.taskLog,
    longestGap: S.longestGap,
    z: S.z,
    cx: S.cx,
    cy: S.cy,
    zoom: S.zoom,
    window: S.window,
  };
}

function showCounters() {
  const s = stats();
  const mb = (/** @type {number} */ n) => `${(n / 1e6).toFixed(2)} MB`;
  const ms = (/** @type {number} */ n) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '-');
  $('counters').textContent = [
    `requests      ${s.requests}`,
    `bytes         ${mb(s.bytes)}`,
    `cache hits    ${(s.hitRate * 100).toFixed(1)}% (${s.hits} / ${s.hits + s.misses})`,
    `prefetch hits ${s.prefetchHits} (${s.prefetchActive} loading)`,
    `slice latency ${ms(s.latency.last)} (p50 ${ms(s.latency.p50)}, p95 ${ms(s.latency.p95)})`,
    `workers       ${s.workers ? `${s.workers.completed} tasks, ${s.workers.inline} inline` : '-'}`,
    `longest task  ${s.longestTask ? ms(s.longestTask) : 'none over 50 ms'}${s.longestGap ? ` (timer gap ${ms(s.longestGap)})` : ''}`,
    `zoom          ${s.zoom.toFixed(2)}, window [${s.window.map((v) => +v.toPrecision(4)).join(', ')}]`,
  ].join('\n');
}

/** Resolves when no prefetch load is running (or after `timeoutMs`). */
export async function idle(timeoutMs = 10_000) {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (!S.rendering && stats().prefetchActive === 0) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

// --------------------------------------------------------------------------------------------
// Micro-benchmark

/**
 * Slice latency as a user scrolling sees it: a fresh cache (a new Context), then `n` XY slices
 * shown back to back from z0 (each awaited: read, paint, draw; prefetch runs between them).
 * Prints p50/p95 in the page and on the console; restores the viewer's own state.
 */
export async function bench(n = 40, z0 = 0) {
  const cfg = S.lastConfig;
  if (!cfg) throw new Error('open a volume first');
  await load({ ...cfg, z: z0 });
  const lat = [];
  const marks = [];
  for (let i = 1; i <= n && z0 + i < S.shape[0]; i++) {
    marks.push(Math.round(performance.now()));
    lat.push((await goto(z0 + i))?.ms ?? NaN);
  }
  S.benchMarks = marks;
  const r = { n: lat.length, p50: pct(lat, 50), p95: pct(lat, 95), max: Math.max(...lat), mean: lat.reduce((a, b) => a + b, 0) / lat.length };
  const line = `bench: ${r.n} XY slices, cold cache, back to back: p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms (max ${r.max.toFixed(1)} ms)`;
  $('benchout').textContent = line;
  console.log(line);
  return r;
}

// --------------------------------------------------------------------------------------------
// Test hooks

/**
 * Reads a region of the image (`image`, level `level`) or labels, in their own stored
 * coordinates and order, and returns its bytes base64-encoded (for comparison with Node).
 * @param {'image' | 'labels'} which @param {Record<string, number | [number, number]> | (number | [number, number] | null)[]} selection
 */
export async function readRegion(which, selection, level = 0) {
  const layer = which === 'image' ? S.image : S.labels;
  if (!layer) throw new Error(`no ${which} layer`);
  const a = await /** @type {Level} */ (layer.levels[level]).vol.slice(selection).read();
  const d = /** @type {ArrayBufferView} */ (a.data);
  const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { dtype: a.dtype, shape: [...a.shape], base64: btoa(s) };
}

/** RGBA of canvas `id` at [x, y] points. */
export function pixels(/** @type {string} */ id, /** @type {[number, number][]} */ points) {
  const ctx = /** @type {CanvasRenderingContext2D} */ (/** @type {HTMLCanvasElement} */ ($(id)).getContext('2d'));
  return points.map(([x, y]) => [...ctx.getImageData(x, y, 1, 1).data]);
}

// --------------------------------------------------------------------------------------------
// Page

function observeLongTasks() {
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        S.longTasks++;
        S.longestTask = Math.max(S.longestTask, e.duration);
        S.taskLog.push([Math.round(e.startTime), Math.round(e.duration)]);
      }
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    // no longtask entries in this browser: the counter stays at 0
  }
}

/**
 * Resets the main-thread task counters (e.g. after loading, before a measurement) and starts
 * the gap monitor: a timer chain (setTimeout 0, clamped to ~4 ms) whose longest gap between
 * callbacks bounds the longest task below the 50 ms 'longtask' threshold too.
 */
export function resetLongTasks() {
  S.longestTask = 0;
  S.longTasks = 0;
  S.taskLog = [];
  S.longestGap = 0;
  if (S.gapTimer === undefined) {
    let last = performance.now();
    const tick = () => {
      const t = performance.now();
      S.longestGap = Math.max(S.longestGap, t - last);
      last = t;
      S.gapTimer = setTimeout(tick, 0);
    };
    S.gapTimer = setTimeout(tick, 0);
  }
}

async function openFromForm() {
  const get = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ ($(id)).value;
  const endpoint = get('endpoint').trim();
  const levels = (/** @type {string} */ t) => t.split(/[\s;]+/).filter(Boolean).map((u) => specOf(u, endpoint));
  const w = get('window').split(',').map(Number);
  const cfg = {
    image: get('image').trim().startsWith('{') ? [specOf(get('image'), endpoint)] : levels(get('image')),
    seg: get('seg').trim().startsWith('{') ? [specOf(get('seg'), endpoint)] : levels(get('seg')),
    ...(w.length === 2 && w.every(Number.isFinite) ? { window: /** @type {[number, number]} */ ([w[0] ?? 0, w[1] ?? 255]) } : {}),
    alpha: Number(get('alpha') || 0.5),
  };
  $('status').textContent = 'opening...';
  try {
    S.lastConfig = cfg;
    const s = await load(cfg);
    $('status').textContent = `${s.image ? `image ${s.image.dtype} ${s.image.levels.map((l) => `[${l.shape}]`).join(' ')}` : ''} ${s.labels ? `labels ${s.labels.dtype}` : ''}`;
    $('z').textContent = `z ${S.z} / ${S.shape[0] - 1}`;
  } catch (e) {
    $('status').textContent = `error: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    throw e;
  }
}

function init() {
  const q = new URLSearchParams(location.search);
  for (const k of ['image', 'seg', 'endpoint', 'window', 'alpha']) {
    const v = q.get(k);
    if (v !== null) /** @type {HTMLInputElement} */ ($(k)).value = v;
  }
  observeLongTasks();
  bindInput();
  setInterval(() => S.context && showCounters(), 250);
  const api = { load: async (/** @type {Parameters<typeof load>[0]} */ cfg) => ((S.lastConfig = cfg), load(cfg)), goto, view, render, stats, idle, bench, readRegion, pixels, resetLongTasks, specOf, ready: Promise.resolve() };
  /** @type {any} */ (window).viewer = api;
  if (q.get('image') || q.get('seg')) api.ready = openFromForm();
}

init();
