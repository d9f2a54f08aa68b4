// Usage and progress as the CLI and the comments print them, and what `orch status` / `orch watch`
// take from a task response.
import { describe, expect, it } from 'vitest';
import type { TaskAttempt, TaskResponse } from '../../bin/api-types.js';
import { progressLine, usageCells } from '../../bin/format.js';
import { attemptsOf } from '../../bin/task-attempts.js';
import { factsOf } from '../../bin/task-story.js';
import { costText, progressText, tokenCount, tokensText, usageText } from '../../workflows/contracts/usage-text.js';
import type { Usage } from '../../workflows/contracts/usage.js';

const u = (costUsd: number | null, p: Partial<Usage> = {}): Usage => ({
  costUsd,
  inputTokens: 12_345,
  outputTokens: 2100,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  turns: 7,
  ...p,
});

describe('usage as text', () => {
  it('prints costs to the cent, small ones to a hundredth of a cent, unknown as unknown', () => {
    expect(costText(0.4213)).toBe('$0.42');
    expect(costText(12)).toBe('$12.00');
    expect(costText(0.0031)).toBe('$0.0031');
    expect(costText(0.00001)).toBe('<$0.0001');
    expect(costText(0)).toBe('$0.00');
    expect(costText(null)).toBe('cost unknown');
  });

  it('shortens token counts', () => {
    expect([0, 950, 1000, 12_345, 99_960, 480_000, 999_499, 999_500, 1_234_567, 250_000_000].map(tokenCount)).toEqual([
      '0',
      '950',
      '1k',
      '12.3k',
      '100k',
      '480k',
      '999k',
      '1M',
      '1.2M',
      '250M',
    ]);
  });

  it('counts cached tokens apart from input', () => {
    expect(tokensText(u(1))).toBe('12.3k in / 2.1k out tokens');
    expect(tokensText(u(1, { cacheReadTokens: 480_000, cacheWriteTokens: 12_000 }))).toBe('12.3k in / 2.1k out tokens (480k cache read, 12k cache write)');
    expect(usageText(u(0.42, { cacheReadTokens: 480_000 }))).toBe('cost $0.42 · 12.3k in / 2.1k out tokens (480k cache read) · 7 turns');
    expect(usageText(u(null, { turns: 1 }))).toBe('cost unknown · 12.3k in / 2.1k out tokens · 1 turn');
    expect(usageText(u(0, { turns: 0 }))).toBe('cost $0.00 · 12.3k in / 2.1k out tokens');
  });

  it('reads a running agent as one line', () => {
    const p = { stage: 'development', attempt: 2, turns: 7, lastTool: 'Bash', usage: u(0.42) };
    expect(progressText(p)).toBe('development, attempt 2: turn 7, running Bash, $0.42');
    expect(progressText({ ...p, lastTool: undefined, usage: u(null) })).toBe('development, attempt 2: turn 7, cost unknown');
    const now = Date.parse('2026-03-01T10:00:00Z');
    expect(progressLine({ ...p, lastActivityAt: new Date(now - 5000).toISOString() }, now)).toBe('development, attempt 2: turn 7, running Bash, $0.42');
    expect(progressLine({ ...p, lastActivityAt: new Date(now - 95_000).toISOString() }, now)).toBe('development, attempt 2: turn 7, running Bash, $0.42 (quiet for 1m35s)');
  });

  it('fills the attempt table cells; none for an agent that reports nothing', () => {
    expect(usageCells(u(0.42, { cacheReadTokens: 480_000 }))).toEqual(['$0.42', '12.3k/2.1k', '480k/0']);
    expect(usageCells(u(null))).toEqual(['unknown', '12.3k/2.1k', null]);
    expect(usageCells(null)).toEqual([null, null, null]);
  });
});

const T = '2026-03-01T10:00:';
function response(p: Partial<TaskResponse> & { status?: TaskResponse['task']['status'] } = {}): TaskResponse {
  const { status = 'running', ...rest } = p;
  return {
    task: {
      key: 'K-1',
      repo: 'demo',
      title: 'x',
      stage: 'development',
      status,
      workflowId: 'task-K-1',
      runId: 'r',
      failureReason: null,
      cancelRequestedAt: null,
      cancelledAt: null,
      createdAt: `${T}00Z`,
      updatedAt: `${T}00Z`,
      finishedAt: null,
    },
    state: null,
    jobs: [],
    events: [],
    ...rest,
  };
}
const attempt = (a: Partial<TaskAttempt>): TaskAttempt => ({
  stage: 'development',
  attempt: 1,
  host: 'h-a',
  startedAt: `${T}01Z`,
  endedAt: null,
  outcome: null,
  detail: null,
  usage: null,
  pid: 4242,
  model: null,
  failureKind: null,
  ...a,
});

