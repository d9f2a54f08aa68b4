// C4: kill -9 of one of three orch worker hosts in the middle of a batch on the cluster. The
// stages it was running are noticed as lost (heartbeats) and move to the two others; every task
// ends done, each stage advanced once, and none of the dead host's agent groups is left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { batchUnderWay, checkBatch, countEvents, exists, keyBase, poll, recordsView, scenario, trackRemote } from '../faults/support.js';
import { testCluster } from './support.js';

const TASKS = 6;

describe('C4: kill -9 of one of three orch hosts', () => {
  let env: TestEnv | undefined;
  let cluster: Awaited<ReturnType<typeof testCluster>> | undefined;

  beforeAll(async () => {
    cluster = await testCluster('c4');
    env = await createTestEnv('c4hostkill', { worker: false, heartbeat: '3s', temporal: { address: cluster.address, namespace: cluster.namespace } });
    trackRemote('C4', env);
  });
  afterAll(async () => {
    await env?.cleanup();
    await cluster?.stop();
  });

  it(`${TASKS} tasks end done on the two hosts left; the dead host's stages moved`, async () => {
    const s = scenario('C4', 'kill -9 of one of three orch worker hosts mid-batch (on the cluster)');
    await s.run(async () => {
      const e = env!;
      const base = keyBase();
      const hosts = ['a', 'b', 'c'].map((h) => `c4-${base}-${h}`);
      const { workers, keys } = await batchUnderWay(e, 'C4', base, TASKS, hosts, 4);
      // The victim: a host with an agent running now.
      const running = async () => (await Promise.all(keys.map((k) => recordsView(e, k)))).flatMap((v) => v?.jobs.filter((j) => j.status === 'running') ?? []);
      const now = await running();
      const victimHost = now[0]?.host ?? hosts[0]!;
      const victim = workers[hosts.indexOf(victimHost)]!;
      const held = now.filter((j) => j.host === victimHost).map((j) => `${j.stage}#${j.attempt}`);
      victim.child.kill('SIGKILL');
      const { problems, views, deadHostWorktrees } = await checkBatch(s, e, keys, { deadHost: victimHost });
      // The dead host started again, as an operator would, with its id: it clears what it left.
      if (deadHostWorktrees.length) {
        await e.spawnWorker(victimHost);
        const cleared = await poll('the restarted host to clear its worktrees', async () => (await Promise.all(deadHostWorktrees.map(exists))).every((x) => !x), 60_000, 250).catch(() => false);
        if (!cleared) {
          s.rec.orphans += deadHostWorktrees.length;
          problems.push(`worktrees of the dead host left after its restart: ${deadHostWorktrees.join(', ')}`);
        }
      }
      // Each stage the victim held ran to done on another host.
      let moved = 0;
      for (const v of views) {
        for (const j of v.jobs.filter((j) => j.host === victimHost && j.status !== 'done')) {
          const doneElsewhere = v.jobs.some((o) => o.stage === j.stage && o.status === 'done' && o.host !== victimHost);
          if (doneElsewhere) moved++;
          else problems.push(`${v.task.key}: ${j.stage} held by the dead host ${victimHost} never finished on another host`);
        }
      }
      const lateOnVictim = views.flatMap((v) => v.jobs.filter((j) => j.host === victimHost && j.status === 'running'));
      if (lateOnVictim.length) problems.push(`jobs still running on the dead host: ${lateOnVictim.map((j) => j.stage).join(', ')}`);
      for (const w of workers) if (w !== victim && (w.child.exitCode !== null || w.child.signalCode !== null)) problems.push(`a surviving host exited: ${w.logFile}`);
      if (moved === 0 && held.length) problems.push(`the dead host held ${held.join(', ')} but no stage moved`);
      s.note(`${TASKS} tasks on 3 worker processes; host ${victimHost} killed with SIGKILL while it ran ${held.join(', ') || 'no agent'}; ${moved} stage run(s) moved to the other hosts; ${countEvents(views, 'host-lost')} host-lost event(s); ${deadHostWorktrees.length} worktree(s) it left, removed when it started again.`);
      s.note('Checks: a dead host is noticed through heartbeats, its stages start over on the live hosts, each stage passes once, its agent groups are gone, the worktrees on its disk are removed by its own start-up recovery, and the remote accepted every push as a fast-forward.');
      s.check(problems);
      expect(s.rec.hookRejections).toBe(0);
    });
  });
});
