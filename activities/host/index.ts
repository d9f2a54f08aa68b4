// The activities bound to one host (its own task queue): the worktree and the agent process live here.
import type { HostActivities } from '../../workflows/contracts/index.js';
import { CleanClones } from '../adapters/clone-fingerprint.js';
import type { ActivityDeps } from '../deps.js';
import { heartbeating } from '../heartbeat.js';
import { reconcileHost } from '../reconcile.js';
import { createAgentActivities } from './agent.js';
import { createGateActivities } from './gate.js';
import { createPushActivities } from './push.js';
import { createWorktreeActivities } from './worktree.js';

export function createHostActivities(deps: ActivityDeps): HostActivities {
  // Every host-bound activity heartbeats: its host can die at any moment, and a heartbeat timeout
  // is how the workflow learns that within seconds instead of a start-to-close.
  const alive =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    (...args: A) =>
      heartbeating(deps.heartbeatEveryMs, () => fn(...args));
  // The clones this host's push saw clean: the next stage's check there needs no git process.
  const clones = new CleanClones();
  const worktree = createWorktreeActivities(deps, clones);
  const agent = createAgentActivities(deps, clones);
  const { runGate } = createGateActivities(deps);
  const { commitAndPush } = createPushActivities(deps, clones);

  return {
    prepareWorktree: alive(worktree.prepareWorktree),
    // Heartbeats itself, with the agent's pid.
    runAgent: agent.runAgent,
    runGate: alive(runGate),
    commitAndPush: alive(commitAndPush),
    killAgent: alive(agent.killAgent),
    removeWorktree: alive(worktree.removeWorktree),
    reconcileHost: alive(() => reconcileHost(deps)),
  };
}
