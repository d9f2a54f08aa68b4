// Critical windows and repo locks. Inside a critical window (merge, deploy) the step runs to its
// honest end; a STOP that arrives meanwhile is applied right after.
import { CancellationScope, condition, getExternalWorkflowHandle } from '@temporalio/workflow';
import { releaseSignal } from '../contracts/index.js';
import { records } from './activities.js';
import type { PlannedTask } from './planned.js';

export async function critical<T>(t: PlannedTask, fn: () => Promise<T>): Promise<T> {
  const { run } = t;
  run.state.inCriticalWindow = true;
  run.refresh();
  try {
    return await CancellationScope.nonCancellable(fn);
  } finally {
    run.state.inCriticalWindow = false;
    run.refresh();
    if (run.state.pendingStop) run.pipeline.cancel();
  }
}

/** Runs `fn` holding the repo's `purpose` lock (a repoLock workflow); always gives it back. */
export async function withLock<T>(t: PlannedTask, purpose: string, fn: () => Promise<T>): Promise<T> {
  const { run } = t;
  const holderWorkflowId = run.info.workflowId;
  // The lock's id comes from the activity (recorded in history), never from where this code runs.
  let lockId: string | undefined;
  try {
    await t.event('lock-requested', run.state.stage, { purpose });
    ({ lockId } = await records.requestLock({ repo: run.repo, holderWorkflowId, purpose }));
    const id = lockId;
    await condition(() => run.grantedLocks.has(id));
    await t.event('lock-acquired', run.state.stage, { lockId });
    return await fn();
  } finally {
    if (lockId) {
      const id = lockId;
      run.grantedLocks.delete(id);
      await CancellationScope.nonCancellable(() => getExternalWorkflowHandle(id).signal(releaseSignal, { holderWorkflowId })).catch(() => undefined);
    }
  }
}
