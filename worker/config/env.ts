// One typed configuration for every orch process, read from the environment with defaults.
// A bad value is a clear error at start-up, naming the variable. OrchConfig is what the schema's
// output becomes (resolveConfig), not a type written out beside it.
import { hostname } from 'node:os';
import path from 'node:path';
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { z } from 'zod';
import { ConfigError } from './config-error.js';
import { loadPlaneProjects } from './plane-projects.js';
import { projectDir } from './project-dir.js';

const port = z.coerce.number().int().min(1).max(65535);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const bool = z
  .enum(['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'])
  .transform((v) => ['1', 'true', 'on', 'yes'].includes(v));

const envSchema = z.object({
  ORCH_DATA_DIR: optionalString,
  ORCH_CONFIG: optionalString,
  ORCH_HOST_ID: optionalString,
  ORCH_TEMPORAL_DEV_CONFIG: optionalString,
  ORCH_TEMPORAL: z.enum(['dev', 'cluster']).default('dev'),
  ORCH_TEMPORAL_CLUSTER_CONFIG: optionalString,
  ORCH_TASK_QUEUE: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ -').default('orch'),
  ORCH_WORKFLOW_BUNDLE: optionalString,
  ORCH_KILL_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(3000),
  DATABASE_URL: optionalString.refine(
    (v) => v === undefined || /^postgres(ql)?:\/\//.test(v),
    'must be a postgres:// or postgresql:// URL',
  ),
  ORCH_PG_PORT: port.default(54329),
  TEMPORAL_ADDRESS: optionalString.refine(
    (v) => v === undefined || /^[^\s:/]+:\d{1,5}$/.test(v),
    'must be host:port, e.g. 127.0.0.1:7233',
  ),
  TEMPORAL_NAMESPACE: optionalString,
  TEMPORAL_API_KEY: optionalString,
  TEMPORAL_TLS: bool.optional(),
  TEMPORAL_TLS_CERT: optionalString,
  TEMPORAL_TLS_KEY: optionalString,
  TEMPORAL_CLI_PATH: optionalString,
  HOST: z.string().default('127.0.0.1'),
  PORT: port.default(3000),
  ORCH_API_URL: optionalString,
  ORCH_API_TOKEN: optionalString,
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  // ---- Plane bridge (docs: api/plane-webhook.ts, activities/plane.ts)
  PLANE_WEBHOOK_SECRET: optionalString,
  PLANE_BASE_URL: optionalString.refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), 'must be an http:// or https:// URL'),
  PLANE_API_KEY: optionalString,
  PLANE_WORKSPACE_SLUG: optionalString.refine((v) => v === undefined || /^[A-Za-z0-9_-]+$/.test(v), 'letters, digits, _ -'),
  PLANE_BOT_USER_ID: optionalString,
  ORCH_PLANE_PROJECTS: optionalString,
  ORCH_PLANE_START_STATE: optionalString,
  ORCH_PLANE_STOP_STATE: optionalString,
  ORCH_STOP_STATUS_ENABLED: bool.optional(),
  ORCH_STOP_STATUS_REPOS: optionalString,
  ORCH_WEBHOOK_MAX_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(256 * 1024),
  ORCH_WEBHOOK_DEDUPE_WINDOW_MS: z.coerce.number().int().min(0).max(86_400_000).default(60_000),
  ORCH_PLANE_RECONCILE_INTERVAL: z
    .string()
    .trim()
    .regex(/^(off|\d+(\.\d+)?\s*(ms|s|m|h))$/, 'a duration such as 30s, 1m or 5m, or off')
    .transform((v) => (v === 'off' ? null : msToNumber(v as Duration)))
    .refine((v) => v === null || (v >= 1000 && v <= 86_400_000), 'between 1s and 24h, or off')
    .default(60_000),
  // ---- Observability (docs/deploy.md): the worker's Prometheus endpoint (Temporal's runtime metrics)
  ORCH_WORKER_METRICS_ADDRESS: optionalString.refine(
    (v) => v === undefined || /^(off|([^\s:/[\]]+|\[[0-9A-Fa-f:.]+\]):\d{1,5})$/.test(v),
    'must be host:port (e.g. 127.0.0.1:9464, [::1]:9464) or off',
  ),
});

