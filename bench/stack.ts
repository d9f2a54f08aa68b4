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
import { execa, type ResultPromise } from 'execa';
import { quietBundleLogger, startServers } from '../worker/harness/servers.js';

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

/** Wall-clock ms with sub-ms resolution; the same expression the bench agents stamp with. */
export const nowMs = () => performance.timeOrigin + performance.now();

/**
 * nowMs() set to the wall clock as of now. The two drift apart over a long run (28 ppm on this VM),
 * and other processes (agents, the Temporal server) stamp the wall clock.
 */
export function wallClock(): () => number {
  const start = Date.now();
  let edge = start;
  while (edge === start) edge = Date.now(); // the start of a millisecond: Date.now() is exact there
  const offset = edge - nowMs();
  return () => nowMs() + offset;
}

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

  say('starting the Temporal dev server, PostgreSQL, and bundling the workflows…');
  const t0 = performance.now();
  const [serversR, benchBundleR] = await Promise.allSettled([
    // The file-backed SQLite store with the checked-in pragmas: what `npm start` runs, not the in-memory store.
    startServers({ runDir, what: 'bench set-up', temporalDbFile: 'temporal/temporal.sqlite', headless: true, log: say }),
    bundleWorkflowCode({ workflowsPath: benchWorkflowsPath, logger: quietBundleLogger(say) }),
  ] as const);
  if (serversR.status === 'fulfilled') defer('stop the Temporal dev server and PostgreSQL', () => serversR.value.stop());
  if (serversR.status === 'rejected') throw serversR.reason;
  if (benchBundleR.status === 'rejected') throw new Error(`bench set-up failed: ${(benchBundleR.reason as Error).message}`);
  const servers = serversR.value;
  const { temporal: server, postgres: pg } = servers;
  if (!server.owned || !pg.owned) throw new Error('the bench must own its Temporal server and PostgreSQL (a port collided with a running one?)');
  say(`set-up took ${((performance.now() - t0) / 1000).toFixed(1)} s: temporal ${server.address} (pid ${server.pid}), postgres pid ${pg.pid}`);

  const benchBundlePath = path.join(runDir, 'bench-workflow-bundle.js');
  await writeFile(benchBundlePath, benchBundleR.value.code);

  const connection = await Connection.connect({ address: server.address });
  defer('close the client connection', () => connection.close());
  const client = new Client({ connection, namespace: server.namespace });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  defer('close the worker connection', () => nativeConnection.close());

  const version = await execa(servers.temporalCliPath, ['--version'], { reject: false });
  return {
    runDir,
    temporalAddress: server.address,
    namespace: server.namespace,
    temporalCliPath: servers.temporalCliPath,
    temporalVersion: (version.stdout || '').trim() || 'unknown',
    pgServerUrl: servers.pgServerUrl,
    orchBundlePath: servers.workflowBundlePath,
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
