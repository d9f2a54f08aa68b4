// A self-contained orch for one integration test: its own database, task queue, data dir, bare
// remote (with the pre-receive hook that refuses force-pushes), pipeline file, worker and API —
// all on the run's real Temporal dev server and real PostgreSQL.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { execa, type ResultPromise } from 'execa';
import { inject } from 'vitest';
import { createRecords } from '../../activities/records.js';
import { createApp } from '../../api/app.js';
import { PLANE_WEBHOOK_DISABLED } from '../../api/plane-webhook.js';
import { connectDb, runMigrations } from '../../db/client.js';
import { createDatabase } from '../../db/embedded.js';
import { loadPlaneProjects, projectDir, type PlaneConfig } from '../../worker/config.js';
import { loadPipelineConfig } from '../../worker/pipeline.js';
import { createOrchWorkers, type OrchWorkers } from '../../worker/worker.js';
import type { TaskStatus } from '../../workflows/types.js';
import { createBareRemote, type BareRemote } from './git-fixtures.js';
import { quietRuntime } from './runtime.js';

export interface TestEnvOptions {
  heartbeat?: string;
  attempts?: number;
  serial?: boolean;
  /** Seconds the demo deploy command sleeps (to STOP during a deploy). */
  deploySleep?: number;
  /** Host id of the in-process worker; `false` for none (tests that spawn worker processes). */
  worker?: string | false;
  killGraceMs?: number;
  protectedBranches?: string[];
  defaultBranch?: string;
  /**
   * The Plane bridge's config (over the shipped project map, plane-projects.yaml). Without it the
   * webhook answers 503. The object is live: a test may change e.g. `env.plane.dedupeWindowMs`.
   */
  plane?: Partial<PlaneConfig>;
  /** Another Temporal server than the run's shared one (fault tests restart their own). */
  temporal?: { address: string; namespace?: string };
  /** Another PostgreSQL server (admin URL) than the run's shared one (fault tests restart their own). */
  pgServerUrl?: string;
}

export type TestEnv = Awaited<ReturnType<typeof createTestEnv>>;

const rand = () => randomBytes(4).toString('hex');


