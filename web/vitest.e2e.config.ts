import { defineConfig } from 'vitest/config';

// End-to-end tests: real Chromium against the real server. Each file starts
// its own server(s) and browser; files run one at a time on 2 cores.
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    sequence: { concurrent: false },
  },
});
