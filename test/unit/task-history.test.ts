// The attempts GET /api/tasks/:key returns, built from job rows and task events as the records hold
// them, with the live workflow's state on top.
import { describe, expect, it } from 'vitest';
import type { Job, Task, TaskEvent } from '../../db/schema.js';
import { historyFromRecords, liveProgress, taskUsage, withLiveAttempt, withProgressUsage, asStageAttempt } from '../../api/task-history.js';
import type { AgentProgress, TaskState, Usage } from '../../workflows/contracts/index.js';

const RUN = 'run-1';
const T0 = Date.parse('2026-03-01T10:00:00Z');
/** Seconds after T0, as the database's timestamps. */
const at = (s: number) => new Date(T0 + s * 1000);

const usage = (costUsd: number | null, inputTokens: number, outputTokens = 0, cacheReadTokens = 0): Usage => ({
  costUsd,
  inputTokens,
  outputTokens,
  cacheReadTokens,
  cacheWriteTokens: 0,
  turns: 1,
});

function task(status: Task['status']): Task {
  return {
    id: 't1',
    key: 'K-1',
    planeIssueId: null,
    planeProjectId: null,
    repo: 'demo',
    title: 'x',
    description: null,
    dependsOn: [],
    stage: null,
    status,
    workflowId: 'task-K-1',
    runId: RUN,
    failureReason: null,
    cancelRequestedAt: null,
    cancelledAt: null,
    finishedAt: null,
    createdAt: at(0),
    updatedAt: at(0),
  };
}

let jobSeq = 0;
function job(stage: string, attempt: number, moves: number, createdS: number, p: Partial<Job> = {}, run = RUN): Job {
  return {
    id: `j${++jobSeq}`,
    taskId: 't1',
    stage,
    attempt,
    status: 'done',
    activityKey: `${run}/agent-${stage}-${attempt}-${moves}`,
    host: 'h-a',
    pid: 1000 + jobSeq,
    exitCode: 0,
    logFile: `/logs/${stage}-${attempt}.log`,
    detail: null,
    usage: null,
    progress: null,
    adapter: 'claude-code',
    sessionId: null,
    model: null,
    failureKind: null,
    startedAt: at(createdS),
    endedAt: at(createdS + 5),
    createdAt: at(createdS),
    updatedAt: at(createdS + 5),
    ...p,
  };
}

let eventSeq = 0;
function event(type: string, stage: string | null, createdS: number, detail: Record<string, unknown> = {}, run = RUN): TaskEvent {
  const id = ++eventSeq;
  return { id, taskId: 't1', type, stage, detail, dedupeKey: `${run}/${id}`, createdAt: at(createdS) };
}

