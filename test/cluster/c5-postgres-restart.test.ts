// C5: PostgreSQL restarts in the middle of a batch, under both Temporal (persistence and
// visibility) and orch (its records). Its own embedded server (not the run's shared one), stopped
// and started again on the same data dir and port. The four Temporal services and the workers are
// not restarted: they must ride it out, and every task must end done with complete records.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ownPostgres, type OwnPostgres } from '../support/own-postgres.js';
import { startCluster, type TemporalCluster } from '../../worker/temporal/cluster/start.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { batchUnderWay, checkBatch, countEvents, keyBase, scenario, tail, trackRemote } from '../faults/support.js';
import { clusterSettingsOnFreePorts } from './support.js';

const TASKS = 6;
const DOWNTIME_MS = 5000;

describe('C5: PostgreSQL restarts under the cluster and orch', () => {
  let env: TestEnv | undefined;
  let cluster: TemporalCluster | undefined;
  let pg: OwnPostgres | undefined;

  beforeAll(async () => {
    pg = await ownPostgres('c5');
    cluster = await startCluster({
      settings: await clusterSettingsOnFreePorts('c5'),
      databaseUrl: pg.adminUrl,
      dataDir: pg.dataDir,
      binaries: { server: inject('clusterServer'), sqlTool: inject('clusterSqlTool') },
    });
    env = await createTestEnv('c5pgrestart', { worker: false, heartbeat: '3s', temporal: { address: cluster.address, namespace: cluster.namespace }, pgServerUrl: pg.adminUrl });
    trackRemote('C5', env);
  });
  afterAll(async () => {
    await env?.cleanup();
    await cluster?.stop();
    await pg?.stop();
  });

  it(`${TASKS} tasks all end done across a PostgreSQL restart; Temporal and orch recover by themselves`, async () => {
    const s = scenario('C5', 'PostgreSQL restarts mid-batch under the cluster (persistence, visibility) and orch (records)');
    await s.run(async () => {
      const e = env!;
      const base = keyBase();
      const { workers, keys } = await batchUnderWay(e, 'C5', base, TASKS, [`c5-${base}-a`, `c5-${base}-b`]);
      const upAfterMs = await pg!.restart(DOWNTIME_MS);
      const { problems, views } = await checkBatch(s, e, keys);
      for (const svc of Object.values(cluster!.services)) {
        if (!svc.running()) problems.push(`the ${svc.service} service exited during the outage: ${svc.logFile}:\n${await tail(svc.logFile, 10)}`);
      }
      for (const w of workers) {
        if (w.child.exitCode !== null || w.child.signalCode !== null) problems.push(`worker did not survive: ${w.logFile}:\n${await tail(w.logFile)}`);
      }
      s.note(`${TASKS} tasks, 2 worker processes; PostgreSQL (Temporal's two databases and orch's) was down ${(upAfterMs / 1000).toFixed(1)} s mid-batch; ${countEvents(views, 'host-lost')} host-lost event(s).`);
      s.note('Checks: the four Temporal services and the workers are not restarted; Temporal retries its persistence and orch its record-writing activities until the database is back; every task\'s records are complete and unduplicated.');
      s.check(problems);
      expect(s.rec.hookRejections).toBe(0);
    });
  });
});
