// Builds one orch worker process: the shared-queue worker (workflows + shared activities) and the
// host worker (activities bound to this host's own task queue: worktrees and agent processes).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, killRecordedGroups, reconcileHost } from '../activities/index.js';
import { createSandbox } from '../activities/adapters/bwrap.js';
import type { Sandbox } from '../activities/adapters/sandbox.js';
import { createPlaneReconcileTarget } from '../api/plane/reconcile.js';
import { createTaskService } from '../api/task-service.js';
import type { PlaneConfig } from './config/env.js';
import type { Db } from '../db/client.js';
import type { Records } from '../db/records.js';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { hostTaskQueue, SANDBOX_STATUS_FILE, TASK_QUEUE, type HostSandboxStatus, type PipelineConfig } from '../workflows/contracts/index.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface OrchWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  client: Client;
  records: Records;
  db: Db;
  pipeline: PipelineConfig;
  hostId: string;
  dataDir: string;
  projectDir: string;
  /** A prebuilt bundle (tests build one once); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleOption;
  /** Defaults to `orch`; tests use their own queue to stay isolated. */
  taskQueue?: string;
  killGraceMs?: number;
  /** The Plane API (progress comments) and bridge config (the reconciler's projects and states). */
  plane?: PlaneConfig;
  /** Contains agent runs and gates; created from `pipeline.sandbox` when not given. */
  sandbox?: Sandbox;
  log?: (line: string) => void;
  /** Start-up lines that need the operator's attention (an unsandboxed host); `log` when not given. */
  warn?: (line: string) => void;
}

export interface OrchWorkers {
  shared: Worker;
  host: Worker;
  run(): Promise<void>;
  shutdown(): void;
}

export async function createOrchWorkers(o: OrchWorkerOptions): Promise<OrchWorkers> {
  const heartbeatMs = msToNumber(o.pipeline.timeouts.heartbeat);
  // mode bwrap without a working bwrap throws here: the worker does not start.
  const sandbox = o.sandbox ?? createSandbox(o.pipeline.sandbox, { dataDir: o.dataDir });
  await recordSandboxStatus(o, sandbox);
  const deps = {
    hostId: o.hostId,
    taskQueue: o.taskQueue ?? TASK_QUEUE,
    dataDir: o.dataDir,
    projectDir: o.projectDir,
    pipeline: o.pipeline,
    records: o.records,
    db: o.db,
    client: o.client,
    // Several beats per timeout, so one late beat never looks like a dead worker.
    heartbeatEveryMs: Math.max(200, Math.min(5000, Math.floor(heartbeatMs / 4))),
    killGraceMs: o.killGraceMs ?? 3000,
    plane: o.plane,
    // The reconciler starts and stops tasks exactly as the webhook does (api/plane).
    planeReconcile: o.plane && {
      config: o.plane,
      tasks: createPlaneReconcileTarget({
        tasks: createTaskService({ client: o.client, records: o.records, pipeline: o.pipeline, taskQueue: o.taskQueue ?? TASK_QUEUE }),
        records: o.records,
        plane: o.plane,
      }),
    },
    sandbox,
  };

  // Crash recovery: an earlier incarnation of this host may have left agent groups behind, and
  // tasks that ended without compensation (terminated) may have left worktrees.
  // With the sandbox, nothing should be left: both say so when they find nothing.
  const killed = await killRecordedGroups(deps);
  o.log?.(`worker: ${killed ? `killed ${killed} agent process group(s)` : 'found no agent process group'} left by an earlier run of host ${o.hostId}`);
  const swept = await reconcileHost(deps).catch((err: Error) => ({ error: err.message }));
  if ('error' in swept) o.log?.(`worker: start-up reconcile failed: ${swept.error}`);
  else o.log?.(`worker: start-up reconcile: ${swept.summary}`);

  const activities = createActivities(deps);
  // Cancellation reaches an activity only with a heartbeat response: keep the throttle short.
  const throttle = Math.max(100, Math.min(1000, deps.heartbeatEveryMs));
  const common = {
    connection: o.connection,
    namespace: o.namespace,
    shutdownGraceTime: '10s',
    maxHeartbeatThrottleInterval: throttle,
    defaultHeartbeatThrottleInterval: throttle,
  } as const;
  const shared = await Worker.create({
    ...common,
    taskQueue: deps.taskQueue,
    // A workflow cached on a worker that dies waits this long on that worker's sticky queue before
    // any worker picks it up: the SDK's 10 s would add 10 s to every failover (bench B2).
    stickyQueueScheduleToStartTimeout: '2s',
    ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowsPath }),
    activities: activities.shared,
  });
  const host = await Worker.create({
    ...common,
    taskQueue: hostTaskQueue(o.hostId),
    activities: activities.host,
    // Agents wait for a slot inside runAgent (maxConcurrentAgents); the other host activities are short.
    maxConcurrentActivityTaskExecutions: o.pipeline.maxConcurrentAgents + 32,
  });
  return {
    shared,
    host,
    run: async () => {
      await Promise.all([shared.run(), host.run()]);
    },
    shutdown: () => {
      for (const w of [shared, host]) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}

/** Says how runs are contained on this host: logged at start-up, and kept for /healthz, `orch queue` and task details. */
async function recordSandboxStatus(o: OrchWorkerOptions, sandbox: Sandbox): Promise<void> {
  const { status } = sandbox;
  const line = status.active
    ? `worker: agents and gates run in a bwrap sandbox (network: ${status.network ?? 'host'})${status.warning ? `; ${status.warning}` : ''}`
    : `worker: WARNING: ${status.warning ?? 'agents and gates run unsandboxed'}`;
  (status.active && !status.warning ? o.log : (o.warn ?? o.log))?.(line);
  const record: HostSandboxStatus = { host: o.hostId, ...status, at: new Date().toISOString() };
  const dir = path.join(o.dataDir, 'hosts', o.hostId);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, SANDBOX_STATUS_FILE), `${JSON.stringify(record, null, 2)}\n`);
}