describe('historyFromRecords', () => {
  it('gives each attempt its outcome, detail, job facts and usage; the task sums them', () => {
    const jobs = [
      job('analysis', 1, 0, 1, { usage: usage(0.1, 1000, 200, 5000), model: 'claude-sonnet' }),
      job('design', 1, 0, 10, { status: 'failed', exitCode: 1, detail: 'exit 1', usage: usage(0.05, 500, 50), failureKind: 'agent-error' }),
      job('design', 2, 0, 20, { usage: usage(0.07, 700, 70) }),
    ];
    const events = [
      event('started', null, 0),
      event('stage-passed', 'analysis', 8, { attempt: 1, host: 'h-a', sha: 'abc' }),
      event('stage-attempt-failed', 'design', 16, { attempt: 1, reason: 'agent exited with code 1' }),
      event('stage-passed', 'design', 27, { attempt: 2, host: 'h-a', sha: 'def' }),
    ];
    const h = historyFromRecords(task('done'), jobs, events);
    expect(h.map((a) => [a.stage, a.attempt, a.outcome, a.detail])).toEqual([
      ['analysis', 1, 'passed', null],
      ['design', 1, 'failed', 'agent exited with code 1'],
      ['design', 2, 'passed', null],
    ]);
    expect(h[0]).toEqual({
      stage: 'analysis',
      attempt: 1,
      host: 'h-a',
      startedAt: at(1).toISOString(),
      endedAt: at(8).toISOString(),
      outcome: 'passed',
      detail: null,
      usage: usage(0.1, 1000, 200, 5000),
      pid: jobs[0]!.pid,
      model: 'claude-sonnet',
      failureKind: null,
    });
    expect(h[1]!.failureKind).toBe('agent-error');
    const total = taskUsage(h)!;
    expect(total).toMatchObject({ inputTokens: 2200, outputTokens: 320, cacheReadTokens: 5000, turns: 3 });
    expect(total.costUsd).toBeCloseTo(0.22, 10);
  });

  it('a cost unknown on one attempt makes the total unknown; no usage at all is null, never zero', () => {
    const events = [event('stage-passed', 'a', 5, { attempt: 1 }), event('stage-passed', 'b', 12, { attempt: 1 })];
    const priced = historyFromRecords(task('done'), [job('a', 1, 0, 1, { usage: usage(0.1, 10) }), job('b', 1, 0, 8, { usage: usage(null, 20) })], events);
    expect(taskUsage(priced)).toMatchObject({ costUsd: null, inputTokens: 30 });
    const silent = historyFromRecords(task('done'), [job('a', 1, 0, 1), job('b', 1, 0, 8)], events);
    expect(silent.map((a) => a.usage)).toEqual([null, null]);
    expect(taskUsage(silent)).toBeNull();
  });

  it('a lost host is its own try, with the lost job; the try lost before its agent started has none', () => {
    const jobs = [
      // Lost, then superseded when the stage ran again (it had ended `done` on the lost host).
      job('dev', 1, 0, 1, { host: 'h-a', status: 'failed', detail: 'its host was lost before the stage was pushed', usage: usage(0.3, 3000) }),
      job('dev', 1, 2, 30, { host: 'h-c', usage: usage(0.2, 2000) }),
    ];
    const events = [
      event('host-lost', 'dev', 10, { host: 'h-a', attempt: 1 }),
      // h-b was lost while preparing the worktree: no agent ran there.
      event('host-lost', 'dev', 20, { host: 'h-b', attempt: 1 }),
      event('stage-passed', 'dev', 40, { attempt: 1, host: 'h-c', sha: 'abc' }),
    ];
    const h = historyFromRecords(task('done'), jobs, events);
    expect(h.map((a) => [a.host, a.outcome, a.detail, a.usage?.inputTokens ?? null, a.pid])).toEqual([
      ['h-a', 'host-lost', 'host h-a stopped answering', 3000, jobs[0]!.pid],
      ['h-b', 'host-lost', 'host h-b stopped answering', null, null],
      ['h-c', 'passed', null, 2000, jobs[1]!.pid],
    ]);
    // The try without a job started when the workflow recorded its step before it.
    expect(h[1]!.startedAt).toBe(at(10).toISOString());
    expect(taskUsage(h)!.inputTokens).toBe(5000);
  });

  it('a job the lost host started only after it was given up belongs to the lost try (by its activity key)', () => {
    const jobs = [
      job('dev', 1, 1, 15, { host: 'h-b', usage: usage(0.2, 2000) }),
      // h-a waited for an agent slot past its heartbeat timeout, then started its agent anyway.
      job('dev', 1, 0, 12, { host: 'h-a', status: 'failed', detail: 'host h-a lost', usage: usage(0.1, 1000) }),
    ];
    const events = [event('host-lost', 'dev', 10, { host: 'h-a', attempt: 1 }), event('stage-passed', 'dev', 30, { attempt: 1, host: 'h-b' })];
    const h = historyFromRecords(task('done'), jobs, events);
    expect(h.map((a) => [a.host, a.outcome, a.usage?.inputTokens])).toEqual([
      ['h-a', 'host-lost', 1000],
      ['h-b', 'passed', 2000],
    ]);
  });

  it('a stage recovered from a lost host\'s push passes without a job', () => {
    const jobs = [job('dev', 1, 0, 1, { host: 'h-a', status: 'running', endedAt: null })];
    const events = [
      event('host-lost', 'dev', 10, { host: 'h-a', attempt: 1 }),
      event('stage-passed', 'dev', 15, { attempt: 1, host: 'h-b', sha: 'abc', recoveredFromPush: true }),
    ];
    const h = historyFromRecords(task('done'), jobs, events);
    expect(h.map((a) => [a.host, a.outcome, a.detail])).toEqual([
      ['h-a', 'host-lost', 'host h-a stopped answering'],
      ['h-b', 'passed', 'its push landed before the host running it was lost'],
    ]);
  });

  it('jobs no event closed: running while the task runs, cancelled by a STOP, failed once the task ended', () => {
    const running = job('dev', 1, 0, 1, { status: 'running', endedAt: null, usage: usage(0.01, 100) });
    expect(historyFromRecords(task('running'), [running], []).map((a) => [a.outcome, a.endedAt, a.usage?.inputTokens])).toEqual([[null, null, 100]]);
    // The agent is done and its gate runs: still running.
    expect(historyFromRecords(task('running'), [job('dev', 1, 0, 1)], [])[0]!.outcome).toBeNull();
    const stopped = job('dev', 1, 0, 1, { status: 'cancelled', detail: 'stopped' });
    expect(historyFromRecords(task('cancelled'), [stopped], [])[0]).toMatchObject({ outcome: 'cancelled', detail: 'stopped', endedAt: at(6).toISOString() });
    // The gate was running when the STOP came: the job had ended done.
    expect(historyFromRecords(task('cancelled'), [job('dev', 1, 0, 1)], [])[0]).toMatchObject({ outcome: 'cancelled', detail: 'stopped' });
    expect(historyFromRecords(task('failed'), [job('dev', 1, 0, 1, { status: 'running', endedAt: null })], [])[0]!.outcome).toBe('failed');
  });

  it('keeps the attempts of an earlier workflow run (a reset) apart from the current one', () => {
    const jobs = [
      job('dev', 1, 0, 1, { status: 'failed', usage: usage(0.5, 5000) }, 'run-0'),
      job('dev', 1, 0, 30, { usage: usage(0.2, 2000) }),
    ];
    const events = [
      event('stage-attempt-failed', 'dev', 10, { attempt: 1, reason: 'quality gate failed: x' }, 'run-0'),
      event('stage-passed', 'dev', 40, { attempt: 1, sha: 'abc' }),
    ];
    const h = historyFromRecords(task('done'), jobs, events);
    expect(h.map((a) => [a.outcome, a.usage?.inputTokens])).toEqual([
      ['failed', 5000],
      ['passed', 2000],
    ]);
  });

  it('a stage that ran again (a rework loop) shows its round as `loop`, from the event or the open job', () => {
    const jobs = [
      job('dev', 1, 0, 1),
      job('review', 1, 0, 10, { status: 'failed', exitCode: 0 }),
      job('dev', 1, 0, 20, { activityKey: `${RUN}/agent-dev-1-0-r2` }),
      job('review', 1, 0, 30, { activityKey: `${RUN}/agent-review-1-0-r2`, status: 'running', endedAt: null }),
    ];
    const events = [
      event('stage-passed', 'dev', 8, { attempt: 1, sha: 'a' }),
      event('stage-attempt-failed', 'review', 15, { attempt: 1, reason: 'quality gate failed: findings' }),
      event('rework', 'review', 16, { goto: 'dev', loop: 1 }),
      event('stage-passed', 'dev', 28, { attempt: 1, sha: 'b', round: 2 }),
    ];
    const h = historyFromRecords(task('running'), jobs, events);
    expect(h.map((a) => [a.stage, a.loop ?? 1, a.outcome, a.pid])).toEqual([
      ['dev', 1, 'passed', jobs[0]!.pid],
      ['review', 1, 'failed', jobs[1]!.pid],
      ['dev', 2, 'passed', jobs[2]!.pid],
      ['review', 2, null, jobs[3]!.pid],
    ]);
    expect(h[0]).not.toHaveProperty('loop');
    expect(asStageAttempt(h[2]!)).toMatchObject({ stage: 'dev', loop: 2 });
  });

  it('converts to the contract\'s StageAttempt without nulls', () => {
    const [a] = historyFromRecords(task('done'), [job('dev', 1, 0, 1)], [event('stage-passed', 'dev', 9, { attempt: 1 })]);
    expect(asStageAttempt(a!)).toEqual({ stage: 'dev', attempt: 1, host: 'h-a', startedAt: at(1).toISOString(), endedAt: at(9).toISOString(), outcome: 'passed' });
  });
});

