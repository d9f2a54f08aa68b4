// B8 scale: the same batch of three-stage no-op tasks through three orch worker hosts (processes
// of their own, each with its ORCH_HOST_ID), once on the bench's dev server (SQLite) and once on a
// production-shaped cluster (bench/cluster.ts: PostgreSQL, four service processes), one after the
// other in one run; then the cluster again with 1, 2, 3, 4 hosts for the host-count knee. Beside
// throughput and latency it records where each side saturates (bench/b8-probes.ts).
//
// B8_TASKS and B8_KNEE_TASKS override the batch sizes (1,000 and 200; --quick: 24 and 12): two
// batches of 1,000 tasks take hours on a loaded 2-core machine. The report says which sizes ran.
import path from 'node:path';
import postgres from 'postgres';
import { runBatch, type BatchResult } from './b8-batch.js';
import { countLogProblems, logOffsets, startGroupCpu, startPgActivity, type CpuReport, type Group, type LogCounts, type PgReport } from './b8-probes.js';
import { startBenchCluster } from './cluster.js';
import { startLoadMonitor, type LoadReport } from './load.js';
import { createOrchEnv, pipelineYaml, type OrchEnv, type WorkerProcess } from './orch-env.js';
import { cleanupMark, defer, runCleanupsTo, say, type Stack } from './stack.js';
import { fmtMs, fmtRatio } from './stats.js';
import type { BenchOptions, BenchResult } from './types.js';

/** The no-op agent: exits 0 at once; the gate checks a file the seed commit already has. */
const NOOP_AGENT = { command: '/bin/true', args: [] as string[] };
const STAGES = [{ name: 's1' }, { name: 's2' }, { name: 's3' }].map((s) => ({ ...s, gate: 'README.md' }));
const HOSTS = 3;

interface Side {
  label: string;
  batch: BatchResult;
  cpu: CpuReport;
  pg: PgReport;
  temporalLog: LogCounts;
  hostLogs: LogCounts;
  load: LoadReport;
}

interface Target {
  label: string;
  stack: Stack;
  /** The Temporal server's processes by name (one for the dev server, four for the cluster). */
  temporal: () => Record<string, number | null>;
  temporalLogs: string[];
}

const envFor = (t: Target, name: string) =>
  createOrchEnv(t.stack, {
    name,
    // attemptsPerStage 1: the agent cannot fail, so a retry could only hide an infrastructure failure.
    pipeline: (p) => pipelineYaml({ remote: p.remote, agent: NOOP_AGENT, heartbeat: '30s', stage: '30m', attempts: 1, stages: STAGES }),
  });

async function spawnHosts(env: OrchEnv, prefix: string, count: number): Promise<WorkerProcess[]> {
  // One after another: on two cores, starting several node processes at once only slows each.
  const out: WorkerProcess[] = [];
  for (let i = 1; i <= count; i++) out.push(await env.spawnWorker(`${prefix}-h${i}`, 120_000));
  return out;
}

async function stopHosts(hosts: WorkerProcess[]): Promise<void> {
  for (const h of hosts) h.kill('SIGTERM');
  await Promise.all(hosts.map((h) => h.exited));
}

/** One measured batch with every probe around it. */
async function measured(t: Target, env: OrchEnv, hosts: WorkerProcess[], admin: postgres.Sql, prefix: string, n: number, timeoutMs: number): Promise<Side> {
  const hostLogFiles = [...hosts.map((h) => h.logFile), t.stack.sdkLogFile];
  const offsets = await logOffsets([...t.temporalLogs, ...hostLogFiles]);
  const groups = (): Record<string, Group> => ({
    ...Object.fromEntries(Object.entries(t.temporal()).map(([name, pid]) => [`temporal ${name}`, { pids: [pid] }])),
    'orch hosts (node)': { pids: hosts.map((h) => h.pid), self: true },
    'orch hosts with agents and git': { pids: hosts.map((h) => h.pid) },
    postgresql: { pids: [t.stack.pgPid] },
    'bench (API, submitter)': { pids: [process.pid], self: true },
  });
  const load = startLoadMonitor();
  const cpu = startGroupCpu(groups);
  const pg = await startPgActivity(admin);
  say(`B8 ${t.label}: ${n} tasks × ${STAGES.length} stages through ${hosts.length} host(s)…`);
  const batch = await runBatch(env, prefix, n, timeoutMs);
  const side: Side = {
    label: t.label,
    batch,
    cpu: cpu.stop(),
    pg: await pg.stop(),
    temporalLog: await countLogProblems(t.temporalLogs, offsets),
    hostLogs: await countLogProblems(hostLogFiles, offsets),
    load: load.stop(),
  };
  say(`B8 ${t.label}: ${batch.done}/${n} done, ${batch.tasksPerMin.toFixed(1)} tasks/min, p50 ${fmtMs(batch.e2e.p50)}, p99 ${fmtMs(batch.e2e.p99)}, ${batch.failed.length} failed`);
  return side;
}

