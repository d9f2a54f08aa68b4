// The bench's own infrastructure: a real Temporal dev server (ephemeral ports, SQLite file in a temp
// dir with temporal-dev.yaml's pragmas), an embedded PostgreSQL in the same temp dir, the orch workflow
// bundle and the bench's workflow bundle, each built once. Everything it starts is registered for
// clean-up, which runs on success, on failure and on Ctrl-C.
import { appendFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, makeTelemetryFilterString, NativeConnection, Runtime } from '@temporalio/worker';
import type { ResultPromise } from 'execa';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { projectDir } from '../worker/config.js';
import { resolveTemporalCli } from '../worker/temporal-cli.js';
import { readDevConfig, startDevServer } from '../worker/temporal-dev.js';
import { workflowsPath } from '../worker/worker.js';
import { freePort } from '../test/support/ports.js';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const benchWorkflowsPath = path.join(benchDir, 'workflows.ts');

export const say = (line: string) => process.stderr.write(`bench: ${line}\n`);

// ------------------------------------------------------------------------------- clean-up

interface Cleanup {
  name: string;
  fn: () => Promise<unknown>;
}
const cleanups: Cleanup[] = [];
let cleaning: Promise<void> | null = null;

/** Registers `fn` to run at clean-up (last registered, first run). Returns an un-register function. */
export function defer(name: string, fn: () => Promise<unknown>): () => void {
  const entry = { name, fn };
  cleanups.push(entry);
  return () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** A position in the clean-up stack: `runCleanupsTo(mark)` undoes what was registered after it. */
export function cleanupMark(): object {
  const mark: Cleanup = { name: 'mark', fn: async () => undefined };
  cleanups.push(mark);
  return mark;
}

/** Runs, newest first, the clean-ups registered since `mark` (one benchmark's resources). */
export async function runCleanupsTo(mark: object, timeoutMs = 30_000): Promise<void> {
  while (cleanups.includes(mark as Cleanup)) await runOne(cleanups.pop()!, timeoutMs);
}

async function runOne(c: Cleanup, timeoutMs: number): Promise<void> {
  const timer = sleep(timeoutMs, 'timeout' as const, { ref: false });
  const r = await Promise.race([c.fn().then(() => 'ok' as const, (e: Error) => e), timer]);
  if (r === 'timeout') say(`clean-up "${c.name}" did not finish within ${timeoutMs} ms; moving on`);
  else if (r instanceof Error) say(`clean-up "${c.name}" failed: ${r.message}`);
}

/** Runs every registered clean-up once, newest first; each gets at most `timeoutMs`. */
export function runCleanups(timeoutMs = 30_000): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) await runOne(cleanups.pop()!, timeoutMs);
  })();
  return cleaning;
}

/** A child process that is stopped at clean-up: SIGTERM, then SIGKILL after `graceMs`. */
export function ownChild(name: string, child: ResultPromise, graceMs = 5000): void {
  const alive = () => child.exitCode === null && child.signalCode === null;
  const undo = defer(name, async () => {
    if (!alive()) return;
    child.kill('SIGTERM');
    const done = child.then(() => 'exited', () => 'exited');
    if ((await Promise.race([done, sleep(graceMs, 'late', { ref: false })])) === 'late' && alive()) child.kill('SIGKILL');
    await done;
  });
  void child.then(undo, undo);
}

// --------------------------------------------------------------------------------- helpers

export { freePort };

/** Polls `fn` every `everyMs` until it returns something truthy; throws naming `what` after `timeoutMs`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Wall-clock ms with sub-ms resolution; the same expression the bench agents stamp with. */
export const nowMs = () => performance.timeOrigin + performance.now();

// ----------------------------------------------------------------------------------- stack

export interface Stack {
  runDir: string;
  temporalAddress: string;
  namespace: string;
  temporalCliPath: string;
  temporalVersion: string;
  /** The PostgreSQL server (its `postgres` database), for `createDatabase`. */
  pgServerUrl: string;
  orchBundlePath: string;
  benchBundlePath: string;
  client: Client;
  /** One native connection shared by the bench's in-process workers. */
  nativeConnection: NativeConnection;
  sdkLogFile: string;
  temporalPid: number | null;
  pgPid: number | null;
}

