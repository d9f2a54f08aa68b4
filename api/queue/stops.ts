// /queue `stop`: STOPs not applied yet (deferred by a merge or deploy), and the recently cancelled
// tasks with what their compensation did.
import type { Client } from '@temporalio/client';
import { and, desc, eq, inArray, isNotNull, notInArray } from 'drizzle-orm';
import pLimit from 'p-limit';
import type { Db } from '../../db/client.js';
import { taskEvents, tasks } from '../../db/schema.js';
import { stateQuery, TERMINAL_STATUSES, type TaskWorkflow } from '../../workflows/contracts/index.js';
import { taskView } from './task-view.js';
import { withDeadline } from './temporal-calls.js';

const RECENTLY_CANCELLED = 50;

export async function stopSection(d: { client: Client; db: Db }) {
  const [deferredRows, cancelledRows] = await Promise.all([
    d.db
      .select()
      .from(tasks)
      .where(and(isNotNull(tasks.cancelRequestedAt), notInArray(tasks.status, [...TERMINAL_STATUSES])))
      .orderBy(desc(tasks.cancelRequestedAt)),
    d.db.select().from(tasks).where(eq(tasks.status, 'cancelled')).orderBy(desc(tasks.cancelledAt)).limit(RECENTLY_CANCELLED),
  ]);
  const deferred = await pLimit(8).map(deferredRows, async (t) => {
    const state = await withDeadline(d.client, () => d.client.workflow.getHandle<TaskWorkflow>(t.workflowId).query(stateQuery)).catch(() => null);
    return {
      ...taskView(t),
      inCriticalWindow: state?.inCriticalWindow ?? null,
      reason: state?.pendingStop?.reason ?? null,
      requestedBy: state?.pendingStop?.requestedBy ?? null,
    };
  });
  const ids = cancelledRows.map((t) => t.id);
  const events = ids.length
    ? await d.db
        .select()
        .from(taskEvents)
        .where(and(inArray(taskEvents.taskId, ids), inArray(taskEvents.type, ['compensation', 'cancelled'])))
        .orderBy(taskEvents.id)
    : [];
  const recentlyCancelled = cancelledRows.map((t) => {
    const mine = events.filter((e) => e.taskId === t.id);
    const cancelled = mine.find((e) => e.type === 'cancelled')?.detail ?? {};
    return {
      ...taskView(t),
      cancelledAt: t.cancelledAt,
      reason: (cancelled.reason as string | null | undefined) ?? null,
      requestedBy: (cancelled.requestedBy as string | null | undefined) ?? null,
      compensation: mine.filter((e) => e.type === 'compensation').map((e) => ({ ...e.detail, at: e.createdAt })),
    };
  });
  return { deferred, recentlyCancelled };
}
