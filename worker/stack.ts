// `npm start`, or `node --import tsx worker/stack.ts` under a supervisor: the whole embedded stack
// as one process tree. Starts PostgreSQL and the Temporal dev server (or uses ones already
// listening), applies migrations, seeds the demo repo, then runs the worker and the API.
// `npm run cluster` (ORCH_TEMPORAL=cluster) starts a production-shaped Temporal instead
// (worker/temporal/cluster) and several worker hosts.
// It stops what it started, last started first (the API, the worker, Temporal, PostgreSQL), on
// SIGTERM or SIGINT and when its parent exits; if it is killed outright, its watchdog
// (stack/watchdog.mjs) stops them. Its record (stack/record.ts) keeps a second stack off its data dir.
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { checkDatabase, redactUrl, runMigrations } from '../db/client.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { loadRuntime, type Runtime } from './config/runtime.js';
import { ensureDemoRemote } from './demo-repo.js';
import { entryArgs } from './entry-points.js';
import { watchParent } from './stack/parent-watch.js';
import { claimStack, type Claim, type RecordedProcess, type StackProcessName } from './stack/record.js';
import { spawnWatchdog, stopLeftBehind } from './stack/spawn-watchdog.js';
import { exitOnStartupError } from './startup-error.js';
import { readClusterSettings } from './temporal/cluster/settings.js';
import { startCluster, type TemporalCluster } from './temporal/cluster/start.js';
import { connectClient } from './temporal/connection.js';
import { readDevConfig, startDevServer, type DevServer } from './temporal/dev-server.js';

const say = (line: string) => process.stdout.write(`orch: ${line}\n`);
// A supervisor that read our output may be gone (that is one way we learn our parent died):
// losing the output must not cut the shutdown short.
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);
const t0 = performance.now();

const cleanups: { name: string; stop: () => Promise<void> }[] = [];
let claim: Claim | null = null;
let watchdog: ReturnType<typeof spawnWatchdog> | null = null;
/** Puts a started process in the record and in the watchdog's list. */
const track = (name: StackProcessName, pid: number | null | undefined, signal: RecordedProcess['signal']) => {
  const p = pid ? claim?.add(name, pid, signal) : null;
  if (p) watchdog?.watch(p);
};
const describeProcesses = (ps: RecordedProcess[]) => ps.map((p) => `${p.name} (pid ${p.pid})`).join(', ');
let stopRequested = false;
let onStopRequested!: () => void;
const stopRequestedP = new Promise<void>((resolve) => (onStopRequested = resolve));

/** Stops everything this process started, last started first (the watchdog stops anything left). */
async function stopAll() {
  for (const c of cleanups.reverse()) await c.stop().catch((e: Error) => say(`while stopping ${c.name}: ${e.message}`));
  cleanups.length = 0;
  await claim?.release();
}

let stopping: Promise<void> | null = null;
/** The one way out once start-up has begun: waits for the step in progress, so what it starts is stopped too. */
function stop(reason: string, code: number) {
  stopRequested = true;
  onStopRequested();
  stopping ??= (async () => {
    say(`stopping (${reason})…`);
    await startup.catch(() => undefined);
    await stopAll();
    say('stopped');
    process.exit(code);
  })();
}

/** orch worker hosts to run: one, or temporal-cluster.yaml's workerHosts under `npm run cluster`. */
let workerHosts = 1;

/** Host n of several on this machine: its own host id, and its own metrics port (the next ones up). */
function hostEnv(config: Runtime['config'], n: number): Record<string, string> {
  const metrics = config.workerMetricsAddress;
  const [, host, port] = metrics?.match(/^(.*):(\d+)$/) ?? [];
  return {
    ORCH_HOST_ID: `${config.hostId}-${n}`,
    // Port 0 (any free port) stays 0 for each.
    ORCH_WORKER_METRICS_ADDRESS: host && port ? `${host}:${Number(port) === 0 ? 0 : Number(port) + n - 1}` : 'off',
  };
}

