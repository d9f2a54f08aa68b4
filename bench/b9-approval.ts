// B9 approval → next agent: how long from a person's decision (the `approve` update) to the next
// stage's agent running its first instruction, next to the floor (an update → an activity on the
// same server), in the same run.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { approveUpdate, stateQuery, taskWorkflowId } from '../workflows/contracts/index.js';
import { until } from '../worker/harness/until.js';
import { readyAt, stampedAt } from './activities.js';
import { startBenchWorker } from './baseline.js';
import { createOrchEnv, pipelineYaml, stampAgentPath } from './orch-env.js';
import { nowMs, say, type Stack } from './stack.js';
import { fmtMs, fmtRatio, summarize, type Summary } from './stats.js';
import type { BenchOptions, BenchResult } from './types.js';
import { floorWorkflow, goUpdate } from './workflows.js';

export async function runB9(stack: Stack, o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const n = o.quick ? 10 : 100;
  const env = await createOrchEnv(stack, {
    name: 'b9',
    inProcessWorker: 'b9-host',
    pipeline: (p) =>
      pipelineYaml({
        remote: p.remote,
        agent: { command: process.execPath, args: [stampAgentPath, '--dir', p.stampDir] },
        heartbeat: '10s',
        stages: [{ name: 'ok', kind: 'approval' }, { name: 'work' }],
        sandbox: { writable: [p.stampDir] },
      }),
  });

  const orch: number[] = [];
  const ack: number[] = [];
  say(`B9: ${n} approvals through the update…`);
  for (let i = 1; i <= n; i++) {
    const key = `APPROVE-${i}`;
    const res = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `b9 trial ${i}` });
    if (res.status !== 202) throw new Error(`B9: starting ${key} answered ${res.status}: ${JSON.stringify(res.body)}`);
    const handle = env.client.workflow.getHandle(taskWorkflowId(key));
    await until(`${key} to wait for approval`, async () => (await handle.query(stateQuery)).waitingFor === 'approval', 60_000, 10);
    await sleep(100 + Math.random() * 200);
    const t0 = nowMs();
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bench', via: 'bench' }] });
    ack.push(nowMs() - t0);
    const ready = await until(`${key}'s agent to run`, async () => (await env.stamps(key)).find((s) => s.event === 'ready'), 30_000, 5);
    orch.push(ready.t - t0);
    await handle.signal('stop', { reason: 'bench B9' });
    await env.waitForStatus(key, ['cancelled'], 60_000);
  }

  const base = await startBenchWorker(stack, 'b9');
  const floor: number[] = [];
  say(`B9: ${n} floor update → activity round trips…`);
  for (let i = 1; i <= n; i++) {
    const workflowId = `floor-update-${i}-${randomBytes(3).toString('hex')}`;
    const handle = await stack.client.workflow.start(floorWorkflow, { taskQueue: base.taskQueue, workflowId });
    await until(`${workflowId} to wait`, () => readyAt.has(workflowId), 30_000, 5);
    await sleep(100 + Math.random() * 200);
    const t0 = nowMs();
    await handle.executeUpdate(goUpdate);
    const t1 = await until(`${workflowId}'s activity`, () => stampedAt.get(workflowId), 30_000, 2);
    floor.push(t1 - t0);
    await handle.result();
  }

  const so = summarize(orch);
  const sf = summarize(floor);
  const sa = summarize(ack);
  const row = (s: Summary) => `p50 ${fmtMs(s.p50)} · p99 ${fmtMs(s.p99)} · max ${fmtMs(s.max)}`;
  return {
    id: 'B9',
    title: 'approval → next agent',
    rows: [
      [`orch approve → next stage's agent runs (n=${so.n})`, row(so)],
      [`floor: update → activity (n=${sf.n})`, row(sf)],
      ['ratio orch/floor (p50 · p99)', `${fmtRatio(so.p50 / sf.p50)} · ${fmtRatio(so.p99 / sf.p99)}`],
    ],
    targets: [{ id: 'P9', goal: 'orch p99 ≤ 200 ms', measured: fmtMs(so.p99), pass: so.p99 <= 200 }],
    method: [
      `- **orch** (n = ${n}, one after another): a pipeline of an approval stage \`ok\` then one agent stage whose agent is \`bench/agents/sigterm-stamp.mjs\` (it stamps *ready* as its first instruction). In-process orch worker and API on loopback. Each trial: \`POST /api/tasks\`, wait until the \`state\` query says \`waitingFor: approval\`, wait 0.1–0.3 s, **t0** = just before \`executeUpdate(approve)\` (the update every entry point uses), **t1** = the agent's *ready* stamp. Between the two: the update's validator and handler, the approval's end (a task event, a row update), the next stage's host pick, worktree and agent start. Then the task is stopped.`,
      `- **floor** (n = ${n}): \`floorWorkflow\` in \`bench/workflows.ts\` waits for \`go\` (here the update), then runs one activity that stamps the time, on the same server; t0 = just before \`executeUpdate\`, t1 = the stamp.`,
    ].join('\n'),
    details: [
      '| series | n | min | p50 | p90 | p99 | max | mean |',
      '|---|---|---|---|---|---|---|---|',
      ...([
        ['orch approve → agent ready', so],
        ['orch: the update answered', sa],
        ['floor update → activity', sf],
      ] as [string, Summary][]).map(([name, s]) => `| ${name} | ${s.n} | ${fmtMs(s.min)} | ${fmtMs(s.p50)} | ${fmtMs(s.p90)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} | ${fmtMs(s.mean)} |`),
    ].join('\n'),
    elapsedMs: performance.now() - started,
  };
}
