// What GET /metrics reads from the records, through drizzle: task events and webhook deliveries
// after a cursor (with the timestamps each one is measured against), the task counts now, and
// what the agents spent in total.
import { and, count, desc, eq, gt, inArray, isNotNull, like, lt, max, min, sql, sum, type AnyColumn, type SQL, type SQLWrapper } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Db } from '../db/client.js';
import { jobs, taskEvents, tasks, webhookDeliveries } from '../db/schema.js';
import { ACTIVE_STATUSES, type Usage } from '../workflows/contracts/index.js';

/** By the database's clock, so API hosts with a skewed clock count the same rows. */
const youngerThan = (at: AnyColumn, ms: number) => sql<boolean>`${at} > now() - make_interval(secs => ${ms / 1000})`;
const olderThan = (at: AnyColumn, ms: number) => sql<boolean>`${at} < now() - make_interval(secs => ${ms / 1000})`;
/** A scalar subquery's timestamp, parsed like the column's own values. */
const timestamp = (q: SQL) => q.mapWith(taskEvents.createdAt) as SQL<Date | null>;

const e = alias(taskEvents, 'e');
const earlier = alias(taskEvents, 'earlier');
const j = alias(jobs, 'j');

/** The `*-started` event a `*-finished` event closes. */
const STARTED_EVENT = { 'merge-finished': 'merge-started', 'deploy-finished': 'deploy-started' } as const;

