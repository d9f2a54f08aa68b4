// One orch instance for one benchmark, on the bench's Temporal server and PostgreSQL: its own database,
// task queue, data dir, bare git remote and pipeline file; optionally an in-process worker and API (as
// test/support/env.ts assembles them), and worker processes (`node --import tsx worker/main.ts`).
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { createRecords } from '../activities/records.js';
import { createApp } from '../api/app.js';
import { PLANE_WEBHOOK_DISABLED } from '../api/plane-webhook.js';
import { connectDb, runMigrations } from '../db/client.js';
import { createDatabase } from '../db/embedded.js';
import { loadPlaneProjects, projectDir, type PlaneConfig } from '../worker/config.js';
import { loadPipelineConfig } from '../worker/pipeline.js';
import { createOrchWorkers, type OrchWorkers } from '../worker/worker.js';
import { defer, ownChild, say, until, type Stack } from './stack.js';

export const stampAgentPath = path.join(projectDir, 'bench', 'agents', 'sigterm-stamp.mjs');

export interface PipelineParams {
  remote: string;
  stampDir: string;
}

export interface OrchEnvOptions {
  /** Short name: the database, queue and dir are derived from it. */
  name: string;
  /** The pipeline file's text. */
  pipeline: (p: PipelineParams) => string;
  /** Host id of an in-process worker; omit for none. */
  inProcessWorker?: string;
  /** An in-process API (createApp on an ephemeral port); default true. */
  api?: boolean;
  plane?: Partial<PlaneConfig>;
  killGraceMs?: number;
}

export interface StampLine {
  event: 'ready' | 'sigterm';
  t: number;
  pid: number;
  host?: string | null;
  stage?: string | null;
  attempt?: number;
}

export interface WorkerProcess {
  hostId: string;
  pid: number;
  logFile: string;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<unknown>;
}

const rand = () => randomBytes(3).toString('hex');

export async function createOrchEnv(stack: Stack, o: OrchEnvOptions) {
  const id = `${o.name.toLowerCase().replace(/[^a-z0-9]/g, '')}_${rand()}`;
  const dir = await mkdtemp(path.join(stack.runDir, `${id}-`));
  const dataDir = path.join(dir, 'data');
  const stampDir = path.join(dir, 'stamps');
  await mkdir(dataDir, { recursive: true });
  await mkdir(stampDir, { recursive: true });
  const remote = await createSeededBareRemote(path.join(dir, 'remotes', 'demo.git'), path.join(dir, 'seed'));
  const pipelineFile = path.join(dir, 'orch.yaml');
  await writeFile(pipelineFile, o.pipeline({ remote, stampDir }));
  const pipeline = await loadPipelineConfig(pipelineFile, { dataDir, projectDir });

  const databaseUrl = await createDatabase(stack.pgServerUrl, `b_${id}`);
  await runMigrations(databaseUrl);
  const database = connectDb(databaseUrl, { max: 10 });
  defer(`${o.name}: close the database pool`, () => database.close());
  const records = createRecords(database.db);
  const taskQueue = `bench-${id}`;
  const killGraceMs = o.killGraceMs ?? 3000;
  const client = stack.client;

  const inProcess: { workers: OrchWorkers; done: Promise<void> }[] = [];
  const startInProcessWorker = async (hostId: string) => {
    const workers = await createOrchWorkers({
      connection: stack.nativeConnection,
      namespace: stack.namespace,
      client,
      records,
      db: database.db,
      pipeline,
      hostId,
      dataDir,
      projectDir,
      taskQueue,
      killGraceMs,
      workflowBundle: { codePath: stack.orchBundlePath },
      log: (line) => say(`${o.name} worker ${hostId}: ${line}`),
    });
    const done = workers.run();
    const entry = { workers, done };
    inProcess.push(entry);
    defer(`${o.name}: stop in-process worker ${hostId}`, async () => {
      workers.shutdown();
      await done.catch(() => undefined);
    });
    return workers;
  };
  if (o.inProcessWorker) await startInProcessWorker(o.inProcessWorker);

  const plane: PlaneConfig | undefined = o.plane
    ? { ...PLANE_WEBHOOK_DISABLED, ...loadPlaneProjects('plane-projects.yaml'), ...o.plane }
    : undefined;
  let apiUrl = '';
  if (o.api !== false) {
    const app = createApp({
      client,
      db: database.db,
      sql: database.sql,
      records,
      pipeline,
      taskQueue,
      temporalAddress: stack.temporalAddress,
      apiToken: undefined,
      dataDir,
      plane,
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    defer(`${o.name}: close the in-process API`, () => new Promise((r) => server.close(r)));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Environment of orch processes (worker, API) of this instance. */
  const processEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: stack.namespace,
    ORCH_DATA_DIR: dataDir,
    ORCH_CONFIG: pipelineFile,
    ORCH_TASK_QUEUE: taskQueue,
    ORCH_WORKFLOW_BUNDLE: stack.orchBundlePath,
    ORCH_KILL_GRACE_MS: String(killGraceMs),
    ORCH_API_URL: apiUrl,
    LOG_LEVEL: 'info',
    // Several workers share this machine: each serves its Prometheus metrics on a port of its own.
    ORCH_WORKER_METRICS_ADDRESS: '127.0.0.1:0',
    ...extra,
  });

  /** A worker in its own process (so it can be SIGKILLed, or its RSS read). Resolves once it polls. */
  const spawnWorker = async (hostId: string, timeoutMs = 60_000): Promise<WorkerProcess> => {
    const logFile = path.join(dir, `worker-${hostId}.log`);
    const out = createWriteStream(logFile, { flags: 'a' });
    const child = execa(process.execPath, ['--import', 'tsx', path.join(projectDir, 'worker/main.ts')], {
      env: processEnv({ ORCH_HOST_ID: hostId }),
      extendEnv: false,
      cwd: projectDir,
      reject: false,
      buffer: false,
      stdin: 'ignore',
    });
    ownChild(`${o.name}: worker process ${hostId}`, child);
    child.stderr?.pipe(out);
    let ready = false;
    const readyP = new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (c: Buffer) => {
        out.write(c);
        if (!ready && c.toString().includes('"worker ready"')) {
          ready = true;
          resolve();
        }
      });
      void child.then(async () => {
        if (!ready) reject(new Error(`worker ${hostId} exited before it was ready:\n${(await readFile(logFile, 'utf8').catch(() => '')).slice(-3000)}`));
      });
    });
    await Promise.race([readyP, sleep(timeoutMs).then(() => Promise.reject(new Error(`worker ${hostId} not ready within ${timeoutMs} ms (log ${logFile})`)))]);
    return { hostId, pid: child.pid!, logFile, kill: (s) => child.kill(s), exited: child.then(() => undefined, () => undefined) };
  };

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

  /** The status of task `key` (the live row, or its newest tombstone). */
  const taskStatus = async (key: string): Promise<string | null> => {
    const rows = await database.sql<{ status: string }[]>`
      select status from tasks where key = ${key} or key like ${`${key}#cancelled-%`} order by created_at desc limit 1`;
    return rows[0]?.status ?? null;
  };

  const waitForStatus = (key: string, want: string[], timeoutMs: number) =>
    until(`task ${key} to be ${want.join('|')}`, async () => {
      const s = await taskStatus(key);
      return s && want.includes(s) ? s : null;
    }, timeoutMs, 50);

  /** The lines a bench agent stamped for task `key`. */
  const stamps = async (key: string): Promise<StampLine[]> => {
    const text = await readFile(path.join(stampDir, `${key}.jsonl`), 'utf8').catch(() => '');
    const out: StampLine[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as StampLine);
      } catch {
        // a line still being written
      }
    }
    return out;
  };

  /** How many tasks have a `ready` stamp (cheap: counts stamp files). */
  const readyCount = async () => (await readdir(stampDir)).filter((f) => f.endsWith('.jsonl')).length;

  return {
    id,
    name: o.name,
    dir,
    dataDir,
    stampDir,
    remote,
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
    taskStatus,
    waitForStatus,
    stamps,
    readyCount,
  };
}
export type OrchEnv = Awaited<ReturnType<typeof createOrchEnv>>;

