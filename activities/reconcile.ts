// The orphan sweep: worktrees, agent process groups and `orch/*` branches whose task is over — its
// row terminal, or its workflow closed (a `temporal workflow terminate` runs no compensation).
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { TOMBSTONE_MARK } from '../db/records.js';
import {
  FEATURE_BRANCH_PREFIX,
  isTerminal,
  taskWorkflowId,
  type HostActivities,
  type ReconcileActivities,
} from '../workflows/contracts/index.js';
import { getAgent, runningAgents } from './adapters/agent-process.js';
import { copyArtefacts, dropMirrorRefs, dropWorktree, listRemoteBranches, mirrorOrchBranches } from './adapters/git.js';
import { artefactDir, hostPaths, type ActivityDeps } from './deps.js';
import { forgeFor } from './forge.js';
import { killRecordedGroups } from './host/kill.js';
import { removeTaskFiles } from './host/worktree.js';
import { wakeDependentsOf } from './records.js';

export type ReconcileHostReport = Awaited<ReturnType<HostActivities['reconcileHost']>>;
export type ReconcileBranchesReport = Awaited<ReturnType<ReconcileActivities['reconcileBranches']>>;
/** `closed`: rows left non-terminal by a workflow that closed without running its own ending. */
export type ReconcileTasksReport = Awaited<ReturnType<ReconcileActivities['reconcileTasks']>>;

type Deps = Pick<ActivityDeps, 'client' | 'records' | 'hostId' | 'dataDir' | 'pipeline' | 'killGraceMs'>;

/** Is the task with this natural key over? Unknown keys with no running workflow are over too. */
export async function taskIsOver(d: Pick<Deps, 'client' | 'records'>, key: string): Promise<boolean> {
  const row = await d.records.taskByKey(key);
  if (row && isTerminal(row.status)) return true;
  try {
    const desc = await d.client.workflow.getHandle(row?.workflowId ?? taskWorkflowId(key)).describe();
    return desc.status.name !== 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return true;
    throw err;
  }
}

export async function reconcileHost(d: Deps): Promise<ReconcileHostReport> {
  const paths = hostPaths(d);
  const report: ReconcileHostReport = { host: d.hostId, worktreesRemoved: [], agentGroupsKilled: 0 };

  // Agent groups: live in this process, or recorded as running on this host by an earlier one.
  for (const key of [...runningAgents.keys()]) {
    if (await taskIsOver(d, key)) {
      await getAgent(key)?.kill(d.killGraceMs);
      report.agentGroupsKilled++;
    }
  }
  const over = new Map<string, boolean>();
  const isOver = async (key: string) => {
    if (!over.has(key)) over.set(key, await taskIsOver(d, key));
    return over.get(key)!;
  };
  const recorded = await d.records.runningJobsOnHost(d.hostId);
  const overKeys = new Set<string>();
  for (const row of recorded) if (row.taskKey.includes(TOMBSTONE_MARK) || (await isOver(row.taskKey))) overKeys.add(row.taskKey);
  report.agentGroupsKilled += await killRecordedGroups(d, (row) => overKeys.has(row.taskKey));
  for (const row of recorded) if (overKeys.has(row.taskKey)) await d.records.finishJob(row.activityKey, 'cancelled', { detail: 'reconcile: task is over' });

  // Worktrees.
  const root = path.dirname(paths.worktree('x'));
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory() || !(await isOver(e.name))) continue;
    const wt = paths.worktree(e.name);
    await copyArtefacts(wt, artefactDir(e.name), paths.artefacts(e.name)).catch(() => []);
    // The mirror it belongs to: any of this host's mirrors may hold its registration.
    const mirrors = await readdir(paths.mirrors).catch(() => [] as string[]);
    let removed = false;
    for (const m of mirrors) removed = (await dropWorktree(path.join(paths.mirrors, m), wt).catch(() => false)) || removed;
    if (!mirrors.length || !removed) await dropWorktree(path.join(paths.mirrors, '.none'), wt).catch(() => false);
    report.worktreesRemoved.push(e.name);
  }

  // What else a task kept on this host: its private HOME, TMPDIR and prompts, and its mirror refs.
  const keys = new Set<string>();
  for (const dir of [path.dirname(paths.home('x')), path.dirname(paths.tmp('x')), path.dirname(path.dirname(paths.prompt('x', 'x', 1)))]) {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) keys.add(e.name);
  }
  for (const key of keys) if (await isOver(key)) await removeTaskFiles(d, key);
  report.mirrorRefsRemoved = [];
  for (const m of await readdir(paths.mirrors).catch(() => [] as string[])) {
    const mirror = path.join(paths.mirrors, m);
    for (const branch of await mirrorOrchBranches(mirror).catch(() => [])) {
      if (!(await isOver(branch.slice(FEATURE_BRANCH_PREFIX.length)))) continue;
      if ((await dropMirrorRefs(mirror, branch)).length) report.mirrorRefsRemoved.push(`${m}:${branch}`);
    }
  }
  report.summary = describeHostSweep(report);
  return report;
}

