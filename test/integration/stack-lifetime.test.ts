// The stack lives and dies with the process the user started, as a supervisor (systemd,
// `docker stop`, a CI runner) treats it: a SIGTERM to it, or the death of its parent, stops every
// orch process, PostgreSQL and the Temporal dev server, in the documented order (the API, the
// worker, Temporal, PostgreSQL); a SIGKILL of the stack itself leaves that to its watchdog; and a
// second start on the same data dir says what it found instead of reusing it.
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { isProcessAlive, readProcStat } from '../../activities/adapters/process-tree.js';
import { projectDir } from '../../worker/config/project-dir.js';
import { killAllOf, makeStackDir, stackProcesses, waitNoneLeft, watchEndings, type StackDir, type StackRole } from '../support/stack.js';

/** A supervisor in miniature: runs the command the README names and keeps its output (through pipes). */
const SUPERVISOR = `
const { spawn } = require('node:child_process');
const c = spawn(process.execPath, ['--import', 'tsx', 'worker/stack.ts'], { stdio: ['ignore', 'pipe', 'pipe'] });
c.stdout.pipe(process.stdout);
c.stderr.pipe(process.stderr);
`;
const STOP_ORDER: StackRole[] = ['api', 'worker', 'temporal', 'postgres', 'stack', 'watchdog'];
const BOUND_MS = 60_000;

interface Launched {
  child: ResultPromise;
  output: () => string;
}

