// The real Claude Code CLI (@anthropic-ai/claude-code 2.1.328, a devDependency) against the scripted
// Anthropic Messages API on loopback: its own Write and Bash tools really run, unattended, as root.
// ORCH_CAPTURE_FIXTURES=1 saves the stream-json it printed to test/fixtures/agents/ (the parser's fixtures).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ClaudeEvent, parseClaudeStream, resultTotals } from '../../activities/adapters/agents/claude-stream.js';
import { promptText } from '../../worker/harness/scripted-model/anthropic.js';
import { COSTLY_USAGE, NORMAL_USAGE } from '../../worker/harness/scripted-model/script.js';
import { type ScriptedModel, startScriptedModel } from '../../worker/harness/scripted-model/server.js';
import { baseEnv, CLAUDE_BIN, makeWorkspace, REPO_ROOT, runCli, type Workspace } from './cli.js';

/**
 * Unattended as root: bypassPermissions is refused for root, so edits are allowed by
 * `acceptEdits` (inside the cwd) and the tools by an explicit allow-list.
 */
const CLAUDE_ARGS = ['-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits', '--allowedTools', 'Bash,Write,Edit'];

let model: ScriptedModel;
let workspace: Workspace;

beforeEach(async () => {
  model = await startScriptedModel();
  workspace = makeWorkspace('claude');
});
afterEach(async () => {
  await model.close();
  workspace.remove();
});

const claudeEnv = () => ({
  ...baseEnv(workspace.home),
  ANTHROPIC_BASE_URL: model.url,
  ANTHROPIC_API_KEY: 'sk-ant-scripted',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_AUTOUPDATER: '1',
});

const claude = (prompt: string, extraArgs: string[] = [], timeoutMs?: number) =>
  runCli(CLAUDE_BIN, [...CLAUDE_ARGS, ...extraArgs], { cwd: workspace.repo, env: claudeEnv(), stdin: prompt, timeoutMs });

function capture(name: string, stdout: string): void {
  if (process.env.ORCH_CAPTURE_FIXTURES) writeFileSync(join(REPO_ROOT, 'test/fixtures/agents', name), stdout);
}

const only = <T extends ClaudeEvent['type']>(events: ReturnType<typeof parseClaudeStream>, type: T) =>
  events.filter((event): event is Extract<ClaudeEvent, { type: T }> => event.type === type);

