// STOP: the `stop` signal and Temporal's own cancellation converge on requestStop. Outside a
// critical window it cancels the pipeline's scope and kills the agent on its host at once.
import { CancellationScope, setHandler } from '@temporalio/workflow';
import { agentProgressSignal, dependencyEndedSignal, isTerminal, lockGrantedSignal, stateQuery, stopSignal, type StopRequest } from '../contracts/index.js';
import { onHost, records } from './activities.js';
import { handleApprovals } from './approval-stage.js';
import type { TaskRun } from './run.js';

export function handleMessages(run: TaskRun): void {
  setHandler(stopSignal, (req) => requestStop(run, req ?? {}, 'signal'));
  setHandler(lockGrantedSignal, ({ lockId }) => void run.grantedLocks.add(lockId));
  setHandler(dependencyEndedSignal, () => void (run.dependencyEnded = true));
  setHandler(stateQuery, () => run.state);
  handleApprovals(run);
  setHandler(agentProgressSignal, (progress) => {
    // Only the running agent's: a late signal from an attempt that already ended is dropped.
    if (!run.agentRunning || progress.stage !== run.state.stage) return;
    run.state.progress = progress;
    run.refresh();
  });
  CancellationScope.current().cancelRequested.catch(() =>
    requestStop(run, { reason: 'temporal workflow cancel', requestedBy: 'temporal' }, 'temporal'),
  );
}

function requestStop(run: TaskRun, req: StopRequest, source: 'signal' | 'temporal'): void {
  const { state } = run;
  if (state.pendingStop || isTerminal(state.status)) return;
  state.pendingStop = { reason: req.reason, requestedBy: req.requestedBy, requestedAt: new Date().toISOString() };
  if (source === 'temporal') run.cancelledByTemporal = true;
  // Recorded at once, so operators see a STOP deferred by a critical window.
  if (run.taskId) {
    const id = run.taskId;
    const at = state.pendingStop.requestedAt;
    void CancellationScope.nonCancellable(() => records.updateTask(id, { cancelRequestedAt: at })).catch(() => undefined);
  }
  if (!state.inCriticalWindow) {
    run.pipeline.cancel();
    // Fast path: do not wait for the heartbeat to carry the cancellation; kill the agent on its host now.
    const { host, plan } = run;
    if (run.agentRunning && host && plan) {
      run.fastKill = CancellationScope.nonCancellable(() => onHost(plan, host, { summary: `${run.key}: kill agent` }).killAgent({ key: run.key })).catch(
        () => undefined,
      );
    }
  }
  run.refresh();
}
