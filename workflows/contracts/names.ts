// Names that cross process boundaries: task queues, workflow ids, branches, search attributes.
// Spelled once here; everything else derives them.
import { defineSearchAttributeKey } from '@temporalio/common';

/** The shared task queue (workflows and shared activities). */
export const TASK_QUEUE = 'orch';

const HOST_QUEUE_PREFIX = 'orch-host-';
/** Each worker process also serves its own host queue: the worktree and the agent live there. */
export const hostTaskQueue = (hostId: string): string => `${HOST_QUEUE_PREFIX}${hostId}`;
export const hostOfTaskQueue = (taskQueue: string): string | null =>
  taskQueue.startsWith(HOST_QUEUE_PREFIX) ? taskQueue.slice(HOST_QUEUE_PREFIX.length) : null;

const TASK_WORKFLOW_PREFIX = 'task-';
export const taskWorkflowId = (key: string): string => `${TASK_WORKFLOW_PREFIX}${key}`;
/** The task key of a task workflow id; null for any other workflow (locks, reconcilers). */
export const keyOfTaskWorkflowId = (workflowId: string): string | null =>
  workflowId.startsWith(TASK_WORKFLOW_PREFIX) ? workflowId.slice(TASK_WORKFLOW_PREFIX.length) : null;

/**
 * The activity id of an agent run: `hostMoves` counts the stage's attempts lost with their host so
 * far; `round`, from 2 on, a stage's run after a rework loop or a rejection. With the run id it is the job row's key (`<runId>/agent-…`), which the API reads attempts by.
 */
export const agentActivityId = (stage: string, attempt: number, hostMoves: number, round?: number): string =>
  `agent-${stage}-${attempt}-${hostMoves}${round && round > 1 ? `-r${round}` : ''}`;

export const FEATURE_BRANCH_PREFIX = 'orch/';
export const featureBranch = (key: string): string => `${FEATURE_BRANCH_PREFIX}${key}`;

/**
 * One lock per deployment (task queue), purpose and repo, e.g. `lock-orch-merge-demo`: two orch
 * deployments sharing a namespace never share a lock.
 */
export const lockWorkflowId = (taskQueue: string, purpose: string, repo: string): string => `lock-${taskQueue}-${purpose}-${repo}`;

/** Workflow type names as registered by the worker (workflows/index.ts exports exactly these). */
export const workflowTypes = { task: 'task', repoLock: 'repoLock', reconcile: 'reconcile', planeReconcile: 'planeReconcile' } as const;

/** The Plane reconciler's Temporal Schedule, one per deployment (task queue). */
export const planeReconcileScheduleId = (taskQueue: string): string => `plane-reconcile-${taskQueue}`;

/** Custom search attributes (registered on the dev server by temporal-dev.yaml, on a cluster by the operator). */
export const orchSearchAttributes = {
  taskKey: defineSearchAttributeKey('OrchTaskKey', 'KEYWORD'),
  repo: defineSearchAttributeKey('OrchRepo', 'KEYWORD'),
  stage: defineSearchAttributeKey('OrchStage', 'KEYWORD'),
  status: defineSearchAttributeKey('OrchStatus', 'KEYWORD'),
  /** `approval` while the task waits for a person; absent otherwise. */
  waitingFor: defineSearchAttributeKey('OrchWaitingFor', 'KEYWORD'),
} as const;
export const SEARCH_ATTRIBUTE_NAMES = Object.values(orchSearchAttributes).map((k) => k.name);
