import { defineConfig } from 'vitest/config';

// Suites that need system packages (Debian's python3-zarr, emscripten, chromium);
// .ci/run installs them before running this config.
export default defineConfig({
  test: {
    include: ['test/interop/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
