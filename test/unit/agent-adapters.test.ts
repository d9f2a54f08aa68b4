// The agent adapters without a CLI: their argv, and what their monitors make of real captured
// output (test/fixtures/agents, recorded from the pinned CLIs against the scripted model).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runEnvironment } from '../../activities/adapters/agent-env.js';
import { adapterFor } from '../../activities/adapters/agents/index.js';
import { costOf } from '../../activities/adapters/agents/pricing.js';
import { lastFailureSection } from '../../activities/host/agent.js';
import { overBudget } from '../../activities/host/agent-watch.js';
import { NO_USAGE } from '../../workflows/contracts/index.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/agents/${name}`, import.meta.url));
const homes: string[] = [];
const home = () => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-adapter-'));
  homes.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of homes.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Feeds a whole captured output to an adapter's monitor, in uneven chunks, as a follower would. */
async function monitorOf(adapter: 'claude-code' | 'codex', output: Buffer, prices = {}) {
  const monitor = adapterFor(adapter).monitor({ home: home(), prices, startedAt: new Date() });
  const lines: string[] = [];
  for (let at = 0; at < output.length; at += 97) lines.push(...monitor.consume(output.subarray(at, at + 97)));
  lines.push(...monitor.end());
  return { monitor, lines };
}

describe('claude-code', () => {
  it('puts orch\'s own arguments first, then the budget and session, then the config\'s', async () => {
    const launch = await adapterFor('claude-code').launch({ command: 'claude', args: ['--model', 'sonnet'], home: '/h', sandboxed: true, budget: { maxCostUsd: 1.5 }, resumeSession: 'abc' });
    expect(launch.args).toEqual(['-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits', '--allowedTools', expect.stringContaining('Bash'), '--max-budget-usd', '1.500000', '--resume', 'abc', '--model', 'sonnet']);
    expect(launch.args).not.toContain('bypassPermissions');
    expect(launch.env).toMatchObject({ CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' });
  });

  it('reads a successful run: session, model, tools, and the usage and cost of its result', async () => {
    const { monitor, lines } = await monitorOf('claude-code', fixture('claude-success.jsonl'));
    const result = fixture('claude-success.jsonl').toString().split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.type === 'result');
    const report = monitor.report();
    expect(report.failure).toBeUndefined();
    expect(report.sessionId).toBe(result.session_id);
    expect(report.usage).toEqual({
      costUsd: result.total_cost_usd,
      inputTokens: result.usage.input_tokens,
      outputTokens: result.usage.output_tokens,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      turns: result.num_turns,
    });
    expect(monitor.progress().lastTool).toBe('Bash');
    expect(lines.some((l) => l.startsWith('→ Write '))).toBe(true);
    expect(lines.at(-1)).toMatch(/^result: success · cost \$[\d.]+ · .* · 3 turns$/);
    expect(lines.every((l) => !l.startsWith('{'))).toBe(true);
  });

  it('calls error_max_budget_usd a budget failure and error_max_turns an agent error', async () => {
    expect((await monitorOf('claude-code', fixture('claude-budget.jsonl'))).monitor.report().failure).toMatchObject({ kind: 'budget', reason: expect.stringMatching(/^budget exceeded/) });
    expect((await monitorOf('claude-code', fixture('claude-max-turns.jsonl'))).monitor.report().failure).toEqual({
      kind: 'agent-error',
      reason: 'claude-code ended with error_max_turns: Reached maximum number of turns (1)',
    });
  });
});

describe('codex', () => {
  it('runs exec --json with the prompt on stdin, its own sandbox off only inside orch\'s', async () => {
    const inside = await adapterFor('codex').launch({ command: 'codex', args: ['-c', 'model="x"'], home: home(), sandboxed: true, resumeSession: 't-1' });
    expect(inside.args).toEqual(['exec', '--json', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', '-c', 'model="x"', 'resume', 't-1', '-']);
    const outside = await adapterFor('codex').launch({ command: 'codex', args: [], home: home(), sandboxed: false });
    expect(outside.args).toEqual(['exec', '--json', '--skip-git-repo-check', '--sandbox', 'workspace-write', '-']);
  });

  it('counts the tokens of turn.completed, prices them, and never calls an unpriced model $0', async () => {
    const usage = { input_tokens: 360, cached_input_tokens: 0, output_tokens: 90 };
    const priced = (await monitorOf('codex', fixture('codex-success.jsonl'))).monitor;
    // The fixture has no session file to say the model: cost unknown, tokens exact.
    expect(priced.report().usage).toEqual({ costUsd: null, inputTokens: usage.input_tokens, outputTokens: usage.output_tokens, cacheReadTokens: 0, cacheWriteTokens: 0, turns: 1 });
    expect(costOf({ 'gpt-test': { input: 2, cachedInput: 1, output: 8 } }, 'gpt-test', { inputTokens: 1_000_000, cacheReadTokens: 500_000, cacheWriteTokens: 0, outputTokens: 250_000 })).toBeCloseTo(2 + 0.5 + 2, 12);
    expect(costOf({}, 'gpt-test', { inputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 1 })).toBeNull();
  });

  it('calls a failed turn an agent error, with its message', async () => {
    const { monitor, lines } = await monitorOf('codex', fixture('codex-failed.jsonl'));
    expect(monitor.report().failure).toMatchObject({ kind: 'agent-error', reason: expect.stringContaining('scripted failure (@model fail)') });
    expect(lines).toContain('turn started');
  });
});

describe('budgets, retry context and the environment', () => {
  const spent = (costUsd: number | null, inputTokens = 0) => ({ turns: 1, usage: { ...NO_USAGE, costUsd, inputTokens } });

  it('is over budget past the cost or the tokens left; an unknown cost is not over a cost budget', () => {
    expect(overBudget(spent(2.01), { maxCostUsd: 2 })).toMatch(/^budget exceeded: spent \$2\.0100/);
    expect(overBudget(spent(1.99), { maxCostUsd: 2 })).toBeUndefined();
    expect(overBudget(spent(null, 10), { maxCostUsd: 2 })).toBeUndefined();
    expect(overBudget(spent(null, 101), { maxTokens: 100 })).toMatch(/101 tokens/);
    expect(overBudget(spent(100), undefined)).toBeUndefined();
  });

  it('says why the last attempt failed, or why the stage runs again, and nothing on a first run', () => {
    expect(lastFailureSection({ attempt: 1 })).toBe('');
    expect(lastFailureSection({ attempt: 2 })).toBe('');
    expect(lastFailureSection({ attempt: 1, lastFailure: 'Rejected at design-approval by alice: smaller' })).toMatch(/^\n## Why this stage runs again\n[\s\S]*by alice: smaller/);
    expect(lastFailureSection({ attempt: 3, lastFailure: 'quality gate failed: boom' })).toMatch(/^\n## Why attempt 2 failed\n[\s\S]*quality gate failed: boom/);
  });

  it('gives a run only the allow-list, its own variables and the passEnv ones', () => {
    const env = runEnvironment({
      home: '/h',
      tmp: '/t',
      orch: { ORCH_TASK_KEY: 'K-1' },
      extra: { FOO: 'bar' },
      passEnv: ['ANTHROPIC_API_KEY'],
      from: { PATH: '/bin', GITEA_TOKEN: 'canary', DATABASE_URL: 'postgres://secret', ANTHROPIC_API_KEY: 'sk', HOME: '/root' },
    });
    expect(env).toEqual({ PATH: '/bin', LANG: 'C.UTF-8', HOME: '/h', TMPDIR: '/t', ORCH_TASK_KEY: 'K-1', FOO: 'bar', ANTHROPIC_API_KEY: 'sk' });
  });
});