describe('orch status and orch watch from the task response', () => {
  it('lists the API history as the attempts', () => {
    const history = [attempt({ outcome: 'failed', detail: 'exit 1', usage: u(0.1) }), attempt({ attempt: 2 })];
    expect(attemptsOf(response({ history }))).toBe(history);
    // An older API without `history`: the job rows, as before.
    const jobs = [{ stage: 'dev', attempt: 1, status: 'done' as const, host: 'h', pid: 7, exitCode: 0, startedAt: null, endedAt: null, detail: null, createdAt: `${T}00Z` }];
    expect(attemptsOf(response({ jobs })).map((a) => [a.stage, a.pid])).toEqual([['dev', 7]]);
  });

  it('watch prints what each attempt spent, the live progress as it moves, and the total before the end', () => {
    const events = [
      { id: 1, type: 'stage-attempt-failed' as const, stage: 'development', detail: { attempt: 1, reason: 'quality gate failed: x' }, createdAt: `${T}10Z` },
      { id: 2, type: 'stage-passed' as const, stage: 'development', detail: { attempt: 2, sha: '0123456789abcdef' }, createdAt: `${T}30Z` },
    ];
    const running = response({
      history: [attempt({ outcome: 'failed', endedAt: `${T}10Z`, detail: 'quality gate failed: x', usage: u(0.1) }), attempt({ attempt: 2, startedAt: `${T}11Z` })],
      progress: { stage: 'development', attempt: 2, turns: 3, lastTool: 'Edit', usage: u(0.05), lastActivityAt: `${T}20Z` },
      events: events.slice(0, 1),
    });
    const now = Date.parse(`${T}21Z`);
    const texts = factsOf('K-1', running, now).map((f) => f.text);
    expect(texts).toContain('  development attempt 1 failed: quality gate failed: x — cost $0.10 · 12.3k in / 2.1k out tokens · 7 turns');
    expect(texts).toContain('  development attempt 2 started on h-a (pid 4242)');
    expect(texts).toContain('  development, attempt 2: turn 3, running Edit, $0.05');
    // The next turn is a new fact; the same turn again is not.
    const ids = (r: TaskResponse) => factsOf('K-1', r, now).map((f) => f.id);
    const sameTurn = { ...running, progress: { ...running.progress!, usage: u(0.06) } };
    expect(ids(sameTurn)).toEqual(ids(running));
    expect(ids({ ...running, progress: { ...running.progress!, turns: 4 } }).filter((id) => !ids(running).includes(id))).toEqual(['progress:development:2:4:Edit']);

    const done = response({
      status: 'done',
      history: [running.history![0]!, attempt({ attempt: 2, outcome: 'passed', endedAt: `${T}30Z`, usage: u(null) })],
      usage: u(null, { inputTokens: 24_690, outputTokens: 4200, turns: 14 }),
      events,
    });
    const facts = factsOf('K-1', done, now).sort((a, b) => a.at - b.at || a.rank - b.rank);
    expect(facts.map((f) => f.text)).toContain('  development attempt 2 passed (0123456789) — cost unknown · 12.3k in / 2.1k out tokens · 7 turns');
    expect(facts.map((f) => f.text).slice(-2)).toEqual(['  usage: cost unknown · 24.7k in / 4.2k out tokens · 14 turns', 'K-1 done']);
    // No progress once the task has ended.
    expect(factsOf('K-1', { ...done, progress: running.progress }, now).some((f) => f.id.startsWith('progress:'))).toBe(false);
  });

  it('prints no usage for a task whose agents report none', () => {
    const r = response({ status: 'done', history: [attempt({ outcome: 'passed' })], usage: null, events: [] });
    expect(factsOf('K-1', r, Date.now()).some((f) => /usage|cost/.test(f.text))).toBe(false);
  });
});
