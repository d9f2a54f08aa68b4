// agent-guard: the process-group leader of every agent run.
//
//   node activities/agent-guard.mjs -- <command> [args...]
//   node activities/agent-guard.mjs --standby
//
// With --standby the guard is started ahead of its run (its node start-up off the agent's path)
// and waits for the run on fd 3: one JSON line {command, args, cwd, env, logFile, stdinFile?}. It
// then opens the log (append) and the prompt itself and goes on as below. EOF first: it exits 1.
//
// orch spawns this detached (so it leads a fresh process group) with fd 3 connected to a
// pipe whose other end the orch worker holds. The guard runs the agent in its own group and:
//   - when the agent exits, stops anything the agent left behind in the group, then exits
//     with the agent's exit code (128 + signal number if a signal killed it);
//   - when fd 3 reaches EOF (the worker died, even by SIGKILL), SIGTERMs the group, waits
//     ORCH_KILL_GRACE_MS (default 3000), then SIGKILLs the group, itself included.
// The guard ignores SIGTERM/SIGINT/SIGHUP: signals sent to the group are meant for the agent,
// and the guard has to outlive them to reap and report. Signal the group, not the guard.
//
// Plain Node, no dependencies: it must start fast and run from any cwd.

import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

const LIFELINE_FD = 3;
const POLL_MS = 50;
const SIGKILL_WAIT_MS = 2000;
const PGID = process.pid;

/** Where the guard's own lines go: its stderr, or (a standby guard) the run's log once it has it. */
let logFd = 2;
const log = (message) => {
  const line = `[agent-guard ${PGID}] ${message}\n`;
  if (logFd === 2) process.stderr.write(line);
  else writeSync(logFd, line);
};

function die(message) {
  log(`error: ${message}`);
  process.exit(2);
}

function parseGraceMs(env) {
  const raw = env.ORCH_KILL_GRACE_MS;
  if (raw === undefined || raw === '') return 3000;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) die(`ORCH_KILL_GRACE_MS must be a non-negative number of ms, got ${JSON.stringify(raw)}`);
  return value;
}

/** State and process group from /proc/<pid>/stat; comm (field 2) may hold spaces and parens. */
function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, , pgrp] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state, pgrp: Number(pgrp) };
  } catch {
    return null; // gone while we looked
  }
}

/** Live (non-zombie) members of our process group other than the guard itself. */
function otherMembers() {
  const members = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === PGID) continue;
    const stat = readStat(pid);
    if (stat && stat.pgrp === PGID && stat.state !== 'Z') members.push(pid);
  }
  return members;
}

function signalGroup(signal) {
  try {
    process.kill(-PGID, signal);
  } catch (err) {
    if (err.code !== 'ESRCH') log(`cannot send ${signal} to group ${PGID}: ${err.message}`);
  }
}

