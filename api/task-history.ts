// A task's agent attempts as GET /api/tasks/:key returns them. Built from the records (job rows and
// the outcome events), so a finished task keeps its history past the workflow's retention and a
// running one shows the same shape; the live workflow adds only what the records cannot know yet:
// the attempt still preparing its worktree, and the agent's freshest progress.
import type { Job, Task, TaskEvent } from '../db/schema.js';
import {
  addUsage,
  agentActivityId,
  isActive,
  type AgentFailure,
  type LiveProgress,
  type StageAttempt,
  type TaskAttempt,
  type TaskState,
  type Usage,
} from '../workflows/contracts/index.js';

export type { LiveProgress, TaskAttempt };

type Outcome = NonNullable<TaskAttempt['outcome']>;
const OUTCOME_OF_EVENT: Record<string, Outcome | undefined> = {
  'stage-passed': 'passed',
  'stage-attempt-failed': 'failed',
  'host-lost': 'host-lost',
};

/** Job keys and event dedupe keys both start with the workflow run id (`<runId>/<activityId>`). */
const runOf = (key: string) => key.split('/', 1)[0]!;
/** A round after the first, from its job's activity key (`…-r<round>`, workflows/contracts/names.ts). */
const roundOfJob = (j: Job) => Number(/-r(\d+)$/.exec(j.activityKey)?.[1]) || 1;
const loopOf = (round: number) => (round > 1 ? { loop: round } : {});
const iso = (d: Date | string) => new Date(d).toISOString();
const ms = (d: Date | string) => new Date(d).getTime();

function fromJob(j: Job | undefined): Pick<TaskAttempt, 'usage' | 'pid' | 'model' | 'failureKind'> {
  return {
    usage: j?.usage ?? null,
    pid: j?.pid ?? null,
    model: j?.model ?? null,
    failureKind: (j?.failureKind as AgentFailure['kind'] | null | undefined) ?? null,
  };
}

function detailOf(e: TaskEvent, outcome: Outcome): string | null {
  const d = e.detail ?? {};
  if (outcome === 'failed') return typeof d.reason === 'string' ? d.reason : null;
  // The workflow's own wording for these (workflows/task/agent-stage.ts).
  if (outcome === 'host-lost') return `host ${String(d.host)} stopped answering`;
  if (typeof d.detail === 'string') return d.detail;
  return d.recoveredFromPush ? 'its push landed before the host running it was lost' : null;
}

/** A job no outcome event closed: running, cancelled, or left behind by a run that ended. */
function openOutcome(j: Job, task: Task): [Outcome | null, string | null] {
  if (j.status === 'cancelled') return ['cancelled', j.detail ?? 'stopped'];
  if (isActive(task.status)) return j.status === 'failed' ? ['failed', j.detail] : [null, null];
  if (task.status === 'cancelled') return ['cancelled', 'stopped'];
  return ['failed', j.detail ?? 'its workflow run ended before the attempt did'];
}

/**
 * The attempts the records hold, in the order they started. Each run's outcome events
 * (`stage-passed`, `stage-attempt-failed`, `host-lost`) close one try each; a try's job row is the
 * one with its activity key, counting host moves as the workflow does (or, failing that, the
 * earliest open job of that stage and attempt). Jobs no event closed follow as open tries. A try
 * that ended before its agent started (a lost host, a failed worktree) has no job: no usage, no pid.
 */
export function historyFromRecords(task: Task, jobs: Job[], events: TaskEvent[]): TaskAttempt[] {
  const open = new Set(jobs);
  const byKey = new Map(jobs.map((j) => [j.activityKey, j]));
  const tries: { at: number; attempt: TaskAttempt }[] = [];
  const hostMoves = new Map<string, number>();
  const lastEvent = new Map<string, TaskEvent>();
  for (const e of [...events].sort((a, b) => a.id - b.id)) {
    const run = runOf(e.dedupeKey);
    const before = lastEvent.get(run);
    lastEvent.set(run, e);
    const outcome = OUTCOME_OF_EVENT[e.type];
    const attempt = Number(e.detail?.attempt);
    if (!outcome || !e.stage || !Number.isInteger(attempt)) continue;
    const round = Number(e.detail?.round) || 1;
    const movesKey = `${run}/${e.stage}/${round}`;
    const moves = hostMoves.get(movesKey) ?? 0;
    if (outcome === 'host-lost') hostMoves.set(movesKey, moves + 1);
    let job = byKey.get(`${run}/${agentActivityId(e.stage, attempt, moves, round)}`);
    if (!job || !open.has(job)) {
      job = [...open].find((j) => runOf(j.activityKey) === run && j.stage === e.stage && j.attempt === attempt && ms(j.createdAt) <= ms(e.createdAt));
    }
    if (job) open.delete(job);
    // Without a job, the try started when the workflow recorded its previous step.
    const startedAt = job ? (job.startedAt ?? job.createdAt) : (before?.createdAt ?? e.createdAt);
    tries.push({
      at: ms(job?.createdAt ?? before?.createdAt ?? e.createdAt),
      attempt: {
        stage: e.stage,
        attempt,
        host: job?.host ?? (typeof e.detail?.host === 'string' ? e.detail.host : null),
        startedAt: iso(startedAt),
        endedAt: iso(e.createdAt),
        outcome,
        detail: detailOf(e, outcome),
        ...fromJob(job),
        ...loopOf(round),
      },
    });
  }
  for (const j of open) {
    const [outcome, detail] = openOutcome(j, task);
    tries.push({
      at: ms(j.createdAt),
      attempt: {
        stage: j.stage,
        attempt: j.attempt,
        host: j.host,
        startedAt: iso(j.startedAt ?? j.createdAt),
        endedAt: outcome && j.endedAt ? iso(j.endedAt) : null,
        outcome,
        detail,
        ...fromJob(j),
        ...loopOf(roundOfJob(j)),
      },
    });
  }
  // Creation times and event times are both the database's clock.
  return tries.sort((a, b) => a.at - b.at).map((t) => t.attempt);
}

