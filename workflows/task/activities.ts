// How the task workflow calls its activities: one place for every timeout, retry and queue choice.
import { msToNumber } from '@temporalio/common/lib/time.js';
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { HostActivities, HostRef, PipelinePlan, SharedActivities } from '../contracts/index.js';

/** Records: retried until PostgreSQL answers again (a database restart must not fail a task). */
export const records = proxyActivities<SharedActivities>({
  // Short: a hung (not dead) worker that took one must not hold the task for long.
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '30m',
  cancellationType: 'WAIT_CANCELLATION_COMPLETED',
  retry: { initialInterval: '500ms', maximumInterval: '10s' },
});

/** Plane comments: retried for a while, never holding up the pipeline. */
export const plane = proxyActivities<SharedActivities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '15m',
  retry: { initialInterval: '2s', maximumInterval: '1m' },
});

/** The short activities bound to one host: worktree, gate, push, kill, cleanup. */
export function onHost(plan: PipelinePlan, host: HostRef, opts: Pick<ActivityOptions, 'activityId' | 'summary'> = {}) {
  const heartbeatMs = msToNumber(plan.timeouts.heartbeat);
  return proxyActivities<HostActivities>({
    taskQueue: host.taskQueue,
    // The host queue dies with its host: a task waiting there too long moves to another host.
    scheduleToStartTimeout: Math.min(Math.max(2 * heartbeatMs, 10_000), 60_000),
    // Host activities heartbeat while they work: a dead host shows within one heartbeat timeout.
    heartbeatTimeout: plan.timeouts.heartbeat,
    startToCloseTimeout: '30m',
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 5 },
    ...opts,
  });
}

/** The agent run: one activity attempt; the workflow decides about retries and about moving hosts. */
export function agentOn(plan: PipelinePlan, host: HostRef, opts: { activityId: string; summary: string; timeout: string }) {
  return proxyActivities<HostActivities>({
    taskQueue: host.taskQueue,
    activityId: opts.activityId,
    summary: opts.summary,
    heartbeatTimeout: plan.timeouts.heartbeat,
    startToCloseTimeout: opts.timeout,
    scheduleToStartTimeout: '10m',
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    retry: { maximumAttempts: 1 },
  });
}

/** The merge: retried on transient forge errors, never on a conflict; it heartbeats while it waits for the forge. */
export const merger = (plan: PipelinePlan, summary: string) =>
  proxyActivities<SharedActivities>({
    startToCloseTimeout: plan.timeouts.merge,
    heartbeatTimeout: plan.timeouts.heartbeat,
    summary,
    retry: { initialInterval: '2s', maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: ['MergeConflictError', 'BranchMovedError'] },
  });

/** The deploy: exactly once, never re-run behind the operator's back. */
export const deployer = (plan: PipelinePlan, summary: string) =>
  proxyActivities<SharedActivities>({
    startToCloseTimeout: plan.timeouts.deploy,
    heartbeatTimeout: plan.timeouts.heartbeat,
    summary,
    retry: { maximumAttempts: 1 },
  });
