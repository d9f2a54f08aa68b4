// The Forge on GitHub, through @octokit/rest. As GitHub's REST docs describe it: creating a PR
// that exists answers 422; a PR's `mergeable` is null while GitHub computes it in the background
// (`mergeable_state` "dirty" once it found a conflict); the merge takes `sha`, the head it must
// be, and answers 405 when the PR is not mergeable and 409 when its head is not that sha. Lists
// are paged by their Link header. Rate limits are waited out (github-rate-limit.ts).

import { Octokit } from '@octokit/rest';
import { BranchProtectedError, assertDeletableBranch } from '../git.js';
import { respectRateLimits, type RateLimitOptions } from './github-rate-limit.js';
import { mergeUntilSettled, type MergeStep, type MergeWaitOptions } from './merge-loop.js';
import {
  NotMergeableError,
  type ConflictProbe,
  type DeleteBranchInput,
  type DeleteBranchResult,
  type Forge,
  type MergeInput,
  type MergeResult,
  type OpenPullRequestInput,
  type PullRequestResult,
} from './types.js';

export const GITHUB_API_URL = 'https://api.github.com';

export interface GitHubForgeOptions {
  owner: string;
  repo: string;
  token: string;
  /** GitHub Enterprise Server: `https://github.example.com/api/v3`. Default api.github.com. */
  apiUrl?: string;
  /** Names the conflicting files (GitHub does not); optional. */
  probe?: ConflictProbe;
  wait?: MergeWaitOptions;
  rateLimit?: RateLimitOptions;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
}

/** The fields of GitHub's pull request orch reads. */
interface Pull {
  number: number;
  html_url: string;
  state: string;
  merged?: boolean;
  merged_at?: string | null;
  mergeable?: boolean | null;
  mergeable_state?: string;
  merge_commit_sha?: string | null;
  head: { ref: string; sha: string };
  base: { ref: string; sha: string };
}

interface RequestErrorLike {
  status: number;
  message: string;
  response?: { data?: unknown };
}

const isRequestError = (err: unknown, ...statuses: number[]): err is RequestErrorLike =>
  typeof (err as { status?: unknown })?.status === 'number' && statuses.includes((err as { status: number }).status);

/** GitHub's error message: `{ message, errors: [{ message | code, field }] }`. */
function githubMessage(err: RequestErrorLike): string {
  const data = err.response?.data as { message?: string; errors?: { message?: string; code?: string; field?: string }[] } | undefined;
  const details = (data?.errors ?? []).map((e) => e.message ?? [e.field, e.code].filter(Boolean).join(' ')).filter(Boolean);
  return [data?.message ?? err.message, ...details].join(': ');
}

