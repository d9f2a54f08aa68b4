// The real Codex CLI (@openai/codex 0.169.0, a devDependency, native @openai/codex-linux-x64) against
// the scripted OpenAI Responses API on loopback: the shell commands the model asks for really run,
// in Codex's own workspace-write sandbox (bubblewrap), as root.
// ORCH_CAPTURE_FIXTURES=1 saves the JSONL it printed to test/fixtures/agents/ (the parser's fixtures).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CodexEvent, type CodexItem, parseCodexStream } from '../../activities/adapters/agents/codex-stream.js';
import { promptText } from '../../worker/harness/scripted-model/openai.js';
import { NORMAL_USAGE } from '../../worker/harness/scripted-model/script.js';
import { type ScriptedModel, startScriptedModel } from '../../worker/harness/scripted-model/server.js';
import { baseEnv, CODEX_BIN, codexHome, makeWorkspace, OUTSIDE_TMP, REPO_ROOT, runCli, type Workspace } from './cli.js';

/** `-` reads the prompt from stdin (closed after it); workspace-write lets commands write in the cwd only. */
const CODEX_ARGS = ['exec', '--json', '--skip-git-repo-check', '--sandbox', 'workspace-write', '-'];

let model: ScriptedModel;
let workspace: Workspace;

beforeEach(async () => {
  model = await startScriptedModel();
  workspace = makeWorkspace('codex', OUTSIDE_TMP);
});
afterEach(async () => {
  await model.close();
  workspace.remove();
});

const codex = (prompt: string, timeoutMs?: number) =>
  runCli(CODEX_BIN, CODEX_ARGS, {
    cwd: workspace.repo,
    env: { ...baseEnv(workspace.home), CODEX_HOME: codexHome(workspace.home, model.url), LOCAL_API_KEY: 'sk-scripted' },
    stdin: prompt,
    timeoutMs,
  });

function capture(name: string, stdout: string): void {
  if (process.env.ORCH_CAPTURE_FIXTURES) writeFileSync(join(REPO_ROOT, 'test/fixtures/agents', name), stdout);
}

const completedItems = <K extends CodexItem['kind']>(events: ReturnType<typeof parseCodexStream>, kind: K) =>
  events
    .filter((event): event is Extract<CodexEvent, { type: 'item' }> => event.type === 'item' && event.phase === 'completed')
    .map((event) => event.item)
    .filter((item): item is Extract<CodexItem, { kind: K }> => item.kind === kind);

describe('Codex CLI against the scripted Responses API', () => {
  it('runs the shell commands the model asked for, and reports exactly the usage served', async () => {
    const prompt = ['# Task DEMO-2: hello', '', 'Write the greeting with the shell.', '@model write=hello.md:hello from codex', '@model run=git rev-parse --abbrev-ref HEAD > branch.txt', '@model say=All done.'].join('\n');
    const run = await codex(prompt);
    capture('codex-success.jsonl', run.stdout);
    expect(run.code, run.stderr).toBe(0);

    expect(readFileSync(join(workspace.repo, 'hello.md'), 'utf8')).toBe('hello from codex');
    expect(readFileSync(join(workspace.repo, 'branch.txt'), 'utf8')).toBe('main\n');

    // One turn of three model calls: the prompt, then each command's output.
    const main = model.mainRequests('openai');
    expect(main).toHaveLength(3);
    expect(main.every((request) => request.url === '/v1/responses' && (request.body as { stream?: boolean }).stream === true)).toBe(true);
    expect(promptText(main[0]!.body as never)).toContain('# Task DEMO-2: hello');
    expect(JSON.stringify(main[1]!.body)).toContain('"function_call_output"');

    const events = parseCodexStream(run.stdout);
    expect(events.filter((event) => event.type === 'parseError')).toEqual([]);
    expect(events[0]).toMatchObject({ type: 'threadStarted', threadId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(events.map((event) => event.type)).toContain('turnStarted');
    const commands = completedItems(events, 'command_execution');
    expect(commands.map((item) => item.exitCode)).toEqual([0, 0]);
    expect(commands[1]?.command).toContain('git rev-parse --abbrev-ref HEAD > branch.txt');
    expect(completedItems(events, 'agent_message').map((item) => item.text)).toEqual(['All done.']);

    const served = model.totalUsage('openai');
    expect(served).toEqual({ inputTokens: 3 * NORMAL_USAGE.inputTokens, outputTokens: 3 * NORMAL_USAGE.outputTokens, cachedInputTokens: 0 });
    const completed = events.filter((event) => event.type === 'turnCompleted');
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({
      usage: { inputTokens: served.inputTokens, cachedInputTokens: served.cachedInputTokens, outputTokens: served.outputTokens, reasoningOutputTokens: 0 },
    });
    console.log(`codex success run: ${run.ms} ms`);
  });

  it('fails the turn when the API refuses the request', async () => {
    const run = await codex('@model fail\n');
    capture('codex-failed.jsonl', run.stdout);
    expect(run.code).toBe(1);
    const events = parseCodexStream(run.stdout);
    const failed = events.find((event) => event.type === 'turnFailed');
    expect(failed).toMatchObject({ message: expect.stringContaining('scripted failure') });
    expect(model.served.filter((turn) => turn.turn === 'fail').length).toBeGreaterThanOrEqual(1);
  });

  it('waits silently after turn.started on a model that holds the connection open', async () => {
    const run = await codex('@model hang\n', 8_000);
    capture('codex-hang.jsonl', run.stdout);
    expect(run.signal).toBe('SIGKILL');
    const types = parseCodexStream(run.stdout).map((event) => event.type);
    expect(types.at(-1)).toBe('turnStarted');
    expect(types).not.toContain('turnCompleted');
    expect(model.served.map((turn) => turn.turn)).toEqual(['hang']);
  });
});
