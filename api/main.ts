// The API process: `npm run api` (npm start runs one for you).
import { createRecords } from '../activities/records.js';
import { connectDb, runMigrations } from '../db/client.js';
import { exitOnStartupError, loadRuntime, requireDatabase } from '../worker/bootstrap.js';
import { ConfigError } from '../worker/config.js';
import { createLogger } from '../worker/log.js';
import { connectClient } from '../worker/temporal-connection.js';
import { createApp } from './app.js';

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
  });
  const server = app.listen(port, host, () => log.info({ url: rt.config.api.url }, 'api ready'));
  server.on('error', (err) => exitOnStartupError('api')(new Error(`cannot listen on ${host}:${port}: ${err.message}`)));
  const stop = () => {
    server.close(() => void Promise.all([database.close(), client.connection.close()]).then(() => process.exit(0)));
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch(exitOnStartupError('api'));
