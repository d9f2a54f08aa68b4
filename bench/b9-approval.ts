// B9 approval → next agent: how long from a person's decision (the `approve` update) to the next
// stage's agent running its first instruction, next to the floor (an update → an activity on the
// same server), in the same run.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { execa } from 'execa';
import { setTimeout as sleep } from 'node:timers/promises';
import { approveUpdate, stateQuery, taskWorkflowId } from '../workflows/contracts/index.js';
import { projectDir } from '../worker/config/project-dir.js';
import { until } from '../worker/harness/until.js';
import { readyAt, stampedAt } from './activities.js';
import { startBenchWorker } from './baseline.js';
import { createOrchEnv, pipelineYaml, stampAgentPath } from './orch-env.js';
import { nowMs, say, wallClock, type Stack } from './stack.js';
import { fmtMs, fmtRatio, summarize, type Summary } from './stats.js';
import type { BenchOptions, BenchResult } from './types.js';
import { floorWorkflow, goUpdate } from './workflows.js';

/** The stage before the approval (as a design stage before design-approval): it writes its note and exits. */
const DESIGN_AGENT = { command: '/bin/sh', args: ['-c', 'mkdir -p "docs/tasks/$ORCH_TASK_KEY" && echo ok > "docs/tasks/$ORCH_TASK_KEY/$ORCH_STAGE.md"'] };

/** How long after the wait begins the approval comes, at least (and up to 0.5 s more). */
const DECIDE_AFTER_MS = 1_000;

/** The next stage's agent: one whose runtime starts in a few ms (bash), or a node script (a node start-up more). */
const readyAgents = {
  bash: (stampDir: string) => ({ command: '/bin/bash', args: [path.join(projectDir, 'bench', 'agents', 'ready-stamp.sh'), stampDir] }),
  node: (stampDir: string) => ({ command: process.execPath, args: [stampAgentPath, '--dir', stampDir] }),
};

