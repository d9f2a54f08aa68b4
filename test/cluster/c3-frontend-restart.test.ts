// C3: the frontend restarts while STOPs and Plane webhooks arrive. Tasks hang in analysis; the
// frontend is stopped and started again (the other three services run on); meanwhile every task
// gets a STOP (half through the API, half as a signed Plane move to STOP) and new Plane items move
// to `To Analyse`. Each sender retries until it is answered 2xx, as Plane and a script would.
// Nothing answered 2xx may be lost: every STOPped task ends cancelled (agent group killed, worktree
// removed), every started item has its task, which runs to done, each stage once.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { botActor, demoStates, planeDelivery, planeIssuePayload, postPlaneWebhook, settledDelivery } from '../support/plane.js';
import { keyBase, orphanGroupsAfter, poll, recordsView, scenario, stageViolations, explain, subjects, trackRemote, worktreesLeft, type TaskView } from '../faults/support.js';
import { testCluster } from './support.js';

const SECRET = 'c3-plane-secret';
const STOPS = 6;
const STARTS = 4;

describe('C3: the frontend restarts while STOPs and webhooks arrive', () => {
  let env: TestEnv | undefined;
  let cluster: Awaited<ReturnType<typeof testCluster>> | undefined;

  beforeAll(async () => {
    cluster = await testCluster('c3');
    env = await createTestEnv('c3frontend', {
      worker: false,
      heartbeat: '3s',
      killGraceMs: 1000,
      plane: { webhookSecret: SECRET, botUserId: botActor.id },
      temporal: { address: cluster.address, namespace: cluster.namespace },
    });
    trackRemote('C3', env);
  });
  afterAll(async () => {
    await env?.cleanup();
    await cluster?.stop();
  });

  it(`${STOPS} STOPs and ${STARTS} starts sent across a frontend restart: none answered 2xx is lost`, async () => {
    const s = scenario('C3', 'the frontend restarts while STOPs (API, Plane) and Plane start webhooks arrive');
    await s.run(async () => {
      const e = env!;
      const base = keyBase();
      await Promise.all([e.spawnWorker(`c3-${base}-a`), e.spawnWorker(`c3-${base}-b`)]);
      const stopKeys = Array.from({ length: STOPS }, (_, i) => `DEMO-${base + i}`);
      for (const key of stopKeys) {
        const r = await e.api('POST', '/api/tasks', { key, repo: 'demo', title: 'C3 hang', description: '@agent hang=analysis' });
        if (r.status !== 202) throw new Error(`starting ${key}: ${r.status} ${JSON.stringify(r.body)}`);
      }
      await poll('every task to be in analysis', async () => {
        const views = await Promise.all(stopKeys.map((k) => recordsView(e, k)));
        return views.every((v) => v?.jobs.some((j) => j.stage === 'analysis' && j.status === 'running' && j.pid));
      }, 120_000, 250);
      const startKeys = Array.from({ length: STARTS }, (_, i) => `DEMO-${base + STOPS + i}`);

      const statuses: Record<string, number> = {};
      /** When the frontend stopped answering and when it listened again (ms since epoch). */
      const window = { stopAt: Infinity, upAt: Infinity };
      let sentWhileDown = 0;
      let slowestMs = 0;
      const failures: string[] = [];
      /** Sends until answered 2xx (a lost answer is retried, as Plane retries), within a minute. */
      const untilAccepted = async (what: string, send: () => Promise<{ status: number; ok: boolean }>) => {
        const deadline = Date.now() + 60_000;
        if (Date.now() >= window.stopAt && Date.now() < window.upAt) sentWhileDown++;
        for (;;) {
          const t0 = Date.now();
          const r = await send().catch(() => ({ status: 0, ok: false }));
          slowestMs = Math.max(slowestMs, Date.now() - t0);
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          if (r.status >= 200 && r.status < 300) {
            if (!r.ok) failures.push(`${what}: answered ${r.status} without doing it`);
            return;
          }
          if (Date.now() > deadline) return void failures.push(`${what}: never answered 2xx`);
          await sleep(300);
        }
      };
      /** A Plane delivery is answered 202 `accepted` once recorded and acted on afterwards: its row says what was done. */
      const actedAs = async (r: { status: number; body: any }, outcome: string) =>
        r.status === 202 && r.body?.outcome === 'accepted' && (await settledDelivery(e.database.sql, r.body.deliveryId, 90_000)).outcome === outcome;
      const stopVia = (key: string, i: number) =>
        i % 2 === 0
          ? untilAccepted(`API stop ${key}`, async () => {
              const r = await e.api('POST', `/api/tasks/${key}/stop`, { reason: 'C3' });
              return { status: r.status, ok: r.status === 202 };
            })
          : untilAccepted(`Plane STOP ${key}`, async () => {
              const seq = Number(key.split('-')[1]);
              const payload = planeIssuePayload({ sequenceId: seq, issueId: randomUUID(), name: key, state: demoStates.stop, oldState: demoStates.toAnalyse, field: 'state' });
              const r = await postPlaneWebhook(`${e.apiUrl}/webhooks/plane`, planeDelivery(payload, { secret: SECRET }));
              return { status: r.status, ok: await actedAs(r, 'stop-signalled') };
            });
      const startVia = (key: string) =>
        untilAccepted(`Plane start ${key}`, async () => {
          const seq = Number(key.split('-')[1]);
          const payload = planeIssuePayload({ sequenceId: seq, issueId: randomUUID(), name: key, state: demoStates.toAnalyse, oldState: demoStates.backlog, field: 'state' });
          const r = await postPlaneWebhook(`${e.apiUrl}/webhooks/plane`, planeDelivery(payload, { secret: SECRET }));
          return { status: r.status, ok: await actedAs(r, 'started') };
        });

      // The restart, with the senders spread over it: before the stop, while down, while it comes up.
      const frontend = cluster!.services.frontend;
      const restart = (async () => {
        window.stopAt = Date.now();
        await frontend.stop();
        const downAt = Date.now();
        await sleep(3000);
        await frontend.start();
        window.upAt = Date.now();
        return Date.now() - downAt;
      })();
      const senders = [...stopKeys.map((k, i) => sleep(i * 700).then(() => stopVia(k, i))), ...startKeys.map((k, i) => sleep(350 + i * 900).then(() => startVia(k)))];
      const [downMs] = await Promise.all([restart, ...senders]);

      const problems = [...failures];
      // Else the restart missed the traffic and proved nothing.
      if (sentWhileDown === 0) problems.push('no STOP or delivery was sent while the frontend was stopping or down');
      const mainSubjects = async () => subjects(e.remote.path);
      for (const key of stopKeys) {
        const v = (await e.waitForStatus(key, TERMINAL_STATUSES, 180_000)) as TaskView;
        s.rec.trials++;
        s.outcome(v.task.status);
        if (v.task.status !== 'cancelled') problems.push(`${key}: STOP answered 2xx but the task ended ${v.task.status}; ${explain(v)}`);
        const violations = stageViolations(v, { expectDone: false, mainSubjects: await mainSubjects() });
        s.rec.stagesOnce.of++;
        if (violations.length === 0) s.rec.stagesOnce.ok++;
        else problems.push(`${key}: ${violations.join('; ')}`);
        const orphans = await orphanGroupsAfter(v.jobs.map((j) => j.pid));
        const worktrees = await worktreesLeft(e, key);
        s.rec.orphans += orphans.length + worktrees.length;
        if (orphans.length) problems.push(`${key}: live agent groups ${JSON.stringify(orphans)}`);
        if (worktrees.length) problems.push(`${key}: worktrees left ${worktrees.join(', ')}`);
      }
      for (const key of startKeys) {
        const res = await e.api('GET', `/api/tasks/${key}`);
        if (res.status !== 200) {
          problems.push(`${key}: its start was answered 2xx but there is no task (${res.status})`);
          continue;
        }
        const v = (await e.waitForStatus(key, TERMINAL_STATUSES, 180_000)) as TaskView;
        s.rec.trials++;
        s.outcome(v.task.status);
        if (v.task.status !== 'done') problems.push(`${key}: started through Plane, ended ${v.task.status}`);
        const violations = stageViolations(v, { expectDone: true, mainSubjects: await mainSubjects() });
        s.rec.stagesOnce.of++;
        if (violations.length === 0) s.rec.stagesOnce.ok++;
        else problems.push(`${key}: ${violations.join('; ')}; ${explain(v)}`);
      }
      s.note(`${STOPS} STOPs (${STOPS / 2} API, ${STOPS / 2} Plane) of tasks hanging in analysis and ${STARTS} Plane starts, sent across a frontend restart (down ${(downMs / 1000).toFixed(1)} s), ${sentWhileDown} of them first sent while it was stopping or down, each retried until answered 2xx; answers: ${Object.entries(statuses).map(([k, n]) => `${k === '0' ? 'no answer' : k} ×${n}`).join(', ')}.`);
      s.note(`The slowest answer took ${(slowestMs / 1000).toFixed(1)} s: a request that reaches the API while the frontend is down waits for its Temporal client to reconnect (the SDK retries an unavailable frontend) rather than failing.`);
      s.note('Checks: the API\'s client and the workers reconnect to the restarted frontend by themselves; a STOP or a delivery answered 2xx always led to its workflow action (the task cancelled with its agent group killed and its worktree removed; the item\'s task started and run to done).');
      s.check(problems);
      expect(s.rec.hookRejections).toBe(0);
    });
  });
});
