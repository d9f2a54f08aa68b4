// The API process: `npm run api` (npm start runs one for you).
import { createApiMetrics } from '../api/metrics.js';
import { ConfigError } from './config/config-error.js';
import type { PlaneConfig } from './config/env.js';
import { loadRuntime } from './config/runtime.js';
import { createLogger, type Logger } from './log.js';
import { createOrch, processOrchOptions } from './orch.js';
import { exitOnStartupError } from './startup-error.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

async function main() {
  const rt = await loadRuntime();
  const log = createLogger('orch-api', rt.config.logLevel);
  const { host, port, token } = rt.config.api;
  if (!token && !LOOPBACK.has(host)) {
    throw new ConfigError(`HOST=${host} is not loopback: set ORCH_API_TOKEN so the operator API is not open to the network`);
  }
  const orch = await createOrch(processOrchOptions(rt));
  const listening = orch.serveApi({ host, port, token, log, metrics: createApiMetrics({ db: orch.db, log, processMetrics: true }) });
  warnAboutPlane(rt.config.plane, Object.keys(rt.pipeline.repos), log);
  const stop = () => {
    void orch.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await listening.catch((err: Error) => exitOnStartupError('api')(new Error(`cannot listen on ${host}:${port}: ${err.message}`)));
  log.info({ url: rt.config.api.url }, 'api ready');
}

function warnAboutPlane(plane: PlaneConfig, repos: string[], log: Logger) {
  if (!plane.webhookSecret) log.warn('POST /webhooks/plane answers 503: PLANE_WEBHOOK_SECRET is not set');
  if (!plane.botUserId) log.warn('PLANE_BOT_USER_ID is not set: echoes of orch\'s own Plane writes cannot be told apart');
  for (const [id, p] of Object.entries(plane.projects)) {
    if (!repos.includes(p.repo)) log.warn({ project: id, repo: p.repo }, `ORCH_PLANE_PROJECTS maps ${p.identifier} to repo "${p.repo}", which the pipeline config does not define`);
  }
}

main().catch(exitOnStartupError('api'));
