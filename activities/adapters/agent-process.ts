// Starts one agent run as its own process group, led by agent-guard.mjs.
//
//   worker ──execa, detached──▶ node agent-guard.mjs -- <command> <args...>  (group leader)
//                                   └─▶ <command> <args...>                  (same group)
//
// The guard's node start-up is the one orch adds to an agent's: each worker process keeps one guard
// started ahead (`--standby`), which the next run hands its command, environment and files on fd 3,
// and starts the next standby a moment later. Without one ready, a run starts its own guard.
//
// The agent writes straight into `logFile` (the guard and agent inherit an O_APPEND fd), so
// the log keeps growing even if this process dies. fd 3 of the guard is a pipe whose other
// end this process holds for the run's life: when the worker dies, the kernel closes it and
// the guard takes the whole group down.

import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { isProcessAlive, killProcessGroup, type KillReport } from './process-tree.js';

export type { KillReport } from './process-tree.js';

export const AGENT_GUARD_PATH = fileURLToPath(new URL('./agent-guard.mjs', import.meta.url));

export interface AgentRunSpec {
  command: string;
  args: string[];
  cwd: string;
  /** The run's whole environment: nothing of the worker's own reaches the agent. */
  env: Record<string, string>;
  logFile: string;
  /** The agent's stdin: this file's contents, then EOF (the prompt). Closed (no stdin) when absent. */
  stdinFile?: string;
}

export interface AgentOutcome {
  /** The guard's exit code, which is the agent's (128 + signal number if a signal ended it). */
  exitCode: number | null;
  /** Set when the guard itself was killed by a signal (e.g. the group was SIGKILLed). */
  signal: string | null;
  durationMs: number;
}

export interface AgentRun {
  /** pid of the guard, which leads the group: pid === pgid. */
  pid: number;
  pgid: number;
  logFile: string;
  /** Settles when the guard exits. Never rejects. */
  done: Promise<AgentOutcome>;
  /** Stops the whole group (SIGTERM, `graceMs`, SIGKILL). Safe to call repeatedly. */
  kill(graceMs?: number): Promise<KillReport>;
}

export function startAgent(spec: AgentRunSpec): AgentRun {
  assertDirectory(spec.cwd);
  mkdirSync(dirname(spec.logFile), { recursive: true });

  const startedAt = performance.now();
  let subprocess = handToStandby(spec);
  if (!subprocess) {
    const logFd = openSync(spec.logFile, 'a');
    const stdinFd = spec.stdinFile === undefined ? undefined : openSync(spec.stdinFile, 'r');
    try {
      subprocess = spawnGuard(spec, logFd, stdinFd);
    } finally {
      // the guard has its own copies by now
      closeSync(logFd);
      if (stdinFd !== undefined) closeSync(stdinFd);
    }
  }
  prepareStandby();

  const pid = subprocess.pid;
  if (pid === undefined) {
    throw new Error(`could not start the agent guard for ${JSON.stringify(spec.command)} in ${spec.cwd}`);
  }

  let exited = false;
  const done = subprocess.then((result) => {
    exited = true;
    return {
      exitCode: result.exitCode ?? null,
      signal: result.signal ?? null,
      durationMs: Math.round(performance.now() - startedAt),
    };
  });

  return {
    pid,
    pgid: pid,
    logFile: spec.logFile,
    done,
    async kill(graceMs?: number): Promise<KillReport> {
      // Once the guard has been reaped its pid may be reused, and a live process under that
      // pid leading a group with that id is then somebody else's. A group whose leader is
      // gone but which still has members is still ours: the id stays taken while they live.
      if (exited && isProcessAlive(pid)) {
        return { pgid: pid, found: false, sigterm: false, sigkill: false, survivors: [], elapsedMs: 0 };
      }
      return killProcessGroup(pid, graceMs === undefined ? {} : { graceMs });
    },
  };
}

type Guard = ReturnType<typeof spawnGuard>;

/** The guard started ahead in this process, until a run takes it. */
let standby: { guard: Guard; exited: boolean } | null = null;
let standbyTimer: NodeJS.Timeout | null = null;
/** Long enough for the run that took the last one to get going first (both want the CPU). */
const STANDBY_DELAY_MS = 250;

