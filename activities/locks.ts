// Hosts and repo locks: which host runs a stage, and the queue on a repo's lock workflow.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import {
  acquireSignal,
  hostTaskQueue,
  lockWorkflowId,
  workflowTypes,
  type CoordinationActivities,
  type LockRequest,
  type RepoLockWorkflow,
} from '../workflows/contracts/index.js';
import type { ActivityDeps } from './deps.js';
import { heartbeating } from './heartbeat.js';

export function createLockActivities(deps: Pick<ActivityDeps, 'hostId' | 'taskQueue' | 'client' | 'heartbeatEveryMs'>): CoordinationActivities {
  const { client } = deps;
  return {
    async pickHost() {
      return { hostId: deps.hostId, taskQueue: hostTaskQueue(deps.hostId) };
    },

    async requestLock({ repo, holderWorkflowId, purpose }) {
      const lockId = lockWorkflowId(deps.taskQueue, purpose, repo);
      await client.workflow.signalWithStart<RepoLockWorkflow, [LockRequest]>(workflowTypes.repoLock, {
        workflowId: lockId,
        taskQueue: deps.taskQueue,
        args: [undefined],
        signal: acquireSignal,
        signalArgs: [{ holderWorkflowId, purpose }],
        staticSummary: `lock ${lockId}`,
      });
      return { lockId };
    },

    async awaitWorkflowClosed(workflowId) {
      const ctx = Context.current();
      await heartbeating(deps.heartbeatEveryMs, async () => {
        const result = client.workflow
          .getHandle(workflowId)
          .result()
          .then(
            () => undefined,
            (err) => {
              if (err instanceof WorkflowNotFoundError) return;
              // A failed, cancelled or terminated workflow is closed too: only transport errors are retried.
              if (err && typeof err === 'object' && 'name' in err && String(err.name).startsWith('Workflow')) return;
              throw err;
            },
          );
        await Promise.race([result, ctx.cancelled]);
      });
    },
  };
}
