// F1: `kill -9` of the worker that hosts a task, with a second worker alive — during agent runs
// of every agent stage, and during the short host activities between stages (they heartbeat too).
//
// A round: the tasks start while the victim is the only worker, so they all take it as their host;
// then a spare worker starts; once every task is at the kill point, the victim is SIGKILLed. The
// tasks move to the spare (which is the next round's victim) and must end `done`, each stage
// advanced once, with no agent process of the dead worker left and nothing rejected by the remote.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/env.js';
import {
  AGENT_STAGES,
  explain,
  hookRejections,
  keyBase,
  orphanGroupsAfter,
  pendingActivities,
  poll,
  recordsView,
  scenario,
  size,
  stageViolations,
  subjects,
  taskView,
  trackRemote,
  type TaskView,
  type AgentStage,
} from './support.js';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';
import { setPushDelay } from '../support/git-fixtures.js';

type Target = AgentStage | 'host-activity';
/**
 * Host activities that run between agent runs: short, and heartbeating like the rest. A round aims
 * at one: prepareWorktree (before an agent runs) or commitAndPush (after it ran, before the stage
 * passed). runGate is no target: it ends within milliseconds, so a kill aimed at it lands after it.
 * After a stage that passed, the next one prepares its worktree only when the clone is not clean at
 * the push: the prepareWorktree round's first stage leaves build output behind (ignored, so never
 * committed).
 */
type HostActivity = 'prepareWorktree' | 'commitAndPush';
const STARTED = 2;
/** Seconds the agent of the targeted stage sleeps: long enough to start the spare worker meanwhile. */
const AGENT_SLEEP = 10;

const ROUNDS: { target: Target; tasks: number; activity?: HostActivity }[] = size(
  [
    { target: 'development', tasks: 1 },
    { target: 'host-activity', activity: 'commitAndPush', tasks: 1 },
  ],
  [
    ...AGENT_STAGES.flatMap((target) => [
      { target, tasks: 2 },
      { target, tasks: 2 },
    ]),
    { target: 'host-activity', activity: 'prepareWorktree', tasks: 2 },
    { target: 'host-activity', activity: 'commitAndPush', tasks: 2 },
  ],
);

