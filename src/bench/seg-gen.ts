import { mulberry32 } from '../testing/prng.js';

/**
 * A deterministic synthetic uint64 segmentation, C order over [x, y, z] (x slowest: the order of
 * a precomputed [x, y, z, 1] NdArray, channel dropped): a Voronoi tessellation of `cells` seed
 * points (one per 24^3 voxels: about 9,700 at 512^3) seen through a smooth separable warp, so cell
 * boundaries are curved sheets rather than planes; about 5% of the cells are background (id 0);
 * ids are large sparse 50-bit numbers. Fine structure: small spheres ("vesicles", radius 1.5 to
 * 4 voxels) with their own ids sprinkled inside the cells.
 *
 * Fast: the nearest seed is searched once per coarse voxel (4^3 fine voxels) through a bucket
 * grid, and each coarse voxel keeps those labels of its 3^3 neighbourhood that can be nearest
 * somewhere inside it; a fine voxel whose coarse voxel has one candidate takes it directly, the
 * others pick the nearest candidate at their warped position (smooth boundaries at full
 * resolution). 512^3 takes 5-15 s on the shared 2-core machine (most of it the 1 GB fill).
 * The same (shape, seed) always gives the same labels.
 */
export interface Segmentation {
  /** Little-endian uint64 ids, C order over [x, y, z]. */
  labels: BigUint64Array;
  shape: [number, number, number];
  /** Distinct ids (0 included when present; a sphere hidden by later ones may be counted). */
  distinct: number;
}

const F = 4; // coarse factor
const AMP = 3; // warp amplitude: voxels per wave (2 waves per table, 2 tables per component)

