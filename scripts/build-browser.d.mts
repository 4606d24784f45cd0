/** Types of build-browser.mjs. */
export interface BrowserManifestFile {
  file: string;
  label: string;
  bytes: number;
  gzipBytes: number;
  imports: string[];
  inputs: string[];
}
export interface BrowserManifest {
  main: string;
  worker: string;
  files: BrowserManifestFile[];
}
/** Builds the browser ES module bundle into `outdir` (default dist/browser) and writes its manifest.json. */
export function buildBrowser(outdir?: string): Promise<BrowserManifest>;
