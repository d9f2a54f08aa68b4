// Task, job and event records in PostgreSQL. Every write is idempotent under activity retry.
import { and, arrayContains, desc, eq, inArray, isNotNull, like, ne, or } from 'drizzle-orm';
import { ACTIVE_STATUSES, type AgentProgress, type JobStatus, type TaskInput, type TaskStatus, type Usage } from '../workflows/contracts/index.js';
import type { Db } from './client.js';
import { jobs, taskEvents, tasks, type Task } from './schema.js';

/** How a job ended, beyond its status. */
export interface JobOutcome {
  exitCode?: number | null;
  detail?: string;
  supersede?: boolean;
  usage?: Usage;
  sessionId?: string;
  model?: string;
  failureKind?: string;
}

export const TOMBSTONE_MARK = '#cancelled-';
/** `ORCH-90#cancelled-<id>` → `ORCH-90`. */
export const untombstone = (key: string): string => key.split(TOMBSTONE_MARK)[0] ?? key;

/**
 * Retries a record write through a short database outage (doubling from 250 ms, at most 5 s apart,
 * for `budgetMs`). For writes inside a long activity, where failing would cost the activity itself.
 */
export async function persist<T>(fn: () => Promise<T>, signal?: AbortSignal, budgetMs = 120_000): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof UnknownTaskError || signal?.aborted || Date.now() + delay > deadline) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export class UnknownTaskError extends Error {
  override name = 'UnknownTaskError';
}

