// Shared helpers of the `cluster` project (`npm run test:cluster`): a production-shaped Temporal
// (worker/temporal/cluster) on free ports with databases of its own, and its settings file for a
// whole `npm run cluster` stack.
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inject } from 'vitest';
import { stringify } from 'yaml';
import { projectDir } from '../../worker/config/project-dir.js';
import { freePort, freePortBelow } from '../../worker/harness/free-port.js';
import { readClusterSettings, type ClusterSettings } from '../../worker/temporal/cluster/settings.js';
import { startCluster, type TemporalCluster } from '../../worker/temporal/cluster/start.js';

declare module 'vitest' {
  export interface ProvidedContext {
    clusterServer: string;
    clusterSqlTool: string;
  }
}

/** temporal-cluster.yaml with every port a free one and the databases named after `name`. */
export async function clusterSettingsOnFreePorts(name: string, overrides: Partial<ClusterSettings> = {}): Promise<ClusterSettings> {
  const base = await readClusterSettings(path.join(projectDir, 'temporal-cluster.yaml'));
  const p = () => freePort();
  // Temporal stores membership ports as SMALLINT (see settings.ts).
  const m = () => freePortBelow(32767);
  const services = {
    frontend: { grpc: await p(), membership: await m(), http: await p(), metrics: await p() },
    history: { grpc: await p(), membership: await m(), metrics: await p() },
    matching: { grpc: await p(), membership: await m(), metrics: await p() },
    worker: { grpc: await p(), membership: await m(), metrics: await p() },
  };
  return {
    ...base,
    services,
    // No Web UI unless a test asks for one (the fault scenarios have no use for it).
    ui: { enabled: false, port: await p() },
    databases: { default: `temporal_${name}`, visibility: `temporal_visibility_${name}` },
    logLevel: 'error',
    ...overrides,
  };
}

/** Writes settings as a temporal-cluster.yaml (for ORCH_TEMPORAL_CLUSTER_CONFIG). */
export const writeClusterSettings = (file: string, s: ClusterSettings) => writeFile(file, stringify(s));

/**
 * A cluster of the test's own on the run's PostgreSQL (its own two databases), with its config and
 * logs in a dir under the run dir. `stop` ends all four services.
 */
export async function testCluster(name: string): Promise<TemporalCluster & { settings: ClusterSettings; dataDir: string }> {
  const settings = await clusterSettingsOnFreePorts(name);
  const dataDir = await mkdtemp(path.join(inject('runDir'), `${name}-cluster-`));
  await chmod(dataDir, 0o755);
  const admin = new URL(inject('pgServerUrl'));
  const cluster = await startCluster({
    settings,
    databaseUrl: admin.toString(),
    dataDir,
    binaries: { server: inject('clusterServer'), sqlTool: inject('clusterSqlTool') },
  });
  return { ...cluster, settings, dataDir };
}
