// B7 sandbox cost: the time from starting an agent run (the guard's spawn) to the agent's first
// instruction, with the bwrap sandbox and without it, alternating, n runs each in one process.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgent } from '../activities/adapters/agent-process.js';
import { runEnvironment } from '../activities/adapters/agent-env.js';
import { createSandbox } from '../activities/adapters/bwrap.js';
import { NO_SANDBOX, type Sandbox } from '../activities/adapters/sandbox.js';
import { projectDir } from '../worker/config/project-dir.js';
import { say, type Stack } from './stack.js';
import { fmtMs, summarize } from './stats.js';
import type { BenchOptions, BenchResult } from './types.js';

const GOAL_MS = 30;
const signed = (ms: number) => `${ms >= 0 ? '+' : '−'}${fmtMs(Math.abs(ms))}`;
const AGENT = path.join(projectDir, 'bench', 'agents', 'first-instruction.mjs');
const now = () => performance.timeOrigin + performance.now();

export async function runB7(_stack: Stack, o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const n = o.quick ? 40 : 200;
  const root = path.join(tmpdir(), `orch-b7-${process.pid}`);
  const dataDir = path.join(root, 'data');
  const task = {
    cwd: path.join(dataDir, 'hosts', 'b7', 'worktrees', 'B7-1'),
    home: path.join(dataDir, 'hosts', 'b7', 'homes', 'B7-1'),
    tmp: path.join(dataDir, 'hosts', 'b7', 'tmp', 'B7-1'),
  };
  for (const dir of Object.values(task)) await mkdir(dir, { recursive: true });
  const sandboxed = createSandbox({ mode: 'bwrap', network: 'host', readOnly: [], writable: [] }, { dataDir });

  const spawnToFirst = async (sandbox: Sandbox): Promise<number> => {
    const env = runEnvironment({ home: task.home, tmp: task.tmp, orch: { ORCH_TASK_KEY: 'B7-1' } });
    const stamp = path.join(task.cwd, 'first-instruction');
    await rm(stamp, { force: true });
    const t0 = now();
    const run = startAgent({ ...sandbox.wrap({ command: process.execPath, args: [AGENT], ...task, env }), cwd: task.cwd, logFile: path.join(root, 'b7.log') });
    const outcome = await run.done;
    if (outcome.exitCode !== 0) throw new Error(`B7: the agent exited ${outcome.exitCode ?? outcome.signal} (${sandbox.status.active ? 'sandboxed' : 'unsandboxed'}); see ${path.join(root, 'b7.log')}`);
    return Number(await readFile(stamp, 'utf8')) - t0;
  };

  try {
    say(`B7: ${n} agent runs with the sandbox and ${n} without, alternating…`);
    for (let i = 0; i < 5; i++) {
      await spawnToFirst(sandboxed);
      await spawnToFirst(NO_SANDBOX);
    }
    const withBwrap: number[] = [];
    const without: number[] = [];
    for (let i = 0; i < n; i++) {
      // Alternating, so drift in the machine's load hits both alike.
      if (i % 2 === 0) {
        withBwrap.push(await spawnToFirst(sandboxed));
        without.push(await spawnToFirst(NO_SANDBOX));
      } else {
        without.push(await spawnToFirst(NO_SANDBOX));
        withBwrap.push(await spawnToFirst(sandboxed));
      }
    }
    const a = summarize(withBwrap);
    const b = summarize(without);
    const extra = a.p50 - b.p50;
    return {
      id: 'B7',
      title: 'sandbox cost: agent spawn → first instruction',
      rows: [
        ['spawn → first instruction, sandboxed p50 · p99', `${fmtMs(a.p50)} · ${fmtMs(a.p99)}`],
        ['spawn → first instruction, unsandboxed p50 · p99', `${fmtMs(b.p50)} · ${fmtMs(b.p99)}`],
      ],
      targets: [{ id: 'P7', goal: `the sandbox adds ≤ ${GOAL_MS} ms at p50`, measured: `${signed(extra)} (p99 ${signed(a.p99 - b.p99)})`, pass: extra <= GOAL_MS }],
      method: [
        `- ${n} agent runs in the bwrap sandbox and ${n} without, alternating one of each (the order swapped every pair), after 5 warm-up runs; one at a time, in the bench process, with no Temporal or database in the path: only what differs between the two, the wrapped argv.`,
        `- Each run is orch's own: \`startAgent\` (the agent guard, its lifeline, its own process group) with the allow-listed environment; the sandbox is \`createSandbox({ mode: bwrap })\` with a data dir, so its argv is a real run's (data dir hidden, worktree, HOME and TMPDIR bound, credentials hidden).`,
        `- The agent is \`node bench/agents/first-instruction.mjs\`, whose first statement writes the wall-clock time to a file in its worktree. Measured: that time minus the time just before \`startAgent\` (both \`performance.timeOrigin + performance.now()\` on this machine). Both include two node start-ups (the guard's and the agent's); the sandboxed run adds \`env\`, \`bwrap\` (namespaces, mounts) and \`env\` again.`,
      ].join('\n'),
      details: [
        '| | n | min | p50 | p90 | p99 | max |',
        '|---|---|---|---|---|---|---|',
        `| sandboxed (bwrap) | ${a.n} | ${fmtMs(a.min)} | ${fmtMs(a.p50)} | ${fmtMs(a.p90)} | ${fmtMs(a.p99)} | ${fmtMs(a.max)} |`,
        `| unsandboxed | ${b.n} | ${fmtMs(b.min)} | ${fmtMs(b.p50)} | ${fmtMs(b.p90)} | ${fmtMs(b.p99)} | ${fmtMs(b.max)} |`,
        `| difference | | ${fmtMs(a.min - b.min)} | ${fmtMs(extra)} | ${fmtMs(a.p90 - b.p90)} | ${fmtMs(a.p99 - b.p99)} | ${fmtMs(a.max - b.max)} |`,
      ].join('\n'),
      elapsedMs: performance.now() - started,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
