// The task workflow's contract: its input, state and result, and the messages it handles.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { TaskStatus } from './status.js';
import type { HostRef, PipelinePlan } from './plan.js';
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
  /** Set when a long wait inside the pipeline (an approval) continued as new: where and with what to go on. */
  resumeAt?: ResumePoint;
}

/** What a task carries over a continue-as-new in the middle of its pipeline. */
export interface ResumePoint {
  stageIndex: number;
  plan: PipelinePlan;
  history: StageAttempt[];
  usage?: Usage;
  approvals: ApprovalRecord[];
  pushedSha: string | null;
  mergedSha: string | null;
  hosts: HostRef[];
  /** Times each stage has run (rework loops). */
  runs: Record<string, number>;
  /** Rework loops taken, by the stage that looped. */
  loops: Record<string, number>;
  /** The `{{lastFailure}}` waiting for a stage that is to run again. */
  carried: Record<string, string>;
  waitingSince?: string;
  remindersSent?: number;
}

/** A decision on an approval stage: `by` is who decides (a person's name or handle). */
export interface ApprovalDecision {
  by: string;
  comment?: string;
  /** The approval stage meant; refused when the task waits in another one. */
  stage?: string;
  /** Where the decision came from (`api`, `cli`, `plane`); `temporal` when left out. */
  via?: string;
}

export interface ApprovalRecord {
  stage: string;
  decision: 'approved' | 'rejected' | 'timed-out';
  by: string;
  comment?: string;
  at: string;
  /** The decision's source, for the record (`api`, `cli`, `plane`, `temporal`). */
  via?: string;
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
  /** The stage's round when a rework loop or a rejection sent the task back (2 on the first return). */
  loop?: number;
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
  'approval-requested',
  'approval-decided',
  'rework',
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
  /** `approval` while an approval stage waits for a person (`stage` names it), since `waitingSince`. */
  waitingFor?: 'approval' | null;
  waitingSince?: string | null;
  /** Every approval decision so far, in order. */
  approvals?: ApprovalRecord[];
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

/**
 * `temporal workflow update execute --workflow-id task-KEY --name approve --input '{"by":"alice"}'`.
 * Refused by the validator (ApplicationFailure type `InvalidDecision`, `NotWaitingForApproval` or
 * `AlreadyDecided`) with a message that says why; the workflow is then unchanged.
 */
export const approveUpdate = defineUpdate<ApprovalRecord, [ApprovalDecision]>('approve');
export const rejectUpdate = defineUpdate<ApprovalRecord, [ApprovalDecision]>('reject');
/** The failure types of a refused decision: a bad request, or a task in no state to take it. */
export const DECISION_REFUSALS = { invalid: 'InvalidDecision', notWaiting: 'NotWaitingForApproval', alreadyDecided: 'AlreadyDecided' } as const;

/** A running agent's progress, sent by its activity at most every few seconds, on change. */
export const agentProgressSignal = defineSignal<[AgentProgress & { stage: string; attempt: number }]>('agentProgress');

export type TaskWorkflow = (input: TaskInput) => Promise<TaskResult>;
