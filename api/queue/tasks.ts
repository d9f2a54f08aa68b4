// /queue `tasks`: counts by status and stage, the active tasks and the recently finished ones.
import { and, count, desc, inArray, isNotNull } from 'drizzle-orm';
import { untombstone } from '../../db/records.js';
import type { Db } from '../../db/client.js';
import { jobs, tasks } from '../../db/schema.js';
import { ACTIVE_STATUSES, addUsage, TASK_STATUSES, TERMINAL_STATUSES, type TaskStatus, type Usage } from '../../workflows/contracts/index.js';
import { taskView, type TaskViewRow } from './task-view.js';

export const TASK_LIMITS = { active: 500, finished: 200 };
/** The byStage bucket of active tasks whose row has no stage yet (starting, or waiting for dependencies). */
const NO_STAGE = '(no stage)';

/** What each task's agents spent so far (the sum of its jobs' usage, as GET /api/tasks/:key sums it); absent: nothing reported. */
async function usageOf(db: Db, taskIds: string[]): Promise<Map<string, Usage>> {
  const spent = new Map<string, Usage>();
  if (taskIds.length === 0) return spent;
  const rows = await db
    .select({ taskId: jobs.taskId, usage: jobs.usage })
    .from(jobs)
    .where(and(inArray(jobs.taskId, taskIds), isNotNull(jobs.usage)));
  for (const r of rows) spent.set(r.taskId, addUsage(spent.get(r.taskId), r.usage!));
  return spent;
}

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
  const spent = await usageOf(db, active.map((t) => t.id));
  const byStatus = perStatus((): (TaskViewRow & { usage?: Usage | null })[] => []);
  for (const t of active) byStatus[t.status].push({ ...taskView(t), usage: spent.get(t.id) ?? null });
  for (const t of finished) byStatus[t.status].push(taskView(t));
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
