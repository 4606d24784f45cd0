/**
 * Bad input to the bench or to tune (a malformed access pattern, mix, price override or layout
 * flag), naming the flag. The CLI turns it into a usage error (exit code 2).
 */
export class BenchInputError extends Error {
  override name = 'BenchInputError';
}
