// F8: a task waiting for approval outlives its worker and its Temporal server. Its own dev server
// (like F2): the worker process is killed -9 and the server restarted while the task waits; a new
// worker comes up, the approval arrives, and the task finishes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevServer } from '../../worker/temporal/dev-server.js';
import { approveUpdate, stateQuery, taskWorkflowId, TERMINAL_STATUSES } from '../../workflows/contracts/index.js';
import { createTestEnv, testAgentPipeline, type TestEnv } from '../support/env.js';
import { ownDevServer } from './support.js';

const PIPELINE = `${testAgentPipeline({ attempts: 2 })}stages:
  - { name: design, prompt: "design {{key}}", gate: { type: file-exists, path: "docs/tasks/{{key}}/design.md" } }
  - { name: design-approval, kind: approval, prompt: "Approve the design of {{key}}", timeout: 1h }
  - { name: development, prompt: "develop {{key}}", gate: { type: file-exists, path: "docs/tasks/{{key}}/development.md" } }
  - { kind: merge }
`;

describe('F8: an approval wait across a worker kill and a Temporal restart', () => {
  let env: TestEnv | undefined;
  let server: DevServer | undefined;
  let startServer: () => Promise<DevServer>;

  beforeAll(async () => {
    startServer = (await ownDevServer('f8')).start;
    server = await startServer();
    env = await createTestEnv('f8approval', { worker: false, pipeline: PIPELINE, temporal: { address: server.address, namespace: server.namespace } });
  });
  afterAll(async () => {
    await env?.cleanup();
    await server?.stop();
  });

  it('waits, loses its worker and its server, then is approved and finishes done', async () => {
    const e = env!;
    const key = 'F8-1';
    const first = await e.spawnWorker('f8-a');
    await e.api('POST', '/api/tasks', { key, repo: 'demo', title: 'wait for a person' });
    const handle = () => e.client.workflow.getHandle(taskWorkflowId(key));
    await e.until('the approval wait', async () => (await handle().query(stateQuery).catch(() => null))?.waitingFor === 'approval', 60_000);

    first.kill('SIGKILL');
    await first.exited;
    await server!.stop();
    server = await startServer();
    await e.spawnWorker('f8-b');

    const state = await e.until('the wait to be back', async () => (await handle().query(stateQuery).catch(() => null)) ?? undefined, 60_000);
    expect(state).toMatchObject({ status: 'running', stage: 'design-approval', waitingFor: 'approval' });
    const record = await e.until('the approval to be taken', () => handle().executeUpdate(approveUpdate, { args: [{ by: 'fiona', via: 'test' }] }).catch(() => undefined), 60_000);
    expect(record).toMatchObject({ stage: 'design-approval', decision: 'approved', by: 'fiona' });

    const done = await e.waitForStatus(key, TERMINAL_STATUSES, 180_000);
    expect(done.task.status, done.task.failureReason).toBe('done');
    expect(done.events.filter((ev: { type: string }) => ev.type === 'stage-passed').map((ev: { stage: string }) => ev.stage)).toEqual(['design', 'development']);
  });
});