const GIT_ENV = { GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
const IDENTITY = ['-c', 'user.name=bench', '-c', 'user.email=bench@orch.invalid', '-c', 'commit.gpgsign=false'];

/** A bare repository with one commit on `main` (README.md). */
async function createSeededBareRemote(bare: string, seed: string): Promise<string> {
  const git = (cwd: string, ...args: string[]) => execa('git', args, { cwd, env: GIT_ENV });
  await mkdir(bare, { recursive: true });
  await mkdir(seed, { recursive: true });
  await git(bare, 'init', '--bare', '--quiet', '--initial-branch=main');
  await git(seed, 'init', '--quiet', '--initial-branch=main');
  await writeFile(path.join(seed, 'README.md'), '# bench\n');
  await git(seed, 'add', 'README.md');
  await git(seed, ...IDENTITY, 'commit', '--quiet', '-m', 'seed');
  await git(seed, 'push', '--quiet', bare, 'HEAD:refs/heads/main');
  return bare;
}

/** A pipeline file: one repo, the given agent and stages. */
export function pipelineYaml(o: {
  remote: string;
  agent: { command: string; args: string[] };
  heartbeat: string;
  stage?: string;
  maxConcurrentAgents?: number;
  attempts?: number;
  stages: { name: string; gate?: string }[];
}): string {
  const stages = o.stages
    .map((s) => `  - name: ${s.name}\n    prompt: "bench {{key}} {{stage}}"\n    gate: { type: file-exists, path: ${JSON.stringify(s.gate ?? 'docs/tasks/{{key}}/{{stage}}.md')} }`)
    .join('\n');
  return `# generated by bench/orch-env.ts
agent:
  command: ${JSON.stringify(o.agent.command)}
  args: ${JSON.stringify(o.agent.args)}
timeouts: { stage: ${o.stage ?? '10m'}, heartbeat: ${o.heartbeat}, merge: 2m, deploy: 2m }
attemptsPerStage: ${o.attempts ?? 1}
maxConcurrentAgents: ${o.maxConcurrentAgents ?? 8}
repos:
  demo:
    remote: ${JSON.stringify(o.remote)}
    defaultBranch: main
    forge: { type: local }
stages:
${stages}
`;
}
