// The Temporal server's own config (v1.29.1's format, after config/development-postgres12.yaml in
// the server module): one file per service process, identical but for its metrics port (each
// process serves its own Prometheus endpoint), plus the dynamic config file they all watch.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { ClusterService, ClusterSettings } from './settings.js';
import { CLUSTER_SERVICES, frontendAddress } from './settings.js';

/** Where and as whom the services reach PostgreSQL. */
export interface SqlTarget {
  host: string;
  port: number;
  user: string;
  password: string;
}

export function sqlTargetOf(databaseUrl: string): SqlTarget {
  const u = new URL(databaseUrl);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}

function datastore(sql: SqlTarget, database: string, maxConns: number) {
  return {
    sql: {
      pluginName: 'postgres12',
      databaseName: database,
      connectAddr: `${sql.host}:${sql.port}`,
      connectProtocol: 'tcp',
      user: sql.user,
      password: sql.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  };
}

/** The config object of one service process. */
export function serverConfig(s: ClusterSettings, sql: SqlTarget, service: ClusterService, dynamicConfigFile: string) {
  const rpc = (name: ClusterService) => {
    const p = s.services[name];
    return { rpc: { grpcPort: p.grpc, membershipPort: p.membership, bindOnIP: s.ip, ...('http' in p ? { httpPort: p.http } : {}) } };
  };
  return {
    log: { stdout: true, level: s.logLevel },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: s.numHistoryShards,
      datastores: {
        'postgres-default': datastore(sql, s.databases.default, s.maxConns.default),
        'postgres-visibility': datastore(sql, s.databases.visibility, s.maxConns.visibility),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: s.ip === '0.0.0.0' ? '127.0.0.1' : s.ip },
      metrics: {
        prometheus: { framework: 'tally', timerType: 'histogram', listenAddress: `${s.ip}:${s.services[service].metrics}` },
      },
    },
    services: Object.fromEntries(CLUSTER_SERVICES.map((name) => [name, rpc(name)])),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: frontendAddress(s) } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    // The history, matching and worker services reach the frontend here (the worker service's system workflows).
    publicClient: { hostPort: frontendAddress(s) },
    dynamicConfigClient: { filepath: dynamicConfigFile, pollInterval: '10s' },
  };
}

/** Dynamic config in the server's file format: each key a list of (value, constraints). */
export const dynamicConfigFile = (values: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [k, [{ value: v, constraints: {} }]]));

/**
 * Writes `<dir>/config/<service>.yaml` for each service and `<dir>/config/dynamicconfig.yaml`;
 * the server reads `--root <dir> --config config --env <service>`. Files are 0600: they hold the
 * database password.
 */
export async function writeServerConfigs(dir: string, s: ClusterSettings, sql: SqlTarget): Promise<string> {
  const configDir = path.join(dir, 'config');
  await mkdir(configDir, { recursive: true, mode: 0o700 });
  const dynamic = path.join(configDir, 'dynamicconfig.yaml');
  await writeFile(dynamic, stringify(dynamicConfigFile(s.dynamicConfig)), { mode: 0o600 });
  for (const service of CLUSTER_SERVICES) {
    const header = `# Written by orch (worker/temporal/cluster/server-config.ts) from temporal-cluster.yaml; rewritten at each start.\n`;
    await writeFile(path.join(configDir, `${service}.yaml`), header + stringify(serverConfig(s, sql, service, dynamic)), { mode: 0o600 });
  }
  return configDir;
}

/** The Web UI server's config (`<dir>/config/orch.yaml`): the frontend, its port, the namespace it opens on. */
export async function writeUiConfig(dir: string, s: ClusterSettings): Promise<void> {
  const configDir = path.join(dir, 'config');
  await mkdir(configDir, { recursive: true });
  const config = { temporalGrpcAddress: frontendAddress(s), host: s.ip, port: s.ui.port, enableUi: true, defaultNamespace: s.namespace, publicPath: '', notifyOnNewVersion: false };
  await writeFile(path.join(configDir, 'orch.yaml'), stringify(config));
}
