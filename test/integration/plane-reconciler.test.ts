// The Plane reconciler on the real stack: its Temporal Schedule (a short interval here), the Plane
// stand-in's board, and a PostgreSQL server of its own, stopped and started again to lose a
// webhook delivery. A move the webhook could not record is started from the board; webhook and
// reconciler together make one workflow per work item; a work item in STOP stops its task; a task
// stopped by a person while the board still says To Analyse stays stopped.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownPostgres, type OwnPostgres } from '../support/own-postgres.js';
import { planeReconcileScheduleId, type PlaneReconcileReport } from '../../workflows/contracts/index.js';
import { createTestEnv, testAgentPipeline, type TestEnv } from '../support/env.js';
import { botActor, demoStates, planeDelivery, planeIssuePayload, postPlaneWebhook, startPlaneStandin, type PlaneStandin, type PlaneStateRef } from '../support/plane.js';

const SECRET = 'reconciler-secret';
const API_KEY = 'plane-reconciler-key';
const INTERVAL_MS = 2000;
// One quick stage; `@agent hang` keeps a task running until it is stopped.
const PIPELINE = `${testAgentPipeline({ attempts: 1 })}stages:
  - { name: analysis, prompt: "analyse {{key}} {{description}}", gate: { type: file-exists, path: "docs/tasks/{{key}}/analysis.md" } }
`;

