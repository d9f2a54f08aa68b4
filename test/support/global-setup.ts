// One real Temporal dev server and one real PostgreSQL for the whole integration run, plus the
// workflow bundle built once. Tests isolate themselves (own database, task queue, data dir).
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../db/embedded.js';
import { projectDir } from '../../worker/config.js';
import { resolveTemporalCli } from '../../worker/temporal-cli.js';
import { readDevConfig, startDevServer } from '../../worker/temporal-dev.js';
import { workflowsPath } from '../../worker/worker.js';
import { freePort } from './ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
    temporalUiUrl: string;
    temporalCliPath: string;
    pgServerUrl: string;
    workflowBundlePath: string;
    runDir: string;
  }
}

export default async function setup(project: TestProject) {
  const runDir = await mkdtemp(path.join(tmpdir(), 'orch-it-'));
  // PostgreSQL runs as its own user when we are root: it must be able to enter the run dir.
  await chmod(runDir, 0o755);
  const cliPath = await resolveTemporalCli({ log: (l) => process.stderr.write(`${l}\n`) });
  const dev = await readDevConfig(path.join(projectDir, 'temporal-dev.yaml'));
  const [grpc, ui, http, metrics, pgPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const started = await Promise.allSettled([
    startDevServer({
      config: { ...dev, ports: { grpc, ui, http, metrics }, dbFile: 'temporal.sqlite', logLevel: 'error' },
      dataDir: runDir,
      cliPath,
    }),
    startEmbeddedPostgres({ dataDir: runDir, port: pgPort }),
    bundleWorkflowCode({ workflowsPath, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => console.error(m), log() {} } as never }),
  ] as const);
  const [serverR, pgR, bundleR] = started;
  if (serverR.status === 'rejected' || pgR.status === 'rejected' || bundleR.status === 'rejected') {
    if (serverR.status === 'fulfilled') await serverR.value.stop();
    if (pgR.status === 'fulfilled') await pgR.value.stop();
    const reasons = started.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    throw new AggregateError(reasons, `integration test setup failed: ${reasons.map((r) => (r as Error).message).join('; ')}`);
  }
  const [server, pg, bundle] = [serverR.value, pgR.value, bundleR.value];
  const workflowBundlePath = path.join(runDir, 'workflow-bundle.js');
  await writeFile(workflowBundlePath, bundle.code);
  const admin = new URL(pg.url);
  admin.pathname = '/postgres';

  project.provide('temporalAddress', server.address);
  project.provide('temporalNamespace', server.namespace);
  project.provide('temporalUiUrl', server.uiUrl ?? '');
  project.provide('temporalCliPath', cliPath);
  project.provide('pgServerUrl', admin.toString());
  project.provide('workflowBundlePath', workflowBundlePath);
  project.provide('runDir', runDir);

  return async () => {
    await server.stop();
    await pg.stop();
    if (!process.env.ORCH_KEEP_TEST_DATA) await rm(runDir, { recursive: true, force: true });
    else process.stderr.write(`test data kept in ${runDir}\n${await readFile(path.join(runDir, 'logs', 'temporal.log'), 'utf8').catch(() => '')}`);
  };
}