async function main() {
  process.on('SIGINT', () => stop('SIGINT', 0));
  process.on('SIGTERM', () => stop('SIGTERM', 0));
  watchParent((parent) => stop(`parent process ${parent} exited`, 1));

  const rt = await loadRuntime();
  const { config } = rt;
  await mkdir(path.join(config.dataDir, 'logs'), { recursive: true });
  claim = await claimStack(config.dataDir, config.api.url, say);
  watchdog = spawnWatchdog();
  if (claim.leftBehind.length) {
    say(`found ${describeProcesses(claim.leftBehind)} still running from an earlier stack on this data dir (pid ${claim.previousPid}, no longer running): stopping them first`);
    await stopLeftBehind(claim.leftBehind);
  }
  if (stopRequested) return;

  // PostgreSQL
  let databaseUrl = rt.databaseUrl;
  if (config.database.url) {
    await checkDatabase(config.database.url);
    say(`database: ${redactUrl(config.database.url)}`);
  } else {
    const pg = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.database.embeddedPort, log: say });
    databaseUrl = pg.url;
    if (pg.owned) {
      cleanups.push({ name: 'postgres', stop: pg.stop });
      track('postgres', pg.pid, 'SIGINT');
    }
  }
  if (stopRequested) return;
  await runMigrations(databaseUrl);

  // Temporal: an external server, the dev server, or (`npm run cluster`) a cluster of separate services.
  let temporal: DevServer | null = null;
  let cluster: TemporalCluster | null = null;
  if (rt.temporal.cluster) {
    const settings = await readClusterSettings(config.temporal.clusterConfigFile);
    cluster = await startCluster({
      settings: { ...settings, namespace: rt.temporal.namespace },
      databaseUrl,
      dataDir: config.dataDir,
      log: say,
      onSpawn: (service, pid) => track(`temporal-${service}`, pid, 'SIGTERM'),
    });
    cleanups.push({ name: 'temporal cluster', stop: cluster.stop });
    workerHosts = settings.workerHosts;
  } else if (!rt.temporal.dev) {
    const client = await connectClient(rt.temporal, config.temporal);
    await client.connection.close();
    say(`temporal: ${rt.temporal.address} (namespace ${rt.temporal.namespace})`);
  } else {
    if (stopRequested) return;
    temporal = await startDevServer({
      config: await readDevConfig(config.temporal.devConfigFile),
      dataDir: config.dataDir,
      cliPath: config.temporal.cliPath,
      log: say,
      onSpawn: (pid) => track('temporal', pid, 'SIGTERM'),
    });
    if (temporal.owned) cleanups.push({ name: 'temporal', stop: temporal.stop });
  }
  if (stopRequested) return;

  // The demo repo
  const demo = rt.pipeline.repos.demo;
  if (demo && path.isAbsolute(demo.remote) && (await ensureDemoRemote(demo.remote, demo.defaultBranch))) {
    say(`demo repo: created ${demo.remote} (one commit on ${demo.defaultBranch})`);
  }

  // Worker and API, as child processes running TypeScript through tsx.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: rt.temporal.address,
    TEMPORAL_NAMESPACE: rt.temporal.namespace,
    ORCH_DATA_DIR: config.dataDir,
  };
  // They use the cluster this process started, at TEMPORAL_ADDRESS: they run none of their own.
  delete env.ORCH_TEMPORAL;
  const spawn = (name: 'worker' | `worker-${number}` | 'api', readyLine: string, extraEnv: Record<string, string> = {}) => {
    const logFile = path.join(config.dataDir, 'logs', `${name}.log`);
    const out = createWriteStream(logFile, { flags: 'a' });
    const child: ResultPromise = execa(process.execPath, entryArgs(name === 'api' ? 'api' : 'worker'), {
      env: { ...env, ...extraEnv },
      extendEnv: false,
      cwd: config.projectDir,
      stdin: 'ignore',
      buffer: false,
      reject: false,
      cleanup: true,
    });
    cleanups.push({
      name,
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        await Promise.race([child, sleep(15_000, undefined, { ref: false }).then(() => child.kill('SIGKILL'))]);
      },
    });
    track(name, child.pid, 'SIGTERM');
    let ready = false;
    const isReady = new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        out.write(chunk);
        if (!ready && chunk.toString().includes(readyLine)) {
          ready = true;
          resolve();
        }
      });
      void child.then(async (r) => {
        out.end();
        if (stopRequested && ready) return;
        const tail = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-10).join('\n');
        const how = `(${r.exitCode ?? r.signal}); last lines of ${logFile}:\n${tail}`;
        if (!ready) return reject(new Error(`${name} exited before it was ready ${how}`));
        say(`${name} exited unexpectedly ${how}`);
        stop(`${name} exited`, 1);
      });
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      out.write(chunk);
      if (!stopRequested) process.stderr.write(chunk);
    });
    return { isReady, logFile };
  };
  // One worker, or under `npm run cluster` several hosts, each with its own host id and metrics port.
  const workers =
    workerHosts === 1
      ? [spawn('worker', '"worker ready"')]
      : Array.from({ length: workerHosts }, (_, i) => spawn(`worker-${i + 1}`, '"worker ready"', hostEnv(config, i + 1)));
  const api = spawn('api', '"api ready"');
  // A stop during start-up need not wait for them to be ready: stopping them is enough.
  await Promise.race([Promise.all([...workers.map((w) => w.isReady), api.isReady]), stopRequestedP]);
  if (stopRequested) return;

  const lines = [
    `ready in ${((performance.now() - t0) / 1000).toFixed(1)}s`,
    `  API            ${config.api.url}   (GET /healthz)`,
    `  Temporal UI    ${temporal?.uiUrl ?? (cluster ? (cluster.ui?.url ?? '(off: ui.enabled in temporal-cluster.yaml)') : '(external server: use its own UI)')}`,
    `  Temporal gRPC  ${rt.temporal.address}   namespace ${rt.temporal.namespace}`,
    ...(cluster ? [`  Temporal       ${[...Object.values(cluster.services), ...(cluster.ui ? [cluster.ui.process] : [])].map((p) => `${p.service} (pid ${p.pid()})`).join(', ')}`] : []),
    ...(workers.length > 1 ? [`  orch hosts     ${workers.map((_, i) => hostEnv(config, i + 1).ORCH_HOST_ID).join(', ')}`] : []),
    `  data           ${config.dataDir}`,
    `  logs           ${[...workers, api].map((p) => p.logFile).join(', ')}`,
    `try: npx orch start --repo demo --title hello   (Ctrl-C stops everything)`,
  ];
  say(lines.join('\n'));
}

const startup = main();
startup.catch(async (err) => {
  if (stopRequested) return; // stop() exits, once what was started is stopped
  stopRequested = true;
  await stopAll();
  exitOnStartupError('start')(err);
});
