// Everything an orch process starts from: the environment, the pipeline file, the database URL and
// where Temporal is. Each part fails with its own readable error (see worker/startup-error.ts).
import { EMBEDDED_DB_NAME } from '../../db/embedded.js';
import type { PipelineConfig } from '../../workflows/contracts/index.js';
import { temporalTarget, type TemporalTarget } from '../temporal/connection.js';
import { loadConfig, type OrchConfig } from './env.js';
import { loadPipelineConfig } from './pipeline.js';

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
