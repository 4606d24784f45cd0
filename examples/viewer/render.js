// @ts-check
/**
 * The viewer's pixel rules, plain ES module with no imports: used by the page (viewer.js) and by
 * the e2e test in Node to compute the pixels it expects.
 *  - intensity images (uint8, uint16, float, ...): a contrast window [lo, hi] maps to 0..255;
 *  - labels (uint32, uint64, ...): a stable colour per label id, hashed from the id's two 32-bit
 *    halves (the same id gets the same colour in every slice, view and session); 0 is background
 *    (transparent);
 *  - overlay: labels blended over the image with alpha `a` (0..256 as an integer fraction of 256).
 */

/**
 * Grey level 0..255 of `v` in the contrast window [lo, hi].
 * @param {number} v @param {number} lo @param {number} hi
 */
export function contrast(v, lo, hi) {
  if (!(hi > lo)) return v >= hi ? 255 : 0;
  const t = (v - lo) / (hi - lo);
  return t <= 0 ? 0 : t >= 1 ? 255 : Math.round(t * 255);
}

/**
 * The colour of a label given as its two little-endian 32-bit halves: r, g, b each in 64..255
 * (never black, so a label stands out on dark images). A murmur3-style finalizer mixes both halves.
 * @param {number} lo @param {number} hi
 * @returns {[number, number, number]}
 */
export function labelColor(lo, hi) {
  let h = Math.imul((lo ^ 0x9e3779b9) >>> 0, 0x85ebca6b);
  h ^= Math.imul(hi >>> 0, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x27d4eb2d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x165667b1);
  h ^= h >>> 13;
  return [64 + ((h & 0xff) % 192), 64 + (((h >>> 8) & 0xff) % 192), 64 + (((h >>> 16) & 0xff) % 192)];
}

/**
 * `base` blended with `color` at alpha `a256` (0..256).
 * @param {number} base @param {number} color @param {number} a256
 */
export function blend(base, color, a256) {
  return (base * (256 - a256) + color * a256 + 128) >> 8;
}

/** Whether a dtype holds labels (drawn with hashed colours) rather than intensities. */
export function isLabelType(/** @type {string} */ dtype) {
  return dtype === 'uint32' || dtype === 'uint64' || dtype === 'int64';
}

/**
 * A contrast window for intensities: uint8 the full range; others the 0.5 and 99.5 percentiles
 * of `data` (finite values), widened to at least 1 unit for integers.
 * @param {string} dtype @param {ArrayLike<number>} data
 * @returns {[number, number]}
 */
export function autoWindow(dtype, data) {
  if (dtype === 'uint8') return [0, 255];
  const vals = [];
  const step = Math.max(1, Math.floor(data.length / 65536));
  for (let i = 0; i < data.length; i += step) if (Number.isFinite(data[i])) vals.push(Number(data[i]));
  if (vals.length === 0) return [0, 1];
  vals.sort((a, b) => a - b);
  let lo = vals[Math.floor(vals.length * 0.005)], hi = vals[Math.min(vals.length - 1, Math.floor(vals.length * 0.995))];
  if (!dtype.startsWith('float') && hi - lo < 1) hi = lo + 1;
  if (hi === lo) hi = lo + 1e-6;
  return [lo, hi];
}

/**
 * Paints an h x w plane (C order, row y then column x) into `rgba`: the image through `window`
 * (or black without one), then labels blended at `alpha256` (labels alone: opaque colours).
 * `labels` are 32-bit words: one per pixel (`labelWords` 1) or two, little-endian (`labelWords` 2).
 * @param {Uint8ClampedArray} rgba length 4*h*w
 * @param {ArrayLike<number> | null} image
 * @param {[number, number]} window
 * @param {Uint32Array | null} labels
 * @param {1 | 2} labelWords
 * @param {number} alpha256
 */
export function paint(rgba, image, window, labels, labelWords, alpha256) {
  const n = rgba.length >> 2;
  const [lo, hi] = window;
  const a = image ? alpha256 : 256;
  // uint8 images: a lookup table instead of the window arithmetic per pixel
  const lut = image instanceof Uint8Array ? Uint8Array.from({ length: 256 }, (_, v) => contrast(v, lo, hi)) : undefined;
  /** @type {Map<number, [number, number, number]>} */
  const cache = new Map();
  // labels come in runs: the last label's colour is kept at hand
  let p0 = 0, p1 = 0;
  /** @type {[number, number, number]} */
  let pc = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const g = image ? (lut ? /** @type {number} */ (lut[/** @type {number} */ (image[i])]) : contrast(/** @type {number} */ (image[i]), lo, hi)) : 0;
    let r = g, gg = g, b = g;
    if (labels) {
      const l0 = /** @type {number} */ (labels[i * labelWords]);
      const l1 = labelWords === 2 ? /** @type {number} */ (labels[i * 2 + 1]) : 0;
      if (l0 !== 0 || l1 !== 0) {
        if (l0 !== p0 || l1 !== p1 || (p0 === 0 && p1 === 0)) {
          const key = l1 * 4294967296 + l0;
          let c = cache.get(key);
          if (!c) cache.set(key, (c = labelColor(l0, l1)));
          pc = c;
          p0 = l0;
          p1 = l1;
        }
        r = blend(g, pc[0], a);
        gg = blend(g, pc[1], a);
        b = blend(g, pc[2], a);
      }
    }
    rgba[i * 4] = r;
    rgba[i * 4 + 1] = gg;
    rgba[i * 4 + 2] = b;
    rgba[i * 4 + 3] = 255;
  }
}
