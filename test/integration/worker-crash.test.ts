// kill -9 of the worker that runs an agent, with a second worker alive.
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupMembers } from '../../activities/adapters/process-tree.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { gitIn, readHookLog } from '../support/git-fixtures.js';
import { stateQuery, taskWorkflowId, TERMINAL_STATUSES } from '../../workflows/contracts/index.js';

describe('a worker dies during an agent run', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('crash', { worker: false, heartbeat: '3s' });
  });
  afterAll(async () => env?.cleanup());

  it('moves the task to the live worker, advances each stage once, and leaves no orphan agent', async () => {
    const a = await env.spawnWorker('host-a');
    await env.api('POST', '/api/tasks', { key: 'CRASH-1', repo: 'demo', title: 'survive', description: '@agent sleep=development:8' });
    const task = await env.until('the task row', () => env.records.taskByKey('CRASH-1'));
    const job = await env.until('the development agent to run on host-a', async () =>
      (await env.records.jobsOf(task.id)).find((j) => j.stage === 'development' && j.status === 'running' && j.host === 'host-a'),
    );
    expect(groupMembers(job.pid!).length).toBeGreaterThan(0);
    const b = await env.spawnWorker('host-b');
    expect((await env.records.jobsOf(task.id)).find((j) => j.id === job.id)?.status).toBe('running');

    a.child.kill('SIGKILL');
    // The guard sees its worker gone and takes the whole agent group down.
    await env.until('the dead worker\'s agent group to be gone', async () => groupMembers(job.pid!).length === 0, 15_000);

    const done = await env.waitForStatus('CRASH-1', TERMINAL_STATUSES, 120_000);
    expect(done.task.status).toBe('done');
    const passed = done.events.filter((e: any) => e.type === 'stage-passed').map((e: any) => e.stage);
    expect(passed).toEqual(['analysis', 'design', 'development', 'review']);
    expect(done.events.filter((e: any) => e.type === 'host-lost')).toHaveLength(1);
    const dev = done.jobs.filter((j: any) => j.stage === 'development');
    expect(dev.map((j: any) => [j.host, j.status])).toEqual([
      ['host-a', 'failed'],
      ['host-b', 'done'],
    ]);
    // The earlier stages' work, pushed by host-a, was carried over to host-b's worktree.
    const files = await gitIn(env.remote.path, 'ls-tree', '-r', '--name-only', 'main');
    expect(files).toContain('docs/tasks/CRASH-1/analysis.md');
    expect(files).toContain('docs/tasks/CRASH-1/development.md');
    expect((await readHookLog(env.remote)).filter((l) => l.startsWith('REJECT'))).toEqual([]);
    expect(groupMembers(job.pid!)).toEqual([]);
    // The next test's task must take its own workers, not this one.
    b.child.kill('SIGTERM');
    await b.exited;
  });

  it('does not run a stage again when the lost host had already pushed it', async () => {
    const a = await env.spawnWorker('push-a');
    // The remote kills worker A right after accepting its second push of orch/PUSH-1 (the design
    // stage): the push landed, but A dies before commitAndPush can report it.
    const hook = path.join(env.remote.path, 'hooks', 'post-receive');
    await writeFile(
      hook,
      `#!/bin/sh
while read -r old new ref; do
  if [ "$ref" = "refs/heads/orch/PUSH-1" ]; then
    n=$(( $(cat "$0.count" 2>/dev/null || echo 0) + 1 )); echo $n > "$0.count"
    if [ $n -eq 2 ]; then kill -9 ${a.pid}; fi
  fi
done
`,
    );
    await chmod(hook, 0o755);
    await env.api('POST', '/api/tasks', { key: 'PUSH-1', repo: 'demo', title: 'push then crash' });
    // A must be the task's host when it dies (the hook kills it whoever pushed): B joins only after.
    const handle = env.client.workflow.getHandle(taskWorkflowId('PUSH-1'));
    await env.until('PUSH-1 to take push-a as its host', async () => (await handle.query(stateQuery)).host === 'push-a');
    await env.spawnWorker('push-b');
    const done = await env.waitForStatus('PUSH-1', TERMINAL_STATUSES, 120_000);
    expect(done.task.status).toBe('done');
    expect(a.child.signalCode ?? (await a.child).signal).toBe('SIGKILL');
    const recovered = done.events.find((e: any) => e.type === 'stage-passed' && e.stage === 'design');
    expect(recovered.detail).toMatchObject({ recoveredFromPush: true });
    // Each stage's work is on main exactly once: the design agent did not run again.
    const subjects = (await gitIn(env.remote.path, 'log', '--format=%s', 'main')).split('\n');
    for (const stage of ['analysis', 'design', 'development', 'review']) {
      expect(subjects.filter((l) => l === `PUSH-1: ${stage}`)).toHaveLength(1);
    }
    expect(done.jobs.filter((j: any) => j.stage === 'design').map((j: any) => j.status)).toEqual(['done']);
    expect(done.events.filter((e: any) => e.type === 'stage-passed').map((e: any) => e.stage)).toEqual(['analysis', 'design', 'development', 'review']);
  });
});
