// C1, C2: kill -9 of the history service (C1) or the matching service (C2) of the cluster in the
// middle of a batch, then the same service started again on the same config and ports, the three
// other services running throughout. History owns the shards (workflow state, timers, transfer
// tasks); matching owns the task queues (and the polls of every worker). Every task must end done,
// each stage advanced once, nothing left behind; the workers and the API's client are not restarted.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterService } from '../../worker/temporal/cluster/settings.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { batchUnderWay, checkBatch, countEvents, keyBase, scenario, tail, trackRemote } from '../faults/support.js';
import { testCluster } from './support.js';

const TASKS = 6;
const DOWNTIME_MS = 5000;

for (const [id, service] of [['C1', 'history'], ['C2', 'matching']] as [string, ClusterService][]) {
  describe(`${id}: kill -9 of the ${service} service mid-batch`, () => {
    let env: TestEnv | undefined;
    let cluster: Awaited<ReturnType<typeof testCluster>> | undefined;

    beforeAll(async () => {
      cluster = await testCluster(id.toLowerCase());
      env = await createTestEnv(`${id.toLowerCase()}kill`, { worker: false, heartbeat: '3s', temporal: { address: cluster.address, namespace: cluster.namespace } });
      trackRemote(id, env);
    });
    afterAll(async () => {
      await env?.cleanup();
      await cluster?.stop();
    });

    it(`${TASKS} tasks all end done across a kill -9 and restart of ${service}`, async () => {
      const s = scenario(id, `kill -9 of the ${service} service mid-batch, then a restart (PostgreSQL cluster, 4 shards)`);
      await s.run(async () => {
        const e = env!;
        const base = keyBase();
        const { workers, keys } = await batchUnderWay(e, id, base, TASKS, [`${id.toLowerCase()}-${base}-a`, `${id.toLowerCase()}-${base}-b`]);
        const victim = cluster!.services[service];
        const pid = victim.pid();
        await victim.kill();
        const downAt = Date.now();
        await sleep(DOWNTIME_MS);
        await victim.start();
        const upAfterMs = Date.now() - downAt;
        const { problems, views } = await checkBatch(s, e, keys);
        for (const w of workers) {
          if (w.child.exitCode !== null || w.child.signalCode !== null) problems.push(`worker did not survive: ${w.logFile}:\n${await tail(w.logFile)}`);
        }
        for (const other of Object.values(cluster!.services)) if (!other.running()) problems.push(`the ${other.service} service is not running after the scenario`);
        s.note(`${TASKS} tasks, 2 worker processes; ${service} (pid ${pid}) killed with SIGKILL and started again after ${(upAfterMs / 1000).toFixed(1)} s; ${countEvents(views, 'host-lost')} host-lost event(s).`);
        s.note(
          service === 'history'
            ? 'Checks: shard ownership is taken over by the restarted history process from PostgreSQL (no state lost, timers and transfer tasks resumed), the frontend and matching ride out its absence, and no stage runs to completion twice.'
            : 'Checks: the workers\' long polls fail over to the restarted matching process, tasks queued while it was down are dispatched (from PostgreSQL), and no stage runs to completion twice.',
        );
        s.check(problems);
        expect(s.rec.hookRejections).toBe(0);
      });
    });
  });
}
