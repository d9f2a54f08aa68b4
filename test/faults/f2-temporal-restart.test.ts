// F2: the Temporal server restarts in the middle of a batch of tasks. Its own dev server (not the
// run's shared one), with its history in a SQLite file: stopped, then started again on the same
// file and the same ports. Two worker processes and the API's client must reconnect by themselves,
// and every task must end `done`, each stage advanced once.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevServer } from '../../worker/temporal/dev-server.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { batchUnderWay, checkBatch, keyBase, ownDevServer, scenario, size, tail, taskView, trackRemote } from './support.js';

const TASKS = size(3, 10);
const DOWNTIME_MS = 5000;

describe('F2: the Temporal server restarts mid-batch', () => {
  let env: TestEnv | undefined;
  let server: DevServer | undefined;
  let startServer: () => Promise<DevServer>;

  beforeAll(async () => {
    startServer = (await ownDevServer('f2')).start;
    server = await startServer();
    env = await createTestEnv('f2temporal', { worker: false, heartbeat: '3s', temporal: { address: server.address, namespace: server.namespace } });
    trackRemote('F2', env);
  });
  afterAll(async () => {
    await env?.cleanup();
    await server?.stop();
  });

  it(`${TASKS} tasks all end done across a restart; workers and clients reconnect`, async () => {
    const s = scenario('F2', 'the Temporal dev server restarts mid-batch (same SQLite file, same ports)');
    await s.run(async () => {
      const e = env!;
      const base = keyBase();
      // Mid-batch: some work done, agents running.
      const { workers, keys } = await batchUnderWay(e, 'F2', base, TASKS, [`f2-${base}-a`, `f2-${base}-b`]);
      const before = await Promise.all(keys.map((k) => taskView(e, k)));
      const stagesBefore = before.reduce((n, v) => n + v.events.filter((ev) => ev.type === 'stage-passed').length, 0);

      await server!.stop();
      const downAt = Date.now();
      await sleep(DOWNTIME_MS);
      server = await startServer();
      const upAfterMs = Date.now() - downAt;

      const { problems } = await checkBatch(s, e, keys, { timeoutMs: 240_000 });
      // The worker processes lived through it (they were not restarted by anyone).
      for (const w of workers) {
        if (w.child.exitCode !== null || w.child.signalCode !== null) problems.push(`worker did not survive the restart: ${w.logFile}:\n${await tail(w.logFile)}`);
      }
      const hostLost = (await Promise.all(keys.map((k) => taskView(e, k)))).reduce((n, v) => n + v.events.filter((ev) => ev.type === 'host-lost').length, 0);
      s.note(`${TASKS} tasks, 2 worker processes; the server was down ${(upAfterMs / 1000).toFixed(1)} s with ${stagesBefore} of ${TASKS * 4} agent stages passed; ${hostLost} host-lost event(s) after the restart.`);
      s.note('Checks: workflow state survives a server restart (SQLite history), workers and the API client reconnect without a restart of their own, and no stage runs to completion twice.');
      s.check(problems);
      expect(s.rec.hookRejections).toBe(0);
    });
  });
});
