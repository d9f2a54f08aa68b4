// The forge activities: pull requests, the merge and the feature branch's deletion.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { featureBranch, type DeliveryActivities, type RepoSpec } from '../workflows/contracts/index.js';
import { createGitConflictProbe } from './adapters/forge/conflict-probe.js';
import { createGiteaForge } from './adapters/forge/gitea.js';
import { createGitHubForge } from './adapters/forge/github.js';
import { createLocalForge } from './adapters/forge/local.js';
import type { MergeWaitOptions } from './adapters/forge/merge-loop.js';
import { BranchMovedError, MergeConflictError, type Forge } from './adapters/forge/types.js';
import { BranchProtectedError } from './adapters/git.js';
import { heartbeating } from './heartbeat.js';
import { hostPaths, repoSpec, type ActivityDeps } from './deps.js';

/** How long one merge attempt waits for the forge's mergeability check at most. */
const MERGE_WAIT_MS = 120_000;

export function forgeFor(repo: RepoSpec, mirrorsDir: string, env: NodeJS.ProcessEnv = process.env, wait?: MergeWaitOptions): Forge {
  const { forge } = repo;
  if (forge.type === 'local') return createLocalForge({ cacheDir: mirrorsDir, remote: repo.remote });
  const token = env[forge.tokenEnv];
  const name = forge.type === 'gitea' ? 'Gitea' : 'GitHub';
  if (!token) throw ApplicationFailure.nonRetryable(`repo ${repo.name}: the ${name} token variable ${forge.tokenEnv} is not set`);
  // Git says which files conflict, in this host's mirror of the remote orch pushes to.
  const probe = createGitConflictProbe({ cacheDir: mirrorsDir, remote: repo.remote });
  if (forge.type === 'gitea') return createGiteaForge({ baseUrl: forge.baseUrl, owner: forge.owner, repo: forge.repo, token, probe, wait });
  return createGitHubForge({ apiUrl: forge.apiUrl, owner: forge.owner, repo: forge.repo, token, probe, wait });
}

export function createForgeActivities(
  deps: Pick<ActivityDeps, 'pipeline' | 'dataDir' | 'hostId' | 'heartbeatEveryMs'>,
): Pick<DeliveryActivities, 'openPullRequest' | 'mergeFeatureBranch' | 'deleteFeatureBranch'> {
  const { pipeline } = deps;
  const mirrors = hostPaths(deps).mirrors;
  const forge = (name: string, wait?: MergeWaitOptions) => forgeFor(repoSpec(pipeline, name), mirrors, process.env, wait);

  return {
    async openPullRequest({ repo, key, title, body }) {
      const r = repoSpec(pipeline, repo);
      const pr = await forge(repo).openPullRequest({ branch: featureBranch(key), base: r.defaultBranch, title, body });
      return { number: pr.number, url: pr.url };
    },

    async mergeFeatureBranch({ repo, key, title, pr, headSha }) {
      const r = repoSpec(pipeline, repo);
      // Waiting for the forge's check may take a while: keep half the attempt for the rest.
      const attemptMs = Context.current().info.startToCloseTimeoutMs;
      const wait = { timeoutMs: Math.min(MERGE_WAIT_MS, Math.max(1_000, attemptMs / 2)) };
      try {
        const res = await heartbeating(deps.heartbeatEveryMs, () =>
          forge(repo, wait).merge({ branch: featureBranch(key), base: r.defaultBranch, pr, headSha: headSha ?? null, message: `Merge ${featureBranch(key)}: ${title}` }),
        );
        return { alreadyMerged: res.alreadyMerged, sha: res.sha };
      } catch (err) {
        // Retrying cannot resolve a conflict, nor un-push a commit no gate has seen: the task fails.
        if (err instanceof MergeConflictError || err instanceof BranchMovedError) throw ApplicationFailure.nonRetryable(err.message, err.name);
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
