// STOP on the real stack: every entry point, critical windows, guards and idempotency.
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fetchMirror, mirrorPath } from '../../activities/adapters/git.js';
import { groupMembers } from '../../activities/adapters/process-tree.js';
import { projectDir } from '../../worker/config/project-dir.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { exportAndReplay } from '../support/histories.js';
import { branchSha, readHookLog, setPushDelay } from '../support/git-fixtures.js';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';

const exists = (p: string) => access(p).then(() => true, () => false);
/** An agent that hangs in development, ignores SIGTERM and leaves a grandchild: the hard case. */
const STUBBORN = '@agent hang=development ignore-sigterm=development grandchild=development';

describe('STOP', () => {
  let env: TestEnv;
  const hostId = () => `${env.id.slice(0, 12)}-a`;
  const temporal = (...args: string[]) =>
    execa(inject('temporalCliPath'), [...args, '--address', inject('temporalAddress'), '--namespace', inject('temporalNamespace')]);

  beforeAll(async () => {
    env = await createTestEnv('stop', { killGraceMs: 1000 });
  });
  afterAll(async () => env?.cleanup());

  /** Starts a task whose development agent hangs, and returns once that agent runs. */
  const startHanging = async (key: string) => {
    await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `stop ${key}`, description: STUBBORN });
    const task = await env.until('the task row', () => env.records.taskByKey(key));
    const job = await env.until('the development agent', async () =>
      (await env.records.jobsOf(task.id)).find((j) => j.stage === 'development' && j.status === 'running'),
    );
    // The grandchild is up once the agent printed it.
    await env.until('the grandchild', async () => (await readFile(job.logFile!, 'utf8')).includes('grandchild pid='));
    expect(groupMembers(job.pid!).length).toBeGreaterThanOrEqual(3);
    return { task, pgid: job.pid!, mainBefore: await branchSha(env.remote.path, 'main') };
  };

  /** Everything STOP promises, after the fact. */
  const expectCleanStop = async (key: string, run: { pgid: number; mainBefore: string | null }) => {
    const after = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(after.task.status).toBe('cancelled');
    expect(after.task.key).toMatch(new RegExp(`^${key}#cancelled-[0-9a-f-]{36}$`));
    expect(after.task.cancelledAt).toBeTruthy();
    expect(groupMembers(run.pgid)).toEqual([]);
    expect(after.jobs.filter((j: any) => j.status !== 'done').map((j: any) => j.status)).toEqual(['cancelled']);
    expect(await exists(path.join(env.dataDir, 'hosts', hostId(), 'worktrees', key))).toBe(false);
    expect(await branchSha(env.remote.path, `orch/${key}`)).toBeNull();
    expect(await branchSha(env.remote.path, 'main')).toBe(run.mainBefore);
    // The docs artefacts of the stages that ran are kept.
    expect(await exists(path.join(env.dataDir, 'artefacts', key, 'analysis.md'))).toBe(true);
    const steps = after.events.filter((e: any) => e.type === 'compensation').map((e: any) => [e.detail.step, e.detail.ok]);
    expect(steps).toEqual([
      ['kill-agent', true],
      ['cancel-jobs', true],
      ['remove-worktree', true],
      ['delete-branch', true],
    ]);
    expect((await readHookLog(env.remote)).filter((l) => l.startsWith('REJECT'))).toEqual([]);
    return after;
  };

  it('through the stop signal sent with the temporal CLI', async () => {
    const run = await startHanging('SIG-1');
    await temporal('workflow', 'signal', '--workflow-id', 'task-SIG-1', '--name', 'stop', '--input', '{"reason":"by signal","requestedBy":"cli"}');
    const after = await expectCleanStop('SIG-1', run);
    expect(after.events.find((e: any) => e.type === 'cancelled').detail).toMatchObject({ reason: 'by signal', requestedBy: 'cli' });
  });

  it('through temporal workflow cancel, ending the execution Canceled', async () => {
    const run = await startHanging('CAN-1');
    await temporal('workflow', 'cancel', '--workflow-id', 'task-CAN-1');
    await expectCleanStop('CAN-1', run);
    const desc = await env.client.workflow.getHandle('task-CAN-1').describe();
    expect(desc.status.name).toBe('CANCELLED');
  });

  it('through the API', async () => {
    const run = await startHanging('API-1');
    const res = await env.api('POST', '/api/tasks/API-1/stop', { reason: 'by api' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ key: 'API-1', outcome: 'stop-signalled' });
    await expectCleanStop('API-1', run);
  });

  it('through orch stop', async () => {
    const run = await startHanging('CLI-1');
    const r = await execa(process.execPath, ['--import', 'tsx', 'bin/orch.ts', 'stop', 'CLI-1', '--reason', 'by cli'], {
      cwd: projectDir,
      env: env.processEnv(),
      reject: false,
    });
    expect(r.exitCode).toBe(0);
    await expectCleanStop('CLI-1', run);
  });

  it('inside merge: the merge finishes, then the task is cancelled, and no deploy runs', async () => {
    await setPushDelay(env.remote, 3);
    try {
      await env.api('POST', '/api/tasks', { key: 'MERGE-1', repo: 'demo', title: 'stop in merge' });
      const task = await env.until('the task row', () => env.records.taskByKey('MERGE-1'));
      await env.until('the merge to start', async () => (await env.records.eventsOf(task.id)).some((e) => e.type === 'merge-started'));
      expect((await env.api('POST', '/api/tasks/MERGE-1/stop', { reason: 'in merge' })).status).toBe(202);
      // The STOP is visible as deferred while the merge runs.
      const during = await env.until('the deferred STOP to be recorded', async () => {
        const r = await env.api('GET', '/api/tasks/MERGE-1');
        return r.body.task.cancelRequestedAt && r.body.task.status === 'running' ? r.body : null;
      });
      expect(during.state.pendingStop).toMatchObject({ reason: 'in merge' });
      expect(during.state.inCriticalWindow).toBe(true);
    } finally {
      await setPushDelay(env.remote, 0);
    }
    const after = await env.waitForStatus('MERGE-1', TERMINAL_STATUSES);
    expect(after.task.status).toBe('cancelled');
    expect(new Date(after.task.cancelRequestedAt).getTime()).toBeLessThan(new Date(after.task.cancelledAt).getTime());
    const log = (await execa('git', ['log', '--format=%s', 'main'], { cwd: env.remote.path })).stdout;
    expect(log).toContain('Merge orch/MERGE-1');
    expect(after.events.map((e: any) => e.type)).not.toContain('deploy-started');
    expect((await readFile(env.deployLog, 'utf8').catch(() => '')).includes(' MERGE-1 ')).toBe(false);
    expect(await branchSha(env.remote.path, 'orch/MERGE-1')).toBeNull();
  });

  it('inside deploy: the deploy runs to completion exactly once, then the task is cancelled', async () => {
    const slow = await createTestEnv('stopdeploy', { deploySleep: 3 });
    try {
      await slow.api('POST', '/api/tasks', { key: 'DEP-1', repo: 'demo', title: 'stop in deploy' });
      const task = await slow.until('the task row', () => slow.records.taskByKey('DEP-1'));
      await slow.until('the deploy to start', async () => (await slow.records.eventsOf(task.id)).some((e) => e.type === 'deploy-started'));
      expect((await slow.api('POST', '/api/tasks/DEP-1/stop', {})).status).toBe(202);
      const after = await slow.waitForStatus('DEP-1', TERMINAL_STATUSES);
      expect(after.task.status).toBe('cancelled');
      expect(after.events.map((e: any) => e.type)).toContain('deploy-finished');
      const deploys = (await readFile(slow.deployLog, 'utf8')).split('\n').filter((l) => l.includes(' DEP-1 '));
      expect(deploys).toHaveLength(1);
    } finally {
      await slow.cleanup();
    }
  });

  it('twice is one compensation', async () => {
    const run = await startHanging('TWICE-1');
    const [a, b] = await Promise.all([
      env.api('POST', '/api/tasks/TWICE-1/stop', { reason: 'first' }),
      env.api('POST', '/api/tasks/TWICE-1/stop', { reason: 'second' }),
    ]);
    expect([a.status, b.status].sort()).toEqual([202, 202]);
    const after = await expectCleanStop('TWICE-1', run);
    expect(after.events.filter((e: any) => e.type === 'cancelled')).toHaveLength(1);
  });

  it('before any agent started compensates what exists', async () => {
    await env.api('POST', '/api/tasks', { key: 'EARLY-1', repo: 'demo', title: 'waits', dependsOn: ['NEVER-1'] });
    await env.until('the task row', () => env.records.taskByKey('EARLY-1'));
    expect((await env.api('POST', '/api/tasks/EARLY-1/stop', {})).status).toBe(202);
    const after = await env.waitForStatus('EARLY-1', TERMINAL_STATUSES);
    expect(after.task.status).toBe('cancelled');
    const steps = after.events.filter((e: any) => e.type === 'compensation').map((e: any) => e.detail);
    expect(steps.map((s: any) => [s.step, s.ok])).toEqual([
      ['kill-agent', true],
      ['cancel-jobs', true],
      ['remove-worktree', true],
      ['delete-branch', true],
    ]);
    expect(steps[0].detail).toMatch(/no agent ran/);
    expect(after.jobs).toEqual([]);
  });

  it('of a finished task is 409 with its state, and changes nothing', async () => {
    await env.api('POST', '/api/tasks', { key: 'FIN-1', repo: 'demo', title: 'finishes' });
    const done = await env.waitForStatus('FIN-1', TERMINAL_STATUSES);
    expect(done.task.status).toBe('done');
    const res = await env.api('POST', '/api/tasks/FIN-1/stop', {});
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ key: 'FIN-1', status: 'done' });
    const again = await env.api('GET', '/api/tasks/FIN-1');
    expect(again.body.task).toEqual(done.task);
    // A cancelled (tombstoned) task answers 409 too.
    const res2 = await env.api('POST', '/api/tasks/SIG-1/stop', {});
    expect(res2.status).toBe(409);
    expect(res2.body.status).toBe('cancelled');
  });

  it('of an unknown key is 404', async () => {
    const res = await env.api('POST', '/api/tasks/NOSUCH-1/stop', {});
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(/unknown task NOSUCH-1/);
  });

  it('frees the key: the same key starts a new task from scratch', async () => {
    const res = await env.api('POST', '/api/tasks', { key: 'API-1', repo: 'demo', title: 'again' });
    expect(res.status).toBe(202);
    expect(res.body.existing).toBe(false);
    const done = await env.waitForStatus('API-1', ['done', 'failed']);
    expect(done.task.status).toBe('done');
    expect(done.task.key).toBe('API-1');
  });

  it('after temporal workflow terminate, reconcile removes the process, the worktree and the branch', async () => {
    const run = await startHanging('TERM-1');
    expect(await branchSha(env.remote.path, 'orch/TERM-1')).not.toBeNull();
    // The host's mirror learns of the branch when a stage there fetches; a stage whose clone was
    // clean at the last push fetches nothing. Fetch, as any other task's next stage would, so the
    // sweep below has the branch's mirror ref to remove.
    await fetchMirror(mirrorPath(path.join(env.dataDir, 'hosts', hostId(), 'mirrors'), env.remote.path));
    await temporal('workflow', 'terminate', '--workflow-id', 'task-TERM-1', '--reason', 'test');
    const res = await fetch(`${env.apiUrl}/api/reconcile`, { method: 'POST' });
    expect(res.status).toBe(200);
    const report = (await res.json()) as any;
    expect(report.tasks.closed).toEqual([{ key: 'TERM-1', workflowStatus: 'TERMINATED', status: 'cancelled' }]);
    expect(report.branches.deleted).toContain('demo:orch/TERM-1');
    await env.until('the agent group to be gone', async () => groupMembers(run.pgid).length === 0, 10_000);
    expect(await exists(path.join(env.dataDir, 'hosts', hostId(), 'worktrees', 'TERM-1'))).toBe(false);
    expect(await branchSha(env.remote.path, 'orch/TERM-1')).toBeNull();
    const row = (await env.api('GET', '/api/tasks/TERM-1')).body.task;
    expect(row.status).toBe('cancelled');
    expect(row.key).toMatch(/^TERM-1#cancelled-/);
    // Nothing of the task is left on the host: no mirror ref of its branch, no private HOME.
    const onHost = report.hosts.find((h: any) => h.host === hostId());
    expect(onHost.mirrorRefsRemoved).toEqual([expect.stringMatching(/:orch\/TERM-1$/)]);
    expect(await exists(path.join(env.dataDir, 'hosts', hostId(), 'homes', 'TERM-1'))).toBe(false);
    // A second sweep finds nothing, and says so.
    const again = (await (await fetch(`${env.apiUrl}/api/reconcile`, { method: 'POST' })).json()) as any;
    expect(again.hosts.find((h: any) => h.host === hostId())).toMatchObject({ agentGroupsKilled: 0, worktreesRemoved: [], mirrorRefsRemoved: [], summary: 'nothing to kill or remove' });
  });

  it('replays the histories it recorded (no non-determinism)', async () => {
    let reconcileId: string | undefined;
    for await (const w of env.client.workflow.list({ query: `WorkflowType='reconcile' AND TaskQueue='${env.taskQueue}'` })) reconcileId = w.workflowId;
    const failures = await exportAndReplay([
      { workflowId: 'task-SIG-1', fixture: 'task-stopped-by-signal' },
      { workflowId: 'task-CAN-1', fixture: 'task-cancelled-by-temporal' },
      { workflowId: 'task-MERGE-1', fixture: 'task-stopped-in-merge' },
      { workflowId: 'task-EARLY-1', fixture: 'task-stopped-before-start' },
      ...(reconcileId ? [{ workflowId: reconcileId, fixture: 'reconcile' }] : []),
    ]);
    expect(reconcileId).toBeTruthy();
    expect(failures).toEqual([]);
  });
});

