/**
 * The closed formulas test/fixtures/hdf5/make_fixtures.py wrote the HDF5 fixtures with (value
 * of the flat C-order index i per dtype), so tests check every element they read.
 */
import type { DataType } from '../../src/array/dtype.js';
import { fixture } from '../fixture-path.js';

/** Absolute path of an HDF5 fixture. */
export function h5(name: string): string {
  return fixture('hdf5', name);
}

/** `file://` URL of an HDF5 fixture, optionally with `|hdf5:<dataset>`. */
export function h5url(name: string, dataset?: string): string {
  return `file://${h5(name)}${dataset !== undefined ? `|hdf5:${dataset}` : ''}`;
}

const M64 = 1n << 64n;

/** The value make_fixtures.py's VALUES(kind, i) stores at flat index i. */
export function fixtureValue(kind: DataType, i: number): number | bigint | boolean {
  switch (kind) {
    case 'int8':
      return (i % 256) - 128;
    case 'uint8':
      return i % 256;
    case 'int16':
      return ((i * 37) % 65536) - 32768;
    case 'uint16':
      return (i * 13) % 65536;
    case 'int32':
      return Number((BigInt(i) * 100003n) % 2n ** 32n) - 2 ** 31;
    case 'uint32':
      return Number((BigInt(i) * 2654435761n) % 2n ** 32n);
    case 'int64':
      return BigInt(i) * 2n ** 40n - 2n ** 62n;
    case 'uint64':
      return (BigInt(i) * 0x9e3779b97f4a7c15n) % M64;
    case 'float16':
      return (i % 2048) * 0.5 - 512;
    case 'float32':
      return i * 0.25 - 1000;
    case 'float64':
      return i * 0.1 - 7;
    case 'bool':
      return i % 3 === 0;
  }
}

/** sample.h5 volumes/raw at (z, y, x). */
export function sampleRaw(z: number, y: number, x: number): number {
  return (z * 31 + y * 7 + x * 3) % 256;
}

/** sample.h5 volumes/labels/neuron_ids at (z, y, x). */
export function sampleLabel(z: number, y: number, x: number): bigint {
  const v = BigInt(Math.floor(z / 3)) * 1000003n + BigInt(Math.floor(y / 10)) * 1009n + BigInt(Math.floor(x / 10));
  return (v * 2n ** 40n + 12345n) % M64;
}

/** big-gzip.h5 data at (z, y, x): chunk [32, 128, 128] (cz, cy, cx) holds (cz*7 + cy*3 + cx) % 251. */
export function bigValue(z: number, y: number, x: number): number {
  return (Math.floor(z / 32) * 7 + Math.floor(y / 128) * 3 + Math.floor(x / 128)) % 251;
}
