// The bench's own workflows: the baselines orch is compared with, on the same Temporal server.
// Deterministic workflow code: only @temporalio/workflow and types may be imported here.
import { CancellationScope, condition, defineSignal, defineUpdate, isCancellation, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { BenchActivities } from './activities.js';

export const goSignal = defineSignal('go');
export const stopSignal = defineSignal('stop');

/**
 * B1 and B9 floor: the least any "signal (B1) or update (B9) → do something on a worker" design can
 * cost on this server. Reports that it is waiting, waits for `go`, then runs one activity that stamps the time.
 */
export async function floorWorkflow(): Promise<void> {
  const { ready, stamp } = proxyActivities<BenchActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 1 } });
  let go = false;
  setHandler(goSignal, () => {
    go = true;
  });
  setHandler(goUpdate, () => {
    go = true;
  });
  const id = workflowInfo().workflowId;
  await ready(id);
  await condition(() => go);
  await stamp(id);
}

export const goUpdate = defineUpdate<void>('go');

/**
 * B1 naive design: STOP cancels the scope of a heartbeating activity and nothing else, so the
 * activity learns of it only from a heartbeat response (the worker keeps the SDK's default throttle).
 */
export async function naiveWorkflow(heartbeatTimeoutMs: number, beatEveryMs: number): Promise<void> {
  const { heartbeatingAgent } = proxyActivities<BenchActivities>({
    heartbeatTimeout: heartbeatTimeoutMs,
    startToCloseTimeout: '10m',
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    retry: { maximumAttempts: 1 },
  });
  const scope = new CancellationScope();
  setHandler(stopSignal, () => scope.cancel());
  try {
    await scope.run(() => heartbeatingAgent(workflowInfo().workflowId, beatEveryMs));
  } catch (err) {
    if (!isCancellation(err)) throw err;
  }
}

/** B3 baseline: `n` no-op activities in a row. */
export async function noopActivitiesWorkflow(n: number): Promise<void> {
  const { noop } = proxyActivities<BenchActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 1 } });
  for (let i = 0; i < n; i++) await noop();
}
