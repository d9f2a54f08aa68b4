// B4 webhook ack latency at 200 req/s: open-loop, Plane-signed, mixed deliveries against the real API
// process (`worker/api-main.ts` with PLANE_WEBHOOK_SECRET set); then no duplicate workflow may exist.
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import pLimit from 'p-limit';
import { projectDir } from '../worker/config/project-dir.js';
import { entryArgs } from '../worker/entry-points.js';
import { botActor, demoStates, humanActor, planeIssuePayload, type PlaneStateRef } from '../bin/plane-payload.js';
import { planeDelivery, signPlane } from '../workflows/contracts/plane-wire.js';
import { startTreeCpu } from './load.js';
import { createOrchEnv, pipelineYaml, stampAgentPath } from './orch-env.js';
import { freePort } from '../worker/harness/free-port.js';
import { until } from '../worker/harness/until.js';
import { nowMs, ownChild, say, type Stack } from './stack.js';
import { fmtMs, summarize } from './stats.js';
import type { BenchOptions, BenchResult } from './types.js';

const SECRET = 'bench-plane-webhook-secret';
const RATE = 200;

type Kind = 'start' | 'twin' | 'replay' | 'ignored-state' | 'other-field' | 'bad-signature' | 'echo' | 'other-event';
/** Deliveries of each kind in every 100 ms (20 in all = 200/s). */
const MIX: [Kind, number][] = [
  ['start', 1],
  ['twin', 1],
  ['replay', 3],
  ['ignored-state', 4],
  ['other-field', 2],
  ['bad-signature', 3],
  ['echo', 3],
  ['other-event', 3],
];
const EXPECTED_STATUS: Record<Kind, number[]> = {
  start: [202, 200], // 200 when its twin got there first
  twin: [202, 200],
  replay: [200, 202], // 202 when it overtook its original (both in flight): still one start per item
  'ignored-state': [200],
  'other-field': [200],
  'bad-signature': [401],
  echo: [200],
  'other-event': [200],
};

interface Planned {
  at: number;
  kind: Kind;
  body: string;
  headers: Record<string, string>;
  measured: boolean;
}

interface Sent {
  kind: Kind;
  latency: number;
  lag: number;
  status: number;
  measured: boolean;
}

/**
 * POSTs with node:http on kept-alive sockets: the load generator shares the machine with what it
 * measures, and fetch() costs several times more CPU per request.
 */