describe('STOP never deletes the default branch', () => {
  it('refuses, records the refusal, and still ends cancelled', async () => {
    // A crafted repo whose default branch is the task's feature branch name.
    const env = await createTestEnv('stopdefault', { defaultBranch: 'orch/EVIL-1' });
    try {
      await env.api('POST', '/api/tasks', { key: 'EVIL-1', repo: 'demo', title: 'crafted', description: '@agent hang=design' });
      const task = await env.until('the task row', () => env.records.taskByKey('EVIL-1'));
      await env.until('the design agent', async () => (await env.records.jobsOf(task.id)).some((j) => j.stage === 'design' && j.status === 'running'));
      const before = await branchSha(env.remote.path, 'orch/EVIL-1');
      await env.api('POST', '/api/tasks/EVIL-1/stop', {});
      const after = await env.waitForStatus('EVIL-1', TERMINAL_STATUSES);
      expect(after.task.status).toBe('cancelled');
      const del = after.events.find((e: any) => e.type === 'compensation' && e.detail.step === 'delete-branch');
      expect(del.detail.ok).toBe(false);
      expect(del.detail.detail).toMatch(/refused/);
      expect(del.detail.detail).toMatch(/default branch/);
      expect(await branchSha(env.remote.path, 'orch/EVIL-1')).toBe(before);
      expect((await readHookLog(env.remote)).filter((l) => l.startsWith('REJECT'))).toEqual([]);
    } finally {
      await env.cleanup();
    }
  });
});
