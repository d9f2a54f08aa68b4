// The reconcilePlane activity against the Plane stand-in (the task side recorded, not Temporal:
// the integration test drives the real one), and the reconciler's verdicts on a work item.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlaneClient } from '../../activities/adapters/plane-client.js';
import { createPlaneReconcileActivities } from '../../activities/plane-reconcile.js';
import { PLANE_WEBHOOK_DISABLED } from '../../api/plane/config.js';
import { createPlaneReconcileTarget } from '../../api/plane/reconcile.js';
import type { Task } from '../../db/schema.js';
import type { PlaneReconcileItem } from '../../workflows/contracts/index.js';
import { DEMO_PROJECT_ID, demoStates, startPlaneStandin, type PlaneStandin } from '../support/plane.js';

const API_KEY = 'plane_api_reconcile';
const config = { projects: { [DEMO_PROJECT_ID]: { identifier: 'DEMO', repo: 'demo' } }, startState: 'To Analyse', stopState: 'STOP' };

let plane: PlaneStandin;
let sleeps: number[];
const client = (apiKey = API_KEY) => new PlaneClient({ baseUrl: plane.baseUrl, apiKey, workspaceSlug: 'acme', sleep: async (ms) => void sleeps.push(ms) });

beforeEach(async () => {
  plane = await startPlaneStandin({ apiKey: API_KEY, workspaceSlug: 'acme', maxPerPage: 2 });
  sleeps = [];
});
afterEach(async () => plane.close());

describe('reconcilePlane', () => {
  it('hands every work item in the start or STOP state to the task side, across pages and a 429', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'].map((c) => `d0000000-0000-4000-8000-00000000000${c}`);
    plane.putWorkItem({ id: ids[0]!, sequenceId: 1, state: demoStates.toAnalyse, description: 'first' });
    plane.putWorkItem({ id: ids[1]!, sequenceId: 2, state: demoStates.inProgress });
    plane.putWorkItem({ id: ids[2]!, sequenceId: 3, state: demoStates.stop });
    plane.putWorkItem({ id: ids[3]!, sequenceId: 4, state: demoStates.done });
    plane.putWorkItem({ id: ids[4]!, sequenceId: 5, state: demoStates.toAnalyse });
    const seen: PlaneReconcileItem[] = [];
    const a = createPlaneReconcileActivities({
      client: client(),
      config,
      tasks: { reconcile: async (item) => (seen.push(item), item.sequenceId === 5 ? null : { key: `DEMO-${item.sequenceId}`, workItemId: item.workItemId, want: item.want, outcome: 'started' }) },
    });
    plane.answer429(1, { inSeconds: 2 });
    const report = await a.reconcilePlane();
    expect(sleeps).toEqual([2250]);
    expect(seen.map((i) => [i.sequenceId, i.want]).sort()).toEqual([[1, 'start'], [3, 'stop'], [5, 'start']]);
    expect(seen.find((i) => i.sequenceId === 1)).toMatchObject({ projectId: DEMO_PROJECT_ID, workItemId: ids[0], descriptionStripped: 'first', name: 'Plane item 1' });
    expect(report.projects).toEqual([{ projectId: DEMO_PROJECT_ID, identifier: 'DEMO', listed: 5, inStart: 2, inStop: 1 }]);
    // Only what was acted on is reported.
    expect(report.acted.map((x) => x.key).sort()).toEqual(['DEMO-1', 'DEMO-3']);
  });

  it('reports a rejected API key (403) per project, naming it', async () => {
    const a = createPlaneReconcileActivities({ client: client('wrong'), config, tasks: { reconcile: async () => null } });
    const report = await a.reconcilePlane();
    expect(report.projects[0]!.error).toMatch(/answered 403 \(Plane rejected the API key \(PLANE_API_KEY\)/);
    expect(report.acted).toEqual([]);
  });

  it('skips without the Plane API, and says so for a board without the states', async () => {
    expect((await createPlaneReconcileActivities({ client: null }).reconcilePlane()).skipped).toMatch(/not configured/);
    const a = createPlaneReconcileActivities({ client: client(), config: { ...config, startState: 'Ready', stopState: 'Halt' }, tasks: { reconcile: async () => null } });
    expect((await a.reconcilePlane()).projects[0]!.error).toBe('the project has no state named "Ready" or "Halt"');
  });
});

