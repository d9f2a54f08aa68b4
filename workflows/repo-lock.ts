// A FIFO lock held by one workflow at a time, itself a workflow (one per lock id, e.g. `lock-merge-demo`).
// Holders ask with the `acquire` signal (sent through signalWithStart by an activity), are told with
// `lockGranted`, and give it back with `release`. A holder that closes without releasing loses the lock.
import {
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  acquireSignal,
  lockGrantedSignal,
  lockStateQuery,
  releaseSignal,
  type CoordinationActivities,
  type LockState,
  type RepoLockWorkflow,
} from './contracts/index.js';

const { awaitWorkflowClosed } = proxyActivities<CoordinationActivities>({
  startToCloseTimeout: '365d',
  heartbeatTimeout: '30s',
  cancellationType: 'TRY_CANCEL',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

const GRANTS_BEFORE_CONTINUE_AS_NEW = 200;

export const repoLock: RepoLockWorkflow = async function repoLock(carried) {
  const state: LockState = { lockId: workflowInfo().workflowId, holder: null, waiters: [...(carried?.waiters ?? [])], granted: 0 };
  const released = new Set<string>();
  setHandler(lockStateQuery, () => state);
  setHandler(acquireSignal, (req) => {
    const known = state.holder?.holderWorkflowId === req.holderWorkflowId || state.waiters.some((w) => w.holderWorkflowId === req.holderWorkflowId);
    if (!known) state.waiters.push({ ...req, since: new Date().toISOString() });
  });
  setHandler(releaseSignal, ({ holderWorkflowId }) => {
    // A waiter that gives up (e.g. it was stopped while queued) simply leaves the queue.
    state.waiters = state.waiters.filter((w) => w.holderWorkflowId !== holderWorkflowId);
    if (state.holder?.holderWorkflowId === holderWorkflowId) released.add(holderWorkflowId);
  });

  while (state.granted < GRANTS_BEFORE_CONTINUE_AS_NEW) {
    // Idle for a while with nobody waiting: the lock workflow ends; the next acquire starts it again.
    if (!(await condition(() => state.waiters.length > 0, '1h'))) return;
    const next = state.waiters.shift()!;
    state.holder = next;
    state.granted++;
    try {
      await getExternalWorkflowHandle(next.holderWorkflowId).signal(lockGrantedSignal, { lockId: state.lockId });
    } catch {
      state.holder = null; // the holder is gone already
      continue;
    }
    // Held until released, or until the holder's workflow closes (it died holding the lock).
    const watch = new CancellationScope();
    const closed = watch.run(() => awaitWorkflowClosed(next.holderWorkflowId)).then(
      () => true,
      (err) => (isCancellation(err) ? false : true),
    );
    await Promise.race([condition(() => released.has(next.holderWorkflowId)), closed]);
    watch.cancel();
    released.delete(next.holderWorkflowId);
    state.holder = null;
  }
  await continueAsNew<typeof repoLock>({ waiters: state.waiters });
};
