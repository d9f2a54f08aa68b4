// Starts (or reuses) the local Temporal dev server described by temporal-dev.yaml.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { parse } from 'yaml';
import { z } from 'zod';
import { resolveTemporalCli } from './cli.js';

const portSchema = z.number().int().min(0).max(65535);
const devConfigSchema = z.strictObject({
  namespace: z.string().min(1),
  ip: z.string().min(1),
  ports: z.strictObject({ grpc: portSchema, ui: portSchema, http: portSchema, metrics: portSchema }),
  dbFile: z.string().min(1),
  sqlitePragmas: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
  searchAttributes: z.record(z.string(), z.enum(['Keyword', 'Text', 'Int', 'Double', 'Bool', 'Datetime', 'KeywordList'])),
  dynamicConfig: z.record(z.string(), z.unknown()).default({}),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('warn'),
  headless: z.boolean().default(false),
});
export type TemporalDevConfig = z.infer<typeof devConfigSchema>;

export async function readDevConfig(file: string): Promise<TemporalDevConfig> {
  const parsed = devConfigSchema.safeParse(parse(await readFile(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** The `temporal server start-dev` arguments for a config; `dbFile` is resolved against dataDir. */
export function devServerArgs(cfg: TemporalDevConfig, dataDir: string): string[] {
  const args = ['server', 'start-dev', '--namespace', cfg.namespace, '--ip', cfg.ip];
  args.push('--port', String(cfg.ports.grpc), '--http-port', String(cfg.ports.http));
  args.push('--metrics-port', String(cfg.ports.metrics));
  if (cfg.headless) args.push('--headless');
  else args.push('--ui-port', String(cfg.ports.ui));
  args.push('--db-filename', path.resolve(dataDir, cfg.dbFile));
  for (const [k, v] of Object.entries(cfg.sqlitePragmas)) args.push('--sqlite-pragma', `${k}=${v}`);
  for (const [k, v] of Object.entries(cfg.searchAttributes)) args.push('--search-attribute', `${k}=${v}`);
  for (const [k, v] of Object.entries(cfg.dynamicConfig)) args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);
  args.push('--log-level', cfg.logLevel);
  return args;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl: string | null;
  /** True when this process started the server (and so stops it). */
  owned: boolean;
  pid: number | null;
  stop(): Promise<void>;
}

/** Is a Temporal frontend answering at this address (and does the namespace exist)? */
export async function probeTemporal(address: string, namespace: string, timeoutMs = 2000): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

export interface StartDevServerOptions {
  config: TemporalDevConfig;
  dataDir: string;
  cliPath?: string;
  log?: (line: string) => void;
  /** How long to wait for the server to answer. */
  readyTimeoutMs?: number;
  /** Told the server's pid as soon as it is spawned (before it answers). */
  onSpawn?: (pid: number) => void;
}

export async function startDevServer(opts: StartDevServerOptions): Promise<DevServer> {
  const { config, dataDir } = opts;
  const log = opts.log ?? (() => undefined);
  const address = `${config.ip}:${config.ports.grpc}`;
  const uiUrl = config.headless ? null : `http://${config.ip === '0.0.0.0' ? '127.0.0.1' : config.ip}:${config.ports.ui}`;
  if (await probeTemporal(address, config.namespace)) {
    log(`temporal: using the server already listening at ${address}, which this process did not start (it stays up when this one stops)`);
    return { address, namespace: config.namespace, uiUrl, owned: false, pid: null, stop: async () => undefined };
  }
  const cli = opts.cliPath ?? (await resolveTemporalCli({ log }));
  const dbFile = path.resolve(dataDir, config.dbFile);
  await mkdir(path.dirname(dbFile), { recursive: true });
  const logFile = path.join(dataDir, 'logs', 'temporal.log');
  await mkdir(path.dirname(logFile), { recursive: true });
  const child: ResultPromise = execa(cli, devServerArgs(config, dataDir), {
    stdin: 'ignore',
    stdout: { file: logFile, append: true },
    stderr: { file: logFile, append: true },
    reject: false,
    // Killed with us if this process exits without stopping it.
    cleanup: true,
    forceKillAfterDelay: 10_000,
  });
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  let exited: string | null = null;
  void child.then((r) => {
    exited = r.exitCode !== undefined ? `exit code ${r.exitCode}` : r.signal ? `signal ${r.signal}` : (r.message ?? "failed to start");
  });
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  while (!(await probeTemporal(address, config.namespace, 1000))) {
    if (exited) {
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
      throw new Error(`temporal dev server exited during start-up (${exited}); see ${logFile}:\n${tail}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`temporal dev server did not answer at ${address} within ${opts.readyTimeoutMs ?? 60_000} ms; see ${logFile}`);
    }
    await sleep(200);
  }
  log(`temporal: dev server ${address} (pid ${child.pid}), log ${logFile}`);
  return {
    address,
    namespace: config.namespace,
    uiUrl,
    owned: true,
    pid: child.pid ?? null,
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      await child;
    },
  };
}
