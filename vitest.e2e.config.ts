import { defineConfig } from 'vitest/config';

// End-to-end browser suites (test/e2e): Debian's Chromium driven by playwright-core against the
// built-in emulator. `npm run test:e2e`; .ci/run installs chromium before running it.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
