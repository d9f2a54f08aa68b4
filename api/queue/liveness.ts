// /queue `liveness`: what each running task's workflow is doing now — its pending activities, where
// they run (host, pid) and how fresh their heartbeat is. A row whose workflow is not running is a ghost.
import { decodePendingActivityState, type Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time.js';
import { untombstone } from '../../db/records.js';
import type { Task } from '../../db/schema.js';
import { HOST_ACTIVITY_NAMES, hostTaskQueue, stateQuery, type TaskWorkflow } from '../../workflows/contracts/index.js';
import { messageOf } from '../errors.js';
import { decodeFirstPayload, withDeadline } from './temporal-calls.js';

const HOST_ACTIVITIES = new Set<string>(HOST_ACTIVITY_NAMES);

/** A protobuf Timestamp → epoch ms; null when unset (or zero). */
const msOf = (ts: Parameters<typeof optionalTsToMs>[0]): number | null => optionalTsToMs(ts) || null;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export async function livenessOf(d: { client: Client; taskQueue: string }, t: Task, now: number) {
  const base = { key: untombstone(t.key), workflowId: t.workflowId, status: t.status, stage: t.stage };
  const handle = d.client.workflow.getHandle<TaskWorkflow>(t.workflowId);
  let desc;
  try {
    desc = await withDeadline(d.client, () => handle.describe());
  } catch (err) {
    return { ...base, workflowStatus: null, ghost: true, error: messageOf(err), pendingActivities: [] };
  }
  const workflowStatus = desc.status.name;
  const pending = desc.raw.pendingActivities ?? [];
  // A host activity that has not heartbeated yet: its host is the one the workflow picked.
  let stateHost: Promise<string | null> | undefined;
  const hostFromState = () =>
    (stateHost ??= withDeadline(d.client, () => handle.query(stateQuery))
      .then((s) => s.host)
      .catch(() => null));
  const pendingActivities = await Promise.all(
    pending.map(async (a) => {
      const type = a.activityType?.name ?? 'unknown';
      const details = (await decodeFirstPayload(d.client, a.heartbeatDetails).catch(() => undefined)) as { pid?: unknown; host?: unknown } | undefined;
      const isHostActivity = HOST_ACTIVITIES.has(type);
      const host = typeof details?.host === 'string' ? details.host : isHostActivity ? await hostFromState() : null;
      const lastHeartbeat = msOf(a.lastHeartbeatTime);
      const started = msOf(a.lastStartedTime);
      return {
        activityId: a.activityId ?? null,
        activityType: type,
        state: decodePendingActivityState(a.state) ?? 'UNSPECIFIED',
        attempt: a.attempt ?? null,
        maximumAttempts: a.maximumAttempts ?? null,
        taskQueue: isHostActivity ? (host ? hostTaskQueue(host) : null) : d.taskQueue,
        host,
        pid: typeof details?.pid === 'number' ? details.pid : null,
        worker: a.lastWorkerIdentity || null,
        lastHeartbeatAt: iso(lastHeartbeat),
        heartbeatAgeMs: lastHeartbeat === null ? null : Math.max(0, now - lastHeartbeat),
        startedAt: iso(started),
        runningForMs: started === null ? null : Math.max(0, now - started),
        scheduledAt: iso(msOf(a.scheduledTime)),
        lastFailure: a.lastFailure?.message ?? null,
      };
    }),
  );
  // The row says the task runs, but no workflow does: nothing will ever move it on.
  return { ...base, workflowStatus, ghost: workflowStatus !== 'RUNNING', pendingActivities };
}
