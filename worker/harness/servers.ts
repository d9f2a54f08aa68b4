// The servers a whole integration run or bench run shares: a real Temporal dev server (free ports,
// temporal-dev.yaml's search attributes and SQLite pragmas) and an embedded PostgreSQL, both in
// one run dir, and the orch workflow bundle, built once. Each instance (instance.ts) isolates
// itself on them with its own database, task queue and directory.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startEmbeddedPostgres, type EmbeddedDb } from '../../db/embedded.js';
import { projectDir } from '../config/project-dir.js';
import { resolveTemporalCli } from '../temporal/cli.js';
import { readDevConfig, startDevServer, type DevServer } from '../temporal/dev-server.js';
import { workflowsPath } from '../workers.js';
import { freePort } from './free-port.js';

export interface ServersOptions {
  runDir: string;
  /** Names a failure: `<what> failed: …`. */
  what: string;
  /** Temporal's SQLite file, relative to runDir. */
  temporalDbFile: string;
  /** No Temporal web UI. */
  headless?: boolean;
  /** Progress lines (building the temporal CLI takes minutes the first time). */
  log?: (line: string) => void;
}

export interface Servers {
  temporal: DevServer;
  postgres: EmbeddedDb;
  temporalCliPath: string;
  /** The PostgreSQL server's admin URL (its `postgres` database), for createDatabase. */
  pgServerUrl: string;
  /** The orch workflow bundle, as a file workers and worker processes load. */
  workflowBundlePath: string;
  /** Temporal first, then PostgreSQL. */
  stop(): Promise<void>;
}

/** A bundler logger that shows only errors. */
export const quietBundleLogger = (error: (m: string) => void) =>
  ({ trace() {}, debug() {}, info() {}, warn() {}, error, log() {} }) as never;

export async function startServers(o: ServersOptions): Promise<Servers> {
  const log = o.log ?? (() => undefined);
  const temporalCliPath = await resolveTemporalCli({ log });
  const dev = await readDevConfig(path.join(projectDir, 'temporal-dev.yaml'));
  const [grpc, ui, http, metrics, pgPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const started = await Promise.allSettled([
    startDevServer({
      config: { ...dev, ports: { grpc, ui, http, metrics }, dbFile: o.temporalDbFile, logLevel: 'error', headless: o.headless ?? dev.headless },
      dataDir: o.runDir,
      cliPath: temporalCliPath,
    }),
    startEmbeddedPostgres({ dataDir: o.runDir, port: pgPort }),
    bundleWorkflowCode({ workflowsPath, logger: quietBundleLogger(log) }),
  ] as const);
  const [serverR, pgR, bundleR] = started;
  if (serverR.status === 'rejected' || pgR.status === 'rejected' || bundleR.status === 'rejected') {
    if (serverR.status === 'fulfilled') await serverR.value.stop();
    if (pgR.status === 'fulfilled') await pgR.value.stop();
    const reasons = started.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    throw new AggregateError(reasons, `${o.what} failed: ${reasons.map((r) => (r as Error).message).join('; ')}`);
  }
  const [temporal, postgres, bundle] = [serverR.value, pgR.value, bundleR.value];
  const workflowBundlePath = path.join(o.runDir, 'workflow-bundle.js');
  await writeFile(workflowBundlePath, bundle.code);
  const admin = new URL(postgres.url);
  admin.pathname = '/postgres';
  return {
    temporal,
    postgres,
    temporalCliPath,
    pgServerUrl: admin.toString(),
    workflowBundlePath,
    stop: async () => {
      await temporal.stop();
      await postgres.stop();
    },
  };
}
