// stack watchdog: stops what worker/stack.ts started when the stack ends without stopping it.
//
//   node worker/stack/watchdog.mjs        (stdin: a pipe from the stack; spawn-watchdog.ts)
//
// The stack writes one line per process it starts, `<name> <pid> <start time> <signal>`, and holds
// the pipe's only write end, so the kernel closes it when the stack ends, however it ends (SIGKILL
// included). At end of file the watchdog stops each listed process that still runs, last started
// first: its signal, up to STOP_GRACE_MS, then SIGKILL. After a clean stop nothing listed is left
// and it just exits. The start time (field 22 of /proc/<pid>/stat) keeps a pid the kernel has
// since reused from being taken for the process listed.
// It ignores SIGINT, SIGTERM and SIGHUP: a signal to the whole group (Ctrl-C, a supervisor) is the
// stack's to act on, and the watchdog has to outlive the stack.
//
// Plain Node, no dependencies (like activities/adapters/agent-guard.mjs): small and quick to start.

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const STOP_GRACE_MS = 15_000;
const SIGKILL_WAIT_MS = 5000;
const POLL_MS = 100;

const log = (message) => process.stderr.write(`orch watchdog: ${message}\n`);
process.stderr.on('error', () => {}); // whoever read the stack's output may be gone too

/** State and start time from /proc/<pid>/stat; comm (field 2) may hold spaces and parens. */
function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], startTime: fields[19] };
  } catch {
    return null;
  }
}

const isRunning = (p) => {
  const stat = readStat(p.pid);
  return stat !== null && stat.state !== 'Z' && stat.startTime === p.startTime;
};

async function waitEnded(p, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(p)) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

function send(p, signal) {
  try {
    process.kill(p.pid, signal);
  } catch (err) {
    if (err.code !== 'ESRCH') log(`cannot send ${signal} to ${p.name} (pid ${p.pid}): ${err.message}`);
  }
}

function parse(text) {
  const listed = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [name, pid, startTime, signal] = line.trim().split(' ');
    if (!name || !/^\d+$/.test(pid ?? '') || !startTime || !['SIGINT', 'SIGTERM'].includes(signal)) {
      log(`ignoring a malformed line: ${JSON.stringify(line)}`);
      continue;
    }
    listed.push({ name, pid: Number(pid), startTime, signal });
  }
  return listed;
}

async function stopLeftovers(listed) {
  const left = listed.filter(isRunning).reverse();
  if (left.length === 0) return;
  log(`stopping ${left.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}, left running by the stack`);
  for (const p of left) {
    if (!isRunning(p)) continue;
    send(p, p.signal);
    if (await waitEnded(p, STOP_GRACE_MS)) continue;
    log(`${p.name} (pid ${p.pid}) still runs ${STOP_GRACE_MS / 1000}s after ${p.signal}: SIGKILL`);
    send(p, 'SIGKILL');
    if (!(await waitEnded(p, SIGKILL_WAIT_MS))) log(`${p.name} (pid ${p.pid}) survived SIGKILL`);
  }
  log('stopped');
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('error', () => {}); // 'close' follows
process.stdin.on('close', () => {
  stopLeftovers(parse(input))
    .catch((err) => log(`could not stop what the stack left: ${err.message}`))
    .finally(() => process.exit(0));
});