describe('the live workflow on top of the records', () => {
  const state = (history: TaskState['history'], progress?: TaskState['progress']): TaskState => ({
    key: 'K-1',
    repo: 'demo',
    stage: 'dev',
    status: 'running',
    host: 'h-a',
    history,
    pendingStop: null,
    inCriticalWindow: false,
    failureReason: null,
    compensation: [],
    ...(progress && { progress }),
  });
  const progress = (turns: number, lastActivityS: number, cost: number | null): AgentProgress => ({
    turns,
    lastTool: 'Bash',
    usage: usage(cost, turns * 100),
    lastActivityAt: at(lastActivityS).toISOString(),
  });

  it('adds the attempt the workflow has started but whose agent has not', () => {
    const records = historyFromRecords(task('running'), [job('dev', 1, 0, 1, { status: 'failed' })], [event('stage-attempt-failed', 'dev', 9, { attempt: 1, reason: 'r' })]);
    const live = state([
      { stage: 'dev', attempt: 1, host: 'h-a', startedAt: at(0).toISOString(), outcome: 'failed', detail: 'r' },
      { stage: 'dev', attempt: 2, host: 'h-a', startedAt: at(10).toISOString() },
    ]);
    const h = withLiveAttempt(records, live);
    expect(h.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'failed'],
      [2, null],
    ]);
    expect(h[1]).toMatchObject({ host: 'h-a', startedAt: at(10).toISOString(), usage: null, pid: null });
    // Once its job row exists, the records hold it: no second entry.
    const withJob = historyFromRecords(
      task('running'),
      [job('dev', 1, 0, 1, { status: 'failed' }), job('dev', 2, 0, 12, { status: 'running', endedAt: null })],
      [event('stage-attempt-failed', 'dev', 9, { attempt: 1, reason: 'r' })],
    );
    expect(withLiveAttempt(withJob, live)).toHaveLength(2);
    // A closed or unanswering workflow adds nothing.
    expect(withLiveAttempt(records, null)).toBe(records);
  });

  it('takes the fresher progress of the workflow and the running job, for the running attempt only', () => {
    const running = job('dev', 2, 0, 1, { status: 'running', endedAt: null, progress: progress(7, 50, 0.42), usage: usage(0.42, 700) });
    const h = historyFromRecords(task('running'), [running], []);
    const older = state([], { ...progress(5, 40, 0.3), stage: 'dev', attempt: 2 });
    const newer = state([], { ...progress(8, 60, 0.5), stage: 'dev', attempt: 2 });
    expect(liveProgress(task('running'), h, older, [running])).toMatchObject({ stage: 'dev', attempt: 2, turns: 7 });
    expect(liveProgress(task('running'), h, newer, [running])).toMatchObject({ turns: 8 });
    expect(liveProgress(task('running'), h, null, [running])).toMatchObject({ turns: 7, lastTool: 'Bash' });
    // The workflow still holds attempt 1's last progress: not live.
    const stale = state([], { ...progress(30, 99, 2), stage: 'dev', attempt: 1 });
    expect(liveProgress(task('running'), h, stale, [running])).toMatchObject({ attempt: 2, turns: 7 });
    expect(liveProgress(task('done'), h, newer, [running])).toBeNull();

    const p = liveProgress(task('running'), h, newer, [running]);
    const withUsage = withProgressUsage(h, p);
    expect(withUsage[0]!.usage).toEqual(usage(0.5, 800));
    expect(taskUsage(withUsage)!.costUsd).toBe(0.5);
  });
});
