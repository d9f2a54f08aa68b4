// GET /queue's `reconciler` block: the Plane reconciler's schedule (interval, next run) and its
// newest runs, with what the last finished one acted on. Read from Temporal (the schedule and
// its workflows' results): nothing of it is stored by orch.
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { planeReconcileScheduleId, type PlaneReconcileReport } from '../../workflows/contracts/index.js';

export async function reconcilerSection(d: { client: Client; taskQueue: string }) {
  const scheduleId = planeReconcileScheduleId(d.taskQueue);
  let desc;
  try {
    desc = await d.client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return { enabled: false as const, scheduleId };
    throw err;
  }
  const runs = desc.info.recentActions
    .map((a) => ({ scheduledAt: a.scheduledAt.toISOString(), workflowId: a.action.workflow.workflowId, runId: a.action.workflow.firstExecutionRunId }))
    .reverse();
  let lastRun: ((typeof runs)[number] & { status: string; report?: PlaneReconcileReport }) | null = null;
  // The newest run that has finished (at most a few describes: runs are minutes apart, or SKIPped).
  for (const run of runs.slice(0, 3)) {
    const h = d.client.workflow.getHandle(run.workflowId, run.runId);
    const status = (await h.describe().catch(() => null))?.status.name ?? 'UNKNOWN';
    if (status === 'RUNNING') continue;
    lastRun = { ...run, status };
    if (status === 'COMPLETED') lastRun.report = (await h.result().catch(() => undefined)) as PlaneReconcileReport | undefined;
    break;
  }
  return {
    enabled: true as const,
    scheduleId,
    intervalMs: desc.spec.intervals?.[0]?.every ?? null,
    paused: desc.state.paused,
    running: desc.info.runningActions.length > 0,
    nextRunAt: desc.info.nextActionTimes[0]?.toISOString() ?? null,
    lastRun,
    actionsTaken: desc.info.numActionsTaken,
  };
}
