// How a task ends: done (work merged and deployed), failed (with its reason), or cancelled (a STOP,
// after compensation). Each ending cleans up and records itself whatever a STOP does meanwhile.
import { CancellationScope, CancelledFailure, isCancellation, patched } from '@temporalio/workflow';
import type { StopRequest, TaskResult } from '../contracts/index.js';
import { records } from './activities.js';
import { compensate, removeWorktrees } from './compensation.js';
import type { PlannedTask } from './planned.js';

/** Tasks waiting for this one re-check at once (added later: older histories do not wake them). */
const wakeDependents = (t: PlannedTask) =>
  patched('wake-dependents') ? records.wakeDependents(t.key).catch(() => 0) : Promise.resolve(0);

export async function finishDone(t: PlannedTask): Promise<TaskResult> {
  const { run, state } = t;
  // The work is on the default branch; clean the worktree and the merged feature branch.
  await CancellationScope.nonCancellable(async () => {
    await removeWorktrees(t, 'clean up worktree');
    await records.deleteFeatureBranch({ repo: run.repo, key: t.key });
    state.status = 'done';
    state.stage = null;
    run.refresh();
    await records.updateTask(t.taskId, { status: 'done', stage: null, finishedAt: new Date().toISOString() });
    await t.event('done', null, { sha: run.mergedSha });
    await wakeDependents(t);
  });
  run.notify({ kind: 'done', key: t.key, sha: run.mergedSha, ...(state.usage && { usage: state.usage }) });
  await run.notices;
  return { key: t.key, status: 'done', failureReason: null, compensation: [] };
}

export async function finishFailed(t: PlannedTask, err: unknown): Promise<TaskResult> {
  const { run, state } = t;
  state.status = 'failed';
  state.failureReason = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
  run.refresh();
  await CancellationScope.nonCancellable(async () => {
    await removeWorktrees(t, 'clean up worktree');
    await records.updateTask(t.taskId, { status: 'failed', failureReason: state.failureReason, finishedAt: new Date().toISOString() });
    await t.event('failed', state.stage, { reason: state.failureReason });
  });
  run.notify({ kind: 'failed', key: t.key, reason: state.failureReason, ...(state.usage && { usage: state.usage }) });
  await run.notices;
  return { key: t.key, status: 'failed', failureReason: state.failureReason, compensation: [] };
}

export async function finishCancelled(t: PlannedTask, stop: StopRequest & { requestedAt: string }, err: unknown): Promise<TaskResult> {
  const { run, state } = t;
  await t.update({ cancelRequestedAt: stop.requestedAt });
  await t.event('stop-requested', state.stage, { ...stop });
  const results = await compensate(t);
  state.status = 'cancelled';
  run.refresh();
  await CancellationScope.nonCancellable(async () => {
    await t.event('cancelled', state.stage, { reason: stop.reason ?? null, requestedBy: stop.requestedBy ?? null, compensation: results });
    await records.markCancelled(t.taskId, new Date().toISOString());
    await wakeDependents(t);
  });
  run.notify({ kind: 'cancelled', key: t.key, reason: stop.reason ?? null, requestedBy: stop.requestedBy ?? null, compensation: results, ...(t.state.usage && { usage: t.state.usage }) });
  await CancellationScope.nonCancellable(() => run.notices);
  // `temporal workflow cancel` ends the execution Canceled, whatever error the pipeline ended with
  // (after the fast kill the agent activity may fail before the cancel request reaches it).
  if (run.cancelledByTemporal) throw isCancellation(err) ? err : new CancelledFailure('cancelled by temporal workflow cancel');
  return { key: t.key, status: 'cancelled', failureReason: null, compensation: results };
}
