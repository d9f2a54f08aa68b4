// Approval stages on the real stack, from every entry point: `orch approve|reject`, the API,
// `temporal workflow update execute` and a signed Plane comment all go through the task workflow's
// `approve` / `reject` update. Refusals leave the workflow as it was (a rejected update writes no
// history); a rejection sends the task back with its comment in the prompt; STOP while waiting
// compensates; a wait outlives its worker.
import { randomUUID } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { projectDir } from '../../worker/config/project-dir.js';
import type { WorkerProcess } from '../../worker/harness/instance.js';
import { stateQuery, taskWorkflowId, TERMINAL_STATUSES } from '../../workflows/contracts/index.js';
import { branchSha, showFile } from '../support/git-fixtures.js';
import { exportAndReplay } from '../support/histories.js';
import { createTestEnv, testAgentPipeline, type TestEnv } from '../support/env.js';
import { botActor, DEMO_PROJECT_ID, planeCommentPayload, planeDelivery, postPlaneWebhook, settledDelivery, startPlaneStandin, type PlaneActor, type PlaneStandin } from '../support/plane.js';

const SECRET = 'approvals-plane-secret';
const HOST = 'apr-a';
const STAGE = 'analysis-approval';
const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);

const PIPELINE = `${testAgentPipeline({ attempts: 1 })}stages:
  - name: analysis
    prompt: |
      analyse {{key}}
      {{description}}
      {{lastFailure}}
    gate: { type: file-exists, path: "docs/tasks/{{key}}/analysis.md" }
  - { name: ${STAGE}, kind: approval, prompt: "Approve the analysis of {{key}}", onReject: { goto: analysis } }
  - { name: development, prompt: "develop {{key}}", gate: { type: file-exists, path: "docs/tasks/{{key}}/development.md" } }
  - { kind: merge }
`;

