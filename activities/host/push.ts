// Commits what the agent left in the worktree and pushes it to the task's feature branch.
import { featureBranch, type HostActivities } from '../../workflows/contracts/index.js';
import type { CleanClones } from '../adapters/clone-fingerprint.js';
import { commitAll, gitShowsCleanAt, mirrorPath, pushBranch, secureClone, WorktreeError } from '../adapters/git.js';
import { hostPaths, repoSpec, type ActivityDeps } from '../deps.js';

export function createPushActivities(deps: Pick<ActivityDeps, 'pipeline' | 'dataDir' | 'hostId'>, clones: CleanClones): Pick<HostActivities, 'commitAndPush'> {
  const paths = hostPaths(deps);
  return {
    async commitAndPush({ key, repo, stage }) {
      const r = repoSpec(deps.pipeline, repo);
      const worktree = paths.worktree(key);
      const mirror = mirrorPath(paths.mirrors, r.remote);
      clones.forget(worktree);
      // The agent and the gate could write the clone's .git: make it orch's before git runs there.
      const secured = await secureClone(worktree, mirror);
      if (!secured.ok) throw new WorktreeError(`refusing to commit in ${worktree}: ${secured.reason}`);
      const committed = await commitAll(worktree, `${key}: ${stage}`);
      const { sha } = await pushBranch(worktree, featureBranch(key), r.remote);
      // Checked here, while the task moves on, so that the next stage (after an approval, say) can
      // tell from the clone's fingerprint alone that it is still clean at this push.
      if (await gitShowsCleanAt(worktree, featureBranch(key), sha)) await clones.remember(worktree, sha);
      return { sha, committed: committed !== null };
    },
  };
}