export function createGitHubForge(options: GitHubForgeOptions): Forge {
  const { owner, repo } = options;
  const octokit = new Octokit({
    auth: options.token,
    baseUrl: (options.apiUrl ?? GITHUB_API_URL).replace(/\/+$/, ''),
    userAgent: 'orch',
    // Failures are the caller's to report (the activity does); Octokit's own lines would only repeat them.
    log: { debug: () => {}, info: () => {}, warn: console.warn, error: () => {} },
  });
  octokit.hook.before('request', (o) => {
    o.request = { ...o.request, signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) };
  });
  respectRateLimits(octokit, options.rateLimit);

  /** The newest PR from `branch` into `base` in `state` that `accept` takes, reading every page. */
  const findPull = async (branch: string, base: string, state: 'open' | 'closed', accept: (p: Pull) => boolean = () => true) => {
    let newest: Pull | null = null;
    const pages = octokit.paginate.iterator(octokit.rest.pulls.list, { owner, repo, state, base, head: `${owner}:${branch}`, per_page: 100 });
    for await (const { data } of pages) {
      for (const p of data as Pull[]) {
        if (p.head.ref === branch && p.base.ref === base && accept(p) && (!newest || p.number > newest.number)) newest = p;
      }
    }
    return newest;
  };

  const getPull = async (n: number) => (await octokit.rest.pulls.get({ owner, repo, pull_number: n })).data as Pull;

  return {
    kind: 'github',

    async openPullRequest({ branch, base, title, body }: OpenPullRequestInput): Promise<PullRequestResult> {
      try {
        const { data } = await octokit.rest.pulls.create({ owner, repo, head: branch, base, title, body });
        return { number: data.number, url: data.html_url, existed: false };
      } catch (err) {
        if (isRequestError(err, 422) && /already exists/i.test(githubMessage(err))) {
          const open = await findPull(branch, base, 'open');
          if (open) return { number: open.number, url: open.html_url, existed: true };
        }
        throw err;
      }
    },

    async merge({ branch, base, pr, message, headSha = null }: MergeInput): Promise<MergeResult> {
      let number = pr;
      if (number === null) {
        const open = await findPull(branch, base, 'open');
        if (!open) {
          const merged = await findPull(branch, base, 'closed', (p) => Boolean(p.merged_at) && (!headSha || p.head.sha === headSha));
          if (merged) return { merged: false, alreadyMerged: true, sha: merged.merge_commit_sha ?? null };
          throw new NotMergeableError(branch, base, null, 'there is no open pull request for this branch');
        }
        number = open.number;
      }
      const n = number;
      const [title = '', ...rest] = message.split('\n');

      const step = async (): Promise<MergeStep> => {
        const p = await getPull(n);
        if (p.merged) return { outcome: 'already-merged', sha: p.merge_commit_sha ?? null };
        if (p.state === 'closed') return { outcome: 'refused', reason: 'the pull request was closed without merging' };
        if (p.mergeable === null || p.mergeable === undefined) {
          return { outcome: 'wait', reason: 'GitHub is still computing whether the pull request can be merged' };
        }
        if (p.mergeable === false) {
          if (p.mergeable_state === 'dirty') {
            const files = (await options.probe?.(p.base.sha, headSha ?? p.head.sha)) ?? [];
            return { outcome: 'conflict', files, detail: 'GitHub reports the pull request as conflicting (mergeable_state "dirty")' };
          }
          return { outcome: 'wait', reason: `GitHub reports the pull request not mergeable (mergeable_state "${p.mergeable_state}")` };
        }
        try {
          const { data } = await octokit.rest.pulls.merge({
            owner,
            repo,
            pull_number: n,
            merge_method: 'merge',
            sha: headSha ?? p.head.sha,
            commit_title: title.trim() || undefined,
            commit_message: rest.join('\n').trim() || undefined,
          });
          return { outcome: 'merged', sha: data.sha };
        } catch (err) {
          if (isRequestError(err, 405)) {
            const why = githubMessage(err);
            // "not mergeable": GitHub's cached `mergeable` was stale; the next look tells what it is now.
            if (/not mergeable|was modified/i.test(why)) return { outcome: 'wait', reason: `GitHub answered 405 "${why}"` };
            return { outcome: 'refused', reason: `GitHub refused the merge: ${why}` };
          }
          if (isRequestError(err, 409)) {
            return { outcome: 'wait', reason: `GitHub answered 409 "${githubMessage(err)}"`, head: p.head.sha };
          }
          if (isRequestError(err, 404, 422)) return { outcome: 'refused', reason: `GitHub refused the merge: ${githubMessage(err)}` };
          throw err;
        }
      };
      return mergeUntilSettled({ branch, base, pr: n, headSha }, step, options.wait);
    },

    async deleteBranch(input: DeleteBranchInput): Promise<DeleteBranchResult> {
      assertDeletableBranch(input.branch, input);
      try {
        await octokit.rest.git.deleteRef({ owner, repo, ref: `heads/${input.branch}` });
        return { deleted: true, absent: false };
      } catch (err) {
        if (isRequestError(err, 404)) return { deleted: false, absent: true };
        if (isRequestError(err, 422) && /does not exist/i.test(githubMessage(err))) return { deleted: false, absent: true };
        if (isRequestError(err, 403, 422)) throw new BranchProtectedError(input.branch, 'forge-refused');
        throw err;
      }
    },
  };
}