/** A host sweep's findings in words; with the sandbox there should be nothing, and it says so. */
export function describeHostSweep(r: Pick<ReconcileHostReport, 'worktreesRemoved' | 'agentGroupsKilled' | 'mirrorRefsRemoved'>): string {
  const found = [
    r.agentGroupsKilled ? `killed ${r.agentGroupsKilled} agent process group(s)` : '',
    r.worktreesRemoved.length ? `removed the worktrees of ${r.worktreesRemoved.join(', ')}` : '',
    r.mirrorRefsRemoved?.length ? `removed mirror refs ${r.mirrorRefsRemoved.join(', ')}` : '',
  ].filter(Boolean);
  return found.length ? found.join('; ') : 'nothing to kill or remove';
}

export async function reconcileBranches(d: Deps): Promise<ReconcileBranchesReport> {
  const report: ReconcileBranchesReport = { deleted: [], refused: [] };
  for (const repo of Object.values(d.pipeline.repos)) {
    const forge = forgeFor(repo, hostPaths(d).mirrors);
    for (const branch of await listRemoteBranches(repo.remote)) {
      const key = branch.slice(FEATURE_BRANCH_PREFIX.length);
      if (!(await taskIsOver(d, key))) continue;
      try {
        await forge.deleteBranch({ branch, defaultBranch: repo.defaultBranch, protectedBranches: repo.protectedBranches });
        report.deleted.push(`${repo.name}:${branch}`);
      } catch (err) {
        report.refused.push(`${repo.name}:${branch}: ${(err as Error).message}`);
      }
    }
  }
  return report;
}

/** Rows still `queued`/`running` whose workflow closed without its own ending (e.g. terminated). */
export async function reconcileTasks(d: Deps): Promise<ReconcileTasksReport> {
  const report: ReconcileTasksReport = { closed: [] };
  const statusOf = async (workflowId: string, runId?: string) => {
    try {
      return (await d.client.workflow.getHandle(workflowId, runId).describe()).status.name;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      return 'NOT_FOUND';
    }
  };
  for (const row of await d.records.activeTasks()) {
    let status = await statusOf(row.workflowId, row.runId ?? undefined);
    // The recorded run continued as new (a long dependency wait): its chain's latest run decides.
    // While the row is active no other task holds its key, so the latest run is this task's.
    if (status === 'CONTINUED_AS_NEW') status = await statusOf(row.workflowId);
    if (status === 'RUNNING' || status === 'CONTINUED_AS_NEW') continue;
    const next = status === 'FAILED' || status === 'TIMED_OUT' ? 'failed' : 'cancelled';
    const now = new Date();
    const failureReason = `workflow ${status.toLowerCase()} without running its own ending; cleaned up by reconcile`;
    await d.records.cancelJobs(row.id);
    if (next === 'cancelled') {
      await d.records.tombstone(row.id, { status: next, failureReason, finishedAt: now, cancelledAt: now });
      // Its workflow cannot wake the tasks waiting for it any more: this sweep does.
      await wakeDependentsOf(d, row.key);
    } else await d.records.setTaskState(row.id, { status: next, failureReason, finishedAt: now });
    report.closed.push({ key: row.key, workflowStatus: status, status: next });
  }
  return report;
}

export function createReconcileActivities(deps: Deps): ReconcileActivities {
  return {
    // Every host that ever ran a job: where orphans could be.
    knownHosts: () => deps.records.jobHosts(),
    reconcileBranches: () => reconcileBranches(deps),
    reconcileTasks: () => reconcileTasks(deps),
  };
}
