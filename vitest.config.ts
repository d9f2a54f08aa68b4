import { defineConfig } from 'vitest/config';

// Three projects: `unit` needs nothing running; `integration` and `faults` each share one real
// Temporal dev server and one real PostgreSQL, started once by the global setup.
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
      {
        test: {
          // Proof under faults (test/faults): short inside `npm test`; `npm run test:faults` runs
          // the full version (ORCH_FAULTS=full) and writes docs/reliability.md.
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts', 'test/faults/ledger.ts'],
          testTimeout: 1_200_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
