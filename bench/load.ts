// How busy the machine was while a benchmark ran, and how much of that was not the bench: latency
// figures from a machine shared with other work mean little without it. Read from /proc every 2 s.
import { readdirSync, readFileSync } from 'node:fs';

export interface LoadReport {
  /** Share of all cores' time that was busy (not idle/iowait, not stolen), in %. */
  machineBusyPct: number;
  /** Share of all cores' time the hypervisor gave to someone else (steal), in %. */
  stealPct: number;
  /** Share of all cores' time used by the bench's own process tree, in % (approximate). */
  benchPct: number;
  /** Share of all cores' time used by other processes, in % (approximate). */
  foreignPct: number;
  loadAvgMean: number;
  loadAvgMax: number;
  /** The busiest other programs, e.g. `tsc 41%`. */
  topForeign: string[];
}

/** All cores' ticks: user nice system idle iowait irq softirq steal. */
export function cpuTicks(): { total: number; idle: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), idle, steal: f[7] ?? 0 };
}

/** A process as /proc/<pid>/stat has it: CPU in ticks (USER_HZ). */
export interface Proc {
  ppid: number;
  comm: string;
  /** utime + stime: the process itself. */
  ticks: number;
  /** ticks + cutime + cstime: with its reaped children. */
  withChildren: number;
}

/** Every live process. */
export function processes(): Map<number, Proc> {
  const out = new Map<number, Proc>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const f = stat.slice(close + 2).split(' ');
      // fields after comm: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
      const ticks = Number(f[11]) + Number(f[12]);
      out.set(Number(e), { ppid: Number(f[1]), ticks, withChildren: ticks + Number(f[13]) + Number(f[14]), comm: stat.slice(stat.indexOf('(') + 1, close) });
    } catch {
      // gone
    }
  }
  return out;
}

function treeOf(root: number, procs: Map<number, Proc>): Set<number> {
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const tree = new Set<number>([root]);
  const stack = [root];
  while (stack.length) for (const c of children.get(stack.pop()!) ?? []) if (!tree.has(c)) (tree.add(c), stack.push(c));
  return tree;
}

const loadavg1 = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

export function startLoadMonitor(everyMs = 2000): { stop(): LoadReport } {
  let prevCpu = cpuTicks();
  let prevProcs = processes();
  let totalTicks = 0;
  let busyTicks = 0;
  let stealTicks = 0;
  let benchTicks = 0;
  let foreignTicks = 0;
  const foreignByComm = new Map<string, number>();
  const loads: number[] = [loadavg1()];
  const sample = () => {
    const cpu = cpuTicks();
    const procs = processes();
    totalTicks += cpu.total - prevCpu.total;
    busyTicks += cpu.total - cpu.idle - cpu.steal - (prevCpu.total - prevCpu.idle - prevCpu.steal);
    stealTicks += cpu.steal - prevCpu.steal;
    const bench = treeOf(process.pid, procs);
    for (const [pid, p] of procs) {
      const before = prevProcs.get(pid);
      if (!before || before.comm !== p.comm) continue;
      const d = Math.max(0, p.ticks - before.ticks);
      if (bench.has(pid)) benchTicks += d;
      else {
        foreignTicks += d;
        foreignByComm.set(p.comm, (foreignByComm.get(p.comm) ?? 0) + d);
      }
    }
    loads.push(loadavg1());
    prevCpu = cpu;
    prevProcs = procs;
  };
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
      // /proc/stat sums all cores; per-process ticks are per process: both in USER_HZ.
      const pct = (t: number) => (totalTicks > 0 ? (100 * t) / totalTicks : Number.NaN);
      return {
        machineBusyPct: pct(busyTicks),
        stealPct: pct(stealTicks),
        benchPct: pct(benchTicks),
        foreignPct: pct(foreignTicks),
        loadAvgMean: loads.reduce((a, b) => a + b, 0) / loads.length,
        loadAvgMax: Math.max(...loads),
        topForeign: [...foreignByComm]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .filter(([, t]) => pct(t) >= 1)
          .map(([comm, t]) => `${comm} ${pct(t).toFixed(0)}%`),
      };
    },
  };
}

/** USER_HZ: the unit of /proc tick counts (100 on every Linux this runs on; `getconf CLK_TCK`). */
const TICK_MS = 10;

/**
 * CPU time of named process trees (a root and its live descendants) between start and stop, in ms.
 * Names in `selfOnly` count the root process alone.
 */
export function startTreeCpu(roots: Record<string, number | null | undefined>, selfOnly: string[] = []): { stop(): Record<string, number> } {
  const snapshot = () => {
    const procs = processes();
    const out: Record<string, Map<number, number>> = {};
    for (const [name, root] of Object.entries(roots)) {
      const m = new Map<number, number>();
      if (root) for (const pid of selfOnly.includes(name) ? [root] : treeOf(root, procs)) m.set(pid, procs.get(pid)?.ticks ?? 0);
      out[name] = m;
    }
    return out;
  };
  const before = snapshot();
  return {
    stop() {
      const after = snapshot();
      const result: Record<string, number> = {};
      for (const name of Object.keys(roots)) {
        let ticks = 0;
        for (const [pid, t] of after[name]!) ticks += Math.max(0, t - (before[name]!.get(pid) ?? 0));
        result[name] = ticks * TICK_MS;
      }
      return result;
    },
  };
}
