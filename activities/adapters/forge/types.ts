// The forge abstraction: where pull requests are opened and merged, and branches deleted.
// `local` works on a plain git remote; `gitea` and `github` talk to their REST APIs.

import type { BranchPolicy } from '../git.js';

export interface OpenPullRequestInput {
  /** The feature branch (head). */
  branch: string;
  /** The branch to merge into. */
  base: string;
  title: string;
  body: string;
}

export interface PullRequestResult {
  /** The forge's PR number; null for forges without pull requests. */
  number: number | null;
  url: string | null;
  /** True when an open PR for this head/base already existed (and is the one returned). */
  existed: boolean;
}

export interface MergeInput {
  branch: string;
  base: string;
  /** The PR to merge, when the forge has PRs and its number is known. */
  pr: number | null;
  /** The merge commit message (first line = title). */
  message: string;
  /**
   * The commit orch pushed and the gates passed. Forges with PRs merge exactly this commit (Gitea's
   * `head_commit_id`, GitHub's `sha`) and refuse a branch that has moved on; null = the PR's head.
   */
  headSha?: string | null;
}

/**
 * Exactly one of `merged` / `alreadyMerged` is true on success; failures throw.
 * `merged`: this call merged the branch. `alreadyMerged`: the work was in `base` already.
 */
export interface MergeResult {
  merged: boolean;
  alreadyMerged: boolean;
  /** The commit at the tip of `base` containing the work, when the forge tells us. */
  sha: string | null;
}

export interface DeleteBranchInput extends BranchPolicy {
  branch: string;
}

export interface DeleteBranchResult {
  deleted: boolean;
  /** The branch did not exist: success too. */
  absent: boolean;
}

export interface Forge {
  readonly kind: 'local' | 'gitea' | 'github';
  /** Idempotent: an existing open PR for the same head/base is returned with `existed: true`. */
  openPullRequest(input: OpenPullRequestInput): Promise<PullRequestResult>;
  /** Idempotent: merging work that is already in `base` answers `alreadyMerged: true`. */
  merge(input: MergeInput): Promise<MergeResult>;
  /** Applies orch's branch policy (throws `BranchProtectedError`) before deleting; absent = success. */
  deleteBranch(input: DeleteBranchInput): Promise<DeleteBranchResult>;
}

/** The branch cannot be merged because its changes conflict with the base. Retrying will not help. */
export class MergeConflictError extends Error {
  override readonly name = 'MergeConflictError';
  constructor(
    readonly branch: string,
    readonly base: string,
    /** Conflicting paths, when known. */
    readonly files: readonly string[] = [],
    detail?: string,
  ) {
    const where = files.length > 0 ? ` in ${files.join(', ')}` : '';
    super(`merging ${branch} into ${base} conflicts${where}${detail ? `: ${detail}` : ''}`);
  }
}

/** The forge will not merge this yet (checks pending, no PR, branch missing…). Retrying later may help. */
export class NotMergeableError extends Error {
  override readonly name = 'NotMergeableError';
  constructor(
    readonly branch: string,
    readonly base: string,
    readonly pr: number | null,
    readonly reason: string,
  ) {
    super(`cannot merge ${branch} into ${base}${pr === null ? '' : ` (PR #${pr})`}: ${reason}`);
  }
}

/** The branch's head is not the commit the gates passed (someone pushed after orch). Retrying will not help. */
export class BranchMovedError extends Error {
  override readonly name = 'BranchMovedError';
  constructor(
    readonly branch: string,
    readonly expected: string,
    readonly actual: string | null,
    detail?: string,
  ) {
    super(
      `${branch} is at ${actual ?? 'an unknown commit'}, not at ${expected}, the commit the gates passed; ` +
        `orch will not merge commits no gate has seen${detail ? ` (${detail})` : ''}`,
    );
  }
}

/**
 * Whether `head` merges cleanly into `base` (both commit ids), by git itself: the files that
 * conflict, [] when it merges cleanly, or null when it cannot tell (a commit it cannot fetch).
 */
export type ConflictProbe = (base: string, head: string) => Promise<string[] | null>;