/** Orch env + three hosts + one measured batch, all stopped afterwards. */
async function runSide(t: Target, admin: postgres.Sql, n: number, timeoutMs: number): Promise<Side> {
  const mark = cleanupMark();
  try {
    const env = await envFor(t, `b8${t.label}`);
    const hosts = await spawnHosts(env, t.label, HOSTS);
    const side = await measured(t, env, hosts, admin, `${t.label.toUpperCase()}`, n, timeoutMs);
    await stopHosts(hosts);
    return side;
  } finally {
    await runCleanupsTo(mark);
  }
}

const pct = (x: number) => `${x.toFixed(0)}%`;
const logCells = (l: LogCounts) => `${l.errors} · ${l.resourceExhausted} · ${l.shard} · ${l.persistence} · ${l.deadlineExceeded}`;

/** Where a side's CPU went, busiest group first (agents and git apart from the hosts' node). */
function cpuShares(c: CpuReport): [string, number][] {
  const g = c.groups;
  const node = g['orch hosts (node)']?.meanPct ?? 0;
  const withKids = g['orch hosts with agents and git']?.meanPct ?? 0;
  const rows: [string, number][] = Object.entries(g)
    .filter(([k]) => k !== 'orch hosts with agents and git')
    .map(([k, v]) => [k, v.meanPct]);
  rows.push(['agents, agent guards and git (the hosts\' children)', Math.max(0, withKids - node)]);
  return rows.sort((a, b) => b[1] - a[1]);
}

function saturation(s: Side, cores: number): string {
  const shares = cpuShares(s.cpu);
  const top = shares.slice(0, 3).map(([k, v]) => `${k} ${pct(v)}`).join(', ');
  const busy = s.cpu.machineMeanPct / cores;
  const cpuBound = busy >= 85;
  const pgWaits = s.pg.waits.map(([w, n]) => `${w} ${(n / Math.max(1, s.pg.samples)).toFixed(1)}`).join(', ') || 'none sampled';
  return [
    `${cpuBound ? '**CPU-bound**' : 'not CPU-bound'}: the machine was ${pct(busy)} busy on average over ${cores} cores (${pct(s.cpu.machinePeakPct / cores)} in the busiest 10 s); the biggest shares (in % of one core): ${top}.`,
    `PostgreSQL: ${s.pg.activeMean.temporal !== undefined ? `Temporal's databases ${(s.pg.activeMean.temporal ?? 0).toFixed(1)} active backends on average (peak ${s.pg.activePeak.temporal ?? 0}), ` : ''}orch's ${(s.pg.activeMean.orch ?? 0).toFixed(1)} (peak ${s.pg.activePeak.orch ?? 0}); mean waits per sample: ${pgWaits}; ${s.pg.connectionsPeak} connections at most.`,
    `Temporal server log: ${s.temporalLog.errors} error lines (${s.temporalLog.resourceExhausted} resource exhausted, ${s.temporalLog.shard} shard, ${s.temporalLog.persistence} failed persistence operations, ${s.temporalLog.deadlineExceeded} deadline exceeded)${s.temporalLog.top.length ? `; most frequent: ${s.temporalLog.top.join('; ')}` : ''}. orch hosts' logs: ${s.hostLogs.errors} errors, ${s.hostLogs.warnings} warnings (${s.hostLogs.resourceExhausted} resource exhausted, ${s.hostLogs.slowWorkflowTasks} workflow tasks over 5 s)${s.hostLogs.top.length ? `; most frequent: ${s.hostLogs.top.join('; ')}` : ''}.`,
  ].join(' ');
}

