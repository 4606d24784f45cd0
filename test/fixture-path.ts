import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the committed fixtures (see test/fixtures/README.md for where each came from). */
export const FIXTURES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** Absolute path of a committed fixture, e.g. `fixture('zarr-python', 'v2.zarr')`. */
export function fixture(...parts: string[]): string {
  return path.join(FIXTURES_DIR, ...parts);
}
