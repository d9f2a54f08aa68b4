// requestLock and awaitWorkflowClosed over a stubbed Temporal client, in a mock activity context.
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { DefaultLogger } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createLockActivities } from '../../activities/locks.js';
import { acquireSignal } from '../../workflows/contracts/index.js';

const deps = (client: unknown) => ({ hostId: 'box-a', taskQueue: 'orch-test', client: client as Client, heartbeatEveryMs: 50 });

describe('requestLock', () => {
  it('signals acquire, starting the repo lock workflow if needed', async () => {
    const calls: [unknown, Record<string, unknown>][] = [];
    const client = { workflow: { signalWithStart: async (type: unknown, opts: Record<string, unknown>) => void calls.push([type, opts]) } };
    const res = await createLockActivities(deps(client)).requestLock({ repo: 'demo', holderWorkflowId: 'task-A-1', purpose: 'merge' });
    expect(res).toEqual({ lockId: 'lock-orch-test-merge-demo' });
    expect(calls).toEqual([
      [
        'repoLock',
        {
          workflowId: 'lock-orch-test-merge-demo',
          taskQueue: 'orch-test',
          args: [undefined],
          signal: acquireSignal,
          signalArgs: [{ holderWorkflowId: 'task-A-1', purpose: 'merge' }],
          staticSummary: 'lock lock-orch-test-merge-demo',
        },
      ],
    ]);
    expect(acquireSignal.name).toBe('acquire');
  });
});

describe('awaitWorkflowClosed', () => {
  const closedWith = (outcome: () => Promise<unknown>) => ({ workflow: { getHandle: () => ({ result: outcome }) } });

  it('returns once the workflow closed, however it ended, heartbeating meanwhile', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const slow = () => new Promise((r) => setTimeout(r, 180));
    await env.run(createLockActivities(deps(closedWith(slow))).awaitWorkflowClosed, 'task-A-1');
    expect(beats.length).toBeGreaterThanOrEqual(2);

    const failed = () => Promise.reject(new WorkflowFailedError('terminated', undefined, 'TERMINATED' as never));
    await env.run(createLockActivities(deps(closedWith(failed))).awaitWorkflowClosed, 'task-A-1');
    const gone = () => Promise.reject(new WorkflowNotFoundError('not found', 'task-A-1', undefined));
    await env.run(createLockActivities(deps(closedWith(gone))).awaitWorkflowClosed, 'task-A-1');
  });

  it('fails (to be retried) on a transport error', async () => {
    const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    const down = () => Promise.reject(new Error('14 UNAVAILABLE'));
    await expect(env.run(createLockActivities(deps(closedWith(down))).awaitWorkflowClosed, 'task-A-1')).rejects.toThrow('UNAVAILABLE');
  });
});