function spawnStandby(): void {
  const guard = execa(process.execPath, [AGENT_GUARD_PATH, '--standby'], {
    // Its own environment is never the agent's (that comes with the run): nothing but PATH.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    extendEnv: false,
    stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
    detached: true,
    cleanup: false,
    reject: false,
    buffer: false,
  });
  const entry = { guard, exited: false };
  const lifeline = guard.stdio[3] as Socket;
  lifeline.on('error', () => {}); // a standby that died: its run (if any) ends failed through `done`
  void guard.then(() => {
    entry.exited = true;
    if (standby === entry) standby = null;
  });
  // An idle standby does not keep this process alive; it ends with it (EOF on fd 3).
  guard.unref();
  lifeline.unref();
  standby = entry;
}

function prepareStandby(): void {
  if (standby || standbyTimer) return;
  standbyTimer = setTimeout(() => {
    standbyTimer = null;
    if (!standby) spawnStandby();
  }, STANDBY_DELAY_MS);
  standbyTimer.unref();
}

/** Gives the run to the standby guard, if one is ready; null when none is. */
function handToStandby(spec: AgentRunSpec): Guard | null {
  if (!standby || standby.exited) return null;
  // The guard opens them itself: a file it could not open fails here, as with a guard of its own.
  closeSync(openSync(spec.logFile, 'a'));
  if (spec.stdinFile !== undefined) closeSync(openSync(spec.stdinFile, 'r'));
  const entry = standby;
  standby = null;
  if (!entry || entry.exited || entry.guard.pid === undefined) return null;
  const lifeline = entry.guard.stdio[3] as Socket;
  lifeline.write(`${JSON.stringify({ command: spec.command, args: spec.args, cwd: spec.cwd, env: spec.env, logFile: spec.logFile, stdinFile: spec.stdinFile })}\n`);
  // From here it is a run like any other: it keeps this process alive while it lasts.
  entry.guard.ref();
  lifeline.ref();
  return entry.guard;
}

function spawnGuard(spec: AgentRunSpec, logFd: number, stdinFd: number | undefined) {
  // execa's types only admit the literal fds 1-9 here, but at runtime it hands any fd number
  // to child_process.spawn unchanged, which is what we need: the guard writes to the file
  // itself instead of through a pipe into this process.
  const log = logFd as 1;
  // A file as stdin gives the agent the prompt and then EOF: never an open pipe it could wait on.
  const stdin = stdinFd === undefined ? 'ignore' : (stdinFd as 0);
  return execa(process.execPath, [AGENT_GUARD_PATH, '--', spec.command, ...spec.args], {
    cwd: spec.cwd,
    env: spec.env,
    extendEnv: false,
    // stdin the prompt file (or closed), stdout+stderr straight into the log, fd 3 = the lifeline pipe.
    stdio: [stdin, log, log, 'pipe'],
    detached: true,
    cleanup: false,
    reject: false,
    buffer: false,
  });
}

function assertDirectory(path: string): void {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    // reported below
  }
  if (!isDirectory) throw new Error(`agent working directory ${path} does not exist or is not a directory`);
}

/** Live agent runs on this host, keyed by task key, so `killAgent(taskKey)` finds them at once. */
export const runningAgents = new Map<string, AgentRun>();

/** Registers `run` under `id` until it exits. Refuses to shadow another live run. */
export function registerAgent(id: string, run: AgentRun): void {
  const current = runningAgents.get(id);
  if (current && current !== run) {
    throw new Error(`an agent is already running for ${id} (pid ${current.pid}); kill it before starting another`);
  }
  runningAgents.set(id, run);
  void run.done.then(() => unregisterAgent(id, run));
}

/** Removes the entry for `id`; when `run` is given, only if it is still that run. */
export function unregisterAgent(id: string, run?: AgentRun): boolean {
  if (run !== undefined && runningAgents.get(id) !== run) return false;
  return runningAgents.delete(id);
}

export function getAgent(id: string): AgentRun | undefined {
  return runningAgents.get(id);
}
