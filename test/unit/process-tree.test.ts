// Process-group utilities against real processes.

import { readdirSync } from 'node:fs';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent } from '../../activities/adapters/agent-process.js';
import {
  groupMembers,
  isGroupAlive,
  isProcessAlive,
  killProcessGroup,
  parseProcStat,
  readProcStat,
} from '../../activities/adapters/process-tree.js';
import { grandchildPid, readText, Scratch, waitFor } from './agent-fixtures.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/** Starts `script` under sh as the leader of a new process group. */
function spawnGroup(script: string) {
  const leader = execa('sh', ['-c', script], { detached: true, cleanup: false, reject: false, stdio: 'ignore' });
  const pgid = leader.pid!;
  scratch.trackGroup(pgid, 'sleep');
  return { leader, pgid };
}

const childrenOf = (ppid: number) =>
  readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((entry) => readProcStat(Number(entry)))
    .filter((stat) => stat?.ppid === ppid);

describe('parseProcStat', () => {
  it('reads the fields after the last ")" even when comm holds spaces and parentheses', () => {
    const line = '4242 (evil) (name ) R) S 1 4240 4240 0 -1 4194560 95 0 0 0 0 0 0 0 20 0 1 0 1234 0 0';
    expect(parseProcStat(line)).toEqual({ pid: 4242, comm: 'evil) (name ) R', state: 'S', ppid: 1, pgrp: 4240 });
  });

  it('rejects a line that is not a stat line', () => {
    expect(() => parseProcStat('not a stat line')).toThrow(/malformed/);
  });

  it('reads this process', () => {
    expect(readProcStat(process.pid)).toMatchObject({ pid: process.pid, ppid: process.ppid });
    expect(isProcessAlive(process.pid)).toBe(true);
  });
});

describe('groupMembers', () => {
  it('lists the live members of a group and leaves zombies out', async () => {
    // `sleep 0` exits at once and is never reaped by the exec'd `sleep 30`: a zombie.
    const { pgid } = spawnGroup('sleep 0 & sleep 30 & exec sleep 30');
    const zombie = await waitFor('a zombie in the group', () => childrenOf(pgid).find((stat) => stat?.state === 'Z'));
    const live = await waitFor('two live members', () => (groupMembers(pgid).length === 2 ? groupMembers(pgid) : null));

    expect(live).toContain(pgid);
    expect(live).not.toContain(zombie.pid);
    expect(isProcessAlive(zombie.pid)).toBe(false);
    expect(isGroupAlive(pgid)).toBe(true);
  });
});

describe('killProcessGroup', () => {
  it('stops a cooperative group with SIGTERM alone, and is idempotent', async () => {
    const { leader, pgid } = spawnGroup('sleep 30 & exec sleep 30');
    await waitFor('two members', () => groupMembers(pgid).length === 2);

    const report = await killProcessGroup(pgid, { graceMs: 5000 });
    expect(report).toMatchObject({ pgid, found: true, sigterm: true, sigkill: false, survivors: [] });
    expect(isGroupAlive(pgid)).toBe(false);
    expect((await leader).signal).toBe('SIGTERM');

    expect(await killProcessGroup(pgid)).toMatchObject({ found: false, sigterm: false, sigkill: false, survivors: [] });
  });

  it('escalates to SIGKILL for an agent that ignores SIGTERM and leaves a grandchild', async () => {
    const repo = await scratch.repo();
    const run = scratch.track(startAgent(scratch.spec(repo, 'impl', 'Task\n@agent hang ignore-sigterm grandchild\n')));
    const grandchild = await waitFor('the grandchild pid', () => grandchildPid(readText(run.logFile)));
    await waitFor('the agent to hang', () => readText(run.logFile).includes('hanging'));
    expect(isProcessAlive(grandchild)).toBe(true);
    expect(groupMembers(run.pgid)).toContain(grandchild);

    const report = await killProcessGroup(run.pgid, { graceMs: 300 });

    expect(report).toMatchObject({ pgid: run.pgid, found: true, sigterm: true, sigkill: true, survivors: [] });
    expect(isProcessAlive(grandchild)).toBe(false);
    expect(isGroupAlive(run.pgid)).toBe(false);
    expect(readText(run.logFile)).toContain('received SIGTERM; ignoring it');
    expect(await run.done).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
  });

  it('refuses ids that would signal everyone or this process itself', async () => {
    for (const pgid of [0, 1, -7, 2.5, Number.NaN]) {
      await expect(killProcessGroup(pgid)).rejects.toThrow(/not a valid process group id/);
    }
    const own = readProcStat(process.pid)!.pgrp;
    await expect(killProcessGroup(own)).rejects.toThrow(/own group/);
  });
});