export async function runB9(stack: Stack, o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const n = o.quick ? 10 : 100;
  const nFirst = o.quick ? 5 : 30;
  const orchEnv = (name: string, before: { name: string; agent: typeof DESIGN_AGENT }[], agent: keyof typeof readyAgents) =>
    createOrchEnv(stack, {
      name,
      inProcessWorker: `${name}-host`,
      pipeline: (p) =>
        pipelineYaml({
          remote: p.remote,
          agent: readyAgents[agent](p.stampDir),
          heartbeat: '10s',
          stages: [...before, { name: 'ok', kind: 'approval' }, { name: 'work' }],
          sandbox: { writable: [p.stampDir] },
        }),
    });

  /** Approves `count` tasks one after another; the time to the next agent's first instruction, the update's answer and the steps. */
  const trials = async (env: Awaited<ReturnType<typeof createOrchEnv>>, count: number, prefix: string) => {
    const orch: number[] = [];
    const ack: number[] = [];
    const steps: Step[][] = [];
    for (let i = 1; i <= count; i++) {
      const key = `${prefix}-${i}`;
      const res = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `b9 trial ${i}` });
      if (res.status !== 202) throw new Error(`B9: starting ${key} answered ${res.status}: ${JSON.stringify(res.body)}`);
      const handle = env.client.workflow.getHandle(taskWorkflowId(key));
      await until(`${key} to wait for approval`, async () => (await handle.query(stateQuery)).waitingFor === 'approval', 60_000, 10);
      // A person decides a while after being asked. Sooner, the run could meet the standby guard
      // that replaces the one the stage before used still starting (250 ms later, then its node
      // start-up), and wait for it: no person is that quick.
      await sleep(DECIDE_AFTER_MS + Math.random() * 500);
      // The agents' stamps and the history's event times are on the wall clock.
      const wall = wallClock();
      const t0 = wall();
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bench', via: 'bench' }] });
      ack.push(wall() - t0);
      const ready = await env.stampWhen(key, (s) => s.event === 'ready', 30_000);
      orch.push(ready.t - t0);
      steps.push(await stepsOf(handle, t0, ready.t));
      await handle.signal('stop', { reason: 'bench B9' });
      await env.waitForStatus(key, ['cancelled'], 60_000);
    }
    return { orch, ack, steps };
  };

  // The usual case: a stage ran before the approval (design → design-approval → development), so
  // the host has the task's clone, clean at the last push.
  const design = [{ name: 'design', agent: DESIGN_AGENT }];
  const env = await orchEnv('b9', design, 'bash');
  say(`B9: ${n} approvals after an agent stage…`);
  const { orch, ack, steps } = await trials(env, n, 'APPROVE');
  // The same with a node agent: its own start-up on top.
  const nodeEnv = await orchEnv('b9-node', design, 'node');
  say(`B9: ${n} approvals after an agent stage, a node agent next…`);
  const viaNode = await trials(nodeEnv, n, 'NODE');
  // The approval as the first stage: no host picked and no clone yet.
  const first = await orchEnv('b9-first', [], 'bash');
  say(`B9: ${nFirst} approvals as the first stage…`);
  const cold = await trials(first, nFirst, 'FIRST');

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

  // What a node agent adds to its own start, whatever orch does (orch's guard is started ahead).
  const nodeStart: number[] = [];
  for (let i = 0; i < (o.quick ? 10 : 30); i++) {
    const t0 = nowMs();
    await execa(process.execPath, ['-e', '0']);
    nodeStart.push(nowMs() - t0);
  }

  const so = summarize(orch);
  const sv = summarize(viaNode.orch);
  const sf = summarize(floor);
  const sa = summarize(ack);
  const sc = summarize(cold.orch);
  const sn = summarize(nodeStart);
  const row = (s: Summary) => `p50 ${fmtMs(s.p50)} · p99 ${fmtMs(s.p99)} · max ${fmtMs(s.max)}`;
  const stepsBlock = (title: string, trialSteps: Step[][]) => ['', title, '', '| step | p50 | p99 |', '|---|---|---|', ...stepTable(trialSteps)];
  return {
    id: 'B9',
    title: 'approval → next agent',
    rows: [
      [`orch approve → next stage's agent runs (n=${so.n})`, row(so)],
      [`… a node agent's first instruction (n=${sv.n})`, row(sv)],
      [`… with the approval as the first stage (n=${sc.n})`, row(sc)],
      [`floor: update → activity (n=${sf.n})`, row(sf)],
      ['ratio orch/floor (p50 · p99)', `${fmtRatio(so.p50 / sf.p50)} · ${fmtRatio(so.p99 / sf.p99)}`],
    ],
    targets: [{ id: 'P9', goal: 'orch p99 ≤ 200 ms', measured: fmtMs(so.p99), pass: so.p99 <= 200 }],
    method: [
      `- **orch** (n = ${n}, one after another): a pipeline of an agent stage \`design\` (a shell command that writes its note), an approval stage \`ok\`, then one agent stage whose agent is \`bench/agents/ready-stamp.sh\` (bash; its first instruction stamps *ready*): the usual shape (design → design-approval → development), where the host still has the task's clone, clean at the last push. In-process orch worker and API on loopback, agents in the sandbox. Each trial: \`POST /api/tasks\`, wait until the \`state\` query says \`waitingFor: approval\`, wait ${DECIDE_AFTER_MS / 1000}–${DECIDE_AFTER_MS / 1000 + 0.5} s (a person decides later than that; sooner, the run could meet the standby guard that replaces the one the stage before used still starting, and wait for it), **t0** = just before \`executeUpdate(approve)\` (the update every entry point uses), **t1** = the agent's *ready* stamp, both on the wall clock. Between the two: the update's validator and handler, then the agent's run (its check that the clone is clean at the last push, its prompt, and its start: orch's guard, started ahead, spawns \`env\`, \`bwrap\`, \`env\`, the agent) and, scheduled behind it, one record activity: the next stage's row update with the decision. Then the task is stopped. An agent's own start-up is the agent's: bash's is a few ms.`,
      `- **a node agent** (n = ${n}): the same with \`bench/agents/sigterm-stamp.mjs\` as the agent, which stamps as its first instruction once node has started.`,
      `- **the approval first** (n = ${nFirst}): the bash agent without the \`design\` stage, so the next stage also picks a host and makes the clone.`,
      `- **a node start-up**: \`node -e 0\` from the bench, ${o.quick ? 10 : 30} times: what a node agent's start costs at least.`,
      `- **floor** (n = ${n}): \`floorWorkflow\` in \`bench/workflows.ts\` waits for \`go\` (here the update), then runs one activity that stamps the time, on the same server; t0 = just before \`executeUpdate\`, t1 = the stamp.`,
    ].join('\n'),
    details: [
      '| series | n | min | p50 | p90 | p99 | max | mean |',
      '|---|---|---|---|---|---|---|---|',
      ...([
        ['orch approve → agent ready (after an agent stage)', so],
        ['orch: the update answered', sa],
        ['orch approve → a node agent\'s first instruction', sv],
        ['orch approve → agent ready (the approval first)', sc],
        ['floor update → activity', sf],
        ['a node start-up (`node -e 0`)', sn],
      ] as [string, Summary][]).map(([name, s]) => `| ${name} | ${s.n} | ${fmtMs(s.min)} | ${fmtMs(s.p50)} | ${fmtMs(s.p90)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} | ${fmtMs(s.mean)} |`),
      ...stepsBlock("Where the time goes (from each trial's workflow history; p50 · p99 of each step, in the order they run):", steps),
      ...stepsBlock('The same with a node agent:', viaNode.steps),
      ...stepsBlock('The same with the approval as the first stage (a host pick and a new clone on the way):', cold.steps),
    ].join('\n'),
    elapsedMs: performance.now() - started,
  };
}

