// Commits what the agent left in the worktree and pushes it to the task's feature branch.
import { featureBranch, type HostActivities } from '../../workflows/contracts/index.js';
import { commitAll, mirrorPath, pushBranch, secureClone, WorktreeError } from '../adapters/git.js';
import { hostPaths, repoSpec, type ActivityDeps } from '../deps.js';

export function createPushActivities(deps: Pick<ActivityDeps, 'pipeline' | 'dataDir' | 'hostId'>): Pick<HostActivities, 'commitAndPush'> {
  const paths = hostPaths(deps);
  return {
    async commitAndPush({ key, repo, stage }) {
      const r = repoSpec(deps.pipeline, repo);
      const worktree = paths.worktree(key);
      // The agent and the gate could write the clone's .git: make it orch's before git runs there.
      const secured = await secureClone(worktree, mirrorPath(paths.mirrors, r.remote));
      if (!secured.ok) throw new WorktreeError(`refusing to commit in ${worktree}: ${secured.reason}`);
      const committed = await commitAll(worktree, `${key}: ${stage}`);
      const { sha } = await pushBranch(worktree, featureBranch(key), r.remote);
      return { sha, committed: committed !== null };
    },
  };
}
