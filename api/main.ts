// The API process: `npm run api` (npm start runs one for you).
import { createRecords } from '../activities/records.js';
import { connectDb, runMigrations } from '../db/client.js';
import { exitOnStartupError, loadRuntime, requireDatabase } from '../worker/bootstrap.js';
import { ConfigError, type PlaneConfig } from '../worker/config.js';
import { createLogger, type Logger } from '../worker/log.js';
import { connectClient } from '../worker/temporal-connection.js';
import { createApp } from './app.js';
import { createApiMetrics } from './metrics.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

async function main() {
  const rt = await loadRuntime();
  const log = createLogger('orch-api', rt.config.logLevel);
  const { host, port, token } = rt.config.api;
  if (!token && !LOOPBACK.has(host)) {
    throw new ConfigError(`HOST=${host} is not loopback: set ORCH_API_TOKEN so the operator API is not open to the network`);
  }
  await requireDatabase(rt.databaseUrl);
  await runMigrations(rt.databaseUrl);
  const client = await connectClient(rt.config, rt.temporal);
  const database = connectDb(rt.databaseUrl);
  const app = createApp({
    client,
    db: database.db,
    sql: database.sql,
    records: createRecords(database.db),
    pipeline: rt.pipeline,
    taskQueue: rt.config.taskQueue,
    temporalAddress: rt.temporal.address,
    apiToken: token,
    dataDir: rt.config.dataDir,
    plane: rt.config.plane,
    log,
    metrics: createApiMetrics({ sql: database.sql, log, processMetrics: true }),
  });
  const server = app.listen(port, host, () => log.info({ url: rt.config.api.url }, 'api ready'));
  warnAboutPlane(rt.config.plane, Object.keys(rt.pipeline.repos), log);
  server.on('error', (err) => exitOnStartupError('api')(new Error(`cannot listen on ${host}:${port}: ${err.message}`)));
  const stop = () => {
    server.close(() => void Promise.all([database.close(), client.connection.close()]).then(() => process.exit(0)));
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function warnAboutPlane(plane: PlaneConfig, repos: string[], log: Logger) {
  if (!plane.webhookSecret) log.warn('POST /webhooks/plane answers 503: PLANE_WEBHOOK_SECRET is not set');
  if (!plane.botUserId) log.warn('PLANE_BOT_USER_ID is not set: echoes of orch\'s own Plane writes cannot be told apart');
  for (const [id, p] of Object.entries(plane.projects)) {
    if (!repos.includes(p.repo)) log.warn({ project: id, repo: p.repo }, `ORCH_PLANE_PROJECTS maps ${p.identifier} to repo "${p.repo}", which the pipeline config does not define`);
  }
}

main().catch(exitOnStartupError('api'));
