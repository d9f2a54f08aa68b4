// The activity contracts: what each activity takes and returns. Types only; the implementations
// live in activities/ and are registered by the worker under exactly these method names.
import type { GateSpec } from './config.js';
import type { HostRef, PipelinePlan } from './plan.js';
import type { CompensationResult, TaskEventType, TaskInput } from './task.js';
import type { AgentFailure, Usage } from './usage.js';
import type { PlaneReconcileActivities } from './plane-reconcile.js';
import type { TaskStatus } from './status.js';

/**
 * One progress comment on the task's Plane work item. `usage`, where a kind has it, is what was
 * spent: the failed attempt's (`stage-retry`), the stage's, all its attempts (`stage-passed`), the
 * task's (`done`, `failed`, `cancelled`). Absent when no agent reported usage.
 */
export type ProgressUpdate =
  | { kind: 'started'; key: string; repo: string }
  | { kind: 'stage'; key: string; stage: string; attempt?: number; host?: string | null }
  /** `attempt`: the attempt that did not pass. */
  | { kind: 'stage-retry'; key: string; stage: string; attempt: number; reason: string; usage?: Usage }
  | { kind: 'stage-passed'; key: string; stage: string; attempt: number; usage?: Usage }
  | { kind: 'done'; key: string; sha?: string | null; usage?: Usage }
  | { kind: 'failed'; key: string; reason: string; usage?: Usage }
  | { kind: 'cancelled'; key: string; reason?: string | null; requestedBy?: string | null; compensation: CompensationResult[]; usage?: Usage }
  /** An approval stage waits: the comment asks for the decision and says how to give it. */
  | { kind: 'approval-requested'; key: string; stage: string; prompt?: string; reminder?: number }
  | { kind: 'approval-decided'; key: string; stage: string; decision: 'approved' | 'rejected' | 'timed-out'; by: string; comment?: string }
  /** A stage's attempts ran out and its onFail sends the task back to an earlier stage. */
  | { kind: 'rework'; key: string; stage: string; goto: string; loop: number; reason: string };

export interface TaskPatch {
  stage?: string | null;
  runId?: string;
  status?: TaskStatus;
  failureReason?: string | null;
  cancelRequestedAt?: string;
  cancelledAt?: string;
  finishedAt?: string;
}

export interface TaskEvent {
  taskId: string;
  type: TaskEventType;
  stage?: string | null;
  detail?: Record<string, unknown>;
}

/** A task event written with the task's row update. */
export type StageEntryEvent = Omit<TaskEvent, 'taskId'>;

/** The task's rows in PostgreSQL. */
export interface RecordActivities {
  planPipeline(repo: string): Promise<PipelinePlan>;
  recordTask(input: TaskInput & { workflowId: string; runId: string }): Promise<{ taskId: string }>;
  /** `events`: recorded in the same write (a stage's entry with the decision before it, say). */
  updateTask(taskId: string, patch: TaskPatch, events?: StageEntryEvent[]): Promise<void>;
  recordEvent(e: TaskEvent): Promise<void>;
  /** `supersede`: also a job that had ended `done` (its stage is being run again). */
  finishJob(e: { activityKey: string; status: 'failed' | 'cancelled'; detail: string; supersede?: boolean }): Promise<void>;
  dependencyStatuses(keys: string[]): Promise<Record<string, TaskStatus>>;
  /** Signals `dependencyEnded` to the running tasks that wait for `key`; returns how many. */
  wakeDependents(key: string): Promise<number>;
  cancelJobs(taskId: string): Promise<CompensationResult>;
  /** Marks the task `cancelled` and frees its natural keys, in one write. */
  markCancelled(taskId: string, at: string): Promise<{ key: string; planeIssueId: string | null }>;
}

/** Hosts and repo locks (shared queue). */
export interface CoordinationActivities {
  pickHost(): Promise<HostRef>;
  /** Queues the holder on the repo's lock (starting the lock workflow if needed); returns the lock's id. */
  requestLock(req: { repo: string; holderWorkflowId: string; purpose: string }): Promise<{ lockId: string }>;
  awaitWorkflowClosed(workflowId: string): Promise<void>;
}

/** The forge and the deploy command (shared queue). */
export interface DeliveryActivities {
  openPullRequest(req: { repo: string; key: string; title: string; body: string }): Promise<{ number: number | null; url: string | null }>;
  /** `headSha`: the commit the gates passed; a forge with PRs merges exactly it (absent in histories from before). */
  mergeFeatureBranch(req: { repo: string; key: string; title: string; pr: number | null; headSha?: string | null }): Promise<{ alreadyMerged: boolean; sha: string | null }>;
  deploy(req: { repo: string; key: string; title: string; sha: string | null }): Promise<{ ran: boolean; exitCode: number | null }>;
  deleteFeatureBranch(req: { repo: string; key: string; branch?: string }): Promise<CompensationResult>;
}

