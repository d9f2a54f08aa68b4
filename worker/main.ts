// The worker process: `npm run worker` (npm start runs one for you).
import { Runtime as TemporalRuntime, makeTelemetryFilterString, type RuntimeOptions } from '@temporalio/worker';
import { createRecords } from '../activities/records.js';
import { connectDb, runMigrations } from '../db/client.js';
import { exitOnStartupError, loadRuntime, requireDatabase } from './bootstrap.js';
import { ConfigError } from './config.js';
import { createLogger } from './log.js';
import { connectClient, connectWorkerConnection } from './temporal-connection.js';
import { createOrchWorkers } from './worker.js';

async function main() {
  const rt = await loadRuntime();
  const log = createLogger('orch-worker', rt.config.logLevel);
  await requireDatabase(rt.databaseUrl);
  await runMigrations(rt.databaseUrl);
  const client = await connectClient(rt.config, rt.temporal);
  // Before the first native connection (the SDK's rule); after the checks above, so a database or
  // Temporal problem is reported as such even when the metrics address is taken.
  const metricsAddress = rt.config.workerMetricsAddress;
  installRuntime({
    logger: {
      log: (level, message, meta) => log[level === 'TRACE' ? 'trace' : (level.toLowerCase() as 'info')]({ ...meta, sdk: true }, message),
      trace: (m, meta) => log.trace(meta, m),
      debug: (m, meta) => log.debug(meta, m),
      info: (m, meta) => log.info(meta, m),
      warn: (m, meta) => log.warn(meta, m),
      error: (m, meta) => log.error(meta, m),
    },
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) },
      // Temporal's runtime metrics (task slots, poll and schedule-to-start latencies, …) on GET /metrics.
      ...(metricsAddress && { metrics: { prometheus: { bindAddress: metricsAddress }, globalTags: { orch_host: rt.config.hostId } } }),
    },
  }, metricsAddress);
  const connection = await connectWorkerConnection(rt.config, rt.temporal);
  const database = connectDb(rt.databaseUrl);
  const workers = await createOrchWorkers({
    connection,
    namespace: rt.temporal.namespace,
    client,
    records: createRecords(database.db),
    db: database.db,
    pipeline: rt.pipeline,
    hostId: rt.config.hostId,
    taskQueue: rt.config.taskQueue,
    killGraceMs: rt.config.killGraceMs,
    plane: rt.config.plane,
    workflowBundle: rt.config.workflowBundle ? { codePath: rt.config.workflowBundle } : undefined,
    dataDir: rt.config.dataDir,
    projectDir: rt.config.projectDir,
    log: (line) => log.info(line),
  });
  log.info({ host: rt.config.hostId, taskQueue: rt.config.taskQueue, temporal: rt.temporal.address, namespace: rt.temporal.namespace, metrics: metricsAddress ?? 'off' }, 'worker ready');
  await workers.run();
  log.info('worker stopped');
  await database.close();
  await connection.close();
  await client.connection.close();
}

/** Runtime.install, before any worker exists; a metrics address already taken is named, not a stack trace. */
function installRuntime(options: RuntimeOptions, metricsAddress: string | undefined) {
  try {
    TemporalRuntime.install(options);
  } catch (err) {
    if (!metricsAddress || !/prometheus/i.test((err as Error).message)) throw err;
    throw new ConfigError(`ORCH_WORKER_METRICS_ADDRESS=${metricsAddress}: ${(err as Error).message}; give each worker on a host its own address, or set it to off`);
  }
}

main().catch(exitOnStartupError('worker'));
