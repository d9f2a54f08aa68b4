// B3 orchestration overhead per stage: a no-op agent through N stages of orch, next to a bare Temporal
// workflow running N no-op activities on the same server. Both are read back from their workflow
// histories, which also gives the breakdown of an orch stage (agent process, git, DB, Temporal).
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { startBenchWorker } from './baseline.js';
import { tsMs } from './b2-crash.js';
import { createOrchEnv, pipelineYaml } from './orch-env.js';
import { say, type Stack } from './stack.js';
import { fmtMs, fmtRatio, median } from './stats.js';
import type { BenchOptions, BenchResult } from './types.js';
import { noopActivitiesWorkflow } from './workflows.js';
import { TERMINAL_STATUSES } from '../workflows/contracts/index.js';

/** The no-op agent: writes the gate file and exits 0. No node, no git: the cheapest honest agent. */
const NOOP_AGENT = { command: '/bin/sh', args: ['-c', 'mkdir -p "docs/tasks/$ORCH_TASK_KEY" && echo ok > "docs/tasks/$ORCH_TASK_KEY/$ORCH_STAGE.md"'] };

interface Act {
  type: string;
  input: unknown[];
  scheduledAt: number;
  startedAt: number;
  completedAt: number;
  result: unknown;
}

function decodePayloads(p: { payloads?: { data?: Uint8Array | null }[] | null } | null | undefined): unknown[] {
  return (p?.payloads ?? []).map((x) => {
    try {
      return x.data && x.data.length ? JSON.parse(Buffer.from(x.data).toString('utf8')) : undefined;
    } catch {
      return undefined;
    }
  });
}

/** The activities of a workflow run, in order, with their server-side times. */
async function activitiesOf(client: Client, workflowId: string): Promise<{ acts: Act[]; startedAt: number; closedAt: number }> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const byScheduled = new Map<string, Act>();
  const acts: Act[] = [];
  let startedAt = Number.NaN;
  let closedAt = Number.NaN;
  for (const e of history.events ?? []) {
    const at = tsMs(e.eventTime);
    const id = String(e.eventId);
    // EVENT_TYPE_WORKFLOW_EXECUTION_STARTED = 1, _COMPLETED = 2 (an empty result decodes without attributes).
    if (e.workflowExecutionStartedEventAttributes || Number(e.eventType) === 1) startedAt = at;
    if (e.workflowExecutionCompletedEventAttributes || Number(e.eventType) === 2) closedAt = at;
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      const act: Act = { type: s.activityType?.name ?? '?', input: decodePayloads(s.input), scheduledAt: at, startedAt: Number.NaN, completedAt: Number.NaN, result: undefined };
      byScheduled.set(id, act);
      acts.push(act);
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st) {
      const act = byScheduled.get(String(st.scheduledEventId));
      if (act) act.startedAt = at;
    }
    const c = e.activityTaskCompletedEventAttributes;
    if (c) {
      const act = byScheduled.get(String(c.scheduledEventId));
      if (act) {
        act.completedAt = at;
        act.result = decodePayloads(c.result)[0];
      }
    }
  }
  return { acts, startedAt, closedAt };
}

interface Breakdown {
  perStage: number;
  endToEndPerStage: number;
  activitiesPerStage: number;
  /** ms per stage by category. */
  parts: Record<string, number>;
}

const ORCH_CATEGORY: Record<string, string> = {
  runAgent: 'agent run',
  prepareWorktree: 'git: prepareWorktree (mirror fetch, worktree checks)',
  commitAndPush: 'git: commitAndPush (commit, push to the remote)',
  runGate: 'quality gate (runGate)',
  updateTask: 'PostgreSQL records (updateTask, recordEvent)',
  recordEvent: 'PostgreSQL records (updateTask, recordEvent)',
};

