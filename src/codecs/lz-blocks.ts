/**
 * Bounds-checked decoders of the three byte-oriented LZ77 block formats blosc frames carry:
 * LZ4 blocks (also numcodecs' `lz4` codec), BloscLZ (c-blosc's FastLZ variant) and raw Snappy.
 *
 * Every decoder writes into a caller-owned `dst` and returns how many bytes it wrote, or -1 when
 * the input is inconsistent (a length or offset outside the input or the output, a truncated
 * sequence, trailing bytes). It never reads or writes out of bounds, and it writes `dst` strictly
 * front to back, so "returned n === dst.length" proves that every output byte was produced by
 * the input: callers treat anything else as corrupt. No decoder keeps state between calls.
 *
 * Formats: LZ4 block https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md;
 * Snappy https://github.com/google/snappy/blob/main/format_description.txt;
 * BloscLZ (no spec; the decoder of c-blosc 1.x `blosclz.c`): a control byte whose top 3 bits are
 * a match length (0 = literal run of `(ctrl & 31) + 1` bytes), else a match of length
 * `(ctrl >> 5) + 2` (7 = extended by 255-continued bytes) at distance `((ctrl & 31) << 8) + next
 * byte + 1`, or, when those are 31 and 255, `8191 + (16-bit big-endian) + 1`.
 */

/**
 * Copies `len` bytes from `dst[op - dist]` to `dst[op]`, overlapping as LZ77 requires (a match
 * longer than its distance repeats the last `dist` bytes). Long copies go through copyWithin in
 * non-overlapping pieces whose source is a whole number of periods behind.
 */
function copyMatch(dst: Uint8Array, op: number, dist: number, len: number): void {
  const m = op - dist;
  if (len <= 32) {
    for (let i = 0; i < len; i++) dst[op + i] = dst[m + i]!;
    return;
  }
  if (dist >= len) {
    dst.copyWithin(op, m, m + len);
    return;
  }
  if (dist < 8) {
    // widen the period to at least 8 bytes first, so the doubling below takes few steps
    const w = dist * Math.ceil(8 / dist);
    for (let i = 0; i < w; i++) dst[op + i] = dst[m + i]!;
    let done = w;
    while (done < len) {
      const n = Math.min(done, len - done);
      dst.copyWithin(op + done, op, op + n);
      done += n;
    }
    return;
  }
  // dst[op + done ..] repeats with period dist; [m, op + done) already holds done + dist bytes of it
  let done = 0;
  while (done < len) {
    const n = Math.min(done + dist, len - done);
    dst.copyWithin(op + done, m, m + n);
    done += n;
  }
}

/** Copies `len` literal bytes from `src[ip]` to `dst[op]`. */
function copyLiterals(dst: Uint8Array, op: number, src: Uint8Array, ip: number, len: number): void {
  if (len > 32) {
    dst.set(src.subarray(ip, ip + len), op);
    return;
  }
  for (let i = 0; i < len; i++) dst[op + i] = src[ip + i]!;
}

/**
 * Decodes one LZ4 block (no frame, no size prefix) into `dst`. The block must end with a
 * literals-only sequence that consumes the input exactly (as LZ4_decompress_safe requires).
 * Returns the bytes written, or -1 for inconsistent input.
 */
export function lz4DecodeBlock(src: Uint8Array, dst: Uint8Array): number {
  const iend = src.length;
  const oend = dst.length;
  let ip = 0;
  let op = 0;
  for (;;) {
    if (ip >= iend) return -1;
    const token = src[ip++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (ip >= iend) return -1;
        b = src[ip++]!;
        lit += b;
      } while (b === 255);
    }
    if (lit > iend - ip || lit > oend - op) return -1;
    if (lit <= 16) {
      for (let i = 0; i < lit; i++) dst[op + i] = src[ip + i]!;
    } else dst.set(src.subarray(ip, ip + lit), op);
    ip += lit;
    op += lit;
    if (ip === iend) return op; // the last sequence has literals only
    if (iend - ip < 2) return -1;
    const dist = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (dist === 0 || dist > op) return -1;
    let len = token & 15;
    if (len === 15) {
      let b: number;
      do {
        if (ip >= iend) return -1;
        b = src[ip++]!;
        len += b;
      } while (b === 255);
    }
    len += 4;
    if (len > oend - op) return -1;
    if (len <= 32) {
      for (let i = 0, m = op - dist; i < len; i++) dst[op + i] = dst[m + i]!;
    } else copyMatch(dst, op, dist, len);
    op += len;
  }
}

