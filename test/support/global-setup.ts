// One real Temporal dev server and one real PostgreSQL for the whole integration run, plus the
// workflow bundle built once (worker/harness/servers.ts, shared with the bench). Tests isolate
// themselves (own database, task queue, data dir).
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startServers } from '../../worker/harness/servers.js';

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
  const servers = await startServers({
    runDir,
    what: 'integration test setup',
    temporalDbFile: 'temporal.sqlite',
    log: (l) => process.stderr.write(`${l}\n`),
  });

  project.provide('temporalAddress', servers.temporal.address);
  project.provide('temporalNamespace', servers.temporal.namespace);
  project.provide('temporalUiUrl', servers.temporal.uiUrl ?? '');
  project.provide('temporalCliPath', servers.temporalCliPath);
  project.provide('pgServerUrl', servers.pgServerUrl);
  project.provide('workflowBundlePath', servers.workflowBundlePath);
  project.provide('runDir', runDir);

  return async () => {
    await servers.stop();
    if (!process.env.ORCH_KEEP_TEST_DATA) await rm(runDir, { recursive: true, force: true });
    else process.stderr.write(`test data kept in ${runDir}\n${await readFile(path.join(runDir, 'logs', 'temporal.log'), 'utf8').catch(() => '')}`);
  };
}
