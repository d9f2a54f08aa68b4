// Stub activities for workflow tests, typed by the contracts: each test overrides what it needs
// and reads back which activities ran, in order.
import { Context } from '@temporalio/activity';
import type { HostActivities, PipelinePlan, SharedActivities, StageSpec } from '../../workflows/contracts/index.js';

export const AGENT_STAGE: StageSpec = { name: 'development', kind: 'agent', prompt: 'do it', gate: { type: 'file-exists', path: 'x' }, attempts: 2 };

export function planOf(o: { serial?: boolean; stages?: StageSpec[] } = {}): PipelinePlan {
  return {
    repo: { name: 'demo', remote: '/nowhere', defaultBranch: 'main', forge: { type: 'local' }, serial: o.serial ?? false, protectedBranches: [] },
    stages: o.stages ?? [AGENT_STAGE, { name: 'merge', kind: 'merge', gate: { type: 'none' } }, { name: 'deploy', kind: 'deploy', gate: { type: 'none' } }],
    attemptsPerStage: 2,
    timeouts: { stage: '30m', heartbeat: '5s', idle: '5m', merge: '10m', deploy: '15m' },
  };
}

export type Calls = { name: string; queue: 'shared' | string; args: unknown[] }[];

/** Wraps every method so that each call is logged (with the host queue it ran on). */
function logged<T extends object>(impl: T, calls: Calls, queue: string): T {
  return Object.fromEntries(
    Object.entries(impl).map(([name, fn]) => [
      name,
      (...args: unknown[]) => {
        calls.push({ name, queue, args });
        return (fn as (...a: unknown[]) => unknown)(...args);
      },
    ]),
  ) as T;
}

/** An activity that never ends by itself (a hung agent, a dead host): it ends only when cancelled, at the latest at worker shutdown. */
export const hangs = (): Promise<never> => Context.current().cancelled;

/** A live agent: it heartbeats, so it hears a cancellation, and ends only then. */
export async function runsUntilCancelled(): Promise<never> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 200);
  try {
    return await ctx.cancelled;
  } finally {
    clearInterval(beat);
  }
}

export function sharedStubs(
  calls: Calls,
  o: { queues: (hostId: string) => string; grant: (holderWorkflowId: string, lockId: string) => Promise<void>; hosts: string[] },
  over: Partial<SharedActivities> = {},
): SharedActivities {
  const { queues, hosts } = o;
  let picks = 0;
  const base: SharedActivities = {
    planPipeline: async () => planOf(),
    recordTask: async () => ({ taskId: 'task-row-1' }),
    updateTask: async () => undefined,
    recordEvent: async () => undefined,
    finishJob: async () => undefined,
    dependencyStatuses: async (keys) => Object.fromEntries(keys.map((k) => [k, 'done' as const])),
    wakeDependents: async () => 0,
    cancelJobs: async () => ({ step: 'cancel-jobs', ok: true, detail: '1 job(s) cancelled' }),
    markCancelled: async () => ({ key: 'K', planeIssueId: null }),
    pickHost: async () => {
      const hostId = hosts[Math.min(picks++, hosts.length - 1)]!;
      return { hostId, taskQueue: queues(hostId) };
    },
    // Granted at once, as an idle repoLock workflow would.
    requestLock: async ({ purpose, repo, holderWorkflowId }) => {
      const lockId = `lock-${purpose}-${repo}`;
      await o.grant(holderWorkflowId, lockId);
      return { lockId };
    },
    awaitWorkflowClosed: hangs,
    openPullRequest: async () => ({ number: 7, url: null }),
    mergeFeatureBranch: async () => ({ alreadyMerged: false, sha: 'merged-sha' }),
    deploy: async () => ({ ran: true, exitCode: 0 }),
    deleteFeatureBranch: async ({ key }) => ({ step: 'delete-branch', ok: true, detail: `deleted orch/${key}` }),
    notifyPlane: async () => ({ sent: false, reason: 'not configured' }),
    knownHosts: async () => [],
    reconcileBranches: async () => ({ deleted: [], refused: [] }),
    reconcileTasks: async () => ({ closed: [] }),
    reconcilePlane: async () => ({ at: new Date(0).toISOString(), projects: [], acted: [] }),
  };
  return logged({ ...base, ...over }, calls, 'shared');
}

export function hostStubs(calls: Calls, hostId: string, queue: string, over: Partial<HostActivities> = {}): HostActivities {
  const base: HostActivities = {
    prepareWorktree: async () => ({ path: '/wt', fromBranch: 'default', remoteHead: null }),
    runAgent: async () => ({ exitCode: 0, signal: null, pid: 1, logFile: '/log', durationMs: 1 }),
    runGate: async () => ({ passed: true, detail: 'ok' }),
    commitAndPush: async ({ stage }) => ({ sha: `sha-${stage}`, committed: true }),
    killAgent: async () => ({ step: 'kill-agent', ok: true, detail: 'no agent running' }),
    removeWorktree: async () => ({ step: 'remove-worktree', ok: true, detail: 'removed' }),
    reconcileHost: async () => ({ host: hostId, worktreesRemoved: [], agentGroupsKilled: 0 }),
  };
  return logged({ ...base, ...over }, calls, queue);
}

export const names = (calls: Calls) => calls.map((c) => c.name);
