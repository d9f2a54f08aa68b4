// Task and job statuses: the one list every layer (schema, API, CLI, metrics, workflows) uses.

export const TASK_STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** A job is one agent attempt; it moves through the same statuses as a task. */
export const JOB_STATUSES = TASK_STATUSES;
export type JobStatus = TaskStatus;

export const ACTIVE_STATUSES = ['queued', 'running'] as const satisfies readonly TaskStatus[];
export const TERMINAL_STATUSES = ['done', 'failed', 'cancelled'] as const satisfies readonly TaskStatus[];

export const isTerminal = (s: string): s is (typeof TERMINAL_STATUSES)[number] => (TERMINAL_STATUSES as readonly string[]).includes(s);
export const isActive = (s: string): s is (typeof ACTIVE_STATUSES)[number] => (ACTIVE_STATUSES as readonly string[]).includes(s);
