// Commits what the agent left in the worktree and pushes it to the task's feature branch.
import { featureBranch, type HostActivities } from '../../workflows/contracts/index.js';
import { commitAll, pushBranch } from '../adapters/git.js';
import { hostPaths, type ActivityDeps } from '../deps.js';

export function createPushActivities(deps: Pick<ActivityDeps, 'dataDir' | 'hostId'>): Pick<HostActivities, 'commitAndPush'> {
  const paths = hostPaths(deps);
  return {
    async commitAndPush({ key, stage }) {
      const worktree = paths.worktree(key);
      const committed = await commitAll(worktree, `${key}: ${stage}`);
      const { sha } = await pushBranch(worktree, featureBranch(key));
      return { sha, committed: committed !== null };
    },
  };
}
