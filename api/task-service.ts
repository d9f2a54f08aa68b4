// Starting, reading and stopping tasks: the operations behind the task routes, the CLI and the Plane
// bridge. Refusals are domain errors (api/errors.ts); api/http.ts answers them.
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { Records } from '../db/records.js';
import type { Job, Task, TaskEvent } from '../db/schema.js';
import {
  isTerminal,
  orchSearchAttributes,
  stateQuery,
  stopSignal,
  taskWorkflowId,
  workflowTypes,
  type PipelineConfig,
  type StopRequest,
  type TaskInput,
  type TaskState,
  type TaskWorkflow,
  type Usage,
} from '../workflows/contracts/index.js';
import { TaskConflictError, TaskNotFoundError, UnknownRepoError } from './errors.js';
import {
  asStageAttempt,
  historyFromRecords,
  liveProgress,
  taskUsage,
  withLiveAttempt,
  withProgressUsage,
  type LiveProgress,
  type TaskAttempt,
} from './task-history.js';
import type { StartTaskBody } from './task-input.js';

export interface TaskServiceDeps {
  client: Client;
  records: Pick<Records, 'taskByKey' | 'findByKey' | 'jobsOf' | 'eventsOf'>;
  pipeline: PipelineConfig;
  taskQueue: string;
}

export interface StartedTask {
  key: string;
  workflowId: string;
  runId: string;
  /** The key's workflow was already running: that one is returned, never a second. */
  existing: boolean;
}

export interface TaskView {
  task: Task;
  /** The workflow's own state while it runs (null when it does not answer); for a closed one, its result with the history below. */
  state: TaskState | null;
  /** Every agent attempt, from the records (so it outlives the workflow), plus the live one. */
  history: TaskAttempt[];
  /** What all its agents spent; null when none reported anything. */
  usage: Usage | null;
  /** The running agent's last progress; null when no agent is running or it reports none. */
  progress: LiveProgress | null;
  jobs: Job[];
  events: TaskEvent[];
}

export interface StopSignalled {
  key: string;
  workflowId: string;
  outcome: 'stop-signalled';
}

const newKey = (repo: string) => `${repo.toUpperCase().replace(/[^A-Z0-9]/g, '') || 'TASK'}-${Date.now().toString(36).toUpperCase()}`;

export function createTaskService(d: TaskServiceDeps) {
  const handle = (workflowId: string, runId?: string) => d.client.workflow.getHandle<TaskWorkflow>(workflowId, runId);
  const describe = (workflowId: string) => handle(workflowId).describe().catch(() => null);
  const signalStop = async (key: string, workflowId: string, req: StopRequest): Promise<StopSignalled> => {
    await handle(workflowId).signal(stopSignal, req);
    return { key, workflowId, outcome: 'stop-signalled' };
  };

  return {
    /** Idempotent for a running key: the running workflow is returned, never a second one. */
    async start(body: StartTaskBody): Promise<StartedTask> {
      if (!d.pipeline.repos[body.repo]) throw new UnknownRepoError(body.repo);
      const key = body.key ?? newKey(body.repo);
      const existingRow = await d.records.taskByKey(key);
      if (existingRow && isTerminal(existingRow.status)) {
        throw new TaskConflictError(`task ${key} already ended ${existingRow.status}`, { key, status: existingRow.status });
      }
      const workflowId = taskWorkflowId(key);
      const before = await describe(workflowId);
      const input: TaskInput = { ...body, key };
      const started = await d.client.workflow.start<TaskWorkflow>(workflowTypes.task, {
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
      return { key, workflowId, runId: existing ? before.runId : started.firstExecutionRunId, existing };
    },

    async get(key: string): Promise<TaskView> {
      const task = await d.records.findByKey(key);
      if (!task) throw new TaskNotFoundError(key);
      let state: TaskState | null = null;
      if (!isTerminal(task.status)) {
        state = await handle(task.workflowId, task.runId ?? undefined)
          .query(stateQuery)
          .catch(() => null);
      } else if (task.runId) {
        // A closed workflow answers no query: its result still has the compensation it ran.
        const result = await handle(task.workflowId, task.runId)
          .result()
          .catch(() => null);
        if (result) {
          state = { key, repo: task.repo, stage: task.stage, status: task.status, host: null, history: [], pendingStop: null, inCriticalWindow: false, failureReason: task.failureReason, compensation: result.compensation };
        }
      }
      const [jobs, events] = await Promise.all([d.records.jobsOf(task.id), d.records.eventsOf(task.id)]);
      const attempts = withLiveAttempt(historyFromRecords(task, jobs, events), state);
      const progress = liveProgress(task, attempts, state, jobs);
      const history = withProgressUsage(attempts, progress);
      const usage = taskUsage(history);
      if (state && isTerminal(task.status)) state = { ...state, history: history.map(asStageAttempt), ...(usage && { usage }) };
      return { task, state, history, usage, progress, jobs, events };
    },

    async stop(key: string, req: StopRequest): Promise<StopSignalled> {
      const task = await d.records.findByKey(key);
      if (!task || isTerminal(task.status)) {
        // The records may lag Temporal: a workflow that has just started has no row yet, or only its
        // predecessor's tombstone. Temporal is the truth: a running task workflow is stopped.
        const workflowId = taskWorkflowId(key);
        if ((await describe(workflowId))?.status.name === 'RUNNING') return signalStop(key, workflowId, req);
        if (!task) throw new TaskNotFoundError(key);
        throw new TaskConflictError(`task ${key} already ended ${task.status}; nothing to stop`, { key, status: task.status, task });
      }
      try {
        return await signalStop(key, task.workflowId, req);
      } catch (err) {
        throw new TaskConflictError(`task ${key} is not running: ${(err as Error).message}`, { key, status: task.status });
      }
    },
  };
}
export type TaskService = ReturnType<typeof createTaskService>;