export function createRecords(db: Db) {
  async function taskByKey(key: string): Promise<Task | undefined> {
    const [row] = await db.select().from(tasks).where(eq(tasks.key, key)).limit(1);
    return row;
  }

  async function requireTask(key: string): Promise<Task> {
    const row = await taskByKey(key);
    if (!row) throw new UnknownTaskError(`no task with key ${key}`);
    return row;
  }

  /** The live row of a key, else its newest tombstone (`KEY#cancelled-…`): what "task KEY" means to an operator. */
  async function findByKey(key: string): Promise<Task | null> {
    const live = await taskByKey(key);
    if (live) return live;
    const [dead] = await db
      .select()
      .from(tasks)
      .where(like(tasks.key, `${key}${TOMBSTONE_MARK}%`))
      .orderBy(desc(tasks.createdAt))
      .limit(1);
    return dead ?? null;
  }

  return {
    taskByKey,
    findByKey,
    requireTask,

    /** The live task of a Plane work item (a cancelled one's id is tombstoned with its key). */
    async taskByPlaneIssueId(planeIssueId: string): Promise<Task | undefined> {
      const [row] = await db.select().from(tasks).where(eq(tasks.planeIssueId, planeIssueId)).limit(1);
      return row;
    },

    /** Creates the task row, or adopts it for this run (a retried activity, or a row the API pre-created). */
    async upsertTask(input: TaskInput & { workflowId: string; runId: string }): Promise<Task> {
      const values = {
        key: input.key,
        repo: input.repo,
        title: input.title,
        description: input.description ?? null,
        planeIssueId: input.planeIssueId ?? null,
        planeProjectId: input.planeProjectId ?? null,
        dependsOn: input.dependsOn ?? [],
        workflowId: input.workflowId,
        runId: input.runId,
        status: 'running' as const,
      };
      const [row] = await db
        .insert(tasks)
        .values(values)
        .onConflictDoUpdate({
          target: tasks.key,
          set: { runId: input.runId, workflowId: input.workflowId, dependsOn: values.dependsOn, status: 'running', updatedAt: new Date() },
          // Never resurrect a finished task row.
          setWhere: inArray(tasks.status, ACTIVE_STATUSES),
        })
        .returning();
      return row ?? (await requireTask(input.key));
    },

    async setTaskState(
      taskId: string,
      patch: Partial<{
        stage: string | null;
        runId: string;
        status: TaskStatus;
        failureReason: string | null;
        cancelRequestedAt: Date;
        cancelledAt: Date;
        finishedAt: Date;
      }>,
      /** Recorded in the same transaction (a retry records each once: they are keyed). */
      events: TaskEventRow[] = [],
    ): Promise<void> {
      const write = async (q: Pick<Db, 'update' | 'insert'>) => {
        const res = await q.update(tasks).set(patch).where(eq(tasks.id, taskId)).returning({ id: tasks.id });
        if (res.length === 0) throw new UnknownTaskError(`no task with id ${taskId}`);
        if (events.length) await insertEvents(q, taskId, events);
      };
      await (events.length ? db.transaction(write) : write(db));
    },

    /**
     * Frees the natural keys of a cancelled task so that a later start of the same work item begins
     * from scratch. The original is recoverable: everything before `#cancelled-`.
     */
    async tombstone(taskId: string, patch: { status?: 'cancelled'; cancelledAt?: Date; finishedAt?: Date; failureReason?: string } = {}) {
      const [row] = await db.select().from(tasks).where(eq(tasks.id, taskId)).limit(1);
      if (!row) throw new UnknownTaskError(`no task with id ${taskId}`);
      const suffix = `${TOMBSTONE_MARK}${row.id}`;
      const tombstoned = row.key.includes(TOMBSTONE_MARK);
      // One statement: nobody sees the task `cancelled` with its keys still taken.
      const [updated] = await db
        .update(tasks)
        .set({
          ...patch,
          ...(!tombstoned && { key: `${row.key}${suffix}`, planeIssueId: row.planeIssueId ? `${row.planeIssueId}${suffix}` : null }),
        })
        .where(eq(tasks.id, row.id))
        .returning();
      return { key: updated!.key, planeIssueId: updated!.planeIssueId };
    },

    /** Status of each key: the live row, or the newest tombstoned one. Missing keys are absent. */
    async statusesOf(keys: string[]): Promise<Record<string, TaskStatus>> {
      if (keys.length === 0) return {};
      const rows = await db
        .select({ key: tasks.key, status: tasks.status })
        .from(tasks)
        .where(or(inArray(tasks.key, keys), ...keys.map((k) => like(tasks.key, `${k}${TOMBSTONE_MARK}%`))));
      const out: Record<string, TaskStatus> = {};
      for (const r of rows) {
        const k = untombstone(r.key);
        // A live row wins over tombstones of earlier runs.
        if (r.key === k || out[k] === undefined) out[k] = r.status;
      }
      return out;
    },

    /** Rows still `queued`/`running`: what reconcile checks against their workflows. */
    async activeTasks(): Promise<Task[]> {
      return db.select().from(tasks).where(inArray(tasks.status, ACTIVE_STATUSES));
    },

    /** The active tasks that wait for `key`: the ones to wake when it ends. */
    async activeDependentsOf(key: string): Promise<{ key: string; workflowId: string }[]> {
      return db
        .select({ key: tasks.key, workflowId: tasks.workflowId })
        .from(tasks)
        .where(and(arrayContains(tasks.dependsOn, [key]), inArray(tasks.status, ACTIVE_STATUSES)));
    },

    async startJob(j: {
      taskId: string;
      stage: string;
      attempt: number;
      activityKey: string;
      host: string;
      pid: number | null;
      logFile: string;
      adapter?: string;
    }): Promise<void> {
      await db
        .insert(jobs)
        .values({
          taskId: j.taskId,
          stage: j.stage,
          attempt: j.attempt,
          activityKey: j.activityKey,
          status: 'running',
          host: j.host,
          pid: j.pid,
          logFile: j.logFile,
          adapter: j.adapter ?? null,
          startedAt: new Date(),
        })
        .onConflictDoUpdate({
          target: jobs.activityKey,
          set: { host: j.host, pid: j.pid, logFile: j.logFile, adapter: j.adapter ?? null, status: 'running', startedAt: new Date(), endedAt: null },
          // A cancelled job is terminal: never requeued, never restarted.
          setWhere: ne(jobs.status, 'cancelled'),
        });
    },

    /** Ends a job. A job that is already terminal keeps its status (cancelled wins over a late failure). */
    async finishJob(activityKey: string, status: JobStatus, f: JobOutcome = {}) {
      const from: JobStatus[] = f.supersede ? [...ACTIVE_STATUSES, 'done'] : [...ACTIVE_STATUSES];
      await db
        .update(jobs)
        .set({
          status,
          detail: f.detail ?? null,
          endedAt: new Date(),
          ...(f.exitCode !== undefined && { exitCode: f.exitCode }),
          ...(f.usage && { usage: f.usage }),
          ...(f.sessionId && { sessionId: f.sessionId }),
          ...(f.model && { model: f.model }),
          ...(f.failureKind && { failureKind: f.failureKind }),
        })
        .where(and(eq(jobs.activityKey, activityKey), inArray(jobs.status, from)));
    },

    /** A running job's live progress (and usage so far), so the API sees it while the agent works. */
    async updateJobProgress(activityKey: string, progress: AgentProgress): Promise<void> {
      await db
        .update(jobs)
        .set({ progress, usage: progress.usage, ...(progress.sessionId && { sessionId: progress.sessionId }), ...(progress.model && { model: progress.model }) })
        .where(and(eq(jobs.activityKey, activityKey), eq(jobs.status, 'running')));
    },

    /** Marks every non-terminal job of the task `cancelled`. Returns how many changed. */
    async cancelJobs(taskId: string): Promise<number> {
      const res = await db
        .update(jobs)
        .set({ status: 'cancelled', endedAt: new Date(), detail: 'cancelled by STOP' })
        .where(and(eq(jobs.taskId, taskId), inArray(jobs.status, ACTIVE_STATUSES)))
        .returning({ id: jobs.id });
      return res.length;
    },

    /** Jobs left `running` on a host, e.g. by an earlier incarnation of this worker. */
    async runningJobsOnHost(host: string) {
      return db
        .select({ activityKey: jobs.activityKey, pid: jobs.pid, taskId: jobs.taskId, taskKey: tasks.key })
        .from(jobs)
        .innerJoin(tasks, eq(tasks.id, jobs.taskId))
        .where(and(eq(jobs.host, host), eq(jobs.status, 'running')));
    },

    async jobsOf(taskId: string) {
      return db.select().from(jobs).where(eq(jobs.taskId, taskId)).orderBy(jobs.createdAt);
    },

    async recordEvent(e: TaskEventRow & { taskId: string }): Promise<void> {
      await insertEvents(db, e.taskId, [e]);
    },

    /** Every host that ever ran a job: where orphans could be. */
    async jobHosts(): Promise<string[]> {
      const rows = await db.selectDistinct({ host: jobs.host }).from(jobs).where(isNotNull(jobs.host));
      return rows.map((r) => r.host!);
    },

    async eventsOf(taskId: string) {
      return db.select().from(taskEvents).where(eq(taskEvents.taskId, taskId)).orderBy(taskEvents.id);
    },
  };
}

export type Records = ReturnType<typeof createRecords>;

/** A task event as written: `dedupeKey` makes a retried write record it once. */
export interface TaskEventRow {
  type: string;
  stage?: string | null;
  detail?: Record<string, unknown>;
  dedupeKey: string;
}

function insertEvents(q: Pick<Db, 'insert'>, taskId: string, events: TaskEventRow[]) {
  return q
    .insert(taskEvents)
    .values(events.map((e) => ({ taskId, type: e.type, stage: e.stage ?? null, detail: e.detail ?? null, dedupeKey: e.dedupeKey })))
    .onConflictDoNothing({ target: taskEvents.dedupeKey });
}
