// B1 STOP → SIGTERM: how long from "an operator presses STOP" to "the agent process gets SIGTERM",
// next to the floor (a bare signal → activity round trip) and the naive design (cancellation only
// through the heartbeat, default throttle), all in the same run on the same server.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { tsMs } from './b2-crash.js';
import { cancelSeenAt, readyAt, stampedAt } from './activities.js';
import { startBenchWorker } from './baseline.js';
import { createOrchEnv, pipelineYaml, stampAgentPath } from './orch-env.js';
import { until } from '../worker/harness/until.js';
import { nowMs, say, type Stack } from './stack.js';
import { fmtMs, fmtRatio, median, summarize, type Summary } from './stats.js';
import type { BenchOptions, BenchResult } from './types.js';
import { floorWorkflow, goSignal, naiveWorkflow, stopSignal } from './workflows.js';

const HEARTBEAT = '10s';

/** Where one STOP's time went, from the workflow history (server event times) and the two stamps. */
interface Phases {
  /** t0 → WorkflowExecutionSignaled: the request (API and its DB read, or the client) until the server holds the signal. */
  toSignal: number;
  /** Signaled → the activity scheduled: the workflow task (dispatch, handler, completion). */
  toScheduled: number;
  /** Scheduled → started: activity dispatch to the worker. */
  toStarted: number;
  /** Started → t1: the activity's own work (orch: find and signal the process group; the agent's handler). */
  toStamp: number;
}

async function phasesOf(client: Client, workflowId: string, activity: string, t0: number, t1: number): Promise<Phases | null> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  let signaled = Number.NaN;
  let scheduled = Number.NaN;
  let scheduledId = '';
  let started = Number.NaN;
  for (const e of history.events ?? []) {
    if (e.workflowExecutionSignaledEventAttributes && Number.isNaN(signaled)) signaled = tsMs(e.eventTime);
    const sch = e.activityTaskScheduledEventAttributes;
    if (sch && !Number.isNaN(signaled) && !scheduledId && sch.activityType?.name === activity) {
      scheduled = tsMs(e.eventTime);
      scheduledId = String(e.eventId);
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st && scheduledId && String(st.scheduledEventId) === scheduledId) started = tsMs(e.eventTime);
  }
  if ([signaled, scheduled, started].some(Number.isNaN)) return null;
  return { toSignal: signaled - t0, toScheduled: scheduled - signaled, toStarted: started - scheduled, toStamp: t1 - started };
}
/** Between "the agent runs" and STOP: settles the workflow, and puts STOP at a random heartbeat phase. */
const settle = () => sleep(200 + Math.random() * 1000);

