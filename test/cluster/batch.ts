// The cluster fault scenarios' common part: a batch of tasks under way on worker processes of the
// test's own, and the fault suite's after-the-fact checks (test/faults/support.ts) on each task:
// it ended done, each stage advanced once (records and `main`), no agent group, worktree or
// worker process left behind.
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';
import type { TestEnv } from '../support/env.js';
import { explain, hookRejections, orphanGroupsAfter, poll, stageViolations, subjects, taskView, worktreesLeft, type Scenario, type TaskView } from '../faults/support.js';

/** Starts `n` tasks (each agent stage sleeping `sleep` s) on the given hosts; resolves once half have passed a stage and an agent runs. */
export async function batchUnderWay(e: TestEnv, id: string, base: number, n: number, hosts: string[], sleep = 2) {
  const workers = await Promise.all(hosts.map((h) => e.spawnWorker(h)));
  const keys = Array.from({ length: n }, (_, i) => `${id}-${base}-${i}`);
  for (const key of keys) {
    const res = await e.api('POST', '/api/tasks', { key, repo: 'demo', title: `${id} batch`, description: `@agent sleep=${sleep}` });
    if (res.status !== 202) throw new Error(`${id}: starting ${key} answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  await poll('the batch to be under way', async () => {
    const views = await Promise.all(keys.map((k) => taskView(e, k).catch(() => null)));
    const passed = views.filter((v) => v?.events.some((ev) => ev.type === 'stage-passed')).length;
    const running = views.filter((v) => v?.jobs.some((j) => j.status === 'running')).length;
    return passed >= Math.ceil(n / 2) && running >= 1;
  }, 180_000, 250);
  return { workers, keys };
}

/** Waits for every task to end and records the checks in the scenario; returns the problems and the final views. */
export async function checkBatch(
  s: Scenario,
  e: TestEnv,
  keys: string[],
  o: { timeoutMs?: number; deadHost?: string } = {},
): Promise<{ problems: string[]; views: TaskView[]; deadHostWorktrees: string[] }> {
  const timeoutMs = o.timeoutMs ?? 300_000;
  const problems: string[] = [];
  // A dead host's worktrees stay on its disk until it starts again (its start-up recovery removes them).
  const deadHostWorktrees: string[] = [];
  const views: TaskView[] = [];
  for (const key of keys) {
    const v = (await e.waitForStatus(key, TERMINAL_STATUSES, timeoutMs)) as TaskView;
    views.push(v);
    s.rec.trials++;
    s.outcome(v.task.status);
    if (v.task.status !== 'done') problems.push(`${key}: ${v.task.status} (${v.task.failureReason ?? ''})`);
    const violations = stageViolations(v, { expectDone: true, mainSubjects: await subjects(e.remote.path) });
    s.rec.stagesOnce.of++;
    if (violations.length === 0) s.rec.stagesOnce.ok++;
    else problems.push(`${key}: ${violations.join('; ')}; ${explain(v)}`);
    const orphans = await orphanGroupsAfter(v.jobs.map((j) => j.pid));
    const left = await worktreesLeft(e, key);
    const onDead = o.deadHost ? left.filter((w) => w.includes(`/hosts/${o.deadHost}/`)) : [];
    deadHostWorktrees.push(...onDead);
    const worktrees = left.filter((w) => !onDead.includes(w));
    s.rec.orphans += orphans.length + worktrees.length;
    if (orphans.length) problems.push(`${key}: live agent groups ${JSON.stringify(orphans)}`);
    if (worktrees.length) problems.push(`${key}: worktrees left ${worktrees.join(', ')}`);
  }
  s.rec.hookRejections = (await hookRejections(e)).length;
  return { problems, views, deadHostWorktrees };
}

export const countEvents = (views: TaskView[], type: string) => views.reduce((n, v) => n + v.events.filter((ev) => ev.type === type).length, 0);
