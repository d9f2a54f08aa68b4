// Shared helpers of the fault suite (test/faults): sizes (short inside `npm test`, full under
// `npm run test:faults`), the ledger every scenario writes its figures to (docs/reliability.md is
// built from it), and the checks every scenario makes after the fact: stages advanced once, no
// orphan agent group, no worktree or feature branch left, no hook rejection, `main` never rewound.
import { appendFileSync } from 'node:fs';
import { access, chmod, mkdtemp, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject } from 'vitest';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';
import { groupMembers } from '../../activities/adapters/process-tree.js';
import type { TestEnv } from '../support/env.js';
import { branchSha, readHookLog, tryGitIn } from '../support/git-fixtures.js';
import { until } from '../../worker/harness/until.js';
import { projectDir } from '../../worker/config/project-dir.js';
import { freePort } from '../../worker/harness/free-port.js';
import { readDevConfig, startDevServer, type DevServer } from '../../worker/temporal/dev-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** JSON-lines file the scenarios append their figures and remotes to (test/faults/ledger.ts). */
    faultsLedger: string;
  }
}

export const FULL = process.env.ORCH_FAULTS === 'full';
/** `short` inside `npm test`, `full` under `npm run test:faults`. */
export const size = <T>(short: T, full: T): T => (FULL ? full : short);

export const AGENT_STAGES = ['analysis', 'design', 'development', 'review'] as const;
export type AgentStage = (typeof AGENT_STAGES)[number];

export const exists = (p: string) => access(p).then(() => true, () => false);

// ------------------------------------------------------------------------------------ ledger

export interface Outcomes {
  done: number;
  cancelled: number;
  failed: number;
  other: number;
}

export interface ScenarioRecord {
  kind: 'scenario';
  id: string;
  title: string;
  mode: 'short' | 'full';
  passed: boolean;
  error?: string;
  trials: number;
  outcomes: Outcomes;
  /** Tasks whose every stage passed exactly once (of those expected to run to done). */
  stagesOnce: { ok: number; of: number };
  orphans: number;
  hookRejections: number;
  runtimeMs: number;
  notes: string[];
  /** What went wrong, one line each (capped), when the scenario failed its checks. */
  problems: string[];
}

export type LedgerLine = ScenarioRecord | { kind: 'remote'; scenario: string; hookLog: string };

function ledger(line: LedgerLine) {
  appendFileSync(inject('faultsLedger'), `${JSON.stringify(line)}\n`);
}

/** Registers a test env's remote, so the suite-wide F6 check reads its hook log at the end. */
export function trackRemote(scenario: string, env: Pick<TestEnv, 'remote'>) {
  ledger({ kind: 'remote', scenario, hookLog: env.remote.hookLog });
}

/**
 * A scenario's figures. `run` wraps the test body: whatever happens, the record is written
 * (with `passed: false` and the error when the body throws), then the error is re-thrown.
 */
export function scenario(id: string, title: string) {
  const started = Date.now();
  const rec: ScenarioRecord = {
    kind: 'scenario',
    id,
    title,
    mode: FULL ? 'full' : 'short',
    passed: false,
    trials: 0,
    outcomes: { done: 0, cancelled: 0, failed: 0, other: 0 },
    stagesOnce: { ok: 0, of: 0 },
    orphans: 0,
    hookRejections: 0,
    runtimeMs: 0,
    notes: [],
    problems: [],
  };
  return {
    rec,
    outcome(status: string | undefined) {
      if (status === 'done' || status === 'cancelled' || status === 'failed') rec.outcomes[status]++;
      else rec.outcomes.other++;
    },
    note(line: string) {
      rec.notes.push(line);
    },
    /** Fails the scenario with every problem listed (rather than `expected [ Array(3) ] …`). */
    check(problems: string[]) {
      if (problems.length === 0) return;
      rec.problems = problems.slice(0, 12).map((p) => (p.length > 600 ? `${p.slice(0, 600)}…` : p));
      throw new Error(`${problems.length} problem(s):\n- ${problems.join('\n- ')}`);
    },
    async run(body: () => Promise<void>) {
      try {
        await body();
        rec.passed = true;
      } catch (err) {
        if (rec.problems.length === 0) rec.error = ((err as Error)?.message ?? String(err)).split('\n').slice(0, 8).map((l) => l.slice(0, 400)).join('\n');
        throw err;
      } finally {
        rec.runtimeMs = Date.now() - started;
        ledger(rec);
      }
    },
  };
}
export type Scenario = ReturnType<typeof scenario>;

// ---------------------------------------------------------------------------- after the fact

