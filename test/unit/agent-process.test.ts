// startAgent + agent-guard with real processes: logs, exit codes, kills, and what happens
// when the worker that started the agent dies.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AGENT_GUARD_PATH,
  getAgent,
  registerAgent,
  runningAgents,
  startAgent,
  unregisterAgent,
  type AgentRunSpec,
} from '../../activities/adapters/agent-process.js';
import { groupMembers, isGroupAlive, isProcessAlive } from '../../activities/adapters/process-tree.js';
import { git, grandchildPid, readText, REPO_ROOT, Scratch, waitFor } from './agent-fixtures.js';

const scratch = new Scratch();
afterEach(async () => {
  runningAgents.clear();
  await scratch.cleanup();
});

describe('startAgent', () => {
  it('runs the agent under the guard, logs to the file, and reports its exit', async () => {
    const repo = await scratch.repo();
    const spec = scratch.spec(repo, 'plan', 'Write the plan\n');
    const run = scratch.track(startAgent(spec));

    expect(run.pgid).toBe(run.pid);
    expect(run.logFile).toBe(spec.logFile);
    expect(await run.done).toMatchObject({ exitCode: 0, signal: null });

    const log = readText(run.logFile);
    expect(log).toContain(`[agent-guard ${run.pid}] starting`);
    expect(log).toMatch(new RegExp(`\\[test-agent\\] pid=\\d+ pgid=${run.pgid} key=T-1 stage=plan`));
    expect(log).toContain('[test-agent] done');
    expect(log).toContain('exited with code 0');
    expect(await git(repo, 'log', '--format=%s')).toBe('T-1: plan');
    expect(isGroupAlive(run.pgid)).toBe(false);
  });

  it('creates the log, appends to it on later runs, and passes the agent exit code through', async () => {
    const repo = await scratch.repo();
    const spec = scratch.spec(repo, 'review', '@agent fail-stage=review\n');
    const first = scratch.track(startAgent(spec));
    expect(await first.done).toMatchObject({ exitCode: 1, signal: null });
    const second = scratch.track(startAgent(spec));
    expect(await second.done).toMatchObject({ exitCode: 1, signal: null });

    expect(readText(spec.logFile).match(/failing stage review/g)).toHaveLength(2);
    expect(existsSync(join(repo, 'docs'))).toBe(false);
  });

  it('reports a command that cannot be started as exit 127', async () => {
    const repo = await scratch.repo();
    const run = scratch.track(startAgent({ ...scratch.spec(repo, 'plan', 'x'), command: join(repo, 'no-such-agent') }));

    expect(await run.done).toMatchObject({ exitCode: 127 });
    expect(readText(run.logFile)).toMatch(/cannot start .*no-such-agent: .*ENOENT/);
  });

  it('refuses a working directory that does not exist', () => {
    const spec = scratch.spec(join(scratch.dir(), 'missing'), 'plan', 'x');
    expect(() => startAgent(spec)).toThrow(/working directory .*missing does not exist/);
  });

  it('kill() stops a hanging agent with SIGTERM', async () => {
    const repo = await scratch.repo();
    const run = scratch.track(startAgent(scratch.spec(repo, 'impl', '@agent hang=impl\n')));
    await waitFor('the agent to hang', () => readText(run.logFile).includes('still hanging'));

    const report = await run.kill(5000);
    expect(report).toMatchObject({ pgid: run.pgid, found: true, sigterm: true, sigkill: false, survivors: [] });
    expect(isGroupAlive(run.pgid)).toBe(false);
    // The agent died of SIGTERM; the guard reports that as 128 + 15.
    expect(await run.done).toMatchObject({ exitCode: 143, signal: null });
    expect(await run.kill()).toMatchObject({ found: false, sigterm: false });
  });

  it('stops what the agent left in its group when the agent exits by itself', async () => {
    const repo = await scratch.repo();
    const run = scratch.track(startAgent(scratch.spec(repo, 'plan', '@agent grandchild\n', { ORCH_KILL_GRACE_MS: '200' })));

    expect(await run.done).toMatchObject({ exitCode: 0, signal: null });
    const grandchild = grandchildPid(readText(run.logFile));
    expect(grandchild).toBeGreaterThan(0);
    expect(isProcessAlive(grandchild!)).toBe(false);
    expect(groupMembers(run.pgid)).toEqual([]);
    expect(readText(run.logFile)).toMatch(/agent left 1 process\(es\) behind/);
  });

  it('hands a later run to the guard it started ahead: same group, log, prompt and environment; that guard\'s own environment is only PATH', async () => {
    const repo = await scratch.repo();
    const first = scratch.track(startAgent(scratch.spec(repo, 'plan', 'Write the plan\n')));
    await first.done;
    const standby = await waitFor('a guard started ahead', () => standbyGuards()[0], 10_000);
    expect(readFileSync(`/proc/${standby}/environ`, 'utf8').split('\0').filter(Boolean).map((v) => v.split('=')[0])).toEqual(['PATH']);

    const spec = scratch.spec(repo, 'review', 'Review it\n', { ORCH_KILL_GRACE_MS: '200' });
    const run = scratch.track(startAgent(spec));
    expect(run.pid).toBe(standby);
    expect(await run.done).toMatchObject({ exitCode: 0, signal: null });
    const log = readText(spec.logFile);
    expect(log).toContain(`[agent-guard ${run.pid}] starting`);
    expect(log).toContain(`in ${repo}`);
    expect(log).toMatch(new RegExp(`\\[test-agent\\] pid=\\d+ pgid=${run.pgid} key=T-1 stage=review`));
    expect(log).toContain('[test-agent] done');
    expect(await git(repo, 'log', '--format=%s')).toBe('T-1: review\nT-1: plan');
    expect(isGroupAlive(run.pgid)).toBe(false);
  });

  it('takes the whole group down when the worker that started it is SIGKILLed (its guard started ahead)', async () => {
    const repo = await scratch.repo();
    const spec = scratch.spec(repo, 'impl', '@agent hang ignore-sigterm grandchild\n', { ORCH_KILL_GRACE_MS: '300' });
    const { pgid, standby, signal } = await runDoomedWorker(spec);
    scratch.trackGroup(pgid, 'agent-guard');
    expect(signal).toBe('SIGKILL');
    // The run went to the guard the worker had started ahead: that one's lifeline holds just as well.
    expect(standby).toBe(true);

    await waitFor('the agent group to be gone', () => !isGroupAlive(pgid), 10_000);
    const log = readText(spec.logFile);
    expect(isProcessAlive(grandchildPid(log)!)).toBe(false);
    expect(log).toContain('lifeline closed');
    expect(log).toContain('received SIGTERM; ignoring it');
    expect(log).toContain('SIGKILL to group');
  });
});