/** One step between the update and the agent: an activity's wait for a worker, or its run, or the gaps. */
interface Step {
  name: string;
  ms: number;
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/** The trial's steps from its history: each activity after the update, queued and running, and what the workflow took between. */
async function stepsOf(handle: { fetchHistory(): Promise<{ events?: any[] | null }> }, t0: number, ready: number): Promise<Step[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const accepted = events.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
  if (!accepted) return [];
  const steps: Step[] = [{ name: 'update sent → accepted', ms: ms(accepted.eventTime) - t0 }];
  const scheduled = new Map<string, { type: string; at: number }>();
  let last = ms(accepted.eventTime);
  for (const e of events) {
    const at = ms(e.eventTime);
    if (at < ms(accepted.eventTime) || at > ready) continue;
    const sch = e.activityTaskScheduledEventAttributes;
    if (sch) {
      const type = sch.activityType?.name ?? '?';
      scheduled.set(String(e.eventId), { type, at });
      steps.push({ name: `workflow → ${type} scheduled`, ms: at - last });
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st) {
      const s = scheduled.get(String(st.scheduledEventId));
      if (s) steps.push({ name: `${s.type}: queued`, ms: at - s.at });
      if (s) s.at = at;
    }
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const s = scheduled.get(String(done.scheduledEventId));
      if (s) steps.push({ name: `${s.type}: runs`, ms: at - s.at });
      last = at;
    }
  }
  const agent = [...scheduled.values()].find((s) => s.type === 'runAgent');
  if (agent) steps.push({ name: 'runAgent scheduled → agent ready', ms: ready - agent.at });
  return steps;
}

function stepTable(trials: Step[][]): string[] {
  const order: string[] = [];
  const byName = new Map<string, number[]>();
  for (const trial of trials) {
    const seen = new Map<string, number>();
    for (const s of trial) {
      const n = (seen.get(s.name) ?? 0) + 1;
      seen.set(s.name, n);
      const name = n > 1 ? `${s.name} (${n})` : s.name;
      if (!byName.has(name)) {
        byName.set(name, []);
        order.push(name);
      }
      byName.get(name)!.push(s.ms);
    }
  }
  return order.map((name) => {
    const s = summarize(byName.get(name)!);
    return `| ${name} | ${fmtMs(s.p50)} | ${fmtMs(s.p99)} |`;
  });
}
