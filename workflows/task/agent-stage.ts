// One agent stage: agent → gate → commit & push, retried up to its attempts. A lost host costs no
// attempt: the stage moves to a live host and starts again from what was pushed.
import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation } from '@temporalio/workflow';
import {
  addUsage,
  agentActivityId,
  totalTokens,
  usageText,
  WORKTREE_NOT_CLEAN,
  type AgentRunRequest,
  type AgentRunResult,
  type HostActivities,
  type HostRef,
  type StageAttempt,
  type StageSpec,
} from '../contracts/index.js';
import { agentOn, records } from './activities.js';
import { isHostLost, reasonOf, type PlannedTask } from './planned.js';

const MAX_HOST_MOVES = 10;

type Worktree = Awaited<ReturnType<HostActivities['prepareWorktree']>>;

/** `lastFailure`: why the stage runs again (a rework loop, a rejection); `round`: its run, from 2 on. */
export async function runAgentStage(t: PlannedTask, stage: StageSpec, again: { lastFailure?: string; round?: number } = {}): Promise<void> {
  const { run, plan, state, key } = t;
  const attempts = stage.attempts ?? plan.attemptsPerStage;
  let lastReason = '';
  /** What the next attempt's prompt is told about the last failure (`{{lastFailure}}`). */
  let lastFailure = again.lastFailure ?? '';
  /** The last attempt's agent session and host: with `agent.resume`, the next attempt there resumes it. */
  let session: { host: string; id: string } | null = null;
  let hostMoves = 0;
  /** Set when the budget ended the stage: no further attempt (a retry would only spend more). */
  let overBudget: string | null = null;
  /** The agent job of an attempt whose host was lost: superseded if the stage must run again. */
  let lostJob: string | null = null;
  const prepare = (h: HostRef) => {
    // After a host move the remote's head is needed (below); otherwise a clone clean at the last push will do.
    const lastPush = hostMoves === 0 && run.pushedSha ? { pushed: run.pushedSha } : {};
    return t.onHost(h, { summary: `${stage.name}: worktree` }).prepareWorktree({ key, repo: run.repo, ...lastPush });
  };
  /**
   * The first attempt's host and worktree, started while the stage is entered (with the patch);
   * `worktree: null` when the agent's run checks the clone itself (the next patch).
   */
  let early: { host: Promise<HostRef>; worktree: Promise<Worktree> | null } | null = null;
  /** The stage's entry records, while the first attempt's agent starts alongside them. */
  let entering: Promise<void> | null = null;
  /** Set while the entry records wait for the first attempt's run to be scheduled (the patch `agent-first`). */
  let entryAfterAgent = false;
  const recordEntry = () => {
    if (!entryAfterAgent) return;
    entryAfterAgent = false;
    entering = t.recordEntry(stage.name);
    void entering.catch(() => undefined);
  };
  const entered = async () => {
    recordEntry();
    const pending = entering;
    entering = null;
    await pending;
  };
  if (t.startsTogether()) {
    const hostKnown = run.host !== null;
    const host = t.ensureHost();
    if (hostKnown && run.pushedSha && run.leftAtPush && t.agentChecksWorktree()) {
      // The stage before passed on this host and nothing ran there since, so its clone should still
      // be clean at that push: the agent's run checks that itself and starts while the stage's
      // records are written. (After a failed stage, a rework loop, the clone is prepared first.)
      if (t.agentFirst()) {
        t.showEntry(stage.name);
        entryAfterAgent = true;
      } else {
        entering = t.enterStage(stage.name);
        void entering.catch(() => undefined);
      }
      early = { host, worktree: null };
    } else {
      const worktree = host.then(prepare);
      // Its failure (a lost host, a STOP) is the first attempt's, met where that attempt awaits it.
      void worktree.catch(() => undefined);
      early = { host, worktree };
      await Promise.all([t.enterStage(stage.name), host]);
    }
  } else await t.enterStage(stage.name);
  for (let attempt = 1; attempt <= attempts; ) {
    const first = early;
    early = null;
    const checkedByAgent = first !== null && first.worktree === null;
    const h = first ? await first.host : await t.ensureHost();
    const record: StageAttempt = { stage: stage.name, attempt, host: h.hostId, startedAt: new Date().toISOString(), ...(again.round && { loop: again.round }) };
    state.history.push(record);
    run.refresh();
    // A round after the first gets ids of its own: the job rows are keyed by them.
    const activityId = agentActivityId(stage.name, attempt, hostMoves, again.round);
    const round = again.round ? { round: again.round } : {};
    const end = (outcome: StageAttempt['outcome'], detail: string) => {
      record.outcome = outcome;
      record.detail = detail;
      record.endedAt = new Date().toISOString();
      run.refresh();
    };
    /** Records a failed attempt; resolves once its event is recorded. */
    const failed = (reason: string, retryNotice: boolean, context?: string) => {
      lastReason = reason;
      lastFailure = context ? `${reason}\n\n${context}` : reason;
      end('failed', reason);
      if (retryNotice && attempt < attempts) run.notify({ kind: 'stage-retry', key, stage: stage.name, attempt, reason, ...(record.usage && { usage: record.usage }) });
      return t.event('stage-attempt-failed', stage.name, { attempt, reason, ...round });
    };
    try {
      const wt = checkedByAgent ? null : await (first?.worktree ?? prepare(h));
      // Only this workflow pushes orch/<KEY>, and only after a gate passed. If the branch moved past
      // our last push while a lost host ran this stage, that host's push landed: the stage passed,
      // and running its agent again would land its work twice.
      if (wt && hostMoves > 0 && wt.remoteHead !== undefined && wt.remoteHead !== null && wt.remoteHead !== run.pushedSha) {
        run.pushedSha = wt.remoteHead;
        end('passed', `its push landed before the host running it was lost (${wt.remoteHead.slice(0, 12)})`);
        await t.event('stage-passed', stage.name, { attempt, host: h.hostId, sha: run.pushedSha, recoveredFromPush: true, ...round });
        return;
      }
      if (lostJob) {
        const superseded = lostJob;
        lostJob = null;
        await CancellationScope.nonCancellable(() =>
          records.finishJob({ activityKey: superseded, status: 'failed', detail: 'its host was lost before the stage was pushed', supersede: true }),
        );
      }
      const budget = attemptBudget(t, stage);
      if (budget === 'spent') {
        await entered();
        const reason = `budget exceeded: the task has spent its budget (${state.usage ? usageText(state.usage) : 'nothing reported'})`;
        await failed(reason, false);
        overBudget = reason;
        break;
      }
      const req: AgentRunRequest = { taskId: t.taskId, key, repo: run.repo, stage: stage.name, attempt, title: run.input.title, description: run.input.description ?? '' };
      if (lastFailure) req.lastFailure = lastFailure;
      if (budget) req.budget = budget;
      if (session && session.host === h.hostId && stage.agent?.resume) req.resumeSession = session.id;
      const runAgent = agentOn(plan, h, {
        activityId,
        summary: `${stage.name}: agent (attempt ${attempt})`,
        timeout: stage.timeout ?? plan.timeouts.stage,
        firstOnHost: checkedByAgent,
      }).runAgent;
      let agent: AgentRunResult;
      run.agentRunning = true;
      run.leftAtPush = false;
      try {
        if (checkedByAgent) {
          try {
            const running = runAgent({ ...req, cleanAt: run.pushedSha! });
            recordEntry();
            agent = await running;
          } catch (err) {
            if (!isNotClean(err)) throw err;
            // Nothing ran: the clone changed since the push, so it is prepared as on any attempt.
            await prepare(h);
            agent = await runAgent(req);
          }
        } else agent = await runAgent(req);
      } finally {
        run.agentRunning = false;
        delete state.progress;
      }
      await entered();
      if (agent.usage) {
        record.usage = agent.usage;
        state.usage = addUsage(state.usage, agent.usage);
      }
      session = agent.sessionId ? { host: h.hostId, id: agent.sessionId } : null;
      if (agent.failure?.kind === 'budget') {
        // A retry would only spend more: the task fails now.
        await failed(agent.failure.reason, false);
        overBudget = agent.failure.reason;
        break;
      }
      if (agent.failure) {
        await failed(agent.failure.reason, true);
        attempt++;
        continue;
      }
      if (agent.exitCode !== 0) {
        await failed(`agent exited with ${agent.exitCode === null ? `signal ${agent.signal}` : `code ${agent.exitCode}`}`, true);
        attempt++;
        continue;
      }
      const gate = await t.onHost(h, { summary: `${stage.name}: quality gate` }).runGate({ key, repo: run.repo, stage: stage.name, gate: stage.gate });
      if (!gate.passed) {
        await failed(`quality gate failed: ${gate.detail}`, true, gate.output ? `The gate's output (last 4 KB):\n${gate.output}` : undefined);
        attempt++;
        continue;
      }
      const pushed = await t.onHost(h, { summary: `${stage.name}: push` }).commitAndPush({ key, repo: run.repo, stage: stage.name });
      run.pushedSha = pushed.sha;
      run.leftAtPush = true;
      end('passed', gate.detail);
      await t.event('stage-passed', stage.name, { attempt, host: h.hostId, sha: pushed.sha, ...round });
      // What the stage spent, when its agent reports it (a command agent reports nothing).
      const reported = state.history.filter((a) => a.stage === stage.name && a.loop === again.round && a.usage).map((a) => a.usage);
      if (reported.length) run.notify({ kind: 'stage-passed', key, stage: stage.name, attempt, usage: addUsage(...reported) });
      return;
    } catch (err) {
      // The stage's entry records land before whatever follows (a STOP's compensation included);
      // a failure of theirs would only hide this one.
      await entered().catch(() => undefined);
      if (isCancellation(err) || state.pendingStop) {
        end('cancelled', 'stopped');
        throw err;
      }
      if (isHostLost(err)) {
        end('host-lost', `host ${h.hostId} stopped answering`);
        const job = `${run.info.runId}/${activityId}`;
        lostJob = job;
        await CancellationScope.nonCancellable(() => records.finishJob({ activityKey: job, status: 'failed', detail: `host ${h.hostId} lost` }));
        await t.event('host-lost', stage.name, { host: h.hostId, attempt, ...round });
        t.loseHost();
        if (++hostMoves > MAX_HOST_MOVES) throw ApplicationFailure.nonRetryable(`stage ${stage.name}: lost ${hostMoves} hosts in a row`);
        continue; // the attempt is not used up: nothing ran to an end
      }
      await failed(reasonOf(err), false);
      attempt++;
    }
  }
  if (overBudget) throw ApplicationFailure.nonRetryable(`stage ${stage.name}: ${overBudget}`, 'BudgetExceeded');
  // The details carry the last failure in full (gate output included), for a rework loop's prompt.
  throw ApplicationFailure.create({ message: `stage ${stage.name} failed after ${attempts} attempt(s): ${lastReason}`, type: 'StageFailed', nonRetryable: true, details: [lastFailure] });
}

