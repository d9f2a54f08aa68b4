// Pure types and constants shared by workflows, activities, worker and API.
// Nothing here may import Node or a driver: workflow code imports this file.

/** A Temporal duration string such as `30s`, `5m`, `1h`, `250ms`. */
export type DurationString = string;

export type TaskStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export const TERMINAL_STATUSES: readonly TaskStatus[] = ['done', 'failed', 'cancelled'];
export const isTerminal = (s: string): boolean => (TERMINAL_STATUSES as readonly string[]).includes(s);

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** An argv: program plus arguments. Never a shell string. `{{name}}` placeholders are filled in. */
export interface CommandSpec {
  command: string;
  args: string[];
  /** Extra environment for the command. Values may hold placeholders too. */
  env?: Record<string, string>;
}

export type GateSpec =
  | { type: 'file-exists'; path: string }
  | { type: 'command'; command: string; args: string[] }
  | { type: 'none' };

export type StageKind = 'agent' | 'merge' | 'deploy';

export interface StageSpec {
  name: string;
  kind: StageKind;
  /** Agent stages: the prompt template (`{{key}}`, `{{title}}`, `{{description}}`, `{{stage}}`, `{{repo}}`). */
  prompt?: string;
  /** Agent stages: the quality gate that decides whether the stage passed. */
  gate: GateSpec;
  /** Agent stages: overrides of the defaults. */
  agent?: CommandSpec;
  attempts?: number;
  timeout?: DurationString;
}

export type ForgeSpec =
  | { type: 'local' }
  | { type: 'gitea'; baseUrl: string; owner: string; repo: string; tokenEnv: string };

export interface RepoSpec {
  name: string;
  /** git remote URL (a path to a bare repo works). */
  remote: string;
  defaultBranch: string;
  forge: ForgeSpec;
  deploy?: CommandSpec;
  /** When true, one task of this repo runs its pipeline at a time. */
  serial: boolean;
  /** Branch names or glob patterns (`release/*`) that orch must never delete. The default branch always is. */
  protectedBranches: string[];
}

export interface PipelineConfig {
  repos: Record<string, RepoSpec>;
  stages: StageSpec[];
  agent: CommandSpec;
  timeouts: {
    /** startToClose backstop of one agent run. */
    stage: DurationString;
    heartbeat: DurationString;
    merge: DurationString;
    deploy: DurationString;
  };
  attemptsPerStage: number;
  maxConcurrentAgents: number;
}

/** What a `task` workflow starts with. */
export interface TaskInput {
  key: string;
  repo: string;
  title: string;
  description?: string;
  planeIssueId?: string;
  planeProjectId?: string;
  /** Task keys that must be terminal before this one starts. */
  dependsOn?: string[];
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
}

export interface CompensationResult {
  step: 'kill-agent' | 'cancel-jobs' | 'remove-worktree' | 'delete-branch';
  ok: boolean;
  detail: string;
}

export const TASK_QUEUE = 'orch';
export const taskWorkflowId = (key: string): string => `task-${key}`;
export const featureBranch = (key: string): string => `orch/${key}`;
export const hostTaskQueue = (hostId: string): string => `orch-host-${hostId}`;

/** Custom search attributes registered on the dev server (see temporal-dev.yaml). */
export const SEARCH_ATTRIBUTES = ['OrchTaskKey', 'OrchRepo', 'OrchStage', 'OrchStatus'] as const;