export interface PlaneActivities {
  /** Best effort: `sent: false` with a reason when Plane is not configured or the task has no work item. */
  notifyPlane(req: { planeProjectId?: string; planeIssueId?: string; update: ProgressUpdate }): Promise<{ sent: boolean; reason?: string }>;
}

export interface ReconcileActivities {
  knownHosts(): Promise<string[]>;
  reconcileBranches(): Promise<{ deleted: string[]; refused: string[] }>;
  reconcileTasks(): Promise<{ closed: { key: string; workflowStatus: string; status: string }[] }>;
}

/** Activities any worker runs (the shared `orch` queue). */
export interface SharedActivities extends RecordActivities, CoordinationActivities, DeliveryActivities, PlaneActivities, ReconcileActivities, PlaneReconcileActivities {}

export interface AgentRunRequest {
  taskId: string;
  key: string;
  repo: string;
  stage: string;
  attempt: number;
  title: string;
  description: string;
  /** Why the previous attempt failed (empty on attempt 1): the prompt's `{{lastFailure}}`. */
  lastFailure?: string;
  /** What this attempt may still spend: the tighter of the stage's budget and what is left of the task's. */
  budget?: { maxCostUsd?: number; maxTokens?: number };
  /** The session the previous attempt on this host left (`agent.resume`). */
  resumeSession?: string;
  /**
   * Run only if the task's clone on this host is still clean at this commit (the last push); the
   * run then fails with {@link WORKTREE_NOT_CLEAN} before anything starts, and the stage prepares
   * the worktree. Saves the stage a prepareWorktree activity (a workflow task and a queue hop).
   */
  cleanAt?: string;
}

/** The failure type of a runAgent whose `cleanAt` check found the clone changed: nothing ran. */
export const WORKTREE_NOT_CLEAN = 'WorktreeNotClean';

export interface AgentRunResult {
  exitCode: number | null;
  signal: string | null;
  pid: number;
  logFile: string;
  durationMs: number;
  usage?: Usage;
  failure?: AgentFailure;
  sessionId?: string;
  model?: string;
}

export interface GateResult {
  passed: boolean;
  detail: string;
  /** The last 4 KB of a command gate's output: the next attempt's prompt carries it. */
  output?: string;
}

/** Activities bound to one host (its own task queue): the worktree and the agent process live there. */
export interface HostActivities {
  /**
   * `pushed`: where this workflow last pushed `orch/<KEY>`, when it needs no `remoteHead`: a clone
   * already clean at that commit is used as it is (no fetch). `remoteHead`: where `orch/<KEY>`
   * stands on the remote (null when absent; undefined when the clone was used as it was).
   */
  prepareWorktree(req: { key: string; repo: string; pushed?: string }): Promise<{ path: string; fromBranch: 'feature' | 'default'; remoteHead?: string | null }>;
  runAgent(req: AgentRunRequest): Promise<AgentRunResult>;
  runGate(req: { key: string; repo: string; stage: string; gate: GateSpec }): Promise<GateResult>;
  commitAndPush(req: { key: string; repo: string; stage: string }): Promise<{ sha: string; committed: boolean }>;
  killAgent(req: { key: string }): Promise<CompensationResult>;
  removeWorktree(req: { key: string; repo: string }): Promise<CompensationResult>;
  /**
   * `mirrorRefsRemoved`: `orch/<KEY>` refs the host's mirrors kept of tasks that are over; `summary`:
   * what was found, in words ("nothing to kill or remove" when the sandbox left nothing behind).
   */
  reconcileHost(): Promise<{ host: string; worktreesRemoved: string[]; agentGroupsKilled: number; mirrorRefsRemoved?: string[]; summary?: string }>;
}

/**
 * The host activities' names, checked against the interface at compile time: a name added to
 * HostActivities and missing here (or the other way round) is a type error.
 */
export const HOST_ACTIVITY_NAMES = [
  'prepareWorktree',
  'runAgent',
  'runGate',
  'commitAndPush',
  'killAgent',
  'removeWorktree',
  'reconcileHost',
] as const satisfies readonly (keyof HostActivities)[];
type MissingHostActivity = Exclude<keyof HostActivities, (typeof HOST_ACTIVITY_NAMES)[number]>;
const _allHostActivitiesNamed: [MissingHostActivity] extends [never] ? true : MissingHostActivity = true;
void _allHostActivitiesNamed;
