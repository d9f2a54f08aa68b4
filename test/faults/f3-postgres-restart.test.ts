// F3: PostgreSQL goes away for a few seconds in the middle of a batch of tasks. Its own embedded
// server (not the run's shared one), stopped and started again on the same data dir and port.
// Activities that touch the records retry until it answers again; every task ends `done` with
// complete records: one `done` job and one `stage-passed` event per agent stage, and the merge,
// deploy and done events.
import { chmod, mkdtemp } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDb } from '../../db/embedded.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { freePort } from '../../worker/harness/free-port.js';
import {
  AGENT_STAGES,
  explain,
  hookRejections,
  keyBase,
  orphanGroupsAfter,
  poll,
  scenario,
  size,
  stageViolations,
  subjects,
  tail,
  startBatchUnderWay,
  taskView,
  trackRemote,
  type TaskView,
  worktreesLeft,
} from './support.js';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';

const TASKS = size(3, 10);
const DOWNTIME_MS = 5000;
/** The records every task that ended done must have, in this order. */
const LIFECYCLE = ['started', ...AGENT_STAGES.map((s) => `stage-passed:${s}`), 'merge-started', 'merge-finished', 'deploy-started', 'deploy-finished', 'done'];

describe('F3: PostgreSQL restarts mid-batch', () => {
  let env: TestEnv | undefined;
  let pg: EmbeddedDb | undefined;
  let startPg: () => Promise<EmbeddedDb>;

  beforeAll(async () => {
    const dataDir = await mkdtemp(path.join(inject('runDir'), 'f3-pg-'));
    // As root, PostgreSQL runs as the `postgres` user, which must be able to enter the dir.
    if (userInfo().uid === 0) await chmod(dataDir, 0o755);
    const port = await freePort();
    startPg = () => startEmbeddedPostgres({ dataDir, port });
    pg = await startPg();
    const admin = new URL(pg.url);
    admin.pathname = '/postgres';
    env = await createTestEnv('f3postgres', { worker: false, heartbeat: '3s', pgServerUrl: admin.toString() });
    trackRemote('F3', env);
  });
  afterAll(async () => {
    await env?.cleanup();
    await pg?.stop();
  });

  it(`${TASKS} tasks all end done with complete records across a restart`, async () => {
    const s = scenario('F3', 'PostgreSQL restarts mid-batch (same data dir, same port)');
    await s.run(async () => {
      const e = env!;
      const base = keyBase();
      // Mid-batch: some work done, agents running.
      const { workers, keys } = await startBatchUnderWay(e, 'F3', base, TASKS);

      await pg!.stop();
      const downAt = Date.now();
      await sleep(DOWNTIME_MS);
      pg = await startPg();
      const downMs = Date.now() - downAt;

      const problems: string[] = [];
      for (const key of keys) {
        const v = (await e.waitForStatus(key, TERMINAL_STATUSES, 240_000)) as TaskView;
        s.rec.trials++;
        s.outcome(v.task.status);
        if (v.task.status !== 'done') problems.push(`${key}: ${v.task.status} (${v.task.failureReason ?? ''})`);
        const violations = stageViolations(v, { expectDone: true, mainSubjects: await subjects(e.remote.path) });
        s.rec.stagesOnce.of++;
        if (violations.length === 0) s.rec.stagesOnce.ok++;
        else problems.push(`${key}: ${violations.join('; ')}; ${explain(v)}`);
        // Complete records: every lifecycle event, once, in order; a done job per agent stage.
        const lifecycle = v.events
          .map((ev) => (ev.type === 'stage-passed' ? `stage-passed:${ev.stage}` : ev.type))
          .filter((t) => LIFECYCLE.includes(t));
        if (JSON.stringify(lifecycle) !== JSON.stringify(LIFECYCLE)) problems.push(`${key}: events ${lifecycle.join(' → ')}`);
        for (const stage of AGENT_STAGES) {
          const done = v.jobs.filter((j) => j.stage === stage && j.status === 'done');
          if (done.length !== 1) problems.push(`${key}: ${done.length} done job(s) for ${stage} (jobs: ${v.jobs.map((j) => `${j.stage}=${j.status}`).join(', ')})`);
        }
        const orphans = await orphanGroupsAfter(v.jobs.map((j) => j.pid));
        const worktrees = await worktreesLeft(e, key);
        s.rec.orphans += orphans.length + worktrees.length;
        if (orphans.length) problems.push(`${key}: live agent groups ${JSON.stringify(orphans)}`);
        if (worktrees.length) problems.push(`${key}: worktrees left ${worktrees.join(', ')}`);
      }
      for (const w of workers) {
        if (w.child.exitCode !== null || w.child.signalCode !== null) problems.push(`worker did not survive the restart: ${w.logFile}:\n${await tail(w.logFile)}`);
      }
      s.rec.hookRejections = (await hookRejections(e)).length;
      s.note(`${TASKS} tasks, 2 worker processes; PostgreSQL was down ${(downMs / 1000).toFixed(1)} s mid-batch.`);
      s.note('Checks: record-writing activities retry through a database outage, and every task\'s jobs and events are complete and unduplicated afterwards.');
      s.check(problems);
      expect(s.rec.hookRejections).toBe(0);
    });
  });
});
