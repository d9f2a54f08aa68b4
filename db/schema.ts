// orch's orchestration records. Temporal owns the state machine; these tables are the
// durable, queryable account of it (for operators, Plane and audits).
import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
// status.ts directly, not the barrel: drizzle-kit loads this file and needs nothing else.
import { JOB_STATUSES, TASK_STATUSES } from '../workflows/contracts/status.js';
import type { AgentProgress, Usage } from '../workflows/contracts/usage.js';

export const taskStatus = pgEnum('task_status', TASK_STATUSES);
export const jobStatus = pgEnum('job_status', JOB_STATUSES);

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true })
    .notNull()
    .defaultNow()
    .$onUpdate(() => new Date()),
};

export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Natural key, e.g. `ORCH-90`. Tombstoned (`ORCH-90#cancelled-<id>`) when the task is cancelled. */
    key: text('key').notNull(),
    planeIssueId: text('plane_issue_id'),
    planeProjectId: text('plane_project_id'),
    repo: text('repo').notNull(),
    title: text('title').notNull(),
    description: text('description'),
    /** Task keys this one waits for; a task that ends wakes the waiters that name it. */
    dependsOn: text('depends_on').array().notNull().default([]),
    stage: text('stage'),
    status: taskStatus('status').notNull().default('queued'),
    workflowId: text('workflow_id').notNull(),
    runId: text('run_id'),
    failureReason: text('failure_reason'),
    cancelRequestedAt: timestamp('cancel_requested_at', { withTimezone: true }),
    cancelledAt: timestamp('cancelled_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('tasks_key_uq').on(t.key),
    uniqueIndex('tasks_plane_issue_uq').on(t.planeIssueId),
    index('tasks_status_idx').on(t.status),
    index('tasks_repo_idx').on(t.repo),
  ],
);

export const jobs = pgTable(
  'jobs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    taskId: uuid('task_id')
      .notNull()
      .references(() => tasks.id),
    stage: text('stage').notNull(),
    attempt: integer('attempt').notNull(),
    status: jobStatus('status').notNull().default('queued'),
    /** Idempotency key: workflow run id + activity id. A retried activity updates its own row. */
    activityKey: text('activity_key').notNull(),
    host: text('host'),
    pid: integer('pid'),
    exitCode: integer('exit_code'),
    logFile: text('log_file'),
    detail: text('detail'),
    /** What the agent spent, as it reported it; kept past the workflow's retention. */
    usage: jsonb('usage').$type<Usage>(),
    /** The agent's live progress, updated while it runs. */
    progress: jsonb('progress').$type<AgentProgress>(),
    /** Which adapter ran it: how `orch logs` reads its log. */
    adapter: text('adapter'),
    sessionId: text('session_id'),
    model: text('model'),
    /** `budget`, `stalled` or `agent-error` when the agent failed for more than its exit code. */
    failureKind: text('failure_kind'),
    startedAt: timestamp('started_at', { withTimezone: true }),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('jobs_activity_key_uq').on(t.activityKey),
    index('jobs_task_idx').on(t.taskId),
    // Raw SQL: drizzle-kit would write eq() here as a bind parameter, which an index predicate cannot hold.
    index('jobs_running_host_idx').on(t.host).where(sql`${t.status} = 'running'`),
  ],
);

export const taskEvents = pgTable(
  'task_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    taskId: uuid('task_id')
      .notNull()
      .references(() => tasks.id),
    type: text('type').notNull(),
    stage: text('stage'),
    detail: jsonb('detail').$type<Record<string, unknown>>(),
    /** Idempotency key: workflow run id + activity id (+ type); a retried write is a no-op. */
    dedupeKey: text('dedupe_key').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('task_events_dedupe_uq').on(t.dedupeKey), index('task_events_task_idx').on(t.taskId, t.id)],
);

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    source: text('source').notNull().default('plane'),
    /** `X-Plane-Delivery`: new on every retry, so never the dedupe key. */
    deliveryId: text('delivery_id'),
    event: text('event'),
    action: text('action'),
    signatureValid: boolean('signature_valid').notNull(),
    /** Content identity used to spot the same change delivered twice (work item + field family + new state). */
    contentKey: text('content_key'),
    workItemId: text('work_item_id'),
    outcome: text('outcome').notNull(),
    detail: text('detail'),
    httpStatus: integer('http_status').notNull(),
    bodyBytes: integer('body_bytes').notNull(),
    payload: jsonb('payload'),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('webhook_deliveries_content_idx').on(t.contentKey, t.receivedAt)],
);

export type Task = typeof tasks.$inferSelect;
export type Job = typeof jobs.$inferSelect;
export type TaskEvent = typeof taskEvents.$inferSelect;
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;
