// The orphan sweep across hosts (`orch reconcile`): each known host cleans its own worktrees and
// agent process groups on its own task queue; branches and task rows are swept from the shared queue.
import { proxyActivities } from '@temporalio/workflow';
import { hostTaskQueue, type HostActivities, type ReconcileActivities, type ReconcileReport, type ReconcileWorkflow } from './contracts/index.js';

const shared = proxyActivities<ReconcileActivities>({ startToCloseTimeout: '5m', retry: { maximumAttempts: 3 } });

export const reconcile: ReconcileWorkflow = async function reconcile() {
  // Task rows first: a terminated task becomes `cancelled`, which the other sweeps then act on.
  const tasks = await shared.reconcileTasks();
  const hosts: ReconcileReport['hosts'] = [];
  for (const host of await shared.knownHosts()) {
    const onHost = proxyActivities<HostActivities>({
      taskQueue: hostTaskQueue(host),
      // A host that is gone has nothing running; its next start sweeps its disk.
      scheduleToStartTimeout: '10s',
      startToCloseTimeout: '5m',
      heartbeatTimeout: '30s',
      retry: { maximumAttempts: 2 },
      summary: `reconcile ${host}`,
    });
    try {
      hosts.push(await onHost.reconcileHost());
    } catch (err) {
      hosts.push({ host, unreachable: err instanceof Error ? err.message : String(err) });
    }
  }
  const branches = await shared.reconcileBranches();
  return { tasks, hosts, branches };
};
