// Two tasks of one repo reach merge together: the per-repo merge lock serializes them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockStateQuery, lockWorkflowId, TERMINAL_STATUSES, acquireSignal, releaseSignal, taskWorkflowId, workflowTypes, type LockRequest, type RepoLockWorkflow } from '../../workflows/contracts/index.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { exportAndReplay } from '../support/histories.js';
import { gitIn } from '../support/git-fixtures.js';

describe('merge lock', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('mergelock');
  });
  afterAll(async () => env?.cleanup());

  it('serializes the merges of two tasks that reach merge together', async () => {
    // A task that waits forever for a dependency stands in as the lock's first holder, so that both
    // tasks are certain to reach merge while the lock is taken and queue up behind it.
    await env.api('POST', '/api/tasks', { key: 'HOLDER-1', repo: 'demo', title: 'holds the lock', dependsOn: ['NEVER-1'] });
    const lockId = lockWorkflowId(env.taskQueue, 'merge', 'demo');
    await env.client.workflow.signalWithStart<RepoLockWorkflow, [LockRequest]>(workflowTypes.repoLock, {
      workflowId: lockId,
      taskQueue: env.taskQueue,
      args: [undefined],
      signal: acquireSignal,
      signalArgs: [{ holderWorkflowId: taskWorkflowId('HOLDER-1'), purpose: 'test' }],
    });
    const lock = env.client.workflow.getHandle(lockId);
    await env.until('the holder to hold the lock', async () => (await lock.query(lockStateQuery)).holder?.holderWorkflowId === 'task-HOLDER-1');

    await Promise.all(['M-1', 'M-2'].map((key) => env.api('POST', '/api/tasks', { key, repo: 'demo', title: `task ${key}` })));
    const waiting = await env.until('both tasks to wait for the lock', async () => {
      const s = await lock.query(lockStateQuery);
      return s.waiters.length === 2 ? s : null;
    });
    expect(waiting.waiters.map((w) => w.holderWorkflowId).sort()).toEqual(['task-M-1', 'task-M-2']);

    await lock.signal(releaseSignal, { holderWorkflowId: taskWorkflowId('HOLDER-1') });
    const [a, b] = await Promise.all(['M-1', 'M-2'].map((k) => env.waitForStatus(k, TERMINAL_STATUSES)));
    expect([a.task.status, b.task.status]).toEqual(['done', 'done']);

    const window = (r: any) => {
      const at = (type: string) => new Date(r.events.find((e: any) => e.type === type).createdAt).getTime();
      return { start: at('merge-started'), end: at('merge-finished') };
    };
    const [wa, wb] = [window(a), window(b)].sort((x, y) => x.start - y.start);
    expect(wb!.start).toBeGreaterThanOrEqual(wa!.end); // no overlap
    const log = await gitIn(env.remote.path, 'log', '--format=%s', 'main');
    expect(log).toContain('Merge orch/M-1');
    expect(log).toContain('Merge orch/M-2');

    await env.client.workflow.getHandle('task-HOLDER-1').terminate('test over');
  });

  it('replays the histories it recorded (no non-determinism)', async () => {
    const failures = await exportAndReplay([
      { workflowId: 'task-M-1', fixture: 'task-merged-behind-lock' },
      { workflowId: lockWorkflowId(env.taskQueue, 'merge', 'demo'), fixture: 'repo-lock' },
    ]);
    expect(failures).toEqual([]);
  });
});
