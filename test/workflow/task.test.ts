// The task workflow's branches, on the time-skipping test server with stubbed activities (typed by
// the contracts): host loss, a push that landed before the loss, STOP in each state, a gate failure,
// and a dependency wait of 30 simulated days with bounded history.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowsPath } from '../../worker/workers.js';
import {
  approveUpdate,
  lockGrantedSignal,
  rejectUpdate,
  SEARCH_ATTRIBUTE_NAMES,
  stateQuery,
  stopSignal,
  taskWorkflowId,
  workflowTypes,
  WORKTREE_NOT_CLEAN,
  type AgentRunRequest,
  type HostActivities,
  type SharedActivities,
  type StageSpec,
  type TaskInput,
  type TaskState,
  type TaskWorkflow,
} from '../../workflows/contracts/index.js';
import { quietRuntime } from '../support/runtime.js';
import { createTimeSkippingEnv } from '../support/time-skipping.js';
import { AGENT_STAGE, hangs, hostStubs, runsUntilCancelled, names, planOf, sharedStubs, type Calls } from './task-stubs.js';

const DAY = 86_400_000;
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never;
let env: TestWorkflowEnvironment;
let codePath: { code: string };

beforeAll(async () => {
  quietRuntime();
  const [e, bundle] = await Promise.all([createTimeSkippingEnv({ keywordSearchAttributes: SEARCH_ATTRIBUTE_NAMES }), bundleWorkflowCode({ workflowsPath, logger: quiet })]);
  env = e;
  codePath = bundle;
});
afterAll(async () => env?.teardown());

interface Scenario {
  shared?: Partial<SharedActivities>;
  /** Host id → its activity overrides; a host missing here has no worker (it is "lost"). */
  hosts?: Record<string, Partial<HostActivities>>;
  /** The hosts pickHost hands out, in order. */
  picks?: string[];
  input?: Partial<TaskInput>;
}

/** Runs one task workflow against stubs; `drive` gets its handle and returns when the test is done. */
async function scenario<T>(s: Scenario, drive: (h: Awaited<ReturnType<typeof start>>, calls: Calls) => Promise<T>): Promise<T> {
  const id = randomUUID().slice(0, 8);
  const taskQueue = `wf-${id}`;
  const queueOf = (hostId: string) => `${taskQueue}-host-${hostId}`;
  const calls: Calls = [];
  const hosts = s.hosts ?? { a: {} };
  const workers = await Promise.all([
    Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: codePath,
      activities: sharedStubs(
        calls,
        {
          queues: queueOf,
          hosts: s.picks ?? Object.keys(hosts),
          grant: (holder, lockId) => env.client.workflow.getHandle(holder).signal(lockGrantedSignal, { lockId }),
        },
        s.shared,
      ),
    }),
    ...Object.entries(hosts).map(([hostId, over]) =>
      Worker.create({ connection: env.nativeConnection, taskQueue: queueOf(hostId), activities: hostStubs(calls, hostId, queueOf(hostId), over) }),
    ),
  ]);
  const key = `WF-${id}`;
  function start() {
    return env.client.workflow.start<TaskWorkflow>(workflowTypes.task, {
      workflowId: taskWorkflowId(key),
      taskQueue,
      args: [{ key, repo: 'demo', title: 'a test task', ...s.input }],
    });
  }
  const run = async () => drive(await start(), calls);
  // Every worker polls until the scenario ends.
  let result!: T;
  await workers[0]!.runUntil(async () => {
    const rest = workers.slice(1).map((w) => w.run());
    try {
      result = await run();
    } finally {
      for (const w of workers.slice(1)) w.shutdown();
      await Promise.all(rest);
    }
  });
  return result;
}

