// The operator interface end to end: the `orch` CLI as a real child process, `GET /queue` and the
// SSE log stream, against a real worker, dev server and PostgreSQL.
import { randomBytes } from 'node:crypto';
import { appendFile, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectDir } from '../../worker/config/project-dir.js';
import { lockStateQuery, lockWorkflowId, TERMINAL_STATUSES, acquireSignal, releaseSignal, taskWorkflowId, workflowTypes, type LockRequest, type RepoLockWorkflow } from '../../workflows/contracts/index.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { freePort } from '../../worker/harness/free-port.js';

const STAGES = ['analysis', 'design', 'development', 'review', 'merge', 'deploy'];

interface SseEvent {
  event: string;
  data: string;
}

/** Reads an SSE response until it ends (or `stopWhen` says so), calling `onEvent` on each event. */
async function readSse(url: string, opts: { onEvent?: (e: SseEvent, all: SseEvent[]) => void | Promise<void>; signal?: AbortSignal } = {}) {
  const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: opts.signal });
  const events: SseEvent[] = [];
  if (!res.ok || !res.body) return { status: res.status, contentType: res.headers.get('content-type'), events, body: await res.text(), aborted: false };
  const decoder = new TextDecoder();
  let buf = '';
  let event = 'message';
  let data: string[] = [];
  let aborted = false;
  const chunks = async function* () {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) yield chunk;
    } catch (err) {
      if ((err as Error).name !== 'TimeoutError' && (err as Error).name !== 'AbortError') throw err;
      aborted = true;
    }
  };
  for await (const chunk of chunks()) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === '') {
        if (data.length) {
          const e = { event, data: data.join('\n') };
          events.push(e);
          await opts.onEvent?.(e, events);
        }
        event = 'message';
        data = [];
      } else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
      else if (line.startsWith('data:')) data.push(line.slice(5));
    }
  }
  return { status: res.status, contentType: res.headers.get('content-type'), events, body: '', aborted };
}

/** The log text of each attempt file, as the stream delivered it. */
function byFile(events: SseEvent[]): Map<string, string[]> {
  const files = new Map<string, string[]>();
  let current = '';
  for (const e of events) {
    if (e.event === 'attempt') {
      current = (JSON.parse(e.data) as { file: string }).file;
      if (!files.has(current)) files.set(current, []);
    } else if (e.event === 'log') files.get(current)!.push(...e.data.split('\n'));
  }
  return files;
}