function batchSize(variable: string, fallback: number): number {
  const v = process.env[variable];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${variable}=${v}: a whole number of tasks ≥ 1`);
  return n;
}

export async function runB8(stack: Stack, o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const n = batchSize('B8_TASKS', o.quick ? 24 : 1000);
  const kneeN = batchSize('B8_KNEE_TASKS', o.quick ? 12 : 200);
  const kneeHosts = o.quick ? [1, 2] : [1, 2, 3, 4];
  const timeoutMs = (o.quick ? 10 : 45) * 60_000;
  const cores = (await import('node:os')).cpus().length;
  const admin = postgres(stack.pgServerUrl, { max: 1, onnotice: () => undefined });
  defer('B8: close the PostgreSQL monitor connection', () => admin.end({ timeout: 2 }));

  const dev: Target = { label: 'dev', stack, temporal: () => ({ 'dev server': stack.temporalPid }), temporalLogs: [path.join(stack.runDir, 'logs', 'temporal.log')] };
  const devSide = await runSide(dev, admin, n, timeoutMs);

  say('B8: starting the production-shaped cluster…');
  const bc = await startBenchCluster(stack, 'b8');
  const clusterTarget: Target = { label: 'cluster', stack: bc.stack, temporal: bc.pids, temporalLogs: bc.logFiles };
  const clusterSide = await runSide(clusterTarget, admin, n, timeoutMs);

  // The knee: the same cluster, a smaller batch per host count, each on hosts of its own.
  const knee: { hosts: number; side: Side }[] = [];
  const mark = cleanupMark();
  try {
    const env = await envFor(clusterTarget, 'b8knee');
    for (const h of kneeHosts) {
      const hosts = await spawnHosts(env, `knee${h}`, h);
      knee.push({ hosts: h, side: await measured(clusterTarget, env, hosts, admin, `KNEE${h}`, kneeN, timeoutMs) });
      await stopHosts(hosts);
    }
  } finally {
    await runCleanupsTo(mark);
  }

  const ratio = clusterSide.batch.tasksPerMin / devSide.batch.tasksPerMin;
  const failed = devSide.batch.failed.length + clusterSide.batch.failed.length;
  // The knee: the first host count after which one more host adds less than 10% throughput.
  let kneeAt = knee[knee.length - 1]?.hosts ?? 0;
  for (let i = 1; i < knee.length; i++) {
    if (knee[i]!.side.batch.tasksPerMin < 1.1 * knee[i - 1]!.side.batch.tasksPerMin) {
      kneeAt = knee[i - 1]!.hosts;
      break;
    }
  }
  const sides = [devSide, clusterSide];
  const failedList = (s: Side) =>
    s.batch.failed.length ? s.batch.failed.slice(0, 5).map((f) => `${f.key} ${f.status}${f.reason ? ` (${f.reason.slice(0, 100)})` : ''}`).join('; ') + (s.batch.failed.length > 5 ? '; …' : '') : 'none';
  const loadLine = (s: Side) => `${s.load.loadAvgMean.toFixed(1)} / ${s.load.loadAvgMax.toFixed(1)}`;
  const shareTable = (() => {
    const names = [...new Set(sides.flatMap((s) => cpuShares(s.cpu).map(([k]) => k)))];
    const val = (s: Side, k: string) => cpuShares(s.cpu).find(([name]) => name === k)?.[1];
    return [
      '| CPU, mean % of one core | dev server | cluster |',
      '|---|---|---|',
      ...names.map((k) => `| ${k} | ${val(devSide, k) === undefined ? '—' : pct(val(devSide, k)!)} | ${val(clusterSide, k) === undefined ? '—' : pct(val(clusterSide, k)!)} |`),
      `| whole machine (all processes; ${cores} cores = ${cores * 100}%) | ${pct(devSide.cpu.machineMeanPct)} | ${pct(clusterSide.cpu.machineMeanPct)} |`,
    ];
  })();

  return {
    id: 'B8',
    title: 'scale: dev server vs cluster',
    rows: [
      [`throughput, ${n} tasks × 3 stages, ${HOSTS} hosts: dev server · cluster`, `${devSide.batch.tasksPerMin.toFixed(1)} · ${clusterSide.batch.tasksPerMin.toFixed(1)} tasks/min (${fmtRatio(ratio)})`],
      ['end to end p50 / p99: dev server · cluster', `${fmtMs(devSide.batch.e2e.p50)} / ${fmtMs(devSide.batch.e2e.p99)} · ${fmtMs(clusterSide.batch.e2e.p50)} / ${fmtMs(clusterSide.batch.e2e.p99)}`],
      ['failed tasks: dev server · cluster', `${devSide.batch.failed.length} · ${clusterSide.batch.failed.length}`],
      [`cluster throughput by host count (${kneeN} tasks each)`, knee.map((k) => `${k.hosts}: ${k.side.batch.tasksPerMin.toFixed(1)}`).join(' · ') + ` tasks/min; knee at ${kneeAt} host(s)`],
    ],
    targets: [
      { id: 'P8', goal: `cluster throughput ≥ 3 × dev server's at ${n} concurrent tasks`, measured: `${clusterSide.batch.tasksPerMin.toFixed(1)} vs ${devSide.batch.tasksPerMin.toFixed(1)} tasks/min (${fmtRatio(ratio)})`, pass: ratio >= 3 },
      { id: 'P8-failed', goal: 'zero failed tasks on either side', measured: `${devSide.batch.failed.length} (dev server) + ${clusterSide.batch.failed.length} (cluster)`, pass: failed === 0 },
    ],
    method: [
      `- **The workload**: ${n} tasks, each a pipeline of three agent stages (no merge, no deploy) whose agent is \`/bin/true\` and whose gate is \`file-exists README.md\` (a file of the seed commit), so every stage passes; \`attemptsPerStage: 1\` (the agent cannot fail, so a retry could only hide an infrastructure failure), \`maxConcurrentAgents: 8\` per host, heartbeat timeout 30 s, the default sandbox (\`auto\`). All ${n} are started through \`POST /api/tasks\` (16 requests in flight, an in-process API) and so run concurrently.`,
      `- **The hosts**: ${HOSTS} orch worker processes (\`node --import tsx worker/main.ts\`), each with its own \`ORCH_HOST_ID\`, on one task queue; a task's stages run on the host that picked it.`,
      `- **The two Temporals**, one after the other in the same run, on the same embedded PostgreSQL (orch's databases on both sides): the bench's dev server (\`temporal server start-dev\`, one process, file-backed SQLite with temporal-dev.yaml's pragmas), then the cluster that \`npm run cluster\` runs (\`startCluster\` of worker/temporal/cluster with temporal-cluster.yaml as shipped — ${bc.settings.numHistoryShards} history shards, ${bc.settings.maxConns.default} connections per service to the default store — on free ports; frontend, history, matching and worker as four processes; Temporal's persistence and visibility in PostgreSQL). The cluster logs at \`error\`, as the bench's dev server does. The dev server stays up, idle, while the cluster runs.`,
      '- **Throughput** = tasks done ÷ (first task row created → last task finished), in tasks per minute; **end to end** = a task row\'s `created_at` → `finished_at` (PostgreSQL\'s clock). A task is **failed** when it ends other than `done` or is unfinished after ' + `${timeoutMs / 60_000} min.`,
      '- **Where it saturates**: CPU per process group every 2 s from `/proc/<pid>/stat` (utime + stime of each live process under the group\'s roots, plus cutime + cstime, so short-lived agents and git runs count once reaped); the orch hosts\' own node processes apart from their children (agent guards, agents, git); `pg_stat_activity` every 2 s (active backends per database group and what they wait on) and `pg_stat_database` transaction counts; and the lines the Temporal server processes and the orch hosts logged meanwhile, counted for `resource exhausted`, shard trouble (ownership lost, status unknown), failed persistence operations (`… operation failed`) and `deadline exceeded`, and the SDK\'s warning of a workflow task that took over 5 s (TMPRL1104) in the hosts\' logs.',
      `- **The knee**: the cluster again with ${kneeHosts.join(', ')} host(s), a batch of ${kneeN} tasks each (shorter than the main batch: that is what the run's time allows), hosts of their own each time. The knee is the host count after which one more host adds less than 10% throughput.`,
    ].join('\n'),
    details: [
      '| | dev server | cluster |',
      '|---|---|---|',
      `| tasks done / started | ${devSide.batch.done} / ${n} | ${clusterSide.batch.done} / ${n} |`,
      `| **throughput** | **${devSide.batch.tasksPerMin.toFixed(1)} tasks/min** | **${clusterSide.batch.tasksPerMin.toFixed(1)} tasks/min** (${fmtRatio(ratio)}) |`,
      `| first created → last finished | ${fmtMs(devSide.batch.wallMs)} | ${fmtMs(clusterSide.batch.wallMs)} |`,
      `| end to end p50 · p90 · p99 · max | ${fmtMs(devSide.batch.e2e.p50)} · ${fmtMs(devSide.batch.e2e.p90)} · ${fmtMs(devSide.batch.e2e.p99)} · ${fmtMs(devSide.batch.e2e.max)} | ${fmtMs(clusterSide.batch.e2e.p50)} · ${fmtMs(clusterSide.batch.e2e.p90)} · ${fmtMs(clusterSide.batch.e2e.p99)} · ${fmtMs(clusterSide.batch.e2e.max)} |`,
      `| all ${n} submitted through the API in | ${fmtMs(devSide.batch.submitMs)} | ${fmtMs(clusterSide.batch.submitMs)} |`,
      `| failed tasks | ${failedList(devSide)} | ${failedList(clusterSide)} |`,
      `| PostgreSQL transactions/s: Temporal's databases · orch's | — · ${(devSide.pg.txPerSec.orch ?? 0).toFixed(0)} | ${(clusterSide.pg.txPerSec.temporal ?? 0).toFixed(0)} · ${(clusterSide.pg.txPerSec.orch ?? 0).toFixed(0)} |`,
      `| Temporal server log: errors · resource exhausted · shard · failed persistence ops · deadline exceeded | ${logCells(devSide.temporalLog)} | ${logCells(clusterSide.temporalLog)} |`,
      `| orch hosts' logs: errors · warnings · resource exhausted · workflow tasks over 5 s | ${devSide.hostLogs.errors} · ${devSide.hostLogs.warnings} · ${devSide.hostLogs.resourceExhausted} · ${devSide.hostLogs.slowWorkflowTasks} | ${clusterSide.hostLogs.errors} · ${clusterSide.hostLogs.warnings} · ${clusterSide.hostLogs.resourceExhausted} · ${clusterSide.hostLogs.slowWorkflowTasks} |`,
      `| load average mean / max · machine busy · others' share | ${loadLine(devSide)} · ${pct(devSide.load.machineBusyPct)} · ${pct(devSide.load.foreignPct)}${devSide.load.topForeign.length ? ` (${devSide.load.topForeign.join(', ')})` : ''} | ${loadLine(clusterSide)} · ${pct(clusterSide.load.machineBusyPct)} · ${pct(clusterSide.load.foreignPct)}${clusterSide.load.topForeign.length ? ` (${clusterSide.load.topForeign.join(', ')})` : ''} |`,
      '',
      ...shareTable,
      '',
      `**Dev server**: ${saturation(devSide, cores)}`,
      '',
      `**Cluster**: ${saturation(clusterSide, cores)}`,
      '',
      `The host-count knee on the cluster (${kneeN} tasks per batch):`,
      '',
      '| hosts | throughput | end to end p50 / p99 | failed | machine busy | orch hosts with children · Temporal (all services) · PostgreSQL, % of one core | Temporal log: errors · RE · shard · persistence · deadline | load avg mean |',
      '|---|---|---|---|---|---|---|---|',
      ...knee.map((k) => {
        const g = k.side.cpu.groups;
        const temporal = Object.entries(g).filter(([name]) => name.startsWith('temporal ')).reduce((a, [, v]) => a + v.meanPct, 0);
        return `| ${k.hosts} | ${k.side.batch.tasksPerMin.toFixed(1)} tasks/min | ${fmtMs(k.side.batch.e2e.p50)} / ${fmtMs(k.side.batch.e2e.p99)} | ${k.side.batch.failed.length} | ${pct(k.side.load.machineBusyPct)} | ${pct(g['orch hosts with agents and git']?.meanPct ?? 0)} · ${pct(temporal)} · ${pct(g.postgresql?.meanPct ?? 0)} | ${logCells(k.side.temporalLog)} | ${k.side.load.loadAvgMean.toFixed(1)} |`;
      }),
      '',
      `Knee: ${kneeAt} host(s) (after it, one more host adds less than 10% throughput${kneeAt === knee[knee.length - 1]?.hosts ? ', or the largest count tried' : ''}).`,
    ].join('\n'),
    elapsedMs: performance.now() - started,
  };
}
