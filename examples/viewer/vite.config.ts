/**
 * Vite build of the viewer: `npx vite build examples/viewer` (output in examples/viewer/dist).
 * An app that installed volstore from npm needs only `worker.format: 'es'` (the codec worker
 * loads codecs by dynamic import, which classic workers cannot); here, inside volstore's own
 * repository, "volstore" is aliased to the package's built entry (dist/index.js, what npm
 * installs), so run `npm run build` first.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: HERE,
  base: './',
  resolve: { alias: { volstore: path.resolve(HERE, '../../dist/index.js') } },
  worker: { format: 'es' },
  build: { outDir: path.join(HERE, 'dist'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8192 },
  logLevel: 'warn',
});
