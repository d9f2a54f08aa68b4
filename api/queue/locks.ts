// /queue `locks`: the repo lock workflows of this deployment (its task queue), who holds each and who waits.
import type { Client } from '@temporalio/client';
import pLimit from 'p-limit';
import { keyOfTaskWorkflowId, lockStateQuery, workflowTypes, type RepoLockWorkflow } from '../../workflows/contracts/index.js';
import { messageOf } from '../errors.js';
import { withDeadline } from './temporal-calls.js';

const MAX_LOCKS = 200;

export async function locksSection(d: { client: Client; taskQueue: string }) {
  const quoted = d.taskQueue.replace(/'/g, "\\'");
  const found: { workflowId: string; runId: string; startTime: Date }[] = [];
  for await (const wf of d.client.workflow.list({
    query: `WorkflowType='${workflowTypes.repoLock}' AND ExecutionStatus='Running' AND TaskQueue='${quoted}'`,
  })) {
    found.push({ workflowId: wf.workflowId, runId: wf.runId, startTime: wf.startTime });
    if (found.length >= MAX_LOCKS) break;
  }
  found.sort((a, b) => a.workflowId.localeCompare(b.workflowId));
  return pLimit(8).map(found, async (wf) => {
    try {
      const s = await withDeadline(d.client, () => d.client.workflow.getHandle<RepoLockWorkflow>(wf.workflowId, wf.runId).query(lockStateQuery));
      return {
        lockId: s.lockId,
        workflowId: wf.workflowId,
        startedAt: wf.startTime,
        holder: s.holder ? { ...s.holder, taskKey: keyOfTaskWorkflowId(s.holder.holderWorkflowId) } : null,
        waiters: s.waiters.map((w) => ({ ...w, taskKey: keyOfTaskWorkflowId(w.holderWorkflowId) })),
        granted: s.granted,
      };
    } catch (err) {
      return { lockId: wf.workflowId, workflowId: wf.workflowId, startedAt: wf.startTime, holder: null, waiters: [], granted: null, error: messageOf(err) };
    }
  });
}
