import { defineConfig } from 'vitest/config';

// Five projects, and a sixth, `cluster`, only under ORCH_CLUSTER=1 (`npm run test:cluster`: it
// builds and runs a production-shaped Temporal, too heavy for every `npm test`). `unit` needs nothing running; `integration` and `faults` each share one real
// Temporal dev server and one real PostgreSQL, started once by the global setup; `workflow` runs on
// the time-skipping test server; `agents` runs the real agent CLIs against a scripted model API.
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
      {
        test: {
          // Workflow logic on the time-skipping test server (test/support/time-skipping.ts): each file
          // starts its own server, so no global setup.
          name: 'workflow',
          include: ['test/workflow/**/*.test.ts'],
          testTimeout: 120_000,
          // beforeAll may install the test server on first use (~40 s cold; CI installs it beforehand).
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // The real Claude Code and Codex CLIs (pinned devDependencies) against the scripted model API
          // on loopback (worker/harness/scripted-model): no Temporal, no database.
          name: 'agents',
          include: ['test/agents/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
      ...(process.env.ORCH_CLUSTER === '1'
        ? [
            {
              test: {
                // A four-process Temporal on PostgreSQL (worker/temporal/cluster): `npm run cluster` end to
                // end, and the C1–C5 faults (docs/reliability.md).
                name: 'cluster',
                include: ['test/cluster/**/*.test.ts'],
                globalSetup: ['test/cluster/global-setup.ts', 'test/cluster/ledger.ts'],
                testTimeout: 1_200_000,
                hookTimeout: 300_000,
                fileParallelism: false,
              },
            },
          ]
        : []),
    ],
  },
});
