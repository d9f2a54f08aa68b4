// F4: the STOP matrix. Situations (during each agent stage, during merge and deploy — deferred —,
// twice, before the task started, after it finished, for an unknown key) × channels (a signed
// Plane webhook moving the item to STOP, the API, `orch stop`, `temporal workflow signal --name
// stop`, `temporal workflow cancel`). Full: the whole cross product; short: a diagonal.
//
// Every case ends in the right state with nothing left over: no agent process group, no worktree,
// no `orch/<KEY>` branch on the remote, and `main` never rewound (its sha before the STOP is an
// ancestor of its sha after).
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { projectDir } from '../../worker/config/project-dir.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { branchSha, setPushDelay } from '../support/git-fixtures.js';
import { botActor, demoStates, planeDelivery, planeIssuePayload, postPlaneWebhook, settledDelivery } from '../support/plane.js';
import {
  AGENT_STAGES,
  explain,
  FULL,
  hookRejections,
  isAncestorIn,
  keyBase,
  orphanGroupsAfter,
  pool,
  poll,
  scenario,
  stageViolations,
  subjects,
  taskView,
  trackRemote,
  worktreesLeft,
  type TaskView,
} from './support.js';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';

const SECRET = 'f4-plane-secret';
const SITUATIONS = [...AGENT_STAGES, 'merge', 'deploy', 'twice', 'before-start', 'after-done', 'unknown'] as const;
type Situation = (typeof SITUATIONS)[number];
const CHANNELS = ['plane', 'api', 'cli', 'signal', 'cancel'] as const;
type Channel = (typeof CHANNELS)[number];

const CASES: [Situation, Channel][] = FULL
  ? SITUATIONS.flatMap((s) => CHANNELS.map((c) => [s, c] as [Situation, Channel]))
  : [
      // The diagonal, and the two answers the API owes (409 after done, 404 for an unknown key).
      ...SITUATIONS.map((s, i) => [s, CHANNELS[i % CHANNELS.length]!] as [Situation, Channel]),
      ['after-done', 'api'],
      ['unknown', 'api'],
    ];
/** Cases in flight at once (each running case holds a hanging agent). */
const PARALLEL = 6;
/** The hard agent: hangs in its stage, ignores SIGTERM, and leaves a grandchild in its group. */
const stubborn = (stage: string) => `@agent hang=${stage} ignore-sigterm=${stage} grandchild=${stage}`;
const COMPENSATION = ['kill-agent', 'cancel-jobs', 'remove-worktree', 'delete-branch'];

interface Sent {
  accepted: boolean;
  detail: string;
}