describe('Claude Code CLI against the scripted Messages API', () => {
  it('writes a file with its own Write tool, runs Bash, and reports exactly the usage served', async () => {
    const prompt = ['# Task DEMO-1: hello', '', 'Write the greeting, then record that you ran.', '@model write=docs/hello.md:hello from claude', '@model run=echo ran-by-bash > ran.txt', '@model say=All done.'].join('\n');
    const run = await claude(prompt);
    capture('claude-success.jsonl', run.stdout);
    expect(run.code, run.stderr).toBe(0);

    // The CLI's own tools did the work, in the cwd.
    expect(readFileSync(join(workspace.repo, 'docs/hello.md'), 'utf8')).toBe('hello from claude');
    expect(readFileSync(join(workspace.repo, 'ran.txt'), 'utf8')).toBe('ran-by-bash\n');

    // The model saw the prompt, then each tool result; three main-loop turns, no side requests.
    const main = model.mainRequests('anthropic');
    expect(main).toHaveLength(3);
    expect(main.every((request) => request.url === '/v1/messages?beta=true')).toBe(true);
    expect(promptText(main[0]!.body as never)).toContain('# Task DEMO-1: hello');
    expect(JSON.stringify(main[1]!.body)).toContain('"tool_result"');
    expect(model.requests).toHaveLength(3);

    const events = parseClaudeStream(run.stdout);
    expect(events.filter((event) => event.type === 'parseError')).toEqual([]);
    const [init] = only(events, 'init');
    expect(init?.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(init?.model).toBe((main[0]!.body as { model: string }).model);
    expect(init?.permissionMode).toBe('acceptEdits');
    expect(only(events, 'assistant').flatMap((event) => event.toolUses.map((use) => use.name))).toEqual(['Write', 'Bash']);
    expect(only(events, 'toolResults').flatMap((event) => event.results.map((result) => result.isError))).toEqual([false, false]);
    // Per-message usage in `assistant` lines is message_start's snapshot (output_tokens 1), not the final count.
    expect(only(events, 'assistant').map((event) => event.usage?.inputTokens)).toEqual([120, 120, 120]);

    const [result] = only(events, 'result');
    const served = model.totalUsage('anthropic');
    expect(served).toEqual({ inputTokens: 3 * NORMAL_USAGE.inputTokens, outputTokens: 3 * NORMAL_USAGE.outputTokens, cachedInputTokens: 0 });
    expect(result).toMatchObject({ subtype: 'success', isError: false, numTurns: 3, result: 'All done.', sessionId: init?.sessionId, permissionDenials: 0 });
    const expected = { inputTokens: served.inputTokens, outputTokens: served.outputTokens, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
    expect(result?.usage).toEqual(expected);
    expect(resultTotals(result!)).toEqual({ ...expected, costUsd: result?.totalCostUsd });
    // The cost is the CLI's own figure, from its price table; modelUsage carries the same.
    const models = Object.values(result?.modelUsage ?? {});
    expect(result?.totalCostUsd).toBeGreaterThan(0);
    expect(models.reduce((sum, usage) => sum + (usage.costUsd ?? 0), 0)).toBeCloseTo(result?.totalCostUsd ?? -1, 9);
    console.log(`claude success run: ${run.ms} ms, cost $${result?.totalCostUsd}`);
  });

  it('ends with an error result (and exit 1) when it runs out of turns', async () => {
    const run = await claude('@model run=echo one > one.txt\n@model run=echo two > two.txt\n', ['--max-turns', '1']);
    capture('claude-max-turns.jsonl', run.stdout);
    expect(run.code).toBe(1);
    const [result] = only(parseClaudeStream(run.stdout), 'result');
    expect(result).toMatchObject({ subtype: 'error_max_turns', isError: true, errors: ['Reached maximum number of turns (1)'] });
    expect(existsSync(join(workspace.repo, 'one.txt'))).toBe(true);
    expect(existsSync(join(workspace.repo, 'two.txt'))).toBe(false);
  });

  it('stops a model that answers forever with costly turns at --max-budget-usd', async () => {
    const run = await claude('@model costly\n', ['--max-budget-usd', '5']);
    capture('claude-budget.jsonl', run.stdout);
    const [result] = only(parseClaudeStream(run.stdout), 'result');
    const turns = model.served.filter((turn) => turn.main);
    expect(turns.every((turn) => turn.usage === COSTLY_USAGE)).toBe(true);
    expect(result).toMatchObject({ subtype: 'error_max_budget_usd', isError: true, errors: ['Reached maximum budget ($5)'] });
    expect(run.code).toBe(1);
    // modelUsage (and the cost) cover every turn served; the result's `usage` leaves out the last one.
    expect(turns.length).toBeGreaterThanOrEqual(2);
    expect(resultTotals(result!)).toMatchObject({ inputTokens: turns.length * COSTLY_USAGE.inputTokens, outputTokens: turns.length * COSTLY_USAGE.outputTokens });
    expect(result?.usage?.inputTokens).toBe((turns.length - 1) * COSTLY_USAGE.inputTokens);
    expect(result?.totalCostUsd).toBeGreaterThan(5);
    console.log(`claude budget run: ${turns.length} costly turns, $${result?.totalCostUsd}, ${run.ms} ms`);
  });

  it('waits silently on a model that holds the connection open', async () => {
    const run = await claude('@model hang\n', [], 8_000);
    expect(run.signal).toBe('SIGKILL');
    const events = parseClaudeStream(run.stdout);
    expect(events.map((event) => event.type)).toEqual(['init']);
    expect(model.served.map((turn) => turn.turn)).toEqual(['hang']);
  });
});
