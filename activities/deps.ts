// What activities need from the process that runs them, and where a host keeps its files.
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Records } from '../db/records.js';
import type { PipelineConfig, PlaneReconcileConfig, PlaneTaskPort, RepoSpec } from '../workflows/contracts/index.js';
import type { PlaneClientConfig } from './adapters/plane-client.js';
import type { Sandbox } from './adapters/sandbox.js';

export interface ActivityDeps {
  hostId: string;
  /** The shared task queue (workflows and shared activities); `orch` unless a test isolates itself. */
  taskQueue: string;
  dataDir: string;
  projectDir: string;
  pipeline: PipelineConfig;
  records: Records;
  client: Client;
  /** The ms between agent heartbeats (a fraction of the heartbeat timeout). */
  heartbeatEveryMs: number;
  /** SIGTERM → SIGKILL grace when a process group is stopped. */
  killGraceMs: number;
  /** Plane API settings for progress comments; comments are skipped when incomplete. */
  plane?: PlaneClientConfig;
  /** The Plane reconciler's config (live) and how it acts on a task (the worker wires api/plane's). */
  planeReconcile?: { config: PlaneReconcileConfig; tasks: PlaneTaskPort };
  /** Contains agent runs and gates; NO_SANDBOX when none is configured or available. */
  sandbox?: Sandbox;
}

/** Per-host directories. Worktrees and mirrors belong to one host; logs and artefacts to the task. */
export function hostPaths(deps: Pick<ActivityDeps, 'dataDir' | 'hostId'>) {
  const hostDir = path.join(deps.dataDir, 'hosts', deps.hostId);
  return {
    mirrors: path.join(hostDir, 'mirrors'),
    worktree: (key: string) => path.join(hostDir, 'worktrees', key),
    agentLog: (key: string, stage: string, attempt: number) =>
      path.join(deps.dataDir, 'logs', 'tasks', key, `${stage}-${attempt}.log`),
    taskLogDir: (key: string) => path.join(deps.dataDir, 'logs', 'tasks', key),
    artefacts: (key: string) => path.join(deps.dataDir, 'artefacts', key),
    prompt: (key: string, stage: string, attempt: number) =>
      path.join(hostDir, 'prompts', key, `${stage}-${attempt}.md`),
    /** The agent's private HOME: per task and host, kept across attempts (sessions resume from it). */
    home: (key: string) => path.join(hostDir, 'homes', key),
    /** The run's private TMPDIR. */
    tmp: (key: string) => path.join(hostDir, 'tmp', key),
    /** The agent's raw output (stream-json, JSONL events); `agentLog` is its readable transcript. */
    agentStream: (key: string, stage: string, attempt: number) =>
      path.join(deps.dataDir, 'logs', 'tasks', key, `${stage}-${attempt}.stream.jsonl`),
  };
}

/** Docs artefacts a task's agents write in its worktree, kept after a STOP. */
export const artefactDir = (key: string): string => `docs/tasks/${key}`;

export class UnknownRepoError extends Error {
  override name = 'UnknownRepoError';
}

export function repoSpec(pipeline: PipelineConfig, name: string): RepoSpec {
  const repo = pipeline.repos[name];
  if (!repo) throw new UnknownRepoError(`unknown repo "${name}" (configured: ${Object.keys(pipeline.repos).join(', ') || 'none'})`);
  return repo;
}

/** `<workflow run id>/<activity id>`: stable across retries of one activity, unique within the run. */
export function activityKey(): string {
  const { info } = Context.current();
  return `${info.workflowExecution?.runId ?? 'standalone'}/${info.activityId}`;
}
