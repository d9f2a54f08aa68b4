// GET /queue: one snapshot of what is running, waiting for a person, stuck, stopping and locked,
// and what the Plane reconciler last did.
// Each section reads on its own; a locks failure (visibility down) is reported in `errors`, not as
// a failed request.
import type { Client } from '@temporalio/client';
import pLimit from 'p-limit';
import type { Db } from '../../db/client.js';
import type { PipelineConfig } from '../../workflows/contracts/index.js';
import { messageOf } from '../errors.js';
import { sandboxSummary } from '../health.js';
import { approvalsSection } from './approvals.js';
import { livenessOf } from './liveness.js';
import { locksSection } from './locks.js';
import { reconcilerSection } from './plane-reconciler.js';
import { stopSection } from './stops.js';
import { taskSection } from './tasks.js';

export interface QueueDeps {
  client: Client;
  db: Db;
  /** The shared task queue: lock workflows on other queues belong to another orch. */
  taskQueue: string;
  /** Where the approval stages' prompts are read. */
  pipeline?: Pick<PipelineConfig, 'stages'>;
  /** Where each worker host records its sandbox status. */
  dataDir?: string;
}

/** At most this many running tasks get a liveness entry (one describe each). */
const MAX_LIVENESS = 100;

export async function queueSnapshot(d: QueueDeps) {
  const now = Date.now();
  const errors: Record<string, string> = {};
  const [tasks, awaitingApproval, stop, sandbox, locks, reconciler] = await Promise.all([
    taskSection(d.db),
    approvalsSection(d, now),
    stopSection(d),
    sandboxSummary(d.dataDir),
    locksSection(d).catch((err) => {
      errors.locks = messageOf(err);
      return [];
    }),
    reconcilerSection(d).catch((err) => {
      errors.reconciler = messageOf(err);
      return null;
    }),
  ]);
  const running = tasks.active.filter((t) => t.status === 'running').slice(0, MAX_LIVENESS);
  const liveness = await pLimit(8).map(running, (t) => livenessOf(d, t, now));
  return { generatedAt: new Date(now).toISOString(), taskQueue: d.taskQueue, tasks: tasks.section, awaitingApproval, stop, liveness, locks, sandbox, reconciler, errors };
}