/** Resolves once `pred` holds for the activity log (polling, in wall time). */
async function until(calls: Calls, pred: (c: Calls) => boolean, what: string) {
  for (let i = 0; i < 400; i++) {
    if (pred(calls)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}; calls: ${names(calls).join(', ')}`);
}

/** A promise the test settles by hand. */
function gate<T = void>() {
  let open!: (v: T) => void;
  const p = new Promise<T>((r) => (open = r));
  return { p, open };
}

describe('task workflow (stubbed activities, time-skipping server)', () => {
  it('runs the stages in order and ends done', async () => {
    const { result, calls } = await scenario({}, async (h, calls) => ({ result: await h.result(), calls }));
    expect(result).toMatchObject({ status: 'done', failureReason: null });
    const order = names(calls).filter((n) => !['recordEvent', 'updateTask', 'notifyPlane'].includes(n));
    expect(order).toEqual([
      'recordTask', 'planPipeline', 'pickHost', 'prepareWorktree', 'runAgent', 'runGate', 'commitAndPush',
      'openPullRequest', 'requestLock', 'mergeFeatureBranch', 'deploy', 'removeWorktree', 'deleteFeatureBranch', 'wakeDependents',
    ]);
  }, 60_000);

  it('fails after its attempts when the gate fails, with the reason', async () => {
    const result = await scenario({ hosts: { a: { runGate: async () => ({ passed: false, detail: 'docs/tasks/K/development.md is missing' }) } } }, async (h, calls) => {
      const r = await h.result();
      expect(names(calls).filter((n) => n === 'runAgent')).toHaveLength(2);
      expect(names(calls)).not.toContain('mergeFeatureBranch');
      return r;
    });
    expect(result.status).toBe('failed');
    expect(result.failureReason).toBe('stage development failed after 2 attempt(s): quality gate failed: docs/tasks/K/development.md is missing');
  }, 60_000);

  it('tells attempt 2 why attempt 1 failed, with the gate output, and sums what the attempts spent', async () => {
    const spent = { costUsd: 0.25, inputTokens: 100, outputTokens: 20, cacheReadTokens: 5, cacheWriteTokens: 0, turns: 3 };
    let gates = 0;
    const result = await scenario(
      {
        hosts: {
          a: {
            runAgent: async () => ({ exitCode: 0, signal: null, pid: 1, logFile: '/log', durationMs: 1, usage: spent, sessionId: 'sess-1' }),
            runGate: async () => (++gates === 1 ? { passed: false, detail: 'npm test exited 1', output: 'FAIL sums.test.ts: expected 3, got 4' } : { passed: true, detail: 'ok' }),
          },
        },
      },
      async (h, calls) => {
        const r = await h.result();
        const reqs = calls.filter((c) => c.name === 'runAgent').map((c) => c.args[0] as AgentRunRequest);
        expect(reqs.map((q) => q.attempt)).toEqual([1, 2]);
        expect(reqs[0]?.lastFailure).toBeUndefined();
        expect(reqs[1]?.lastFailure).toContain('quality gate failed: npm test exited 1');
        expect(reqs[1]?.lastFailure).toContain('FAIL sums.test.ts: expected 3, got 4');
        // The stage's agent has no `resume`: a retry starts a fresh session.
        expect(reqs[1]?.resumeSession).toBeUndefined();
        const state = await h.query(stateQuery);
        expect(state.history.map((a) => a.usage)).toEqual([spent, spent]);
        expect(state.usage).toEqual({ ...spent, costUsd: 0.5, inputTokens: 200, outputTokens: 40, cacheReadTokens: 10, turns: 6 });
        return r;
      },
    );
    expect(result.status).toBe('done');
  }, 60_000);

  it('resumes the last session on the same host when the agent says resume, and fails at once over budget', async () => {
    const stages: StageSpec[] = [{ ...AGENT_STAGE, attempts: 3, agent: { command: 'claude', args: [], adapter: 'claude-code', resume: true }, budget: { maxCostUsd: 2 } }];
    let runs = 0;
    const result = await scenario(
      {
        shared: { planPipeline: async () => ({ ...planOf({ stages }), budget: { maxCostUsd: 3 } }) },
        hosts: {
          a: {
            runAgent: async () =>
              ++runs === 1
                ? { exitCode: 1, signal: null, pid: 1, logFile: '/log', durationMs: 1, sessionId: 'sess-1', usage: { costUsd: 1.5, inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, turns: 1 }, failure: { kind: 'agent-error', reason: 'claude-code ended with error_max_turns' } }
                : { exitCode: 1, signal: null, pid: 1, logFile: '/log', durationMs: 1, sessionId: 'sess-1', usage: { costUsd: 1.6, inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, turns: 1 }, failure: { kind: 'budget', reason: 'budget exceeded: spent $1.6000, more than the $1.5000 left' } },
          },
        },
      },
      async (h, calls) => {
        const r = await h.result();
        const reqs = calls.filter((c) => c.name === 'runAgent').map((c) => c.args[0] as AgentRunRequest);
        // Attempt 1: the stage's $2 (tighter than the task's $3). Attempt 2: what is left of the task's.
        expect(reqs.map((q) => q.budget)).toEqual([{ maxCostUsd: 2 }, { maxCostUsd: 1.5 }]);
        expect(reqs[1]?.resumeSession).toBe('sess-1');
        expect(reqs[1]?.lastFailure).toBe('claude-code ended with error_max_turns');
        // Over budget: no third attempt, no gate.
        expect(reqs).toHaveLength(2);
        expect(names(calls)).not.toContain('runGate');
        return r;
      },
    );
    expect(result.status).toBe('failed');
    expect(result.failureReason).toBe('stage development: budget exceeded: spent $1.6000, more than the $1.5000 left');
  }, 60_000);

  it('moves a stage to a live host when its host is lost, without using up an attempt', async () => {
    // Host "gone" has no worker: its worktree activity times out before it starts.
    const result = await scenario({ hosts: { b: {} }, picks: ['gone', 'b'] }, async (h, calls) => {
      const r = await h.result();
      const state = await h.query(stateQuery);
      expect(state.history.map((a) => [a.attempt, a.host, a.outcome])).toEqual([
        [1, 'gone', 'host-lost'],
        [1, 'b', 'passed'],
      ]);
      expect(calls.filter((c) => c.name === 'runAgent').map((c) => c.queue)).toEqual([expect.stringMatching(/-host-b$/)]);
      return r;
    });
    expect(result.status).toBe('done');
  }, 60_000);

  it('does not run a stage again when its push landed before its host was lost', async () => {
    let prepared = 0;
    const result = await scenario(
      {
        picks: ['a', 'b'],
        hosts: {
          // The agent on host a never answers again (its worker died after the push).
          a: { runAgent: hangs },
          b: { prepareWorktree: async () => ({ path: '/wt', fromBranch: 'feature', remoteHead: `pushed-by-a-${++prepared}` }) },
        },
      },
      async (h, calls) => {
        const r = await h.result();
        expect(calls.filter((c) => c.name === 'runAgent')).toHaveLength(1);
        const state = await h.query(stateQuery);
        expect(state.history.at(0)).toMatchObject({ host: 'a', outcome: 'host-lost' });
        expect(state.history.at(1)?.detail).toMatch(/its push landed before the host running it was lost/);
        return r;
      },
    );
    expect(result.status).toBe('done');
  }, 60_000);

  it('STOP while waiting for a dependency: compensates and ends cancelled', async () => {
    const result = await scenario(
      { input: { dependsOn: ['OTHER-1'] }, shared: { dependencyStatuses: async () => ({ 'OTHER-1': 'running' }) } },
      async (h, calls) => {
        await until(calls, (c) => names(c).includes('dependencyStatuses'), 'the dependency check');
        await h.signal(stopSignal, { reason: 'not needed', requestedBy: 'test' });
        const r = await h.result();
        expect(names(calls)).not.toContain('runAgent');
        return r;
      },
    );
    expect(result.status).toBe('cancelled');
    expect(result.compensation.map((c) => c.step)).toEqual(['kill-agent', 'cancel-jobs', 'remove-worktree', 'delete-branch']);
    expect(result.compensation[0]?.detail).toBe('no host was assigned: no agent ran');
  }, 60_000);

  it('STOP while queued for the serial lock: leaves the queue and ends cancelled', async () => {
    // Another task holds the lock: this one is queued and never granted.
    const queued = { planPipeline: async () => planOf({ serial: true }), requestLock: async () => ({ lockId: 'lock-serial-demo' }) };
    const result = await scenario({ shared: queued }, async (h, calls) => {
      await until(calls, (c) => names(c).includes('requestLock'), 'the lock request');
      await h.signal(stopSignal, { reason: 'stop in lock queue' });
      const r = await h.result();
      expect(names(calls)).not.toContain('runAgent');
      return r;
    });
    expect(result.status).toBe('cancelled');
  }, 60_000);

  it('STOP inside the merge window: the merge ends honestly, then the task is cancelled without deploying', async () => {
    const merging = gate<{ alreadyMerged: boolean; sha: string | null }>();
    const result = await scenario({ shared: { mergeFeatureBranch: () => merging.p } }, async (h, calls) => {
      await until(calls, (c) => names(c).includes('mergeFeatureBranch'), 'the merge');
      await h.signal(stopSignal, { reason: 'during merge' });
      const state = await h.query(stateQuery);
      expect(state.inCriticalWindow).toBe(true);
      expect(state.pendingStop?.reason).toBe('during merge');
      merging.open({ alreadyMerged: false, sha: 'merged' });
      const r = await h.result();
      expect(names(calls)).not.toContain('deploy');
      return r;
    });
    expect(result.status).toBe('cancelled');
  }, 60_000);

  it('a second STOP during compensation changes nothing: one compensation', async () => {
    const killing = gate<void>();
    const result = await scenario(
      {
        hosts: {
          a: {
            runAgent: runsUntilCancelled,
            killAgent: async () => {
              await killing.p;
              return { step: 'kill-agent', ok: true, detail: 'killed 2 processes' };
            },
          },
        },
      },
      async (h, calls) => {
        await until(calls, (c) => names(c).includes('runAgent'), 'the agent');
        await h.signal(stopSignal, { reason: 'first' });
        await until(calls, (c) => names(c).includes('killAgent'), 'the kill');
        await h.signal(stopSignal, { reason: 'second' });
        killing.open();
        const r = await h.result();
        expect(names(calls).filter((n) => n === 'cancelJobs')).toHaveLength(1);
        expect(names(calls).filter((n) => n === 'markCancelled')).toHaveLength(1);
        return r;
      },
    );
    expect(result.status).toBe('cancelled');
    expect(result.compensation.map((c) => c.step)).toEqual(['kill-agent', 'cancel-jobs', 'remove-worktree', 'delete-branch']);
  }, 60_000);

  it('waits 30 simulated days for a dependency with bounded history, continuing as new', async () => {
    let releaseAt = 0;
    const { result, runs } = await scenario(
      {
        input: { dependsOn: ['SLOW-1'] },
        shared: {
          dependencyStatuses: async () => ({ 'SLOW-1': (await env.currentTimeMs()) >= releaseAt ? 'done' : 'running' }),
        },
      },
      async (h) => {
        releaseAt = (await env.currentTimeMs()) + 30 * DAY;
        const r = await h.result();
        // Every run of the chain, oldest first, with its history length.
        const runs: number[] = [];
        for (let runId: string | null | undefined = h.firstExecutionRunId; runId; ) {
          const history: { events?: { workflowExecutionContinuedAsNewEventAttributes?: { newExecutionRunId?: string | null } | null }[] | null } = await env.client.workflow.getHandle(h.workflowId, runId).fetchHistory();
          const events = history.events ?? [];
          runs.push(events.length);
          runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
        }
        return { result: r, runs };
      },
    );
    expect(result.status).toBe('done');
    expect(runs.length).toBeGreaterThan(1);
    for (const n of runs) expect(n).toBeLessThan(1000);
  }, 300_000);
});

describe('approval stages and rework loops', () => {
  const agent = (name: string, over: Partial<StageSpec> = {}): StageSpec => ({ ...AGENT_STAGE, name, attempts: 1, ...over });
  const approval = (name: string, over: Partial<StageSpec> = {}): StageSpec => ({ name, kind: 'approval', gate: { type: 'none' }, timeoutAction: 'fail', ...over });
  const MERGE: StageSpec = { name: 'merge', kind: 'merge', gate: { type: 'none' } };
  const withStages = (stages: StageSpec[]) => ({ planPipeline: async () => planOf({ stages }) });
  const agentReqs = (calls: Calls, stage?: string) =>
    calls.filter((c) => c.name === 'runAgent').map((c) => c.args[0] as AgentRunRequest).filter((r) => !stage || r.stage === stage);
  /** Polls the state query until `pred` holds. */
  async function stateUntil(h: WorkflowHandle<TaskWorkflow>, pred: (s: TaskState) => boolean, what: string): Promise<TaskState> {
    for (let i = 0; i < 400; i++) {
      const s = await h.query(stateQuery).catch(() => null);
      if (s && pred(s)) return s;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}`);
  }
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('the update was accepted');
      },
      (err: { cause?: { type?: string; message?: string } }) => ({ type: err.cause?.type, message: err.cause?.message }),
    );

  it('waits for a person; refuses what does not fit; a rejection sends the work back with its comment; approved, it goes on', async () => {
    const stages = [agent('design'), approval('design-approval', { onReject: { goto: 'design' } }), agent('development'), approval('merge-approval'), MERGE];
    const result = await scenario({ shared: withStages(stages) }, async (h, calls) => {
      const waiting = await stateUntil(h, (s) => s.waitingFor === 'approval', 'the approval wait');
      expect(waiting).toMatchObject({ status: 'running', stage: 'design-approval', waitingSince: expect.any(String) });
      const before = agentReqs(calls).length;
      // Refused, each with a message that says why; the workflow is unchanged.
      expect(await refusal(h.executeUpdate(approveUpdate, { args: [{ by: '' }] }))).toEqual({ type: 'InvalidDecision', message: expect.stringContaining('"by" is required') });
      expect(await refusal(h.executeUpdate(approveUpdate, { args: [{ by: 'alice', stage: 'development' }] }))).toMatchObject({ type: 'InvalidDecision', message: expect.stringContaining('no approval stage named "development"') });
      expect(await refusal(h.executeUpdate(approveUpdate, { args: [{ by: 'alice', stage: 'merge-approval' }] }))).toEqual({ type: 'NotWaitingForApproval', message: expect.stringContaining('is waiting for approval of design-approval, not merge-approval') });
      expect(await refusal(h.executeUpdate(rejectUpdate, { args: [{ by: 'alice' }] }))).toMatchObject({ type: 'InvalidDecision', message: expect.stringContaining('needs a comment') });
      expect(agentReqs(calls).length).toBe(before);
      expect((await h.query(stateQuery)).waitingFor).toBe('approval');

      const rejected = await h.executeUpdate(rejectUpdate, { args: [{ by: 'alice', comment: 'split the API from the UI', via: 'api' }] });
      expect(rejected).toMatchObject({ stage: 'design-approval', decision: 'rejected', by: 'alice', comment: 'split the API from the UI', via: 'api' });
      await stateUntil(h, (s) => s.waitingFor === 'approval' && (s.approvals?.length ?? 0) === 1, 'the second approval wait');
      const designs = agentReqs(calls, 'design');
      expect(designs).toHaveLength(2);
      expect(designs[1]?.lastFailure).toBe('Rejected at design-approval by alice: split the API from the UI');
      expect((await h.query(stateQuery)).history.map((a) => [a.stage, a.loop])).toEqual([['design', undefined], ['design', 2]]);

      await h.executeUpdate(approveUpdate, { args: [{ by: 'bob', stage: 'design-approval' }] });
      await stateUntil(h, (s) => s.stage === 'merge-approval' && s.waitingFor === 'approval', 'the merge approval');
      // Deciding design-approval again, or approving while nothing waits on it: already decided.
      expect(await refusal(h.executeUpdate(approveUpdate, { args: [{ by: 'bob', stage: 'design-approval' }] }))).toMatchObject({ type: 'AlreadyDecided', message: expect.stringContaining('design-approval was already approved by bob') });
      await h.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] });
      const r = await h.result();
      expect(names(calls)).toContain('mergeFeatureBranch');
      return r;
    });
    expect(result.status).toBe('done');
  }, 90_000);

  it('refuses an approval while an agent runs', async () => {
    const running = gate();
    const stages = [agent('design'), approval('design-approval'), MERGE];
    const result = await scenario(
      { shared: withStages(stages), hosts: { a: { runAgent: async () => (await running.p, { exitCode: 0, signal: null, pid: 1, logFile: '/log', durationMs: 1 }) } } },
      async (h, calls) => {
        await until(calls, (c) => names(c).includes('runAgent'), 'the agent');
        expect(await refusal(h.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] }))).toEqual({ type: 'NotWaitingForApproval', message: expect.stringMatching(/is not waiting for approval: it is in stage design, running its agent$/) });
        running.open();
        await stateUntil(h, (s) => s.waitingFor === 'approval', 'the approval wait');
        await h.signal(stopSignal, { reason: 'not wanted' });
        return h.result();
      },
    );
    // STOP while waiting: compensation, cancelled.
    expect(result.status).toBe('cancelled');
    expect(result.compensation.map((c) => c.step)).toEqual(['kill-agent', 'cancel-jobs', 'remove-worktree', 'delete-branch']);
  }, 60_000);

  it('a rejection without onReject fails the task with the comment; a timeout fails or approves per timeoutAction', async () => {
    const rejected = await scenario({ shared: withStages([agent('design'), approval('ok'), MERGE]) }, async (h, calls) => {
      await stateUntil(h, (s) => s.waitingFor === 'approval', 'the wait');
      await h.executeUpdate(rejectUpdate, { args: [{ by: 'dana', comment: 'not this quarter' }] });
      return { r: await h.result(), calls };
    });
    expect(rejected.r).toMatchObject({ status: 'failed', failureReason: 'stage ok: rejected by dana: not this quarter' });
    // No stage follows to carry the decision: it is recorded on its own.
    const decided = (calls: Calls) => calls.filter((c) => c.name === 'recordEvent').map((c) => c.args[0] as { type: string }).filter((e) => e.type === 'approval-decided');
    expect(decided(rejected.calls)).toEqual([expect.objectContaining({ stage: 'ok', detail: expect.objectContaining({ decision: 'rejected', by: 'dana' }) })]);

    const timedOut = await scenario({ shared: withStages([agent('design'), approval('ok', { timeout: '2d' }), MERGE]) }, (h) => h.result());
    expect(timedOut).toMatchObject({ status: 'failed', failureReason: 'stage ok: approval timed out after 2d' });
    const approved = await scenario({ shared: withStages([agent('design'), approval('ok', { timeout: '2d', timeoutAction: 'approve' }), MERGE]) }, async (h, calls) => ({ r: await h.result(), calls }));
    expect(approved.r.status).toBe('done');
    // The merge's entry records it, with the merge's row update.
    expect(decided(approved.calls)).toEqual([]);
    const carried = approved.calls.filter((c) => c.name === 'updateTask' && c.args[2]).map((c) => [(c.args[1] as { stage: string }).stage, c.args[2]]);
    expect(carried).toEqual([['merge', [expect.objectContaining({ type: 'approval-decided', detail: expect.objectContaining({ decision: 'approved', via: 'timeout' }) })]]]);
  }, 90_000);

  it('rework: a failing review goes back to development with its findings, at most maxLoops times', async () => {
    const stages = [agent('development'), agent('review', { onFail: { goto: 'development', maxLoops: 2 } }), MERGE];
    let reviews = 0;
    const review = (passOn: number) => async ({ stage }: { stage: string }) => {
      if (stage !== 'review') return { passed: true, detail: 'ok' };
      reviews++;
      return reviews >= passOn ? { passed: true, detail: 'review passed' } : { passed: false, detail: 'review found problems', output: `finding ${reviews}: no tests for the parser` };
    };
    const failing = await scenario({ shared: withStages(stages), hosts: { a: { runGate: review(99) } } }, async (h, calls) => {
      const r = await h.result();
      const devs = agentReqs(calls, 'development');
      expect(devs).toHaveLength(3);
      expect(devs[0]?.lastFailure).toBeUndefined();
      expect(devs[1]?.lastFailure).toContain('finding 1: no tests for the parser');
      expect(devs[2]?.lastFailure).toContain('finding 2: no tests for the parser');
      const state = await h.query(stateQuery);
      expect(state.history.map((a) => [a.stage, a.loop ?? 1, a.outcome])).toEqual([
        ['development', 1, 'passed'], ['review', 1, 'failed'],
        ['development', 2, 'passed'], ['review', 2, 'failed'],
        ['development', 3, 'passed'], ['review', 3, 'failed'],
      ]);
      return r;
    });
    expect(failing.status).toBe('failed');
    expect(failing.failureReason).toMatch(/^stage review looped 2 time\(s\) back to development and still failed: /);

    reviews = 0;
    const fixed = await scenario({ shared: withStages(stages), hosts: { a: { runGate: review(2) } } }, (h) => h.result());
    expect(fixed.status).toBe('done');
  }, 90_000);

  it('a stage after one that passed on its host starts its agent at once, the run checking the clone; a changed clone is prepared first', async () => {
    const stages = [agent('design'), approval('ok'), agent('development'), agent('review'), MERGE];
    /** What the host ran after the approval (and what each agent run was asked to check). */
    const afterApproval = (calls: Calls, from: number) =>
      calls
        .slice(from)
        .filter((c) => c.queue !== 'shared')
        .map((c) => (c.name === 'runAgent' ? `runAgent ${(c.args[0] as AgentRunRequest).stage} cleanAt=${(c.args[0] as AgentRunRequest).cleanAt ?? '-'}` : c.name === 'prepareWorktree' ? `prepareWorktree pushed=${(c.args[0] as { pushed?: string }).pushed}` : c.name));
    const approveThenDone = async (h: WorkflowHandle<TaskWorkflow>, calls: Calls) => {
      await stateUntil(h, (s) => s.waitingFor === 'approval', 'the wait');
      const from = calls.length;
      await h.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
      const r = await h.result();
      // What the decision's workflow task scheduled, in order.
      const events = (await h.fetchHistory()).events ?? [];
      const accepted = events.findIndex((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
      const next = events.slice(accepted).findIndex((e, i) => i > 0 && e.workflowTaskScheduledEventAttributes);
      const scheduled = events
        .slice(accepted, accepted + next)
        .flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
      return { r, calls, from, state: await h.query(stateQuery), scheduled };
    };
    const clean = await scenario({ shared: withStages(stages) }, approveThenDone);
    expect(clean.r.status).toBe('done');
    // The first stage has nothing pushed yet: its worktree is prepared as before.
    expect(names(clean.calls).indexOf('prepareWorktree')).toBeLessThan(names(clean.calls).indexOf('runAgent'));
    expect(afterApproval(clean.calls, clean.from)).toEqual([
      'runAgent development cleanAt=sha-design', 'runGate', 'commitAndPush',
      'runAgent review cleanAt=sha-development', 'runGate', 'commitAndPush',
      'removeWorktree',
    ]);
    // The run goes out first; the stage's row and the decision follow as one write (patch agent-first).
    expect(clean.scheduled).toEqual(['runAgent', 'updateTask']);
    const entry = clean.calls.slice(clean.from).find((c) => c.name === 'updateTask');
    expect(entry?.args.slice(1)).toEqual([
      { stage: 'development', status: 'running', runId: expect.any(String), failureReason: null },
      [{ type: 'approval-decided', stage: 'ok', detail: expect.objectContaining({ decision: 'approved', by: 'alice' }) }],
    ]);
    const decisions = clean.calls.filter((c) => c.name === 'recordEvent' && (c.args[0] as { type: string }).type === 'approval-decided');
    expect(decisions).toEqual([]);

    // The clone changed while the task waited: the run refuses before anything starts, the stage
    // prepares the clone from the push and runs the same attempt again.
    const refused: string[] = [];
    const changed = await scenario(
      {
        shared: withStages(stages),
        hosts: {
          a: {
            runAgent: async (req) => {
              if (req.cleanAt && req.stage === 'development') {
                refused.push(req.cleanAt);
                throw ApplicationFailure.create({ type: WORKTREE_NOT_CLEAN, nonRetryable: true, message: 'not clean' });
              }
              return { exitCode: 0, signal: null, pid: 1, logFile: '/log', durationMs: 1 };
            },
          },
        },
      },
      approveThenDone,
    );
    expect(changed.r.status).toBe('done');
    expect(refused).toEqual(['sha-design']);
    expect(afterApproval(changed.calls, changed.from).slice(0, 4)).toEqual(['runAgent development cleanAt=sha-design', 'prepareWorktree pushed=sha-design', 'runAgent development cleanAt=-', 'runGate']);
    // No attempt was spent on it.
    expect(changed.state.history.filter((a) => a.stage === 'development').map((a) => [a.attempt, a.outcome])).toEqual([[1, 'passed']]);
  }, 90_000);

  it('waits 30 simulated days with hourly reminders: bounded history per run, continuing as new; every run replays', async () => {
    const stages = [agent('design'), approval('design-approval', { timeout: '40d', remind: '1h' }), agent('development'), MERGE];
    const { result, runs, histories, calls } = await scenario({ shared: withStages(stages) }, async (h, calls) => {
      await stateUntil(h, (s) => s.waitingFor === 'approval', 'the wait');
      await env.sleep(30 * DAY);
      const latest = env.client.workflow.getHandle<TaskWorkflow>(h.workflowId);
      const waiting = await latest.query(stateQuery);
      expect(waiting).toMatchObject({ waitingFor: 'approval', stage: 'design-approval' });
      expect(waiting.history.map((a) => a.stage)).toEqual(['design']);
      await latest.executeUpdate(approveUpdate, { args: [{ by: 'erin' }] });
      const r = await latest.result();
      const runs: number[] = [];
      const histories: unknown[] = [];
      for (let runId: string | null | undefined = h.firstExecutionRunId; runId; ) {
        const history: { events?: { workflowExecutionContinuedAsNewEventAttributes?: { newExecutionRunId?: string | null } | null }[] | null } = await env.client.workflow.getHandle(h.workflowId, runId).fetchHistory();
        histories.push(history);
        const events = history.events ?? [];
        runs.push(events.length);
        runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
      }
      return { result: r, runs, histories, calls };
    });
    expect(result.status).toBe('done');
    expect(runs.length).toBeGreaterThan(1);
    for (const n of runs) expect(n).toBeLessThan(2000);
    // Across the continue-as-new, the design stage did not run again and development ran once.
    expect(agentReqs(calls).map((r) => r.stage)).toEqual(['design', 'development']);
    for (const [i, history] of histories.entries()) {
      await Worker.runReplayHistory({ workflowBundle: codePath }, history as never, `approval-run-${i}`);
    }
  }, 300_000);
});
