// A production-shaped Temporal on this machine: PostgreSQL persistence and visibility (databases
// created and migrated by temporal-sql-tool), numHistoryShards > 1, and frontend, history, matching
// and worker as four processes; then the namespace and orch's search attributes, registered
// through the APIs a cluster's operator uses.
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { until } from '../../harness/until.js';
import { resolveClusterBinaries, resolveUiServer, type ClusterBinaries } from './binaries.js';
import { ensureNamespace, ensureSearchAttributes } from './register.js';
import { ensureDatabases, migrateSchema } from './schema.js';
import { sqlTargetOf, writeServerConfigs, writeUiConfig } from './server-config.js';
import { portOpen, serverArgs, serviceProcess, type ServiceProcess } from './services.js';
import { CLUSTER_SERVICES, frontendAddress, type ClusterService, type ClusterSettings } from './settings.js';

export interface StartClusterOptions {
  settings: ClusterSettings;
  /** orch's database URL: the Temporal databases go on the same server, as the same user. */
  databaseUrl: string;
  /** The cluster's config lives in <dataDir>/temporal-cluster, its logs in <dataDir>/logs. */
  dataDir: string;
  /** The binaries to run (else the cached ones, built when missing); `ui` only when settings.ui.enabled. */
  binaries?: ClusterBinaries & { ui?: string };
  log?: (line: string) => void;
  onSpawn?: (service: ClusterService | 'ui', pid: number) => void;
}

export interface TemporalCluster {
  address: string;
  namespace: string;
  services: Record<ClusterService, ServiceProcess>;
  /** The Web UI's server, when settings.ui.enabled. */
  ui: { process: ServiceProcess; url: string } | null;
  /** Stops the UI and the services, last started first. */
  stop(): Promise<void>;
}

export async function startCluster(o: StartClusterOptions): Promise<TemporalCluster> {
  const { settings: s } = o;
  const log = o.log ?? (() => undefined);
  const address = frontendAddress(s);
  const host = address.split(':')[0]!;
  const busy = [];
  for (const name of CLUSTER_SERVICES) {
    for (const [kind, port] of Object.entries(s.services[name])) if (await portOpen(host, port, 300)) busy.push(`${name}.${kind} ${port}`);
  }
  if (busy.length) {
    throw new Error(`cannot start the Temporal cluster: ports already in use (${busy.join(', ')}); stop what listens there or change temporal-cluster.yaml`);
  }
  const binaries = o.binaries ?? (await resolveClusterBinaries({ log }));
  const sql = sqlTargetOf(o.databaseUrl);
  const created = await ensureDatabases(o.databaseUrl, [s.databases.default, s.databases.visibility]);
  if (created.length) log(`temporal: created databases ${created.join(', ')}`);
  await migrateSchema(binaries.sqlTool, sql, s.databases.default, 'default');
  await migrateSchema(binaries.sqlTool, sql, s.databases.visibility, 'visibility');
  log(`temporal: schema of ${s.databases.default} and ${s.databases.visibility} up to date (temporal-sql-tool)`);
  const root = path.join(o.dataDir, 'temporal-cluster');
  await writeServerConfigs(root, s, sql);

  const services = Object.fromEntries(
    CLUSTER_SERVICES.map((service) => [
      service,
      serviceProcess({ service, command: binaries.server, args: serverArgs(root, service), host, readyPort: service === 'worker' ? s.services.worker.membership : s.services[service].grpc, logDir: path.join(o.dataDir, 'logs'), onSpawn: o.onSpawn }),
    ]),
  ) as Record<ClusterService, ServiceProcess>;
  let ui: TemporalCluster['ui'] = null;
  const stop = async () => {
    await ui?.process.stop();
    for (const name of [...CLUSTER_SERVICES].reverse()) await services[name].stop();
  };
  try {
    for (const name of CLUSTER_SERVICES) {
      await services[name].start();
      log(`temporal: ${name} (pid ${services[name].pid()}) on ${host}:${name === 'worker' ? s.services.worker.membership : s.services[name].grpc}, log ${services[name].logFile}`);
    }
    const connection = await until('the frontend to answer', () => Connection.connect({ address, connectTimeout: 2000 }).catch(() => null), 60_000, 500);
    try {
      await until('the cluster to serve requests', () => connection.workflowService.getSystemInfo({}).then(() => true, () => false), 60_000, 500);
      if (await ensureNamespace(connection, s.namespace)) log(`temporal: registered namespace ${s.namespace}`);
      const added = await ensureSearchAttributes(connection, s.namespace);
      if (added.length) log(`temporal: registered search attributes ${added.join(', ')} on ${s.namespace}`);
    } finally {
      await connection.close();
    }
    if (s.ui.enabled) {
      const uiServer = o.binaries?.ui ?? (await resolveUiServer({ log }));
      const uiRoot = path.join(root, 'ui');
      await writeUiConfig(uiRoot, s);
      const process = serviceProcess({ service: 'ui', command: uiServer, args: ['--root', uiRoot, '--config', 'config', '--env', 'orch', 'start'], host, readyPort: s.ui.port, logDir: path.join(o.dataDir, 'logs'), onSpawn: o.onSpawn });
      ui = { process, url: `http://${host}:${s.ui.port}` };
      await process.start();
      log(`temporal: Web UI ${ui.url} (pid ${process.pid()}), log ${process.logFile}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, namespace: s.namespace, services, ui, stop };
}
