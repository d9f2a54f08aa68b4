// Process-group utilities for Linux, read straight from /proc.
//
// Every agent run leads its own process group (see agent-guard.mjs), so "stop the agent"
// means "stop the group": SIGTERM, a grace period, then SIGKILL. Zombies count as dead:
// they hold no resources but a pid, and their parent reaps them.

import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcStat {
  pid: number;
  comm: string;
  /** One letter: R, S, D, Z, T, ... */
  state: string;
  ppid: number;
  pgrp: number;
}

export interface KillOptions {
  /** How long the group gets between SIGTERM and SIGKILL. */
  graceMs?: number;
  /** How often membership is re-read while waiting. */
  pollMs?: number;
}

export interface KillReport {
  pgid: number;
  /** Whether the group had a live member when the kill started. */
  found: boolean;
  /** Whether SIGTERM was delivered to the group. */
  sigterm: boolean;
  /** Whether the group outlived the grace period and was SIGKILLed. */
  sigkill: boolean;
  /** Members still alive at the end (only processes stuck in the kernel could be). */
  survivors: number[];
  elapsedMs: number;
}

/** How long to wait for SIGKILLed processes to disappear before reporting survivors. */
const SIGKILL_WAIT_MS = 2000;

/**
 * Parses one `/proc/<pid>/stat` line. Field 2 (`comm`) is the executable name in parentheses
 * and may itself contain spaces and parentheses, so the fixed fields are read after the last `)`.
 */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  const [state, ppid, pgrp] = line.slice(close + 2).split(' ');
  const stat = {
    pid: Number(line.slice(0, open)),
    comm: line.slice(open + 1, close),
    state: state ?? '',
    ppid: Number(ppid),
    pgrp: Number(pgrp),
  };
  if (open <= 0 || close < open || !/^[A-Z]$/i.test(stat.state) || !Number.isInteger(stat.pid) || !Number.isInteger(stat.pgrp)) {
    throw new Error(`malformed /proc/<pid>/stat line: ${JSON.stringify(line.slice(0, 120))}`);
  }
  return stat;
}

/** The stat of `pid`, or null when no such process exists (any more). */
export function readProcStat(pid: number): ProcStat | null {
  let line: string;
  try {
    line = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isNoSuchProcess(err)) return null;
    throw err;
  }
  return parseProcStat(line);
}

/** Whether `pid` exists and is not a zombie. */
export function isProcessAlive(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat !== null && stat.state !== 'Z';
}

/** Live (non-zombie) pids whose process group is `pgid`, ascending. */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z') members.push(stat.pid);
  }
  return members.sort((a, b) => a - b);
}

export function isGroupAlive(pgid: number): boolean {
  return groupMembers(pgid).length > 0;
}

/**
 * Stops every process in group `pgid`: SIGTERM, wait up to `graceMs` for the group to empty,
 * then SIGKILL and wait (bounded) for it to disappear. Idempotent: a group that is already
 * gone is reported with `found: false`.
 */
export async function killProcessGroup(pgid: number, { graceMs = 3000, pollMs = 50 }: KillOptions = {}): Promise<KillReport> {
  assertKillableGroup(pgid);
  const startedAt = Date.now();
  const report = (fields: Omit<KillReport, 'pgid' | 'elapsedMs'>): KillReport => ({
    pgid,
    ...fields,
    elapsedMs: Date.now() - startedAt,
  });

  if (!isGroupAlive(pgid)) return report({ found: false, sigterm: false, sigkill: false, survivors: [] });

  const sigterm = signalGroup(pgid, 'SIGTERM');
  if (await waitForEmptyGroup(pgid, graceMs, pollMs)) return report({ found: true, sigterm, sigkill: false, survivors: [] });

  const sigkill = signalGroup(pgid, 'SIGKILL');
  await waitForEmptyGroup(pgid, SIGKILL_WAIT_MS, pollMs);
  return report({ found: true, sigterm, sigkill, survivors: groupMembers(pgid) });
}

/** Resolves true once the group has no live member, false if it still has one after `timeoutMs`. */
async function waitForEmptyGroup(pgid: number, timeoutMs: number, pollMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isGroupAlive(pgid)) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(pollMs, left));
  }
  return true;
}

/** Sends `signal` to the whole group. False when the group no longer exists. */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if (isNoSuchProcess(err)) return false;
    throw new Error(`cannot send ${signal} to process group ${pgid}: ${(err as Error).message}`, { cause: err });
  }
}

/** kill(-0) and kill(-1) mean "my group" and "everyone": never let a bad id get there. */
function assertKillableGroup(pgid: number): void {
  if (!Number.isInteger(pgid) || pgid < 2) {
    throw new RangeError(`refusing to kill process group ${pgid}: not a valid process group id`);
  }
  if (readProcStat(process.pid)?.pgrp === pgid) {
    throw new RangeError(`refusing to kill process group ${pgid}: it is this process's own group`);
  }
}

function isNoSuchProcess(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ESRCH';
}