describe("the reconciler's verdict", () => {
  const item = (o: Partial<PlaneReconcileItem> = {}): PlaneReconcileItem => ({
    projectId: DEMO_PROJECT_ID,
    workItemId: 'w-1',
    sequenceId: 7,
    name: 'seven',
    descriptionStripped: 'do it',
    updatedAt: '2026-01-02T00:00:00.000Z',
    want: 'start',
    ...o,
  });
  const task = (o: Partial<Task>): Task => ({ key: 'DEMO-7', status: 'running', cancelRequestedAt: null, cancelledAt: null, ...o }) as Task;
  const target = (found: { live?: Task; latest?: Task } = {}) => {
    const calls: string[] = [];
    const t = createPlaneReconcileTarget({
      plane: { ...PLANE_WEBHOOK_DISABLED, projects: config.projects },
      records: { taskByKey: async () => found.live, findByKey: async () => found.latest ?? found.live ?? null, taskByPlaneIssueId: async () => undefined },
      tasks: {
        start: async (body) => (calls.push(`start ${body.key} ${body.title} ${body.description}`), { key: body.key!, workflowId: `task-${body.key}`, runId: 'r1', existing: false }),
        stop: async (key, req) => (calls.push(`stop ${key} ${req.requestedBy}`), { key, workflowId: `task-${key}`, outcome: 'stop-signalled' as const }),
      },
    });
    return { t, calls };
  };

  it('starts a work item with no task; leaves a running, done or failed one alone', async () => {
    const none = target();
    expect(await none.t.reconcile(item())).toMatchObject({ key: 'DEMO-7', outcome: 'started' });
    expect(none.calls).toEqual(['start DEMO-7 seven do it']);
    for (const status of ['running', 'queued', 'done', 'failed'] as const) {
      const t = target({ live: task({ status }) });
      expect(await t.t.reconcile(item()), status).toBeNull();
      expect(t.calls).toEqual([]);
    }
  });

  it('restarts a cancelled task only when the work item changed after the cancel', async () => {
    const cancelledAt = new Date('2026-01-01T00:00:00.000Z');
    const after = target({ latest: task({ status: 'cancelled', cancelledAt }) });
    expect(await after.t.reconcile(item({ updatedAt: '2026-01-01T00:00:01.000Z' }))).toMatchObject({ outcome: 'started' });
    const before = target({ latest: task({ status: 'cancelled', cancelledAt }) });
    expect(await before.t.reconcile(item({ updatedAt: '2025-12-31T23:59:59.000Z' }))).toBeNull();
    expect(await before.t.reconcile(item({ updatedAt: null }))).toBeNull();
    expect(before.calls).toEqual([]);
  });

  it('stops a running task in STOP once; not one already stopping or ended, nor when the stop status is off', async () => {
    const running = target({ live: task({ status: 'running' }) });
    expect(await running.t.reconcile(item({ want: 'stop' }))).toMatchObject({ outcome: 'stop-signalled' });
    expect(running.calls).toEqual(['stop DEMO-7 plane:reconciler']);
    for (const live of [task({ cancelRequestedAt: new Date() }), task({ status: 'done' }), undefined]) {
      const t = target({ live });
      expect(await t.t.reconcile(item({ want: 'stop' }))).toBeNull();
      expect(t.calls).toEqual([]);
    }
    const off = createPlaneReconcileTarget({
      plane: { ...PLANE_WEBHOOK_DISABLED, projects: config.projects, stopStatusEnabled: false },
      records: { taskByKey: async () => task({}), findByKey: async () => task({}), taskByPlaneIssueId: async () => undefined },
      tasks: { start: async () => Promise.reject(new Error('no')), stop: async () => Promise.reject(new Error('no')) },
    });
    expect(await off.reconcile(item({ want: 'stop' }))).toBeNull();
  });
});
