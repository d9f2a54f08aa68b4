// B8's probes of where a run saturates: CPU per process group from /proc (sampled every 2 s),
// PostgreSQL's activity (pg_stat_activity, pg_stat_database) and the errors the Temporal server
// and the orch hosts logged while the batch ran.
import { readFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Sql } from 'postgres';
import { cpuTicks, processes, type Proc } from './load.js';

/** USER_HZ (100 on every Linux this runs on; `getconf CLK_TCK`). */
const TICK_MS = 10;

/** A process group: root pids with all their descendants, or (`self`) the roots alone. */
export interface Group {
  pids: (number | null | undefined)[];
  self?: boolean;
}

/**
 * Ticks of each group: every live process under its roots, with what their reaped children used
 * (a short-lived git or agent process shows up in its parent's cutime once it is waited for).
 * The difference of two snapshots is then the group's CPU time in between.
 */
function groupTicks(groups: Record<string, Group>, procs: Map<number, Proc>): Record<string, number> {
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const out: Record<string, number> = {};
  for (const [name, g] of Object.entries(groups)) {
    const roots = g.pids.filter((r): r is number => typeof r === 'number' && procs.has(r));
    if (g.self) {
      out[name] = roots.reduce((a, r) => a + procs.get(r)!.ticks, 0);
      continue;
    }
    const seen = new Set<number>();
    const stack = [...roots];
    let ticks = 0;
    while (stack.length) {
      const pid = stack.pop()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      ticks += procs.get(pid)!.withChildren;
      stack.push(...(children.get(pid) ?? []));
    }
    out[name] = ticks;
  }
  return out;
}

export interface GroupCpu {
  /** Mean over the run, in % of one core. */
  meanPct: number;
  /** The busiest 10 s, in % of one core. */
  peakPct: number;
  cpuMs: number;
}

export interface CpuReport {
  groups: Record<string, GroupCpu>;
  /** The whole machine (all processes), mean, in % of one core; and the cores there are. */
  machineMeanPct: number;
  machinePeakPct: number;
}

function machineTicks(): { busy: number; total: number } {
  const { total, idle, steal } = cpuTicks();
  return { busy: total - idle - steal, total };
}

/** CPU of named process groups (root pids and their descendants), sampled every `everyMs`. */
export function startGroupCpu(groups: () => Record<string, Group>, everyMs = 2000): { stop(): CpuReport } {
  const series: { t: number; g: Record<string, number>; m: { busy: number; total: number } }[] = [];
  const sample = () => series.push({ t: performance.now(), g: groupTicks(groups(), processes()), m: machineTicks() });
  sample();
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
      const first = series[0]!;
      const last = series[series.length - 1]!;
      const wallMs = Math.max(1, last.t - first.t);
      const window = Math.max(1, Math.round(10_000 / everyMs));
      const peak = (delta: (a: (typeof series)[0], b: (typeof series)[0]) => number) => {
        let best = 0;
        for (let i = window; i < series.length; i++) best = Math.max(best, delta(series[i - window]!, series[i]!) / Math.max(1, series[i]!.t - series[i - window]!.t));
        return best;
      };
      const out: Record<string, GroupCpu> = {};
      for (const name of Object.keys(last.g)) {
        // Groups whose processes come and go (a restarted service) can go backwards: never below 0.
        let ticks = 0;
        for (let i = 1; i < series.length; i++) ticks += Math.max(0, (series[i]!.g[name] ?? 0) - (series[i - 1]!.g[name] ?? 0));
        const cpuMs = ticks * TICK_MS;
        out[name] = { cpuMs, meanPct: (100 * cpuMs) / wallMs, peakPct: 100 * TICK_MS * peak((a, b) => Math.max(0, (b.g[name] ?? 0) - (a.g[name] ?? 0))) };
      }
      const ncores = Math.max(1, readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).length);
      const machinePct = (a: (typeof series)[0], b: (typeof series)[0]) => (100 * ncores * (b.m.busy - a.m.busy)) / Math.max(1, b.m.total - a.m.total);
      let machinePeakPct = 0;
      for (let i = window; i < series.length; i++) machinePeakPct = Math.max(machinePeakPct, machinePct(series[i - window]!, series[i]!));
      return { groups: out, machineMeanPct: machinePct(first, last), machinePeakPct };
    },
  };
}

// ------------------------------------------------------------------------------- PostgreSQL

export interface PgReport {
  /** Transactions per second per database group over the run. */
  txPerSec: Record<string, number>;
  /** Mean and peak backends busy (state active) per database group. */
  activeMean: Record<string, number>;
  activePeak: Record<string, number>;
  /** Connections open at the peak. */
  connectionsPeak: number;
  /** Samples of active backends by what they waited on (`CPU` when not waiting), most first. */
  waits: [string, number][];
  samples: number;
}

/** Which group a database belongs to: Temporal's, orch's, or other. */
const groupOf = (db: string | null) => (db?.startsWith('temporal') ? 'temporal' : db?.startsWith('orch') ? 'orch' : 'other');

