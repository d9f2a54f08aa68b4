// One Temporal service (frontend, history, matching or worker) as its own `temporal-server start
// --service <name>` process, or the Web UI server, logging to <data dir>/logs/temporal-<name>.log.
// It can be stopped, killed and started again on the same config (the fault suite does that).
import { mkdir, readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import type { ClusterService } from './settings.js';

export interface ServiceProcessOptions {
  service: ClusterService | 'ui';
  /** The program and its arguments. */
  command: string;
  args: string[];
  host: string;
  /** The port that opens once the process is up: gRPC, or membership for the worker service (it serves no gRPC). */
  readyPort: number;
  logDir: string;
  /** Told each new process's pid as soon as it is spawned. */
  onSpawn?: (service: ClusterService | 'ui', pid: number) => void;
}

/** The arguments that run one service of the cluster whose config dir is <root>/config. */
export const serverArgs = (root: string, service: ClusterService) => ['--root', root, '--config', 'config', '--env', service, '--allow-no-auth', 'start', '--service', service];

export interface ServiceProcess {
  service: ClusterService | 'ui';
  logFile: string;
  pid(): number | null;
  running(): boolean;
  /** Spawns the process and resolves once its ready port accepts connections. */
  start(timeoutMs?: number): Promise<void>;
  /** SIGTERM (the server's graceful shutdown), SIGKILL after a grace. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
}

export const portOpen = (host: string, port: number, timeoutMs = 1000) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });

export function serviceProcess(o: ServiceProcessOptions): ServiceProcess {
  const logFile = path.join(o.logDir, `temporal-${o.service}.log`);
  let child: ResultPromise | null = null;
  let exited: string | null = null;

  const tailOfLog = async () => (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
  const waitExit = async (c: ResultPromise, ms: number) => {
    await Promise.race([c, sleep(ms, undefined, { ref: false })]);
  };

  return {
    service: o.service,
    logFile,
    pid: () => (child && !exited ? (child.pid ?? null) : null),
    running: () => child !== null && exited === null,
    async start(timeoutMs = 90_000) {
      if (child && !exited) throw new Error(`temporal ${o.service} is already running (pid ${child.pid})`);
      await mkdir(o.logDir, { recursive: true });
      exited = null;
      const c: ResultPromise = execa(o.command, o.args, {
        stdin: 'ignore',
        stdout: { file: logFile, append: true },
        stderr: { file: logFile, append: true },
        reject: false,
        cleanup: true,
      });
      child = c;
      if (c.pid !== undefined) o.onSpawn?.(o.service, c.pid);
      void c.then((r) => {
        if (child === c) exited = r.exitCode !== undefined ? `exit code ${r.exitCode}` : r.signal ? `signal ${r.signal}` : (r.message ?? 'failed to start');
      });
      const deadline = Date.now() + timeoutMs;
      while (!(await portOpen(o.host, o.readyPort))) {
        if (exited) throw new Error(`temporal ${o.service} exited during start-up (${exited}); see ${logFile}:\n${await tailOfLog()}`);
        if (Date.now() > deadline) {
          c.kill('SIGKILL');
          throw new Error(`temporal ${o.service} did not listen on ${o.host}:${o.readyPort} within ${timeoutMs} ms; see ${logFile}:\n${await tailOfLog()}`);
        }
        await sleep(200);
      }
    },
    async stop() {
      const c = child;
      if (!c || exited) return;
      c.kill('SIGTERM');
      await waitExit(c, 20_000);
      if (!exited) {
        c.kill('SIGKILL');
        await c;
      }
    },
    async kill() {
      const c = child;
      if (!c || exited) return;
      c.kill('SIGKILL');
      await c;
    },
  };
}