describe('operator interface', () => {
  let env: TestEnv;
  /** A repo of its own: lock workflow ids (`lock-merge-<repo>`) are namespace-wide, and other test files use `demo`. */
  let repo: string;
  let deferRepo: string;
  const orch = (args: string[], extraEnv: Record<string, string> = {}) =>
    execa(process.execPath, ['--import', 'tsx', path.join(projectDir, 'bin/orch.ts'), ...args], {
      env: env.processEnv(extraEnv),
      cwd: projectDir,
      reject: false,
      timeout: 170_000,
    });
  const queue = async () => {
    const q = await env.api('GET', '/queue');
    expect(q.status).toBe(200);
    return q.body;
  };

  beforeAll(async () => {
    env = await createTestEnv('operator');
    const suffix = randomBytes(3).toString('hex');
    repo = `op${suffix}`;
    deferRepo = `opd${suffix}`;
    // The API and the in-process worker share this object: an alias of `demo` under a unique name,
    // and one whose deploy takes 6 s (to STOP inside the critical window).
    const demo = env.pipeline.repos.demo!;
    env.pipeline.repos[repo] = { ...demo, name: repo };
    env.pipeline.repos[deferRepo] = { ...demo, name: deferRepo, deploy: { ...demo.deploy!, args: [...demo.deploy!.args, '--sleep', '6'] } };
  });
  afterAll(async () => {
    if (!env) return;
    // Lock workflows idle for an hour otherwise; they belong to this test's queue only.
    for await (const wf of env.client.workflow.list({ query: `WorkflowType='repoLock' AND ExecutionStatus='Running' AND TaskQueue='${env.taskQueue}'` })) {
      await env.client.workflow.getHandle(wf.workflowId, wf.runId).terminate('operator test over').catch(() => undefined);
    }
    await env.cleanup();
  });

  it('orch start, then orch watch follows every stage to done and exits 0', async () => {
    const start = await orch(['start', '--repo', repo, '--title', 'Say hello', '--key', 'OP-1', '--description', 'Please say hello.']);
    expect(start.stderr).toBe('');
    expect(start.exitCode).toBe(0);
    expect(start.stdout).toContain('started OP-1 (workflow task-OP-1');

    const watch = await orch(['watch', 'OP-1']);
    expect(watch.stderr).toBe('');
    expect(watch.exitCode).toBe(0);
    const lines = watch.stdout.split('\n');
    const at = (needle: string) => lines.findIndex((l) => l.includes(needle));
    const stageLines = STAGES.map((s) => at(`stage ${s}`));
    expect(stageLines.every((i) => i >= 0), watch.stdout).toBe(true);
    expect([...stageLines].sort((a, b) => a - b)).toEqual(stageLines); // in pipeline order
    for (const s of ['analysis', 'design', 'development', 'review']) {
      expect(lines.filter((l) => l.includes(`${s} attempt 1 passed`))).toHaveLength(1);
      expect(lines.filter((l) => l.includes(`${s} attempt 1 started`))).toHaveLength(1);
    }
    expect(watch.stdout).toMatch(/merged [0-9a-f]{10}/);
    expect(lines.filter(Boolean).at(-1)).toMatch(/OP-1 done$/);

    // Watching a finished task prints its story and exits at once.
    const again = await orch(['watch', 'OP-1']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('stage deploy');

    const status = await orch(['status', 'OP-1']);
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toMatch(/^OP-1 {2}done/);
    expect(status.stdout).toMatch(/development\s+1\s+\S+\s+\d+\s+\S+\s+\S+\s+passed/);
    const json = JSON.parse((await orch(['status', 'OP-1', '--json'])).stdout);
    expect(json.task).toMatchObject({ key: 'OP-1', status: 'done' });
  });

  it('orch status of an unknown key and orch stop of a finished task exit 1 with the server error', async () => {
    const unknown = await orch(['status', 'NOPE-1']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr.trim()).toBe('orch: unknown task NOPE-1 (HTTP 404)');
    expect(unknown.stdout).toBe('');

    const stop = await orch(['stop', 'OP-1', '--reason', 'too late']);
    expect(stop.exitCode).toBe(1);
    expect(stop.stderr.trim()).toBe('orch: task OP-1 already ended done; nothing to stop (HTTP 409)');

    const stopUnknown = await orch(['stop', 'NOPE-1']);
    expect(stopUnknown.exitCode).toBe(1);
    expect(stopUnknown.stderr).toContain('unknown task NOPE-1 (HTTP 404)');

    const badStart = await orch(['start', '--repo', 'nope', '--title', 'x']);
    expect(badStart.exitCode).toBe(1);
    expect(badStart.stderr.trim()).toBe('orch: unknown repo "nope" (HTTP 404)');
  });

  it('GET /api/tasks/:key/logs?follow=0 returns every attempt log in order, and orch logs prints it', async () => {
    const res = await readSse(`${env.apiUrl}/api/tasks/OP-1/logs?follow=0`);
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/^text\/event-stream/);
    expect(res.events.at(-1)?.event).toBe('end');
    expect(JSON.parse(res.events.at(-1)!.data)).toMatchObject({ key: 'OP-1', status: 'done' });
    const files = byFile(res.events);
    expect([...files.keys()].slice(0, 4)).toEqual(['analysis-1.log', 'design-1.log', 'development-1.log', 'review-1.log']);
    // Byte for byte what is on disk.
    const dir = path.join(env.dataDir, 'logs', 'tasks', 'OP-1');
    for (const name of await readdir(dir)) {
      const disk = (await readFile(path.join(dir, name), 'utf8')).replace(/\n$/, '');
      expect(files.get(name)?.join('\n'), name).toBe(disk);
    }
    expect(files.get('development-1.log')!.join('\n')).toMatch(/\[test-agent\] pid=\d+ pgid=\d+ key=OP-1 stage=development attempt=1/);

    const cli = await orch(['logs', 'OP-1']);
    expect(cli.exitCode).toBe(0);
    expect(cli.stdout).toContain('==> analysis-1.log <==');
    expect(cli.stdout).toContain('==> review-1.log <==');
    expect(cli.stdout).toContain('stage=review attempt=1');

    const missing = await env.api('GET', '/api/tasks/NOPE-1/logs');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('unknown task NOPE-1');
  });

  it('GET /queue shows a running agent with its pid and heartbeat; orch stop cancels it and /queue lists the compensation', async () => {
    await env.api('POST', '/api/tasks', { key: 'LIVE-1', repo, title: 'Slow developer', description: '@agent sleep=development:8' });
    const again = await orch(['start', '--repo', repo, '--title', 'Slow developer', '--key', 'LIVE-1']);
    expect(again.stdout).toContain('LIVE-1 already running');

    const live = await env.until('LIVE-1 to run its development agent', async () => {
      const q = await queue();
      const l = q.liveness.find((x: any) => x.key === 'LIVE-1');
      // The development agent's (the earlier stages' agents run for a moment only, but can be caught).
      const a = l?.pendingActivities.find((p: any) => p.activityType === 'runAgent' && p.activityId.startsWith('agent-development-'));
      return a && a.pid !== null && a.state === 'STARTED' ? { q, l, a } : null;
    });
    expect(live.l).toMatchObject({ workflowId: 'task-LIVE-1', workflowStatus: 'RUNNING', ghost: false, stage: 'development' });
    expect(live.a.activityId).toBe('agent-development-1-0');
    expect(live.a.heartbeatAgeMs).toEqual(expect.any(Number));
    expect(live.a.heartbeatAgeMs).toBeGreaterThanOrEqual(0);
    expect(live.a.heartbeatAgeMs).toBeLessThan(60_000);
    const host = `${env.id.slice(0, 12)}-a`;
    expect(live.a).toMatchObject({ host, taskQueue: `orch-host-${host}`, attempt: 1 });
    // The pid is the agent's: the job row's, and the guard's that leads the group writing this log
    // (inside its sandbox the agent sees no host pids: its own PID namespace).
    const task = (await env.api('GET', '/api/tasks/LIVE-1')).body;
    const job = task.jobs.find((j: any) => j.stage === 'development' && j.status === 'running');
    expect(live.a.pid).toBe(job.pid);
    expect(() => process.kill(live.a.pid, 0)).not.toThrow();
    const log = await readFile(path.join(env.dataDir, 'logs', 'tasks', 'LIVE-1', 'development-1.log'), 'utf8');
    expect(log).toContain(`[agent-guard ${live.a.pid}] starting`);
    // The task lists: running, in development.
    expect(live.q.tasks.counts.byStatus.running).toBeGreaterThanOrEqual(1);
    expect(live.q.tasks.byStage.development).toContain('LIVE-1');
    expect(live.q.tasks.byStatus.running.map((t: any) => t.key)).toContain('LIVE-1');
    expect(live.q.tasks.byStatus.done.map((t: any) => t.key)).toContain('OP-1');

    const table = await orch(['queue']);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`LIVE-1\\s+runAgent\\s+STARTED\\s+${host}\\s+${live.a.pid}\\s`));

    const stop = await orch(['stop', 'LIVE-1', '--reason', 'operator test']);
    expect(stop.exitCode).toBe(0);
    expect(stop.stdout).toContain('STOP sent to LIVE-1');
    const watch = await orch(['watch', 'LIVE-1']);
    expect(watch.exitCode).toBe(2);
    expect(watch.stdout).toMatch(/STOP pending \(by cli\): operator test/);
    expect(watch.stdout).toMatch(/compensation kill-agent: ok/);
    expect(watch.stdout.trim().split('\n').at(-1)).toMatch(/LIVE-1 cancelled$/);
    expect(() => process.kill(live.a.pid, 0)).toThrow();

    const q = await queue();
    const cancelled = q.stop.recentlyCancelled.find((t: any) => t.key === 'LIVE-1');
    expect(cancelled).toMatchObject({ status: 'cancelled', reason: 'operator test', requestedBy: 'cli' });
    expect(cancelled.tombstone).toMatch(/^LIVE-1#cancelled-/);
    expect(cancelled.cancelledAt).toEqual(expect.any(String));
    expect(cancelled.compensation.map((c: any) => [c.step, c.ok])).toEqual([
      ['kill-agent', true],
      ['cancel-jobs', true],
      ['remove-worktree', true],
      ['delete-branch', true],
    ]);
    expect(q.liveness.find((x: any) => x.key === 'LIVE-1')).toBeUndefined();
    const status = await orch(['status', 'LIVE-1']);
    expect(status.stdout).toMatch(/^LIVE-1 {2}cancelled/);
    expect(status.stdout).toMatch(/ok {5}kill-agent/);
  });

  it('GET /queue shows the merge lock, its holder and a task waiting in merge', async () => {
    // A task that waits forever for a dependency stands in as the lock's holder.
    await env.api('POST', '/api/tasks', { key: 'HOLD-1', repo, title: 'holds the lock', dependsOn: ['NEVER-1'] });
    const lockId = lockWorkflowId(env.taskQueue, 'merge', repo);
    await env.client.workflow.signalWithStart<RepoLockWorkflow, [LockRequest]>(workflowTypes.repoLock, {
      workflowId: lockId,
      taskQueue: env.taskQueue,
      args: [undefined],
      signal: acquireSignal,
      signalArgs: [{ holderWorkflowId: taskWorkflowId('HOLD-1'), purpose: 'test' }],
    });
    await env.until('HOLD-1 to hold the lock', async () => (await env.client.workflow.getHandle(lockId).query(lockStateQuery)).holder !== null);
    await env.api('POST', '/api/tasks', { key: 'LOCK-1', repo, title: 'merges behind the holder' });
    const release = () => env.client.workflow.getHandle(lockId).signal(releaseSignal, { holderWorkflowId: taskWorkflowId('HOLD-1') });
    try {
      const q = await env.until(
        'LOCK-1 to wait for the merge lock',
        async () => {
          const snap = await queue();
          const lock = snap.locks.find((l: any) => l.lockId === lockId);
          return lock?.waiters.some((w: any) => w.taskKey === 'LOCK-1') ? snap : null;
        },
        120_000,
      );
      const lock = q.locks.find((l: any) => l.lockId === lockId);
      expect(lock.holder).toMatchObject({ holderWorkflowId: 'task-HOLD-1', taskKey: 'HOLD-1', purpose: 'test' });
      expect(lock.waiters).toEqual([expect.objectContaining({ holderWorkflowId: 'task-LOCK-1', taskKey: 'LOCK-1', purpose: 'merge' })]);
      expect(q.tasks.byStage.merge).toEqual(['LOCK-1']);
      expect(q.tasks.byStage.waiting).toContain('HOLD-1'); // waiting for NEVER-1: the row has no stage yet
      const table = await orch(['queue']);
      expect(table.stdout).toMatch(new RegExp(`${lockId}\\s+HOLD-1\\s+.*LOCK-1`));
    } finally {
      // Also when an assertion failed: the later tests of this repo merge through this lock.
      await release();
    }
    expect((await env.waitForStatus('LOCK-1', TERMINAL_STATUSES)).task.status).toBe('done');
    // The lock workflow stays running (idle) after the merges, free.
    const free = await env.until('the merge lock to be free', async () => {
      const l = (await queue()).locks.find((x: any) => x.lockId === lockId);
      return l && l.holder === null ? l : null;
    });
    expect(free).toMatchObject({ workflowId: lockId, holder: null, waiters: [], granted: expect.any(Number) });

    // A task whose workflow is gone but whose row says running is a ghost.
    await env.client.workflow.getHandle('task-HOLD-1').terminate('operator test: make a ghost');
    const ghost = (await queue()).liveness.find((l: any) => l.key === 'HOLD-1');
    expect(ghost).toMatchObject({ workflowStatus: 'TERMINATED', ghost: true, pendingActivities: [] });
  });

  it('GET /queue lists a STOP deferred by a deploy until the deploy ends', async () => {
    await env.api('POST', '/api/tasks', { key: 'DEFER-1', repo: deferRepo, title: 'stopped while deploying' });
    await env.until(
      'DEFER-1 to deploy',
      async () => {
        const t = (await env.api('GET', '/api/tasks/DEFER-1')).body;
        return t.task?.stage === 'deploy' && t.state?.inCriticalWindow;
      },
      120_000,
    );
    expect((await env.api('POST', '/api/tasks/DEFER-1/stop', { reason: 'deferred?' })).status).toBe(202);
    const q = await env.until('the deferred STOP to show', async () => {
      const snap = await queue();
      return snap.stop.deferred.find((t: any) => t.key === 'DEFER-1') ? snap : null;
    });
    expect(q.stop.deferred.find((t: any) => t.key === 'DEFER-1')).toMatchObject({ stage: 'deploy', inCriticalWindow: true, reason: 'deferred?', status: 'running' });
    const watch = await orch(['watch', 'DEFER-1']);
    expect(watch.exitCode).toBe(2);
    expect(watch.stdout).toContain('deployed (exit 0)');
    const after = await queue();
    expect(after.stop.deferred.find((t: any) => t.key === 'DEFER-1')).toBeUndefined();
    expect(after.stop.recentlyCancelled.map((t: any) => t.key)).toContain('DEFER-1');
  });

  it('the follow stream delivers lines written after connecting, switches files and ends when the task ends', async () => {
    await env.api('POST', '/api/tasks', { key: 'FOLLOW-1', repo, title: 'followed', description: '@agent sleep=development:6' });
    const devLog = path.join(env.dataDir, 'logs', 'tasks', 'FOLLOW-1', 'development-1.log');
    await env.until('the development agent to sleep', async () => (await readFile(devLog, 'utf8').catch(() => '')).includes('sleeping 6s'), 120_000);
    const cli = orch(['logs', 'FOLLOW-1', '--follow']);

    const marker = `operator-test marker ${randomBytes(4).toString('hex')}`;
    let wroteMarker = false;
    const stream = await readSse(`${env.apiUrl}/api/tasks/FOLLOW-1/logs`, {
      onEvent: async (e) => {
        // Once the stream has caught up with the sleeping agent, append a line ourselves.
        if (!wroteMarker && e.event === 'log' && e.data.includes('sleeping 6s')) {
          wroteMarker = true;
          await appendFile(devLog, `${marker}\n`);
        }
      },
      signal: AbortSignal.timeout(120_000),
    });
    if (stream.aborted) {
      const t = (await env.api('GET', '/api/tasks/FOLLOW-1')).body;
      expect.fail(`the stream did not end; task ${t.task?.status}/${t.state?.stage}; last events ${JSON.stringify(stream.events.slice(-4))}`);
    }
    expect(wroteMarker).toBe(true);
    const files = byFile(stream.events);
    const dev = files.get('development-1.log')!;
    expect(dev).toContain(marker);
    // Written by the agent after it woke up, i.e. after the stream connected.
    expect(dev.indexOf(marker)).toBeLessThan(dev.findIndex((l) => l.includes('writing docs/tasks/FOLLOW-1/development.md')));
    expect([...files.keys()].slice(0, 4)).toEqual(['analysis-1.log', 'design-1.log', 'development-1.log', 'review-1.log']);
    expect(files.get('review-1.log')!.join('\n')).toContain('stage=review attempt=1');
    const end = stream.events.at(-1)!;
    expect(end.event).toBe('end');
    expect(JSON.parse(end.data)).toMatchObject({ key: 'FOLLOW-1', status: 'done', terminal: true });
    expect(stream.events.filter((e) => e.event === 'end')).toHaveLength(1);

    const printed = await cli;
    expect(printed.exitCode).toBe(0);
    expect(printed.stdout).toContain(marker);
    expect(printed.stdout).toContain('==> review-1.log <==');
    expect(printed.stderr).toContain('-- FOLLOW-1 done --');
  });

  it('shows what agents report: live progress, usage per attempt and per task, after the workflow closed too, and in /metrics', async () => {
    // The scripted test agent reports nothing. While each sleeping agent runs, the test writes its
    // progress into the job row exactly as the agent activity does for an agent that reports events
    // (records.updateJobProgress); everything else is orch's public surface reading the records.
    await env.api('POST', '/api/tasks', { key: 'USE-1', repo, title: 'Spends', description: '@agent sleep=design:6 sleep=development:6' });
    const runningJob = (stage: string) =>
      env.until(`USE-1's ${stage} agent to run`, async () => {
        const t = (await env.api('GET', '/api/tasks/USE-1')).body;
        return t.jobs?.find((j: any) => j.stage === stage && j.status === 'running');
      }, 120_000);
    const design = await runningJob('design');
    // A model without a price: tokens, cost unknown.
    const designUsage = { costUsd: null, inputTokens: 1000, outputTokens: 100, cacheReadTokens: 0, cacheWriteTokens: 0, turns: 3 };
    await env.records.updateJobProgress(design.activityKey, { turns: 3, lastTool: 'Read', usage: designUsage, model: 'gpt-test', lastActivityAt: new Date().toISOString() });
    const designSeen = (await env.api('GET', '/api/tasks/USE-1')).body;
    expect(designSeen.progress).toMatchObject({ stage: 'design', attempt: 1, turns: 3, lastTool: 'Read', model: 'gpt-test' });

    const dev = await runningJob('development');
    const devUsage = { costUsd: 0.42, inputTokens: 12_345, outputTokens: 2100, cacheReadTokens: 480_000, cacheWriteTokens: 0, turns: 7 };
    await env.records.updateJobProgress(dev.activityKey, { turns: 7, lastTool: 'Bash', usage: devUsage, model: 'claude-test', lastActivityAt: new Date().toISOString() });
    const live = (await env.api('GET', '/api/tasks/USE-1')).body;
    expect(live.progress).toMatchObject({ stage: 'development', attempt: 1, turns: 7, lastTool: 'Bash', usage: devUsage });
    expect(live.history.map((h: any) => [h.stage, h.outcome, h.usage?.inputTokens ?? null])).toEqual([
      ['analysis', 'passed', null],
      ['design', 'passed', 1000],
      ['development', null, 12_345],
    ]);
    expect(live.usage).toEqual({ costUsd: null, inputTokens: 13_345, outputTokens: 2200, cacheReadTokens: 480_000, cacheWriteTokens: 0, turns: 10 });
    const status = await orch(['status', 'USE-1']);
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toContain('  now: development, attempt 1: turn 7, running Bash, $0.42');
    expect(status.stdout).toMatch(/design\s+1\s.*unknown\s+1k\/100\s+—\s+passed/);
    expect(status.stdout).toMatch(/development\s+1\s.*\$0\.42\s+12\.3k\/2\.1k\s+480k\/0\s+running/);
    expect(status.stdout).toContain('  usage: cost unknown · 13.3k in / 2.2k out tokens (480k cache read) · 10 turns');
    expect((await orch(['queue'])).stdout).toMatch(/USE-1\s+\S+\s+running\s+development\s+.*\s+unknown\s+—\s+Spends/);

    const done = await env.waitForStatus('USE-1', TERMINAL_STATUSES);
    expect(done.task.status).toBe('done');
    // The workflow has closed: the history comes from the records, with the usage the jobs kept.
    expect(done.progress).toBeNull();
    expect(done.history.map((h: any) => [h.stage, h.attempt, h.outcome, h.model, h.usage])).toEqual([
      ['analysis', 1, 'passed', null, null],
      ['design', 1, 'passed', 'gpt-test', designUsage],
      ['development', 1, 'passed', 'claude-test', devUsage],
      ['review', 1, 'passed', null, null],
    ]);
    expect(done.usage).toEqual(live.usage);
    expect(done.state.history.map((h: any) => h.usage ?? null)).toEqual([null, designUsage, devUsage, null]);
    const watch = await orch(['watch', 'USE-1']);
    expect(watch.stdout).toContain('development attempt 1 passed');
    expect(watch.stdout).toMatch(/development attempt 1 passed \([0-9a-f]{10}\) — cost \$0\.42 · 12\.3k in \/ 2\.1k out tokens \(480k cache read\) · 7 turns/);
    expect(watch.stdout.trim().split('\n').slice(-2)).toEqual([
      expect.stringMatching(/ {2}usage: cost unknown · 13\.3k in \/ 2\.2k out tokens \(480k cache read\) · 10 turns$/),
      expect.stringMatching(/USE-1 done$/),
    ]);

    // Tokens by kind for both models; a cost only for the priced one.
    const metrics = await (await fetch(`${env.apiUrl}/metrics`)).text();
    const series = (name: string, labels: string) => new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(metrics)?.[1];
    const dl = `repo="${repo}",stage="development",model="claude-test"`;
    expect(series('orch_agent_tokens_total', `${dl},kind="input"`)).toBe('12345');
    expect(series('orch_agent_tokens_total', `${dl},kind="output"`)).toBe('2100');
    expect(series('orch_agent_tokens_total', `${dl},kind="cache_read"`)).toBe('480000');
    expect(series('orch_agent_tokens_total', `${dl},kind="cache_write"`)).toBe('0');
    expect(series('orch_agent_cost_usd_total', dl)).toBe('0.42');
    expect(series('orch_agent_tokens_total', `repo="${repo}",stage="design",model="gpt-test",kind="input"`)).toBe('1000');
    expect(metrics).not.toMatch(/^orch_agent_cost_usd_total\{[^}]*model="gpt-test"/m);
  });

  it('orch reconcile prints the result, or says the API is too old', async () => {
    const r = await orch(['reconcile']);
    if (r.exitCode === 0) expect(JSON.parse(r.stdout)).toEqual(expect.any(Object));
    else {
      expect(r.exitCode).toBe(1);
      expect(r.stderr.trim()).toBe(`orch: the orch API at ${env.apiUrl} is too old: it has no POST /api/reconcile (upgrade and restart it)`);
    }
  });

  it('the CLI against a dead API exits 3 with one clear line', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    for (const args of [['queue'], ['status', 'OP-1'], ['watch', 'OP-1'], ['logs', 'OP-1', '--follow']]) {
      const r = await orch(args, { ORCH_API_URL: url });
      expect(r.exitCode, args.join(' ')).toBe(3);
      expect(r.stderr.trim()).toBe(`orch: cannot reach the orch API at ${url}; is \`npm start\` running? (ECONNREFUSED)`);
      expect(r.stdout).toBe('');
    }
  });
});
