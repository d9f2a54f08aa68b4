// /queue `tasks`: counts by status and stage, the active tasks and the recently finished ones.
import { count, desc, inArray } from 'drizzle-orm';
import { untombstone } from '../../db/records.js';
import type { Db } from '../../db/client.js';
import { tasks } from '../../db/schema.js';
import { ACTIVE_STATUSES, TASK_STATUSES, TERMINAL_STATUSES, type TaskStatus } from '../../workflows/contracts/index.js';
import { taskView, type TaskViewRow } from './task-view.js';

export const TASK_LIMITS = { active: 500, finished: 200 };
/** The byStage bucket of active tasks whose row has no stage yet (starting, or waiting for dependencies). */
const NO_STAGE = '(no stage)';

const perStatus = <T>(make: () => T) => Object.fromEntries(TASK_STATUSES.map((s) => [s, make()])) as Record<TaskStatus, T>;

/** The section, and the active rows themselves (the liveness section looks at the running ones). */
export async function taskSection(db: Db) {
  const [statusCounts, stageCounts, active, finished] = await Promise.all([
    db.select({ status: tasks.status, n: count() }).from(tasks).groupBy(tasks.status),
    db.select({ stage: tasks.stage, status: tasks.status, n: count() }).from(tasks).where(inArray(tasks.status, [...ACTIVE_STATUSES])).groupBy(tasks.stage, tasks.status),
    db.select().from(tasks).where(inArray(tasks.status, [...ACTIVE_STATUSES])).orderBy(desc(tasks.createdAt)).limit(TASK_LIMITS.active),
    db.select().from(tasks).where(inArray(tasks.status, [...TERMINAL_STATUSES])).orderBy(desc(tasks.updatedAt)).limit(TASK_LIMITS.finished),
  ]);
  const byStatusCount = perStatus(() => 0);
  for (const r of statusCounts) byStatusCount[r.status] = r.n;
  const byStageCount: Record<string, number> = {};
  for (const r of stageCounts) {
    const stage = r.stage ?? NO_STAGE;
    byStageCount[stage] = (byStageCount[stage] ?? 0) + r.n;
  }
  const byStatus = perStatus((): TaskViewRow[] => []);
  for (const t of [...active, ...finished]) byStatus[t.status].push(taskView(t));
  const byStage: Record<string, string[]> = {};
  for (const t of active) (byStage[t.stage ?? NO_STAGE] ??= []).push(untombstone(t.key));
  return {
    section: {
      counts: { total: Object.values(byStatusCount).reduce((a, b) => a + b, 0), byStatus: byStatusCount, byStage: byStageCount },
      byStatus,
      byStage,
      limits: { ...TASK_LIMITS },
    },
    active,
  };
}
