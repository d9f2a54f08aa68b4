// Rework loops on the real stack: a review whose gate fails sends the task back to development with
// the review's findings in the prompt, at most `maxLoops` times; each round starts from what was
// last pushed on the task's branch, and the API's history shows each round's `loop`.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';
import { createTestEnv, testAgentPipeline, type TestEnv } from '../support/env.js';
import { gitIn } from '../support/git-fixtures.js';

// Development prints what it starts from and the prompt it was given (into its log); review writes
// its findings (naming the commit it reviewed) and its gate prints them when no fix is there.
const PIPELINE = `${testAgentPipeline({ attempts: 1, stageTimeout: '2m' })}stages:
  - name: development
    prompt: |
      develop {{key}}
      @agent-sh echo "HEAD=$(git rev-parse HEAD) FILES=$(ls docs/tasks/{{key}} 2>/dev/null | tr '\\n' ,)"; cat "$ORCH_PROMPT_FILE"
      {{lastFailure}}
    gate: { type: file-exists, path: "docs/tasks/{{key}}/development.md" }
  - name: review
    prompt: |
      review {{key}}
      @agent-sh echo "Finding: no test covers $(git rev-parse --short=12 HEAD)" > docs/tasks/{{key}}/findings.md
      {{description}}
    gate: { type: command, command: sh, args: ["-c", "test -f docs/tasks/{{key}}/fix.md || { cat docs/tasks/{{key}}/findings.md; exit 1; }"] }
    onFail: { goto: development, maxLoops: 2 }
  - { kind: merge }
`;

describe('rework loops', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('rework', { pipeline: PIPELINE });
  });
  afterAll(async () => env?.cleanup());

  const start = async (key: string, description = '') => {
    const res = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `rework ${key}`, description });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
  };
  /** The development agent's log, one entry per run (the log is appended to across rounds). */
  const developmentRuns = async (key: string) => {
    const log = await readFile(path.join(env.dataDir, 'logs', 'tasks', key, 'development-1.log'), 'utf8');
    return log.split(/^(?=\[test-agent\] pid=)/m).filter((run) => run.startsWith('[test-agent] pid='));
  };
  const pushedBy = (view: any, stage: string) => view.events.filter((e: any) => e.type === 'stage-passed' && e.stage === stage).map((e: any) => e.detail.sha as string);
  const rounds = (view: any) => view.history.map((h: any) => [h.stage, h.loop ?? 1, h.outcome]);

  it('a review that keeps failing sends the task back twice with its findings, then fails saying it looped 2 times; one fixed in round 2 is done', async () => {
    // RW-DONE's review also asks for the fix, which development acts on once it reads the findings.
    const fix = "@agent-sh=review echo '@agent-sh=development echo fixed > docs/tasks/RW-DONE/fix.md && git add docs/tasks/RW-DONE/fix.md' >> docs/tasks/RW-DONE/findings.md";
    await Promise.all([start('RW-FAIL'), start('RW-DONE', fix)]);
    const [failed, done] = await Promise.all([env.waitForStatus('RW-FAIL', TERMINAL_STATUSES), env.waitForStatus('RW-DONE', TERMINAL_STATUSES)]);

    // Three rounds of review, two loops back, then the task fails.
    expect(failed.task.status).toBe('failed');
    expect(failed.task.failureReason).toMatch(/^stage review looped 2 time\(s\) back to development and still failed: stage review failed after 1 attempt\(s\): quality gate failed: sh exited 1: Finding: no test covers [0-9a-f]{12}/);
    expect(rounds(failed)).toEqual([
      ['development', 1, 'passed'],
      ['review', 1, 'failed'],
      ['development', 2, 'passed'],
      ['review', 2, 'failed'],
      ['development', 3, 'passed'],
      ['review', 3, 'failed'],
    ]);
    expect(failed.events.filter((e: any) => e.type === 'rework').map((e: any) => [e.stage, e.detail.goto, e.detail.loop])).toEqual([
      ['review', 'development', 1],
      ['review', 'development', 2],
    ]);

    // Each round of development starts from the last push (not from review's unpushed commit and
    // files), and its prompt, as the agent read it, carries the findings on the commit reviewed.
    const pushed = pushedBy(failed, 'development');
    expect(pushed).toHaveLength(3);
    const runs = await developmentRuns('RW-FAIL');
    expect(runs).toHaveLength(3);
    expect(runs[0]).not.toContain('Finding:');
    expect(runs[0]).not.toContain('Why this stage runs again');
    for (const round of [1, 2]) {
      const run = runs[round]!;
      expect(run).toContain(`HEAD=${pushed[round - 1]} FILES=development.md,\n`);
      expect(run).toContain('## Why this stage runs again');
      expect(run).toContain(`Finding: no test covers ${pushed[round - 1]!.slice(0, 12)}`);
    }
    expect(await gitIn(env.remote.path, 'log', '--format=%s', 'main')).not.toContain('RW-FAIL');

    // The variant: round 2 of development applies the fix the findings ask for, and review passes.
    expect(done.task.status, done.task.failureReason).toBe('done');
    expect(rounds(done)).toEqual([
      ['development', 1, 'passed'],
      ['review', 1, 'failed'],
      ['development', 2, 'passed'],
      ['review', 2, 'passed'],
    ]);
    expect(done.events.filter((e: any) => e.type === 'rework').map((e: any) => e.detail.loop)).toEqual([1]);
    const doneRuns = await developmentRuns('RW-DONE');
    expect(doneRuns).toHaveLength(2);
    expect(doneRuns[1]).toContain(`HEAD=${pushedBy(done, 'development')[0]} FILES=development.md,\n`);
    expect(doneRuns[1]).toContain('[test-agent] sh -c "echo fixed > docs/tasks/RW-DONE/fix.md && git add docs/tasks/RW-DONE/fix.md"');
    const files = await gitIn(env.remote.path, 'ls-tree', '-r', '--name-only', 'main');
    for (const f of ['development.md', 'fix.md', 'review.md']) expect(files).toContain(`docs/tasks/RW-DONE/${f}`);
  });
});
