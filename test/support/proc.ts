// Processes found through /proc by a marker in their command line: how the sandbox tests prove that
// nothing of a run is left, wherever it was reparented and whatever session it made for itself.
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Live (non-zombie) processes whose command line contains `marker`, with it. */
export function processesWith(marker: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (cmdline.includes(marker) && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z') found.push({ pid, cmdline });
    } catch {
      // gone while we looked
    }
  }
  return found;
}

/** Waits until no process carries `marker`; returns what is still alive after `timeoutMs` ([] when all are gone). */
export async function goneWithin(marker: string, timeoutMs: number): Promise<{ pid: number; cmdline: string }[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = processesWith(marker);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(100);
  }
}

/** Waits until some process carries `marker`. */
export async function appears(marker: string, timeoutMs: number): Promise<{ pid: number; cmdline: string }[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = processesWith(marker);
    if (found.length > 0) return found;
    if (Date.now() > deadline) throw new Error(`no process with ${marker} in its command line after ${timeoutMs} ms`);
    await sleep(100);
  }
}
