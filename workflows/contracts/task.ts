// The task workflow's contract: its input, state and result, and the messages it handles.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { TaskStatus } from './status.js';
import type { AgentProgress, Usage } from './usage.js';

/** What a `task` workflow starts with. */
export interface TaskInput {
  key: string;
  repo: string;
  title: string;
  description?: string;
  planeIssueId?: string;
  planeProjectId?: string;
  /** Task keys that must be done (or cancelled) before this one starts. */
  dependsOn?: string[];
  /** Set when a long dependency wait continued as new: the task was already announced. */
  resumed?: boolean;
}

export interface StopRequest {
  reason?: string;
  requestedBy?: string;
}

export interface StageAttempt {
  stage: string;
  attempt: number;
  host?: string;
  startedAt: string;
  endedAt?: string;
  outcome?: 'passed' | 'failed' | 'cancelled' | 'host-lost';
  detail?: string;
  /** What the attempt's agent spent (absent for an agent that reports nothing). */
  usage?: Usage;
}

/** What `task_events` records, in the order a task meets them. */
export const TASK_EVENT_TYPES = [
  'planned',
  'started',
  'lock-requested',
  'lock-acquired',
  'stage-attempt-failed',
  'host-lost',
  'stage-passed',
  'merge-started',
  'merge-finished',
  'deploy-started',
  'deploy-finished',
  'stop-requested',
  'compensation',
  'done',
  'failed',
  'cancelled',
] as const;
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];

export const COMPENSATION_STEPS = ['kill-agent', 'cancel-jobs', 'remove-worktree', 'delete-branch'] as const;
export type CompensationStep = (typeof COMPENSATION_STEPS)[number];

export interface CompensationResult {
  step: CompensationStep;
  ok: boolean;
  detail: string;
}

/** Returned by the `state` query. */
export interface TaskState {
  key: string;
  repo: string;
  stage: string | null;
  status: TaskStatus;
  host: string | null;
  history: StageAttempt[];
  pendingStop: (StopRequest & { requestedAt: string }) | null;
  inCriticalWindow: boolean;
  failureReason: string | null;
  compensation: CompensationResult[];
  /** Everything the task's agents spent so far. */
  usage?: Usage;
  /** The running agent's last reported progress (from its `agentProgress` signals). */
  progress?: AgentProgress & { stage: string; attempt: number };
}

export interface TaskResult {
  key: string;
  status: TaskStatus;
  failureReason: string | null;
  compensation: CompensationResult[];
}

/** `temporal workflow signal --workflow-id task-KEY --name stop --input '{"reason":"…"}'` */
export const stopSignal = defineSignal<[StopRequest?]>('stop');
/** `temporal workflow query --workflow-id task-KEY --type state` */
export const stateQuery = defineQuery<TaskState>('state');
/** A task this one depends on has ended (sent by that task's finish; the waiter re-reads the records). */
export const dependencyEndedSignal = defineSignal<[{ key: string }]>('dependencyEnded');

/** A running agent's progress, sent by its activity at most every few seconds, on change. */
export const agentProgressSignal = defineSignal<[AgentProgress & { stage: string; attempt: number }]>('agentProgress');

export type TaskWorkflow = (input: TaskInput) => Promise<TaskResult>;
