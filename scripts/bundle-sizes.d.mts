/** Types of bundle-sizes.mjs. */
export interface BundleSizeRow {
  name: string;
  files: number;
  bytes: number;
  gzipBytes: number;
}
/** The README's bundle size rows for a dist/browser directory (default the package's). */
export function bundleSizes(dir?: string): BundleSizeRow[];
