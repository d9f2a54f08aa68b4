// What a STOP undoes, as data (the saga pattern): each step idempotent, each recorded, and a
// failed step never stops the ones after it.
import { CancellationScope } from '@temporalio/workflow';
import type { CompensationResult, CompensationStep, HostRef } from '../contracts/index.js';
import { records } from './activities.js';
import { reasonOf, type PlannedTask } from './planned.js';

interface Facts {
  /** What the kill at STOP reported, if there was one. */
  early: CompensationResult | undefined;
  /** The host the agent ran on when the STOP came. */
  host: HostRef | null;
}

const STEPS: { step: CompensationStep; undo(t: PlannedTask, facts: Facts): Promise<CompensationResult> }[] = [
  {
    step: 'kill-agent',
    async undo(t, { early, host }) {
      if (!host) return { step: 'kill-agent', ok: true, detail: 'no host was assigned: no agent ran' };
      // Always verify on the host, even after the fast path: the report says what each did.
      const now = await t.onHost(host, { summary: 'STOP: kill agent' }).killAgent({ key: t.key });
      return early?.ok ? { ...now, detail: `${early.detail} (at STOP); now: ${now.detail}` } : now;
    },
  },
  { step: 'cancel-jobs', undo: (t) => records.cancelJobs(t.taskId) },
  { step: 'remove-worktree', undo: (t) => removeWorktrees(t, 'STOP: remove worktree') },
  { step: 'delete-branch', undo: (t) => records.deleteFeatureBranch({ repo: t.run.repo, key: t.key }) },
];

export async function compensate(t: PlannedTask): Promise<CompensationResult[]> {
  const results: CompensationResult[] = [];
  const run = async ({ step, undo }: (typeof STEPS)[number], facts: Facts) => {
    let r: CompensationResult;
    try {
      r = await undo(t, facts);
    } catch (err) {
      r = { step, ok: false, detail: reasonOf(err) };
    }
    results.push(r);
    t.state.compensation = results;
    await records.recordEvent({ taskId: t.taskId, type: 'compensation', stage: t.state.stage, detail: { ...r } }).catch(() => undefined);
  };
  await CancellationScope.nonCancellable(async () => {
    const facts: Facts = { early: await t.run.fastKill, host: t.run.host };
    for (const step of STEPS) await run(step, facts);
  });
  return results;
}

/** Removes the task's worktree on every host it used; a host that is gone cleans up when it starts again. */
export async function removeWorktrees(t: PlannedTask, summary: string): Promise<CompensationResult> {
  const { run } = t;
  if (run.usedHosts.size === 0) return { step: 'remove-worktree', ok: true, detail: 'no worktree was created' };
  const details: string[] = [];
  let ok = true;
  for (const h of run.usedHosts.values()) {
    try {
      details.push((await t.onHost(h, { summary }).removeWorktree({ key: t.key, repo: run.repo })).detail);
    } catch (err) {
      ok = ok && h.hostId !== run.host?.hostId;
      details.push(`${h.hostId}: unreachable (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return { step: 'remove-worktree', ok, detail: details.join('; ') };
}
