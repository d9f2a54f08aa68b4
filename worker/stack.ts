// `npm start`: the whole embedded stack in one command. Starts (or reuses) the Temporal dev server
// and PostgreSQL, applies migrations, seeds the demo repo, then runs the worker and the API.
// Ctrl-C stops everything this process started.
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { checkDatabase, redactUrl, runMigrations } from '../db/client.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { loadRuntime } from './config/runtime.js';
import { ensureDemoRemote } from './demo-repo.js';
import { ENTRY_POINTS, entryArgs } from './entry-points.js';
import { exitOnStartupError } from './startup-error.js';
import { connectClient } from './temporal/connection.js';
import { readDevConfig, startDevServer, type DevServer } from './temporal/dev-server.js';

const say = (line: string) => process.stdout.write(`orch: ${line}\n`);
const t0 = performance.now();
const cleanups: (() => Promise<void>)[] = [];
let stopping = false;
async function runCleanups() {
  for (const c of cleanups.reverse()) await c().catch((e) => say(`while stopping: ${(e as Error).message}`));
  cleanups.length = 0;
}

async function main() {
  const rt = await loadRuntime();
  const { config } = rt;
  await mkdir(path.join(config.dataDir, 'logs'), { recursive: true });
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    await runCleanups();
    say('stopped');
    process.exit(code);
  };
  // This process owns the shutdown order: worker and API first, then Temporal, then PostgreSQL.
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  // PostgreSQL
  let databaseUrl = rt.databaseUrl;
  if (config.database.url) {
    await checkDatabase(config.database.url);
    say(`database: ${redactUrl(config.database.url)}`);
  } else {
    const pg = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.database.embeddedPort, log: say });
    databaseUrl = pg.url;
    if (pg.owned) cleanups.push(() => pg.stop());
  }
  await runMigrations(databaseUrl);

  // Temporal
  let temporal: DevServer | null = null;
  if (!rt.temporal.dev) {
    const client = await connectClient(rt.temporal, config.temporal);
    await client.connection.close();
    say(`temporal: ${rt.temporal.address} (namespace ${rt.temporal.namespace})`);
  } else {
    temporal = await startDevServer({
      config: await readDevConfig(config.temporal.devConfigFile),
      dataDir: config.dataDir,
      cliPath: config.temporal.cliPath,
      log: say,
    });
    if (temporal.owned) cleanups.push(() => temporal!.stop());
  }

  // The demo repo
  const demo = rt.pipeline.repos.demo;
  if (demo && path.isAbsolute(demo.remote) && (await ensureDemoRemote(demo.remote, demo.defaultBranch))) {
    say(`demo repo: created ${demo.remote} (one commit on ${demo.defaultBranch})`);
  }

  // Worker and API, as child processes running TypeScript through tsx.
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: rt.temporal.address,
    TEMPORAL_NAMESPACE: rt.temporal.namespace,
    ORCH_DATA_DIR: config.dataDir,
  };
  const spawn = (name: keyof typeof ENTRY_POINTS, readyLine: string) => {
    const logFile = path.join(config.dataDir, 'logs', `${name}.log`);
    const out = createWriteStream(logFile, { flags: 'a' });
    const child: ResultPromise = execa(process.execPath, entryArgs(name), {
      env,
      cwd: config.projectDir,
      stdin: 'ignore',
      buffer: false,
      reject: false,
      cleanup: true,
    });
    let ready = false;
    const isReady = new Promise<void>((resolve) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        out.write(chunk);
        if (!ready && chunk.toString().includes(readyLine)) {
          ready = true;
          resolve();
        }
      });
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      out.write(chunk);
      if (!stopping) process.stderr.write(chunk);
    });
    void child.then(async (r) => {
      out.end();
      if (stopping) return;
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-10).join('\n');
      say(`${name} exited unexpectedly (${r.exitCode ?? r.signal}); last lines of ${logFile}:\n${tail}`);
      void shutdown(1);
    });
    cleanups.push(async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([child, sleep(15_000, undefined, { ref: false }).then(() => child.kill('SIGKILL'))]);
    });
    return { isReady, logFile, pid: child.pid };
  };
  const worker = spawn('worker', '"worker ready"');
  const api = spawn('api', '"api ready"');
  await Promise.all([worker.isReady, api.isReady]);

  const lines = [
    `ready in ${((performance.now() - t0) / 1000).toFixed(1)}s`,
    `  API            ${config.api.url}   (GET /healthz)`,
    `  Temporal UI    ${temporal?.uiUrl ?? '(external server: use its own UI)'}`,
    `  Temporal gRPC  ${rt.temporal.address}   namespace ${rt.temporal.namespace}`,
    `  data           ${config.dataDir}`,
    `  logs           ${worker.logFile}, ${api.logFile}`,
    `try: npx orch start --repo demo --title hello   (Ctrl-C stops everything)`,
  ];
  say(lines.join('\n'));
}

main().catch(async (err) => {
  stopping = true;
  await runCleanups();
  exitOnStartupError('start')(err);
});
