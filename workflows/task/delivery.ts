// Merge and deploy: the irreversible steps, each inside a critical window.
import { critical, withLock } from './critical.js';
import { deployer, merger, records } from './activities.js';
import type { PlannedTask } from './planned.js';

export async function runMerge(t: PlannedTask): Promise<void> {
  const { run, plan, key } = t;
  const { title, description } = run.input;
  await t.enterStage('merge');
  const pr = await records.openPullRequest({ repo: run.repo, key, title: `${key}: ${title}`, body: description ?? '' });
  await withLock(t, 'merge', () =>
    critical(t, async () => {
      await t.event('merge-started', 'merge', { pr: pr.number });
      const merged = await merger(plan, `merge ${key}`).mergeFeatureBranch({ repo: run.repo, key, title, pr: pr.number, headSha: run.pushedSha });
      await t.event('merge-finished', 'merge', { ...merged });
      run.mergedSha = merged.sha;
    }),
  );
}

export async function runDeploy(t: PlannedTask): Promise<void> {
  const { run, plan, key } = t;
  await t.enterStage('deploy');
  await critical(t, async () => {
    await t.event('deploy-started', 'deploy', { sha: run.mergedSha });
    const res = await deployer(plan, `deploy ${key}`).deploy({ repo: run.repo, key, title: run.input.title, sha: run.mergedSha });
    await t.event('deploy-finished', 'deploy', { ...res });
  });
}
