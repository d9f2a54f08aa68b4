// `<data dir>/stack.json`: which stack runs on this data dir and what it started. A second start
// reads it to refuse while a stack runs and to find what one left behind (a stack killed together
// with its watchdog, or one older than the watchdog).
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { identify, isRunning, type ProcessIdentity } from './process-identity.js';

/** `temporal-<service>` and `worker-<n>` under `npm run cluster`. */
export type StackProcessName = 'postgres' | 'temporal' | `temporal-${string}` | 'worker' | `worker-${number}` | 'api';

export interface RecordedProcess extends ProcessIdentity {
  name: StackProcessName;
  /** What stops it gracefully: SIGINT is PostgreSQL's fast shutdown, SIGTERM the others'. */
  signal: 'SIGINT' | 'SIGTERM';
}

export interface StackRecord extends ProcessIdentity {
  startedAt: string;
  apiUrl: string;
  /** In start order; they are stopped in the reverse order. */
  processes: RecordedProcess[];
}

export const recordFile = (dataDir: string) => path.join(dataDir, 'stack.json');

export async function readRecord(dataDir: string): Promise<StackRecord | null> {
  const text = await readFile(recordFile(dataDir), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const r = JSON.parse(text) as StackRecord;
    return Number.isInteger(r.pid) && typeof r.startTime === 'string' && Array.isArray(r.processes) ? r : null;
  } catch {
    return null; // torn or hand-edited: treated as absent
  }
}

export class StackRunningError extends Error {
  constructor(dataDir: string, r: StackRecord) {
    super(
      `another orch stack is already running on ${dataDir}: pid ${r.pid}, started ${r.startedAt}, API ${r.apiUrl}. ` +
        `Stop it first (Ctrl-C in its terminal, or kill -TERM ${r.pid}), or give this one its own ORCH_DATA_DIR and ports.`,
    );
  }
}

export interface Claim {
  /** Processes an earlier stack on this data dir started and left running when it died. */
  leftBehind: RecordedProcess[];
  /** The earlier stack's pid, when it left processes behind. */
  previousPid: number | null;
  /** Records a process this stack started (null if it has already ended); saved in the background. */
  add(name: StackProcessName, pid: number, signal: RecordedProcess['signal']): RecordedProcess | null;
  /** Removes the record, if it is still this stack's. */
  release(): Promise<void>;
}

/** Records this process as the data dir's stack; throws StackRunningError while another one runs. */
export async function claimStack(dataDir: string, apiUrl: string, log: (line: string) => void): Promise<Claim> {
  const previous = await readRecord(dataDir);
  if (previous && isRunning(previous)) throw new StackRunningError(dataDir, previous);
  const self = identify(process.pid)!;
  const record: StackRecord = { ...self, startedAt: new Date().toISOString(), apiUrl, processes: [] };
  // Written aside and renamed, one write at a time: a reader never sees half a file.
  const write = async () => {
    const tmp = `${recordFile(dataDir)}.${process.pid}`;
    await writeFile(tmp, JSON.stringify(record, null, 2));
    await rename(tmp, recordFile(dataDir));
  };
  await write();
  let saved = Promise.resolve();
  const save = () => (saved = saved.then(write).catch((err: Error) => log(`cannot update ${recordFile(dataDir)}: ${err.message}`)));
  const leftBehind = previous?.processes.filter(isRunning) ?? [];
  return {
    leftBehind,
    previousPid: leftBehind.length ? previous!.pid : null,
    add: (name, pid, signal) => {
      const id = identify(pid);
      if (!id) return null;
      const p: RecordedProcess = { name, ...id, signal };
      record.processes.push(p);
      void save();
      return p;
    },
    release: async () => {
      await saved;
      const current = await readRecord(dataDir);
      if (current?.pid === self.pid && current.startTime === self.startTime) await unlink(recordFile(dataDir)).catch(() => undefined);
    },
  };
}
