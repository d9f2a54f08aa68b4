// F7: a hung worker (SIGSTOP: alive, silent) while it runs agents, a second worker alive. Its
// heartbeats stop, the stage re-runs on the other worker, and after SIGCONT its stale attempt
// advances nothing: each stage passes once, the stale job row does not become `done`, there is one
// commit per stage on `main`, and the stale agent group is killed once the resumed worker learns
// (from its next heartbeat) that its activity timed out — well before the agent would have ended.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/env.js';
import {
  explain,
  hookRejections,
  keyBase,
  liveGroups,
  orphanGroupsAfter,
  poll,
  pool,
  recordsView,
  scenario,
  size,
  stageViolations,
  subjects,
  taskView,
  trackRemote,
  worktreesLeft,
  type AgentStage,
  type TaskView,
} from './support.js';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';

/**
 * The hung worker's agents, in the targeted stage, take this long (a `node` shim on its PATH only):
 * they still run when it resumes, so who ends them is unambiguous. The live worker's are quick.
 */
const SLOW_AGENT_S = 600;
const ROUNDS: { stage: AgentStage; tasks: number }[] = size(
  [{ stage: 'development', tasks: 1 }],
  [
    { stage: 'design', tasks: 2 },
    { stage: 'development', tasks: 2 },
    { stage: 'review', tasks: 2 },
  ],
);