function analyse(acts: Act[], boundaries: number[], startedAt: number, closedAt: number, n: number, categorise: (a: Act) => string): Breakdown {
  const first = boundaries[0]!;
  const last = boundaries[boundaries.length - 1]!;
  const stages = boundaries.length - 1;
  const window = acts.filter((a) => a.scheduledAt > first && a.completedAt <= last);
  const parts: Record<string, number> = {};
  const add = (k: string, ms: number) => (parts[k] = (parts[k] ?? 0) + ms / stages);
  let inActivities = 0;
  for (const a of window) {
    const cat = categorise(a);
    const exec = a.completedAt - a.startedAt;
    if (a.type === 'runAgent') {
      const agentMs = Number((a.result as { durationMs?: number } | undefined)?.durationMs ?? 0);
      add('agent process (agent-guard + agent)', agentMs);
      add('runAgent around the process (spawn, job rows, beats)', exec - agentMs);
    } else add(cat, exec);
    add('Temporal: activity dispatch (scheduled → started)', a.startedAt - a.scheduledAt);
    inActivities += a.completedAt - a.scheduledAt;
  }
  add('Temporal: between activities (workflow tasks, history writes)', last - first - inActivities);
  return { perStage: (last - first) / stages, endToEndPerStage: (closedAt - startedAt) / n, activitiesPerStage: window.length / stages, parts };
}