describe('the stack lives and dies with the process the user started', () => {
  let dir: StackDir;
  const launched: ResultPromise[] = [];

  beforeAll(async () => {
    dir = await makeStackDir({
      runDir: inject('runDir'),
      temporalCliPath: inject('temporalCliPath'),
      workflowBundlePath: inject('workflowBundlePath'),
      prefix: 'stack-lifetime-',
    });
  });

  afterEach(async () => {
    for (const c of launched) {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        // the group is gone
      }
    }
    // Whatever left the group (PostgreSQL's backends, an orphan): found by the data dir.
    await killAllOf(dir.dataDir);
    await Promise.all(launched.map((c) => c.catch(() => undefined)));
    launched.length = 0;
  });

  /** Starts `command` in its own process group, as a shell or a supervisor would. */
  const launch = (command: string, args: string[]): Launched => {
    const child = execa(command, args, { cwd: projectDir, env: dir.env, detached: true, reject: false, all: true });
    let out = '';
    child.all?.on('data', (c: Buffer) => (out += c.toString()));
    launched.push(child);
    return { child, output: () => out };
  };

  const untilReady = async (s: Launched) => {
    const deadline = Date.now() + 150_000;
    while (!s.output().includes('orch: ready in')) {
      if (s.child.exitCode !== null || s.child.signalCode !== null || Date.now() > deadline) throw new Error(`the stack did not become ready:\n${s.output()}`);
      await sleep(200);
    }
    return stackProcesses(dir.dataDir);
  };

  /** Each role in `order` ended no earlier than the one before it (same poll round: a tie). */
  const expectOrder = (ended: Partial<Record<string, number>>, order: string[]) => {
    expect(order.filter((role) => ended[role] === undefined), `still running after ${BOUND_MS / 1000}s`).toEqual([]);
    const rounds = order.map((role) => ended[role]!);
    expect(rounds, `poll round in which each of ${order.join(', ')} was gone: ${JSON.stringify(ended)}`).toEqual([...rounds].sort((a, b) => a - b));
  };

  it('SIGTERM to `npm start`: npm hands it to the stack, which stops the API, the worker, Temporal and PostgreSQL in that order', async () => {
    const s = launch('npm', ['start']);
    const pids = await untilReady(s);
    const npm = s.child.pid!;
    // The start script execs the stack: no shell in between to swallow npm's forwarded signal.
    expect(readProcStat(pids.stack)?.ppid).toBe(npm);

    process.kill(npm, 'SIGTERM');
    const ended = await watchEndings({ ...pids, npm }, BOUND_MS);
    expectOrder(ended, [...STOP_ORDER, 'npm'].filter((r) => r !== 'watchdog'));
    expect(ended.watchdog).toBeGreaterThanOrEqual(ended.stack!);
    expect(await waitNoneLeft(dir.dataDir, 10_000)).toEqual([]);
    expect(s.output()).toContain('orch: stopping (SIGTERM)');
    expect(s.output()).toContain('orch: stopped');
  });

  it('SIGKILL of the supervisor that ran `node --import tsx worker/stack.ts`: the stack sees its parent gone and stops everything in order', async () => {
    const parent = launch(process.execPath, ['-e', SUPERVISOR]);
    const pids = await untilReady(parent);
    expect(readProcStat(pids.stack)?.ppid).toBe(parent.child.pid);

    // The stack's output went through the parent's pipes: from here on it writes into broken pipes.
    process.kill(parent.child.pid!, 'SIGKILL');
    const ended = await watchEndings(pids, BOUND_MS);
    expectOrder(ended, STOP_ORDER);
    expect(await waitNoneLeft(dir.dataDir, 10_000)).toEqual([]);
  });

  it('SIGKILL of npm: the same, and the stack says why it stopped', async () => {
    const s = launch('npm', ['start']);
    const pids = await untilReady(s);
    const npm = s.child.pid!;

    process.kill(npm, 'SIGKILL');
    const ended = await watchEndings(pids, BOUND_MS);
    expectOrder(ended, STOP_ORDER);
    expect(await waitNoneLeft(dir.dataDir, 10_000)).toEqual([]);
    expect(s.output()).toContain(`orch: stopping (parent process ${npm} exited)`);
    expect(s.output()).toContain('orch: stopped');
  });

  it('SIGKILL of the stack itself: its watchdog stops what the stack started, last started first', async () => {
    const s = launch(process.execPath, ['--import', 'tsx', 'worker/stack.ts']);
    const pids = await untilReady(s);

    process.kill(pids.stack, 'SIGKILL');
    const ended = await watchEndings(pids, BOUND_MS);
    expect(Object.keys(ended).sort()).toEqual(Object.keys(pids).sort());
    expect(await waitNoneLeft(dir.dataDir, 10_000)).toEqual([]);
    expect(s.output()).toContain(
      `orch watchdog: stopping api (pid ${pids.api}), worker (pid ${pids.worker}), temporal (pid ${pids.temporal}), postgres (pid ${pids.postgres})`,
    );
  });

  it('a second start on the same data dir is refused, naming the running stack; what a stack killed with its watchdog left is found and stopped', async () => {
    const first = launch(process.execPath, ['--import', 'tsx', 'worker/stack.ts']);
    const pids = await untilReady(first);

    const second = await execa('npm', ['start'], { cwd: projectDir, env: dir.env, reject: false, timeout: 60_000 });
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain(`orch start: another orch stack is already running on ${dir.dataDir}: pid ${pids.stack}`);
    expect(second.stderr).toContain(`kill -TERM ${pids.stack}`);
    expect(stackProcesses(dir.dataDir)).toEqual(pids); // the first one is untouched

    // Killed together with its watchdog (as an orch from before the watchdog could be), a stack
    // leaves its servers running with nobody to stop them.
    process.kill(pids.stack, 'SIGKILL');
    process.kill(pids.watchdog, 'SIGKILL');
    await sleep(1000);
    const orphans = (['postgres', 'temporal', 'worker', 'api'] as const).filter((r) => isProcessAlive(pids[r]));
    expect(orphans).toEqual(expect.arrayContaining(['postgres', 'temporal']));

    const third = launch(process.execPath, ['--import', 'tsx', 'worker/stack.ts']);
    await untilReady(third);
    expect(third.output()).toMatch(/orch: found .* still running from an earlier stack on this data dir/);
    expect(third.output()).toContain(`(pid ${pids.stack}, no longer running)`);
    for (const r of orphans) {
      expect(third.output()).toContain(`${r} (pid ${pids[r]})`);
      expect(isProcessAlive(pids[r])).toBe(false);
    }
    expect((await fetch(`http://127.0.0.1:${dir.ports.api}/healthz`)).status).toBe(200);

    process.kill(third.child.pid!, 'SIGTERM');
    expect(await waitNoneLeft(dir.dataDir, BOUND_MS)).toEqual([]);
  });
});
