// A task's attempts and compensation as `orch status` lists them: the API's `history`; from an
// older API, the live workflow's when it answers, else the job rows and events the records keep.
import type { CompensationResult } from '../workflows/contracts/task.js';
import type { Usage } from '../workflows/contracts/usage.js';
import type { TaskResponse } from './api-types.js';

export interface Attempt {
  stage: string;
  attempt: number;
  host?: string | null;
  pid?: number | null;
  startedAt?: string | null;
  endedAt?: string | null;
  outcome?: string | null;
  detail?: string | null;
  usage?: Usage | null;
  model?: string | null;
}

export function attemptsOf(t: TaskResponse): Attempt[] {
  if (t.history) return t.history;
  const jobs = t.jobs ?? [];
  const pidOf = (stage: string, attempt: number) => jobs.find((j) => j.stage === stage && j.attempt === attempt)?.pid ?? null;
  if (t.state?.history?.length) return t.state.history.map((h) => ({ ...h, pid: pidOf(h.stage, h.attempt) }));
  const events = t.events ?? [];
  return jobs.map((j) => {
    const passed = events.find((e) => e.type === 'stage-passed' && e.stage === j.stage && e.detail?.attempt === j.attempt);
    const failed = events.find((e) => e.type === 'stage-attempt-failed' && e.stage === j.stage && e.detail?.attempt === j.attempt);
    const outcome = passed ? 'passed' : failed ? 'failed' : j.status === 'running' ? null : j.status;
    return {
      stage: j.stage,
      attempt: j.attempt,
      host: j.host,
      pid: j.pid,
      startedAt: j.startedAt,
      endedAt: j.endedAt,
      outcome,
      detail: (failed?.detail?.reason as string | undefined) ?? j.detail ?? null,
    };
  });
}

export function compensationOf(t: TaskResponse): CompensationResult[] {
  if (t.state?.compensation?.length) return t.state.compensation;
  return (t.events ?? []).filter((e) => e.type === 'compensation').map((e) => e.detail as CompensationResult);
}
