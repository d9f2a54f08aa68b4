// A task's history as GET /api/tasks/:key serves it (built in api/task-history.ts, read by bin/).
import type { StageAttempt } from './task.js';
import type { AgentFailure, AgentProgress, Usage } from './usage.js';

/** One agent attempt: one entry per try, a try moved off a lost host included. */
export interface TaskAttempt {
  stage: string;
  attempt: number;
  host: string | null;
  startedAt: string;
  endedAt: string | null;
  /** null while the attempt runs (its agent, gate or push). */
  outcome: NonNullable<StageAttempt['outcome']> | null;
  detail: string | null;
  /** What its agent spent, so far while it runs; null for an agent that reports nothing. */
  usage: Usage | null;
  pid: number | null;
  model: string | null;
  failureKind: AgentFailure['kind'] | null;
  /** The stage's round, from 2 on (a rework loop or a rejection sent the task back); absent in its first. */
  loop?: number;
}

/** The running agent's last progress, with the attempt it belongs to. */
export type LiveProgress = AgentProgress & { stage: string; attempt: number };
