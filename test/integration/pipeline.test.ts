// The task workflow end to end on the real stack: dev server, PostgreSQL, git, processes.
import { access } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orchSearchAttributes, TERMINAL_STATUSES } from '../../workflows/contracts/index.js';
import { stateQuery, taskWorkflowId } from '../../workflows/contracts/index.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { exportAndReplay } from '../support/histories.js';
import { branchSha, gitIn, readHookLog } from '../support/git-fixtures.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const exists = (p: string) => access(p).then(() => true, () => false);

describe('task workflow', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('pipeline');
  });
  afterAll(async () => env?.cleanup());

  it('takes a demo task through all six stages to done', async () => {
    const start = await env.api('POST', '/api/tasks', { key: 'HAPPY-1', repo: 'demo', title: 'Say hello', description: 'Please say hello.' });
    expect(start.status).toBe(202);
    expect(start.body).toMatchObject({ key: 'HAPPY-1', workflowId: 'task-HAPPY-1', existing: false });
    // Starting again while it runs returns the same workflow, never a second one.
    const again = await env.api('POST', '/api/tasks', { key: 'HAPPY-1', repo: 'demo', title: 'Say hello' });
    expect(again.body).toMatchObject({ existing: true, runId: start.body.runId });

    const done = await env.waitForStatus('HAPPY-1', TERMINAL_STATUSES);
    expect(done.task.status).toBe('done');

    // main holds every stage's work and the merge commit.
    const log = await gitIn(env.remote.path, 'log', '--format=%s', 'main');
    expect(log.split('\n')).toEqual(expect.arrayContaining(['Merge orch/HAPPY-1: Say hello', 'HAPPY-1: analysis', 'HAPPY-1: review']));
    const files = await gitIn(env.remote.path, 'ls-tree', '-r', '--name-only', 'main');
    for (const s of ['analysis', 'design', 'development', 'review']) expect(files).toContain(`docs/tasks/HAPPY-1/${s}.md`);
    // Deployed exactly once, with the merged sha.
    const deploys = (await readFile(env.deployLog, 'utf8')).trim().split('\n').filter((l) => l.includes(' HAPPY-1 '));
    expect(deploys).toHaveLength(1);
    expect(deploys[0]).toContain(await branchSha(env.remote.path, 'main'));
    // No worktree, no feature branch, nothing forced.
    expect(await branchSha(env.remote.path, 'orch/HAPPY-1')).toBeNull();
    const hosts = path.join(env.dataDir, 'hosts');
    expect(await exists(path.join(hosts, `${env.id.slice(0, 12)}-a`, 'worktrees', 'HAPPY-1'))).toBe(false);
    expect((await readHookLog(env.remote)).filter((l) => l.startsWith('REJECT'))).toEqual([]);

    // Each stage advanced exactly once; every attempt is a job row with host, pid, exit code.
    const passed = done.events.filter((e: any) => e.type === 'stage-passed').map((e: any) => e.stage);
    expect(passed).toEqual(['analysis', 'design', 'development', 'review']);
    expect(done.jobs.map((j: any) => [j.stage, j.status, j.exitCode])).toEqual([
      ['analysis', 'done', 0],
      ['design', 'done', 0],
      ['development', 'done', 0],
      ['review', 'done', 0],
    ]);
    for (const j of done.jobs) expect(j.pid).toBeGreaterThan(1);
    // The workflow has closed: its attempts come from the records, one per job, with the job's pid.
    expect(done.history.map((h: any) => [h.stage, h.attempt, h.outcome, h.pid])).toEqual(done.jobs.map((j: any) => [j.stage, j.attempt, 'passed', j.pid]));
    expect(done.state.history).toHaveLength(4);
    // The scripted agent reports no usage: none, not zero.
    expect(done.history.map((h: any) => h.usage)).toEqual([null, null, null, null]);
    expect(done.usage).toBeNull();
    expect(done.progress).toBeNull();

    // What operators see: search attributes and the summary.
    const desc = await env.client.workflow.getHandle('task-HAPPY-1').describe();
    expect(desc.typedSearchAttributes.get(orchSearchAttributes.taskKey)).toBe('HAPPY-1');
    expect(desc.typedSearchAttributes.get(orchSearchAttributes.repo)).toBe('demo');
    expect(desc.typedSearchAttributes.get(orchSearchAttributes.status)).toBe('done');
    expect(desc.typedSearchAttributes.get(orchSearchAttributes.stage)).toBe('done');
    expect(await desc.staticSummary()).toBe('HAPPY-1: Say hello');
  });

  it('retries a failing quality gate, then ends failed with the reason', async () => {
    await env.api('POST', '/api/tasks', { key: 'GATE-1', repo: 'demo', title: 'Design fails', description: '@agent fail-stage=design' });
    const failed = await env.waitForStatus('GATE-1', TERMINAL_STATUSES);
    expect(failed.task.status).toBe('failed');
    expect(failed.task.failureReason).toMatch(/stage design failed after 2 attempt\(s\): agent exited with code 1/);
    const state = await env.client.workflow.getHandle('task-GATE-1').query(stateQuery);
    expect(state.status).toBe('failed');
    expect(state.failureReason).toMatch(/stage design failed after 2 attempt/);
    expect(state.history.filter((h) => h.stage === 'design').map((h) => h.outcome)).toEqual(['failed', 'failed']);
    expect(failed.jobs.filter((j: any) => j.stage === 'design').map((j: any) => j.status)).toEqual(['failed', 'failed']);
    // After the workflow closed, the API's history (from the records) tells the workflow's own story.
    const shape = (h: any) => [h.stage, h.attempt, h.host, h.outcome, h.outcome === 'passed' ? null : h.detail];
    expect(failed.history.map(shape)).toEqual(state.history.map(shape));
    expect(failed.history.filter((h: any) => h.stage === 'design').map((h: any) => h.detail)).toEqual([
      'agent exited with code 1',
      'agent exited with code 1',
    ]);
    // Nothing of it reached main.
    expect(await gitIn(env.remote.path, 'log', '--format=%s', 'main')).not.toContain('GATE-1');
  });

  it('waits for a dependency, and starts once it is done, woken by its ending', async () => {
    await env.api('POST', '/api/tasks', { key: 'DEP-B', repo: 'demo', title: 'after A', dependsOn: ['DEP-A'] });
    const b = env.client.workflow.getHandle(taskWorkflowId('DEP-B'));
    await env.until('DEP-B to wait for DEP-A', async () => (await b.query(stateQuery)).stage === 'waiting');
    await env.api('POST', '/api/tasks', { key: 'DEP-A', repo: 'demo', title: 'first' });
    const a = await env.waitForStatus('DEP-A', TERMINAL_STATUSES);
    expect(a.task.status).toBe('done');
    // The wait re-checks on its own only every few hours: finishing here means DEP-A's ending woke it.
    const after = await env.waitForStatus('DEP-B', TERMINAL_STATUSES);
    expect(after.task.status).toBe('done');
    const aDone = new Date(a.events.find((e: any) => e.type === 'done').createdAt).getTime();
    expect(Math.min(...after.jobs.map((j: any) => new Date(j.createdAt).getTime()))).toBeGreaterThan(aDone);
    const signals = ((await b.fetchHistory()).events ?? []).map((e) => e.workflowExecutionSignaledEventAttributes?.signalName);
    expect(signals.filter((name) => name === 'dependencyEnded')).toHaveLength(1);
  });

  it('replays the histories it recorded (no non-determinism)', async () => {
    const failures = await exportAndReplay([
      { workflowId: 'task-HAPPY-1', fixture: 'task-done' },
      { workflowId: 'task-GATE-1', fixture: 'task-gate-failed' },
    ]);
    expect(failures).toEqual([]);
  });

  it('answers 400 naming the field, and 404 for an unknown repo', async () => {
    const bad = await env.api('POST', '/api/tasks', { repo: 'demo' });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('title');
    const unknown = await env.api('POST', '/api/tasks', { repo: 'nope', title: 'x' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/unknown repo "nope"/);
    expect((await env.api('GET', '/api/tasks/NOPE-1')).status).toBe(404);
  });
});
