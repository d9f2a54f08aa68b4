// `npm run cluster` as an operator uses it (docs/deploy.md): one command builds what is missing,
// brings up PostgreSQL, a four-process Temporal on PostgreSQL with history shards, three orch
// worker hosts and the API; a demo task reaches `done` and is listed by the temporal CLI at the
// frontend; SIGTERM stops every process it started.
import { chmod, mkdtemp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { projectDir } from '../../worker/config/project-dir.js';
import { freePort } from '../../worker/harness/free-port.js';
import { until } from '../../worker/harness/until.js';
import { readRecord } from '../../worker/stack/record.js';
import { killAllOf, processesOf, waitNoneLeft } from '../support/stack.js';
import { clusterSettingsOnFreePorts, writeClusterSettings } from './support.js';

describe('npm run cluster', () => {
  let dataDir = '';
  let child: ResultPromise | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    if (dataDir) await killAllOf(dataDir);
  });

  it('brings up a production-shaped Temporal and three orch hosts; a demo task reaches done; SIGTERM leaves nothing', async () => {
    dataDir = await mkdtemp(path.join(inject('runDir'), 'npm-run-cluster-'));
    await chmod(dataDir, 0o755);
    const base = await clusterSettingsOnFreePorts('stack', { databases: { default: 'temporal', visibility: 'temporal_visibility' } });
    const settings = { ...base, ui: { ...base.ui, enabled: true } };
    const settingsFile = path.join(dataDir, 'temporal-cluster.yaml');
    await writeClusterSettings(settingsFile, settings);
    const [pg, api] = [await freePort(), await freePort()];
    const frontend = `127.0.0.1:${settings.services.frontend.grpc}`;

    child = execa('npm', ['run', '-s', 'cluster'], {
      cwd: projectDir,
      reject: false,
      all: true,
      env: {
        ...process.env,
        ORCH_DATA_DIR: dataDir,
        ORCH_TEMPORAL_CLUSTER_CONFIG: settingsFile,
        ORCH_PG_PORT: String(pg),
        PORT: String(api),
        ORCH_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
        ORCH_WORKER_METRICS_ADDRESS: '127.0.0.1:0',
        ORCH_HOST_ID: 'clu',
        DATABASE_URL: '',
        TEMPORAL_ADDRESS: '',
        ORCH_TEMPORAL: '',
      },
    });
    let out = '';
    child.all?.on('data', (c: Buffer) => (out += c.toString()));
    await until('the cluster stack to be ready', () => {
      if (child!.exitCode !== null) throw new Error(`npm run cluster exited (${child!.exitCode}):\n${out}`);
      return out.includes('orch: ready in');
    }, 240_000, 250);

    // What runs: four Temporal services, three worker hosts, the API, PostgreSQL, each its own process.
    const record = await readRecord(dataDir);
    const names = record!.processes.map((p) => p.name);
    expect(names).toEqual(['postgres', 'temporal-history', 'temporal-matching', 'temporal-frontend', 'temporal-worker', 'temporal-ui', 'worker-1', 'worker-2', 'worker-3', 'api']);
    expect(new Set(record!.processes.map((p) => p.pid)).size).toBe(names.length);
    expect(out).toContain('orch hosts     clu-1, clu-2, clu-3');

    // Temporal's history is in PostgreSQL, with the configured number of shards.
    const sql = postgres(`postgres://orch:orch@127.0.0.1:${pg}/temporal`, { max: 1, onnotice: () => undefined });
    try {
      const [{ n }] = (await sql`select count(*)::int as n from shards`) as unknown as [{ n: number }];
      expect(n).toBe(settings.numHistoryShards);
      expect(settings.numHistoryShards).toBeGreaterThan(1);
    } finally {
      await sql.end();
    }

    // The Web UI, against the frontend: its page, and its API listing the namespace's workflows.
    const uiUrl = `http://127.0.0.1:${settings.ui.port}`;
    expect(out).toContain(`Temporal UI    ${uiUrl}`);
    expect((await fetch(`${uiUrl}/`)).status).toBe(200);

    const health = await fetch(`http://127.0.0.1:${api}/healthz`);
    expect(await health.json()).toMatchObject({ ok: true, temporal: { up: true }, database: { up: true } });
    const start = await fetch(`http://127.0.0.1:${api}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'CLU-1', repo: 'demo', title: 'hello' }),
    });
    expect(start.status).toBe(202);
    const task = await until('CLU-1 to be done', async () => {
      const v = (await (await fetch(`http://127.0.0.1:${api}/api/tasks/CLU-1`)).json()) as any;
      return v.task?.status === 'done' || v.task?.status === 'failed' ? v : null;
    }, 180_000, 500);
    expect(task.task.status).toBe('done');
    for (const j of task.jobs) expect(['clu-1', 'clu-2', 'clu-3']).toContain(j.host);

    // Visible through the temporal CLI at the frontend, and filterable by orch's search attributes.
    const cli = inject('temporalCliPath');
    const list = await execa(cli, ['workflow', 'list', '--address', frontend, '--query', "WorkflowId='task-CLU-1'"]);
    expect(list.stdout).toContain('task-CLU-1');
    expect(list.stdout).toContain('Completed');
    const byAttr = await until('the search attribute to be indexed', async () => {
      const r = await execa(cli, ['workflow', 'list', '--address', frontend, '--query', 'OrchStatus="done" AND OrchRepo="demo"']);
      return r.stdout.includes('task-CLU-1') ? r : null;
    }, 30_000, 500);
    expect(byAttr.stdout).toContain('task-CLU-1');
    const viaUi = (await (await fetch(`${uiUrl}/api/v1/namespaces/default/workflows?query=${encodeURIComponent("WorkflowId='task-CLU-1'")}`)).json()) as any;
    expect(viaUi.executions?.[0]?.execution?.workflowId).toBe('task-CLU-1');

    // SIGTERM to the stack: everything it started stops, in order, and nothing of the data dir is left.
    process.kill(record!.pid, 'SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(0);
    expect(out).toContain('orch: stopped');
    const left = await waitNoneLeft(dataDir, 30_000);
    expect(left.map((p) => `${p.pid} ${p.cmd}`)).toEqual([]);
    expect(processesOf(dataDir)).toEqual([]);
    // The services shut down on their own signal, not by SIGKILL after the grace.
    for (const svc of ['frontend', 'history', 'matching']) {
      const log = await readFile(path.join(dataDir, 'logs', `temporal-${svc}.log`), 'utf8');
      expect(log.slice(-300), `${svc} log`).toContain('All services are stopped.');
    }
  });
});
