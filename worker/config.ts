// One typed configuration for every orch process, read from the environment with defaults.
// A bad value is a clear error at start-up, naming the variable.
import { hostname } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const projectDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

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
});

export interface OrchConfig {
  projectDir: string;
  dataDir: string;
  /** Pipeline config file (repos, stages, timeouts). */
  pipelineFile: string;
  hostId: string;
  /** The shared task queue; each worker also serves its own host queue. */
  taskQueue: string;
  /** A prebuilt workflow bundle (from `bundleWorkflowCode`), to skip bundling at start. */
  workflowBundle: string | undefined;
  /** SIGTERM → SIGKILL grace when stopping an agent's process group. */
  killGraceMs: number;
  temporal: {
    /** Set when the operator points orch at an existing server; otherwise the dev server is used. */
    address: string | undefined;
    namespace: string | undefined;
    apiKey: string | undefined;
    tls: boolean;
    tlsCertFile: string | undefined;
    tlsKeyFile: string | undefined;
    cliPath: string | undefined;
    devConfigFile: string;
  };
  database: {
    /** Set for an external PostgreSQL; otherwise the embedded one is used. */
    url: string | undefined;
    embeddedPort: number;
  };
  api: { host: string; port: number; url: string; token: string | undefined };
  logLevel: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): OrchConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = i.path.join('.');
      return `  ${name}=${JSON.stringify(env[name] ?? '')}: ${i.message}`;
    });
    throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.ORCH_DATA_DIR ?? path.join(projectDir, '.data'));
  const resolve = (p: string) => path.resolve(projectDir, p);
  return {
    projectDir,
    dataDir,
    pipelineFile: resolve(e.ORCH_CONFIG ?? 'orch.yaml'),
    hostId: sanitizeHostId(e.ORCH_HOST_ID ?? hostname()),
    taskQueue: e.ORCH_TASK_QUEUE,
    workflowBundle: e.ORCH_WORKFLOW_BUNDLE ? resolve(e.ORCH_WORKFLOW_BUNDLE) : undefined,
    killGraceMs: e.ORCH_KILL_GRACE_MS,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      apiKey: e.TEMPORAL_API_KEY,
      tls: e.TEMPORAL_TLS ?? Boolean(e.TEMPORAL_API_KEY || e.TEMPORAL_TLS_CERT),
      tlsCertFile: e.TEMPORAL_TLS_CERT,
      tlsKeyFile: e.TEMPORAL_TLS_KEY,
      cliPath: e.TEMPORAL_CLI_PATH,
      devConfigFile: resolve(e.ORCH_TEMPORAL_DEV_CONFIG ?? 'temporal-dev.yaml'),
    },
    database: { url: e.DATABASE_URL, embeddedPort: e.ORCH_PG_PORT },
    api: {
      host: e.HOST,
      port: e.PORT,
      url: e.ORCH_API_URL ?? `http://${e.HOST === '0.0.0.0' ? '127.0.0.1' : e.HOST}:${e.PORT}`,
      token: e.ORCH_API_TOKEN,
    },
    logLevel: e.LOG_LEVEL,
  };
}

/** Host ids name task queues and directories: keep them to a safe alphabet. */
export function sanitizeHostId(id: string): string {
  const clean = id.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  if (!clean) throw new ConfigError(`ORCH_HOST_ID: "${id}" has no usable characters`);
  return clean;
}
