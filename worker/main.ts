// The worker process: `npm run worker` (npm start runs one for you).
import { Runtime as TemporalRuntime, makeTelemetryFilterString } from '@temporalio/worker';
import { createRecords } from '../activities/records.js';
import { connectDb, runMigrations } from '../db/client.js';
import { exitOnStartupError, loadRuntime, requireDatabase } from './bootstrap.js';
import { createLogger } from './log.js';
import { connectClient, connectWorkerConnection } from './temporal-connection.js';
import { createOrchWorkers } from './worker.js';

async function main() {
  const rt = await loadRuntime();
  const log = createLogger('orch-worker', rt.config.logLevel);
  TemporalRuntime.install({
    logger: {
      log: (level, message, meta) => log[level === 'TRACE' ? 'trace' : (level.toLowerCase() as 'info')]({ ...meta, sdk: true }, message),
      trace: (m, meta) => log.trace(meta, m),
      debug: (m, meta) => log.debug(meta, m),
      info: (m, meta) => log.info(meta, m),
      warn: (m, meta) => log.warn(meta, m),
      error: (m, meta) => log.error(meta, m),
    },
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) } },
  });
  await requireDatabase(rt.databaseUrl);
  await runMigrations(rt.databaseUrl);
  const client = await connectClient(rt.config, rt.temporal);
  const connection = await connectWorkerConnection(rt.config, rt.temporal);
  const database = connectDb(rt.databaseUrl);
  const workers = await createOrchWorkers({
    connection,
    namespace: rt.temporal.namespace,
    client,
    records: createRecords(database.db),
    pipeline: rt.pipeline,
    hostId: rt.config.hostId,
    taskQueue: rt.config.taskQueue,
    killGraceMs: rt.config.killGraceMs,
    workflowBundle: rt.config.workflowBundle ? { codePath: rt.config.workflowBundle } : undefined,
    dataDir: rt.config.dataDir,
    projectDir: rt.config.projectDir,
    log: (line) => log.info(line),
  });
  log.info({ host: rt.config.hostId, taskQueue: rt.config.taskQueue, temporal: rt.temporal.address, namespace: rt.temporal.namespace }, 'worker ready');
  await workers.run();
  log.info('worker stopped');
  await database.close();
  await connection.close();
  await client.connection.close();
}

main().catch(exitOnStartupError('worker'));
