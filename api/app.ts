// The express app: health, the task routes and (later) the Plane webhook bridge and operator views.
import { timingSafeEqual } from 'node:crypto';
import type { Client } from '@temporalio/client';
import express, { type NextFunction, type Request, type Response } from 'express';
import type postgres from 'postgres';
import { z } from 'zod';
import { createApiMetrics, type ApiMetrics } from './metrics.js';
import { createOperatorRouter } from './operator.js';
import type { PlaneConfig } from '../worker/config.js';
import type { Logger } from '../worker/log.js';
import { createPlaneWebhookRouter, PLANE_WEBHOOK_DISABLED } from './plane-webhook.js';
import { createTaskService, HttpError, startTaskSchema, taskKeySchema, type TaskServiceDeps } from './tasks.js';

export interface AppDeps extends TaskServiceDeps {
  sql: postgres.Sql;
  temporalAddress: string;
  /** Bearer token for everything but /healthz and the webhook; undefined only on loopback. */
  apiToken: string | undefined;
  /** ORCH_DATA_DIR: the operator log stream reads `logs/tasks/<KEY>/` there. */
  dataDir: string;
  /** The Plane bridge (POST /webhooks/plane, no bearer token); without it the webhook answers 503. */
  plane?: PlaneConfig;
  log?: Logger;
  /** GET /metrics (behind the bearer token); created from `sql` when not given. */
  metrics?: ApiMetrics;
}

const stopBodySchema = z.strictObject({ reason: z.string().max(2000).optional(), requestedBy: z.string().max(200).optional() });

function badRequest(err: z.ZodError) {
  const first = err.issues[0];
  const field = first?.path.join('.') || '(body)';
  return new HttpError(400, `${field}: ${first?.message ?? 'invalid'}`, { field, issues: err.issues.map((i) => ({ field: i.path.join('.'), message: i.message })) });
}

export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) throw badRequest(parsed.error);
  return parsed.data;
}

export function requireToken(token: string | undefined) {
  const expected = token ? Buffer.from(`Bearer ${token}`) : null;
  return (req: Request, res: Response, next: NextFunction) => {
    if (!expected) return next();
    const got = Buffer.from(req.get('authorization') ?? '');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return next();
    res.status(401).json({ error: 'missing or wrong bearer token (ORCH_API_TOKEN)' });
  };
}

export async function healthOf(d: Pick<AppDeps, 'client' | 'sql' | 'temporalAddress'>) {
  const check = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    try {
      await fn();
      return { up: true, latencyMs: Math.round(performance.now() - t0) };
    } catch (err) {
      return { up: false, error: (err as Error).message };
    }
  };
  const [temporal, database] = await Promise.all([
    check(() => d.client.workflowService.getSystemInfo({})),
    check(() => d.sql`select 1`),
  ]);
  return { ok: temporal.up && database.up, temporal: { ...temporal, address: d.temporalAddress, namespace: d.client.options.namespace }, database };
}

export function createApp(d: AppDeps) {
  const app = express();
  app.disable('x-powered-by');
  const tasks = createTaskService(d);
  const auth = requireToken(d.apiToken);
  const json = express.json({ limit: '256kb' });
  const key = (req: Request) => parseBody(taskKeySchema, req.params.key);

  app.get('/healthz', async (_req, res) => {
    const health = await healthOf(d);
    res.status(health.ok ? 200 : 503).json(health);
  });

  // Prometheus: orch's own metrics, read from the records (api/metrics.ts). Behind the token like the API.
  app.get('/metrics', auth, (d.metrics ?? createApiMetrics({ sql: d.sql, log: d.log })).handler);

  app.post('/api/tasks', auth, json, async (req, res) => {
    const started = await tasks.start(parseBody(startTaskSchema, req.body));
    res.status(202).json(started);
  });
  app.get('/api/tasks/:key', auth, async (req, res) => {
    res.json(await tasks.get(key(req)));
  });
  // The orphan sweep across hosts; see workflows/reconcile.ts.
  app.post('/api/reconcile', auth, async (_req, res) => {
    const report = await d.client.workflow.execute('reconcile', {
      taskQueue: d.taskQueue,
      workflowId: `reconcile-${new Date().toISOString()}`,
      args: [],
      workflowExecutionTimeout: '10m',
    });
    res.json(report);
  });
  app.post('/api/tasks/:key/stop', auth, json, async (req, res) => {
    const body = parseBody(stopBodySchema, req.body);
    res.status(202).json(await tasks.stop(key(req), { reason: body.reason, requestedBy: body.requestedBy ?? 'api' }));
  });

  // Plane signs its deliveries: no bearer token here (see plane-webhook.ts).
  app.use('/webhooks/plane', createPlaneWebhookRouter({ tasks, client: d.client, sql: d.sql, records: d.records, plane: d.plane ?? PLANE_WEBHOOK_DISABLED, log: d.log }));

  app.use(createOperatorRouter({ client: d.client, db: d.db, records: d.records, taskQueue: d.taskQueue, dataDir: d.dataDir, auth }));

  app.use((_req, res) => {
    res.status(404).json({ error: 'no such route' });
  });
  // express 5 forwards rejected promises here.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) return void res.status(err.status).json({ error: err.message, ...err.body });
    const e = err as { type?: string; status?: number; message?: string };
    if (e?.type === 'entity.parse.failed') return void res.status(400).json({ error: `malformed JSON: ${e.message}` });
    if (e?.type === 'entity.too.large') return void res.status(413).json({ error: 'request body too large' });
    res.status(500).json({ error: e?.message ?? 'internal error' });
  });
  return app;
}
