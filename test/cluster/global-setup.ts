// Global setup of the `cluster` project (`npm run test:cluster`): a run dir, one embedded
// PostgreSQL (each test's cluster gets its own Temporal databases on it, and its orch its own
// database), the workflow bundle, the temporal CLI, and temporal-server / temporal-sql-tool
// (built once per machine, like `npm run cluster` does).
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../db/embedded.js';
import { freePort } from '../../worker/harness/free-port.js';
import { quietBundleLogger } from '../../worker/harness/servers.js';
import { resolveTemporalCli } from '../../worker/temporal/cli.js';
import { resolveClusterBinaries } from '../../worker/temporal/cluster/binaries.js';
import { workflowsPath } from '../../worker/workers.js';

export default async function setup(project: TestProject) {
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const runDir = await mkdtemp(path.join(tmpdir(), 'orch-cluster-'));
  // PostgreSQL runs as its own user when we are root: it must be able to enter the run dir.
  await chmod(runDir, 0o755);
  const [cli, binaries] = [await resolveTemporalCli({ log }), await resolveClusterBinaries({ log })];
  const pg = await startEmbeddedPostgres({ dataDir: runDir, port: await freePort() });
  try {
    const bundle = await bundleWorkflowCode({ workflowsPath, logger: quietBundleLogger(log) });
    const workflowBundlePath = path.join(runDir, 'workflow-bundle.js');
    await writeFile(workflowBundlePath, bundle.code);
    const admin = new URL(pg.url);
    admin.pathname = '/postgres';
    project.provide('runDir', runDir);
    project.provide('pgServerUrl', admin.toString());
    project.provide('workflowBundlePath', workflowBundlePath);
    project.provide('temporalCliPath', cli);
    project.provide('clusterServer', binaries.server);
    project.provide('clusterSqlTool', binaries.sqlTool);
  } catch (err) {
    await pg.stop();
    throw err;
  }
  return async () => {
    await pg.stop();
    if (!process.env.ORCH_KEEP_TEST_DATA) await rm(runDir, { recursive: true, force: true });
    else process.stderr.write(`test data kept in ${runDir}\n`);
  };
}
