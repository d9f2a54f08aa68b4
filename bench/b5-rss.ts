// B5 worker RSS with 100 concurrently running (sleeping) agents: one worker process, 100 tasks whose
// first stage's agent sleeps; the worker's own VmRSS (not its agents') is sampled throughout.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { isGroupAlive } from '../activities/adapters/process-tree.js';
import { createOrchEnv, pipelineYaml } from './orch-env.js';
import { until } from '../worker/harness/until.js';
import { nowMs, say, type Stack } from './stack.js';
import { fmtMiB, fmtMs } from './stats.js';
import type { BenchOptions, BenchResult } from './types.js';

const LIMIT_BYTES = 400e6;
/** The sleeping agent: stamps that it runs, then becomes `sleep` (a SIGTERM ends it). */
const SLEEP_AGENT = (stampDir: string) => ({
  command: '/bin/sh',
  args: ['-c', 'printf \'{"event":"ready","t":0}\\n\' >> "$1/$ORCH_TASK_KEY.jsonl"; exec sleep 3600', 'sleeping-agent', stampDir],
});

/** A /proc/<pid>/status field in bytes (VmRSS, VmHWM), or NaN when the process is gone. */
function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Proportional set size (shared pages split between their users), from smaps_rollup; NaN when unreadable. */
function pssBytes(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Every live descendant of `root` (children, grandchildren, …). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

export async function runB5(stack: Stack, o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const n = o.quick ? 20 : 100;
  const steadyMs = o.quick ? 3000 : 10_000;
  const env = await createOrchEnv(stack, {
    name: 'b5',
    pipeline: (p) =>
      pipelineYaml({ remote: p.remote, agent: SLEEP_AGENT(p.stampDir), heartbeat: '30s', maxConcurrentAgents: Math.max(100, n + 10), stages: [{ name: 'work' }], sandbox: { writable: [p.stampDir] } }),
  });
  const worker = await env.spawnWorker('b5-host');
  // The agents run in the sandbox where bwrap works (sandbox.mode auto): say which this run measured.
  const sandbox = JSON.parse(readFileSync(path.join(env.dataDir, 'hosts', 'b5-host', 'sandbox.json'), 'utf8')) as { active: boolean; warning?: string };
  const contained = sandbox.active ? 'sandboxed (bwrap)' : `unsandboxed (${sandbox.warning ?? 'no sandbox'})`;
  // Idle: the worker ready and polling, nothing to do.
  await sleep(3000);
  const idle = procStatusBytes(worker.pid, 'VmRSS');

  const samples: { t: number; rss: number }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push({ t: nowMs(), rss: procStatusBytes(worker.pid, 'VmRSS') });
      await sleep(200);
    }
  })();

  say(`B5: starting ${n} tasks on one worker…`);
  const t0 = nowMs();
  const limit = pLimit(8);
  const keys = Array.from({ length: n }, (_, i) => `RSS-${i + 1}`);
  await Promise.all(
    keys.map((key) =>
      limit(async () => {
        const res = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `b5 ${key}` });
        if (res.status !== 202) throw new Error(`B5: starting ${key} answered ${res.status}: ${JSON.stringify(res.body)}`);
      }),
    ),
  );
  await until(`all ${n} agents to run`, async () => (await env.readyCount()) >= n, 5 * 60_000, 200);
  const allRunningAfter = nowMs() - t0;
  const jobs = await env.database.sql<{ pid: number }[]>`select pid from jobs where status = 'running' and pid is not null`;
  if (jobs.length !== n) throw new Error(`B5: ${jobs.length} running job rows, expected ${n}`);
  await sleep(steadyMs / 2);
  // The agents are not the worker: their guards and agents are its children, measured apart.
  const kids = descendants(worker.pid);
  const kidsRss = kids.reduce((a, p) => a + (procStatusBytes(p, 'VmRSS') || 0), 0);
  const kidsPss = kids.reduce((a, p) => a + (pssBytes(p) || 0), 0);
  await sleep(steadyMs / 2);
  const tSteady = t0 + allRunningAfter;
  const tSteadyEnd = nowMs();
  const rssAll = samples.filter((s) => Number.isFinite(s.rss) && s.t <= tSteadyEnd);
  const peak = Math.max(...rssAll.map((s) => s.rss));
  const steady = rssAll.filter((s) => s.t >= tSteady);
  const steadyPeak = Math.max(...steady.map((s) => s.rss));

  say(`B5: STOP of all ${n} tasks…`);
  const s0 = nowMs();
  await Promise.all(
    keys.map((key) =>
      limit(async () => {
        const res = await env.api('POST', `/api/tasks/${key}/stop`, { reason: 'bench B5' });
        if (res.status !== 202) throw new Error(`B5: STOP of ${key} answered ${res.status}: ${JSON.stringify(res.body)}`);
      }),
    ),
  );
  await until(`all ${n} tasks to be cancelled`, async () => {
    const [r] = await env.database.sql<{ n: number }[]>`select count(*)::int as n from tasks where status = 'cancelled'`;
    return r!.n >= n;
  }, 5 * 60_000, 250);
  const allCancelledAfter = nowMs() - s0;
  sampling = false;
  await sampler;
  const hwm = procStatusBytes(worker.pid, 'VmHWM');
  const stopPeak = Math.max(...samples.filter((s) => Number.isFinite(s.rss) && s.t > tSteadyEnd).map((s) => s.rss));
  const survivors = jobs.filter((j) => isGroupAlive(j.pid)).length;
  const afterStop = procStatusBytes(worker.pid, 'VmRSS');

  const mb = (b: number) => `${fmtMiB(b)} (${(b / 1e6).toFixed(0)} MB)`;
  return {
    id: 'B5',
    title: 'worker RSS with 100 running agents',
    rows: [
      [`worker VmRSS peak once all ${n} ${contained} agents run`, mb(steadyPeak)],
      ['worker VmRSS idle · peak while starting them · peak during the STOPs', `${fmtMiB(idle)} · ${fmtMiB(peak)} · ${fmtMiB(stopPeak)}`],
      [`agents' processes (guards + agents), not counted`, `${kids.length} processes, PSS ${fmtMiB(kidsPss)} (RSS sum ${fmtMiB(kidsRss)})`],
    ],
    targets: [
      { id: 'P5', goal: `worker peak RSS with ${n} agents running ≤ 400 MB (4 × 10⁸ bytes = 381 MiB)`, measured: mb(steadyPeak), pass: steadyPeak <= LIMIT_BYTES },
      { id: 'P5-stop', goal: `all ${n} tasks STOPped, no agent process left`, measured: `${survivors} process groups left`, pass: survivors === 0 },
    ],
    method: [
      `- One worker process (\`node --import tsx worker/main.ts\`, prebuilt workflow bundle), pipeline with \`maxConcurrentAgents: ${Math.max(100, n + 10)}\`, heartbeat timeout 30 s, one agent stage whose agent is \`/bin/sh -c '<stamp>; exec sleep 3600'\`. The API is in the bench process.`,
      `- ${n} tasks are started through \`POST /api/tasks\` (8 at a time). The worker's \`VmRSS\` is read from \`/proc/<pid>/status\` every 200 ms from the first start until ${steadyMs / 1000} s after all ${n} agents run and on through the STOPs; the target is read from the samples taken once all ${n} run (each agent stamps a file when it starts, and ${n} job rows are \`running\`). That is the worker process alone: each agent run is a separate agent-guard process (node) plus the agent, reported apart. \`VmHWM\` (the kernel's high-water mark since the worker started) is reported as a cross-check.`,
      `- Afterwards every task is STOPped through the API and awaited to \`cancelled\`; then no agent process group may be left.`,
    ].join('\n'),
    details: [
      '| | value |',
      '|---|---|',
      `| the agents | ${contained}: each run is its guard, \`env\`→\`bwrap\` outside and bwrap's init plus the agent inside its own PID namespace |`,
      `| worker VmRSS idle (ready, no tasks) | ${mb(idle)} |`,
      `| **worker VmRSS peak with all ${n} running** (${steady.length} samples over ${steadyMs / 1000} s; the target) | **${mb(steadyPeak)}** |`,
      `| worker VmRSS peak from the first start until then (${rssAll.length} samples) | ${mb(peak)}${peak > LIMIT_BYTES ? ' — above 400 MB while the tasks were being started' : ''} |`,
      `| worker VmRSS peak while the ${n} tasks were STOPped and compensated | ${mb(stopPeak)} |`,
      `| worker VmRSS once all were cancelled | ${mb(afterStop)} |`,
      `| worker VmHWM at the end (high-water mark since start) | ${mb(hwm)} |`,
      `| first start → all ${n} agents running | ${fmtMs(allRunningAfter)} |`,
      `| first STOP → all ${n} tasks cancelled | ${fmtMs(allCancelledAfter)} |`,
      `| the worker's child processes at steady state (agent guards and agents) | ${kids.length}: PSS ${fmtMiB(kidsPss)} in all, ${fmtMiB(kidsPss / Math.max(1, n))} per agent run (RSS sum ${fmtMiB(kidsRss)}, which counts shared pages once per process) |`,
      `| agent process groups left after STOP | ${survivors} |`,
      '',
      `Each agent run also costs memory outside the worker: its agent-guard is a node process of its own (that is what lets an agent group die with its worker), so a run (guard + \`sleep\`) shows about ${fmtMiB(kidsRss / n)} of RSS, of which ${fmtMiB(kidsPss / n)} is its own (PSS): most of a guard's pages are shared with the other guards. For ${n} concurrent agents that is ${fmtMiB(kidsPss)} of PSS on top of the worker, before the agents themselves do anything.`,
    ].join('\n'),
    elapsedMs: performance.now() - started,
  };
}
