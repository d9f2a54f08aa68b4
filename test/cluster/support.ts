// Shared helpers of the `cluster` project (`npm run test:cluster`): a production-shaped Temporal
// (worker/temporal/cluster) on free ports with databases of its own, and its settings file for a
// whole `npm run cluster` stack.
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inject } from 'vitest';
import { stringify } from 'yaml';
import { clusterSettingsOnFreePorts } from '../../worker/harness/cluster-settings.js';
import type { ClusterSettings } from '../../worker/temporal/cluster/settings.js';
import { startCluster, type TemporalCluster } from '../../worker/temporal/cluster/start.js';

export { clusterSettingsOnFreePorts };

declare module 'vitest' {
  export interface ProvidedContext {
    clusterServer: string;
    clusterSqlTool: string;
  }
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
