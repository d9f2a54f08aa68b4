// One orch instance for one test or one benchmark, on servers the run shares (servers.ts): its own
// directory, bare remote, pipeline file, database and task queue; orch itself in-process through
// createOrch (records, client, workers, an API on an ephemeral port); worker processes as
// `node --import tsx worker/main.ts`; and the helpers tests and benchmarks drive it with.
// test/support/env.ts and bench/orch-env.ts adapt it to vitest and to the bench stack.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { execa, type ResultPromise } from 'execa';
import { PLANE_WEBHOOK_DISABLED } from '../../api/plane/config.js';
import { createDatabase } from '../../db/embedded.js';
import { planeReconcileScheduleId, TERMINAL_STATUSES, taskWorkflowId, type TaskStatus } from '../../workflows/contracts/index.js';
import type { BareRemote } from '../bare-remote.js';
import type { PlaneConfig } from '../config/env.js';
import { loadPipelineConfig } from '../config/pipeline.js';
import { loadPlaneProjects } from '../config/plane-projects.js';
import { projectDir } from '../config/project-dir.js';
import { entryArgs } from '../entry-points.js';
import { createOrch } from '../orch.js';

export interface SharedServers {
  temporalAddress: string;
  temporalNamespace: string;
  /** The PostgreSQL server's admin URL: each instance creates its own database there. */
  pgServerUrl: string;
  workflowBundlePath: string;
  /** Connections to share (the bench's) instead of the instance's own. */
  client?: Client;
  nativeConnection?: NativeConnection;
}

export interface InstanceOptions<R extends BareRemote> {
  /** Short name: the instance's id (database, task queue, directory) starts with it. */
  name: string;
  /** Where the instance's directory is made. */
  runDir: string;
  servers: SharedServers;
  /** Creates the `demo` repo's remote at `dir`. */
  remote: (dir: string) => Promise<R>;
  /** The pipeline file's text (the remote is the `demo` repo). */
  pipeline: (p: { dir: string; remote: R }) => string | Promise<string>;
  databasePoolSize: number;
  killGraceMs: number;
  /**
   * The Plane bridge's config, over the shipped project map (plane-projects.yaml). Without it the
   * webhook answers 503. The object is live: a change applies to the next delivery.
   */
  plane?: Partial<PlaneConfig>;
  /** Host ids of in-process workers to start at once, given the instance's id. */
  workers?: (id: string) => string[];
  /** An in-process API on an ephemeral port; default true. */
  api?: boolean;
  /** The in-process workers' start-up lines. */
  log?: (hostId: string, line: string) => void;
  /** Told of each worker process spawned (the bench gives it to its clean-up). */
  onSpawn?: (hostId: string, child: ResultPromise) => void;
}

export interface WorkerProcess {
  hostId: string;
  pid: number;
  child: ResultPromise;
  logFile: string;
  kill(signal: NodeJS.Signals): void;
  /** Settles when the process has exited. */
  exited: Promise<void>;
}

const WORKER_READY = '"worker ready"';

export type Instance<R extends BareRemote = BareRemote> = Awaited<ReturnType<typeof createInstance<R>>>;

