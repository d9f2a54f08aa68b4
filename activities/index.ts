// The activity implementations, grouped by the task queue that runs them: `shared` on the `orch`
// queue (any worker), `host` on this host's own queue.
import type { HostActivities, SharedActivities } from '../workflows/contracts/index.js';
import { createDeployActivities } from './deploy.js';
import type { ActivityDeps } from './deps.js';
import { createForgeActivities } from './forge.js';
import { createHostActivities } from './host/index.js';
import { createLockActivities } from './locks.js';
import { planeClientFrom } from './adapters/plane-client.js';
import { createPlaneActivities } from './plane.js';
import { createPlaneReconcileActivities } from './plane-reconcile.js';
import { createReconcileActivities } from './reconcile.js';
import { createRecordActivities } from './records.js';

export function createActivities(deps: ActivityDeps): { shared: SharedActivities; host: HostActivities } {
  // One client: which comment path a project's Plane serves, and its rate-limit window, are shared.
  const planeClient = planeClientFrom(deps.plane ?? {});
  const shared: SharedActivities = {
    ...createRecordActivities(deps),
    ...createLockActivities(deps),
    ...createForgeActivities(deps),
    ...createDeployActivities(deps),
    ...createPlaneActivities({ client: planeClient ?? undefined }),
    ...createPlaneReconcileActivities({ client: planeClient, ...deps.planeReconcile }),
    ...createReconcileActivities(deps),
  };
  return { shared, host: createHostActivities(deps) };
}

export type { ActivityDeps } from './deps.js';
/** For the worker's start-up sweep of what an earlier incarnation of this host left. */
export { killRecordedGroups } from './host/kill.js';
export { reconcileHost } from './reconcile.js';