export function createMetricsRecords(db: Db) {
  /** Subqueries run only for the event types that need them (`case when`), not for every row. */
  const onlyFor = (types: string[], q: SQLWrapper) => sql`case when ${inArray(e.type, types)} then (${q}) end`;
  const earlierEvent = (type: SQL | string) => and(eq(earlier.taskId, e.taskId), lt(earlier.id, e.id), eq(earlier.type, type));

  // stage-passed: when the stage's first agent attempt of this run started (activity keys are `<runId>/…`).
  const stageStartedAt = db
    .select({ at: min(j.startedAt) })
    .from(j)
    .where(and(eq(j.taskId, e.taskId), eq(j.stage, e.stage), like(j.activityKey, sql`split_part(${e.dedupeKey}, '/', 1) || '/%'`)));
  // merge-finished / deploy-finished: the matching *-started event.
  const stepStartedAt = db
    .select({ at: earlier.createdAt })
    .from(earlier)
    .where(earlierEvent(sql`case ${e.type} ${sql.join(Object.entries(STARTED_EVENT).map(([finished, started]) => sql`when ${finished} then ${started}`), sql` `)} end`))
    .orderBy(desc(earlier.id))
    .limit(1);
  // cancelled: when the STOP reached the workflow.
  const stopRequestedAt = db
    .select({ at: sql`${earlier.detail}->>'requestedAt'` })
    .from(earlier)
    .where(earlierEvent('stop-requested'))
    .orderBy(desc(earlier.id))
    .limit(1);
  // approval-decided: when its stage's wait began (the approval-requested before it).
  const approvalRequestedAt = db
    .select({ at: earlier.createdAt })
    .from(earlier)
    .where(and(earlierEvent('approval-requested'), eq(earlier.stage, e.stage)))
    .orderBy(desc(earlier.id))
    .limit(1);
  // cancelled: when the agent run that the STOP killed ended (its job row).
  const agentKilledAt = db
    .select({ at: max(j.endedAt) })
    .from(j)
    .where(and(eq(j.taskId, e.taskId), eq(j.status, 'cancelled'), eq(j.detail, 'stopped')));

  return {
    /** The last ids recorded before `at`: counting starts after them. */
    async lastIdsBefore(at: Date): Promise<{ events: number; deliveries: number }> {
      const [[events], [deliveries]] = await Promise.all([
        db.select({ id: max(taskEvents.id) }).from(taskEvents).where(lt(taskEvents.createdAt, at)),
        db.select({ id: max(webhookDeliveries.id) }).from(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, at)),
      ]);
      return { events: Number(events?.id ?? 0), deliveries: Number(deliveries?.id ?? 0) };
    },

    /** Task events after `after`, in id order; `young` ones are not settled yet. */
    eventsAfter(after: number, o: { limit: number; settleMs: number }) {
      return db
        .select({
          id: e.id,
          type: e.type,
          stage: e.stage,
          detail: e.detail,
          createdAt: e.createdAt,
          young: youngerThan(e.createdAt, o.settleMs),
          stageStartedAt: timestamp(onlyFor(['stage-passed'], stageStartedAt)),
          stepStartedAt: timestamp(onlyFor(Object.keys(STARTED_EVENT), stepStartedAt)),
          stopRequestedAt: onlyFor(['cancelled'], stopRequestedAt) as SQL<string | null>,
          taskCancelRequestedAt: tasks.cancelRequestedAt,
          agentKilledAt: timestamp(onlyFor(['cancelled'], agentKilledAt)),
          approvalRequestedAt: timestamp(onlyFor(['approval-decided'], approvalRequestedAt)),
        })
        .from(e)
        .innerJoin(tasks, eq(tasks.id, e.taskId))
        .where(gt(e.id, after))
        .orderBy(e.id)
        .limit(o.limit);
    },

    /** Webhook deliveries after `after`, in id order; `stuck` ones have been `processing` too long. */
    deliveriesAfter(after: number, o: { limit: number; settleMs: number; stuckMs: number }) {
      const w = webhookDeliveries;
      return db
        .select({ id: w.id, source: w.source, outcome: w.outcome, young: youngerThan(w.receivedAt, o.settleMs), stuck: olderThan(w.receivedAt, o.stuckMs) })
        .from(w)
        .where(gt(w.id, after))
        .orderBy(w.id)
        .limit(o.limit);
    },

    /** Task rows by status, and how many active ones have a STOP requested. */
    tasksByStatus() {
      return db
        .select({
          status: tasks.status,
          n: count(),
          stopPending: sql<number>`count(*) filter (where ${and(isNotNull(tasks.cancelRequestedAt), inArray(tasks.status, [...ACTIVE_STATUSES]))})`.mapWith(Number),
        })
        .from(tasks)
        .groupBy(tasks.status);
    },

    /**
     * Every job's usage summed by repo, stage and model (a running job's so far). The cost sums only
     * the jobs with a known cost, and is null when none has one.
     */
    usageTotals() {
      const field = (name: keyof Usage) => sql`(${jobs.usage}->>${name})`;
      const tokens = (name: keyof Usage) => sum(sql`${field(name)}::bigint`).mapWith(Number);
      return db
        .select({
          repo: tasks.repo,
          stage: jobs.stage,
          model: jobs.model,
          inputTokens: tokens('inputTokens'),
          outputTokens: tokens('outputTokens'),
          cacheReadTokens: tokens('cacheReadTokens'),
          cacheWriteTokens: tokens('cacheWriteTokens'),
          // JSON null (cost unknown) reads as SQL NULL, which sum() skips.
          costUsd: sql<number | null>`sum(${field('costUsd')}::float8)`.mapWith((v) => (v === null ? null : Number(v))),
        })
        .from(jobs)
        .innerJoin(tasks, eq(tasks.id, jobs.taskId))
        .where(isNotNull(jobs.usage))
        .groupBy(tasks.repo, jobs.stage, jobs.model);
    },
  };
}
export type MetricsRecords = ReturnType<typeof createMetricsRecords>;
export type EventRow = Awaited<ReturnType<MetricsRecords['eventsAfter']>>[number];
export type DeliveryRow = Awaited<ReturnType<MetricsRecords['deliveriesAfter']>>[number];
export type UsageTotalRow = Awaited<ReturnType<MetricsRecords['usageTotals']>>[number];