const isRunning = (h: TaskAttempt, stage: string, attempt: number) => h.outcome === null && h.stage === stage && h.attempt === attempt;

/**
 * Adds what the live workflow knows and the records do not yet: an attempt that has started but
 * whose agent has not (preparing its worktree, waiting for an agent slot).
 */
export function withLiveAttempt(history: TaskAttempt[], state: TaskState | null): TaskAttempt[] {
  const last = state && isActive(state.status) ? state.history.at(-1) : undefined;
  if (!last || last.outcome) return history;
  // The records already hold it once they hold as many tries of this attempt as the workflow does.
  const same = (h: Pick<StageAttempt, 'stage' | 'attempt'>) => h.stage === last.stage && h.attempt === last.attempt;
  if (history.filter(same).length >= state!.history.filter(same).length) return history;
  return [
    ...history,
    {
      stage: last.stage,
      attempt: last.attempt,
      host: last.host ?? null,
      startedAt: last.startedAt,
      endedAt: null,
      outcome: null,
      detail: null,
      usage: last.usage ?? null,
      pid: null,
      model: null,
      failureKind: null,
      ...(last.loop && { loop: last.loop }),
    },
  ];
}

const freshness = (p: LiveProgress) => [p.lastActivityAt ? ms(p.lastActivityAt) : -Infinity, p.turns, p.usage.outputTokens] as const;
const fresher = (a: LiveProgress, b: LiveProgress) => {
  const [fa, fb] = [freshness(a), freshness(b)];
  for (let i = 0; i < fa.length; i++) if (fa[i] !== fb[i]) return fa[i]! > fb[i]!;
  return false;
};

/**
 * The running agent's progress: the workflow's (from its `agentProgress` signals) or the running
 * job row's, whichever reports the later activity. Only for an attempt that is still running: a
 * progress left from an attempt that ended is not live. null when no agent reports progress.
 */
export function liveProgress(task: Task, history: TaskAttempt[], state: TaskState | null, jobs: Job[]): LiveProgress | null {
  if (!isActive(task.status)) return null;
  const candidates: LiveProgress[] = [];
  if (state?.progress) candidates.push(state.progress);
  for (const j of jobs) if (j.status === 'running' && j.progress) candidates.push({ ...j.progress, stage: j.stage, attempt: j.attempt });
  let best: LiveProgress | null = null;
  for (const p of candidates) {
    if (!history.some((h) => isRunning(h, p.stage, p.attempt))) continue;
    if (!best || fresher(p, best)) best = p;
  }
  return best;
}

/** The running attempt spent what its freshest progress says. */
export function withProgressUsage(history: TaskAttempt[], progress: LiveProgress | null): TaskAttempt[] {
  if (!progress) return history;
  return history.map((h) => (isRunning(h, progress.stage, progress.attempt) ? { ...h, usage: progress.usage } : h));
}

/** The task's usage: the sum of its attempts' (cost unknown if any is); null when no agent reported any. */
export function taskUsage(history: TaskAttempt[]): Usage | null {
  const reported = history.flatMap((h) => (h.usage ? [h.usage] : []));
  return reported.length ? addUsage(...reported) : null;
}

/** The contract's shape of an attempt (what the workflow's `state` query holds). */
export const asStageAttempt = (h: TaskAttempt): StageAttempt => ({
  stage: h.stage,
  attempt: h.attempt,
  ...(h.host !== null && { host: h.host }),
  startedAt: h.startedAt,
  ...(h.endedAt !== null && { endedAt: h.endedAt }),
  ...(h.outcome !== null && { outcome: h.outcome }),
  ...(h.detail !== null && { detail: h.detail }),
  ...(h.usage !== null && { usage: h.usage }),
  ...(h.loop && { loop: h.loop }),
});
