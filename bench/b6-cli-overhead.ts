// B6, part 2: what orch's agent path adds to a real agent's wall time. The real Claude Code CLI
// (the pinned devDependency) does a few tool turns against the scripted model on loopback, run
// (a) bare: spawned directly, prompt file on stdin, output into a file, timed spawn → exit; and
// (b) through orch: the real `runAgent` activity (MockActivityEnvironment; job rows in the bench's
// PostgreSQL; agent-guard, watchAgent, the claude-code monitor, the transcript), timed call → return.
// Same command, arguments, environment shape and prompt; fresh worktree and HOME for every run;
// a third side, the guard alone (startAgent, no watcher), splits orch's cost in two. The sides take
// turns in rotating order after one warm-up of bare and orch.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { execa } from 'execa';
import { runEnvironment } from '../activities/adapters/agent-env.js';
import { startAgent } from '../activities/adapters/agent-process.js';
import { adapterFor } from '../activities/adapters/agents/index.js';
import { parseClaudeStream } from '../activities/adapters/agents/claude-stream.js';
import { hostPaths } from '../activities/deps.js';
import { createAgentActivities } from '../activities/host/agent.js';
import { projectDir } from '../worker/config/project-dir.js';
import { startScriptedModel } from '../worker/harness/scripted-model/server.js';
import type { AgentRunRequest, AgentRunResult } from '../workflows/contracts/index.js';
import { createOrchEnv } from './orch-env.js';
import { defer, nowMs, say, type Stack } from './stack.js';

export const CLAUDE_BIN = path.join(projectDir, 'node_modules', '.bin', 'claude');
const HOST = 'b6-host';
const API_KEY = 'sk-ant-scripted';

/** Five model turns: two writes and two shell commands through the CLI's own tools, then the answer. */
export const CLI_PROMPT = [
  '# Task B6: a few tool turns',
  '',
  '@model write=notes.md:first note',
  '@model run=echo one > one.txt',
  '@model run=ls -la',
  '@model write=done.md:done',
  '@model say=All done.',
  '',
].join('\n');

export interface CliRun {
  /** bare: the CLI spawned directly; guard: through startAgent alone (agent-guard, no watcher); orch: runAgent. */
  side: 'bare' | 'guard' | 'orch';
  ms: number;
  /** orch: the guard's own duration as runAgent reports it (guard start → exit). */
  guardMs?: number;
  exitCode: number | null;
  /** The CLI's own `duration_ms` from its result line: its run as it timed it, without its start-up and exit. */
  ownMs: number;
  turns: number;
  /** The tokens the model served in this run, and what the run reported (orch: runAgent's usage; bare: the CLI's result). */
  served: { input: number; output: number };
  reported: { input: number; output: number } | undefined;
}

export interface CliOverhead {
  runs: CliRun[];
  warmup: CliRun[];
  /** The guard alone around `/bin/true`, against `/bin/true` spawned directly and an empty `node -e 0` (ms each). */
  guardOnly: { bare: number[]; guarded: number[]; node: number[] };
  claudeVersion: string;
}

/** `duration_ms` of the result line in a stream-json output file (NaN when there is none). */
function ownDurationMs(file: string): number {
  for (const line of readFileSync(file, 'utf8').split('\n').reverse()) {
    if (!line.includes('"type":"result"')) continue;
    try {
      const ms = (JSON.parse(line) as { duration_ms?: unknown }).duration_ms;
      return typeof ms === 'number' ? ms : Number.NaN;
    } catch {
      return Number.NaN;
    }
  }
  return Number.NaN;
}

async function gitRepo(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const git = (...args: string[]) => execa('git', args, { cwd: dir });
  await git('init', '-q', '-b', 'main');
  await writeFile(path.join(dir, 'README.md'), '# b6\n');
  await git('add', '.');
  await git('-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', 'commit', '-q', '-m', 'init');
}

