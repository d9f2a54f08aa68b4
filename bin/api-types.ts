// The orch API's answers as the CLI reads them (api/ serves them; JSON, so dates are strings).
import type { PlaneReconcileReport } from '../workflows/contracts/plane-reconcile.js';
import type { LockRequest } from '../workflows/contracts/lock.js';
import type { TaskStatus } from '../workflows/contracts/status.js';
import type { ApprovalRecord, CompensationResult, StopRequest, TaskEventType, TaskState } from '../workflows/contracts/task.js';
import type { LiveProgress, TaskAttempt } from '../workflows/contracts/task-history.js';
import type { AgentProgress, Usage } from '../workflows/contracts/usage.js';

export type { LiveProgress, TaskAttempt };

export interface StartTaskRequest {
  repo: string;
  title: string;
  key?: string;
  description?: string;
  dependsOn?: string[];
}

export interface StartedTask {
  key: string;
  workflowId: string;
  runId: string;
  existing: boolean;
}

/** POST /api/tasks/:key/approve and /reject. */
export interface DecisionRequest {
  by: string;
  comment?: string;
  stage?: string;
  via?: 'api' | 'cli';
}

/** The decision the workflow took. */
export type Decided = ApprovalRecord & { key: string };

export interface StopSignalled {
  key: string;
  workflowId: string;
  outcome: string;
}

export interface TaskRecord {
  key: string;
  repo: string;
  title: string;
  stage: string | null;
  status: TaskStatus;
  workflowId: string;
  runId: string | null;
  failureReason: string | null;
  cancelRequestedAt: string | null;
  cancelledAt: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface JobRecord {
  stage: string;
  attempt: number;
  status: TaskStatus;
  host: string | null;
  pid: number | null;
  exitCode: number | null;
  startedAt: string | null;
  endedAt: string | null;
  detail: string | null;
  usage?: Usage | null;
  progress?: AgentProgress | null;
  adapter?: string | null;
  model?: string | null;
  failureKind?: string | null;
  createdAt: string;
}

export interface EventRecord {
  id: number;
  type: TaskEventType;
  stage: string | null;
  detail: Record<string, any> | null;
  createdAt: string;
}

/** GET /api/tasks/:key: the row, the live workflow state (null when it cannot be asked), attempts, usage, progress, jobs and events. */
export interface TaskResponse {
  task: TaskRecord;
  state: TaskState | null;
  /** Absent from an API older than the CLI. */
  history?: TaskAttempt[];
  usage?: Usage | null;
  progress?: LiveProgress | null;
  jobs: JobRecord[];
  events: EventRecord[];
  /** `approval` while the task waits for a person (its stage says which), since `waitingSince`. */
  waitingFor?: 'approval' | null;
  /** The sandbox of the hosts its agents ran on. */
  sandbox?: SandboxView;
  waitingSince?: string | null;
}

/** A recorded STOP: the `stop-requested` event's detail, or the workflow's pending STOP. */
export type StopInfo = StopRequest & { requestedAt: string };

export interface QueueTask {
  key: string;
  repo: string;
  title: string;
  stage: string | null;
  status: TaskStatus;
  updatedAt: string;
  finishedAt: string | null;
  cancelRequestedAt: string | null;
  failureReason: string | null;
  /** Active tasks: what their agents spent so far (null: nothing reported). */
  usage?: Usage | null;
}

export interface PendingActivity {
  activityType: string;
  state: string;
  host: string | null;
  pid: number | null;
  attempt: number | null;
  heartbeatAgeMs: number | null;
  lastFailure: string | null;
}

export interface AwaitingApproval {
  key: string;
  repo: string;
  title: string;
  stage: string;
  since: string;
  waitingMs: number;
  timeout: string | null;
  prompt: string | null;
  stopRequested: boolean;
}

type LockParty = LockRequest & { since: string; taskKey: string | null };

/** GET /queue (api/queue/snapshot.ts). */
/** `GET /healthz`'s, `GET /queue`'s and a task's view of the hosts' agent sandboxes. */
export interface SandboxView {
  hosts: { host: string; active: boolean; mode: string; network?: string; warning?: string }[];
  warning?: string;
}

export interface QueueResponse {
  generatedAt: string;
  sandbox?: SandboxView;
  tasks: {
    counts: { total: number; byStatus: Record<TaskStatus, number>; byStage: Record<string, number> };
    byStatus: Record<TaskStatus, QueueTask[]>;
  };
  /** Tasks waiting for a person's decision, oldest first. */
  awaitingApproval: AwaitingApproval[];
  liveness: { key: string; ghost: boolean; workflowStatus: string | null; pendingActivities: PendingActivity[] }[];
  locks: { lockId: string; holder: LockParty | null; waiters: LockParty[]; error?: string }[];
  stop: {
    deferred: (QueueTask & { inCriticalWindow: boolean | null; reason: string | null })[];
    recentlyCancelled: (QueueTask & { cancelledAt: string | null; reason: string | null; compensation: CompensationResult[] })[];
  };
  /** The Plane reconciler (null when its schedule could not be read: see `errors.reconciler`). */
  reconciler?:
    | { enabled: false; scheduleId: string }
    | {
        enabled: true;
        scheduleId: string;
        intervalMs: number | null;
        paused: boolean;
        running: boolean;
        nextRunAt: string | null;
        actionsTaken: number;
        lastRun: { scheduledAt: string; workflowId: string; runId: string; status: string; report?: PlaneReconcileReport } | null;
      }
    | null;
  errors?: Record<string, string>;
}