export async function createInstance<R extends BareRemote>(o: InstanceOptions<R>) {
  const id = `${o.name.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 20)}_${randomBytes(4).toString('hex')}`;
  const dir = await mkdtemp(path.join(o.runDir, `${id}-`));
  const dataDir = path.join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const remote = await o.remote(path.join(dir, 'remotes', 'demo.git'));
  const pipelineFile = path.join(dir, 'orch.yaml');
  await writeFile(pipelineFile, await o.pipeline({ dir, remote }));
  const pipeline = await loadPipelineConfig(pipelineFile, { dataDir, projectDir });
  const databaseUrl = await createDatabase(o.servers.pgServerUrl, `orch_${id}`);
  const taskQueue = `orch-${id}`;
  const { temporalAddress: address, temporalNamespace: namespace } = o.servers;
  const plane: PlaneConfig | undefined = o.plane
    ? { ...PLANE_WEBHOOK_DISABLED, ...loadPlaneProjects('plane-projects.yaml'), ...o.plane }
    : undefined;

  const orch = await createOrch({
    pipeline,
    dataDir,
    projectDir,
    taskQueue,
    killGraceMs: o.killGraceMs,
    plane,
    workflowBundle: o.servers.workflowBundlePath,
    database: { url: databaseUrl, poolSize: o.databasePoolSize },
    temporal: { target: { address, namespace, dev: false }, client: o.servers.client, nativeConnection: o.servers.nativeConnection },
  });
  const children: ResultPromise[] = [];
  const close = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map((c) => c.catch(() => undefined)));
    // The instance's queue goes away with it: so does its Plane reconciler's schedule, if any.
    await orch.client.schedule.getHandle(planeReconcileScheduleId(taskQueue)).delete().catch(() => undefined);
    await orch.close();
  };

  let apiUrl = '';
  try {
    for (const hostId of o.workers?.(id) ?? []) await orch.startWorkers(hostId, o.log && ((line) => o.log!(hostId, line)));
    if (o.api !== false) {
      const server = await orch.serveApi({ host: '127.0.0.1', port: 0 });
      apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
  } catch (err) {
    await close();
    throw err;
  }

  /** A further in-process worker set (shared and host queue), stopped by close(). */
  const startInProcessWorker = (hostId: string) => orch.startWorkers(hostId, o.log && ((line) => o.log!(hostId, line)));

  /** Environment for orch processes (worker, API, CLI) of this instance. */
  const processEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    ORCH_DATA_DIR: dataDir,
    ORCH_CONFIG: pipelineFile,
    ORCH_TASK_QUEUE: taskQueue,
    ORCH_WORKFLOW_BUNDLE: o.servers.workflowBundlePath,
    ORCH_KILL_GRACE_MS: String(o.killGraceMs),
    ORCH_API_URL: apiUrl,
    LOG_LEVEL: 'info',
    // Several workers share this machine: each serves its Prometheus metrics on a port of its own.
    ORCH_WORKER_METRICS_ADDRESS: '127.0.0.1:0',
    ...extra,
  });

  /** A worker in its own process (to SIGKILL or SIGSTOP it, or read its RSS). Resolves once it polls. */
  const spawnWorker = async (hostId: string, extraEnv: Record<string, string> = {}, readyTimeoutMs?: number): Promise<WorkerProcess> => {
    const logFile = path.join(dir, `worker-${hostId}.log`);
    const out = createWriteStream(logFile, { flags: 'a' });
    const child = execa(process.execPath, entryArgs('worker'), {
      env: processEnv({ ORCH_HOST_ID: hostId, ...extraEnv }),
      extendEnv: false,
      cwd: projectDir,
      reject: false,
      buffer: false,
      stdin: 'ignore',
    });
    children.push(child);
    o.onSpawn?.(hostId, child);
    child.stderr?.pipe(out);
    let ready = false;
    const readyP = new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (c: Buffer) => {
        out.write(c);
        if (!ready && c.toString().includes(WORKER_READY)) {
          ready = true;
          resolve();
        }
      });
      void child.then(async () => {
        if (!ready) reject(new Error(`worker ${hostId} exited before it was ready:\n${(await readFile(logFile, 'utf8').catch(() => '')).slice(-3000)}`));
      });
    });
    const timeout =
      readyTimeoutMs === undefined
        ? []
        : [sleep(readyTimeoutMs, undefined, { ref: false }).then(() => Promise.reject(new Error(`worker ${hostId} not ready within ${readyTimeoutMs} ms (log ${logFile})`)))];
    await Promise.race([readyP, ...timeout]);
    return { hostId, pid: child.pid!, child, logFile, kill: (s) => child.kill(s), exited: child.then(() => undefined, () => undefined) };
  };

  /** One request to the in-process API; the body is parsed JSON (or the text, when it is not JSON). */
  const api = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${apiUrl}${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed };
  };

  /** The status of task `key` in the database (its live row, else its newest tombstone). */
  const taskStatus = async (key: string): Promise<TaskStatus | null> => (await orch.records.findByKey(key))?.status ?? null;

  /** What a stuck workflow is doing: its pending activities and its last history events. */
  const diagnose = async (workflowId: string) => {
    try {
      const h = orch.client.workflow.getHandle(workflowId);
      const d = await h.describe();
      const pending = (d.raw.pendingActivities ?? []).map(
        (a) => `${a.activityType?.name} attempt=${a.attempt} state=${a.state} lastFailure=${a.lastFailure?.message ?? ''}`,
      );
      const events: string[] = [];
      for (const e of (await h.fetchHistory()).events ?? []) {
        const scheduled = e.activityTaskScheduledEventAttributes;
        const timedOut = e.activityTaskTimedOutEventAttributes;
        events.push(`${e.eventId} ${e.eventType}${scheduled ? ` ${scheduled.activityType?.name} on ${scheduled.taskQueue?.name}` : ''}${timedOut ? ` ${timedOut.failure?.message}` : ''}`);
      }
      return `pending: ${pending.join('; ') || 'none'}\nhistory tail:\n  ${events.slice(-15).join('\n  ')}`;
    } catch (err) {
      return `(no diagnosis: ${(err as Error).message})`;
    }
  };

  /** Polls the task through the API (by key, tombstones included) until its status is one of `want`; returns the API's answer. */
  const waitForStatus = async (key: string, want: readonly TaskStatus[] = TERMINAL_STATUSES, timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const res = await api('GET', `/api/tasks/${key}`);
      last = res.body?.task?.status ?? JSON.stringify(res.body);
      if (want.includes(res.body?.task?.status)) return res.body;
      if (Date.now() > deadline) {
        throw new Error(`task ${key}: still ${last} after ${timeoutMs} ms (want ${want.join('|')})\n${await diagnose(taskWorkflowId(key))}`);
      }
      await sleep(250);
    }
  };

  return {
    id,
    name: o.name,
    dir,
    dataDir,
    remote,
    pipelineFile,
    pipeline,
    databaseUrl,
    database: orch.database,
    records: orch.records,
    client: orch.client,
    taskQueue,
    apiUrl,
    plane,
    orch,
    api,
    processEnv,
    spawnWorker,
    startInProcessWorker,
    taskStatus,
    waitForStatus,
    diagnose,
    close,
  };
}
