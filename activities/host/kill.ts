// Agent process groups recorded in the jobs table: what an earlier incarnation of this host left.
import { readFileSync } from 'node:fs';
import { isProcessAlive, killProcessGroup, readProcStat } from '../adapters/process-tree.js';
import type { ActivityDeps } from '../deps.js';

/**
 * Kills agent process groups recorded as running on this host whose rows match. Only a pid that is
 * still an orch agent guard is touched (pids are reused). Returns how many groups were killed.
 */
export async function killRecordedGroups(
  deps: Pick<ActivityDeps, 'records' | 'hostId' | 'killGraceMs'>,
  match: (row: { taskKey: string; activityKey: string }) => boolean = () => true,
): Promise<number> {
  let killed = 0;
  for (const row of await deps.records.runningJobsOnHost(deps.hostId)) {
    if (!row.pid || !match(row) || !isProcessAlive(row.pid) || !isAgentGuard(row.pid)) continue;
    const report = await killProcessGroup(row.pid, { graceMs: deps.killGraceMs });
    if (report.found) killed++;
  }
  return killed;
}

function isAgentGuard(pid: number): boolean {
  const st = readProcStat(pid);
  return st !== null && st.pgrp === pid && /node/.test(st.comm) && cmdlineHas(pid, 'agent-guard.mjs');
}

function cmdlineHas(pid: number, needle: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
  } catch {
    return false;
  }
}