export interface StackOptions {
  keep: boolean;
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const runDir = await mkdtemp(path.join(tmpdir(), 'orch-bench-'));
  // As root, PostgreSQL runs as its own user and must be able to enter the run dir.
  await chmod(runDir, 0o755);
  defer('remove the run dir', async () => {
    if (o.keep) say(`run data kept in ${runDir}`);
    else await rm(runDir, { recursive: true, force: true });
  });
  say(`run dir ${runDir}`);

  // SDK and core logs go to a file: warnings from workers under test are evidence, not console noise.
  const sdkLogFile = path.join(runDir, 'sdk.log');
  Runtime.install({
    logger: new DefaultLogger('WARN', (e) => {
      try {
        appendFileSync(sdkLogFile, `${new Date(Number(e.timestampNanos / 1_000_000n)).toISOString()} ${e.level} ${e.message} ${e.meta ? safeJson(e.meta) : ''}\n`);
      } catch {
        // the run dir may be gone at exit
      }
    }),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
  });

  const temporalCliPath = await resolveTemporalCli({ log: say });
  const dev = await readDevConfig(path.join(projectDir, 'temporal-dev.yaml'));
  const [grpc, ui, http, metrics, pgPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  say('starting the Temporal dev server, PostgreSQL, and bundling the workflows…');
  const quietBundleLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => say(m), log() {} } as never;
  const t0 = performance.now();
  const [serverR, pgR, orchBundleR, benchBundleR] = await Promise.allSettled([
    startDevServer({
      // The file-backed SQLite store with the checked-in pragmas: what `npm start` runs, not the in-memory store.
      config: { ...dev, ports: { grpc, ui, http, metrics }, dbFile: 'temporal/temporal.sqlite', logLevel: 'error', headless: true },
      dataDir: runDir,
      cliPath: temporalCliPath,
    }),
    startEmbeddedPostgres({ dataDir: runDir, port: pgPort }),
    bundleWorkflowCode({ workflowsPath, logger: quietBundleLogger }),
    bundleWorkflowCode({ workflowsPath: benchWorkflowsPath, logger: quietBundleLogger }),
  ] as const);
  if (serverR.status === 'fulfilled') defer('stop the Temporal dev server', () => serverR.value.stop());
  if (pgR.status === 'fulfilled') defer('stop PostgreSQL', () => pgR.value.stop());
  const failed = [serverR, pgR, orchBundleR, benchBundleR].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) throw new AggregateError(failed.map((f) => f.reason), `bench set-up failed: ${failed.map((f) => (f.reason as Error).message).join('; ')}`);
  const server = (serverR as PromiseFulfilledResult<Awaited<ReturnType<typeof startDevServer>>>).value;
  const pg = (pgR as PromiseFulfilledResult<Awaited<ReturnType<typeof startEmbeddedPostgres>>>).value;
  if (!server.owned || !pg.owned) throw new Error('the bench must own its Temporal server and PostgreSQL (a port collided with a running one?)');
  say(`set-up took ${((performance.now() - t0) / 1000).toFixed(1)} s: temporal ${server.address} (pid ${server.pid}), postgres pid ${pg.pid}`);

  const orchBundlePath = path.join(runDir, 'orch-workflow-bundle.js');
  const benchBundlePath = path.join(runDir, 'bench-workflow-bundle.js');
  await writeFile(orchBundlePath, (orchBundleR as PromiseFulfilledResult<{ code: string }>).value.code);
  await writeFile(benchBundlePath, (benchBundleR as PromiseFulfilledResult<{ code: string }>).value.code);

  const connection = await Connection.connect({ address: server.address });
  defer('close the client connection', () => connection.close());
  const client = new Client({ connection, namespace: server.namespace });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  defer('close the worker connection', () => nativeConnection.close());
  const admin = new URL(pg.url);
  admin.pathname = '/postgres';

  const { execa } = await import('execa');
  const version = await execa(temporalCliPath, ['--version'], { reject: false });
  return {
    runDir,
    temporalAddress: server.address,
    namespace: server.namespace,
    temporalCliPath,
    temporalVersion: (version.stdout || '').trim() || 'unknown',
    pgServerUrl: admin.toString(),
    orchBundlePath,
    benchBundlePath,
    client,
    nativeConnection,
    sdkLogFile,
    temporalPid: server.pid,
    pgPid: pg.pid,
  };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  } catch {
    return String(v);
  }
}
