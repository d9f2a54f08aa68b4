// The stack's side of its watchdog (watchdog.mjs): start it, and tell it each process to stop
// should the stack end without stopping them.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectDir } from '../config/project-dir.js';
import type { RecordedProcess } from './record.js';

const WATCHDOG = path.join(projectDir, 'worker', 'stack', 'watchdog.mjs');

const line = (p: RecordedProcess) => `${p.name} ${p.pid} ${p.startTime} ${p.signal}\n`;

function start() {
  const child = spawn(process.execPath, [WATCHDOG], { stdio: ['pipe', 'ignore', 'inherit'] });
  child.stdin.on('error', () => undefined);
  return child;
}

/** A watchdog for this process's lifetime: the pipe's write end stays open until this process ends. */
export function spawnWatchdog(): { watch(p: RecordedProcess): void } {
  const child = start();
  return { watch: (p) => void child.stdin.write(line(p)) };
}

/** Stops processes an earlier stack left running, the way its watchdog would have; resolves once done. */
export async function stopLeftBehind(processes: RecordedProcess[]): Promise<void> {
  const child = start();
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.stdin.end(processes.map(line).join(''));
  await exited;
}
