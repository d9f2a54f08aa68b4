// The forge for a plain git remote (e.g. a bare repository): no pull requests; merging is a
// `--no-ff` merge made in a throwaway worktree of the mirror and pushed as a fast-forward.

import { randomUUID } from 'node:crypto';
import path from 'node:path';
import {
  COMMIT_IDENTITY,
  GitError,
  PushRejectedError,
  addDetachedWorktree,
  assertBranchName,
  deleteRemoteBranch,
  dropWorktree,
  ensureMirror,
  fetchMirror,
  git,
  isAncestor,
  pushBranch,
  refExists,
} from '../git.js';
import {
  MergeConflictError,
  NotMergeableError,
  type DeleteBranchInput,
  type DeleteBranchResult,
  type Forge,
  type MergeInput,
  type MergeResult,
  type PullRequestResult,
} from './types.js';

export interface LocalForgeOptions {
  /** Where this host keeps mirrors (and the throwaway merge worktrees). */
  cacheDir: string;
  remote: string;
  /** How many times to redo the merge when the base moves under us. Default 5. */
  maxAttempts?: number;
  /** Called just before each push of the merge; lets tests move the base at the worst moment. */
  beforePush?: (attempt: number) => Promise<void>;
}

export function createLocalForge(options: LocalForgeOptions): Forge {
  const { cacheDir, remote, maxAttempts = 5, beforePush } = options;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError('maxAttempts must be a positive integer');

  return {
    kind: 'local',

    async openPullRequest(): Promise<PullRequestResult> {
      return { number: null, url: null, existed: false };
    },

    async merge({ branch, base, pr, message }: MergeInput): Promise<MergeResult> {
      await assertBranchName(branch);
      await assertBranchName(base);
      const mirror = await ensureMirror(cacheDir, remote);
      const branchRef = `refs/remotes/origin/${branch}`;
      const baseRef = `refs/remotes/origin/${base}`;
      if (!(await refExists(mirror, branchRef))) {
        throw new NotMergeableError(branch, base, pr, `the remote has no branch ${branch}`);
      }
      if (!(await refExists(mirror, baseRef))) {
        throw new NotMergeableError(branch, base, pr, `the remote has no branch ${base}`);
      }

      const scratch = path.join(path.resolve(cacheDir), 'merges', `${path.basename(mirror)}-${randomUUID()}`);
      await addDetachedWorktree(mirror, scratch, baseRef);
      try {
        for (let attempt = 1; ; attempt++) {
          if (attempt > 1) {
            await fetchMirror(mirror);
            await git(['reset', '--quiet', '--hard', baseRef], { cwd: scratch });
          }
          if (await isAncestor(scratch, branchRef, 'HEAD')) {
            return { merged: false, alreadyMerged: true, sha: await headOf(scratch) };
          }
          await mergeInto(scratch, branchRef, message, branch, base);
          await beforePush?.(attempt);
          try {
            const { sha } = await pushBranch(scratch, base);
            return { merged: true, alreadyMerged: false, sha };
          } catch (err) {
            const baseMoved = err instanceof PushRejectedError && err.reason === 'non-fast-forward';
            if (!baseMoved) throw err;
            if (attempt >= maxAttempts) {
              throw new PushRejectedError(
                err.ref,
                'non-fast-forward',
                `${base} kept moving; gave up after ${attempt} merge attempts`,
              );
            }
          }
        }
      } finally {
        await dropWorktree(mirror, scratch);
      }
    },

    async deleteBranch(input: DeleteBranchInput): Promise<DeleteBranchResult> {
      return deleteRemoteBranch({ ...input, remote });
    },
  };
}

/** `git merge --no-ff`; a content conflict is aborted and reported as `MergeConflictError`. */
async function mergeInto(cwd: string, ref: string, message: string, branch: string, base: string): Promise<void> {
  const args = [...COMMIT_IDENTITY, 'merge', '--no-ff', '--no-edit', '--quiet', '-m', message, ref];
  const res = await git(args, { cwd, okExitCodes: [0, 1, 128] });
  if (res.exitCode === 0) return;
  if (/unrelated histories/.test(res.stderr)) throw new MergeConflictError(branch, base, [], 'unrelated histories');
  const unmerged = await git(['diff', '--name-only', '--diff-filter=U'], { cwd });
  const files = unmerged.stdout.split('\n').filter(Boolean);
  await git(['merge', '--abort'], { cwd, okExitCodes: [0, 128] });
  if (files.length > 0) throw new MergeConflictError(branch, base, files);
  throw new GitError(args, res.exitCode, res.stderr || res.stdout, cwd);
}

async function headOf(cwd: string): Promise<string> {
  return (await git(['rev-parse', 'HEAD'], { cwd })).stdout.trim();
}
