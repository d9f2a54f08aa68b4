// The Plane bridge on the real stack: signed Plane-shaped deliveries in, Temporal workflows and
// webhook_deliveries rows out.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import {
  botActor,
  demoStates,
  planeDelivery,
  planeIssuePayload,
  postPlaneWebhook,
  settledDelivery,
  signPlane,
  startedRunId,
  type PlaneIssuePayloadOptions,
  type PlaneStateRef,
} from '../support/plane.js';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';

const SECRET = 'plane-webhook-secret-for-tests';
const DEFAULT_WINDOW_MS = 60_000;

describe('Plane webhook', () => {
  let env: TestEnv;
  let url: string;
  let nextSeq = 1000 + Math.floor(Math.random() * 900_000);

  beforeAll(async () => {
    env = await createTestEnv('planewebhook', {
      plane: { webhookSecret: SECRET, botUserId: botActor.id, dedupeWindowMs: DEFAULT_WINDOW_MS },
    });
    url = `${env.apiUrl}/webhooks/plane`;
  });
  afterEach(() => {
    // Tests may change the live config; each starts from the same one.
    Object.assign(env.plane!, { webhookSecret: SECRET, dedupeWindowMs: DEFAULT_WINDOW_MS, stopStatusEnabled: true, stopStatusRepos: [] });
  });
  afterAll(async () => env?.cleanup());

  /** A fresh work item of the demo project. */
  const workItem = (o: Partial<PlaneIssuePayloadOptions> = {}) => {
    const sequenceId = nextSeq++;
    const issueId = randomUUID();
    const key = `DEMO-${sequenceId}`;
    const payload = (state: PlaneStateRef, p: Partial<PlaneIssuePayloadOptions> = {}) =>
      planeIssuePayload({ sequenceId, issueId, name: `Plane item ${sequenceId}`, descriptionStripped: '@agent hang', ...o, ...p, state });
    /** Delivers the move to `state` as Plane does: signed, with a new delivery id. */
    const move = (state: PlaneStateRef, p: Partial<PlaneIssuePayloadOptions> = {}) =>
      postPlaneWebhook(url, planeDelivery(payload(state, p), { secret: SECRET }));
    return { sequenceId, issueId, key, workflowId: `task-${key}`, payload, move };
  };

  /** Every run Temporal has of `workflowId` (open and closed). */
  const runsOf = async (workflowId: string) => {
    const runs: string[] = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowId='${workflowId}'` })) runs.push(w.runId);
    return runs;
  };
  /** Waits until visibility shows `n` runs, lets a moment pass, and returns the count then. */
  const settledRunCount = async (workflowId: string, n: number) => {
    await env.until(`${n} run(s) of ${workflowId}`, async () => (await runsOf(workflowId)).length >= n);
    await sleep(1500);
    return (await runsOf(workflowId)).length;
  };
  /** A move orch claimed: answered 202 `accepted` at once; what it did is in the row once the act ends. */
  const acted = async (res: { status: number; body: any }) => {
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.outcome).toBe('accepted');
    return settledDelivery(env.database.sql, res.body.deliveryId);
  };
  const exists = (workflowId: string) =>
    env.client.workflow
      .getHandle(workflowId)
      .describe()
      .then(
        () => true,
        () => false,
      );
  const deliveries = (where: { workItemId?: string; deliveryId?: string }) =>
    where.workItemId
      ? env.database.sql<any[]>`select * from webhook_deliveries where work_item_id = ${where.workItemId} order by id`
      : env.database.sql<any[]>`select * from webhook_deliveries where delivery_id = ${where.deliveryId!} order by id`;
  /** Stops a test's task through the API (once it has a row) and waits for it to end cancelled. */
  const stopAndWait = async (key: string) => {
    await env.waitForStatus(key, ['running']);
    expect((await env.api('POST', `/api/tasks/${key}/stop`, { reason: 'test cleanup' })).status).toBe(202);
    await env.waitForStatus(key, ['cancelled']);
  };
  const midAgent = (key: string) =>
    env.until(`${key} mid-agent`, async () => {
      const res = await env.api('GET', `/api/tasks/${key}`);
      return res.body?.jobs?.some((j: any) => j.status === 'running');
    });

  it('a move to To Analyse starts exactly one workflow; the state/state_id pair and 10 replays start nothing more', async () => {
    const item = workItem();
    const first = await item.move(demoStates.toAnalyse, { field: 'state', oldState: demoStates.backlog });
    expect(first.body).toMatchObject({ outcome: 'accepted', action: 'start', key: item.key });
    const firstRow = await acted(first);
    expect(firstRow.outcome).toBe('started');
    expect(firstRow.detail).toMatch(new RegExp(`^started ${item.workflowId} run `));
    // The same move again, as the `state_id` delivery Plane also sends.
    const pair = await item.move(demoStates.toAnalyse, { field: 'state_id', oldState: demoStates.backlog });
    expect(pair.body.outcome).toBe('duplicate');
    // Ten replays with fresh delivery ids, all at once.
    const replays = await Promise.all(
      Array.from({ length: 10 }, (_, i) => item.move(demoStates.toAnalyse, { field: i % 2 ? 'state' : 'state_id', oldState: demoStates.backlog })),
    );
    expect(replays.map((r) => [r.status, r.body.outcome])).toEqual(Array.from({ length: 10 }, () => [200, 'duplicate']));

    expect(await settledRunCount(item.workflowId, 1)).toBe(1);
    const desc = await env.client.workflow.getHandle(item.workflowId).describe();
    expect(desc.runId).toBe(startedRunId(firstRow.detail));
    const task = await env.waitForStatus(item.key, ['running']);
    expect(task.task).toMatchObject({ title: `Plane item ${item.sequenceId}`, description: '@agent hang', planeIssueId: item.issueId, repo: 'demo' });

    const rows = await deliveries({ workItemId: item.issueId });
    expect(rows.map((r) => r.outcome)).toEqual(['started', ...Array(11).fill('duplicate')]);
    expect(new Set(rows.map((r) => r.delivery_id)).size).toBe(12);
    expect(new Set(rows.map((r) => r.content_key)).size).toBe(1);
    expect(rows.every((r) => r.signature_valid)).toBe(true);
    expect(rows[0]).toMatchObject({ event: 'issue', action: 'updated', http_status: 202 });
    expect(rows[0].payload.data.id).toBe(item.issueId);

    await stopAndWait(item.key);
  });

  it('a work item created in To Analyse starts a task; the state delivery that follows is its duplicate', async () => {
    const item = workItem();
    // Plane's delivery of a new work item: action `created`, `activity.field` null.
    const created = await item.move(demoStates.toAnalyse, { action: 'created', field: null, oldState: null });
    expect(created.body).toMatchObject({ outcome: 'accepted', action: 'start', key: item.key });
    expect((await acted(created)).outcome).toBe('started');
    expect((await item.move(demoStates.toAnalyse, { field: 'state', oldState: null })).body.outcome).toBe('duplicate');
    expect(await settledRunCount(item.workflowId, 1)).toBe(1);
    const task = await env.waitForStatus(item.key, ['running']);
    expect(task.task).toMatchObject({ planeIssueId: item.issueId, title: `Plane item ${item.sequenceId}` });
    await stopAndWait(item.key);
  });

  it('concurrent identical deliveries of a new move start one task', async () => {
    const item = workItem();
    const all = await Promise.all(Array.from({ length: 6 }, () => item.move(demoStates.toAnalyse)));
    const outcomes = all.map((r) => r.body.outcome).sort();
    expect(outcomes).toEqual(['accepted', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
    expect((await acted(all.find((r) => r.body.outcome === 'accepted')!)).outcome).toBe('started');
    expect(await settledRunCount(item.workflowId, 1)).toBe(1);
    await stopAndWait(item.key);
  });

  it('starts nothing for other states, fields, events or projects', async () => {
    const item = workItem();
    const cases: [Partial<PlaneIssuePayloadOptions> & { state?: PlaneStateRef }, RegExp][] = [
      [{ state: demoStates.inProgress }, /^ignored: state "In Progress" is neither "To Analyse" nor "STOP"$/],
      [{ state: demoStates.done }, /^ignored: state "Done"/],
      [{ state: demoStates.toAnalyse, field: 'name' }, /^ignored: field "name" is not a state change$/],
      [{ state: demoStates.toAnalyse, field: null, action: 'updated' }, /^ignored: field null is not a state change$/],
      // Created in another state than To Analyse: nothing to start.
      [{ state: demoStates.backlog, field: null, action: 'created' }, /^ignored: state "Backlog"/],
      [{ state: demoStates.toAnalyse, action: 'deleted' }, /^ignored: action "deleted"/],
      [{ state: demoStates.toAnalyse, event: 'issue_comment' }, /^ignored: event "issue_comment"/],
      [{ state: demoStates.toAnalyse, projectId: 'ffffffff-0000-0000-0000-000000000000' }, /^ignored: project ffffffff-0000-0000-0000-000000000000 is not mapped/],
      // Names match trimmed and case-insensitively; a look-alike does not.
      [{ state: { ...demoStates.toAnalyse, name: 'To Analyse later' } }, /^ignored: state "To Analyse later"/],
    ];
    for (const [o, want] of cases) {
      const res = await item.move(o.state ?? demoStates.toAnalyse, o);
      expect(res.status, JSON.stringify(o)).toBe(200);
      expect(res.body.outcome, JSON.stringify(o)).toMatch(want);
    }
    expect(await exists(item.workflowId)).toBe(false);
    const rows = await deliveries({ workItemId: item.issueId });
    // Those ignored before the work item was read (field, action, event) carry no work item id.
    expect(rows.map((r) => r.outcome)).toEqual([
      expect.stringMatching(/In Progress/),
      expect.stringMatching(/Done/),
      expect.stringMatching(/Backlog/),
      expect.stringMatching(/not mapped/),
      expect.stringMatching(/To Analyse later/),
    ]);
    expect(rows.every((r) => r.http_status === 200 && r.content_key === null && r.signature_valid)).toBe(true);
  });

  it('a move to STOP stops the task mid-agent: it ends cancelled', async () => {
    const item = workItem();
    expect((await acted(await item.move(demoStates.toAnalyse))).outcome).toBe('started');
    await midAgent(item.key);
    const stop = await item.move(demoStates.stop, { field: 'state', oldState: demoStates.toAnalyse });
    expect(stop.body).toMatchObject({ outcome: 'accepted', action: 'stop', key: item.key });
    expect((await acted(stop)).outcome).toBe('stop-signalled');
    expect((await item.move(demoStates.stop, { field: 'state_id', oldState: demoStates.toAnalyse })).body.outcome).toBe('duplicate');
    const done = await env.waitForStatus(item.key, TERMINAL_STATUSES);
    expect(done.task.status).toBe('cancelled');
    const cancelled = done.events.find((e: any) => e.type === 'cancelled');
    expect(cancelled.detail).toMatchObject({ reason: 'Plane STOP', requestedBy: 'plane:alice' });
    expect(done.jobs.find((j: any) => j.stage === 'analysis')?.status).toBe('cancelled');
    // A STOP for a task that has ended is not an error of the sender.
    const late = await item.move(demoStates.stop, { field: 'state', dataOverrides: { state: { ...demoStates.stop, id: randomUUID() } } });
    expect((await acted(late)).outcome).toMatch(/^ignored: task .* already ended cancelled/);
  });

  it('after a cancel, To Analyse starts a new task once the dedupe window has passed', async () => {
    const item = workItem();
    const first = await acted(await item.move(demoStates.toAnalyse));
    expect(first.outcome).toBe('started');
    await midAgent(item.key);
    expect((await acted(await item.move(demoStates.stop))).outcome).toBe('stop-signalled');
    await env.waitForStatus(item.key, ['cancelled']);
    const cancelledAt = Date.now();

    // Within the window the same move is a duplicate: a late copy of the first must not restart it.
    expect((await item.move(demoStates.toAnalyse)).body.outcome).toBe('duplicate');

    env.plane!.dedupeWindowMs = 2000;
    await sleep(Math.max(0, 2100 - (Date.now() - cancelledAt)));
    const again = await acted(await item.move(demoStates.toAnalyse));
    expect(again.outcome).toBe('started');
    expect(startedRunId(again.detail)).not.toBe(startedRunId(first.detail));
    expect(await settledRunCount(item.workflowId, 2)).toBe(2);
    const running = await env.waitForStatus(item.key, ['running']);
    expect(running.task.runId).toBe(startedRunId(again.detail));

    await stopAndWait(item.key);
  });

  it('ignores an echo of orch\'s own write', async () => {
    const item = workItem();
    const res = await item.move(demoStates.toAnalyse, { actor: botActor });
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe('ignored: echo of orch\'s own write');
    expect(await exists(item.workflowId)).toBe(false);
    // A human's move of the same item right after is not a duplicate of the echo.
    expect((await acted(await item.move(demoStates.toAnalyse))).outcome).toBe('started');
    await stopAndWait(item.key);
  });

  it('ignores STOP when the stop status is off (or the repo is not allowed), and honours it once on', async () => {
    const item = workItem();
    expect((await acted(await item.move(demoStates.toAnalyse))).outcome).toBe('started');
    await midAgent(item.key);
    env.plane!.stopStatusEnabled = false;
    const off = await item.move(demoStates.stop);
    expect([off.status, off.body.outcome]).toEqual([200, 'ignored: stop status disabled']);
    env.plane!.stopStatusEnabled = true;
    env.plane!.stopStatusRepos = ['some-other-repo'];
    const notListed = await item.move(demoStates.stop);
    expect(notListed.body.outcome).toMatch(/^ignored: stop status disabled for repo demo/);
    await sleep(1000);
    expect((await env.api('GET', `/api/tasks/${item.key}`)).body.task.status).toBe('running');

    env.plane!.stopStatusRepos = ['demo'];
    expect((await acted(await item.move(demoStates.stop))).outcome).toBe('stop-signalled');
    expect((await env.waitForStatus(item.key, TERMINAL_STATUSES)).task.status).toBe('cancelled');
  });

  it('needs no bearer token when the API has one', async () => {
    const app = createApp({
      client: env.client,
      db: env.database.db,
      records: env.records,
      pipeline: env.pipeline,
      taskQueue: env.taskQueue,
      temporalAddress: 'unused',
      apiToken: 'operator-token',
      dataDir: env.dataDir,
      plane: env.plane,
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect((await fetch(`${base}/api/tasks/DEMO-1`)).status).toBe(401);
      const item = workItem();
      const res = await postPlaneWebhook(`${base}/webhooks/plane`, planeDelivery(item.payload(demoStates.inProgress), { secret: SECRET }));
      expect(res.status).toBe(200);
      expect(res.body.outcome).toMatch(/^ignored: state "In Progress"/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  describe('rejects what it cannot trust or read, and records it', () => {
    const post = (body: string | Buffer, headers: Record<string, string>) => postPlaneWebhook(url, { body, headers });
    const recorded = async (deliveryId: string) => {
      const rows = await deliveries({ deliveryId });
      expect(rows).toHaveLength(1);
      return rows[0];
    };

    it('a bad or missing signature → 401', async () => {
      const item = workItem();
      const good = planeDelivery(item.payload(demoStates.toAnalyse), { secret: SECRET });
      const bad = await post(good.body.replace('"sequence_id": ', '"sequence_id": 1'), good.headers);
      expect(bad.status).toBe(401);
      expect(bad.body.error).toMatch(/does not match the body/);
      const wrongKey = planeDelivery(item.payload(demoStates.toAnalyse), { secret: 'not-the-secret' });
      expect((await post(wrongKey.body, wrongKey.headers)).status).toBe(401);
      const unsigned = planeDelivery(item.payload(demoStates.toAnalyse));
      const none = await post(unsigned.body, unsigned.headers);
      expect(none.status).toBe(401);
      expect(none.body.error).toMatch(/missing X-Plane-Signature/);

      for (const id of [good.deliveryId, wrongKey.deliveryId, unsigned.deliveryId]) {
        const row = await recorded(id);
        expect(row).toMatchObject({ signature_valid: false, http_status: 401, payload: null, work_item_id: null, content_key: null });
        expect(row.outcome).toMatch(/^rejected: /);
        expect(row.body_bytes).toBeGreaterThan(1000);
      }
      expect(await exists(item.workflowId)).toBe(false);
    });

    it('malformed JSON and a wrong data shape → 400 naming the field', async () => {
      const item = workItem();
      const sign = (body: string) => ({ 'content-type': 'application/json', 'x-plane-delivery': randomUUID(), 'x-plane-signature': signPlane(body, SECRET) });
      const malformedBody = '{"event": "issue", "action": ';
      const malformedHeaders = sign(malformedBody);
      const malformed = await post(malformedBody, malformedHeaders);
      expect(malformed.status).toBe(400);
      expect(malformed.body.error).toMatch(/^malformed JSON/);
      expect(await recorded(malformedHeaders['x-plane-delivery'])).toMatchObject({ signature_valid: true, http_status: 400 });

      const shapes: [Partial<PlaneIssuePayloadOptions>, string][] = [
        [{ dataOverrides: { state: null } }, 'data.state'],
        [{ dataOverrides: { sequence_id: 'twelve' } }, 'data.sequence_id'],
        [{ dataOverrides: { id: 42 } }, 'data.id'],
        [{ dataOverrides: { project: undefined } }, 'data.project'],
      ];
      for (const [o, field] of shapes) {
        const payload = item.payload(demoStates.toAnalyse, o);
        if ('project' in (o.dataOverrides ?? {})) delete (payload.data as Record<string, unknown>).project;
        const d = planeDelivery(payload, { secret: SECRET });
        const res = await post(d.body, d.headers);
        expect(res.status, field).toBe(400);
        expect(res.body.field, field).toBe(field);
        expect(res.body.error, field).toMatch(new RegExp(`^${field.replace('.', '\\.')}: `));
        expect(await recorded(d.deliveryId)).toMatchObject({ signature_valid: true, http_status: 400, event: 'issue' });
      }
      // Plane's types vary between versions: a numeric string sequence id is fine.
      const lenient = await item.move(demoStates.inProgress, { sequenceId: String(item.sequenceId) });
      expect(lenient.body.outcome).toMatch(/^ignored: state "In Progress"/);
      expect(await exists(item.workflowId)).toBe(false);
    });

    it('an oversized body → 413', async () => {
      const item = workItem();
      const d = planeDelivery(item.payload(demoStates.toAnalyse, { descriptionStripped: 'x'.repeat(300 * 1024) }), { secret: SECRET });
      const res = await post(d.body, d.headers);
      expect(res.status).toBe(413);
      expect(res.body.error).toMatch(/over the limit of 262144 \(ORCH_WEBHOOK_MAX_BYTES\)/);
      const row = await recorded(d.deliveryId);
      expect(row).toMatchObject({ http_status: 413, signature_valid: false, payload: null });
      expect(row.body_bytes).toBeGreaterThan(300 * 1024);
      expect(await exists(item.workflowId)).toBe(false);
    });

    it('no PLANE_WEBHOOK_SECRET → 503, even for a well-formed delivery', async () => {
      const item = workItem();
      env.plane!.webhookSecret = undefined;
      const d = planeDelivery(item.payload(demoStates.toAnalyse), { secret: SECRET });
      const res = await post(d.body, d.headers);
      expect(res.status).toBe(503);
      expect(res.body.error).toMatch(/PLANE_WEBHOOK_SECRET is not set/);
      expect(await recorded(d.deliveryId)).toMatchObject({ http_status: 503, signature_valid: false });
      expect(await exists(item.workflowId)).toBe(false);
    });
  });
});