export async function runB3(stack: Stack, o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const N = o.quick ? 5 : 10;
  const runs = o.quick ? 1 : 3;
  const stageNames = Array.from({ length: N }, (_, i) => `s${String(i + 1).padStart(2, '0')}`);
  const env = await createOrchEnv(stack, {
    name: 'b3',
    inProcessWorker: 'b3-host',
    pipeline: (p) => pipelineYaml({ remote: p.remote, agent: NOOP_AGENT, heartbeat: '30s', stages: stageNames.map((name) => ({ name })) }),
  });
  const orch: Breakdown[] = [];
  for (let r = 1; r <= runs; r++) {
    const key = `OVER-${r}`;
    say(`B3: orch task ${key} through ${N} stages…`);
    const res = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `b3 run ${r}` });
    if (res.status !== 202) throw new Error(`B3: starting ${key} answered ${res.status}: ${JSON.stringify(res.body)}`);
    const status = await env.waitForStatus(key, TERMINAL_STATUSES, 5 * 60_000);
    if (status !== 'done') throw new Error(`B3: task ${key} ended ${status}`);
    // The row says done just before the workflow's last steps: wait for the execution itself to close.
    await env.client.workflow.getHandle(`task-${key}`).result();
    const { acts, startedAt, closedAt } = await activitiesOf(env.client, `task-${key}`);
    const boundaries = acts
      .filter((a) => a.type === 'recordEvent' && (a.input[0] as { type?: string } | undefined)?.type === 'stage-passed')
      .map((a) => a.completedAt);
    if (boundaries.length !== N) throw new Error(`B3: ${key} recorded ${boundaries.length} passed stages, expected ${N}`);
    orch.push(analyse(acts, boundaries, startedAt, closedAt, N, (a) => ORCH_CATEGORY[a.type] ?? `other (${a.type})`));
  }

  const base = await startBenchWorker(stack, 'b3');
  const bare: Breakdown[] = [];
  let fresh: Breakdown | undefined;
  // Run 0 warms the new worker up and is reported apart: orch's worker had run tasks before its measured stages too.
  for (let r = 0; r <= runs; r++) {
    const workflowId = `noops-${r}-${randomBytes(3).toString('hex')}`;
    say(`B3: bare workflow ${workflowId} with ${N} no-op activities${r === 0 ? ' (warm-up)' : ''}…`);
    await stack.client.workflow.execute(noopActivitiesWorkflow, { taskQueue: base.taskQueue, workflowId, args: [N] });
    const { acts, startedAt, closedAt } = await activitiesOf(stack.client, workflowId);
    const b = analyse(acts, acts.map((a) => a.completedAt), startedAt, closedAt, N, () => 'activity execution (no-op)');
    if (r === 0) fresh = b;
    else bare.push(b);
  }

  // The run with the median steady-state time stands for each side.
  const pick = (xs: Breakdown[]) => [...xs].sort((a, b) => a.perStage - b.perStage)[Math.floor((xs.length - 1) / 2)]!;
  const o1 = pick(orch);
  const b1 = pick(bare);
  const ratio = o1.perStage / b1.perStage;
  const e2eRatio = o1.endToEndPerStage / b1.endToEndPerStage;
  const parts = Object.entries(o1.parts).sort((a, b) => b[1] - a[1]);
  const temporalMs = (o1.parts['Temporal: activity dispatch (scheduled → started)'] ?? 0) + (o1.parts['Temporal: between activities (workflow tasks, history writes)'] ?? 0);
  const bareTemporalMs = (b1.parts['Temporal: activity dispatch (scheduled → started)'] ?? 0) + (b1.parts['Temporal: between activities (workflow tasks, history writes)'] ?? 0);
  const gitMs = Object.entries(o1.parts).filter(([k]) => k.startsWith('git:')).reduce((a, [, v]) => a + v, 0);
  const temporalPerActivity = temporalMs / Math.max(1, o1.activitiesPerStage);
  const agentMs = o1.parts['agent process (agent-guard + agent)'] ?? 0;
  return {
    id: 'B3',
    title: 'orchestration overhead per stage',
    rows: [
      [`orch: per stage, no-op agent (steady state, ${N} stages, median of ${runs})`, fmtMs(o1.perStage)],
      [`bare Temporal: per no-op activity (same server)`, fmtMs(b1.perStage)],
      ['ratio orch/bare (steady state · end to end)', `${fmtRatio(ratio)} · ${fmtRatio(e2eRatio)}`],
      ['orch stage: agent process · git · Temporal', `${fmtMs(agentMs)} · ${fmtMs(gitMs)} · ${fmtMs(temporalMs)}`],
      ['Temporal time per orch activity vs bare activity', `${fmtMs(temporalPerActivity)} vs ${fmtMs(b1.perStage)} (${fmtRatio(temporalPerActivity / b1.perStage)})`],
    ],
    targets: [{ id: 'P3', goal: 'orch per stage ≤ 2 × bare per activity', measured: `${fmtMs(o1.perStage)} vs 2 × ${fmtMs(b1.perStage)} (${fmtRatio(ratio)})`, pass: ratio <= 2 }],
    method: [
      `- **orch**: a pipeline of ${N} agent stages (no merge, no deploy) whose agent is \`/bin/sh -c 'mkdir -p docs/tasks/$ORCH_TASK_KEY && echo ok > docs/tasks/$ORCH_TASK_KEY/$ORCH_STAGE.md'\`: it writes the gate file and exits 0 (no node, no git in the agent). In-process orch worker and API; ${runs} task(s), one after another, each started with \`POST /api/tasks\` and awaited to \`done\`.`,
      `- **bare**: \`noopActivitiesWorkflow\` (\`bench/workflows.ts\`) runs ${N} no-op activities one after another on an in-process worker with default options; one warm-up run, then ${runs} measured run(s).`,
      '- Both are read back from their workflow histories (server event times). **Per stage (steady state)** = time between the first and the last stage\'s completion divided by N − 1 (for orch: the `recordEvent(stage-passed)` completions; for bare: the activity completions), which leaves out the one-off start (task row, plan, host pick, first mirror clone) and finish (worktree removal, branch deletion). **End to end** = workflow start → completion divided by N. The run with the median steady-state time is reported.',
      '- The breakdown sorts each steady-state orch stage into its activities\' execution time (server `ActivityTaskStarted` → `ActivityTaskCompleted`), the agent process time as the runner measured it (`durationMs` of the guard, which includes the guard\'s own node start-up), activity dispatch (`Scheduled` → `Started`) and the time between activities (workflow tasks and history writes).',
    ].join('\n'),
    details: [
      '| | orch per stage | bare per activity |',
      '|---|---|---|',
      `| steady state | ${fmtMs(o1.perStage)} | ${fmtMs(b1.perStage)} |`,
      `| end to end (÷ N) | ${fmtMs(o1.endToEndPerStage)} | ${fmtMs(b1.endToEndPerStage)} |`,
      `| activities per stage | ${o1.activitiesPerStage.toFixed(1)} | ${b1.activitiesPerStage.toFixed(1)} |`,
      `| all runs, steady state | ${orch.map((x) => fmtMs(x.perStage)).join(', ')} | ${bare.map((x) => fmtMs(x.perStage)).join(', ')} (warm-up run on the fresh worker: ${fmtMs(fresh!.perStage)}) |`,
      `| of which Temporal dispatch (scheduled → started), per activity | ${fmtMs((o1.parts['Temporal: activity dispatch (scheduled → started)'] ?? 0) / o1.activitiesPerStage)} | ${fmtMs(b1.parts['Temporal: activity dispatch (scheduled → started)'] ?? 0)} |`,
      '',
      // A healthy dispatch to a waiting poller takes 1–3 ms on loopback.
      ...((b1.parts['Temporal: activity dispatch (scheduled → started)'] ?? 0) > 10
        ? [
            `A caveat on the baseline: on the fresh worker a no-op activity round trip took ${fmtMs(fresh!.perStage)} on average over the warm-up run, but once tasks followed each other back to back it settled at ${bare.map((x) => fmtMs(x.perStage)).join(', ')}, each activity now waiting ${fmtMs(b1.parts['Temporal: activity dispatch (scheduled → started)'] ?? 0)} to be dispatched. Outside the bench the same pattern (≈20 ms, then ≈100 ms per no-op activity, ≈40 ms per dispatch) appeared with the dev server's in-memory store, with SQLite \`synchronous=OFF\`, with a single task-queue partition and with new connections (fast for a moment, then slow again), so it belongs to this server/SDK pairing on this machine — a delayed-ACK-like stall on loopback is a plausible cause, not pinned down — not to orch. orch's stages suffer less from it because real work separates their activities. It makes the baseline slower and the ratio smaller than without the stall; it does not change the verdict on P3 (against the fresh-worker figure the ratio is ${fmtRatio(o1.perStage / fresh!.perStage)}).`,
            '',
          ]
        : []),
      'Where one orch stage\'s time goes (steady state, the median run):',
      '',
      '| part | ms per stage | share |',
      '|---|---|---|',
      ...parts.map(([k, v]) => `| ${k} | ${fmtMs(v)} | ${((100 * v) / o1.perStage).toFixed(0)}% |`),
      `| **total** | **${fmtMs(o1.perStage)}** | |`,
      '',
      `Temporal's share of an orch stage (dispatch + between activities) is ${fmtMs(temporalMs)} for ${o1.activitiesPerStage.toFixed(1)} activities, i.e. ${fmtMs(temporalMs / Math.max(1, o1.activitiesPerStage))} per activity, against ${fmtMs(bareTemporalMs)} per bare no-op activity.`,
      '',
      ratio > 2
        ? `**Why P3 (≤ 2×) is the wrong yardstick as written.** A bare no-op activity does nothing. An orch stage is ${o1.activitiesPerStage.toFixed(0)} activities (stage record, worktree, agent run, gate, commit and push, stage event); it starts two processes (the agent guard, which is node, and the agent) and runs git several times (a fetch into the host's mirror, worktree checks, a commit, a push to the remote). Even if each activity cost nothing to orchestrate, the stage could not get within 2× of one empty activity: here the agent process alone takes ${fmtMs(agentMs)} per stage and git takes ${fmtMs(gitMs)}. What orch adds on the Temporal side is ${fmtMs(temporalPerActivity)} per activity, ${fmtRatio(temporalPerActivity / b1.perStage)} a bare activity's ${fmtMs(b1.perStage)}. A fair target would compare that per-activity figure, or set an absolute budget per stage (for example, orch's own work excluding the agent process). The command still fails on P3 as written.`
        : `P3 is met: an orch stage costs ${fmtRatio(ratio)} a bare no-op activity.`,
    ].join('\n'),
    elapsedMs: performance.now() - started,
  };
}