/** Spawns `command` with `stdin` from a file and stdout+stderr into a file; resolves at its exit. */
function spawnToFile(command: string, args: string[], o: { cwd: string; env: Record<string, string>; stdinFile: string; outFile: string }): Promise<{ ms: number; code: number | null }> {
  const stdin = openSync(o.stdinFile, 'r');
  const out = openSync(o.outFile, 'a');
  const t0 = nowMs();
  try {
    const child = spawn(command, args, { cwd: o.cwd, env: o.env, stdio: [stdin, out, out] });
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) => resolve({ ms: nowMs() - t0, code }));
    });
  } finally {
    closeSync(stdin);
    closeSync(out);
  }
}

export async function measureCliOverhead(stack: Stack, o: { runs: number }): Promise<CliOverhead> {
  const model = await startScriptedModel();
  defer('B6: close the scripted model', () => model.close());
  const env = await createOrchEnv(stack, {
    name: 'b6',
    api: false,
    pipeline: ({ remote }) => `# generated by bench/b6-cli-overhead.ts
agent:
  adapter: claude-code
  command: ${JSON.stringify(CLAUDE_BIN)}
  env: { ANTHROPIC_BASE_URL: ${JSON.stringify(model.url)}, ANTHROPIC_API_KEY: ${JSON.stringify(API_KEY)} }
timeouts: { stage: 5m, heartbeat: 30s, idle: 2m, merge: 2m, deploy: 2m }
repos:
  demo:
    remote: ${JSON.stringify(remote)}
    defaultBranch: main
    forge: { type: local }
stages:
  - name: work
    prompt: "{{description}}"
    gate: { type: file-exists, path: done.md }
`,
  });
  const deps = { pipeline: env.pipeline, records: env.records, hostId: HOST, dataDir: env.dataDir, heartbeatEveryMs: 1000, killGraceMs: 3000, client: env.client };
  const { runAgent } = createAgentActivities(deps);
  const paths = hostPaths(deps);
  const adapter = adapterFor('claude-code');
  const agent = env.pipeline.agent;
  const bareDir = path.join(env.dir, 'bare');
  const logger = new DefaultLogger('WARN');
  let n = 0;

  const servedSince = (from: number) =>
    model.served.slice(from).filter((t) => t.main).reduce((s, t) => ({ input: s.input + t.usage.inputTokens, output: s.output + t.usage.outputTokens, turns: s.turns + 1 }), { input: 0, output: 0, turns: 0 });

  const orchRun = async (): Promise<CliRun> => {
    const key = `CLI-${++n}`;
    await gitRepo(paths.worktree(key));
    const workflowId = `b6-${key}`;
    const runId = randomUUID();
    const task = await env.records.upsertTask({ key, repo: 'demo', title: 'b6', description: CLI_PROMPT, workflowId, runId });
    const req: AgentRunRequest = { taskId: task.id, key, repo: 'demo', stage: 'work', attempt: 1, title: 'b6', description: CLI_PROMPT };
    const activity = new MockActivityEnvironment({ activityId: 'run-agent', workflowExecution: { workflowId, runId }, heartbeatTimeoutMs: 30_000 }, { logger, client: env.client });
    const from = model.served.length;
    const t0 = nowMs();
    const result: AgentRunResult = await activity.run(runAgent, req);
    const ms = nowMs() - t0;
    const served = servedSince(from);
    return {
      side: 'orch',
      ms,
      guardMs: result.durationMs,
      exitCode: result.exitCode,
      ownMs: ownDurationMs(paths.agentStream(key, req.stage, req.attempt)),
      turns: served.turns,
      served,
      reported: result.usage && { input: result.usage.inputTokens, output: result.usage.outputTokens },
    };
  };

  /** A bare or guard-only run: the same command, arguments and environment runAgent builds. */
  const directRun = async (side: 'bare' | 'guard'): Promise<CliRun> => {
    const dir = path.join(bareDir, String(++n));
    const [cwd, home, tmp] = ['repo', 'home', 'tmp'].map((d) => path.join(dir, d)) as [string, string, string];
    await gitRepo(cwd);
    await Promise.all([mkdir(home, { recursive: true }), mkdir(tmp, { recursive: true })]);
    const promptFile = path.join(dir, 'prompt.md');
    await writeFile(promptFile, CLI_PROMPT);
    const launch = await adapter.launch({ command: CLAUDE_BIN, args: agent.args, home, sandboxed: false });
    const runEnv = runEnvironment({
      home,
      tmp,
      orch: { ORCH_TASK_KEY: `BARE-${n}`, ORCH_STAGE: 'work', ORCH_ATTEMPT: '1', ORCH_PROMPT_FILE: promptFile, ORCH_KILL_GRACE_MS: '3000' },
      extra: { ...launch.env, ...agent.env },
      passEnv: agent.passEnv,
    });
    const outFile = path.join(dir, 'stream.jsonl');
    const from = model.served.length;
    let ms: number;
    let code: number | null;
    if (side === 'bare') ({ ms, code } = await spawnToFile(launch.command, launch.args, { cwd, env: runEnv, stdinFile: promptFile, outFile }));
    else {
      const t0 = nowMs();
      ({ exitCode: code } = await startAgent({ command: launch.command, args: launch.args, cwd, env: runEnv, logFile: outFile, stdinFile: promptFile }).done);
      ms = nowMs() - t0;
    }
    const served = servedSince(from);
    const result = parseClaudeStream(readFileSync(outFile, 'utf8')).find((e) => e.type === 'result');
    return {
      side,
      ms,
      exitCode: code,
      ownMs: ownDurationMs(outFile),
      turns: served.turns,
      served,
      reported: result?.type === 'result' && result.usage ? { input: result.usage.inputTokens, output: result.usage.outputTokens } : undefined,
    };
  };
  const bareRun = () => directRun('bare');
  const guardRun = () => directRun('guard');

  say('B6: Claude Code warm-up (one bare, one through orch)…');
  const warmup = [await bareRun(), await orchRun()];
  const runs: CliRun[] = [];
  // Rounds of three, each order in turn: no side always goes first or last.
  const orders = [
    [bareRun, guardRun, orchRun],
    [orchRun, bareRun, guardRun],
    [guardRun, orchRun, bareRun],
    [orchRun, guardRun, bareRun],
    [bareRun, orchRun, guardRun],
    [guardRun, bareRun, orchRun],
  ];
  for (let i = 0; i < o.runs; i++) {
    for (const run of orders[i % orders.length]!) runs.push(await run());
    const last = runs.slice(-3);
    say(`B6: Claude Code round ${i + 1}/${o.runs}: ${last.map((r) => `${r.side} ${r.ms.toFixed(0)} ms`).join(', ')}`);
  }

  // What the guard alone costs: the same spawn of a program that does nothing, direct and guarded.
  const guardOnly = { bare: [] as number[], guarded: [] as number[], node: [] as number[] };
  const trueDir = path.join(env.dir, 'true');
  await mkdir(trueDir, { recursive: true });
  const emptyFile = path.join(trueDir, 'empty');
  await writeFile(emptyFile, '');
  for (let i = 0; i < Math.max(10, o.runs); i++) {
    guardOnly.bare.push((await spawnToFile('/bin/true', [], { cwd: trueDir, env: { PATH: '/usr/bin:/bin' }, stdinFile: emptyFile, outFile: path.join(trueDir, 'bare.log') })).ms);
    const t0 = nowMs();
    await startAgent({ command: '/bin/true', args: [], cwd: trueDir, env: { PATH: '/usr/bin:/bin' }, logFile: path.join(trueDir, 'guarded.log'), stdinFile: emptyFile }).done;
    guardOnly.guarded.push(nowMs() - t0);
    guardOnly.node.push((await spawnToFile(process.execPath, ['-e', '0'], { cwd: trueDir, env: { PATH: '/usr/bin:/bin' }, stdinFile: emptyFile, outFile: path.join(trueDir, 'node.log') })).ms);
  }
  const version = await execa(CLAUDE_BIN, ['--version'], { reject: false, cwd: trueDir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: trueDir }, extendEnv: false });
  return { runs, warmup, guardOnly, claudeVersion: version.stdout.trim() || 'unknown' };
}
