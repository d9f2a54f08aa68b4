// GET /queue as operators use it: a STOP deferred by a merge, and an agent whose worker hangs.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { setPushDelay } from '../support/git-fixtures.js';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';

describe('GET /queue', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('queueliveness', { worker: false, heartbeat: '20s' });
  });
  afterAll(async () => env?.cleanup());

  it('shows a STOP deferred during merge', async () => {
    const w = await env.spawnWorker('q-merge');
    await setPushDelay(env.remote, 4);
    try {
      await env.api('POST', '/api/tasks', { key: 'QM-1', repo: 'demo', title: 'stop in merge' });
      const task = await env.until('the task row', () => env.records.taskByKey('QM-1'));
      await env.until('the merge', async () => (await env.records.eventsOf(task.id)).some((e) => e.type === 'merge-started'), 90_000);
      await env.api('POST', '/api/tasks/QM-1/stop', { reason: 'deferred' });
      const q = await env.until('the deferred STOP in /queue', async () => {
        const r = (await env.api('GET', '/queue')).body;
        return r.stop.deferred.some((t: any) => t.key === 'QM-1') ? r : null;
      });
      expect(q.stop.deferred.find((t: any) => t.key === 'QM-1')).toMatchObject({ key: 'QM-1', stage: 'merge' });
    } finally {
      await setPushDelay(env.remote, 0);
    }
    expect((await env.waitForStatus('QM-1', TERMINAL_STATUSES)).task.status).toBe('cancelled');
    w.child.kill('SIGTERM');
    await w.child;
  });

  it('shows the heartbeat age of a running agent growing once its worker is SIGSTOPped', async () => {
    const w = await env.spawnWorker('q-stopped');
    await env.api('POST', '/api/tasks', { key: 'QL-1', repo: 'demo', title: 'hangs', description: '@agent hang=analysis' });
    const live = async () =>
      (await env.api('GET', '/queue')).body.liveness
        .find((t: any) => t.key === 'QL-1')
        ?.pendingActivities.find((a: any) => a.activityType === 'runAgent' && a.pid !== null);
    const before = await env.until('the agent in liveness', live);
    expect(before.host).toBe('q-stopped');
    expect(before.pid).toBeGreaterThan(1);
    process.kill(w.pid, 'SIGSTOP');
    try {
      await sleep(5000);
      const during = await live();
      // No heartbeat for 5 s: the age grew by about that much (the heartbeat timeout is 20 s).
      expect(during.heartbeatAgeMs).toBeGreaterThan(before.heartbeatAgeMs + 3000);
      expect(during.heartbeatAgeMs).toBeGreaterThan(4000);
    } finally {
      process.kill(w.pid, 'SIGCONT');
    }
    await env.api('POST', '/api/tasks/QL-1/stop', {});
    expect((await env.waitForStatus('QL-1', TERMINAL_STATUSES)).task.status).toBe('cancelled');
  });
});
