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

/** How long a host-bound activity may wait in its host's queue: the queue dies with its host. */
const hostQueueWait = (plan: PipelinePlan) => Math.min(Math.max(2 * msToNumber(plan.timeouts.heartbeat), 10_000), 60_000);

/** The short activities bound to one host: worktree, gate, push, kill, cleanup. */
export function onHost(plan: PipelinePlan, host: HostRef, opts: Pick<ActivityOptions, 'activityId' | 'summary'> = {}) {
  return proxyActivities<HostActivities>({
    taskQueue: host.taskQueue,
    // A task waiting there too long moves to another host.
    scheduleToStartTimeout: hostQueueWait(plan),
    // Host activities heartbeat while they work: a dead host shows within one heartbeat timeout.
    heartbeatTimeout: plan.timeouts.heartbeat,
    startToCloseTimeout: '30m',
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 5 },
    ...opts,
  });
}

/**
 * The agent run: one activity attempt; the workflow decides about retries and about moving hosts.
 * `firstOnHost`: nothing has heard from the host since the stage began (the run checks its own
 * worktree), so its queue gets a host activity's wait, and a dead host shows as soon.
 */
export function agentOn(plan: PipelinePlan, host: HostRef, opts: { activityId: string; summary: string; timeout: string; firstOnHost?: boolean }) {
  return proxyActivities<HostActivities>({
    taskQueue: host.taskQueue,
    activityId: opts.activityId,
    summary: opts.summary,
    heartbeatTimeout: plan.timeouts.heartbeat,
    startToCloseTimeout: opts.timeout,
    scheduleToStartTimeout: opts.firstOnHost ? hostQueueWait(plan) : '10m',
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
