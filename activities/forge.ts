// The forge activities: pull requests, the merge and the feature branch's deletion.
import { ApplicationFailure } from '@temporalio/common';
import { featureBranch, type DeliveryActivities, type RepoSpec } from '../workflows/contracts/index.js';
import { createGiteaForge } from './adapters/forge/gitea.js';
import { createLocalForge } from './adapters/forge/local.js';
import { MergeConflictError, type Forge } from './adapters/forge/types.js';
import { BranchProtectedError } from './adapters/git.js';
import { hostPaths, repoSpec, type ActivityDeps } from './deps.js';

export function forgeFor(repo: RepoSpec, mirrorsDir: string, env: NodeJS.ProcessEnv = process.env): Forge {
  if (repo.forge.type === 'local') return createLocalForge({ cacheDir: mirrorsDir, remote: repo.remote });
  const token = env[repo.forge.tokenEnv];
  if (!token) throw ApplicationFailure.nonRetryable(`repo ${repo.name}: the Gitea token variable ${repo.forge.tokenEnv} is not set`);
  return createGiteaForge({ baseUrl: repo.forge.baseUrl, owner: repo.forge.owner, repo: repo.forge.repo, token });
}

export function createForgeActivities(
  deps: Pick<ActivityDeps, 'pipeline' | 'dataDir' | 'hostId'>,
): Pick<DeliveryActivities, 'openPullRequest' | 'mergeFeatureBranch' | 'deleteFeatureBranch'> {
  const { pipeline } = deps;
  const mirrors = hostPaths(deps).mirrors;
  const forge = (name: string) => forgeFor(repoSpec(pipeline, name), mirrors);

  return {
    async openPullRequest({ repo, key, title, body }) {
      const r = repoSpec(pipeline, repo);
      const pr = await forge(repo).openPullRequest({ branch: featureBranch(key), base: r.defaultBranch, title, body });
      return { number: pr.number, url: pr.url };
    },

    async mergeFeatureBranch({ repo, key, title, pr }) {
      const r = repoSpec(pipeline, repo);
      try {
        const res = await forge(repo).merge({ branch: featureBranch(key), base: r.defaultBranch, pr, message: `Merge ${featureBranch(key)}: ${title}` });
        return { alreadyMerged: res.alreadyMerged, sha: res.sha };
      } catch (err) {
        // Retrying cannot resolve a conflict: the workflow fails the task instead.
        if (err instanceof MergeConflictError) throw ApplicationFailure.nonRetryable(err.message, 'MergeConflictError');
        throw err;
      }
    },

    async deleteFeatureBranch({ repo, key, branch }) {
      const r = repoSpec(pipeline, repo);
      const name = branch ?? featureBranch(key);
      try {
        const res = await forge(repo).deleteBranch({ branch: name, defaultBranch: r.defaultBranch, protectedBranches: r.protectedBranches });
        return { step: 'delete-branch', ok: true, detail: res.absent ? `${name} was already absent` : `deleted ${name}` };
      } catch (err) {
        if (err instanceof BranchProtectedError) return { step: 'delete-branch', ok: false, detail: `refused: ${err.message}` };
        throw err;
      }
    },
  };
}
