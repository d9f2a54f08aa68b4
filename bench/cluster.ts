// The bench's production-shaped Temporal (worker/temporal/cluster, what `npm run cluster` runs):
// temporal-cluster.yaml as shipped (shards, connection limits, dynamic config) but on free ports,
// with Temporal databases of its own on the bench's PostgreSQL, its config and logs in the run dir.
// It hands back a Stack on the cluster, so createOrchEnv works on it as on the dev server.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { projectDir } from '../worker/config/project-dir.js';
import { freePort, freePortBelow } from '../worker/harness/free-port.js';
import { readClusterSettings, type ClusterService, type ClusterSettings } from '../worker/temporal/cluster/settings.js';
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

async function onFreePorts(base: ClusterSettings, name: string): Promise<ClusterSettings> {
  // Temporal keeps membership ports in a SMALLINT column (settings.ts).
  const m = () => freePortBelow(32767);
  const p = () => freePort();
  return {
    ...base,
    services: {
      frontend: { grpc: await p(), membership: await m(), http: await p(), metrics: await p() },
      history: { grpc: await p(), membership: await m(), metrics: await p() },
      matching: { grpc: await p(), membership: await m(), metrics: await p() },
      worker: { grpc: await p(), membership: await m(), metrics: await p() },
    },
    ui: { port: await p() },
    databases: { default: `temporal_${name}`, visibility: `temporal_visibility_${name}` },
    // The dev server of the bench stack logs at `error`: the same level here, so their logs compare.
    logLevel: 'error',
  };
}

/** Starts the cluster (stopped at clean-up) and connections to it (closed at clean-up). */
export async function startBenchCluster(dev: Stack, name: string): Promise<BenchCluster> {
  const settings = await onFreePorts(await readClusterSettings(path.join(projectDir, 'temporal-cluster.yaml')), name);
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
