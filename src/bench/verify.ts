/** Checks that the bench reports numbers only for correct results. */

/** Thrown when two readers disagree: the bench must never report numbers for wrong results. */
export class BenchVerificationError extends Error {
  override name = 'BenchVerificationError';
}

/** Throws BenchVerificationError naming the first differing byte (or the length mismatch). */
export function assertBytesEqual(what: string, actual: Uint8Array, expected: Uint8Array): void {
  if (actual.length !== expected.length) {
    throw new BenchVerificationError(`${what}: ${actual.length} bytes, expected ${expected.length}`);
  }
  if (Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.length))) return;
  let i = 0;
  while (actual[i] === expected[i]) i++;
  throw new BenchVerificationError(`${what}: first difference at byte ${i}: ${actual[i]} vs ${expected[i]}`);
}