/** A runAgent refused because its `cleanAt` check found the clone changed (nothing ran). */
const isNotClean = (err: unknown): boolean =>
  err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === WORKTREE_NOT_CLEAN;

/**
 * What the next attempt may spend: the tighter of the stage's per-attempt budget and what is left of
 * the task's. `spent` when the task's is used up; undefined when nothing bounds it.
 */
function attemptBudget(t: PlannedTask, stage: StageSpec): AgentRunRequest['budget'] | 'spent' | undefined {
  const task = t.plan.budget;
  const spent = t.state.usage;
  let maxCostUsd = stage.budget?.maxCostUsd;
  let maxTokens = stage.budget?.maxTokens;
  if (task?.maxCostUsd !== undefined) {
    // An unknown cost so far cannot be counted against the budget; what is known still is.
    const left = task.maxCostUsd - (spent?.costUsd ?? 0);
    if (left <= 0) return 'spent';
    maxCostUsd = Math.min(maxCostUsd ?? left, left);
  }
  if (task?.maxTokens !== undefined) {
    const used = spent ? totalTokens(spent) : 0;
    const left = task.maxTokens - used;
    if (left <= 0) return 'spent';
    maxTokens = Math.min(maxTokens ?? left, left);
  }
  if (maxCostUsd === undefined && maxTokens === undefined) return undefined;
  return { ...(maxCostUsd !== undefined && { maxCostUsd }), ...(maxTokens !== undefined && { maxTokens }) };
}
