/**
 * Plain TypeScript reference implementations of the wasm kernels, used only by tests and the
 * benchmark (never by src/). Written for clarity, not speed.
 */

/** The original TS strided copy (byte strides, may be negative; byte swap when `swap`). */
export function copyStridedRef(
  dst: Uint8Array, dstOffset: number, dstStrides: readonly number[],
  src: Uint8Array, srcOffset: number, srcStrides: readonly number[],
  shape: readonly number[], elemSize: number, swap = false,
): void {
  const rank = shape.length;
  for (const s of shape) if (s === 0) return;
  const run = (d: number, ds: number, s: number, ss: number, n: number) => {
    if (!swap && ds === elemSize && ss === elemSize) {
      dst.set(src.subarray(s, s + n * elemSize), d);
      return;
    }
    for (let i = 0; i < n; i++, d += ds, s += ss)
      for (let b = 0; b < elemSize; b++) dst[d + b] = src[swap ? s + elemSize - 1 - b : s + b]!;
  };
  if (rank === 0) return run(dstOffset, elemSize, srcOffset, elemSize, 1);
  const inner = rank - 1;
  const idx = new Array<number>(rank).fill(0);
  let d = dstOffset;
  let s = srcOffset;
  for (;;) {
    run(d, dstStrides[inner]!, s, srcStrides[inner]!, shape[inner]!);
    let k = inner - 1;
    for (; k >= 0; k--) {
      idx[k]!++;
      d += dstStrides[k]!;
      s += srcStrides[k]!;
      if (idx[k]! < shape[k]!) break;
      d -= dstStrides[k]! * shape[k]!;
      s -= srcStrides[k]! * shape[k]!;
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** Byte-at-a-time table CRC-32C. */
export function crc32cRef(bytes: Uint8Array, init = 0): number {
  let crc = ~init >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
const fmix = (h: number) => {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
};

/** MurmurHash3_x86_128 of the 8-byte LE id (all four seeds = seed): out[0..3]. */
export function murmur3U64Ref(id: bigint, seed = 0): number[] {
  const c1 = 0x239b961b, c2 = 0xab0e9789, c3 = 0x38b34ae5;
  let h1 = seed >>> 0, h2 = seed >>> 0, h3 = seed >>> 0, h4 = seed >>> 0;
  let k1 = Number(id & 0xffffffffn), k2 = Number((id >> 32n) & 0xffffffffn);
  k2 = Math.imul(k2, c2); k2 = rotl(k2, 16); k2 = Math.imul(k2, c3); h2 = (h2 ^ k2) >>> 0;
  k1 = Math.imul(k1, c1); k1 = rotl(k1, 15); k1 = Math.imul(k1, c2); h1 = (h1 ^ k1) >>> 0;
  h1 ^= 8; h2 ^= 8; h3 ^= 8; h4 ^= 8;
  h1 = (h1 + h2 + h3 + h4) >>> 0; h2 = (h2 + h1) >>> 0; h3 = (h3 + h1) >>> 0; h4 = (h4 + h1) >>> 0;
  h1 = fmix(h1); h2 = fmix(h2); h3 = fmix(h3); h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) >>> 0; h2 = (h2 + h1) >>> 0; h3 = (h3 + h1) >>> 0; h4 = (h4 + h1) >>> 0;
  return [h1, h2, h3, h4];
}

/** Compressed Morton code with bigint arithmetic. */
export function compressedMortonRef(pos: readonly number[], grid: readonly number[]): bigint {
  const bits = grid.map((g) => (g <= 1 ? 0 : Math.ceil(Math.log2(g))));
  const maxBits = Math.max(0, ...bits);
  let code = 0n;
  let j = 0n;
  for (let i = 0; i < maxBits; i++)
    for (let d = 0; d < pos.length; d++)
      if (i < bits[d]!) code |= BigInt((pos[d]! >>> i) & 1) << j++;
  return code;
}

type Seg = Uint32Array | BigUint64Array;

/** Straightforward compressed_segmentation encoder (no table sharing). */
export function csegEncodeRef(data: Seg, vol: readonly number[], blk: readonly number[]): Uint8Array {
  const [X, Y, Z, C] = vol as [number, number, number, number];
  const [bx, by, bz] = blk as [number, number, number];
  const wpv = data instanceof BigUint64Array ? 2 : 1;
  const g = [Math.ceil(X / bx), Math.ceil(Y / by), Math.ceil(Z / bz)];
  const nb = g[0]! * g[1]! * g[2]!;
  const words: number[] = new Array(C).fill(0);
  for (let c = 0; c < C; c++) {
    const base = words.length;
    words[c] = base;
    for (let i = 0; i < 2 * nb; i++) words.push(0);
    for (let kz = 0; kz < g[2]!; kz++) for (let ky = 0; ky < g[1]!; ky++) for (let kx = 0; kx < g[0]!; kx++) {
      const vals: bigint[] = [];
      const at = (x: number, y: number, z: number) => BigInt(data[x + X * (y + Y * (z + Z * c))]!);
      for (let z = kz * bz; z < Math.min(Z, (kz + 1) * bz); z++)
        for (let y = ky * by; y < Math.min(Y, (ky + 1) * by); y++)
          for (let x = kx * bx; x < Math.min(X, (kx + 1) * bx); x++) vals.push(at(x, y, z));
      const table = [...new Set(vals)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      let bits = 0;
      while (2 ** bits < table.length) bits = bits === 0 ? 1 : bits * 2;
      const nw = Math.ceil((bx * by * bz * bits) / 32);
      const vOff = words.length - base;
      const packed = new Array<number>(nw).fill(0);
      if (bits) for (let z = 0; z < bz; z++) for (let y = 0; y < by; y++) for (let x = 0; x < bx; x++) {
        const gx = kx * bx + x, gy = ky * by + y, gz = kz * bz + z;
        if (gx >= X || gy >= Y || gz >= Z) continue;
        const idx = table.indexOf(at(gx, gy, gz));
        const bit = bits * (x + bx * (y + by * z));
        packed[bit >> 5] = (packed[bit >> 5]! | (idx << (bit & 31))) >>> 0;
      }
      words.push(...packed);
      const tOff = words.length - base;
      for (const v of table) {
        words.push(Number(v & 0xffffffffn));
        if (wpv === 2) words.push(Number(v >> 32n));
      }
      const h = base + 2 * (kx + g[0]! * (ky + g[1]! * kz));
      words[h] = (tOff | (bits << 24)) >>> 0;
      words[h + 1] = vOff;
    }
  }
  return new Uint8Array(Uint32Array.from(words).buffer);
}

/**
 * Block-wise TS compressed_segmentation decoder (trusts its input; for valid data only). Written
 * the way a careful TS port would be (number bit ops, uint64 output through a uint32 view) so the
 * benchmark ratio against wasm is honest.
 */
export function csegDecodeRef(enc: Uint8Array, vol: readonly number[], blk: readonly number[], dtype: 'uint32' | 'uint64', into?: Seg): Seg {
  const w = new Uint32Array(enc.buffer, enc.byteOffset, enc.length >> 2);
  const [X, Y, Z, C] = vol as [number, number, number, number];
  const [bx, by, bz] = blk as [number, number, number];
  const wpv = dtype === 'uint64' ? 2 : 1;
  const out = into ?? (wpv === 2 ? new BigUint64Array(X * Y * Z * C) : new Uint32Array(X * Y * Z * C));
  const o32 = new Uint32Array(out.buffer, out.byteOffset, out.length * wpv);
  const gx = Math.ceil(X / bx), gy = Math.ceil(Y / by), gz = Math.ceil(Z / bz);
  for (let c = 0; c < C; c++) {
    const base = w[c]!;
    for (let kz = 0; kz < gz; kz++) for (let ky = 0; ky < gy; ky++) for (let kx = 0; kx < gx; kx++) {
      const h = base + 2 * (kx + gx * (ky + gy * kz));
      const bits = w[h]! >>> 24, table = base + (w[h]! & 0xffffff), vals = base + w[h + 1]!;
      const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
      const ex = Math.min(bx, X - kx * bx), ey = Math.min(by, Y - ky * by), ez = Math.min(bz, Z - kz * bz);
      for (let z = 0; z < ez; z++) for (let y = 0; y < ey; y++) {
        let o = kx * bx + X * (ky * by + y + Y * (kz * bz + z + Z * c));
        let bit = bits * bx * (y + by * z);
        for (let x = 0; x < ex; x++, o++, bit += bits) {
          const idx = bits ? ((w[vals + (bit >>> 5)]! >>> (bit & 31)) & mask) >>> 0 : 0;
          if (wpv === 2) {
            o32[2 * o] = w[table + 2 * idx]!;
            o32[2 * o + 1] = w[table + 2 * idx + 1]!;
          } else o32[o] = w[table + idx]!;
        }
      }
    }
  }
  return out;
}

type Num = ArrayLike<number | bigint> & { length: number; constructor: unknown };

/** C-order downsample, mean (ties-to-even for ints) or mode (ties to smallest). */
export function downsampleRef<T extends Num>(data: T, shape: readonly number[], f: readonly number[], method: 'mean' | 'mode'): T {
  const rank = shape.length;
  const os = shape.map((n, i) => Math.ceil(n / f[i]!));
  const count = os.reduce((a, b) => a * b, 1);
  const Ctor = (data as unknown as { constructor: new (n: number) => T }).constructor;
  const out = new Ctor(count) as unknown as (number | bigint)[];
  const isBig = data instanceof BigInt64Array || data instanceof BigUint64Array;
  const isFloat = data instanceof Float32Array || data instanceof Float64Array;
  const strides = new Array<number>(rank);
  let acc = 1;
  for (let d = rank - 1; d >= 0; d--) { strides[d] = acc; acc *= shape[d]!; }
  const oi = new Array<number>(rank).fill(0);
  for (let o = 0; o < count; o++) {
    let r = o;
    for (let d = rank - 1; d >= 0; d--) { oi[d] = r % os[d]!; r = Math.floor(r / os[d]!); }
    const lo = oi.map((v, d) => v * f[d]!);
    const hi = lo.map((v, d) => Math.min(shape[d]!, v + f[d]!));
    const vals: (number | bigint)[] = [];
    const ii = [...lo];
    for (;;) {
      let lin = 0;
      for (let d = 0; d < rank; d++) lin += ii[d]! * strides[d]!;
      vals.push(data[lin]!);
      let d = rank - 1;
      for (; d >= 0; d--) { if (++ii[d]! < hi[d]!) break; ii[d] = lo[d]!; }
      if (d < 0) break;
    }
    if (method === 'mode') {
      const sorted = [...vals].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      let best = sorted[0]!, bestN = 0;
      for (let i = 0; i < sorted.length;) {
        let j = i + 1;
        while (j < sorted.length && sorted[j] === sorted[i]) j++;
        if (j - i > bestN) { bestN = j - i; best = sorted[i]!; }
        i = j;
      }
      out[o] = best;
    } else if (isFloat) {
      let sum = 0;
      for (const v of vals) sum += v as number;
      out[o] = sum / vals.length;
    } else if (!isBig) {
      // exact in float64: |sum| < 2^32 * window
      let sum = 0;
      for (const v of vals) sum += v as number;
      const n = vals.length;
      const a = Math.abs(sum);
      let q = Math.floor(a / n);
      const rem = a - q * n;
      if (2 * rem > n || (2 * rem === n && q % 2 === 1)) q++;
      out[o] = sum < 0 ? -q : q;
    } else {
      let sum = 0n;
      for (const v of vals) sum += BigInt(v);
      const n = BigInt(vals.length);
      const neg = sum < 0n;
      const a = neg ? -sum : sum;
      let q = a / n;
      const rem = a - q * n;
      if (2n * rem > n || (2n * rem === n && (q & 1n) === 1n)) q++;
      const res = neg ? -q : q;
      out[o] = isBig ? res : Number(res);
    }
  }
  return out as unknown as T;
}
