// Shared start-up for every orch process: config, pipeline, database and Temporal, with errors a
// person can act on (no stack trace as the only output).
import { EMBEDDED_DB_NAME } from '../db/embedded.js';
import { checkDatabase } from '../db/client.js';
import type { PipelineConfig } from '../workflows/types.js';
import { ConfigError, loadConfig, type OrchConfig } from './config.js';
import { loadPipelineConfig, PipelineConfigError } from './pipeline.js';
import { temporalTarget, TemporalUnreachableError, type TemporalTarget } from './temporal-connection.js';

export interface Runtime {
  config: OrchConfig;
  pipeline: PipelineConfig;
  databaseUrl: string;
  temporal: TemporalTarget;
}

export const embeddedDatabaseUrl = (port: number) => `postgres://orch:orch@127.0.0.1:${port}/${EMBEDDED_DB_NAME}`;

export async function loadRuntime(env: NodeJS.ProcessEnv = process.env): Promise<Runtime> {
  const config = loadConfig(env);
  const pipeline = await loadPipelineConfig(config.pipelineFile, { dataDir: config.dataDir, projectDir: config.projectDir });
  return {
    config,
    pipeline,
    databaseUrl: config.database.url ?? embeddedDatabaseUrl(config.database.embeddedPort),
    temporal: await temporalTarget(config),
  };
}

export async function requireDatabase(url: string): Promise<void> {
  await checkDatabase(url);
}

const KNOWN = [ConfigError, PipelineConfigError, TemporalUnreachableError];

/** Prints a start-up failure as one readable message and exits non-zero. */
export function exitOnStartupError(what: string) {
  return (err: unknown): never => {
    const e = err as Error;
    const known = KNOWN.some((K) => e instanceof K) || /^cannot reach /.test(e?.message ?? '');
    process.stderr.write(`orch ${what}: ${e?.message ?? String(err)}\n`);
    if (!known && process.env.LOG_LEVEL === 'debug') process.stderr.write(`${e?.stack}\n`);
    process.exit(1);
  };
}