function post(agent: Agent, url: URL, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A small seeded PRNG (mulberry32): the same mix every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The whole delivery schedule, built (and signed) before the clock starts. */
function plan(warmupMs: number, measureMs: number) {
  const rand = rng(7316);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const started: { seq: number; at: number; body: string; headers: Record<string, string> }[] = [];
  const startedKeys = new Set<string>();
  const neverStart = new Set<string>();
  const out: Planned[] = [];
  let startSeq = 1;
  let echoSeq = 500_000;
  let badSeq = 600_000;
  let otherSeq = 700_000;
  const item = (seq: number) => ({ issueId: `${String(seq).padStart(8, '0')}-0000-4000-8000-00000000b4b4`, sequenceId: seq, name: `bench item ${seq}` });
  const signed = (payload: unknown, event?: string) => planeDelivery(payload, { secret: SECRET, event });
  const total = warmupMs + measureMs;
  for (let w = 0; w < total; w += 100) {
    const measured = w >= warmupMs;
    for (const [kind, count] of MIX) {
      for (let c = 0; c < count; c++) {
        const at = w + rand() * 100;
        const push = (d: { body: string; headers: Record<string, string> }, k: Kind = kind, t = at) => out.push({ at: t, kind: k, body: d.body, headers: d.headers, measured });
        switch (kind) {
          case 'start': {
            const seq = startSeq++;
            const base = { ...item(seq), state: demoStates.toAnalyse, oldState: demoStates.backlog, actor: humanActor };
            const d = signed(planeIssuePayload({ ...base, field: 'state' }));
            push(d, 'start', at);
            // One move, two deliveries (makeplane/plane#7249): the state_id twin a few ms later.
            push(signed(planeIssuePayload({ ...base, field: 'state_id' })), 'twin', at + 2 + rand() * 25);
            started.push({ seq, at, body: d.body, headers: d.headers });
            startedKeys.add(`DEMO-${seq}`);
            break;
          }
          case 'twin':
            break; // sent with its start
          case 'replay': {
            // Plane re-sends the same body with a new X-Plane-Delivery after a timeout.
            const earlier = started.filter((s) => s.at < at - 500 && s.at > at - 30_000);
            if (earlier.length === 0) {
              const seq = otherSeq++;
              neverStart.add(`DEMO-${seq}`);
              push(signed(planeIssuePayload({ ...item(seq), state: demoStates.inProgress, actor: humanActor })), 'ignored-state');
              break;
            }
            const s = pick(earlier);
            push({ body: s.body, headers: { ...s.headers, 'x-plane-delivery': randomUUID() } });
            break;
          }
          case 'ignored-state': {
            const useStarted = started.length > 0 && rand() < 0.5;
            const seq = useStarted ? pick(started).seq : otherSeq++;
            if (!useStarted) neverStart.add(`DEMO-${seq}`);
            const state: PlaneStateRef = pick([demoStates.backlog, demoStates.inProgress, demoStates.done]);
            push(signed(planeIssuePayload({ ...item(seq), state, field: rand() < 0.5 ? 'state' : 'state_id', actor: humanActor })));
            break;
          }
          case 'other-field': {
            const seq = otherSeq++;
            neverStart.add(`DEMO-${seq}`);
            push(signed(planeIssuePayload({ ...item(seq), state: demoStates.toAnalyse, field: pick(['priority', 'name', 'assignees']), actor: humanActor })));
            break;
          }
          case 'bad-signature': {
            const seq = badSeq++;
            neverStart.add(`DEMO-${seq}`);
            const d = signed(planeIssuePayload({ ...item(seq), state: demoStates.toAnalyse, actor: humanActor }));
            const how = Math.floor(rand() * 3);
            if (how === 0) d.headers['x-plane-signature'] = signPlane(d.body, 'not-the-secret');
            else if (how === 1) d.body = d.body.replace('bench item', 'bench ITEM'); // altered after signing
            else delete d.headers['x-plane-signature'];
            push(d);
            break;
          }
          case 'echo': {
            // orch's own write coming back: the bot as actor, even into the start state.
            const seq = echoSeq++;
            neverStart.add(`DEMO-${seq}`);
            push(signed(planeIssuePayload({ ...item(seq), state: demoStates.toAnalyse, actor: botActor })));
            break;
          }
          case 'other-event': {
            const seq = otherSeq++;
            neverStart.add(`DEMO-${seq}`);
            const event = pick(['issue_comment', 'project', 'cycle']);
            push(signed(planeIssuePayload({ ...item(seq), event, state: demoStates.toAnalyse, actor: humanActor }), event));
            break;
          }
        }
      }
    }
  }
  out.sort((a, b) => a.at - b.at);
  return { deliveries: out, startedKeys, neverStart };
}

export async function runB4(stack: Stack, o: BenchOptions): Promise<BenchResult> {
  const startedBench = performance.now();
  const warmupMs = o.quick ? 1000 : 3000;
  const measureMs = o.quick ? 5000 : 20_000;
  const env = await createOrchEnv(stack, {
    name: 'b4',
    api: false,
    pipeline: (p) =>
      pipelineYaml({ remote: p.remote, agent: { command: process.execPath, args: [stampAgentPath, '--dir', p.stampDir] }, heartbeat: '30s', stages: [{ name: 'work' }], sandbox: { writable: [p.stampDir] } }),
  });

  // The real API process, as `npm run api` runs it (LOG_LEVEL=info: one log line per delivery, to a file).
  const port = await freePort();
  const apiLog = path.join(env.dir, 'api.log');
  const child = execa(process.execPath, entryArgs('api'), {
    env: env.processEnv({
      HOST: '127.0.0.1',
      PORT: String(port),
      PLANE_WEBHOOK_SECRET: SECRET,
      PLANE_BOT_USER_ID: botActor.id,
      ORCH_PLANE_PROJECTS: path.join(projectDir, 'plane-projects.yaml'),
      LOG_LEVEL: 'info',
    }),
    extendEnv: false,
    cwd: projectDir,
    stdin: 'ignore',
    stdout: { file: apiLog },
    stderr: { file: apiLog },
    reject: false,
  });
  ownChild('b4: API process', child);
  const url = `http://127.0.0.1:${port}`;
  await until('the API process to answer /healthz', async () => {
    if (child.exitCode !== null) throw new Error(`the API process exited:\n${(await readFile(apiLog, 'utf8').catch(() => '')).slice(-3000)}`);
    return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
  }, 60_000, 200);

  const { deliveries, startedKeys, neverStart } = plan(warmupMs, measureMs);
  say(`B4: ${deliveries.length} deliveries over ${(warmupMs + measureMs) / 1000} s (${warmupMs / 1000} s warm-up), ${startedKeys.size} distinct work items to start…`);
  const sent: Sent[] = [];
  const errors: string[] = [];
  const inflight: Promise<void>[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const hookUrl = new URL(`${url}/webhooks/plane`);
  const cpu = startTreeCpu({ api: child.pid, temporal: stack.temporalPid, postgres: stack.pgPid, bench: process.pid }, ['bench']);
  const t0 = nowMs() + 100;
  for (const d of deliveries) {
    const due = t0 + d.at;
    let wait = due - nowMs();
    if (wait > 2) await sleep(wait - 1);
    while ((wait = due - nowMs()) > 0) await new Promise((r) => setImmediate(r));
    const sendAt = nowMs();
    inflight.push(
      post(agent, hookUrl, d.headers, d.body).then(
        (status) => {
          const end = nowMs();
          // Latency from the planned send time: an open-loop client never hides its own lateness.
          sent.push({ kind: d.kind, latency: end - due, lag: sendAt - due, status, measured: d.measured });
        },
        (err: Error) => {
          errors.push(`${d.kind}: ${err.message}`);
        },
      ),
    );
  }
  await Promise.all(inflight);
  const elapsed = nowMs() - t0;
  agent.destroy();
  const cpuMs = cpu.stop();
  const cpuLine = (['api', 'postgres', 'temporal', 'bench'] as const)
    .map((k) => `${k === 'api' ? 'API process' : k === 'bench' ? 'load generator (bench process)' : k} ${((100 * cpuMs[k]!) / elapsed).toFixed(0)}% of one core (${(cpuMs[k]! / deliveries.length).toFixed(2)} ms per delivery)`)
    .join(', ');

  // ---- 0 duplicates: exactly one task-DEMO-<n> workflow per distinct item started ----------------
  const runsById = new Map<string, number>();
  const countRuns = async () => {
    runsById.clear();
    for await (const w of stack.client.workflow.list({ query: `TaskQueue = '${env.taskQueue}'` })) {
      runsById.set(w.workflowId, (runsById.get(w.workflowId) ?? 0) + 1);
    }
    return [...runsById.values()].reduce((a, b) => a + b, 0);
  };
  // Visibility trails the starts a little: wait until the count stops moving.
  let last = -1;
  for (let i = 0; i < 30; i++) {
    const c = await countRuns();
    if (c === last && c >= startedKeys.size) break;
    last = c;
    await sleep(1000);
  }
  const missing = [...startedKeys].filter((k) => !runsById.has(`task-${k}`));
  const doubled = [...runsById].filter(([, c]) => c > 1).map(([id, c]) => `${id}×${c}`);
  const unexpected = [...runsById.keys()].filter((id) => !startedKeys.has(id.replace(/^task-/, '')));
  const wronglyStarted = unexpected.filter((id) => neverStart.has(id.replace(/^task-/, '')));
  const actedTwice = await env.database.sql<{ work_item_id: string; n: number }[]>`
    select work_item_id, count(*)::int as n from webhook_deliveries where outcome = 'started' group by work_item_id having count(*) > 1`;
  const outcomes = await env.database.sql<{ outcome: string; n: number }[]>`
    select case when outcome like 'ignored:%' then 'ignored' when outcome like 'rejected:%' then 'rejected' else outcome end as outcome, count(*)::int as n
    from webhook_deliveries group by 1 order by 2 desc`;
  const noDuplicates = missing.length === 0 && doubled.length === 0 && unexpected.length === 0 && actedTwice.length === 0;

  // The started workflows never ran (no worker serves this queue): end them so nothing is left.
  const limit = pLimit(16);
  await Promise.all(
    [...runsById.keys()].map((id) => limit(() => stack.client.workflow.getHandle(id).terminate('bench B4 clean-up').catch(() => undefined))),
  );

  const measured = sent.filter((s) => s.measured);
  const all = summarize(measured.map((s) => s.latency));
  const lag = summarize(measured.map((s) => s.lag));
  const byKind = new Map<Kind, number[]>();
  for (const s of measured) byKind.set(s.kind, [...(byKind.get(s.kind) ?? []), s.latency]);
  const wrongStatus = sent.filter((s) => !EXPECTED_STATUS[s.kind].includes(s.status));
  const overtaken = sent.filter((s) => s.kind === 'replay' && s.status === 202).length;
  const statusCounts = new Map<string, number>();
  for (const s of wrongStatus) statusCounts.set(`${s.kind} → ${s.status}`, (statusCounts.get(`${s.kind} → ${s.status}`) ?? 0) + 1);
  const achievedRate = (deliveries.length / elapsed) * 1000;
  const pass4 = all.p99 <= 50 && errors.length === 0;
  return {
    id: 'B4',
    title: 'webhook ack latency at 200 req/s',
    rows: [
      [`ack latency, all deliveries (n=${all.n}, ${measureMs / 1000} s at ${RATE}/s)`, `p50 ${fmtMs(all.p50)} · p99 ${fmtMs(all.p99)} · max ${fmtMs(all.max)}`],
      ['ack latency, starts (workflow started)', (() => { const s = summarize(byKind.get('start') ?? []); return `p50 ${fmtMs(s.p50)} · p99 ${fmtMs(s.p99)}`; })()],
      ['duplicate workflows', `${doubled.length + actedTwice.length} (${startedKeys.size} items started, ${runsById.size} workflows)`],
    ],
    targets: [
      { id: 'P4', goal: 'p99 ≤ 50 ms at 200 req/s', measured: `p99 ${fmtMs(all.p99)}${errors.length ? `, ${errors.length} request errors` : ''}`, pass: pass4 },
      {
        id: 'P4-dup',
        goal: 'exactly one task-DEMO-<n> workflow per distinct item started',
        measured: noDuplicates ? `${runsById.size} workflows for ${startedKeys.size} items` : `missing ${missing.length}, doubled ${doubled.length}, unexpected ${unexpected.length}, acted twice ${actedTwice.length}`,
        pass: noDuplicates,
      },
    ],
    method: [
      `- The real API process (\`node --import tsx worker/api-main.ts\`, what \`npm run api\` runs) with \`PLANE_WEBHOOK_SECRET\`, \`PLANE_BOT_USER_ID\` and the shipped \`plane-projects.yaml\`, its own database, \`LOG_LEVEL=info\` (one log line per delivery, to a file). The load generator is the bench process, so it does not share the API's event loop.`,
      '- No worker serves the task queue: the webhook\'s job ends when the workflow is durably started (and the check below only needs the starts), so the server is not also busy running 200+ pipelines. The workflows are terminated afterwards.',
      `- Open loop: the whole schedule is built and signed beforehand (bodies are Python-\`json.dumps\` bytes signed with HMAC-SHA256 like Plane's sender, via \`test/support/plane.ts\`), then every delivery is fired at its planned time without waiting for earlier answers; latency is measured from the **planned** send time to the end of the answer, so a late sender cannot hide queueing. ${warmupMs / 1000} s of warm-up (not counted) precede ${measureMs / 1000} s of measurement, ${RATE} deliveries/s on average (random times within each 100 ms).`,
      `- Every 100 ms: ${MIX.filter(([k]) => k !== 'twin').map(([k, c]) => `${k === 'start' ? `${c} start (a distinct work item moved to *To Analyse*) + its \`state_id\` twin 2–27 ms later` : `${c} ${k}`}`).join(', ')}. *replay* = an earlier start's exact body with a new \`X-Plane-Delivery\` (Plane's retry); *ignored-state* = moves to Backlog / In Progress / Done; *other-field* = \`priority\`/\`name\`/\`assignees\` changes; *bad-signature* = wrong secret, body altered after signing, or no signature (401); *echo* = the bot user as actor moving an item to *To Analyse*; *other-event* = \`issue_comment\`/\`project\`/\`cycle\` events.`,
      '- Then: Temporal visibility lists every workflow on the queue; each started item must have exactly one run of `task-DEMO-<n>`, and no other workflow may exist (echoes, bad signatures and ignored moves start nothing); `webhook_deliveries` must show one `started` per work item.',
    ].join('\n'),
    details: [
      '| deliveries | n | p50 | p90 | p99 | max |',
      '|---|---|---|---|---|---|',
      `| **all** | ${all.n} | ${fmtMs(all.p50)} | ${fmtMs(all.p90)} | ${fmtMs(all.p99)} | ${fmtMs(all.max)} |`,
      ...MIX.map(([k]) => {
        const s = summarize(byKind.get(k) ?? []);
        return `| ${k} | ${s.n} | ${fmtMs(s.p50)} | ${fmtMs(s.p90)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} |`;
      }),
      '',
      `Achieved rate: ${achievedRate.toFixed(0)} deliveries/s over ${(elapsed / 1000).toFixed(1)} s (${deliveries.length} sent, warm-up included). Sender lag behind schedule: p99 ${fmtMs(lag.p99)}, max ${fmtMs(lag.max)}. Request errors: ${errors.length}${errors.length ? ` (first: ${errors[0]})` : ''}.`,
      `CPU used while the deliveries were sent (read from \`/proc\`): ${cpuLine}.`,
      `Answers other than expected: ${wrongStatus.length ? [...statusCounts].map(([k, c]) => `${k} ×${c}`).join(', ') : 'none'}.${overtaken ? ` ${overtaken} replay(s) were answered \`started\` because they reached the API before their original, which then counted as the duplicate.` : ''}`,
      `Recorded outcomes (\`webhook_deliveries\`, warm-up included): ${outcomes.map((r) => `${r.outcome} ${r.n}`).join(', ')}.`,
      `Duplicate check: ${startedKeys.size} distinct items started → ${runsById.size} workflows on the queue; missing ${missing.length}, with more than one run ${doubled.length}${doubled.length ? ` (${doubled.slice(0, 5).join(', ')})` : ''}, not expected ${unexpected.length}${wronglyStarted.length ? ` (of which started by an echo, bad signature or ignored move: ${wronglyStarted.slice(0, 5).join(', ')})` : ''}, items acted on twice ${actedTwice.length}.`,
    ].join('\n'),
    elapsedMs: performance.now() - startedBench,
  };
}
