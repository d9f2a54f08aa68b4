// Builds one orch worker process: the shared-queue worker (workflows + shared activities) and the
// host worker (activities bound to this host's own task queue: worktrees and agent processes).
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, killRecordedGroups, reconcileHost } from '../activities/index.js';
import type { ActivityDeps } from '../activities/deps.js';
import type { Db } from '../db/client.js';
import type { Records } from '../db/records.js';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { hostTaskQueue, TASK_QUEUE, type PipelineConfig } from '../workflows/contracts/index.js';

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
  plane?: ActivityDeps['plane'];
  log?: (line: string) => void;
}

export interface OrchWorkers {
  shared: Worker;
  host: Worker;
  run(): Promise<void>;
  shutdown(): void;
}

export async function createOrchWorkers(o: OrchWorkerOptions): Promise<OrchWorkers> {
  const heartbeatMs = msToNumber(o.pipeline.timeouts.heartbeat);
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
  };

  // Crash recovery: an earlier incarnation of this host may have left agent groups behind, and
  // tasks that ended without compensation (terminated) may have left worktrees.
  const killed = await killRecordedGroups(deps);
  if (killed) o.log?.(`worker: killed ${killed} agent process group(s) left by an earlier run of host ${o.hostId}`);
  const swept = await reconcileHost(deps).catch((err: Error) => ({ error: err.message }));
  if ('error' in swept) o.log?.(`worker: start-up reconcile failed: ${swept.error}`);
  else if (swept.worktreesRemoved.length || swept.agentGroupsKilled) o.log?.(`worker: start-up reconcile: ${JSON.stringify(swept)}`);

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
