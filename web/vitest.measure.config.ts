import { defineConfig } from 'vitest/config';

// Measurements in Chromium against a running server (e2e/*.measure.ts):
// programs that print figures for BENCHMARKS.md, not tests.
export default defineConfig({
  test: {
    include: ['e2e/**/*.measure.ts'],
    environment: 'node',
    fileParallelism: false,
  },
});
