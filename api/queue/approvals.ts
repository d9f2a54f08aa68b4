// /queue `awaitingApproval`: the tasks waiting for a person's decision, oldest first. A task waits
// from its approval stage's `approval-requested` event until the `approval-decided` that follows
// it (a continue-as-new mid-wait records neither again); STOP ends the wait with the task.
import { and, asc, eq, gt, inArray, notExists, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Db } from '../../db/client.js';
import { untombstone } from '../../db/records.js';
import { taskEvents, tasks } from '../../db/schema.js';
import { ACTIVE_STATUSES, type PipelineConfig } from '../../workflows/contracts/index.js';

const MAX_WAITING = 200;

const requested = alias(taskEvents, 'requested');
const decided = alias(taskEvents, 'decided');

export async function approvalsSection(d: { db: Db; pipeline?: Pick<PipelineConfig, 'stages'> }, now: number) {
  const rows = await d.db
    .select({ task: tasks, stage: requested.stage, since: requested.createdAt, detail: requested.detail })
    .from(requested)
    .innerJoin(tasks, eq(tasks.id, requested.taskId))
    .where(
      and(
        eq(requested.type, 'approval-requested'),
        inArray(tasks.status, [...ACTIVE_STATUSES]),
        notExists(
          d.db
            .select({ one: sql`1` })
            .from(decided)
            .where(and(eq(decided.taskId, requested.taskId), eq(decided.type, 'approval-decided'), gt(decided.id, requested.id))),
        ),
      ),
    )
    .orderBy(asc(requested.createdAt), asc(requested.id))
    .limit(MAX_WAITING);
  return rows.map(({ task, stage, since, detail }) => {
    const key = untombstone(task.key);
    const spec = d.pipeline?.stages.find((s) => s.name === stage);
    return {
      key,
      repo: task.repo,
      title: task.title,
      stage,
      since,
      waitingMs: Math.max(0, now - since.getTime()),
      timeout: (detail?.timeout as string | null | undefined) ?? null,
      /** The stage's question as the API's pipeline file words it (its `{{…}}` unfilled). */
      prompt: spec?.prompt ?? null,
      stopRequested: task.cancelRequestedAt !== null,
      approve: `orch approve ${key}`,
    };
  });
}
