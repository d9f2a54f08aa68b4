// Smoke test of the time-skipping environment: a 30-day timer must fire in seconds of wall time.
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quietRuntime } from '../support/runtime.js';
import { createTimeSkippingEnv } from '../support/time-skipping.js';
import type { sleeper } from './fixtures/sleeper.js';

const DAY = 24 * 60 * 60 * 1000;

describe('time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    quietRuntime();
    const started = Date.now();
    env = await createTimeSkippingEnv();
    process.stderr.write(`time-skipping server up in ${Date.now() - started}ms\n`);
  });
  afterAll(async () => env?.teardown());

  it('skips a 30-day sleep', async () => {
    expect(env.supportsTimeSkipping).toBe(true);
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'time-skipping',
      workflowsPath: fileURLToPath(new URL('./fixtures/sleeper.ts', import.meta.url)),
    });
    const serverBefore = await env.currentTimeMs();
    const wallStarted = Date.now();
    const { result, historyLength } = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start<typeof sleeper>('sleeper', {
        args: [30],
        taskQueue: 'time-skipping',
        workflowId: 'sleeper-30d',
      });
      const result = await handle.result();
      const history = await handle.fetchHistory();
      return { result, historyLength: history.events?.length ?? 0 };
    });
    const wallMs = Date.now() - wallStarted;
    const serverSkipped = (await env.currentTimeMs()) - serverBefore;
    process.stderr.write(`30-day sleep: ${wallMs}ms wall, ${(serverSkipped / DAY).toFixed(2)} days of server time, ${historyLength} events\n`);

    expect(result.wokeAt - result.startedAt).toBeGreaterThanOrEqual(30 * DAY);
    expect(serverSkipped).toBeGreaterThanOrEqual(30 * DAY);
    // Started, a workflow task (3 events), the timer started and fired, a second workflow task, completed: 10.
    expect(historyLength).toBeLessThanOrEqual(15);
  });
});
