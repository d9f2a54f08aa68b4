// docs/runbook.md, executed: every fenced `sh` block of the runbook runs through bash and the real
// `temporal` CLI (and `npx orch`, curl) against the run's dev server, on tasks put in the state its
// section describes, and its effect is checked. The doc cannot drift from what works.
import { access, mkdir, mkdtemp, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from '@temporalio/worker';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { groupMembers } from '../../activities/adapters/process-tree.js';
import { projectDir } from '../../worker/config/project-dir.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { branchSha, setPushDelay } from '../support/git-fixtures.js';
import { freePort } from '../../worker/harness/free-port.js';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';

const RUNBOOK = path.join(projectDir, 'docs', 'runbook.md');
const exists = (p: string) => access(p).then(() => true, () => false);

interface Block {
  id: string;
  code: string;
  line: number;
}

/** The runbook's fenced `sh` blocks, each with the `<!-- runbook:<id> -->` tag on the line before its fence. */
function parseRunbook(markdown: string): { blocks: Map<string, Block>; untagged: number[]; duplicate: string[] } {
  const lines = markdown.split('\n');
  const blocks = new Map<string, Block>();
  const untagged: number[] = [];
  const duplicate: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) {
      if (/^```/.test(lines[i]!)) {
        // Skip any other fenced block whole (its content may contain fences of its own kind).
        const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
        i = end === -1 ? lines.length : end;
      }
      continue;
    }
    const tag = /^<!-- runbook:([a-z0-9-]+) -->$/.exec(lines[i - 1] ?? '');
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (end === -1) throw new Error(`runbook line ${i + 1}: unterminated code block`);
    const code = lines.slice(i + 1, end).join('\n');
    if (!tag) untagged.push(i + 1);
    else if (blocks.has(tag[1]!)) duplicate.push(tag[1]!);
    else blocks.set(tag[1]!, { id: tag[1]!, code, line: i + 1 });
    i = end;
  }
  return { blocks, untagged, duplicate };
}

describe('the runbook (docs/runbook.md), run against a real Temporal dev server', () => {
  let env: TestEnv;
  let blocks: Map<string, Block>;
  let binDir: string;
  const ran = new Set<string>();
  const hostId = () => `${env.id.slice(0, 12)}-a`;

  beforeAll(async () => {
    const parsed = parseRunbook(await readFile(RUNBOOK, 'utf8'));
    blocks = parsed.blocks;
    // One attempt per stage: a failing agent fails its task at once (section 5).
    env = await createTestEnv('runbook', { attempts: 1, killGraceMs: 1000 });
    // The operator's PATH: `temporal` is the CLI the dev server runs.
    binDir = path.join(env.dir, 'bin');
    await mkdir(binDir, { recursive: true });
    await symlink(inject('temporalCliPath'), path.join(binDir, 'temporal'));
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  /** The setup block with this run's address, namespace, API URL and key; every substitution must hit. */
  const setupFor = (key: string, extra: [string, string][] = []) => {
    let setup = blocks.get('setup')?.code;
    if (!setup) throw new Error('docs/runbook.md has no `runbook:setup` block');
    const subs: [string, string][] = [
      ['TEMPORAL_ADDRESS=127.0.0.1:7233', `TEMPORAL_ADDRESS=${inject('temporalAddress')}`],
      ['TEMPORAL_NAMESPACE=default', `TEMPORAL_NAMESPACE=${inject('temporalNamespace')}`],
      ['ORCH_API_URL=http://127.0.0.1:3000', `ORCH_API_URL=${env.apiUrl}`],
      ['KEY=DEMO-1', `KEY=${key}`],
      ...extra,
    ];
    for (const [from, to] of subs) {
      // Without this, a reworded setup would send the commands to whatever listens on the defaults.
      if (!setup.includes(from)) throw new Error(`the runbook's setup block no longer contains "${from}": update the test's substitutions`);
      setup = setup.replace(from, to);
    }
    return setup;
  };

  /** Runs one tagged block the way an operator would: a fresh bash with the setup block first. */
  const run = async (id: string, key: string, o: { cwd?: string; subs?: [string, string][]; expectExit?: number } = {}) => {
    const block = blocks.get(id);
    if (!block) throw new Error(`docs/runbook.md has no block tagged runbook:${id}`);
    let code = block.code;
    for (const [from, to] of o.subs ?? []) {
      if (!code.includes(from)) throw new Error(`runbook:${id} no longer contains "${from}"`);
      code = code.replaceAll(from, to);
    }
    // Only what an operator's shell would have: no TEMPORAL_* or ORCH_* from the test process.
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TEMPORAL_|ORCH_|DATABASE_URL)/.test(k)));
    const r = await execa('bash', ['-c', `set -eo pipefail\n${setupFor(key)}\n${code}`], {
      cwd: o.cwd ?? projectDir,
      env: { ...clean, PATH: `${binDir}:${process.env.PATH}`, npm_config_update_notifier: 'false' },
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    });
    ran.add(id);
    const out = `${r.stdout}\n${r.stderr}`;
    if (r.exitCode !== (o.expectExit ?? 0)) {
      throw new Error(`runbook:${id} (line ${block.line}) exited ${r.exitCode ?? r.signal}, expected ${o.expectExit ?? 0}:\n${out}`);
    }
    return { stdout: r.stdout, stderr: r.stderr, out };
  };

  /** Visibility is eventually consistent: re-runs a listing block until its output satisfies `ok`. */
  const runUntil = async (id: string, key: string, ok: (stdout: string) => boolean, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await run(id, key);
      if (ok(r.stdout)) return r;
      if (Date.now() > deadline) throw new Error(`runbook:${id}: output never matched:\n${r.out}`);
      await sleep(300);
    }
  };

  const start = (key: string, description = '') => env.api('POST', '/api/tasks', { key, repo: 'demo', title: `runbook ${key}`, description });

  /** Starts a task whose development agent hangs; returns once the agent runs. */
  const startHanging = async (key: string) => {
    expect((await start(key, '@agent hang=development')).status).toBe(202);
    const task = await env.until('the task row', () => env.records.taskByKey(key));
    const job = await env.until(
      'the development agent',
      async () => (await env.records.jobsOf(task.id)).find((j) => j.stage === 'development' && j.status === 'running'),
      60_000,
    );
    return { task, pgid: job.pid! };
  };

  const expectStopped = async (key: string, pgid: number) => {
    const after = await env.waitForStatus(key, TERMINAL_STATUSES);
    expect(after.task.status).toBe('cancelled');
    expect(groupMembers(pgid)).toEqual([]);
    expect(await branchSha(env.remote.path, `orch/${key}`)).toBeNull();
    expect(await exists(path.join(env.dataDir, 'hosts', hostId(), 'worktrees', key))).toBe(false);
    return after;
  };

  it('tags every sh block, once', async () => {
    const parsed = parseRunbook(await readFile(RUNBOOK, 'utf8'));
    expect(parsed.untagged, 'sh blocks without a <!-- runbook:<id> --> tag (lines)').toEqual([]);
    expect(parsed.duplicate).toEqual([]);
    expect(parsed.blocks.size).toBeGreaterThanOrEqual(15);
    ran.add('setup');
  });

  it('finds a running task: by status, by stage, with orch queue; describes it; reads its details and state', async () => {
    const { pgid } = await startHanging('RUN-1');
    await runUntil('list-running', 'RUN-1', (o) => o.includes('task-RUN-1') && /Running/.test(o));
    await runUntil('list-stage', 'RUN-1', (o) => o.includes('task-RUN-1'));

    const queue = await run('orch-queue', 'RUN-1');
    expect(queue.stdout).toContain('RUN-1');
    expect(queue.stdout).toContain('development');

    const described = await run('describe', 'RUN-1');
    expect(described.stdout).toContain('task-RUN-1');
    // The pending agent activity: stage and attempt in its id, host and pid in its last heartbeat.
    expect(described.stdout).toMatch(/ActivityId\s+agent-development-1-0/);
    expect(described.stdout).toMatch(/LastHeartbeatDetails\s+\[\{"host":"[^"]+","pid":\d+[,}]/);
    expect(described.stdout).toContain('RUN-1: runbook RUN-1'); // the static summary

    const meta = await run('metadata', 'RUN-1');
    expect(meta.stdout).toMatch(/Current Details:\s+\*\*RUN-1\*\* — runbook RUN-1/);
    expect(meta.stdout).toMatch(/status: `running`, stage: `development` \(attempt 1\)/);
    expect(meta.stdout).toMatch(/Signal Definitions:\s+stop/);

    const state = await run('query-state', 'RUN-1');
    const parsed = JSON.parse(state.stdout.slice(state.stdout.indexOf('{'))) as { stage: string; status: string; host: string };
    expect(parsed).toMatchObject({ stage: 'development', status: 'running', host: hostId() });

    const status = await run('orch-status', 'RUN-1');
    expect(status.stdout).toContain('RUN-1');
    expect(status.stdout).toContain('development');
    expect(status.stdout).toContain('[test-agent]'); // orch logs: the agent's own output

    // Section 3: STOP by signal, then the stopped list.
    await run('stop-signal', 'RUN-1');
    const after = await expectStopped('RUN-1', pgid);
    expect(after.events.find((e: any) => e.type === 'cancelled').detail).toMatchObject({ reason: 'wrong ticket', requestedBy: 'ops' });
    await runUntil('list-stopped', 'RUN-1', (o) => o.includes('task-RUN-1'));
  });

  it('stops a task with orch stop', async () => {
    const { pgid } = await startHanging('ORS-1');
    const r = await run('orch-stop', 'ORS-1');
    expect(r.out).toContain('ORS-1');
    const after = await expectStopped('ORS-1', pgid);
    expect(after.events.find((e: any) => e.type === 'cancelled').detail).toMatchObject({ reason: 'wrong ticket' });
  });

  it('stops a task with temporal workflow cancel: same compensation, execution Canceled', async () => {
    const { pgid } = await startHanging('CAN-1');
    await run('cancel', 'CAN-1');
    const after = await expectStopped('CAN-1', pgid);
    expect(after.events.filter((e: any) => e.type === 'compensation').map((e: any) => [e.detail.step, e.detail.ok])).toEqual([
      ['kill-agent', true],
      ['cancel-jobs', true],
      ['remove-worktree', true],
      ['delete-branch', true],
    ]);
    expect((await env.client.workflow.getHandle('task-CAN-1').describe()).status.name).toBe('CANCELLED');
  });

  it('cleans up after temporal workflow terminate with orch reconcile', async () => {
    const { pgid } = await startHanging('TERM-1');
    expect(await branchSha(env.remote.path, 'orch/TERM-1')).not.toBeNull();
    const r = await run('terminate-then-reconcile', 'TERM-1');
    const report = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as any;
    expect(report.tasks.closed).toEqual([{ key: 'TERM-1', workflowStatus: 'TERMINATED', status: 'cancelled' }]);
    expect(report.branches.deleted).toContain('demo:orch/TERM-1');
    await env.until('the agent group to be gone', async () => groupMembers(pgid).length === 0, 10_000);
    expect(await exists(path.join(env.dataDir, 'hosts', hostId(), 'worktrees', 'TERM-1'))).toBe(false);
    expect(await branchSha(env.remote.path, 'orch/TERM-1')).toBeNull();
    expect((await env.api('GET', '/api/tasks/TERM-1')).body.task.status).toBe('cancelled');
  });

  it('lists the tasks of a repo in merge, watches one to the end, and exports a history that replays', async () => {
    // A slow remote keeps the task inside its merge long enough to be listed there.
    await setPushDelay(env.remote, 4);
    try {
      expect((await start('MRG-1')).status).toBe(202);
      const task = await env.until('the task row', () => env.records.taskByKey('MRG-1'));
      await env.until('the merge to start', async () => (await env.records.eventsOf(task.id)).some((e) => e.type === 'merge-started'), 60_000);
      await runUntil('list-repo-merge', 'MRG-1', (o) => o.includes('task-MRG-1'));
      const watched = await run('orch-watch', 'MRG-1');
      expect(watched.stdout).toContain('MRG-1');
      expect(watched.stdout).toMatch(/done/);
    } finally {
      await setPushDelay(env.remote, 0);
    }
    expect((await env.api('GET', '/api/tasks/MRG-1')).body.task.status).toBe('done');

    const dir = await mkdtemp(path.join(env.dir, 'export-'));
    await run('export-history', 'MRG-1', { cwd: dir });
    const history = JSON.parse(await readFile(path.join(dir, 'history-MRG-1.json'), 'utf8'));
    expect(history.events.length).toBeGreaterThan(50);
    // The exported file replays against the workflow code without a determinism error.
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, 'task-MRG-1');
  });

  it('finds a failed task and resets it to a stage, which runs again and finishes', async (ctx) => {
    if ((await execa('jq', ['--version'], { reject: false }).catch(() => ({ exitCode: 127 }))).exitCode !== 0) {
      ctx.skip('jq is not installed: the reset block of the runbook needs it to find the stage event (apt-get install jq)');
    }
    // The cause: development's agent is broken (exits 3), so the task fails there after one attempt.
    const development = env.pipeline.stages.find((s) => s.name === 'development')!;
    development.agent = { command: 'node', args: ['-e', 'process.exit(3)'] };
    let oldRunId: string;
    try {
      expect((await start('RST-1')).status).toBe(202);
      const failed = await env.waitForStatus('RST-1', ['failed', 'done', 'cancelled']);
      expect(failed.task.status).toBe('failed');
      expect(failed.task.failureReason).toMatch(/stage development failed/);
      oldRunId = failed.task.runId;
      await runUntil('list-failed', 'RST-1', (o) => o.includes('task-RST-1'));
    } finally {
      // The fix.
      delete development.agent;
    }
    const before = (await env.api('GET', '/api/tasks/RST-1')).body;
    const passedBefore = before.events.filter((e: any) => e.type === 'stage-passed').map((e: any) => e.stage);
    expect(passedBefore).toEqual(['analysis', 'design']);

    await run('reset-to-stage', 'RST-1');
    const handle = env.client.workflow.getHandle('task-RST-1');
    const newRun = await handle.describe();
    expect(newRun.runId).not.toBe(oldRunId);
    const result = (await handle.result()) as { status: string };
    expect(result.status).toBe('done');

    const after = (await env.api('GET', '/api/tasks/RST-1')).body;
    expect(after.task.status).toBe('done');
    const passed = after.events.filter((e: any) => e.type === 'stage-passed').map((e: any) => e.stage);
    // analysis and design are not run again; development runs again and passes, the rest follows.
    expect(passed).toEqual(['analysis', 'design', 'development', 'review']);
    expect(after.events.map((e: any) => e.type)).toContain('deploy-finished');
    expect(await branchSha(env.remote.path, 'main')).not.toBeNull();
  });

  it('reads the worker metrics and the API metrics', async () => {
    // A worker process of its own (on a queue of its own, so it takes no tasks) serving Prometheus.
    const port = await freePort();
    await env.spawnWorker('runbook-metrics', { ORCH_WORKER_METRICS_ADDRESS: `127.0.0.1:${port}`, ORCH_TASK_QUEUE: `${env.taskQueue}-m` });
    const worker = await run('worker-metrics', 'RUN-1', { subs: [['127.0.0.1:9464', `127.0.0.1:${port}`]] });
    expect(worker.stdout).toMatch(/^temporal_worker_task_slots_available\{.*orch_host="runbook-metrics".*\} \d+/m);

    // The API's metrics come from the records: the STOPs and stages above are in them, and a webhook
    // delivery (this API has no PLANE_WEBHOOK_SECRET: it is rejected, and recorded).
    expect((await fetch(`${env.apiUrl}/webhooks/plane`, { method: 'POST', body: '{}' })).status).toBe(503);
    // Records are counted once they have settled (2 s): wait for the last of them.
    await env.until(
      'the webhook delivery to be counted',
      async () => /^orch_webhook_deliveries_total\{source="plane",outcome="rejected"\} 1$/m.test(await (await fetch(`${env.apiUrl}/metrics`)).text()),
      15_000,
    );
    const api = await run('api-metrics', 'RUN-1');
    for (const re of [
      /^orch_tasks\{status="cancelled"\} 4$/m, // RUN-1, ORS-1, CAN-1, TERM-1
      /^orch_tasks\{status="done"\} 2$/m, // MRG-1, RST-1
      /^orch_tasks_finished_total\{status="failed"\} 1$/m, // RST-1's first run
      /^orch_stop_latency_seconds_count 3$/m, // TERM-1 was terminated: no STOP ran for it
      /^orch_compensation_steps_total\{step="kill-agent",ok="true"\} 3$/m,
      /^orch_compensation_steps_total\{step="delete-branch",ok="true"\} 3$/m,
    ]) {
      expect(api.stdout).toMatch(re);
    }

    // What the runbook's grep leaves out.
    const all = await (await fetch(`${env.apiUrl}/metrics`)).text();
    // Every STOP here found its agent running: each has a kill latency, below the STOP's own.
    expect(all).toMatch(/^orch_stop_kill_latency_seconds_count 3$/m);
    const sum = (name: string) => Number(new RegExp(`^${name}_sum (\\S+)$`, 'm').exec(all)?.[1]);
    expect(sum('orch_stop_kill_latency_seconds')).toBeLessThan(sum('orch_stop_latency_seconds'));
    // development passed for MRG-1 and, after the reset, RST-1; merge and deploy have their own series.
    expect(all).toMatch(/^orch_stage_duration_seconds_count\{stage="development"\} 2$/m);
    expect(all).toMatch(/^orch_stage_duration_seconds_count\{stage="merge"\} 2$/m);
    expect(all).toMatch(/^orch_stage_duration_seconds_count\{stage="deploy"\} 2$/m);
    expect(all).toMatch(/^orch_stage_attempts_failed_total\{stage="development"\} 1$/m);
    expect(all).toMatch(/^orch_metrics_refresh_errors_total 0$/m);
  });

  it('ran every block of the runbook', () => {
    expect([...blocks.keys()].filter((id) => !ran.has(id))).toEqual([]);
  });
});