export async function createTestEnv(name: string, opts: TestEnvOptions = {}) {
  quietRuntime();
  const id = `${name.replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 20)}_${rand()}`;
  const dir = await mkdtemp(path.join(inject('runDir'), `${id}-`));
  const dataDir = path.join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const remote: BareRemote = await createBareRemote(path.join(dir, 'remotes', 'demo.git'), { defaultBranch: opts.defaultBranch ?? 'main' });
  const deployLog = path.join(dir, 'deploys.log');
  const pipelineFile = path.join(dir, 'orch.yaml');
  await writeFile(pipelineFile, pipelineYaml({ ...opts, remote: remote.path, deployLog }));
  const pipeline = await loadPipelineConfig(pipelineFile, { dataDir, projectDir });

  const databaseUrl = await createDatabase(opts.pgServerUrl ?? inject('pgServerUrl'), `t_${id}`);
  await runMigrations(databaseUrl);
  const database = connectDb(databaseUrl, { max: 5 });
  const records = createRecords(database.db);
  const address = opts.temporal?.address ?? inject('temporalAddress');
  const namespace = opts.temporal?.namespace ?? (opts.temporal ? 'default' : inject('temporalNamespace'));
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  const taskQueue = `orch-${id}`;
  const killGraceMs = opts.killGraceMs ?? 1500;

  const plane: PlaneConfig | undefined = opts.plane
    ? { ...PLANE_WEBHOOK_DISABLED, ...loadPlaneProjects('plane-projects.yaml'), ...opts.plane }
    : undefined;
  const inProcess: { workers: OrchWorkers; done: Promise<void>; connection: NativeConnection }[] = [];
  const startInProcessWorker = async (hostId: string) => {
    const nativeConnection = await NativeConnection.connect({ address });
    const workers = await createOrchWorkers({
      connection: nativeConnection,
      namespace,
      client,
      records,
      db: database.db,
      pipeline,
      hostId,
      dataDir,
      projectDir,
      taskQueue,
      killGraceMs,
      plane,
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    const done = workers.run();
    inProcess.push({ workers, done, connection: nativeConnection });
    return workers;
  };
  if (opts.worker !== false) await startInProcessWorker(opts.worker ?? `${id.slice(0, 12)}-a`);

  const app = createApp({
    client,
    db: database.db,
    sql: database.sql,
    records,
    pipeline,
    taskQueue,
    temporalAddress: address,
    apiToken: undefined,
    dataDir,
    plane,
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  /** Environment for orch processes (worker, API, CLI) of this test. */
  const processEnv = (extra: Record<string, string> = {}) => ({
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    ORCH_DATA_DIR: dataDir,
    ORCH_CONFIG: pipelineFile,
    ORCH_TASK_QUEUE: taskQueue,
    ORCH_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
    ORCH_KILL_GRACE_MS: String(killGraceMs),
    ORCH_API_URL: apiUrl,
    LOG_LEVEL: 'info',
    // Several workers share this machine: each serves its Prometheus metrics on a port of its own.
    ORCH_WORKER_METRICS_ADDRESS: '127.0.0.1:0',
    ...extra,
  });

  const children: ResultPromise[] = [];
  /** A worker in its own process (so it can be SIGKILLed or SIGSTOPped). Resolves once it polls. */
  const spawnWorker = async (hostId: string, extraEnv: Record<string, string> = {}) => {
    const logFile = path.join(dir, `worker-${hostId}.log`);
    const out = createWriteStream(logFile, { flags: 'a' });
    const child = execa(process.execPath, ['--import', 'tsx', path.join(projectDir, 'worker/main.ts')], {
      env: processEnv({ ORCH_HOST_ID: hostId, ...extraEnv }),
      cwd: projectDir,
      reject: false,
      buffer: false,
      stdin: 'ignore',
    });
    children.push(child);
    child.stderr?.pipe(out);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (c: Buffer) => {
        out.write(c);
        if (c.toString().includes('"worker ready"')) resolve();
      });
      void child.then(async () => reject(new Error(`worker ${hostId} exited early:\n${await readFile(logFile, 'utf8')}`)));
    });
    return { pid: child.pid!, child, logFile };
  };

  const api = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${apiUrl}${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  /** Polls the task's row (by key, tombstones included) until its status is one of `want`. */
  const waitForStatus = async (key: string, want: TaskStatus[], timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const res = await api('GET', `/api/tasks/${key}`);
      last = res.body?.task?.status ?? JSON.stringify(res.body);
      if (want.includes(res.body?.task?.status)) return res.body;
      if (Date.now() > deadline) {
        throw new Error(`task ${key}: still ${last} after ${timeoutMs} ms (want ${want.join('|')})\n${await diagnose(`task-${key}`)}`);
      }
      await sleep(250);
    }
  };

  /** What a stuck workflow is doing: its pending activities and its last history events. */
  const diagnose = async (workflowId: string) => {
    try {
      const h = client.workflow.getHandle(workflowId);
      const d = await h.describe();
      const pending = (d.raw.pendingActivities ?? []).map(
        (a) => `${a.activityType?.name} attempt=${a.attempt} state=${a.state} lastFailure=${a.lastFailure?.message ?? ''}`,
      );
      const events: string[] = [];
      for (const e of (await h.fetchHistory()).events ?? []) {
        events.push(`${e.eventId} ${e.eventType}${e.activityTaskScheduledEventAttributes ? ` ${e.activityTaskScheduledEventAttributes.activityType?.name} on ${e.activityTaskScheduledEventAttributes.taskQueue?.name}` : ''}${e.activityTaskTimedOutEventAttributes ? ` ${e.activityTaskTimedOutEventAttributes.failure?.message}` : ''}`);
      }
      return `pending: ${pending.join('; ') || 'none'}\nhistory tail:\n  ${events.slice(-15).join('\n  ')}`;
    } catch (err) {
      return `(no diagnosis: ${(err as Error).message})`;
    }
  };

  /** Waits until `pred` holds (polling), or throws with `what`. */
  const until = async <T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  };

  const cleanup = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map((c) => c.catch(() => undefined)));
    for (const w of inProcess) w.workers.shutdown();
    await Promise.all(inProcess.map((w) => w.done.catch(() => undefined)));
    await Promise.all(inProcess.map((w) => w.connection.close().catch(() => undefined)));
    await new Promise((r) => server.close(r));
    await database.close();
    await connection.close();
  };

  return {
    id,
    dir,
    dataDir,
    remote,
    deployLog,
    pipelineFile,
    pipeline,
    databaseUrl,
    database,
    records,
    client,
    taskQueue,
    apiUrl,
    plane,
    api,
    processEnv,
    spawnWorker,
    startInProcessWorker,
    waitForStatus,
    until,
    diagnose,
    cleanup,
  };
}

function pipelineYaml(o: TestEnvOptions & { remote: string; deployLog: string }): string {
  const deployArgs = ['{{projectDir}}/bin/demo-deploy.mjs', '--log', o.deployLog, '--key', '{{key}}', '--sha', '{{sha}}'];
  if (o.deploySleep) deployArgs.push('--sleep', String(o.deploySleep));
  return `# generated by test/support/env.ts
agent:
  command: node
  args: ["{{projectDir}}/bin/test-agent.mjs", "--stage", "{{stage}}"]
timeouts: { stage: 5m, heartbeat: ${o.heartbeat ?? '3s'}, merge: 2m, deploy: 2m }
attemptsPerStage: ${o.attempts ?? 2}
maxConcurrentAgents: 8
repos:
  demo:
    remote: ${JSON.stringify(o.remote)}
    defaultBranch: ${JSON.stringify(o.defaultBranch ?? 'main')}
    forge: { type: local }
    deploy:
      command: node
      args: ${JSON.stringify(deployArgs)}
    serial: ${o.serial ?? false}
    protectedBranches: ${JSON.stringify(o.protectedBranches ?? [])}
`;
}
