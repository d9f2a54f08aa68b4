// F3: PostgreSQL goes away for a few seconds in the middle of a batch of tasks. Its own embedded
// server (not the run's shared one), stopped and started again on the same data dir and port.
// Activities that touch the records retry until it answers again; every task ends `done` with
// complete records: one `done` job and one `stage-passed` event per agent stage, and the merge,
// deploy and done events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownPostgres, type OwnPostgres } from '../support/own-postgres.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { AGENT_STAGES, batchUnderWay, checkBatch, keyBase, scenario, size, tail, trackRemote } from './support.js';

const TASKS = size(3, 10);
const DOWNTIME_MS = 5000;
/** The records every task that ended done must have, in this order. */
const LIFECYCLE = ['started', ...AGENT_STAGES.map((s) => `stage-passed:${s}`), 'merge-started', 'merge-finished', 'deploy-started', 'deploy-finished', 'done'];

describe('F3: PostgreSQL restarts mid-batch', () => {
  let env: TestEnv | undefined;
  let pg: OwnPostgres | undefined;

  beforeAll(async () => {
    pg = await ownPostgres('f3');
    env = await createTestEnv('f3postgres', { worker: false, heartbeat: '3s', pgServerUrl: pg.adminUrl });
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
      const { workers, keys } = await batchUnderWay(e, 'F3', base, TASKS, [`f3-${base}-a`, `f3-${base}-b`]);

      const downMs = await pg!.restart(DOWNTIME_MS);

      // Complete records: every lifecycle event, once, in order; a done job per agent stage.
      const { problems } = await checkBatch(s, e, keys, {
        timeoutMs: 240_000,
        also: (v) => {
          const found: string[] = [];
          const lifecycle = v.events.map((ev) => (ev.type === 'stage-passed' ? `stage-passed:${ev.stage}` : ev.type)).filter((t) => LIFECYCLE.includes(t));
          if (JSON.stringify(lifecycle) !== JSON.stringify(LIFECYCLE)) found.push(`events ${lifecycle.join(' → ')}`);
          for (const stage of AGENT_STAGES) {
            const done = v.jobs.filter((j) => j.stage === stage && j.status === 'done');
            if (done.length !== 1) found.push(`${done.length} done job(s) for ${stage} (jobs: ${v.jobs.map((j) => `${j.stage}=${j.status}`).join(', ')})`);
          }
          return found;
        },
      });
      for (const w of workers) {
        if (w.child.exitCode !== null || w.child.signalCode !== null) problems.push(`worker did not survive the restart: ${w.logFile}:\n${await tail(w.logFile)}`);
      }
      s.note(`${TASKS} tasks, 2 worker processes; PostgreSQL was down ${(downMs / 1000).toFixed(1)} s mid-batch.`);
      s.note('Checks: record-writing activities retry through a database outage, and every task\'s jobs and events are complete and unduplicated afterwards.');
      s.check(problems);
      expect(s.rec.hookRejections).toBe(0);
    });
  });
});
