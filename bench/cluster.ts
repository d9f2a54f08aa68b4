// The bench's production-shaped Temporal (worker/temporal/cluster, what `npm run cluster` runs):
// temporal-cluster.yaml as shipped (shards, connection limits, dynamic config) but on free ports,
// with Temporal databases of its own on the bench's PostgreSQL, its config and logs in the run dir.
// It hands back a Stack on the cluster, so createOrchEnv works on it as on the dev server.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { clusterSettingsOnFreePorts } from '../worker/harness/cluster-settings.js';
import type { ClusterService, ClusterSettings } from '../worker/temporal/cluster/settings.js';
import { startCluster, type TemporalCluster } from '../worker/temporal/cluster/start.js';
import { defer, say, type Stack } from './stack.js';

export interface BenchCluster {
  stack: Stack;
  cluster: TemporalCluster;
  settings: ClusterSettings;
  /** The four services' log files. */
  logFiles: string[];
  pids(): Record<ClusterService, number | null>;
}

/** Starts the cluster (stopped at clean-up) and connections to it (closed at clean-up). */
export async function startBenchCluster(dev: Stack, name: string): Promise<BenchCluster> {
  const settings = await clusterSettingsOnFreePorts(name);
  const dataDir = path.join(dev.runDir, `${name}-cluster`);
  await mkdir(dataDir, { recursive: true });
  const t0 = performance.now();
  const cluster = await startCluster({ settings, databaseUrl: dev.pgServerUrl, dataDir, log: say });
  defer(`${name}: stop the Temporal cluster`, () => cluster.stop());
  say(`${name}: cluster up in ${((performance.now() - t0) / 1000).toFixed(1)} s at ${cluster.address} (${settings.numHistoryShards} history shards)`);
  const connection = await Connection.connect({ address: cluster.address });
  defer(`${name}: close the cluster client connection`, () => connection.close());
  const nativeConnection = await NativeConnection.connect({ address: cluster.address });
  defer(`${name}: close the cluster worker connection`, () => nativeConnection.close());
  const stack: Stack = {
    ...dev,
    temporalAddress: cluster.address,
    namespace: cluster.namespace,
    client: new Client({ connection, namespace: cluster.namespace }),
    nativeConnection,
    temporalPid: null,
  };
  const services = Object.values(cluster.services);
  return {
    stack,
    cluster,
    settings,
    logFiles: services.map((s) => s.logFile),
    pids: () => Object.fromEntries(services.map((s) => [s.service, s.pid()])) as Record<ClusterService, number | null>,
  };
}
