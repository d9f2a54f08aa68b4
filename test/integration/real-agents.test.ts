// The real Claude Code and Codex CLIs as orch's agents, end to end: each CLI (a pinned
// devDependency) runs in the task's worktree under orch's guard, talking to the scripted model API
// on loopback (worker/harness/scripted-model); its own tools write the files; orch reads its events.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateQuery, taskWorkflowId, TERMINAL_STATUSES, type Usage } from '../../workflows/contracts/index.js';
import { CLAUDE_BIN, CODEX_BIN } from '../agents/cli.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { gitIn } from '../support/git-fixtures.js';
import * as anthropic from '../../worker/harness/scripted-model/anthropic.js';
import * as openai from '../../worker/harness/scripted-model/openai.js';
import { COSTLY_USAGE } from '../../worker/harness/scripted-model/script.js';
import { type ScriptedModel, startScriptedModel } from '../../worker/harness/scripted-model/server.js';

const PRICE = { input: 10, output: 50 }; // USD per million tokens, for Codex's gpt-test

interface Cli {
  name: 'claude-code' | 'codex';
  api: 'anthropic' | 'openai';
  agent: (modelUrl: string) => string;
  promptText: (body: unknown) => string;
}

const CLIS: Cli[] = [
  {
    name: 'claude-code',
    api: 'anthropic',
    agent: (url) => `agent:
  adapter: claude-code
  command: ${JSON.stringify(CLAUDE_BIN)}
  env: { ANTHROPIC_BASE_URL: ${JSON.stringify(url)} }
  passEnv: [ANTHROPIC_API_KEY]
`,
    promptText: (body) => anthropic.promptText(body as never),
  },
  {
    name: 'codex',
    api: 'openai',
    agent: (url) => `agent:
  adapter: codex
  command: ${JSON.stringify(CODEX_BIN)}
  args:
    - -c
    - model="gpt-test"
    - -c
    - model_provider="local"
    - -c
    - ${JSON.stringify(`model_providers.local={ name = "local", base_url = "${url}/v1", wire_api = "responses", env_key = "LOCAL_API_KEY" }`)}
  passEnv: [LOCAL_API_KEY]
prices:
  gpt-test: { input: ${PRICE.input}, output: ${PRICE.output} }
`,
    promptText: (body) => openai.promptText(body as never),
  },
];

const pipeline = (cli: Cli, modelUrl: string) => `${cli.agent(modelUrl)}
timeouts: { stage: 3m, heartbeat: 3s, idle: 10s, merge: 2m, deploy: 2m }
attemptsPerStage: 2
budget: { maxCostUsd: 5 }
stages:
  - name: work
    prompt: "Task {{key}}: {{title}}\\n\\n{{description}}\\n{{lastFailure}}"
    gate: { type: command, command: node, args: ["{{projectDir}}/test/fixtures/agents/result-gate.mjs"] }
  - { kind: merge }
`;

const CANARIES = { GITEA_TOKEN: 'canary-gitea-9d1f', PLANE_API_KEY: 'canary-plane-2b7c', PLANE_WEBHOOK_SECRET: 'canary-hook-5e0a', ORCH_API_TOKEN: 'canary-api-7c3d', SOME_SECRET: 'canary-some-1a8e' };

/** Processes whose command line holds `marker`. */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