export function generateSegmentation(shape: readonly [number, number, number], seed = 1): Segmentation {
  const [X, Y, Z] = shape;
  const rand = mulberry32(seed ^ 0x5e6);
  const vol = X * Y * Z;
  const nCells = Math.max(4, Math.round(vol / 24 ** 3));

  // seeds and their ids (two uint32 halves: hi < 2^18 so ids are < 2^50, never 0 unless background)
  const sx = new Float64Array(nCells), sy = new Float64Array(nCells), sz = new Float64Array(nCells);
  const idLo = new Uint32Array(nCells + 1), idHi = new Uint32Array(nCells + 1); // slot nCells: unused
  for (let i = 0; i < nCells; i++) {
    sx[i] = rand() * X;
    sy[i] = rand() * Y;
    sz[i] = rand() * Z;
    if (rand() < 0.05) continue; // background cell: id 0
    idLo[i] = (rand() * 2 ** 32) >>> 0;
    idHi[i] = 1 + ((rand() * (2 ** 18 - 1)) >>> 0);
  }

  // bucket grid over the seeds
  const B = Math.max(8, Math.round(Math.cbrt(vol / nCells))); // ~1 seed per bucket
  const gx = Math.ceil(X / B), gy = Math.ceil(Y / B), gz = Math.ceil(Z / B);
  const bucketStart = new Int32Array(gx * gy * gz + 1);
  const bucketOf = (i: number) =>
    (Math.min(gx - 1, (sx[i]! / B) | 0) * gy + Math.min(gy - 1, (sy[i]! / B) | 0)) * gz + Math.min(gz - 1, (sz[i]! / B) | 0);
  for (let i = 0; i < nCells; i++) bucketStart[bucketOf(i) + 1]!++;
  for (let b = 0; b < gx * gy * gz; b++) bucketStart[b + 1]! += bucketStart[b]!;
  const fill = bucketStart.slice(0, -1);
  const bucketSeeds = new Int32Array(nCells);
  for (let i = 0; i < nCells; i++) bucketSeeds[fill[bucketOf(i)]!++] = i;

  /** Nearest seed to (px, py, pz) by searching buckets in growing boxes. */
  const nearest = (px: number, py: number, pz: number): number => {
    const bx = Math.min(gx - 1, Math.max(0, Math.floor(px / B)));
    const by = Math.min(gy - 1, Math.max(0, Math.floor(py / B)));
    const bz = Math.min(gz - 1, Math.max(0, Math.floor(pz / B)));
    let best = -1, bestD = Infinity;
    for (let r = 1; ; r++) {
      const i0 = Math.max(0, bx - r), i1 = Math.min(gx - 1, bx + r);
      const j0 = Math.max(0, by - r), j1 = Math.min(gy - 1, by + r);
      const k0 = Math.max(0, bz - r), k1 = Math.min(gz - 1, bz + r);
      for (let i = i0; i <= i1; i++) {
        for (let j = j0; j <= j1; j++) {
          for (let k = k0; k <= k1; k++) {
            const b = (i * gy + j) * gz + k;
            for (let s = bucketStart[b]!; s < bucketStart[b + 1]!; s++) {
              const c = bucketSeeds[s]!;
              const dx = sx[c]! - px, dy = sy[c]! - py, dz = sz[c]! - pz;
              const d = dx * dx + dy * dy + dz * dz;
              if (d < bestD) { bestD = d; best = c; }
            }
          }
        }
      }
      // distance from p to the nearest face of the searched box that has unsearched buckets beyond
      let margin = Infinity;
      if (i0 > 0) margin = Math.min(margin, px - i0 * B);
      if (i1 < gx - 1) margin = Math.min(margin, (i1 + 1) * B - px);
      if (j0 > 0) margin = Math.min(margin, py - j0 * B);
      if (j1 < gy - 1) margin = Math.min(margin, (j1 + 1) * B - py);
      if (k0 > 0) margin = Math.min(margin, pz - k0 * B);
      if (k1 < gz - 1) margin = Math.min(margin, (k1 + 1) * B - pz);
      if (best >= 0 && bestD <= margin * margin) return best;
      if (margin === Infinity) return best;
    }
  };

  // coarse labels (nearest seed of each coarse voxel centre)
  // M coarse voxels of margin on each side: more than the largest warp displacement, so a warped
  // position always falls on a coarse voxel with a full neighbourhood (no clamping per voxel)
  const M = Math.ceil((4 * 1.5 * AMP) / F) + 2;
  const cx = Math.ceil(X / F) + 2 * M, cy = Math.ceil(Y / F) + 2 * M, cz = Math.ceil(Z / F) + 2 * M;
  const coarse = new Int32Array(cx * cy * cz);
  for (let i = 0; i < cx; i++) for (let j = 0; j < cy; j++) for (let k = 0; k < cz; k++) {
    coarse[(i * cy + j) * cz + k] = nearest((i - M + 0.5) * F, (j - M + 0.5) * F, (k - M + 0.5) * F);
  }
  // candidates per coarse voxel: the distinct labels of its 3^3 neighbourhood (up to 8 kept)
  const MAXC = 8;
  const DIAG = F * Math.sqrt(3) + 1e-9;
  const dist = new Float64Array(MAXC);
  const nCand = new Uint8Array(cx * cy * cz);
  const cand = new Int32Array(cx * cy * cz * MAXC);
  for (let i = 1; i < cx - 1; i++) for (let j = 1; j < cy - 1; j++) for (let k = 1; k < cz - 1; k++) {
    const c = (i * cy + j) * cz + k;
    let n = 0;
    for (let di = -1; di <= 1; di++) for (let dj = -1; dj <= 1; dj++) for (let dk = -1; dk <= 1; dk++) {
      const l = coarse[((i + di) * cy + (j + dj)) * cz + (k + dk)]!;
      let seen = false;
      for (let q = 0; q < n; q++) if (cand[c * MAXC + q] === l) { seen = true; break; }
      if (!seen && n < MAXC) cand[c * MAXC + n++] = l;
    }
    // keep only seeds that can be the nearest somewhere in this coarse cube: d(centre, s) <=
    // d(centre, nearest) + the cube's diagonal (most interior cubes end up with one candidate)
    const px = (i - M + 0.5) * F, py = (j - M + 0.5) * F, pz = (k - M + 0.5) * F;
    let bestD = Infinity;
    for (let q = 0; q < n; q++) {
      const t = cand[c * MAXC + q]!;
      dist[q] = Math.hypot(sx[t]! - px, sy[t]! - py, sz[t]! - pz);
      if (dist[q]! < bestD) bestD = dist[q]!;
    }
    let m = 0;
    for (let q = 0; q < n; q++) if (dist[q]! <= bestD + DIAG) cand[c * MAXC + m++] = cand[c * MAXC + q]!;
    nCand[c] = m;
  }

  // smooth separable warp: each displacement component is a sum of 1-D waves in the other axes
  const waves = (n: number, count: number): Float64Array => {
    const t = new Float64Array(n);
    for (let w = 0; w < count; w++) {
      const period = 24 + rand() * 80, phase = rand() * 2 * Math.PI, a = AMP * (0.5 + rand());
      for (let i = 0; i < n; i++) t[i]! += a * Math.sin((2 * Math.PI * i) / period + phase);
    }
    return t;
  };
  const dxY = waves(Y, 2), dxZ = waves(Z, 2), dyX = waves(X, 2), dyZ = waves(Z, 2), dzX = waves(X, 2), dzY = waves(Y, 2);

  const MF = M * F, INV_F = 1 / F;
  const out = new BigUint64Array(vol);
  const used = new Uint8Array(nCells);
  const u32 = new Uint32Array(out.buffer);
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      const px0 = x + dxY[y]!, py0 = y + dyX[x]!, pzXY = dzX[x]! + dzY[y]!;
      let o = ((x * Y + y) * Z) * 2;
      for (let z = 0; z < Z; z++, o += 2) {
        const px = px0 + dxZ[z]!, py = py0 + dyZ[z]!, pz = z + pzXY;
        const c = ((((px + MF) * INV_F) | 0) * cy + (((py + MF) * INV_F) | 0)) * cz + (((pz + MF) * INV_F) | 0);
        const n = nCand[c]!;
        let best = cand[c * MAXC]!;
        if (n > 1) {
          let dx = sx[best]! - px, dy = sy[best]! - py, dz = sz[best]! - pz;
          let bestD = dx * dx + dy * dy + dz * dz;
          for (let q = 1; q < n; q++) {
            const s = cand[c * MAXC + q]!;
            dx = sx[s]! - px; dy = sy[s]! - py; dz = sz[s]! - pz;
            const d = dx * dx + dy * dy + dz * dz;
            if (d < bestD) { bestD = d; best = s; }
          }
        }
        u32[o] = idLo[best]!;
        u32[o + 1] = idHi[best]!;
        used[best] = 1;
      }
    }
  }

  // fine structure: small spheres with their own ids
  const nBlobs = Math.round(vol / 20 ** 3 / 4);
  let blobIds = 0;
  for (let b = 0; b < nBlobs; b++) {
    const bx = rand() * X, by = rand() * Y, bz = rand() * Z, r = 1.5 + rand() * 2.5;
    const lo = (rand() * 2 ** 32) >>> 0, hi = 1 + ((rand() * (2 ** 18 - 1)) >>> 0);
    const r2 = r * r;
    let wrote = false;
    for (let x = Math.max(0, Math.floor(bx - r)); x < Math.min(X, Math.ceil(bx + r + 1)); x++) {
      for (let y = Math.max(0, Math.floor(by - r)); y < Math.min(Y, Math.ceil(by + r + 1)); y++) {
        for (let z = Math.max(0, Math.floor(bz - r)); z < Math.min(Z, Math.ceil(bz + r + 1)); z++) {
          if ((x - bx) ** 2 + (y - by) ** 2 + (z - bz) ** 2 > r2) continue;
          const o = ((x * Y + y) * Z + z) * 2;
          u32[o] = lo;
          u32[o + 1] = hi;
          wrote = true;
        }
      }
    }
    if (wrote) blobIds++;
  }

  // ids present: the cells that own a voxel after the warp, plus the spheres (a sphere entirely
  // covered by a later one would be overcounted: rare)
  let distinct = blobIds;
  let background = 0;
  for (let i = 0; i < nCells; i++) {
    if (!used[i]) continue;
    if (idHi[i] === 0) background = 1;
    else distinct++;
  }
  distinct += background;
  return { labels: out, shape: [X, Y, Z], distinct };
}