export async function startPgActivity(sql: Sql, everyMs = 2000): Promise<{ stop(): Promise<PgReport> }> {
  const counters = () => sql<{ datname: string; tx: string }[]>`select datname, (xact_commit + xact_rollback)::text as tx from pg_stat_database where datname is not null`;
  // postgres.js runs a query when it is awaited: read the counters now, not at stop().
  const before = await counters();
  const t0 = performance.now();
  const activeSum: Record<string, number> = {};
  const activePeak: Record<string, number> = {};
  const waits = new Map<string, number>();
  let connectionsPeak = 0;
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const rows = await sql<{ datname: string | null; state: string | null; wait: string | null; n: number }[]>`
          select datname, state, wait_event_type || ':' || wait_event as wait, count(*)::int as n
          from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()
          group by 1, 2, 3`;
        samples++;
        const active: Record<string, number> = {};
        let conns = 0;
        for (const r of rows) {
          conns += r.n;
          if (r.state !== 'active') continue;
          const g = groupOf(r.datname);
          active[g] = (active[g] ?? 0) + r.n;
          // ClientRead is a backend waiting for its client: not PostgreSQL's own work.
          if (r.wait !== 'Client:ClientRead') waits.set(r.wait ?? 'CPU', (waits.get(r.wait ?? 'CPU') ?? 0) + r.n);
        }
        connectionsPeak = Math.max(connectionsPeak, conns);
        for (const [g, n] of Object.entries(active)) {
          activeSum[g] = (activeSum[g] ?? 0) + n;
          activePeak[g] = Math.max(activePeak[g] ?? 0, n);
        }
      } catch {
        // a sample lost to a busy server is not a result
      }
      await new Promise((r) => setTimeout(r, everyMs).unref());
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const secs = (performance.now() - t0) / 1000;
      const start = new Map(before.map((r) => [r.datname, Number(r.tx)]));
      const txPerSec: Record<string, number> = {};
      for (const r of await counters()) {
        const g = groupOf(r.datname);
        txPerSec[g] = (txPerSec[g] ?? 0) + (Number(r.tx) - (start.get(r.datname) ?? 0)) / secs;
      }
      const activeMean = Object.fromEntries(Object.entries(activeSum).map(([g, s]) => [g, s / Math.max(1, samples)]));
      return { txPerSec, activeMean, activePeak, connectionsPeak, waits: [...waits].sort((a, b) => b[1] - a[1]).slice(0, 4), samples };
    },
  };
}

// ------------------------------------------------------------------------------------ logs

export interface LogCounts {
  /** Lines at level error (Temporal's JSON `"level":"error"`, orch's pino level ≥ 50). */
  errors: number;
  warnings: number;
  resourceExhausted: number;
  /** Shard trouble: ownership lost, shard status unknown, shard IO timeouts. */
  shard: number;
  /** Persistence operations that failed (`… operation failed`, `Persistent store operation failure`). */
  persistence: number;
  deadlineExceeded: number;
  /** Workflow tasks that took over 5 s on a worker (the SDK's TMPRL1104): a starved worker. */
  slowWorkflowTasks: number;
  /** The most frequent messages, e.g. `12× Persistent store operation failure`. */
  top: string[];
}

const RESOURCE_EXHAUSTED = /resource.?exhausted/i;
const SHARD = /shard[^"]*(lost|unknown|timeout|timed out|closed|not owned|unavailable)|ShardOwnershipLost|shard status/i;
const PERSISTENCE = /operation failed|persistent store operation failure/i;
const DEADLINE = /deadline.?exceeded/i;
const SLOW_WFT = /TMPRL1104/;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** A log line's message: JSON `msg`, logfmt `msg="…"`, or the SDK core's `[TMPRLnnnn] <run> text`. */
function messageOf(line: string): string {
  return (
    /"msg":\s*"([^"]{1,100})/.exec(line)?.[1] ??
    /\bmsg="([^"]{1,100})/.exec(line)?.[1] ??
    /(\[TMPRL\d+\])\s+\S+\s+(.{1,60})/.exec(line)?.slice(1, 3).join(' ') ??
    line.slice(0, 100)
  );
}

/** Byte length of each file now, to count only what is written after. */
export async function logOffsets(files: string[]): Promise<Map<string, number>> {
  return new Map(await Promise.all(files.map(async (f) => [f, (await stat(f).catch(() => ({ size: 0 }))).size] as [string, number])));
}

async function readFrom(file: string, offset: number): Promise<string> {
  const fh = await open(file, 'r').catch(() => null);
  if (!fh) return '';
  try {
    const { size } = await fh.stat();
    const len = Math.max(0, size - offset);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, offset);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Counts what the files got since `offsets` (files without an offset from the start). */
export async function countLogProblems(files: string[], offsets: Map<string, number> = new Map()): Promise<LogCounts> {
  const c: LogCounts = { errors: 0, warnings: 0, resourceExhausted: 0, shard: 0, persistence: 0, deadlineExceeded: 0, slowWorkflowTasks: 0, top: [] };
  const msgs = new Map<string, number>();
  for (const f of files) {
    for (const raw of (await readFrom(f, offsets.get(f) ?? 0)).split('\n')) {
      if (!raw) continue;
      const line = raw.replace(ANSI, '');
      const error = /"level":\s*"(error|fatal|dpanic|panic)"|"level":\s*(50|60)\b|\blevel=(ERROR|FATAL)\b|^\S+\s+ERROR\b/.test(line);
      const warn = /"level":\s*"warn"|"level":\s*40\b|\blevel=WARN\b|^\S+\s+WARN\b/.test(line);
      if (error) c.errors++;
      else if (warn) c.warnings++;
      if (RESOURCE_EXHAUSTED.test(line)) c.resourceExhausted++;
      if (SHARD.test(line)) c.shard++;
      if (PERSISTENCE.test(line)) c.persistence++;
      if (DEADLINE.test(line)) c.deadlineExceeded++;
      if (SLOW_WFT.test(line)) c.slowWorkflowTasks++;
      if (error || warn) {
        const msg = messageOf(line);
        msgs.set(msg, (msgs.get(msg) ?? 0) + 1);
      }
    }
  }
  c.top = [...msgs].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([m, n]) => `${n}× ${m}`);
  return c;
}
