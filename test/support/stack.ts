// The embedded stack (worker/stack.ts) as the tests start it: its own data dir and free ports, and
// its processes found through /proc by that data dir (in a command line or an environment).
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive, readProcStat } from '../../activities/adapters/process-tree.js';
import { projectDir } from '../../worker/config/project-dir.js';
import { freePort } from '../../worker/harness/free-port.js';

export interface StackDir {
  dataDir: string;
  ports: { grpc: number; ui: number; http: number; metrics: number; pg: number; api: number };
  /** The environment a stack on this data dir and these ports runs with. */
  env: NodeJS.ProcessEnv;
}

export interface StackDirOptions {
  runDir: string;
  temporalCliPath: string;
  /** A prebuilt workflow bundle: the worker then starts in seconds instead of bundling its workflows. */
  workflowBundlePath?: string;
  prefix?: string;
}

export async function makeStackDir({ runDir, temporalCliPath, workflowBundlePath, prefix = 'stack-' }: StackDirOptions): Promise<StackDir> {
  const [grpc, ui, http, metrics, pg, api] = (await Promise.all(Array.from({ length: 6 }, freePort))) as [number, number, number, number, number, number];
  const dataDir = await mkdtemp(path.join(runDir, prefix));
  // PostgreSQL runs as its own user when we are root: it must be able to enter the data dir.
  await chmod(dataDir, 0o755);
  const devConfig = path.join(dataDir, 'temporal-dev.yaml');
  const yaml = (await readFile(path.join(projectDir, 'temporal-dev.yaml'), 'utf8'))
    .replace(/grpc: \d+/, `grpc: ${grpc}`)
    .replace(/ui: \d+/, `ui: ${ui}`)
    .replace(/http: \d+/, `http: ${http}`)
    .replace(/metrics: \d+/, `metrics: ${metrics}`);
  await writeFile(devConfig, yaml);
  const env = {
    ...process.env,
    ORCH_DATA_DIR: dataDir,
    ORCH_TEMPORAL_DEV_CONFIG: devConfig,
    ORCH_PG_PORT: String(pg),
    PORT: String(api),
    TEMPORAL_CLI_PATH: temporalCliPath,
    // A developer's own worker may hold the default metrics port.
    ORCH_WORKER_METRICS_ADDRESS: '127.0.0.1:0',
    DATABASE_URL: '',
    TEMPORAL_ADDRESS: '',
    ...(workflowBundlePath && { ORCH_WORKFLOW_BUNDLE: workflowBundlePath }),
  };
  return { dataDir, ports: { grpc, ui, http, metrics, pg, api }, env };
}

const readProc = (pid: number, file: string) => {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return ''; // gone, or not ours to read
  }
};

export interface FoundProcess {
  pid: number;
  cmd: string;
}

/** Every live process whose command line or environment names `dataDir`: the stack's, npm included. */
export function processesOf(dataDir: string): FoundProcess[] {
  const found: FoundProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const stat = (() => {
      try {
        return readProcStat(pid);
      } catch {
        return null;
      }
    })();
    if (!stat || stat.state === 'Z') continue;
    const cmd = readProc(pid, 'cmdline').replaceAll('\0', ' ').trim();
    if (cmd.includes(dataDir) || readProc(pid, 'environ').split('\0').some((v) => v.includes(dataDir))) found.push({ pid, cmd });
  }
  return found;
}

const ROLES = {
  stack: /--import tsx \S*worker\/stack\.ts$/,
  watchdog: /worker\/stack\/watchdog\.mjs/,
  worker: /worker\/main\.ts/,
  api: /worker\/api-main\.ts/,
  temporal: /temporal server start-dev/,
  // The postmaster; its backends are named `postgres: …` and end with it.
  postgres: /bin\/postgres -D /,
} as const;
export type StackRole = keyof typeof ROLES;

/** The pid of each of the stack's processes; throws unless there is exactly one of each. */
export function stackProcesses(dataDir: string): Record<StackRole, number> {
  const all = processesOf(dataDir);
  const pids = {} as Record<StackRole, number>;
  for (const [role, re] of Object.entries(ROLES) as [StackRole, RegExp][]) {
    const matches = all.filter((p) => re.test(p.cmd));
    if (matches.length !== 1) throw new Error(`expected one ${role} process of ${dataDir}, found ${matches.length}:\n${all.map((p) => `${p.pid} ${p.cmd}`).join('\n')}`);
    pids[role] = matches[0]!.pid;
  }
  return pids;
}

/**
 * Watches the given processes end, polling /proc: the poll round in which each was first seen
 * gone. Processes gone in the same round tie. Names missing from the result still ran at the deadline.
 */
export async function watchEndings<K extends string>(pids: Record<K, number>, timeoutMs: number): Promise<Partial<Record<K, number>>> {
  const ended: Partial<Record<K, number>> = {};
  const entries = Object.entries(pids) as [K, number][];
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; Object.keys(ended).length < entries.length && Date.now() < deadline; round++) {
    for (const [role, pid] of entries) if (ended[role] === undefined && !isProcessAlive(pid)) ended[role] = round;
    await sleep(50);
  }
  return ended;
}

/** Waits until no process of `dataDir` is left; returns those still there at the deadline. */
export async function waitNoneLeft(dataDir: string, timeoutMs: number): Promise<FoundProcess[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = processesOf(dataDir);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(250);
  }
}

/** SIGKILLs every process of `dataDir`, until none is left (a test's clean-up, whatever happened). */
export async function killAllOf(dataDir: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const left = processesOf(dataDir);
    if (left.length === 0) return;
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(100);
  }
}