describe('Plane reconciler', () => {
  let env: TestEnv;
  let plane: PlaneStandin;
  let pg: OwnPostgres;
  let seq = 500_000 + Math.floor(Math.random() * 400_000);

  beforeAll(async () => {
    pg = await ownPostgres('plane-reconcile');
    plane = await startPlaneStandin({ apiKey: API_KEY, workspaceSlug: 'acme' });
    env = await createTestEnv('planereconcile', {
      pgServerUrl: pg.adminUrl,
      pipeline: PIPELINE,
      plane: { webhookSecret: SECRET, botUserId: botActor.id, baseUrl: plane.baseUrl, apiKey: API_KEY, workspaceSlug: 'acme', reconcileIntervalMs: INTERVAL_MS },
    });
  });
  afterAll(async () => {
    await env?.cleanup();
    await plane?.close();
    await pg?.stop();
  });

  /** A work item on the stand-in's board, and its webhook move. */
  const workItem = () => {
    const sequenceId = seq++;
    const id = randomUUID();
    const key = `DEMO-${sequenceId}`;
    const put = (state: PlaneStateRef) => plane.putWorkItem({ id, sequenceId, state, name: `reconciled ${sequenceId}`, description: '@agent hang' });
    const move = (state: PlaneStateRef) =>
      postPlaneWebhook(
        `${env.apiUrl}/webhooks/plane`,
        planeDelivery(planeIssuePayload({ sequenceId, issueId: id, name: `reconciled ${sequenceId}`, descriptionStripped: '@agent hang', state, oldState: demoStates.backlog }), { secret: SECRET }),
      );
    return { id, key, workflowId: `task-${key}`, put, move };
  };
  const runsOf = async (workflowId: string) => {
    const runs: string[] = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowId='${workflowId}'` })) runs.push(w.runId);
    return runs;
  };
  /** The reconciler's finished runs, oldest first: when each started and what it reported. */
  const reconcileRuns = async () => {
    const out: { startedAt: number; report: PlaneReconcileReport }[] = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowType='planeReconcile' AND TaskQueue='${env.taskQueue}' AND ExecutionStatus='Completed'` })) {
      out.push({ startedAt: w.startTime.getTime(), report: await env.client.workflow.getHandle(w.workflowId, w.runId).result() });
    }
    return out.sort((a, b) => a.startedAt - b.startedAt);
  };
  const startedBy = <R extends { report: PlaneReconcileReport }>(runs: R[], key: string) => runs.filter((r) => r.report.acted.some((a) => a.key === key && a.outcome === 'started'));
  const stopAndWait = async (key: string) => {
    await env.waitForStatus(key, ['running']);
    expect((await env.api('POST', `/api/tasks/${key}/stop`, { reason: 'test cleanup' })).status).toBe(202);
    await env.waitForStatus(key, ['cancelled']);
  };

  it('a move delivered while PostgreSQL is down is started by the first reconciler run after it is back', async () => {
    const item = workItem();
    item.put(demoStates.toAnalyse);
    await pg.stop();
    let upAt: number;
    try {
      // The webhook cannot record the move: it says so, and Plane would not retry.
      const lost = await item.move(demoStates.toAnalyse);
      expect(lost.status, JSON.stringify(lost.body)).toBe(503);
      expect(lost.body.error).toMatch(/could not record the delivery/);
      // Runs while the database is down find the item but cannot act (no task, no workflow).
      await sleep(2 * INTERVAL_MS);
      expect(await runsOf(item.workflowId)).toEqual([]);
    } finally {
      await pg.start();
      upAt = Date.now();
    }
    const running = await env.waitForStatus(item.key, ['running'], 60_000);
    expect(running.task).toMatchObject({ planeIssueId: item.id, title: `reconciled ${item.key.slice(5)}`, description: '@agent hang' });
    // Started by the reconciler, and by the first of its runs to begin after the database was back
    // (or one already under way then): within one schedule interval.
    // Waiting for a finished run begun after it too: when the acting run was already under way, the
    // first one after is compared with it, and may still be running when the acting run is listed.
    const runs = await env.until('the acting run and a run begun after the database was back, in visibility', async () => {
      const r = await reconcileRuns();
      return startedBy(r, item.key).length && r.some((x) => x.startedAt >= upAt) ? r : null;
    });
    // While the database was down, runs found the item and could not act (and said why).
    expect(runs.some((r) => r.startedAt < upAt && r.report.acted.some((a) => a.key === item.key && /^error: /.test(a.outcome)))).toBe(true);
    const started = startedBy(runs, item.key);
    expect(started, 'one run started it').toHaveLength(1);
    const [acting] = started;
    expect(acting!.report.acted.find((a) => a.key === item.key)).toEqual({ key: item.key, workItemId: item.id, want: 'start', outcome: 'started' });
    const firstAfterUp = runs.find((r) => r.startedAt >= upAt);
    expect(firstAfterUp, 'a reconciler run after the database came back').toBeDefined();
    expect(acting!.startedAt).toBeLessThanOrEqual(firstAfterUp!.startedAt);
    expect(await runsOf(item.workflowId)).toHaveLength(1);

    // GET /queue shows the reconciler: its interval, its next run, and its last report.
    const queue = await env.api('GET', '/queue');
    expect(queue.body.reconciler).toMatchObject({ enabled: true, scheduleId: planeReconcileScheduleId(env.taskQueue), intervalMs: INTERVAL_MS, paused: false });
    expect(Date.parse(queue.body.reconciler.nextRunAt)).toBeGreaterThan(Date.now() - INTERVAL_MS);
    expect(queue.body.reconciler.lastRun).toMatchObject({ status: 'COMPLETED', report: { projects: [expect.objectContaining({ identifier: 'DEMO', inStart: expect.any(Number) })] } });
    await stopAndWait(item.key);
  });

  it('webhook and reconciler together make one workflow per work item; STOP on the board stops the task', async () => {
    const items = [workItem(), workItem(), workItem()];
    // On the board and delivered at once: both paths race for each item.
    for (const i of items) i.put(demoStates.toAnalyse);
    const answers = await Promise.all(items.map((i) => i.move(demoStates.toAnalyse)));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202]);
    for (const i of items) await env.waitForStatus(i.key, ['running']);
    // Several reconciler runs see them in To Analyse with their tasks running: nothing more starts.
    const before = (await reconcileRuns()).length;
    await env.until('three more reconciler runs', async () => (await reconcileRuns()).length >= before + 3);
    for (const i of items) expect(await runsOf(i.workflowId), i.key).toHaveLength(1);

    // Moved to STOP on the board only (no delivery): the reconciler stops it.
    const [stopped, ...others] = items;
    stopped!.put(demoStates.stop);
    const ended = await env.waitForStatus(stopped!.key, ['cancelled'], 60_000);
    expect(ended.events.find((e: any) => e.type === 'cancelled')?.detail).toMatchObject({ reason: 'Plane STOP', requestedBy: 'plane:reconciler' });
    for (const i of others) await stopAndWait(i.key);
  });

  it('a task stopped by a person while the board still says To Analyse is not restarted', async () => {
    const item = workItem();
    item.put(demoStates.toAnalyse);
    await env.until('the reconciler to start it', () => env.records.taskByKey(item.key));
    await stopAndWait(item.key);
    const before = (await reconcileRuns()).length;
    await env.until('two more reconciler runs', async () => (await reconcileRuns()).length >= before + 2);
    expect(await runsOf(item.workflowId)).toHaveLength(1);
    // Moved back to To Analyse (the work item changes after the cancel): started again.
    await sleep(10);
    item.put(demoStates.toAnalyse);
    await env.until('a second run', async () => (await runsOf(item.workflowId)).length === 2);
    await stopAndWait(item.key);
  });
});