describe.each(CLIS)('$name as the agent', (cli) => {
  let env: TestEnv;
  let model: ScriptedModel;
  beforeAll(async () => {
    process.env.ANTHROPIC_API_KEY = 'sk-ant-scripted';
    process.env.LOCAL_API_KEY = 'sk-scripted';
    // Canaries in the worker's environment (the worker runs in this process).
    Object.assign(process.env, CANARIES);
    model = await startScriptedModel();
    env = await createTestEnv(`agents-${cli.name}`, { pipeline: pipeline(cli, model.url) });
  });
  afterAll(async () => {
    await env?.cleanup();
    await model?.close();
  });

  /** The main-loop requests and served turns of one task (its key is in every request's conversation). */
  const ofTask = (key: string) => {
    const requests = model.requests.map((r, i) => ({ ...r, index: i })).filter((r) => r.api === cli.api && JSON.stringify(r.body ?? '').includes(key));
    const indexes = new Set(requests.map((r) => r.index));
    const served = model.served.filter((s) => indexes.has(s.request));
    return { requests, main: requests.filter((r) => r.main), served };
  };
  const servedTokens = (key: string) =>
    ofTask(key).served.reduce((t, s) => ({ input: t.input + s.usage.inputTokens, output: t.output + s.usage.outputTokens }), { input: 0, output: 0 });
  const start = (key: string, title: string, description: string) => env.api('POST', '/api/tasks', { key, repo: 'demo', title, description });

  it('takes a task to done: its tools write the files, the model sees the prompt, usage is exactly what was served', async () => {
    const key = `${cli.name === 'codex' ? 'CDX' : 'CLD'}-1`;
    const description = ['Write the greeting, then the result.', `@model write=hello.md:hello from ${cli.name}`, '@model run=echo ok > result.txt'].join('\n');
    await start(key, 'Say hello', description);
    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status, done.task.failureReason).toBe('done');

    const files = await gitIn(env.remote.path, 'ls-tree', '-r', '--name-only', 'main');
    expect(files.split('\n')).toEqual(expect.arrayContaining(['hello.md', 'result.txt']));
    expect(await gitIn(env.remote.path, 'show', 'main:hello.md')).toBe(`hello from ${cli.name}`);
    const first = cli.promptText(ofTask(key).main[0]!.body);
    expect(first).toContain(`Task ${key}: Say hello`);
    expect(first).toContain('Write the greeting, then the result.');

    const [job] = done.jobs;
    const usage: Usage = job.usage;
    const served = servedTokens(key);
    expect(usage).toMatchObject({ inputTokens: served.input, outputTokens: served.output, cacheReadTokens: 0, cacheWriteTokens: 0 });
    expect(usage.turns).toBeGreaterThanOrEqual(3);
    if (cli.name === 'codex') {
      expect(usage.costUsd).toBeCloseTo((served.input * PRICE.input + served.output * PRICE.output) / 1e6, 12);
    } else {
      // What the CLI itself reported in its result line.
      const stream = readFileSync(job.logFile.replace(/\.log$/, '.stream.jsonl'), 'utf8');
      const result = stream.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.type === 'result');
      expect(usage.costUsd).toBe(result.total_cost_usd);
      expect(usage.costUsd).toBeGreaterThan(0);
    }
    // The same figures on the task and on its attempt, through the API.
    expect(done.usage).toEqual(usage);
    expect(done.history.map((a: { usage: Usage }) => a.usage)).toEqual([usage]);
    expect(job.model).toBeTruthy();
    expect(job.sessionId).toBeTruthy();
    // The workflow's history carries the same usage; the transcript is readable lines, not JSON.
    const state = await env.client.workflow.getHandle(taskWorkflowId(key)).query(stateQuery).catch(() => null);
    if (state) expect(state.history[0]?.usage).toEqual(usage);
    const transcript = readFileSync(job.logFile, 'utf8');
    expect(transcript).not.toMatch(/^\d\d:\d\d:\d\d \{/m);
    expect(transcript).toMatch(/result|turn completed/);
  });

  it('a gate failure on attempt 1 reaches attempt 2\'s prompt, as the model receives it', async () => {
    const key = `${cli.name === 'codex' ? 'CDX' : 'CLD'}-2`;
    const description = ['@model first: run=echo wrong > result.txt', '@model retry: run=echo ok > result.txt'].join('\n');
    await start(key, 'Retry with context', description);
    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status, done.task.failureReason).toBe('done');
    expect(done.jobs.map((j: any) => [j.attempt, j.status])).toEqual([[1, 'done'], [2, 'done']]);
    const prompts = ofTask(key).main.map((r) => cli.promptText(r.body));
    const retry = prompts.find((p) => p.includes('## Why attempt 1 failed'));
    expect(retry).toBeDefined();
    expect(retry).toContain('result.txt says "wrong", expected "ok" (gate-output-marker)');
    expect(prompts[0]).not.toContain('gate-output-marker');
  });

  it('a model that answers forever with costly turns is stopped by the budget; no retry, no further calls', async () => {
    const key = `${cli.name === 'codex' ? 'CDX' : 'CLD'}-3`;
    await start(key, 'Spend', '@model costly');
    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status).toBe('failed');
    expect(done.task.failureReason, JSON.stringify(done.jobs.map((j: any) => [j.detail, j.usage, j.model]))).toMatch(/budget/);
    expect(done.jobs).toHaveLength(1);
    expect(done.jobs[0].failureKind).toBe('budget');
    const usage: Usage = done.jobs[0].usage;
    expect(usage.inputTokens).toBeGreaterThanOrEqual(COSTLY_USAGE.inputTokens);
    expect(usage.costUsd).toBeGreaterThan(0);
    const calls = ofTask(key).served.length;
    await new Promise((r) => setTimeout(r, 3000));
    expect(ofTask(key).served.length).toBe(calls);
  });

  it('a model that never answers: the attempt is stopped as stalled after timeouts.idle, retried, and the task finishes', async () => {
    const key = `${cli.name === 'codex' ? 'CDX' : 'CLD'}-4`;
    await start(key, 'Stall once', ['@model first: hang', '@model retry: run=echo ok > result.txt'].join('\n'));
    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status, done.task.failureReason).toBe('done');
    expect(done.jobs.map((j: any) => [j.attempt, j.status, j.failureKind])).toEqual([[1, 'failed', 'stalled'], [2, 'done', null]]);
    expect(done.jobs[0].detail).toMatch(/stalled/);
  });

  it('STOP while the CLI runs a long shell command through its own tool: both are gone within seconds', async () => {
    const key = `${cli.name === 'codex' ? 'CDX' : 'CLD'}-5`;
    const marker = `orch-marker-${randomUUID()}`;
    await start(key, 'Run long', `@model run=/usr/bin/python3 -c "import time; time.sleep(600)" ${marker}`);
    await env.until('the long command to start', () => processesWith(marker).length > 0, 60_000);
    // Live progress while the tool runs: in the state query, the Web UI's current details, the job row.
    const handle = env.client.workflow.getHandle(taskWorkflowId(key));
    const tool = cli.name === 'codex' ? 'command_execution' : 'Bash';
    const progress = await env.until('progress in the state', async () => (await handle.query(stateQuery)).progress?.lastTool && (await handle.query(stateQuery)).progress, 25_000);
    expect(progress).toMatchObject({ stage: 'work', attempt: 1, lastTool: tool });
    const details = await env.until('progress in the details', async () => {
      const meta = (await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string };
      return meta.currentDetails?.includes(`running ${tool}`) && meta.currentDetails;
    }, 20_000);
    expect(details).toMatch(/- agent: work, attempt 1: turn \d+, running /);
    const running = await env.until('progress in the job row', async () => (await env.api('GET', `/api/tasks/${key}`)).body.jobs?.[0]?.progress?.lastTool && (await env.api('GET', `/api/tasks/${key}`)).body.jobs[0].progress, 20_000);
    expect(running.lastTool).toBe(tool);
    const stop = await env.api('POST', `/api/tasks/${key}/stop`, { reason: 'test' });
    expect(stop.status).toBeLessThan(300);
    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status).toBe('cancelled');
    await env.until('the long command to be gone', () => processesWith(marker).length === 0, 10_000);
  });

  it.runIf(cli.name === 'claude-code')('in its sandbox the CLI sees no canary secret, and a SIGKILL of it leaves none of its commands: retried, done', async () => {
    const key = 'CLD-6';
    const marker = `orch-marker-${randomUUID()}`;
    const description = [
      '@model run=env > seen-env.txt; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n" > seen-environ.txt; ls -aR "$(dirname "$HOME")/../.." > seen-data-dir.txt 2>&1; true',
      `@model first: run=setsid /usr/bin/python3 -c "import time; time.sleep(600)" ${marker} & sleep 0.2; /usr/bin/python3 -c "import time; time.sleep(600)"`,
      '@model run=echo ok > result.txt',
    ].join('\n');
    await start(key, 'Look around', description);
    await env.until('the own-session command', () => processesWith(marker).length > 0, 60_000);
    // The CLI itself: its native binary, run for this task.
    const cliPids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0]!.endsWith('claude') && readFileSync(`/proc/${p}/environ`, 'utf8').includes(`ORCH_TASK_KEY=${key}`);
      } catch {
        return false;
      }
    });
    expect(cliPids.length).toBeGreaterThan(0);
    for (const pid of cliPids) process.kill(Number(pid), 'SIGKILL');
    await env.until('the own-session command to be gone', () => processesWith(marker).length === 0, 10_000);
    const done = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(done.task.status, done.task.failureReason).toBe('done');
    expect(done.jobs.map((j: any) => [j.attempt, j.status])).toEqual([[1, 'failed'], [2, 'done']]);
    for (const file of ['seen-env.txt', 'seen-environ.txt', 'seen-data-dir.txt']) {
      const seen = await gitIn(env.remote.path, 'show', `main:${file}`);
      for (const value of Object.values(CANARIES)) expect(seen, file).not.toContain(value);
    }
    expect(await gitIn(env.remote.path, 'show', 'main:seen-env.txt')).toContain('ANTHROPIC_API_KEY=sk-ant-scripted');
    // The data dir shows only this task's own paths (and the mirror's objects it borrows, read-only).
    expect(await gitIn(env.remote.path, 'show', 'main:seen-data-dir.txt')).not.toMatch(/CLD-[1-5]\b|temporal|\.log\b/);
  });
});
