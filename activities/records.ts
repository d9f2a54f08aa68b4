// The record activities: the task's rows in PostgreSQL (db/records.ts), written from the workflow.
import { WorkflowNotFoundError } from '@temporalio/client';
import { dependencyEndedSignal, type RecordActivities, type TaskPatch } from '../workflows/contracts/index.js';
import { activityKey, repoSpec, type ActivityDeps } from './deps.js';

/** The contract's ISO strings as the row's dates. */
const toDates = (patch: TaskPatch) => ({
  ...(patch.stage !== undefined && { stage: patch.stage }),
  ...(patch.runId !== undefined && { runId: patch.runId }),
  ...(patch.status !== undefined && { status: patch.status }),
  ...(patch.failureReason !== undefined && { failureReason: patch.failureReason }),
  ...(patch.cancelRequestedAt && { cancelRequestedAt: new Date(patch.cancelRequestedAt) }),
  ...(patch.cancelledAt && { cancelledAt: new Date(patch.cancelledAt) }),
  ...(patch.finishedAt && { finishedAt: new Date(patch.finishedAt) }),
});

/** Signals `dependencyEnded` to the running tasks that wait for `key`; returns how many were reached. */
export async function wakeDependentsOf({ records, client }: Pick<ActivityDeps, 'records' | 'client'>, key: string): Promise<number> {
  // A retry may signal a waiter twice: harmless, the waiter only re-reads the records.
  let signalled = 0;
  for (const waiter of await records.activeDependentsOf(key)) {
    try {
      // No run id: a waiter that continued-as-new is reached in its current run.
      await client.workflow.getHandle(waiter.workflowId).signal(dependencyEndedSignal, { key });
      signalled++;
    } catch (err) {
      // Closed (or never started): nobody is waiting there any more.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return signalled;
}

export function createRecordActivities(deps: Pick<ActivityDeps, 'pipeline' | 'records' | 'client'>): RecordActivities {
  const { pipeline, records, client } = deps;
  return {
    async planPipeline(repo) {
      return {
        repo: repoSpec(pipeline, repo),
        stages: pipeline.stages,
        attemptsPerStage: pipeline.attemptsPerStage,
        timeouts: pipeline.timeouts,
        ...(pipeline.budget && { budget: pipeline.budget }),
      };
    },

    async recordTask(input) {
      repoSpec(pipeline, input.repo);
      const row = await records.upsertTask(input);
      return { taskId: row.id };
    },

    async updateTask(taskId, patch, events = []) {
      const key = activityKey();
      await records.setTaskState(taskId, toDates(patch), events.map((e, i) => ({ ...e, dedupeKey: `${key}#${i}` })));
    },

    async recordEvent(e) {
      await records.recordEvent({ ...e, dedupeKey: activityKey() });
    },

    async finishJob(e) {
      await records.finishJob(e.activityKey, e.status, { detail: e.detail, supersede: e.supersede });
    },

    async dependencyStatuses(keys) {
      return records.statusesOf(keys);
    },

    wakeDependents: (key) => wakeDependentsOf(deps, key),

    async cancelJobs(taskId) {
      const n = await records.cancelJobs(taskId);
      return { step: 'cancel-jobs', ok: true, detail: `${n} job(s) cancelled` };
    },

    async markCancelled(taskId, at) {
      return records.tombstone(taskId, { status: 'cancelled', cancelledAt: new Date(at), finishedAt: new Date(at) });
    },
  };
}