describe('F1: kill -9 of a worker mid-task, a second worker alive', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('f1kill', { worker: false, heartbeat: '3s' });
    trackRemote('F1', env);
  });
  afterAll(async () => env?.cleanup());

  it(`every task ends done, each stage once, no orphan, nothing rejected (${ROUNDS.reduce((n, r) => n + r.tasks, 0)} trials)`, async () => {
    const s = scenario('F1', 'kill -9 of a worker mid-task, a second worker alive');
    await s.run(async () => {
      const base = keyBase();
      let hostSeq = 0;
      const newHost = () => `f1-${base}-${hostSeq++}`;
      const firstId = newHost();
      let victim = { id: firstId, ...(await env.spawnWorker(firstId)) };
      const killPoints: Record<string, number> = {};
      const problems: string[] = [];

      for (const [r, round] of ROUNDS.entries()) {
        const keys = Array.from({ length: round.tasks }, (_, i) => `F1-${base}-${r}-${i}`);
        // A push takes milliseconds: the remote holds each one a while, so the kill can land inside it.
        if (round.activity === 'commitAndPush') await setPushDelay(env.remote, 2);
        // A host-activity round's first agent waits while the spare worker starts (a start takes seconds
        // on a loaded machine, and a task without waits would be through its host activities by then);
        // the kill lands in a host activity after it.
        const litter = round.activity === 'prepareWorktree' ? `\n@agent-sh=analysis mkdir -p build .git/info && echo o > build/out.o && echo build/ >> .git/info/exclude` : '';
        const description = `@agent sleep=${round.target === 'host-activity' ? 'analysis' : round.target}:${AGENT_SLEEP}${litter}`;
        for (const key of keys) {
          const res = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `F1 ${round.target}`, description });
          expect(res.status).toBe(202);
        }
        // Every task has taken the victim as its host before the spare exists.
        await poll('the tasks to take the victim as host', async () => {
          for (const key of keys) if ((await taskView(env, key).catch(() => null))?.state?.host !== victim.id) return false;
          return true;
        }, 60_000);
        const spareId = newHost();
        const spare = { id: spareId, ...(await env.spawnWorker(spareId)) };

        // The kill point.
        const kindAtKill = new Map<string, string>();
        if (round.target === 'host-activity') {
          await poll(`${round.activity} running on the victim`, async () => {
            for (const key of keys) {
              const started = (await pendingActivities(env, `task-${key}`)).find((a) => a.state === STARTED && a.type === round.activity);
              if (started) {
                victim.child.kill('SIGKILL'); // at once, while it runs
                return true;
              }
            }
            return false;
          }, 60_000, 20);
        } else {
          await poll(`every ${round.target} agent running on the victim`, async () => {
            for (const key of keys) {
              const v = await taskView(env, key);
              if (!v.jobs.some((j) => j.stage === round.target && j.status === 'running' && j.host === victim.id)) return false;
            }
            return true;
          }, 90_000);
          await sleep(Math.random() * 2000); // a random phase of the heartbeat
        }
        // What each task was doing at the kill: an agent running on the victim (its job row), or
        // the host activity the server had handed to the victim.
        // (Read just after the kill: nothing on the dead worker can change them any more.)
        if (round.target !== 'host-activity') victim.child.kill('SIGKILL');
        await setPushDelay(env.remote, 0);
        const killedAt = Date.now();
        const agentsAtKill = new Map<string, string>();
        for (const key of keys) {
          const job = (await recordsView(env, key))?.jobs.find((j) => j.status === 'running' && j.host === victim.id);
          if (job) agentsAtKill.set(key, `agent:${job.stage}`);
        }
        for (const key of keys) {
          const p = (await pendingActivities(env, `task-${key}`)).find((a) => a.state === STARTED && a.type !== 'runAgent');
          const kind = agentsAtKill.get(key) ?? p?.type ?? 'between activities';
          kindAtKill.set(key, kind);
          killPoints[kind] = (killPoints[kind] ?? 0) + 1;
        }

        for (const key of keys) {
          const v = (await env.waitForStatus(key, TERMINAL_STATUSES, 180_000)) as TaskView;
          s.rec.trials++;
          s.outcome(v.task.status);
          const violations = stageViolations(v, { expectDone: true, mainSubjects: await subjects(env.remote.path) });
          s.rec.stagesOnce.of++;
          if (violations.length === 0) s.rec.stagesOnce.ok++;
          if (v.task.status !== 'done' || violations.length) {
            problems.push(`${key} (killed at ${kindAtKill.get(key)}): ${v.task.status}${v.task.failureReason ? ` (${v.task.failureReason})` : ''}; ${violations.join('; ')}; ${explain(v)}`);
          }
          // The dead worker's agents: every group recorded for its host is empty.
          const deadPids = v.jobs.filter((j) => j.host === victim.id).map((j) => j.pid);
          const orphans = await orphanGroupsAfter(deadPids, Math.max(0, killedAt + 8000 - Date.now()));
          s.rec.orphans += orphans.length;
          if (orphans.length) problems.push(`${key}: agent groups of the dead host alive: ${JSON.stringify(orphans)}`);
        }
        victim = spare;
      }
      s.rec.hookRejections = (await hookRejections(env)).length;
      s.note(`${ROUNDS.length} kills of the host worker, ${s.rec.trials} tasks hit; kill points: ${Object.entries(killPoints).map(([k, n]) => `${k} ×${n}`).join(', ')}.`);
      s.note('Checks: a dead worker is noticed through heartbeats (agent runs and the short host activities alike), its stage re-runs on the live worker, each stage passes once, the dead host\'s agent groups are gone, and the remote accepted every push as a fast-forward.');
      s.check(problems);
      expect(s.rec.hookRejections).toBe(0);
    });
  });
});