/** `REJECT` lines of the env's pre-receive hook (orch tried a force-push or to delete `main`). */
export async function hookRejections(env: Pick<TestEnv, 'remote'>): Promise<string[]> {
  return (await readHookLog(env.remote)).filter((l) => l.startsWith('REJECT'));
}

export interface TaskView {
  task: { id: string; key: string; status: string; [k: string]: unknown };
  jobs: { id: string; stage: string; status: string; host: string | null; pid: number | null; attempt: number; activityKey: string; logFile: string | null }[];
  events: { type: string; stage: string | null; detail: any }[];
  state: any;
}

export async function taskView(env: TestEnv, key: string): Promise<TaskView> {
  const res = await env.api('GET', `/api/tasks/${key}`);
  if (res.status !== 200) throw new Error(`GET /api/tasks/${key}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as TaskView;
}

/**
 * The task as the records have it (no workflow query: a query waits for the workflow's sticky
 * worker, which hangs when that worker is SIGSTOPped). `undefined` before the row exists.
 */
export async function recordsView(env: TestEnv, key: string): Promise<Omit<TaskView, 'state'> | undefined> {
  const task = await env.records.taskByKey(key);
  if (!task) return undefined;
  const [jobs, events] = await Promise.all([env.records.jobsOf(task.id), env.records.eventsOf(task.id)]);
  return { task: task as unknown as TaskView['task'], jobs: jobs as unknown as TaskView['jobs'], events: events as unknown as TaskView['events'] };
}

/**
 * What "each stage advanced exactly once" means, as a list of violations (empty = fine): one
 * `stage-passed` event per agent stage, at most one `done` job per stage, (given `main`'s commit
 * subjects) one commit per stage, and (for a task that ended done) one merge and one deploy.
 */
export function stageViolations(v: TaskView, o: { expectDone?: boolean; mainSubjects?: string[] } = {}): string[] {
  const out: string[] = [];
  const expectDone = o.expectDone ?? v.task.status === 'done';
  for (const stage of AGENT_STAGES) {
    if (o.mainSubjects) {
      // The agent commits `<KEY>: <stage>`; a stage whose work landed twice shows it twice on main.
      const commits = o.mainSubjects.filter((l) => l === `${v.task.key}: ${stage}`).length;
      if (expectDone ? commits !== 1 : commits > 1) out.push(`${stage}: ${commits} commits on main`);
    }
    const passed = v.events.filter((e) => e.type === 'stage-passed' && e.stage === stage).length;
    if (expectDone ? passed !== 1 : passed > 1) out.push(`${stage}: ${passed} stage-passed events`);
    const done = v.jobs.filter((j) => j.stage === stage && j.status === 'done');
    if (done.length > 1) out.push(`${stage}: ${done.length} done jobs (${done.map((j) => `${j.host}/${j.activityKey}`).join(', ')})`);
  }
  for (const type of ['merge-finished', 'deploy-finished', 'done']) {
    const n = v.events.filter((e) => e.type === type).length;
    if (expectDone ? n !== 1 : n > 1) out.push(`${type}: ${n} events`);
  }
  if (v.jobs.some((j) => j.status === 'running' || j.status === 'queued')) {
    out.push(`jobs still ${v.jobs.filter((j) => j.status === 'running' || j.status === 'queued').map((j) => `${j.stage}@${j.host}=${j.status}`).join(', ')}`);
  }
  return out;
}

/** One line per job and per notable event, for failure messages. */
export function explain(v: Pick<TaskView, 'jobs' | 'events'>): string {
  const jobs = v.jobs.map((j: any) => `${j.stage}#${j.attempt}@${j.host}=${j.status}${j.detail ? `(${j.detail})` : ''}`).join(', ');
  const events = v.events
    .filter((e) => !['lock-requested', 'lock-acquired', 'compensation'].includes(e.type))
    .map((e) => `${e.type}${e.stage ? `:${e.stage}` : ''}${e.detail?.reason ? `(${String(e.detail.reason).slice(0, 160)})` : ''}${e.detail?.host ? `(${e.detail.host})` : ''}`)
    .join(' → ');
  return `jobs [${jobs}] events [${events}]`;
}

/** Agent process groups (by recorded pid) that still have a live member. */
export function liveGroups(pids: Iterable<number | null | undefined>): { pgid: number; members: number[] }[] {
  const out: { pgid: number; members: number[] }[] = [];
  for (const pid of new Set([...pids].filter((p): p is number => typeof p === 'number' && p > 1))) {
    const members = groupMembers(pid);
    if (members.length) out.push({ pgid: pid, members });
  }
  return out;
}

/** Waits (bounded) for the groups to empty: a guard takes up to its kill grace to clear a group. */
export async function orphanGroupsAfter(pids: Iterable<number | null | undefined>, graceMs = 8000) {
  const list = [...pids];
  const deadline = Date.now() + graceMs;
  for (;;) {
    const live = liveGroups(list);
    if (live.length === 0 || Date.now() > deadline) return live;
    await sleep(200);
  }
}

/** Hosts that have a directory under the env's data dir. */
export async function hostDirs(env: Pick<TestEnv, 'dataDir'>): Promise<string[]> {
  return readdir(path.join(env.dataDir, 'hosts')).catch(() => [] as string[]);
}

/** Worktree directories of `key` left on any host of the env. */
export async function worktreesLeft(env: Pick<TestEnv, 'dataDir'>, key: string): Promise<string[]> {
  const left: string[] = [];
  for (const h of await hostDirs(env)) {
    const wt = path.join(env.dataDir, 'hosts', h, 'worktrees', key);
    if (await exists(wt)) left.push(wt);
  }
  return left;
}

/** Whether `ancestor` is an ancestor of (or equal to) `descendant` in the bare remote. */
export async function isAncestorIn(repo: string, ancestor: string, descendant: string): Promise<boolean> {
  if (ancestor === descendant) return true;
  return (await tryGitIn(repo, 'merge-base', '--is-ancestor', ancestor, descendant)).exitCode === 0;
}

/** Commit subjects of `ref` in the bare remote. */
export async function subjects(repo: string, ref = 'main'): Promise<string[]> {
  const r = await tryGitIn(repo, 'log', '--format=%s', ref);
  return r.exitCode === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

export { branchSha };

/** Pending activities of a workflow: type, state (1 scheduled, 2 started), attempt. */
export async function pendingActivities(env: TestEnv, workflowId: string) {
  try {
    const d = await env.client.workflow.getHandle(workflowId).describe();
    return (d.raw.pendingActivities ?? []).map((a) => ({
      type: a.activityType?.name ?? '?',
      state: Number(a.state ?? 0),
      attempt: a.attempt ?? 0,
      worker: a.lastWorkerIdentity ?? '',
    }));
  } catch {
    return [];
  }
}

/** Polls `fn` until truthy, at a step of the caller's choosing. */
export const poll = until;

/** Runs `fn` over `items` with at most `n` at once; resolves with all results (in order) or the first error after all settle. */
export async function pool<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i).then(
        (value) => ({ status: 'fulfilled', value }) as const,
        (reason) => ({ status: 'rejected', reason }) as const,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, lane));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) {
    const msgs = failed.map((f) => (f.reason as Error)?.message ?? String(f.reason));
    const err = new Error(`${failed.length} of ${items.length} failed:\n- ${msgs.join('\n- ')}`);
    throw err;
  }
  return results.map((r) => (r as PromiseFulfilledResult<R>).value);
}