describe('F7: a SIGSTOPped worker, a second worker alive', () => {
  const envs: TestEnv[] = [];
  afterEach(async () => {
    await Promise.all(envs.splice(0).map((e) => e.cleanup()));
  });

  it(`the stale attempt advances nothing and its agent is killed after SIGCONT (${ROUNDS.reduce((n, r) => n + r.tasks, 0)} trials)`, async () => {
    const s = scenario('F7', 'a SIGSTOPped (hung, not dead) worker mid-agent, a second worker alive');
    await s.run(async () => {
      const problems: string[] = [];
      const killDelays: number[] = [];
      const moveDelays: number[] = [];
      const staleStatuses: Record<string, number> = {};
      let staleWorktrees = 0;
      // Rounds run side by side (each its own env and pair of workers): they mostly wait for timeouts.
      await pool([...ROUNDS.entries()], ROUNDS.length, async ([r, round]) => {
        const env = await createTestEnv(`f7hang${r}`, { worker: false, heartbeat: '3s' });
        envs.push(env);
        trackRemote('F7', env);
        const base = keyBase();
        // Agents are `node test-agent.mjs --stage <stage>`, found on the worker's PATH.
        const shimDir = path.join(env.dir, 'slow-node');
        await mkdir(shimDir, { recursive: true });
        await writeFile(
          path.join(shimDir, 'node'),
          `#!/bin/sh\ncase "$*" in *test-agent.mjs*"--stage ${round.stage}"*) echo "[slow-node] this host's ${round.stage} agent is slow"; sleep ${SLOW_AGENT_S} ;; esac\nexec ${JSON.stringify(process.execPath)} "$@"\n`,
          { mode: 0o755 },
        );
        const hung = { id: `f7-${base}-a`, ...(await env.spawnWorker(`f7-${base}-a`, { PATH: `${shimDir}${path.delimiter}${process.env.PATH ?? ''}` })) };
        const keys = Array.from({ length: round.tasks }, (_, i) => `F7-${base}-${i}`);
        for (const key of keys) {
          expect((await env.api('POST', '/api/tasks', { key, repo: 'demo', title: 'F7', description: 'F7' })).status).toBe(202);
        }
        await poll('the tasks to take the first worker as host', async () => {
          for (const key of keys) if ((await taskView(env, key).catch(() => null))?.state?.host !== hung.id) return false;
          return true;
        }, 60_000);
        const liveId = `f7-${base}-b`;
        await env.spawnWorker(liveId);
        const stale = await poll(`every ${round.stage} agent running on the first worker`, async () => {
          const jobs = [];
          for (const key of keys) {
            const j = (await recordsView(env, key))?.jobs.find((x) => x.stage === round.stage && x.status === 'running' && x.host === hung.id);
            if (!j) return false;
            jobs.push({ key, ...j });
          }
          return jobs;
        }, 90_000);

        hung.child.kill('SIGSTOP');
        const stoppedAt = Date.now();
        try {
          // The heartbeat timeout moves each stage to the live worker.
          await poll('the stages to move to the live worker', async () => {
            for (const key of keys) {
              const v = await recordsView(env, key);
              if (!v || !v.events.some((e) => e.type === 'host-lost')) return false;
              if (!v.jobs.some((j) => j.stage === round.stage && j.host === liveId)) return false;
            }
            return true;
          }, 240_000, 250).catch(async (err: Error) => {
            const why = await Promise.all(keys.map(async (k) => `${k}: ${explain((await recordsView(env, k))!)}\n${await env.diagnose(`task-${k}`)}`));
            throw new Error(`${err.message}\n${why.join('\n')}`);
          });
          moveDelays.push(Date.now() - stoppedAt);
          s.note(`round ${r + 1} (${round.stage}): the stage ran again on the live worker ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after SIGSTOP.`);
          // The stale agents still run (their worker is frozen, not dead: the lifeline pipe is open).
          for (const j of stale) if (liveGroups([j.pid]).length === 0) problems.push(`${j.key}: the stale agent ended before SIGCONT; the test cannot show who killed it`);
        } finally {
          hung.child.kill('SIGCONT');
        }
        const resumedAt = Date.now();

        // The resumed worker's next heartbeat answers "timed out": it kills the stale group.
        for (const j of stale) {
          const left = await orphanGroupsAfter([j.pid], 15_000);
          if (left.length) {
            problems.push(`${j.key}: the stale agent group ${j.pid} is still alive ${((Date.now() - resumedAt) / 1000).toFixed(1)} s after SIGCONT`);
            continue;
          }
          killDelays.push(Date.now() - resumedAt);
          const log = await readFile(j.logFile!, 'utf8').catch(() => '');
          const ended = new RegExp(`\\[agent-guard ${j.pid}\\] agent \\d+ exited with (.*)`).exec(log)?.[1] ?? '(no exit line)';
          // In the sandbox the guard's child is bwrap, which reports a signal's death as 128 + its number.
          if (!/signal SIG(TERM|KILL)|code 1(43|37)$/.test(ended)) problems.push(`${j.key}: the stale agent was not killed: it ${ended}`);
        }

        for (const key of keys) {
          const v = (await env.waitForStatus(key, TERMINAL_STATUSES, 180_000)) as TaskView;
          s.rec.trials++;
          s.outcome(v.task.status);
          if (v.task.status !== 'done') problems.push(`${key}: ended ${v.task.status} (${v.task.failureReason ?? ''})`);
          const violations = stageViolations(v, { expectDone: true, mainSubjects: await subjects(env.remote.path) });
          s.rec.stagesOnce.of++;
          if (violations.length === 0) s.rec.stagesOnce.ok++;
          else problems.push(`${key}: ${violations.join('; ')}; ${explain(v)}`);
          const staleJob = v.jobs.find((j) => j.id === stale.find((x) => x.key === key)!.id)!;
          staleStatuses[staleJob.status] = (staleStatuses[staleJob.status] ?? 0) + 1;
          if (staleJob.status === 'done') problems.push(`${key}: the stale job became done`);
          const orphans = await orphanGroupsAfter(v.jobs.map((j) => j.pid), 5000);
          s.rec.orphans += orphans.length;
          if (orphans.length) problems.push(`${key}: live agent groups ${JSON.stringify(orphans)}`);
        }
        // Not asserted (see F2): the resumed worker keeps the stale attempt's worktree.
        for (const key of keys) if ((await worktreesLeft(env, key)).length) staleWorktrees++;
        s.rec.hookRejections += (await hookRejections(env)).length;
        await env.cleanup();
        envs.splice(envs.indexOf(env), 1);
      });
      const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      s.note(`${ROUNDS.length} SIGSTOP(s) of the host worker during ${ROUNDS.map((r) => `${r.stage} (${r.tasks} task${r.tasks > 1 ? 's' : ''})`).join(', ')}; SIGCONT once the stage had moved.`);
      s.note(`stale agent groups killed ${killDelays.length ? `${fmt(Math.min(...killDelays))}–${fmt(Math.max(...killDelays))}` : '—'} after SIGCONT (they would have run ${SLOW_AGENT_S} s); stale job rows: ${Object.entries(staleStatuses).map(([k, n]) => `${k} ×${n}`).join(', ')}; worktrees of the stale attempt left on the resumed worker after done: ${staleWorktrees} of ${s.rec.trials}.`);
      s.note('Checks: a hung worker is treated like a dead one (heartbeat timeout), its late result is refused, its stale job never turns `done`, no stage commits twice, and its agent is killed when it wakes up.');
      s.check(problems);
      expect(s.rec.hookRejections).toBe(0);
    });
  });
});
