// The task's worktree on this host (a clone borrowing the mirror's objects): prepared before every
// stage attempt, removed with everything else the task kept on the host when the task ends.
import { access, rm } from 'node:fs/promises';
import path from 'node:path';
import { featureBranch, type HostActivities } from '../../workflows/contracts/index.js';
import type { CleanClones } from '../adapters/clone-fingerprint.js';
import { copyArtefacts, ensureWorktree, isCleanCloneAt, mirrorPath, remoteHead, removeWorktree } from '../adapters/git.js';
import { artefactDir, hostPaths, repoSpec, type ActivityDeps } from '../deps.js';

const exists = (p: string) => access(p).then(() => true, () => false);

export function createWorktreeActivities(
  deps: Pick<ActivityDeps, 'pipeline' | 'dataDir' | 'hostId'>,
  clones: CleanClones,
): Pick<HostActivities, 'prepareWorktree' | 'removeWorktree'> {
  const { pipeline } = deps;
  const paths = hostPaths(deps);
  return {
    async prepareWorktree({ key, repo, pushed }) {
      const r = repoSpec(pipeline, repo);
      if (pushed && (await isCleanAtPush(deps, clones, { key, repo, pushed }))) return { path: paths.worktree(key), fromBranch: 'feature' };
      const wt = await ensureWorktree({
        cacheDir: paths.mirrors,
        remote: r.remote,
        defaultBranch: r.defaultBranch,
        branch: featureBranch(key),
        worktreePath: paths.worktree(key),
        // Every stage attempt starts from what was pushed, never from an unfinished attempt's leftovers.
        fresh: true,
      });
      return { path: wt.path, fromBranch: wt.fromBranch, remoteHead: await remoteHead(r.remote, featureBranch(key)) };
    },

    async removeWorktree({ key, repo }) {
      const r = repoSpec(pipeline, repo);
      const worktree = paths.worktree(key);
      clones.forget(worktree);
      let kept: string[] = [];
      if (await exists(path.join(worktree, artefactDir(key)))) {
        kept = await copyArtefacts(worktree, artefactDir(key), paths.artefacts(key));
      }
      const { removed } = await removeWorktree(paths.mirrors, r.remote, worktree, featureBranch(key));
      const private_ = await removeTaskFiles(deps, key);
      return {
        step: 'remove-worktree',
        ok: true,
        detail:
          `${removed ? 'removed' : 'absent'}: ${worktree}` +
          (kept.length ? `; kept ${kept.length} artefact(s) in ${paths.artefacts(key)}` : '') +
          (private_ ? `; removed its ${private_}` : ''),
      };
    },
  };
}

/**
 * The usual case after a wait or a passed stage: the task's clone is still clean at the last push,
 * which only this task's workflow makes. Used as it is, it saves a fetch and a dozen git processes
 * on the way to the next agent (its origin/<default> stays as the last fetch left it). A clone the
 * push saw clean and nothing touched since is told from its fingerprint, without git, and is still as
 * orch's own git left it after making it orch's (secureClone): no git runs here before the agent, and
 * the next push secures it again first. A clone checked with git is secured before git runs in it.
 * Either way it is forgotten: what runs next changes it.
 */
export async function isCleanAtPush(
  deps: Pick<ActivityDeps, 'pipeline' | 'dataDir' | 'hostId'>,
  clones: CleanClones,
  req: { key: string; repo: string; pushed: string },
): Promise<boolean> {
  const paths = hostPaths(deps);
  const wt = paths.worktree(req.key);
  const unchanged = clones.unchanged(wt, req.pushed);
  clones.forget(wt);
  if (unchanged) return true;
  return isCleanCloneAt(wt, mirrorPath(paths.mirrors, repoSpec(deps.pipeline, req.repo).remote), featureBranch(req.key), req.pushed);
}

/** The task's private HOME, TMPDIR and prompts on this host (kept across attempts, not after the task). */
export async function removeTaskFiles(deps: Pick<ActivityDeps, 'dataDir' | 'hostId'>, key: string): Promise<string> {
  const paths = hostPaths(deps);
  const gone: string[] = [];
  for (const [name, dir] of [['home', paths.home(key)], ['tmp', paths.tmp(key)], ['prompts', path.dirname(paths.prompt(key, 'x', 1))]] as const) {
    if (!(await exists(dir))) continue;
    await rm(dir, { recursive: true, force: true });
    gone.push(name);
  }
  return gone.join(', ');
}