/** The tail of a file (for failure messages). */
export async function tail(file: string, lines = 30): Promise<string> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').slice(-lines).join('\n');
}

/** Unique key bases per run, so keys never collide with another scenario's on the shared server. */
export const keyBase = () => 100_000 + Math.floor(Math.random() * 800_000);

/**
 * The fault scenarios' batch: `n` tasks started on the given worker hosts, returned once the batch is
 * under way (half the tasks have passed a stage, and an agent is running): the moment to break something.
 */
export async function batchUnderWay(e: TestEnv, id: string, base: number, n: number, hosts: string[], agentSleep = 2) {
  const workers = await Promise.all(hosts.map((h) => e.spawnWorker(h)));
  const keys = Array.from({ length: n }, (_, i) => `${id}-${base}-${i}`);
  for (const key of keys) {
    const res = await e.api('POST', '/api/tasks', { key, repo: 'demo', title: `${id} batch`, description: `@agent sleep=${agentSleep}` });
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
  o: { timeoutMs?: number; deadHost?: string; also?: (v: TaskView) => string[] } = {},
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
    if (o.also) problems.push(...o.also(v).map((p) => `${key}: ${p}`));
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

/**
 * A Temporal dev server of the scenario's own (not the run's shared one), on free ports with its
 * history in a SQLite file under the run dir: `start` brings it up, and up again on the same file
 * and ports after a stop.
 */
export async function ownDevServer(prefix: string): Promise<{ start: () => Promise<DevServer> }> {
  const dataDir = await mkdtemp(path.join(inject('runDir'), `${prefix}-temporal-`));
  await chmod(dataDir, 0o755);
  const dev = await readDevConfig(path.join(projectDir, 'temporal-dev.yaml'));
  const [grpc, ui, http, metrics] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const config = { ...dev, ports: { grpc, ui, http, metrics }, dbFile: 'temporal.sqlite', logLevel: 'error' as const, headless: true };
  return { start: () => startDevServer({ config, dataDir, cliPath: inject('temporalCliPath') }) };
}
