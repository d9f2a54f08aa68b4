// Starting, reading and stopping tasks: the operations behind the task routes, the CLI and the Plane bridge.
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import { z } from 'zod';
import type { Records } from '../activities/records.js';
import type { Db } from '../db/client.js';
import type { Task } from '../db/schema.js';
import { orchSearchAttributes } from '../workflows/search-attributes.js';
import { stateQuery, stopSignal } from '../workflows/signals.js';
import type { TaskResult } from '../workflows/task.js';
import { isTerminal, taskWorkflowId, type PipelineConfig, type StopRequest, type TaskInput, type TaskState } from '../workflows/types.js';

export const taskKeySchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'a key is a letter then up to 63 letters, digits, _ or -, e.g. ORCH-90');

export const startTaskSchema = z.strictObject({
  key: taskKeySchema.optional(),
  repo: z.string().min(1),
  title: z.string().trim().min(1).max(500),
  description: z.string().max(100_000).optional(),
  dependsOn: z.array(taskKeySchema).max(50).optional(),
  planeIssueId: z.string().optional(),
  planeProjectId: z.string().optional(),
});
export type StartTaskBody = z.infer<typeof startTaskSchema>;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface TaskServiceDeps {
  client: Client;
  db: Db;
  records: Records;
  pipeline: PipelineConfig;
  taskQueue: string;
}

const newKey = (repo: string) => `${repo.toUpperCase().replace(/[^A-Z0-9]/g, '') || 'TASK'}-${Date.now().toString(36).toUpperCase()}`;

export function createTaskService(d: TaskServiceDeps) {
  async function describe(workflowId: string) {
    try {
      return await d.client.workflow.getHandle(workflowId).describe();
    } catch {
      return null;
    }
  }


  return {
    /** Idempotent for a running key: the running workflow is returned, never a second one. */
    async start(body: StartTaskBody): Promise<{ key: string; workflowId: string; runId: string; existing: boolean }> {
      if (!d.pipeline.repos[body.repo]) throw new HttpError(404, `unknown repo "${body.repo}"`, { field: 'repo' });
      const key = body.key ?? newKey(body.repo);
      const existingRow = await d.records.taskByKey(key);
      if (existingRow && isTerminal(existingRow.status)) {
        throw new HttpError(409, `task ${key} already ended ${existingRow.status}`, { key, status: existingRow.status });
      }
      const workflowId = taskWorkflowId(key);
      const before = await describe(workflowId);
      const input: TaskInput = { ...body, key };
      const handle = await d.client.workflow.start('task', {
        taskQueue: d.taskQueue,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        // A closed run with this id was cancelled (its key tombstoned) or never recorded: start afresh.
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        typedSearchAttributes: [
          { key: orchSearchAttributes.taskKey, value: key },
          { key: orchSearchAttributes.repo, value: body.repo },
        ],
        staticSummary: `${key}: ${body.title}`,
        staticDetails: body.description ? body.description.slice(0, 2000) : undefined,
      });
      const existing = before?.status.name === 'RUNNING';
      return { key, workflowId, runId: existing ? before!.runId : handle.firstExecutionRunId, existing };
    },

    async get(key: string): Promise<{ task: Task; state: TaskState | null; jobs: unknown[]; events: unknown[] }> {
      const task = await d.records.findByKey(key);
      if (!task) throw new HttpError(404, `unknown task ${key}`, { key });
      let state: TaskState | null = null;
      if (!isTerminal(task.status)) {
        state = await d.client.workflow
          .getHandle(task.workflowId, task.runId ?? undefined)
          .query(stateQuery)
          .catch(() => null);
      } else if (task.runId) {
        const result = (await d.client.workflow
          .getHandle(task.workflowId, task.runId)
          .result()
          .catch(() => null)) as TaskResult | null;
        if (result) state = { key, repo: task.repo, stage: task.stage, status: task.status, host: null, history: [], pendingStop: null, inCriticalWindow: false, failureReason: task.failureReason, compensation: result.compensation };
      }
      const [jobs, events] = await Promise.all([d.records.jobsOf(task.id), d.records.eventsOf(task.id)]);
      return { task, state, jobs, events };
    },

    async stop(key: string, req: StopRequest): Promise<{ key: string; workflowId: string; outcome: 'stop-signalled' }> {
      const task = await d.records.findByKey(key);
      if (!task || isTerminal(task.status)) {
        // The records may lag Temporal: a workflow that has just started has no row yet, or only its
        // predecessor's tombstone. Temporal is the truth: a running task workflow is stopped.
        const workflowId = taskWorkflowId(key);
        if ((await describe(workflowId))?.status.name === 'RUNNING') {
          await d.client.workflow.getHandle(workflowId).signal(stopSignal, req);
          return { key, workflowId, outcome: 'stop-signalled' };
        }
        if (!task) throw new HttpError(404, `unknown task ${key}`, { key });
        throw new HttpError(409, `task ${key} already ended ${task.status}; nothing to stop`, { key, status: task.status, task });
      }
      try {
        await d.client.workflow.getHandle(task.workflowId).signal(stopSignal, req);
      } catch (err) {
        throw new HttpError(409, `task ${key} is not running: ${(err as Error).message}`, { key, status: task.status });
      }
      return { key, workflowId: task.workflowId, outcome: 'stop-signalled' };
    },
  };
}
export type TaskService = ReturnType<typeof createTaskService>;