const BLOSCLZ_MAX_DISTANCE = 8191;

/** Decodes one BloscLZ stream into `dst`. Returns the bytes written, or -1 for inconsistent input. */
export function blosclzDecode(src: Uint8Array, dst: Uint8Array): number {
  const iend = src.length;
  const oend = dst.length;
  if (iend === 0) return -1;
  let ip = 0;
  let op = 0;
  let ctrl = src[ip++]! & 31; // the first byte is a literal run; bit 5 marks the format
  for (;;) {
    if (ctrl >= 32) {
      let len = (ctrl >>> 5) - 1;
      const ofs = (ctrl & 31) << 8;
      if (len === 6) {
        let b: number;
        do {
          if (ip >= iend) return -1;
          b = src[ip++]!;
          len += b;
        } while (b === 255);
      }
      if (ip >= iend) return -1;
      const code = src[ip++]!;
      let dist = ofs + code + 1;
      if (code === 255 && ofs === 31 << 8) {
        if (iend - ip < 2) return -1;
        dist = ((src[ip]! << 8) | src[ip + 1]!) + BLOSCLZ_MAX_DISTANCE + 1;
        ip += 2;
      }
      len += 3;
      if (dist > op || len > oend - op) return -1;
      copyMatch(dst, op, dist, len);
      op += len;
    } else {
      const len = ctrl + 1;
      if (len > iend - ip || len > oend - op) return -1;
      copyLiterals(dst, op, src, ip, len);
      ip += len;
      op += len;
    }
    if (ip >= iend) return op;
    ctrl = src[ip++]!;
  }
}

/**
 * Decodes one raw Snappy stream (varint length preamble, then elements) into `dst`. The
 * preamble must equal `dst.length`. Returns the bytes written, or -1 for inconsistent input.
 */
export function snappyDecode(src: Uint8Array, dst: Uint8Array): number {
  const iend = src.length;
  const oend = dst.length;
  let ip = 0;
  let declared = 0;
  for (let shift = 0; ; shift += 7) {
    if (ip >= iend || shift > 28) return -1;
    const b = src[ip++]!;
    declared += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (declared !== oend) return -1;
  let op = 0;
  while (ip < iend) {
    const tag = src[ip++]!;
    const type = tag & 3;
    if (type === 0) {
      let len = (tag >>> 2) + 1;
      if (len > 60) {
        const n = len - 60;
        if (iend - ip < n) return -1;
        len = 0;
        for (let i = n - 1; i >= 0; i--) len = len * 256 + src[ip + i]!;
        len += 1;
        ip += n;
      }
      if (len > iend - ip || len > oend - op) return -1;
      copyLiterals(dst, op, src, ip, len);
      ip += len;
      op += len;
      continue;
    }
    let len: number;
    let dist: number;
    if (type === 1) {
      if (ip >= iend) return -1;
      len = ((tag >>> 2) & 7) + 4;
      dist = ((tag >>> 5) << 8) | src[ip++]!;
    } else if (type === 2) {
      if (iend - ip < 2) return -1;
      len = (tag >>> 2) + 1;
      dist = src[ip]! | (src[ip + 1]! << 8);
      ip += 2;
    } else {
      if (iend - ip < 4) return -1;
      len = (tag >>> 2) + 1;
      dist = (src[ip]! | (src[ip + 1]! << 8) | (src[ip + 2]! << 16) | (src[ip + 3]! << 24)) >>> 0;
      ip += 4;
    }
    if (dist === 0 || dist > op || len > oend - op) return -1;
    copyMatch(dst, op, dist, len);
    op += len;
  }
  return op;
}