describe('F4: STOP matrix', () => {
  /** Agent stages, twice, before start, after done, unknown keys. */
  let envA: TestEnv;
  /** Merges made slow by the remote (setPushDelay). */
  let envM: TestEnv;
  /** Deploys made slow (deploySleep). */
  let envD: TestEnv;
  const plane = { webhookSecret: SECRET, botUserId: botActor.id };

  beforeAll(async () => {
    const needs = (s: Situation) => CASES.some(([x]) => x === s);
    envA = await createTestEnv('f4stop', { killGraceMs: 1000, plane });
    trackRemote('F4', envA);
    if (needs('merge')) {
      envM = await createTestEnv('f4merge', { killGraceMs: 1000, plane });
      trackRemote('F4', envM);
      await setPushDelay(envM.remote, 3);
    }
    if (needs('deploy')) {
      envD = await createTestEnv('f4deploy', { killGraceMs: 1000, plane, deploySleep: 4 });
      trackRemote('F4', envD);
    }
  });
  afterAll(async () => {
    await Promise.all([envA?.cleanup(), envM?.cleanup(), envD?.cleanup()]);
  });

  const temporal = (...args: string[]) =>
    execa(inject('temporalCliPath'), [...args, '--address', inject('temporalAddress'), '--namespace', inject('temporalNamespace')], { reject: false });

  /** One STOP through one channel. */
  const send = async (env: TestEnv, channel: Channel, key: string, reason: string): Promise<Sent> => {
    switch (channel) {
      case 'api': {
        const r = await env.api('POST', `/api/tasks/${key}/stop`, { reason });
        return { accepted: r.status === 202, detail: `${r.status} ${JSON.stringify(r.body).slice(0, 300)}` };
      }
      case 'cli': {
        const r = await execa(process.execPath, ['--import', 'tsx', 'bin/orch.ts', 'stop', key, '--reason', reason], { cwd: projectDir, env: env.processEnv(), reject: false });
        return { accepted: r.exitCode === 0, detail: `exit ${r.exitCode}: ${(r.stdout + r.stderr).trim().slice(0, 300)}` };
      }
      case 'plane': {
        const seq = Number(key.split('-')[1]);
        const payload = planeIssuePayload({ sequenceId: seq, issueId: randomUUID(), name: key, state: demoStates.stop, oldState: demoStates.toAnalyse, field: 'state' });
        const r = await postPlaneWebhook(`${env.apiUrl}/webhooks/plane`, planeDelivery(payload, { secret: SECRET }));
        // Answered 202 `accepted` once recorded; the signal's outcome is in the delivery's row.
        const row = r.status === 202 ? await settledDelivery(env.database.sql, r.body.deliveryId) : null;
        return { accepted: row?.outcome === 'stop-signalled', detail: `${r.status} ${JSON.stringify(r.body).slice(0, 300)}${row ? `; ${row.outcome}` : ''}` };
      }
      case 'signal': {
        const r = await temporal('workflow', 'signal', '--workflow-id', `task-${key}`, '--name', 'stop', '--input', JSON.stringify({ reason, requestedBy: 'temporal-cli' }));
        return { accepted: r.exitCode === 0, detail: `exit ${r.exitCode}: ${(r.stdout + r.stderr).trim().slice(0, 300)}` };
      }
      case 'cancel': {
        const r = await temporal('workflow', 'cancel', '--workflow-id', `task-${key}`);
        return { accepted: r.exitCode === 0, detail: `exit ${r.exitCode}: ${(r.stdout + r.stderr).trim().slice(0, 300)}` };
      }
    }
  };

  it(`every STOP case ends in the right state with nothing left over (${CASES.length} cases)`, async () => {
    const s = scenario('F4', 'STOP matrix: situations × channels (Plane, API, orch stop, temporal signal, temporal cancel)');
    await s.run(async () => {
      let seq = keyBase() * 100;
      const problems: string[] = [];
      const tally: Record<string, string> = {};

      const runCase = async ([situation, channel]: [Situation, Channel]) => {
        const env = situation === 'merge' ? envM : situation === 'deploy' ? envD : envA;
        const key = `DEMO-${seq++}`;
        const label = `${situation}×${channel} ${key}`;
        const fail = (what: string) => problems.push(`${label}: ${what}`);
        const started = async (body: Record<string, unknown>) => {
          const r = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `F4 ${situation} via ${channel}`, ...body });
          if (r.status !== 202) throw new Error(`${label}: start answered ${r.status} ${JSON.stringify(r.body)}`);
          return poll(`${label}: its task row`, () => env.records.taskByKey(key), 30_000);
        };
        const events = async (taskId: string) => (await env.records.eventsOf(taskId)).map((e) => e.type);

        // ---- situations that are not a running task ----------------------------------------
        if (situation === 'unknown') {
          const sent = await send(env, channel, key, 'F4 unknown');
          const want = channel === 'api' ? /^404 / : channel === 'plane' ? /^200 .*ignored: unknown task/ : null;
          if (want ? !want.test(sent.detail) : sent.accepted) fail(`answer ${sent.detail}`);
          if ((await env.api('GET', `/api/tasks/${key}`)).status !== 404) fail('a task row appeared');
          const wf = await env.client.workflow.getHandle(`task-${key}`).describe().then(() => true, () => false);
          if (wf) fail('a workflow appeared');
          s.rec.trials++;
          s.outcome('other');
          tally[`${situation}×${channel}`] = 'no task: refused';
          return;
        }
        if (situation === 'after-done') {
          const task = await started({});
          const done = (await env.waitForStatus(key, TERMINAL_STATUSES, 180_000)) as TaskView;
          if (done.task.status !== 'done') return void fail(`did not get done first: ${done.task.status}`);
          // "After done": the execution has closed too (the row says done a moment before it returns).
          await poll(`${label}: the execution to close`, async () => (await env.client.workflow.getHandle(`task-${key}`).describe()).status.name !== 'RUNNING', 30_000, 100);
          const mainBefore = (await branchSha(env.remote.path, 'main'))!;
          const eventsBefore = (await events(task.id)).length;
          const sent = await send(env, channel, key, 'F4 after done');
          const want = channel === 'api' ? /^409 .*"status":"done"/ : channel === 'plane' ? /^200 .*ignored: task .* already ended done/ : null;
          // `temporal workflow cancel` of a closed execution is a no-op the server answers OK; what
          // counts is that nothing changes (checked below).
          if (want ? !want.test(sent.detail) : sent.accepted && channel !== 'cancel') fail(`answer ${sent.detail}`);
          await sleep(1500);
          const after = await taskView(env, key);
          if (JSON.stringify(after.task) !== JSON.stringify(done.task)) fail(`the task row changed: ${JSON.stringify(after.task)}`);
          if ((await events(task.id)).length !== eventsBefore) fail(`events were added: ${(await events(task.id)).slice(eventsBefore).join(', ')}`);
          if (!(await isAncestorIn(env.remote.path, mainBefore, (await branchSha(env.remote.path, 'main'))!))) fail('main was rewound');
          s.rec.trials++;
          s.outcome(after.task.status);
          tally[`${situation}×${channel}`] = `done, refused (${sent.detail.split(' ')[0]})`;
          return;
        }

        // ---- a running task, stopped at a known point ------------------------------------------
        const stage = (AGENT_STAGES as readonly string[]).includes(situation) ? situation : situation === 'twice' ? 'development' : null;
        const task = await started(
          situation === 'before-start' ? { dependsOn: ['NEVER-1'] } : stage ? { description: stubborn(stage) } : {},
        );
        if (stage) {
          const job = await poll(`${label}: the ${stage} agent`, async () => (await env.records.jobsOf(task.id)).find((j) => j.stage === stage && j.status === 'running'), 120_000, 200);
          await poll(`${label}: the grandchild`, async () => (await readFile(job.logFile!, 'utf8').catch(() => '')).includes('grandchild pid='), 30_000, 100);
        } else if (situation === 'merge' || situation === 'deploy') {
          await poll(`${label}: ${situation}-started`, async () => (await events(task.id)).includes(`${situation}-started`), 180_000, 100);
        } else {
          await poll(`${label}: waiting for its dependency`, async () => (await env.records.taskByKey(key))?.stage === 'waiting', 60_000, 200);
        }
        const mainBefore = (await branchSha(env.remote.path, 'main'))!;
        const sends = situation === 'twice' ? [send(env, channel, key, 'F4 first'), send(env, channel, key, 'F4 second')] : [send(env, channel, key, `F4 ${situation}`)];
        const sent = await Promise.all(sends);
        if (!sent[0]!.accepted && !sent[1]?.accepted) fail(`not accepted: ${sent.map((x) => x.detail).join(' | ')}`);
        if (situation === 'twice' && channel === 'api' && !sent.every((x) => x.accepted)) fail(`both API calls should be 202: ${sent.map((x) => x.detail).join(' | ')}`);

        const v = (await env.waitForStatus(key, TERMINAL_STATUSES, 180_000)) as TaskView;
        s.rec.trials++;
        s.outcome(v.task.status);
        if (v.task.status !== 'cancelled') return void fail(`ended ${v.task.status} (${v.task.failureReason ?? ''}); ${explain(v)}`);
        if (!new RegExp(`^${key}#cancelled-`).test(v.task.key)) fail(`key not freed: ${v.task.key}`);
        const types = v.events.map((e) => e.type);
        if (types.filter((t) => t === 'cancelled').length !== 1) fail(`${types.filter((t) => t === 'cancelled').length} cancelled events`);
        const steps = v.events.filter((e) => e.type === 'compensation').map((e) => `${e.detail.step}:${e.detail.ok}`);
        if (JSON.stringify(steps) !== JSON.stringify(COMPENSATION.map((c) => `${c}:true`))) fail(`compensation ${steps.join(', ')}`);
        const violations = stageViolations(v, { expectDone: false, mainSubjects: await subjects(env.remote.path) });
        s.rec.stagesOnce.of++;
        if (violations.length) fail(violations.join('; '));
        else s.rec.stagesOnce.ok++;
        // Advanced exactly to the stop point.
        const passed = v.events.filter((e) => e.type === 'stage-passed').map((e) => e.stage);
        const wantPassed = stage ? AGENT_STAGES.slice(0, AGENT_STAGES.indexOf(stage as never)) : situation === 'before-start' ? [] : [...AGENT_STAGES];
        if (JSON.stringify(passed) !== JSON.stringify(wantPassed)) fail(`stages passed ${passed.join(',')} (want ${wantPassed.join(',')})`);
        if (stage && v.jobs.find((j) => j.stage === stage)?.status !== 'cancelled') fail(`the ${stage} job is ${v.jobs.find((j) => j.stage === stage)?.status}`);
        if (situation === 'before-start' && v.jobs.length) fail(`jobs ran: ${explain(v)}`);
        if (situation === 'merge') {
          if (!types.includes('merge-finished')) fail('the merge did not finish');
          if (!(await subjects(env.remote.path)).some((l) => l.startsWith(`Merge orch/${key}`))) fail('no merge commit on main');
          if (types.includes('deploy-started')) fail('a deploy started after a STOP in merge');
        }
        if (situation === 'deploy') {
          if (!types.includes('deploy-finished')) fail('the deploy did not finish');
          const deploys = (await readFile(env.deployLog, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes(` ${key} `));
          if (deploys.length !== 1) fail(`${deploys.length} deploys`);
        }
        // Nothing left over.
        const orphans = await orphanGroupsAfter(v.jobs.map((j) => j.pid), 3000);
        const worktrees = await worktreesLeft(env, key);
        const branch = await branchSha(env.remote.path, `orch/${key}`);
        s.rec.orphans += orphans.length + worktrees.length + (branch ? 1 : 0);
        if (orphans.length) fail(`live agent groups ${JSON.stringify(orphans)}`);
        if (worktrees.length) fail(`worktrees left ${worktrees.join(', ')}`);
        if (branch) fail(`orch/${key} is still on the remote at ${branch}`);
        if (!(await isAncestorIn(env.remote.path, mainBefore, (await branchSha(env.remote.path, 'main'))!))) fail('main was rewound');
        const status = (await env.client.workflow.getHandle(`task-${key}`).describe()).status.name;
        const wantStatus = channel === 'cancel' ? 'CANCELLED' : 'COMPLETED';
        if (status !== wantStatus) fail(`the execution is ${status}, want ${wantStatus}`);
        tally[`${situation}×${channel}`] = `cancelled${situation === 'merge' || situation === 'deploy' ? ' after the step' : ''}`;
      };

      await pool(CASES, PARALLEL, async (c) => {
        try {
          await runCase(c);
        } catch (err) {
          problems.push(`${c.join('×')}: ${(err as Error).message.split('\n').slice(0, 8).join('\n')}`);
        }
      });

      for (const env of [envA, envM, envD]) if (env) s.rec.hookRejections += (await hookRejections(env)).length;
      const bySituation = SITUATIONS.map((sit) => {
        const chans = CHANNELS.filter((c) => tally[`${sit}×${c}`]);
        return chans.length ? `${sit}: ${chans.join(', ')}` : null;
      }).filter(Boolean);
      s.note(`${CASES.length} cases — ${bySituation.join('; ')}.`);
      s.note('Checks: through every entry point, STOP ends a running task `cancelled` with its agent group (SIGTERM-ignoring, with a grandchild) killed, its worktree and feature branch removed and `main` untouched; inside merge and deploy the step finishes first (once); twice is one compensation; before start there is nothing to kill; after done and for unknown keys nothing changes.');
      s.check(problems);
      expect(s.rec.hookRejections).toBe(0);
    });
  });
});
