// The worker process: `npm run worker` (npm start runs one for you).
import { Runtime as TemporalRuntime, makeTelemetryFilterString, type RuntimeOptions } from '@temporalio/worker';
import { ConfigError } from './config/config-error.js';
import { loadRuntime } from './config/runtime.js';
import { createLogger } from './log.js';
import { createOrch, processOrchOptions } from './orch.js';
import { exitOnStartupError } from './startup-error.js';

async function main() {
  const rt = await loadRuntime();
  const log = createLogger('orch-worker', rt.config.logLevel);
  const orch = await createOrch(processOrchOptions(rt, (line) => log.info(line), (line) => log.warn(line)));
  // Before the first native connection (the SDK's rule); after the database and Temporal checks
  // of createOrch, so such a problem is reported as such even when the metrics address is taken.
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
  const workers = await orch.startWorkers(rt.config.hostId);
  log.info({ host: rt.config.hostId, taskQueue: rt.config.taskQueue, temporal: rt.temporal.address, namespace: rt.temporal.namespace, metrics: metricsAddress ?? 'off' }, 'worker ready');
  // The SDK stops the workers on SIGINT/SIGTERM; a fatal worker error rejects here.
  await workers.done;
  log.info('worker stopped');
  await orch.close();
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
