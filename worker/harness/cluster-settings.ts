// temporal-cluster.yaml as shipped (shards, connection limits, dynamic config) but on free ports and
// with Temporal databases named after a test or bench run: several clusters share one PostgreSQL.
import path from 'node:path';
import { projectDir } from '../config/project-dir.js';
import { readClusterSettings, type ClusterSettings } from '../temporal/cluster/settings.js';
import { freePort, freePortBelow } from './free-port.js';

export async function clusterSettingsOnFreePorts(name: string, overrides: Partial<ClusterSettings> = {}): Promise<ClusterSettings> {
  const base = await readClusterSettings(path.join(projectDir, 'temporal-cluster.yaml'));
  const p = () => freePort();
  // Temporal stores membership ports as SMALLINT (see settings.ts).
  const m = () => freePortBelow(32767);
  return {
    ...base,
    services: {
      frontend: { grpc: await p(), membership: await m(), http: await p(), metrics: await p() },
      history: { grpc: await p(), membership: await m(), metrics: await p() },
      matching: { grpc: await p(), membership: await m(), metrics: await p() },
      worker: { grpc: await p(), membership: await m(), metrics: await p() },
    },
    // No Web UI unless asked for: tests and benches have no use for it.
    ui: { enabled: false, port: await p() },
    databases: { default: `temporal_${name}`, visibility: `temporal_visibility_${name}` },
    // What the dev server of the tests and benches logs at, so their logs compare.
    logLevel: 'error',
    ...overrides,
  };
}
