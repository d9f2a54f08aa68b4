// The express app: health, the task routes, the operator views (queue, logs, metrics, reconcile)
// and the Plane webhook bridge. The worker composes its dependencies (worker/ is the composition root).
import type { Client } from '@temporalio/client';
import express from 'express';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import type { Records } from '../db/records.js';
import type { PipelineConfig } from '../workflows/contracts/index.js';
import { createApprovalService } from './approvals.js';
import { errorHandler, noSuchRoute, requireToken } from './http.js';
import { createApiMetrics, type ApiMetrics } from './metrics.js';
import { PLANE_WEBHOOK_DISABLED, type PlaneBridgeConfig } from './plane/config.js';
import { createPlaneWebhookRouter } from './plane/route.js';
import { approvalRoutes } from './routes/approvals.js';
import { healthRoutes } from './routes/health.js';
import { logRoutes } from './routes/logs.js';
import { metricsRoutes } from './routes/metrics.js';
import { queueRoutes } from './routes/queue.js';
import { reconcileRoutes } from './routes/reconcile.js';
import { taskRoutes } from './routes/tasks.js';
import { createTaskService } from './task-service.js';

export interface ApiDeps {
  client: Client;
  db: Db;
  records: Records;
  pipeline: PipelineConfig;
  /** The shared task queue: tasks start there; lock workflows on other queues belong to another orch. */
  taskQueue: string;
  /** Shown by /healthz. */
  temporalAddress: string;
  /** Bearer token for everything but /healthz and the webhook; undefined only on loopback. */
  apiToken: string | undefined;
  /** ORCH_DATA_DIR: the log stream reads `logs/tasks/<KEY>/` there. */
  dataDir: string;
  /** The Plane bridge (POST /webhooks/plane, no bearer token); without it the webhook answers 503. */
  plane?: PlaneBridgeConfig;
  log?: Logger;
  /** GET /metrics (behind the bearer token); created from `db` when not given. */
  metrics?: ApiMetrics;
}

export function createApp(d: ApiDeps) {
  const app = express();
  app.disable('x-powered-by');
  const tasks = createTaskService(d);
  const approvals = createApprovalService(d);
  const auth = requireToken(d.apiToken);

  app.use(healthRoutes(d));
  app.use(metricsRoutes({ metrics: d.metrics ?? createApiMetrics({ db: d.db, log: d.log }), auth }));
  app.use(taskRoutes({ tasks, auth, dataDir: d.dataDir }));
  app.use(approvalRoutes({ approvals, auth }));
  app.use(reconcileRoutes({ ...d, auth }));
  // Plane signs its deliveries: no bearer token here (api/plane/route.ts).
  app.use('/webhooks/plane', createPlaneWebhookRouter({ tasks, approvals, db: d.db, records: d.records, plane: d.plane ?? PLANE_WEBHOOK_DISABLED, log: d.log }));
  app.use(queueRoutes({ ...d, auth }));
  app.use(logRoutes({ ...d, auth }));

  app.use(noSuchRoute);
  app.use(errorHandler);
  return app;
}