async function waitForOthers(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (otherMembers().length > 0) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

let graceMs = 3000;
let agentExitCode = null;
let stopping = false;

/** The agent has exited: stop its leftovers, then exit with its code. */
async function finish(code) {
  if (stopping) return;
  stopping = true;
  const leftovers = otherMembers();
  if (leftovers.length > 0) {
    log(`agent left ${leftovers.length} process(es) behind (${leftovers.join(' ')}); SIGTERM to group`);
    signalGroup('SIGTERM');
    if (!(await waitForOthers(graceMs))) {
      // The guard cannot SIGKILL its own group here without losing the exit code, so it
      // kills the members one by one until none is left (killed processes cannot fork).
      log('leftovers outlived the grace period; SIGKILL');
      const deadline = Date.now() + SIGKILL_WAIT_MS;
      for (let left = otherMembers(); left.length > 0 && Date.now() < deadline; left = otherMembers()) {
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await sleep(POLL_MS);
      }
    }
  }
  process.exit(code);
}

/** The orch worker is gone: nothing will ever collect this run, so stop the whole group. */
async function stopGroup() {
  if (stopping) return;
  stopping = true;
  log(`lifeline closed (orch worker gone); SIGTERM to group, SIGKILL after ${graceMs}ms`);
  signalGroup('SIGTERM');
  if (await waitForOthers(graceMs)) process.exit(agentExitCode ?? 1);
  log('group outlived the grace period; SIGKILL to group');
  signalGroup('SIGKILL'); // includes the guard
  await sleep(SIGKILL_WAIT_MS);
  process.exit(1);
}

/** The guard's end of the worker's pipe; checked before anything is started. */
function openLifeline() {
  let stat;
  try {
    stat = fstatSync(LIFELINE_FD);
  } catch {
    stat = null;
  }
  // Without an inherited fd 3, Node's own event-loop fds take that number: check the type.
  if (!stat || !(stat.isSocket() || stat.isFIFO())) {
    die(`fd ${LIFELINE_FD} is not open as a pipe: orch must start the guard with a lifeline pipe on fd ${LIFELINE_FD}`);
  }
  // Node marks inherited fds >= 3 close-on-exec at startup, so the agent never inherits
  // the lifeline and EOF here means exactly "the worker's end is closed".
  return new Socket({ fd: LIFELINE_FD, readable: true, writable: false });
}

/** A standby guard's run, the first line on the lifeline; EOF or a bad line first ends the guard. */
function readRun(lifeline) {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk) => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      lifeline.off('data', onData);
      lifeline.off('close', onClose);
      let run;
      try {
        run = JSON.parse(text.slice(0, nl));
      } catch (err) {
        die(`the run on fd ${LIFELINE_FD} is not JSON: ${err.message}`);
      }
      const ok = run && typeof run.command === 'string' && Array.isArray(run.args) && typeof run.cwd === 'string' && run.env && typeof run.logFile === 'string';
      if (!ok) die(`the run on fd ${LIFELINE_FD} needs command, args, cwd, env and logFile`);
      resolve(run);
    };
    const onClose = () => process.exit(1); // the worker went before giving a run: nothing ran
    lifeline.on('error', () => {});
    lifeline.on('data', onData);
    lifeline.on('close', onClose);
  });
}

function watchLifeline(lifeline) {
  lifeline.on('error', () => {}); // 'close' follows and handles it
  lifeline.on('close', () => void stopGroup());
  lifeline.resume();
}

function parseCommand(argv) {
  const separator = argv.indexOf('--');
  const command = argv.slice(separator + 1);
  if (separator < 0 || command.length === 0) die('usage: agent-guard.mjs -- <command> [args...]');
  return command;
}

async function main() {
  const standby = process.argv[2] === '--standby' && process.argv.length === 3;
  if (readStat(PGID)?.pgrp !== PGID) {
    die('the guard must lead its own process group (spawn it with detached: true)');
  }
  const lifeline = openLifeline();
  let command, args, spawnOptions, cwd;
  if (standby) {
    const run = await readRun(lifeline);
    ({ command, args, cwd } = run);
    logFd = openSync(run.logFile, 'a');
    const stdin = run.stdinFile === undefined ? 'ignore' : openSync(run.stdinFile, 'r');
    graceMs = parseGraceMs(run.env);
    spawnOptions = { cwd, env: run.env, stdio: [stdin, logFd, logFd] };
  } else {
    [command, ...args] = parseCommand(process.argv.slice(2));
    graceMs = parseGraceMs(process.env);
    cwd = process.cwd();
    spawnOptions = { stdio: 'inherit' };
  }
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(signal, () => {
      if (!stopping) log(`received ${signal}; waiting for the agent`);
    });
  }

  log(`starting ${[command, ...args].map((a) => JSON.stringify(a)).join(' ')} in ${cwd}`);
  const agent = spawn(command, args, spawnOptions);
  // The agent has its own copy of the prompt now.
  if (typeof spawnOptions.stdio[0] === 'number') closeSync(spawnOptions.stdio[0]);
  agent.on('error', (err) => {
    if (agent.pid !== undefined) return log(`agent error: ${err.message}`); // 'exit' still follows
    log(`cannot start ${command}: ${err.message}`);
    void finish(127);
  });
  agent.on('exit', (code, signal) => {
    if (agent.pid === undefined) return; // spawn failed; 'error' reports it
    agentExitCode = code ?? 128 + (constants.signals[signal] ?? 0);
    log(`agent ${agent.pid} exited with ${signal ? `signal ${signal}` : `code ${code}`}`);
    void finish(agentExitCode);
  });
  watchLifeline(lifeline);
}

void main();
