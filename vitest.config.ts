import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing running; `integration` shares one real Temporal dev
// server and one real PostgreSQL, started once by the global setup.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Files run one at a time: they share a 2-core machine with the servers under test.
          fileParallelism: false,
        },
      },
    ],
  },
});
