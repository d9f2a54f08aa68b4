// The Forge on Gitea. A new PR starts in Gitea's `checking` state and its merge answers 405 until
// the background checker is done, so the merge waits for `mergeable`; a PR that stays unmergeable
// is asked of git (Gitea's API does not tell checking from conflicting). The merge carries
// `head_commit_id`, so Gitea merges the commit the gates passed or nothing.

import { assertDeletableBranch } from '../git.js';
import { GiteaClient, errorMessage, parseJson, type GiteaClientOptions, type GiteaPullRequest } from './gitea-client.js';
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

export { GiteaApiError, GiteaClient, type GiteaClientOptions, type GiteaPullRequest } from './gitea-client.js';

export interface GiteaForgeOptions extends GiteaClientOptions {
  /** Tells a conflicting PR from one still being checked; without it orch waits out the bound. */
  probe?: ConflictProbe;
  wait?: MergeWaitOptions;
}

export function createGiteaForge(options: GiteaForgeOptions): Forge {
  const client = new GiteaClient(options);
  return {
    kind: 'gitea',

    async openPullRequest({ branch, base, title, body }: OpenPullRequestInput): Promise<PullRequestResult> {
      const { pr, created } = await client.createPullRequest({ head: branch, base, title, body });
      return { number: pr.number, url: pr.html_url, existed: !created };
    },

    async merge({ branch, base, pr, message, headSha = null }: MergeInput): Promise<MergeResult> {
      let number = pr;
      if (number === null) {
        const open = await client.findPullRequest(base, branch, 'open');
        if (!open) {
          const merged = await client.findPullRequest(base, branch, 'closed', (p) => p.merged && (!headSha || p.head.sha === headSha));
          if (merged) return { merged: false, alreadyMerged: true, sha: merged.merge_commit_sha ?? null };
          throw new NotMergeableError(branch, base, null, 'there is no open pull request for this branch');
        }
        number = open.number;
      }
      const n = number;
      const probed = new Map<string, Promise<string[] | null>>();
      const probe = (p: GiteaPullRequest) => {
        const key = `${p.base.sha}:${headSha ?? p.head.sha}`;
        if (!probed.has(key)) probed.set(key, options.probe?.(p.base.sha, headSha ?? p.head.sha) ?? Promise.resolve(null));
        return probed.get(key)!;
      };
      const step = () => mergeStep(client, n, { headSha, message, probe });
      return mergeUntilSettled({ branch, base, pr: n, headSha }, step, options.wait);
    },

    async deleteBranch(input: DeleteBranchInput): Promise<DeleteBranchResult> {
      assertDeletableBranch(input.branch, input);
      return client.deleteBranch(input.branch);
    },
  };
}

/** One look at PR `n` and, when Gitea calls it mergeable, one merge request. */
async function mergeStep(
  client: GiteaClient,
  n: number,
  ctx: { headSha: string | null; message: string; probe: (p: GiteaPullRequest) => Promise<string[] | null> },
): Promise<MergeStep> {
  const p = await client.getPullRequest(n);
  if (p.merged) return { outcome: 'already-merged', sha: p.merge_commit_sha ?? null };
  if (p.state === 'closed') return { outcome: 'refused', reason: 'the pull request was closed without merging' };
  if (!p.mergeable) {
    const files = await ctx.probe(p);
    if (files && files.length > 0) {
      return { outcome: 'conflict', files, detail: 'Gitea reports the pull request not mergeable, and git finds these files in conflict' };
    }
    return { outcome: 'wait', reason: 'Gitea is still checking whether the pull request can be merged' };
  }

  const [title = '', ...rest] = ctx.message.split('\n');
  const body: Record<string, string> = { Do: 'merge', head_commit_id: ctx.headSha ?? p.head.sha };
  if (title.trim()) body.MergeTitleField = title.trim();
  if (rest.join('\n').trim()) body.MergeMessageField = rest.join('\n').trim();
  const res = await client.mergePullRequest(n, body);
  const message = errorMessage(res.text);

  if (res.status === 200) return { outcome: 'merged', sha: (await client.getPullRequest(n)).merge_commit_sha ?? null };
  if (res.status === 404) return { outcome: 'refused', reason: 'the pull request was closed without merging' };
  if (res.status === 405) {
    // ErrHasMerged answers an empty message; "Please try again later" is any state but mergeable.
    if (message === '') return { outcome: 'already-merged', sha: (await client.getPullRequest(n)).merge_commit_sha ?? null };
    if (/try again later/i.test(message)) return { outcome: 'wait', reason: `Gitea answered "${message}"` };
    return { outcome: 'refused', reason: `Gitea refused the merge: ${message}` };
  }
  if (res.status === 409) {
    const conflict = conflictReport(res.text);
    if (conflict) {
      const files = conflict.files.length > 0 ? conflict.files : ((await ctx.probe(p)) ?? []);
      return { outcome: 'conflict', files, detail: `Gitea answered 409 (${conflict.kind})` };
    }
    if (/merge push out of date/i.test(message)) return { outcome: 'wait', reason: 'the base branch moved during the merge' };
    if (/head out of date/i.test(message)) {
      return { outcome: 'wait', reason: "Gitea's pull request head is not the commit orch pushed (yet)", head: p.head.sha };
    }
    return { outcome: 'refused', reason: `Gitea refused the merge: ${message || res.text}` };
  }
  return { outcome: 'refused', reason: `Gitea answered ${res.status} to the merge: ${message || res.text}` };
}

/**
 * A 409 body that is one of Gitea's merge errors serialised (ErrMergeConflicts,
 * ErrMergeUnrelatedHistories, ErrRebaseConflicts: `{ Style, StdOut, StdErr, Err }`), with the
 * files its git output names; null for the `{ message }` 409s.
 */
function conflictReport(text: string): { kind: string; files: string[] } | null {
  let body: { Style?: unknown; StdOut?: unknown; StdErr?: unknown; CommitSHA?: unknown };
  try {
    body = parseJson(text);
  } catch {
    return null;
  }
  if (!body || typeof body !== 'object' || (typeof body.StdOut !== 'string' && typeof body.StdErr !== 'string')) return null;
  const out = `${String(body.StdOut ?? '')}\n${String(body.StdErr ?? '')}`;
  const files = out.split('\n').flatMap((line) => {
    const m = /^CONFLICT \([^)]*\): (.*)$/.exec(line.trim());
    if (!m) return [];
    // "Merge conflict in <path>", or "<path> deleted in … and modified in …" and the like.
    return [/Merge conflict in (.+)$/.exec(m[1]!)?.[1] ?? m[1]!.split(' ')[0]!];
  });
  const kind = /unrelated histories/i.test(out) ? 'unrelated histories' : body.CommitSHA !== undefined ? 'rebase conflict' : 'merge conflict';
  return { kind, files: [...new Set(files)] };
}