/** Guards this process started ahead (`--standby`) that have no run yet. */
function standbyGuards(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && cmdline.includes(AGENT_GUARD_PATH) && cmdline.includes('--standby')) found.push(pid);
    } catch {
      // gone while we looked
    }
  }
  return found;
}

/**
 * Runs a throwaway "worker": a node process that starts the agent, waits until it hangs,
 * prints the group id and SIGKILLs itself, leaving the guard with a dead lifeline.
 */
async function runDoomedWorker(spec: AgentRunSpec): Promise<{ pgid: number; standby: boolean; signal: string | undefined }> {
  const script = join(scratch.dir(), 'doomed-worker.mjs');
  const agentProcess = pathToFileURL(join(REPO_ROOT, 'activities', 'adapters', 'agent-process.ts')).href;
  writeFileSync(
    script,
    `import { readFileSync } from 'node:fs';
import { startAgent } from ${JSON.stringify(agentProcess)};
const spec = JSON.parse(process.argv[2]);
// A first run makes this "worker" start a guard ahead, which the doomed run then takes.
await startAgent({ ...spec, command: '/bin/true', args: [], logFile: spec.logFile + '.warm' }).done;
await new Promise((resolve) => setTimeout(resolve, 600));
const run = startAgent(spec);
const standby = readFileSync('/proc/' + run.pid + '/cmdline', 'utf8').split('\\0').includes('--standby');
const log = () => { try { return readFileSync(spec.logFile, 'utf8'); } catch { return ''; } };
const deadline = Date.now() + 10000;
while (!log().includes('hanging')) {
  if (Date.now() > deadline) { console.error('the agent never started hanging'); process.exit(3); }
  await new Promise((resolve) => setTimeout(resolve, 25));
}
console.log(JSON.stringify({ pgid: run.pgid, standby }));
process.kill(process.pid, 'SIGKILL');
`,
  );
  const worker = await execa(process.execPath, ['--import', 'tsx', script, JSON.stringify(spec)], { cwd: REPO_ROOT, reject: false });
  if (!worker.stdout) throw new Error(`the doomed worker failed: ${worker.stderr}`);
  const out = JSON.parse(worker.stdout) as { pgid: number; standby: boolean };
  return { ...out, signal: worker.signal };
}

describe('agent-guard', () => {
  it('refuses to run without a lifeline on fd 3', async () => {
    const result = await execa(process.execPath, [AGENT_GUARD_PATH, '--', 'true'], { detached: true, reject: false });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('fd 3 is not open as a pipe');
    expect(result.stderr).not.toContain('starting');
  });

  it('refuses to run when it does not lead its process group', async () => {
    const result = await execa(process.execPath, [AGENT_GUARD_PATH, '--', 'true'], { reject: false });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('must lead its own process group');
  });
});

describe('agent registry', () => {
  it('finds a live run by id, refuses a second one, and forgets it when it exits', async () => {
    const repo = await scratch.repo();
    const run = scratch.track(startAgent(scratch.spec(repo, 'impl', '@agent hang\n')));
    registerAgent('T-1', run);
    expect(getAgent('T-1')).toBe(run);
    expect(() => registerAgent('T-1', { ...run })).toThrow(/already running for T-1/);
    expect(unregisterAgent('T-1', { ...run })).toBe(false);

    await getAgent('T-1')!.kill(0);
    await run.done;
    await waitFor('the registry to forget the run', () => getAgent('T-1') === undefined);
    expect(unregisterAgent('T-1')).toBe(false);
  });
});
