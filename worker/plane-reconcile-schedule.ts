// The Plane reconciler's Temporal Schedule: one per deployment (task queue), made idempotently at
// every worker start. Created when missing, its interval updated when ORCH_PLANE_RECONCILE_INTERVAL
// changed, deleted when the reconciler is off (or the Plane API is not configured). Overlap SKIP:
// a run still listing a large board is never doubled.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { planeReconcileScheduleId, workflowTypes, type PlaneReconcileWorkflow } from '../workflows/contracts/index.js';

export type ScheduleChange = 'created' | 'updated' | 'unchanged' | 'deleted' | 'absent';

/** `intervalMs` null: the reconciler is off. */
export async function ensurePlaneReconcileSchedule(client: Client, o: { taskQueue: string; intervalMs: number | null }): Promise<ScheduleChange> {
  const scheduleId = planeReconcileScheduleId(o.taskQueue);
  const handle = client.schedule.getHandle(scheduleId);
  if (o.intervalMs === null) {
    try {
      await handle.delete();
      return 'deleted';
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return 'absent';
      throw err;
    }
  }
  const every = o.intervalMs;
  const spec = { intervals: [{ every }], jitter: 0 };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: workflowTypes.planeReconcile,
    taskQueue: o.taskQueue,
    workflowId: `${scheduleId}-run`,
    // A run nobody picks up (no worker) ends, so the schedule's next one can start.
    workflowExecutionTimeout: Math.max(5 * 60_000, 2 * every),
  };
  try {
    await client.schedule.create<PlaneReconcileWorkflow>({
      scheduleId,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: Math.max(60_000, every) },
      state: { note: 'orch: the Plane reconciler (ORCH_PLANE_RECONCILE_INTERVAL)' },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const current = await handle.describe();
  const intervals = current.spec.intervals ?? [];
  if (intervals.length === 1 && Math.round(intervals[0]!.every / 1000) === Math.round(every / 1000) && current.action.taskQueue === o.taskQueue) return 'unchanged';
  await handle.update((prev) => ({ ...prev, spec, action }));
  return 'updated';
}