/** The parsed environment as orch uses it: paths resolved, defaults applied, the Plane project map loaded. */
function resolveConfig(e: z.output<typeof envSchema>) {
  const [startState, stopState] = [e.ORCH_PLANE_START_STATE ?? 'To Analyse', e.ORCH_PLANE_STOP_STATE ?? 'STOP'];
  if (startState.toLowerCase() === stopState.toLowerCase()) {
    throw new ConfigError(`ORCH_PLANE_START_STATE and ORCH_PLANE_STOP_STATE are both "${startState}": a move could not say whether to start or stop`);
  }
  if (e.ORCH_TEMPORAL === 'cluster' && e.TEMPORAL_ADDRESS) {
    throw new ConfigError(`ORCH_TEMPORAL=cluster runs a Temporal cluster of its own: unset TEMPORAL_ADDRESS (${e.TEMPORAL_ADDRESS}), or unset ORCH_TEMPORAL to use that server`);
  }
  const resolve = (p: string) => path.resolve(projectDir, p);
  return {
    projectDir,
    dataDir: path.resolve(e.ORCH_DATA_DIR ?? path.join(projectDir, '.data')),
    /** Pipeline config file (repos, stages, timeouts). */
    pipelineFile: resolve(e.ORCH_CONFIG ?? 'orch.yaml'),
    hostId: sanitizeHostId(e.ORCH_HOST_ID ?? hostname()),
    /** The shared task queue; each worker also serves its own host queue. */
    taskQueue: e.ORCH_TASK_QUEUE,
    /** A prebuilt workflow bundle (from `bundleWorkflowCode`), to skip bundling at start. */
    workflowBundle: e.ORCH_WORKFLOW_BUNDLE ? resolve(e.ORCH_WORKFLOW_BUNDLE) : undefined,
    /** SIGTERM → SIGKILL grace when stopping an agent's process group. */
    killGraceMs: e.ORCH_KILL_GRACE_MS,
    temporal: {
      /** Set when the operator points orch at an existing server; otherwise the dev server is used. */
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      apiKey: e.TEMPORAL_API_KEY,
      tls: e.TEMPORAL_TLS ?? Boolean(e.TEMPORAL_API_KEY || e.TEMPORAL_TLS_CERT),
      tlsCertFile: e.TEMPORAL_TLS_CERT,
      tlsKeyFile: e.TEMPORAL_TLS_KEY,
      cliPath: e.TEMPORAL_CLI_PATH,
      devConfigFile: resolve(e.ORCH_TEMPORAL_DEV_CONFIG ?? 'temporal-dev.yaml'),
      /** What `npm start` runs when no TEMPORAL_ADDRESS is set: the dev server, or (`npm run cluster`) a cluster. */
      local: e.ORCH_TEMPORAL,
      clusterConfigFile: resolve(e.ORCH_TEMPORAL_CLUSTER_CONFIG ?? 'temporal-cluster.yaml'),
    },
    database: {
      /** Set for an external PostgreSQL; otherwise the embedded one is used. */
      url: e.DATABASE_URL,
      embeddedPort: e.ORCH_PG_PORT,
    },
    api: {
      host: e.HOST,
      port: e.PORT,
      url: e.ORCH_API_URL ?? `http://${e.HOST === '0.0.0.0' ? '127.0.0.1' : e.HOST}:${e.PORT}`,
      token: e.ORCH_API_TOKEN,
    },
    plane: {
      /** HMAC key of the Plane webhook. Without it the webhook answers 503: unsigned input is never accepted. */
      webhookSecret: e.PLANE_WEBHOOK_SECRET,
      /** e.g. `https://plane.example.com`; the API lives under `/api/v1/`. */
      baseUrl: e.PLANE_BASE_URL?.replace(/\/+$/, ''),
      apiKey: e.PLANE_API_KEY,
      workspaceSlug: e.PLANE_WORKSPACE_SLUG,
      /** The Plane user orch's API key acts as: webhooks caused by orch's own writes carry it as actor. */
      botUserId: e.PLANE_BOT_USER_ID,
      /** `projects`: Plane project id (lower-case) → identifier and repo; `projectsSource`: a file path, or `inline`. */
      ...loadPlaneProjects(e.ORCH_PLANE_PROJECTS ?? 'plane-projects.yaml'),
      /** State names, matched case-insensitively after trimming. */
      startState,
      stopState,
      /** When false, a move to the STOP state is logged and ignored. */
      stopStatusEnabled: e.ORCH_STOP_STATUS_ENABLED ?? true,
      /** Repos whose tasks a STOP state may stop; empty = all. */
      stopStatusRepos: (e.ORCH_STOP_STATUS_REPOS ?? '')
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
      webhookMaxBytes: e.ORCH_WEBHOOK_MAX_BYTES,
      /** Two deliveries of the same content (work item + state) within this window: the second is a duplicate. */
      dedupeWindowMs: e.ORCH_WEBHOOK_DEDUPE_WINDOW_MS,
      /** How often the Plane reconciler lists the board (null: off); it runs only with the Plane API configured. */
      reconcileIntervalMs: e.ORCH_PLANE_RECONCILE_INTERVAL,
    },
    /** Where the worker serves Prometheus metrics (`host:port`); undefined = off. */
    workerMetricsAddress: e.ORCH_WORKER_METRICS_ADDRESS === 'off' ? undefined : (e.ORCH_WORKER_METRICS_ADDRESS ?? '127.0.0.1:9464'),
    logLevel: e.LOG_LEVEL,
  };
}

export type OrchConfig = ReturnType<typeof resolveConfig>;
export type PlaneConfig = OrchConfig['plane'];

export function loadConfig(env: NodeJS.ProcessEnv = process.env): OrchConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = i.path.join('.');
      return `  ${name}=${JSON.stringify(env[name] ?? '')}: ${i.message}`;
    });
    throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
  }
  return resolveConfig(parsed.data);
}

/** Host ids name task queues and directories: keep them to a safe alphabet. */
export function sanitizeHostId(id: string): string {
  const clean = id.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  if (!clean) throw new ConfigError(`ORCH_HOST_ID: "${id}" has no usable characters`);
  return clean;
}
