// The composition root: one orch (its database, migrated; its records; its Temporal client; and, on
// demand, its workers and its API) wired in one place for the worker process, the API process,
// the tests and the bench. close() undoes exactly what createOrch and its methods opened.
import type { Server } from 'node:http';
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { createApp } from '../api/app.js';
import type { ApiMetrics } from '../api/metrics.js';
import { checkDatabase, connectDb, runMigrations } from '../db/client.js';
import { createRecords } from '../db/records.js';
import type { PipelineConfig } from '../workflows/contracts/index.js';
import type { PlaneConfig } from './config/env.js';
import type { Runtime } from './config/runtime.js';
import type { Logger } from './log.js';
import { connectClient, connectWorkerConnection, type TemporalAuth, type TemporalTarget } from './temporal/connection.js';
import { ensurePlaneReconcileSchedule } from './plane-reconcile-schedule.js';
import { createOrchWorkers, type OrchWorkers } from './workers.js';

/** The reconciler's interval when it can run: the Plane API configured, projects mapped, not off. */
export function planeReconcileInterval(plane: PlaneConfig | undefined): number | null {
  if (!plane?.baseUrl || !plane.apiKey || !plane.workspaceSlug || Object.keys(plane.projects).length === 0) return null;
  return plane.reconcileIntervalMs;
}

export interface OrchOptions {
  pipeline: PipelineConfig;
  /** orch's data directory: worktrees, mirrors, logs. */
  dataDir: string;
  /** The orch checkout (bin/, docs/). */
  projectDir: string;
  /** The shared task queue; each set of workers also serves its host's own queue. */
  taskQueue: string;
  /** SIGTERM → SIGKILL grace when an agent's process group is stopped. */
  killGraceMs: number;
  /** The Plane bridge; without it the webhook answers 503 and no progress comment is sent. */
  plane?: PlaneConfig;
  /** A prebuilt workflow bundle (`bundleWorkflowCode`); otherwise each set of workers bundles at start. */
  workflowBundle?: string;
  database: {
    url: string;
    /** Connections in the pool (postgres.js's 10 by default). */
    poolSize?: number;
  };
  temporal: {
    target: TemporalTarget;
    auth?: TemporalAuth;
    /** A client to use instead of connecting one; close() leaves it open for its owner. */
    client?: Client;
    /** A native connection every set of workers shares; otherwise each connects its own, closed by close(). */
    nativeConnection?: NativeConnection;
  };
  /** The workers' start-up recovery lines (agent groups killed, worktrees swept). */
  log?: (line: string) => void;
  /** The workers' start-up warnings (agents run unsandboxed); `log` when not given. */
  warn?: (line: string) => void;
}

export interface ApiOptions {
  host: string;
  /** 0: any free port (read it from the returned server's address()). */
  port: number;
  /** Bearer token for everything but /healthz and the webhook; none only on loopback. */
  token?: string;
  log?: Logger;
  /** GET /metrics; created from the database pool when not given. */
  metrics?: ApiMetrics;
}

export interface RunningWorkers extends OrchWorkers {
  /** Settles when both workers have stopped: shutdown(), a signal, or a fatal error. */
  done: Promise<void>;
}

export type Orch = Awaited<ReturnType<typeof createOrch>>;

export async function createOrch(o: OrchOptions) {
  await checkDatabase(o.database.url);
  await runMigrations(o.database.url);
  const client = o.temporal.client ?? (await connectClient(o.temporal.target, o.temporal.auth));
  const database = connectDb(o.database.url, { max: o.database.poolSize });
  const records = createRecords(database.db);
  const started: { workers: RunningWorkers; connection: NativeConnection | undefined }[] = [];
  let server: Server | undefined;

  /** Starts this host's workers (shared queue and host queue), polling until shutdown() or close(). */
  async function startWorkers(hostId: string, log = o.log, warn = o.warn ?? log): Promise<RunningWorkers> {
    const own = o.temporal.nativeConnection ? undefined : await connectWorkerConnection(o.temporal.target, o.temporal.auth);
    try {
      const workers = await createOrchWorkers({
        connection: own ?? o.temporal.nativeConnection!,
        namespace: o.temporal.target.namespace,
        client,
        records,
        db: database.db,
        pipeline: o.pipeline,
        hostId,
        dataDir: o.dataDir,
        projectDir: o.projectDir,
        taskQueue: o.taskQueue,
        killGraceMs: o.killGraceMs,
        plane: o.plane,
        workflowBundle: o.workflowBundle ? { codePath: o.workflowBundle } : undefined,
        log,
        warn,
      });
      const running = Object.assign(workers, { done: workers.run() });
      started.push({ workers: running, connection: own });
      // Idempotent: every worker start makes sure the schedule matches the config.
      const intervalMs = planeReconcileInterval(o.plane);
      await ensurePlaneReconcileSchedule(client, { taskQueue: o.taskQueue, intervalMs }).then(
        (change) => (change === 'absent' ? undefined : log?.(`worker: Plane reconciler schedule ${change}${intervalMs ? ` (every ${intervalMs / 1000} s)` : ''}`)),
        (err: Error) => warn?.(`worker: could not set up the Plane reconciler's schedule: ${err.message}`),
      );
      return running;
    } catch (err) {
      await own?.close().catch(() => undefined);
      throw err;
    }
  }

  /** Serves the API; resolves once it listens, rejects if it cannot. close() stops it. */
  function serveApi(a: ApiOptions): Promise<Server> {
    const app = createApp({
      client,
      db: database.db,
      records,
      pipeline: o.pipeline,
      taskQueue: o.taskQueue,
      temporalAddress: o.temporal.target.address,
      apiToken: a.token,
      dataDir: o.dataDir,
      plane: o.plane,
      log: a.log,
      metrics: a.metrics,
    });
    const listening = app.listen(a.port, a.host);
    server = listening;
    return new Promise((resolve, reject) => {
      listening.once('listening', () => resolve(listening));
      listening.once('error', reject);
    });
  }

  let closing: Promise<void> | undefined;
  /** Workers first (they finish what they hold), then the API, the pool and the client. */
  function close(): Promise<void> {
    closing ??= (async () => {
      for (const s of started) s.workers.shutdown();
      await Promise.all(started.map((s) => s.workers.done.catch(() => undefined)));
      await Promise.all(started.map((s) => s.connection?.close().catch(() => undefined)));
      const open = server;
      if (open?.listening) await new Promise((resolve) => open.close(resolve));
      await database.close();
      if (!o.temporal.client) await client.connection.close();
    })();
    return closing;
  }

  return { database, db: database.db, sql: database.sql, records, client, startWorkers, serveApi, close };
}

/** An orch process's options (the worker's, the API's): from its environment and orch.yaml. */
export function processOrchOptions(rt: Runtime, log?: (line: string) => void, warn?: (line: string) => void): OrchOptions {
  const { config } = rt;
  return {
    pipeline: rt.pipeline,
    dataDir: config.dataDir,
    projectDir: config.projectDir,
    taskQueue: config.taskQueue,
    killGraceMs: config.killGraceMs,
    plane: config.plane,
    workflowBundle: config.workflowBundle,
    database: { url: rt.databaseUrl },
    temporal: { target: rt.temporal, auth: config.temporal },
    log,
    warn,
  };
}
