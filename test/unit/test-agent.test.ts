// The scripted test agent, run as a real process in real git repositories.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { git, Scratch, TEST_AGENT } from './agent-fixtures.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

function runAgent(cwd: string, prompt: string, { stage = 'plan', args = [] as string[], env = {} as Record<string, string> } = {}) {
  return execa(TEST_AGENT, args, {
    cwd,
    reject: false,
    extendEnv: false,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ORCH_TASK_KEY: 'T-1',
      ORCH_STAGE: stage,
      ORCH_ATTEMPT: '2',
      ORCH_PROMPT_FILE: scratch.prompt(prompt),
      ...env,
    },
  });
}

const commitCount = async (repo: string) => Number(await git(repo, 'rev-list', '--all', '--count'));

describe('test agent', () => {
  it('writes and commits the stage note by default, then exits 0', async () => {
    const repo = await scratch.repo();
    const agent = runAgent(repo, 'Add a health endpoint\n\nMore details here.\n');
    const result = await agent;

    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^\\[test-agent\\] pid=${agent.pid} pgid=\\d+ key=T-1 stage=plan attempt=2$`, 'm'));
    const note = readFileSync(join(repo, 'docs/tasks/T-1/plan.md'), 'utf8');
    expect(note).toContain('- key: T-1');
    expect(note).toContain('- stage: plan');
    expect(note).toContain('- attempt: 2');
    expect(note).toMatch(/- at: \d{4}-\d\d-\d\dT/);
    expect(note).toContain('- prompt: Add a health endpoint');
    expect(await git(repo, 'log', '--format=%s|%an|%ae')).toBe('T-1: plan|orch-test-agent|test-agent@orch.invalid');
    expect(await git(repo, 'show', '--name-only', '--format=', 'HEAD')).toBe('docs/tasks/T-1/plan.md');
    expect(await git(repo, 'status', '--porcelain')).toBe('');
  });

  it('lets --key/--stage/--prompt-file override the environment', async () => {
    const repo = await scratch.repo();
    const prompt = scratch.prompt('From the flag\n');
    const result = await runAgent(repo, 'From the env\n', { args: ['--key', 'K-9', '--stage=review', '--prompt-file', prompt] });

    expect(result.exitCode).toBe(0);
    expect(readFileSync(join(repo, 'docs/tasks/K-9/review.md'), 'utf8')).toContain('- prompt: From the flag');
    expect(await git(repo, 'log', '--format=%s')).toBe('K-9: review');
  });

  it('commits again on a later attempt of the same stage', async () => {
    const repo = await scratch.repo();
    expect((await runAgent(repo, 'Task\n')).exitCode).toBe(0);
    expect((await runAgent(repo, 'Task\n', { env: { ORCH_ATTEMPT: '3' } })).exitCode).toBe(0);
    expect(await commitCount(repo)).toBe(2);
    expect(readFileSync(join(repo, 'docs/tasks/T-1/plan.md'), 'utf8')).toContain('- attempt: 3');
  });

  it('@agent-sh: runs each line of its stage with sh -c, in order, and carries on whatever it exits', async () => {
    const repo = await scratch.repo();
    const prompt = 'Task\n@agent-sh echo "one $ORCH_STAGE" && exit 3\n@agent-sh=review echo not-here\n@agent-sh=plan echo two > sh.txt\n';
    const result = await runAgent(repo, prompt);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('one plan\n[test-agent] sh exited 3');
    expect(result.stdout).not.toContain('not-here');
    expect(readFileSync(join(repo, 'sh.txt'), 'utf8')).toBe('two\n');
    expect(result.stdout.indexOf('one plan')).toBeLessThan(result.stdout.indexOf('sh -c "echo two > sh.txt"'));
  });

  it('fail-stage: writes nothing and exits 1 in that stage only', async () => {
    const repo = await scratch.repo();
    const prompt = 'Task\n  - @agent fail-stage=review\n';

    const failed = await runAgent(repo, prompt, { stage: 'review' });
    expect(failed.exitCode).toBe(1);
    expect(failed.stdout).toContain('failing stage review');
    expect(existsSync(join(repo, 'docs'))).toBe(false);
    expect(await commitCount(repo)).toBe(0);

    const other = await runAgent(repo, prompt, { stage: 'plan' });
    expect(other.exitCode).toBe(0);
    expect(await commitCount(repo)).toBe(1);
  });

  it('sleep: sleeps before working, stage-specific sleep wins over the general one', async () => {
    const repo = await scratch.repo();

    const general = await runAgent(repo, '@agent sleep=0.4\n');
    expect(general.exitCode).toBe(0);
    expect(general.stdout).toContain('sleeping 0.4s');
    expect(general.durationMs).toBeGreaterThanOrEqual(400);

    const specific = await runAgent(repo, '@agent sleep=30\n@agent sleep=impl:0.2 sleep=review:30\n', { stage: 'impl' });
    expect(specific.exitCode).toBe(0);
    expect(specific.stdout).toContain('sleeping 0.2s');
    expect(specific.stdout).not.toContain('sleeping 30s');

    const elsewhere = await runAgent(repo, '@agent sleep=review:30\n', { stage: 'docs' });
    expect(elsewhere.exitCode).toBe(0);
    expect(elsewhere.stdout).not.toContain('sleeping');
  });

  it('warns about unknown or malformed directives and carries on', async () => {
    const repo = await scratch.repo();
    const result = await runAgent(repo, 'Task\n@agent frobnicate sleep=soon fail-stage\n');

    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('unknown directive "frobnicate"');
    expect(result.stderr).toContain('ignoring sleep=soon');
    expect(result.stderr).toContain('ignoring fail-stage');
    expect(await commitCount(repo)).toBe(1);
  });

  it('ignore-sigterm: logs and survives SIGTERM', async () => {
    const repo = await scratch.repo();
    const agent = runAgent(repo, '@agent ignore-sigterm sleep=1\n');
    const sawSleep = new Promise<void>((resolve) => {
      agent.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('sleeping') && resolve());
    });
    await sawSleep;
    agent.kill('SIGTERM');
    const result = await agent;

    expect(result.stdout).toContain('received SIGTERM; ignoring it');
    expect(result.exitCode).toBe(0);
    expect(await commitCount(repo)).toBe(1);
  });

  it('fails clearly on bad input or outside a git work tree', async () => {
    const noKey = await runAgent(await scratch.repo(), 'Task\n', { env: { ORCH_TASK_KEY: '' } });
    expect(noKey.exitCode).toBe(2);
    expect(noKey.stderr).toContain('missing task key');

    const badStage = await runAgent(await scratch.repo(), 'Task\n', { stage: '../escape' });
    expect(badStage.exitCode).toBe(2);
    expect(badStage.stderr).toContain('not a safe path segment');

    const badFlag = await runAgent(await scratch.repo(), 'Task\n', { args: ['--verbose'] });
    expect(badFlag.exitCode).toBe(2);
    expect(badFlag.stderr).toContain('unknown argument "--verbose"');

    const notRepo = scratch.dir();
    const outside = await runAgent(notRepo, 'Task\n');
    expect(outside.exitCode).toBe(1);
    expect(outside.stderr).toContain('is not inside a git work tree');
    expect(existsSync(join(notRepo, 'docs'))).toBe(false);
  });
});