describe('approval stages', () => {
  let env: TestEnv;
  let worker: WorkerProcess;
  let plane: PlaneStandin;
  /** The worker comments on Plane work items (a stand-in for Plane's API v1) as the bot user. */
  let planeEnv: Record<string, string>;

  beforeAll(async () => {
    plane = await startPlaneStandin({ apiKey: 'plane-key', workspaceSlug: 'acme' });
    planeEnv = { PLANE_BASE_URL: plane.baseUrl, PLANE_API_KEY: 'plane-key', PLANE_WORKSPACE_SLUG: 'acme' };
    // The worker is a process of its own: the last test kills it while a task waits.
    env = await createTestEnv('approvals', { worker: false, pipeline: PIPELINE, plane: { webhookSecret: SECRET, botUserId: botActor.id } });
    worker = await env.spawnWorker(HOST, planeEnv);
  });
  afterAll(async () => {
    await env?.cleanup();
    await plane?.close();
  });

  const orch = (...args: string[]) => execa(process.execPath, ['--import', 'tsx', 'bin/orch.ts', ...args], { cwd: projectDir, env: env.processEnv(), reject: false });
  const temporal = (...args: string[]) =>
    execa(inject('temporalCliPath'), [...args, '--address', inject('temporalAddress'), '--namespace', inject('temporalNamespace')], { reject: false });
  const handle = (key: string) => env.client.workflow.getHandle(taskWorkflowId(key));
  const historyLength = async (key: string) => (await handle(key).describe()).historyLength;
  /** Updates the workflow accepted: a refused one never reaches its history. */
  const acceptedUpdates = async (key: string) => ((await handle(key).fetchHistory()).events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
  const decide = (key: string, kind: 'approve' | 'reject', body: unknown) => env.api('POST', `/api/tasks/${key}/${kind}`, body);

  const start = async (key: string, extra: Record<string, unknown> = {}) => {
    const res = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `approve ${key}`, ...extra });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return env.until('the task row', () => env.records.taskByKey(key));
  };
  /** The API's answer once the task waits for a person. */
  const waiting = (key: string, approvalsRequested = 1) =>
    env.until(
      `${key} to wait for approval`,
      async () => {
        const r = await env.api('GET', `/api/tasks/${key}`);
        const asked = (r.body.events ?? []).filter((e: any) => e.type === 'approval-requested').length;
        return r.body.waitingFor === 'approval' && asked >= approvalsRequested ? r.body : null;
      },
      90_000,
    );
  const agentRunning = (taskId: string, stage: string) =>
    env.until(`the ${stage} agent`, async () => (await env.records.jobsOf(taskId)).find((j) => j.stage === stage && j.status === 'running'));
  const decisionsOf = (view: any) => view.events.filter((e: any) => e.type === 'approval-decided').map((e: any) => e.detail);

  it('orch approve: refusals first (an agent running, a stage that is no approval stage, bad input), then approved once and done', async () => {
    const key = 'APR-CLI';
    const task = await start(key, { description: '@agent sleep=analysis:6' });
    await agentRunning(task.id, 'analysis');
    const busy = await decide(key, 'approve', { by: 'carol' });
    expect(busy.status).toBe(409);
    expect(busy.body).toEqual({ error: `${key} is not waiting for approval: it is in stage analysis, running its agent`, key, refusal: 'NotWaitingForApproval' });

    const view = await waiting(key);
    expect(view).toMatchObject({ waitingFor: 'approval', waitingSince: ISO, task: { status: 'running', stage: STAGE }, state: { stage: STAGE, waitingFor: 'approval' } });
    const status = await orch('status', key);
    expect(status.stdout).toMatch(new RegExp(`waiting for approval of ${STAGE} since \\d\\d:\\d\\d:\\d\\d \\([^)]+\\); approve with orch approve ${key}`));
    const queue = await env.api('GET', '/queue');
    expect(queue.body.awaitingApproval).toEqual([
      expect.objectContaining({ key, stage: STAGE, since: ISO, prompt: 'Approve the analysis of {{key}}', timeout: null, stopRequested: false, approve: `orch approve ${key}` }),
    ]);
    const queueOut = await orch('queue');
    expect(queueOut.stdout).toMatch(new RegExp(`AWAITING APPROVAL[^\\n]*\\n[^\\n]*\\n\\s+${key}\\s+${STAGE}\\s`));

    // Refused, and the workflow is as it was: a rejected update writes no history.
    const before = await historyLength(key);
    const wrongStage = await orch('approve', key, '--stage', 'development');
    expect(wrongStage.exitCode).toBe(1);
    expect(wrongStage.stderr).toBe(`orch: ${key} has no approval stage named "development" (its approval stages: ${STAGE}) (HTTP 422)`);
    for (const [kind, body, field] of [
      ['approve', { by: '  ' }, 'by'],
      ['approve', {}, 'by'],
      ['approve', { by: 'carol', reason: 'x' }, '(body)'],
      ['reject', { by: 'carol' }, 'comment'],
      ['reject', { by: 'carol', comment: ' ' }, 'comment'],
    ] as const) {
      const r = await decide(key, kind, body);
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(r.body, JSON.stringify(body)).toMatchObject({ error: expect.stringContaining(field === '(body)' ? 'reason' : field), field });
    }
    const malformed = await fetch(`${env.apiUrl}/api/tasks/${key}/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"by":' });
    expect(malformed.status).toBe(400);
    expect(await historyLength(key)).toBe(before);
    expect(await acceptedUpdates(key)).toBe(0);
    expect((await handle(key).query(stateQuery)).approvals ?? []).toEqual([]);

    const approved = await orch('approve', key, '--comment', 'the analysis reads well', '--by', 'carol');
    expect(approved.stderr).toBe('');
    expect(approved.exitCode).toBe(0);
    expect(approved.stdout).toMatch(new RegExp(`^${key}: ${STAGE} approved by carol at \\d\\d:\\d\\d:\\d\\d: the analysis reads well\\n`));
    const twice = await orch('approve', key, '--by', 'dave');
    expect(twice.exitCode).toBe(1);
    expect(twice.stderr).toMatch(new RegExp(`^orch: ${STAGE} was already approved by carol at \\S+; the task is now in \\S+ \\(HTTP 409\\)$`));

    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status, done.task.failureReason).toBe('done');
    expect(decisionsOf(done)).toEqual([{ stage: STAGE, decision: 'approved', by: 'carol', comment: 'the analysis reads well', at: ISO, via: 'cli' }]);
    expect(done.events.filter((e: any) => e.type === 'stage-passed').map((e: any) => e.stage)).toEqual(['analysis', 'development']);
    expect(await env.api('GET', '/queue').then((q) => q.body.awaitingApproval)).not.toContainEqual(expect.objectContaining({ key }));
    const late = await decide(key, 'approve', { by: 'carol' });
    expect(late).toEqual({ status: 409, body: { error: `task ${key} already ended done; there is nothing to approve`, key, status: 'done' } });
  });

  it('the API: 200 with the decision; an unknown task is 404', async () => {
    const key = 'APR-API';
    await start(key);
    await waiting(key);
    const r = await decide(key, 'approve', { by: 'dana', comment: 'ship it', stage: STAGE });
    expect(r).toEqual({ status: 200, body: { key, stage: STAGE, decision: 'approved', by: 'dana', comment: 'ship it', at: ISO, via: 'api' } });
    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status, done.task.failureReason).toBe('done');
    expect(decisionsOf(done)).toEqual([expect.objectContaining({ by: 'dana', via: 'api' })]);
    expect(await decide('APR-NOPE', 'approve', { by: 'dana' })).toEqual({ status: 404, body: { error: 'unknown task APR-NOPE', key: 'APR-NOPE' } });
  });

  it('a clone changed while the task waited is prepared again before the next agent runs: nothing of the change is pushed', async () => {
    const key = 'APR-DIRTY';
    await start(key);
    await waiting(key);
    // Behind orch's back, on the host: a tracked file edited, a file added.
    const clone = path.join(env.dataDir, 'hosts', HOST, 'worktrees', key);
    await writeFile(path.join(clone, 'README.md'), 'edited on the host\n');
    await writeFile(path.join(clone, 'stray.txt'), 'not from any stage\n');
    expect((await decide(key, 'approve', { by: 'dana' })).status).toBe(200);
    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status, done.task.failureReason).toBe('done');
    // The development run refused the clone before anything started; the stage prepared it from the
    // push and ran the same attempt.
    const events = (await handle(key).fetchHistory()).events ?? [];
    const scheduled = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!]));
    const failed = events.flatMap((e) => (e.activityTaskFailedEventAttributes ? [e.activityTaskFailedEventAttributes] : []));
    expect(failed.map((f) => [scheduled.get(String(f.scheduledEventId))?.activityType?.name, f.failure?.applicationFailureInfo?.type])).toEqual([['runAgent', 'WorktreeNotClean']]);
    expect(done.state.history.filter((a: any) => a.stage === 'development').map((a: any) => [a.attempt, a.outcome])).toEqual([[1, 'passed']]);
    expect(await showFile(env.remote.path, 'main', 'README.md')).toBe('# seeded'); // (stdout, trimmed)
    expect(await showFile(env.remote.path, 'main', 'stray.txt')).toBeNull();
    expect(await showFile(env.remote.path, 'main', `docs/tasks/${key}/development.md`)).not.toBeNull();
  });

  it('replays the history it recorded (an approval, then the next stage)', async () => {
    expect(await exportAndReplay([{ workflowId: taskWorkflowId('APR-API'), fixture: 'task-approved' }])).toEqual([]);
  });

  it('a signed Plane comment /approve (naming its stage) by a person; orch\'s own comments, chatter, another stage and comments while an agent runs are ignored', async () => {
    const issueId = randomUUID();
    const key = `DEMO-${Math.floor(Math.random() * 900_000) + 100_000}`;
    const task = await start(key, { planeIssueId: issueId, planeProjectId: DEMO_PROJECT_ID, description: '@agent sleep=analysis:6' });
    const url = `${env.apiUrl}/webhooks/plane`;
    const comment = (html: string, actor?: PlaneActor) => planeDelivery(planeCommentPayload({ issueId, commentHtml: html, ...(actor && { actor }) }), { secret: SECRET });

    await agentRunning(task.id, 'analysis');
    // A command is answered 202 `accepted` once recorded; what the approval stage made of it is in its row.
    const early = await postPlaneWebhook(url, comment('<p>/approve</p>'));
    expect(early).toEqual({ status: 202, body: { outcome: 'accepted', action: 'approve', key, deliveryId: expect.any(String) } });
    expect(await settledDelivery(env.database.sql, early.body.deliveryId)).toMatchObject({
      outcome: `ignored: ${key} is not waiting for approval: it is in stage analysis, running its agent`,
      http_status: 202,
    });

    await waiting(key);
    // orch asks on the work item, and says how to answer; that comment comes back as a webhook.
    const ask = await env.until('the approval request on the work item', () => (plane.comments.get(issueId) ?? []).find((c) => c.comment_html.includes('waiting for approval')));
    expect(ask.comment_html).toContain(`<code>${STAGE}</code>`);
    expect(ask.comment_html).toContain('<code>/approve</code>');
    expect(ask.comment_html).toContain(`<code>orch approve ${key}</code>`);
    const echo = planeDelivery(planeCommentPayload({ issueId, commentId: ask.id, commentHtml: ask.comment_html, actor: botActor }), { secret: SECRET });
    expect((await postPlaneWebhook(url, echo)).body).toMatchObject({ outcome: "ignored: orch's own comment" });
    const own = await postPlaneWebhook(url, comment('<p>/approve</p>', botActor));
    expect(own.body).toMatchObject({ outcome: "ignored: orch's own comment" });
    const chatter = await postPlaneWebhook(url, comment('<p>Nice analysis, will look later</p>'));
    expect(chatter.body).toMatchObject({ outcome: 'ignored: the comment is not an /approve or /reject command' });
    const unsigned = await postPlaneWebhook(url, { ...comment('<p>/approve</p>'), headers: { 'content-type': 'application/json' } });
    expect(unsigned.status).toBe(401);
    // (The history itself grows here: the task's Plane notice of the wait is an activity.)
    expect(await acceptedUpdates(key)).toBe(0);
    const state = await handle(key).query(stateQuery);
    expect([state.waitingFor, state.approvals ?? []]).toEqual(['approval', []]);

    // A comment naming another stage than the one waiting is refused by the update's validator.
    const wrong = comment('<p>/approve stage=development looks good</p>');
    expect((await postPlaneWebhook(url, wrong)).body).toMatchObject({ outcome: 'accepted', action: 'approve', key });
    expect(await settledDelivery(env.database.sql, wrong.deliveryId)).toMatchObject({
      outcome: `ignored: ${key} has no approval stage named "development" (its approval stages: ${STAGE})`,
    });
    expect(await acceptedUpdates(key)).toBe(0);

    const approve = comment(`<p>/approve stage=${STAGE} looks good</p>`);
    const decided = await postPlaneWebhook(url, approve);
    expect(decided).toEqual({ status: 202, body: { outcome: 'accepted', action: 'approve', key, deliveryId: approve.deliveryId } });
    expect(await settledDelivery(env.database.sql, approve.deliveryId)).toMatchObject({ outcome: 'decided', detail: `${STAGE} approved by alice (plane comment)` });
    // Plane's retry of the same comment: a new delivery id, the same bytes.
    const again = await postPlaneWebhook(url, { ...approve, headers: { ...approve.headers, 'x-plane-delivery': randomUUID() } });
    expect(again.body).toMatchObject({ outcome: 'duplicate', key, of: approve.deliveryId });

    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status, done.task.failureReason).toBe('done');
    expect(decisionsOf(done)).toEqual([expect.objectContaining({ by: 'alice', via: 'plane', comment: 'looks good' })]);
    await env.until('the decision on the work item', () => (plane.comments.get(issueId) ?? []).some((c) => c.comment_html.includes('approved by alice: looks good')));
    const rows = await env.database.sql<{ outcome: string; http_status: number }[]>`select outcome, http_status from webhook_deliveries where work_item_id = ${issueId} order by id`;
    expect(rows.map((r) => r.outcome)).toEqual([
      expect.stringMatching(/^ignored: .* is not waiting for approval/),
      "ignored: orch's own comment",
      "ignored: orch's own comment",
      'ignored: the comment is not an /approve or /reject command',
      `ignored: ${key} has no approval stage named "development" (its approval stages: ${STAGE})`,
      'decided',
      'duplicate',
    ]);
  });

  it('orch reject: the stage named by onReject runs again with the comment in its prompt, then approved → done', async () => {
    const key = 'APR-REJ';
    const why = 'Split the API change from the UI change';
    await start(key);
    await waiting(key);
    const rejected = await orch('reject', key, '--comment', why);
    expect(rejected.exitCode, rejected.stderr).toBe(0);
    expect(rejected.stdout).toContain(`${key}: ${STAGE} rejected by ${userInfo().username} at`);

    const second = await waiting(key, 2);
    // What the agent was given (ORCH_PROMPT_FILE) on its second round of analysis.
    const prompt = await readFile(path.join(env.dataDir, 'hosts', HOST, 'prompts', key, 'analysis-1.md'), 'utf8');
    expect(prompt).toContain(`analyse ${key}`);
    expect(prompt).toContain(`Rejected at ${STAGE} by ${userInfo().username}: ${why}`);
    expect(second.state.history.filter((h: any) => h.stage === 'analysis').map((h: any) => [h.outcome, h.loop ?? 1])).toEqual([
      ['passed', 1],
      ['passed', 2],
    ]);

    expect((await decide(key, 'approve', { by: 'dana' })).status).toBe(200);
    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status, done.task.failureReason).toBe('done');
    expect(decisionsOf(done).map((d: any) => [d.decision, d.via])).toEqual([
      ['rejected', 'cli'],
      ['approved', 'api'],
    ]);
    const watch = await orch('watch', key);
    expect(watch.exitCode).toBe(0);
    for (const line of [`waiting for approval of ${STAGE} since`, `${STAGE} rejected by ${userInfo().username} (cli): ${why}`, `${STAGE} approved by dana (api)`, `${key} done`]) {
      expect(watch.stdout).toContain(line);
    }
  });

  it('STOP while waiting: cancelled, compensation complete, nothing left over, and no decision taken afterwards', async () => {
    const key = 'APR-STOP';
    await start(key);
    await waiting(key);
    expect((await env.api('POST', `/api/tasks/${key}/stop`, { reason: 'not needed' })).status).toBe(202);
    const after = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(after.task.status).toBe('cancelled');
    expect(after.events.filter((e: any) => e.type === 'compensation').map((e: any) => [e.detail.step, e.detail.ok])).toEqual([
      ['kill-agent', true],
      ['cancel-jobs', true],
      ['remove-worktree', true],
      ['delete-branch', true],
    ]);
    expect(await access(path.join(env.dataDir, 'hosts', HOST, 'worktrees', key)).then(() => true, () => false)).toBe(false);
    expect(await branchSha(env.remote.path, `orch/${key}`)).toBeNull();
    expect(await env.api('GET', '/queue').then((q) => q.body.awaitingApproval)).not.toContainEqual(expect.objectContaining({ key }));
    expect(await decide(key, 'approve', { by: 'dana' })).toEqual({ status: 409, body: { error: `task ${key} already ended cancelled; there is nothing to approve`, key, status: 'cancelled' } });
  });

  it('temporal workflow update execute, after the worker was killed during the wait and came back', async () => {
    const key = 'APR-TCLI';
    await start(key);
    await waiting(key);
    worker.kill('SIGKILL');
    await worker.exited;
    worker = await env.spawnWorker(HOST, planeEnv);

    const input = JSON.stringify({ by: 'erin', comment: 'after the restart' });
    const approved = await temporal('workflow', 'update', 'execute', '--workflow-id', taskWorkflowId(key), '--name', 'approve', '--input', input);
    expect(approved.exitCode, approved.stderr).toBe(0);
    expect(approved.stdout).toContain('erin');
    const twice = await temporal('workflow', 'update', 'execute', '--workflow-id', taskWorkflowId(key), '--name', 'approve', '--input', '{"by":"erin"}');
    expect(twice.exitCode).not.toBe(0);
    expect(`${twice.stdout}${twice.stderr}`).toContain(`${STAGE} was already approved by erin`);

    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status, done.task.failureReason).toBe('done');
    expect(decisionsOf(done)).toEqual([{ stage: STAGE, decision: 'approved', by: 'erin', comment: 'after the restart', at: ISO, via: 'temporal' }]);
  });

  it('Prometheus has every wait, by stage and decision', async () => {
    const metrics = () => fetch(`${env.apiUrl}/metrics`).then((r) => r.text());
    // Rows are counted once settled (2 s): CLI, API, the changed clone, Plane, the rework's second
    // wait and the temporal CLI approved; one rejected.
    const text = await env.until('the decisions to be counted', async () => {
      const t = await metrics();
      return /^orch_approval_wait_seconds_count\{stage="analysis-approval",decision="approved"\} 6$/m.test(t) ? t : null;
    }, 15_000);
    expect(text).toMatch(/^orch_approval_wait_seconds_count\{stage="analysis-approval",decision="rejected"\} 1$/m);
    expect(Number(/^orch_approval_wait_seconds_sum\{stage="analysis-approval",decision="approved"\} (\S+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
  });
});
