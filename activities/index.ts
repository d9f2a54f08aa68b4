// The activity implementations, grouped by the task queue that runs them.
import type { ActivityDeps } from './deps.js';
import { createHostActivities } from './host.js';
import { createSharedActivities } from './shared.js';

export function createActivities(deps: ActivityDeps) {
  return { shared: createSharedActivities(deps), host: createHostActivities(deps) };
}
export type { ActivityDeps } from './deps.js';