export async function runB1(stack: Stack, o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const n = o.quick ? 10 : 100;
  const heartbeatMs = msToNumber(HEARTBEAT);
  // orch's own choice (worker/workers.ts): a beat every heartbeat/4, at most 5 s.
  const beatEveryMs = Math.max(200, Math.min(5000, Math.floor(heartbeatMs / 4)));

  // ---- orch: the real API, the real task workflow, the real agent runner ----------------------
  const env = await createOrchEnv(stack, {
    name: 'b1',
    inProcessWorker: 'b1-host',
    pipeline: (p) =>
      pipelineYaml({
        remote: p.remote,
        agent: { command: process.execPath, args: [stampAgentPath, '--dir', p.stampDir] },
        heartbeat: HEARTBEAT,
        stages: [{ name: 'work' }], sandbox: { writable: [p.stampDir] },
      }),
  });
  const orch: number[] = [];
  const orchPhases: Phases[] = [];
  const floorPhases: Phases[] = [];
  const stopAck: number[] = [];
  const toCancelled: number[] = [];
  say(`B1: ${n} STOPs through the API…`);
  for (let i = 1; i <= n; i++) {
    const key = `STOP-${i}`;
    const res = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `b1 trial ${i}` });
    if (res.status !== 202) throw new Error(`B1: starting ${key} answered ${res.status}: ${JSON.stringify(res.body)}`);
    await until(`${key}'s agent to run`, async () => (await env.stamps(key)).some((s) => s.event === 'ready'), 60_000, 10);
    await settle();
    const t0 = nowMs();
    const stop = await env.api('POST', `/api/tasks/${key}/stop`, { reason: 'bench B1' });
    const tAck = nowMs();
    if (stop.status !== 202) throw new Error(`B1: STOP of ${key} answered ${stop.status}: ${JSON.stringify(stop.body)}`);
    const term = await until(`${key}'s agent to get SIGTERM`, async () => (await env.stamps(key)).find((s) => s.event === 'sigterm'), 30_000, 10);
    orch.push(term.t - t0);
    stopAck.push(tAck - t0);
    await env.waitForStatus(key, ['cancelled'], 60_000);
    toCancelled.push(nowMs() - t0);
    const ph = await phasesOf(env.client, `task-${key}`, 'killAgent', t0, term.t);
    if (ph) orchPhases.push(ph);
  }

  // ---- floor: signal → activity on the same server --------------------------------------------
  const base = await startBenchWorker(stack, 'b1');
  const floor: number[] = [];
  say(`B1: ${n} floor round trips…`);
  for (let i = 1; i <= n; i++) {
    const workflowId = `floor-${i}-${randomBytes(3).toString('hex')}`;
    const handle = await stack.client.workflow.start(floorWorkflow, { taskQueue: base.taskQueue, workflowId });
    await until(`${workflowId} to wait for its signal`, () => readyAt.has(workflowId), 30_000, 5);
    await settle();
    const t0 = nowMs();
    await handle.signal(goSignal);
    const t1 = await until(`${workflowId}'s activity`, () => stampedAt.get(workflowId), 30_000, 2);
    floor.push(t1 - t0);
    await handle.result();
    const ph = await phasesOf(stack.client, workflowId, 'stamp', t0, t1);
    if (ph) floorPhases.push(ph);
  }

  // ---- naive: cancellation only through the heartbeat, default throttle, trials concurrent ----
  const naiveQueue = await startBenchWorker(stack, 'b1naive');
  const naive: number[] = [];
  const throttleMs = Math.min(0.8 * heartbeatMs, 60_000);
  say(`B1: ${n} naive cancellations, concurrently (default throttle ${throttleMs} ms)…`);
  const suffix = randomBytes(3).toString('hex');
  const handles = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      stack.client.workflow.start(naiveWorkflow, { taskQueue: naiveQueue.taskQueue, workflowId: `naive-${i + 1}-${suffix}`, args: [heartbeatMs, beatEveryMs] }),
    ),
  );
  await until('every naive activity to run', () => handles.every((h) => readyAt.has(h.workflowId)), 60_000, 20);
  // Each STOP at a random moment within one heartbeat timeout, so throttle phases are sampled evenly.
  const t0s = new Map<string, number>();
  await Promise.all(
    handles.map(async (h) => {
      await sleep(Math.random() * heartbeatMs);
      t0s.set(h.workflowId, nowMs());
      await h.signal(stopSignal);
    }),
  );
  await until('every naive activity to see its cancellation', () => handles.every((h) => cancelSeenAt.has(h.workflowId)), 3 * heartbeatMs + 30_000, 20);
  for (const h of handles) naive.push(cancelSeenAt.get(h.workflowId)! - t0s.get(h.workflowId)!);
  await Promise.all(handles.map((h) => h.result()));

  // ---- results ---------------------------------------------------------------------------------
  const so = summarize(orch);
  const sf = summarize(floor);
  const sn = summarize(naive);
  const sa = summarize(stopAck);
  const sc = summarize(toCancelled);
  const p1a = so.p99 <= 500;
  const p1b = so.p99 <= 2 * sf.p99;
  const row = (s: Summary) => `p50 ${fmtMs(s.p50)} · p99 ${fmtMs(s.p99)} · max ${fmtMs(s.max)}`;
  return {
    id: 'B1',
    title: 'STOP → SIGTERM',
    rows: [
      [`orch STOP → agent SIGTERM (n=${so.n})`, row(so)],
      [`floor: signal → activity (n=${sf.n})`, row(sf)],
      [`naive: heartbeat-only cancel (n=${sn.n})`, row(sn)],
      ['ratio orch/floor (p50 · p99)', `${fmtRatio(so.p50 / sf.p50)} · ${fmtRatio(so.p99 / sf.p99)}`],
      ['ratio naive/orch (p50 · p99)', `${fmtRatio(sn.p50 / so.p50)} · ${fmtRatio(sn.p99 / so.p99)}`],
    ],
    targets: [
      { id: 'P1a', goal: 'orch p99 ≤ 0.5 s', measured: fmtMs(so.p99), pass: p1a },
      { id: 'P1b', goal: 'orch p99 ≤ 2 × floor p99', measured: `${fmtMs(so.p99)} vs 2 × ${fmtMs(sf.p99)} (${fmtRatio(so.p99 / sf.p99)})`, pass: p1b },
    ],
    method: [
      `- **orch** (n = ${n}, one after another): pipeline with one agent stage whose agent is \`bench/agents/sigterm-stamp.mjs\`, heartbeat timeout ${HEARTBEAT} (orch's worker then beats every ${beatEveryMs} ms with a ${Math.max(100, Math.min(1000, beatEveryMs))} ms throttle). An in-process orch worker (\`createOrchWorkers\`, as the integration tests assemble it) and the real express app (\`createApp\`) on loopback. Each trial: \`POST /api/tasks\`, wait for the agent's *ready* stamp, wait 0.2–1.2 s (random, so STOP lands at a random heartbeat phase), **t0** = just before \`POST /api/tasks/:key/stop\`, **t1** = the agent's own SIGTERM stamp (\`performance.timeOrigin + performance.now()\` in the agent process). The task is then awaited to \`cancelled\` (full compensation) before the next trial.`,
      `- **floor** (n = ${n}, one after another): \`floorWorkflow\` in \`bench/workflows.ts\` waits for a signal, then runs one activity that stamps the time; in-process worker with default options on the same server. t0 = just before \`handle.signal\`, t1 = the activity's stamp. Same 0.2–1.2 s settle before the signal.`,
      `- **naive** (n = ${n}, concurrently): \`naiveWorkflow\` runs a heartbeating activity (heartbeat timeout ${HEARTBEAT}, a beat every ${beatEveryMs} ms, like orch) on a worker with the SDK's DEFAULT throttle (T = min(0.8 × ${HEARTBEAT}, 60 s) = ${throttleMs / 1000} s); on \`stop\` the workflow cancels the activity's scope and does nothing else. t0 = just before \`handle.signal\`, each at a random moment within ${HEARTBEAT} of the activities starting; t1 = when \`Context.current().cancelled\` rejects in the activity.`,
      `- Percentiles are nearest-rank: with n = ${n}, p99 is the ${n >= 100 ? `${Math.ceil(0.99 * n)}th of ${n} samples (the second largest)` : 'largest sample'}.`,
    ].join('\n'),
    details: [
      '| series | n | min | p50 | p90 | p99 | max | mean |',
      '|---|---|---|---|---|---|---|---|',
      ...([
        ['orch STOP → SIGTERM', so],
        ['floor signal → activity', sf],
        ['naive heartbeat-only cancel', sn],
        ['orch: API answered the STOP (202)', sa],
        ['orch: STOP → task `cancelled` (compensation done)', sc],
      ] as [string, Summary][]).map(([name, s]) => `| ${name} | ${s.n} | ${fmtMs(s.min)} | ${fmtMs(s.p50)} | ${fmtMs(s.p90)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} | ${fmtMs(s.mean)} |`),
      '',
      'Where the time goes (medians over the trials; server event times from each workflow\'s history, so the phases add up to the total only approximately):',
      '',
      '| phase | orch | floor |',
      '|---|---|---|',
      ...([
        ['t0 → signal recorded by the server (orch: HTTP request, task lookup in PostgreSQL, signal RPC)', 'toSignal'],
        ['signal → activity scheduled (workflow task: dispatch, handler, completion)', 'toScheduled'],
        ['scheduled → activity started (dispatch to the worker; orch: the host queue)', 'toStarted'],
        ['started → t1 (orch: `killAgent` finds the process group and sends SIGTERM, the agent\'s handler stamps; floor: the stamp)', 'toStamp'],
      ] as [string, keyof Phases][]).map(
        ([label, k]) => `| ${label} | ${fmtMs(median(orchPhases.map((p) => p[k])))} | ${fmtMs(median(floorPhases.map((p) => p[k])))} |`,
      ),
      '',
      `Ratios in this run: orch/floor = ${fmtRatio(so.p50 / sf.p50)} at p50, ${fmtRatio(so.p99 / sf.p99)} at p99; naive/orch = ${fmtRatio(sn.p50 / so.p50)} at p50, ${fmtRatio(sn.p99 / so.p99)} at p99.`,
    ].join('\n'),
    elapsedMs: performance.now() - started,
  };
}
