// A process named by its pid *and* its start time (field 22 of /proc/<pid>/stat), so that a pid the
// kernel has since given to another process is never taken for the one recorded.
import { readFileSync } from 'node:fs';

export interface ProcessIdentity {
  pid: number;
  /** Clock ticks after boot at which the process started. */
  startTime: string;
}

/** State and start time of `pid`, or null when there is no such process. */
function readStat(pid: number): { state: string; startTime: string } | null {
  let line: string;
  try {
    line = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses: count fields after the last ')'.
  const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', startTime: fields[19] ?? '' };
}

/** The identity of a running process, or null when it does not exist (or is a zombie). */
export function identify(pid: number): ProcessIdentity | null {
  const stat = readStat(pid);
  return stat && stat.state !== 'Z' ? { pid, startTime: stat.startTime } : null;
}

/** Whether the identified process is still running (a zombie has finished). */
export function isRunning(p: ProcessIdentity): boolean {
  const stat = readStat(p.pid);
  return stat !== null && stat.state !== 'Z' && stat.startTime === p.startTime;
}
