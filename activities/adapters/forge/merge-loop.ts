// The merge as forges with pull requests do it: ask, classify what the server reports, and wait
// (with backoff, within a bound) while the answer is "not yet". One step is one look at the PR and
// at most one merge request; the forge decides what each answer means, this loop what to do next.
import { setTimeout as sleep } from 'node:timers/promises';
import { BranchMovedError, MergeConflictError, NotMergeableError, type MergeResult } from './types.js';

export type MergeStep =
  /** This step merged the PR, or found it merged. */
  | { outcome: 'merged' | 'already-merged'; sha: string | null }
  /** The server says the changes conflict: final. */
  | { outcome: 'conflict'; files: readonly string[]; detail: string }
  /**
   * Not yet: checks still running, the base moved under the merge, or the PR's head is not (yet)
   * the commit orch asked for; then `head` is the head the forge reported.
   */
  | { outcome: 'wait'; reason: string; head?: string | null }
  /** The forge will not merge it for a reason waiting here will not change (a retry later might). */
  | { outcome: 'refused'; reason: string };

export interface MergeWaitOptions {
  /** How long one merge call keeps waiting in all. Default 2 minutes. */
  timeoutMs?: number;
  /** The first pause between steps; it doubles up to `maxDelayMs`. Defaults 250 ms and 5 s. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export interface MergeTarget {
  branch: string;
  base: string;
  pr: number;
  /** The commit the merge must be of, when known. */
  headSha: string | null;
}

export async function mergeUntilSettled(
  target: MergeTarget,
  step: () => Promise<MergeStep>,
  options: MergeWaitOptions = {},
): Promise<MergeResult> {
  const { timeoutMs = 120_000, initialDelayMs = 250, maxDelayMs = 5_000 } = options;
  const { branch, base, pr, headSha } = target;
  const deadline = Date.now() + timeoutMs;
  let delay = initialDelayMs;
  for (;;) {
    const s = await step();
    switch (s.outcome) {
      case 'merged':
        return { merged: true, alreadyMerged: false, sha: s.sha };
      case 'already-merged':
        return { merged: false, alreadyMerged: true, sha: s.sha };
      case 'conflict':
        throw new MergeConflictError(branch, base, s.files, s.detail);
      case 'refused':
        throw new NotMergeableError(branch, base, pr, s.reason);
      case 'wait':
        if (Date.now() + delay > deadline) {
          const waited = `still so after ${timeoutMs < 1_000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1_000)} s`}`;
          if (s.head !== undefined && headSha) throw new BranchMovedError(branch, headSha, s.head, `${s.reason}; ${waited}`);
          throw new NotMergeableError(branch, base, pr, `${s.reason}; ${waited}`);
        }
        await sleep(delay);
        delay = Math.min(delay * 2, maxDelayMs);
    }
  }
}
