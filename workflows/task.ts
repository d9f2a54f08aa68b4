// The `task` workflow: one work item from analysis to deploy. Temporal owns its state.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  getExternalWorkflowHandle,
  patched,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { AgentRunResult, HostActivities, HostRef, PipelinePlan, ProgressUpdate, SharedActivities } from './activity-types.js';
import { durationToMs } from './duration.js';
import { lockGrantedSignal, releaseSignal } from './repo-lock.js';
import { orchSearchAttributes } from './search-attributes.js';
import { stateQuery, stopSignal } from './signals.js';
import type { CompensationResult, StageAttempt, StageSpec, StopRequest, TaskInput, TaskState, TaskStatus } from './types.js';

export interface TaskResult {
  key: string;
  status: TaskStatus;
  failureReason: string | null;
  compensation: CompensationResult[];
}

/** Records: retried until PostgreSQL answers again (a database restart must not fail a task). */
const shared = proxyActivities<SharedActivities>({
  // Short: a hung (not dead) worker that took one must not hold the task for long.
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '30m',
  cancellationType: 'WAIT_CANCELLATION_COMPLETED',
  retry: { initialInterval: '500ms', maximumInterval: '10s' },
});
/** Plane comments: retried for a while, never holding up the pipeline. */
const plane = proxyActivities<SharedActivities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '15m',
  retry: { initialInterval: '2s', maximumInterval: '1m' },
});
const MAX_HOST_MOVES = 10;

export async function task(input: TaskInput): Promise<TaskResult> {
  const { key, repo } = input;
  const info = workflowInfo();
  const state: TaskState = {
    key,
    repo,
    stage: null,
    status: 'running',
    host: null,
    history: [],
    pendingStop: null,
    inCriticalWindow: false,
    failureReason: null,
    compensation: [],
  };
  let taskId: string | undefined;
  let plan: PipelinePlan | undefined;
  let host: HostRef | null = null;
  let agentRunning = false;
  let cancelledByTemporal = false;
  let fastKill: Promise<CompensationResult | undefined> | undefined;
  // Progress comments go out in order, one after another, off the pipeline's critical path.
  let notices: Promise<unknown> = Promise.resolve();
  const notify = (update: ProgressUpdate) => {
    if (!input.planeIssueId || !input.planeProjectId) return;
    const req = { planeProjectId: input.planeProjectId, planeIssueId: input.planeIssueId, update };
    notices = notices.then(() => CancellationScope.nonCancellable(() => plane.notifyPlane(req))).catch(() => undefined);
  };
  let mergedSha: string | null = null;
  /** Where this workflow last pushed `orch/<KEY>` (null: not yet). */
  let pushedSha: string | null = null;
  let waitingFor: string[] = [];
  const pipeline = new CancellationScope();

  // ---- Web UI: what is this task doing now? ------------------------------------------------
  const refresh = () => {
    upsertSearchAttributes([
      { key: orchSearchAttributes.stage, value: state.stage ?? (state.status === 'running' ? 'starting' : state.status) },
      { key: orchSearchAttributes.status, value: state.status },
    ]);
    const attempt = state.history.at(-1);
    const lines = [
      `**${key}** — ${input.title}`,
      '',
      `- status: \`${state.status}\`${state.stage ? `, stage: \`${state.stage}\`` : ''}${attempt && attempt.stage === state.stage ? ` (attempt ${attempt.attempt})` : ''}`,
      `- host: ${state.host ?? '—'}`,
    ];
    if (state.stage === 'waiting') lines.push(`- waiting for: ${waitingFor.join(', ')}`);
    if (state.inCriticalWindow) lines.push('- in a critical window: a STOP now is applied after this step');
    if (state.pendingStop && state.status === 'running') lines.push(`- **STOP pending** since ${state.pendingStop.requestedAt}: ${state.pendingStop.reason ?? 'no reason given'}`);
    if (state.failureReason) lines.push(`- failure: ${state.failureReason}`);
    lines.push(`- details: \`GET /api/tasks/${key}\``);
    setCurrentDetails(lines.join('\n'));
  };

  const hostActivities = (h: HostRef, opts: { activityId?: string; summary?: string } = {}) => {
    const heartbeatMs = durationToMs(plan!.timeouts.heartbeat);
    return proxyActivities<HostActivities>({
      taskQueue: h.taskQueue,
      // The host queue dies with its host: a task waiting there too long moves to another host.
      scheduleToStartTimeout: Math.min(Math.max(2 * heartbeatMs, 10_000), 60_000),
      // Host activities heartbeat while they work: a dead host shows within one heartbeat timeout.
      heartbeatTimeout: plan!.timeouts.heartbeat,
      startToCloseTimeout: '30m',
      cancellationType: 'WAIT_CANCELLATION_COMPLETED',
      retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 5 },
      ...opts,
    });
  };

  // ---- STOP: the stop signal and Temporal's own cancellation converge here ---------------------
  const requestStop = (req: StopRequest, source: 'signal' | 'temporal') => {
    if (state.pendingStop || ['done', 'failed', 'cancelled'].includes(state.status)) return;
    state.pendingStop = { reason: req.reason, requestedBy: req.requestedBy, requestedAt: new Date().toISOString() };
    if (source === 'temporal') cancelledByTemporal = true;
    // Recorded at once, so operators see a STOP deferred by a critical window.
    if (taskId) {
      const id = taskId;
      const at = state.pendingStop.requestedAt;
      void CancellationScope.nonCancellable(() => shared.updateTask(id, { cancelRequestedAt: at })).catch(() => undefined);
    }
    if (!state.inCriticalWindow) {
      pipeline.cancel();
      // Fast path: do not wait for the heartbeat to carry the cancellation; kill the agent on its host now.
      if (agentRunning && host) {
        const h = host;
        fastKill = CancellationScope.nonCancellable(() => hostActivities(h, { summary: `${key}: kill agent` }).killAgent({ key })).catch(() => undefined);
      }
    }
    refresh();
  };
  setHandler(stopSignal, (req) => requestStop(req ?? {}, 'signal'));
  // A grant can arrive before requestLock's result does: remember every grant.
  const grantedLocks = new Set<string>();
  setHandler(lockGrantedSignal, ({ lockId }) => void grantedLocks.add(lockId));
  setHandler(stateQuery, () => state);
  CancellationScope.current().cancelRequested.catch(() =>
    requestStop({ reason: 'temporal workflow cancel', requestedBy: 'temporal' }, 'temporal'),
  );

  const event = (type: string, stage: string | null, detail: Record<string, unknown> = {}) =>
    CancellationScope.nonCancellable(() => shared.recordEvent({ taskId: taskId!, type, stage, detail }));

  const enterStage = async (stage: string) => {
    state.stage = stage;
    refresh();
    notify({ kind: 'stage', key, stage });
    // Also after `temporal workflow reset` of a failed task: the row follows the run that is live now.
    await CancellationScope.nonCancellable(() => shared.updateTask(taskId!, { stage, status: 'running', runId: info.runId, failureReason: null }));
  };

  /** Irreversible steps run to their honest end; a STOP that arrives meanwhile is applied afterwards. */
  const critical = async <T>(fn: () => Promise<T>): Promise<T> => {
    state.inCriticalWindow = true;
    refresh();
    try {
      return await CancellationScope.nonCancellable(fn);
    } finally {
      state.inCriticalWindow = false;
      refresh();
      if (state.pendingStop) pipeline.cancel();
    }
  };

  const withLock = async <T>(purpose: string, fn: () => Promise<T>): Promise<T> => {
    // The lock's id comes from the activity (recorded in history), never from where this code runs.
    let lockId: string | undefined;
    try {
      await event('lock-requested', state.stage, { purpose });
      ({ lockId } = await shared.requestLock({ repo, holderWorkflowId: info.workflowId, purpose }));
      await condition(() => grantedLocks.has(lockId!));
      await event('lock-acquired', state.stage, { lockId });
      return await fn();
    } finally {
      if (lockId) {
        const id = lockId;
        grantedLocks.delete(id);
        await CancellationScope.nonCancellable(() => getExternalWorkflowHandle(id).signal(releaseSignal, { holderWorkflowId: info.workflowId })).catch(
          () => undefined,
        );
      }
    }
  };

  /** Every host this task used: a host that is still alive may still hold a worktree of it. */
  const usedHosts = new Map<string, HostRef>();
  const removeWorktrees = async (summary: string): Promise<CompensationResult> => {
    if (usedHosts.size === 0) return { step: 'remove-worktree', ok: true, detail: 'no worktree was created' };
    const details: string[] = [];
    let ok = true;
    for (const h of usedHosts.values()) {
      try {
        details.push((await hostActivities(h, { summary }).removeWorktree({ key, repo })).detail);
      } catch (err) {
        // A host that is gone cleans its disk when it starts again (reconcile).
        ok = ok && h.hostId !== host?.hostId;
        details.push(`${h.hostId}: unreachable (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    return { step: 'remove-worktree', ok, detail: details.join('; ') };
  };

  const ensureHost = async (): Promise<HostRef> => {
    if (!host) {
      host = await shared.pickHost();
      usedHosts.set(host.hostId, host);
      state.host = host.hostId;
      refresh();
    }
    return host;
  };

  const isHostLost = (err: unknown) =>
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType !== 'START_TO_CLOSE';

  // ---- one agent stage: agent → gate → commit & push, retried up to its attempts ----------------
  const runAgentStage = async (stage: StageSpec) => {
    await enterStage(stage.name);
    const attempts = stage.attempts ?? plan!.attemptsPerStage;
    let lastReason = '';
    let hostMoves = 0;
    /** The agent job of an attempt whose host was lost: superseded if the stage must run again. */
    let lostJob: string | null = null;
    for (let attempt = 1; attempt <= attempts; ) {
      const h = await ensureHost();
      const record: StageAttempt = { stage: stage.name, attempt, host: h.hostId, startedAt: new Date().toISOString() };
      state.history.push(record);
      refresh();
      const activityId = `agent-${stage.name}-${attempt}-${hostMoves}`;
      const end = (outcome: StageAttempt['outcome'], detail: string) => {
        record.outcome = outcome;
        record.detail = detail;
        record.endedAt = new Date().toISOString();
        refresh();
      };
      try {
        const wt = await hostActivities(h, { summary: `${stage.name}: worktree` }).prepareWorktree({ key, repo });
        // Only this workflow pushes orch/<KEY>, and only after a gate passed. If the branch moved past
        // our last push while a lost host ran this stage, that host's push landed: the stage passed,
        // and running its agent again would land its work twice.
        if (hostMoves > 0 && wt.remoteHead !== undefined && wt.remoteHead !== null && wt.remoteHead !== pushedSha) {
          pushedSha = wt.remoteHead;
          end('passed', `its push landed before the host running it was lost (${wt.remoteHead.slice(0, 12)})`);
          await event('stage-passed', stage.name, { attempt, host: h.hostId, sha: pushedSha, recoveredFromPush: true });
          return;
        }
        if (lostJob) {
          const superseded = lostJob;
          lostJob = null;
          await CancellationScope.nonCancellable(() =>
            shared.finishJob({ activityKey: superseded, status: 'failed', detail: 'its host was lost before the stage was pushed', supersede: true }),
          );
        }
        let run: AgentRunResult;
        agentRunning = true;
        try {
          run = await proxyActivities<HostActivities>({
            taskQueue: h.taskQueue,
            activityId,
            summary: `${stage.name}: agent (attempt ${attempt})`,
            heartbeatTimeout: plan!.timeouts.heartbeat,
            startToCloseTimeout: stage.timeout ?? plan!.timeouts.stage,
            scheduleToStartTimeout: '10m',
            cancellationType: 'WAIT_CANCELLATION_COMPLETED',
            // One attempt per activity: the workflow decides about retries (and about moving hosts).
            retry: { maximumAttempts: 1 },
          }).runAgent({ taskId: taskId!, key, repo, stage: stage.name, attempt, title: input.title, description: input.description ?? '' });
        } finally {
          agentRunning = false;
        }
        if (run.exitCode !== 0) {
          lastReason = `agent exited with ${run.exitCode === null ? `signal ${run.signal}` : `code ${run.exitCode}`}`;
          end('failed', lastReason);
          if (attempt < attempts) notify({ kind: 'stage-retry', key, stage: stage.name, attempt: attempt + 1, reason: lastReason });
          await event('stage-attempt-failed', stage.name, { attempt, reason: lastReason });
          attempt++;
          continue;
        }
        const gate = await hostActivities(h, { summary: `${stage.name}: quality gate` }).runGate({ key, repo, stage: stage.name, gate: stage.gate });
        if (!gate.passed) {
          lastReason = `quality gate failed: ${gate.detail}`;
          end('failed', lastReason);
          if (attempt < attempts) notify({ kind: 'stage-retry', key, stage: stage.name, attempt: attempt + 1, reason: lastReason });
          await event('stage-attempt-failed', stage.name, { attempt, reason: lastReason });
          attempt++;
          continue;
        }
        const pushed = await hostActivities(h, { summary: `${stage.name}: push` }).commitAndPush({ key, repo, stage: stage.name });
        pushedSha = pushed.sha;
        end('passed', gate.detail);
        await event('stage-passed', stage.name, { attempt, host: h.hostId, sha: pushed.sha });
        return;
      } catch (err) {
        if (isCancellation(err) || state.pendingStop) {
          end('cancelled', 'stopped');
          throw err;
        }
        if (isHostLost(err)) {
          end('host-lost', `host ${h.hostId} stopped answering`);
          lostJob = `${info.runId}/${activityId}`;
          await CancellationScope.nonCancellable(() => shared.finishJob({ activityKey: lostJob!, status: 'failed', detail: `host ${h.hostId} lost` }));
          await event('host-lost', stage.name, { host: h.hostId, attempt });
          host = null;
          state.host = null;
          if (++hostMoves > MAX_HOST_MOVES) throw ApplicationFailure.nonRetryable(`stage ${stage.name}: lost ${hostMoves} hosts in a row`);
          continue; // the attempt is not used up: nothing ran to an end
        }
        lastReason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
        end('failed', lastReason);
        await event('stage-attempt-failed', stage.name, { attempt, reason: lastReason });
        attempt++;
      }
    }
    throw ApplicationFailure.nonRetryable(`stage ${stage.name} failed after ${attempts} attempt(s): ${lastReason}`, 'StageFailed');
  };

  const runMerge = async () => {
    await enterStage('merge');
    const pr = await shared.openPullRequest({ repo, key, title: `${key}: ${input.title}`, body: input.description ?? '' });
    await withLock('merge', () =>
      critical(async () => {
        await event('merge-started', 'merge', { pr: pr.number });
        const merged = await proxyActivities<SharedActivities>({
          startToCloseTimeout: plan!.timeouts.merge,
          summary: `merge ${key}`,
          retry: { initialInterval: '2s', maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: ['MergeConflictError'] },
        }).mergeFeatureBranch({ repo, key, title: input.title, pr: pr.number });
        await event('merge-finished', 'merge', { ...merged });
        mergedSha = merged.sha;
      }),
    );
  };

  const runDeploy = async () => {
    await enterStage('deploy');
    await critical(async () => {
      await event('deploy-started', 'deploy', { sha: mergedSha });
      const res = await proxyActivities<SharedActivities>({
        startToCloseTimeout: plan!.timeouts.deploy,
        heartbeatTimeout: plan!.timeouts.heartbeat,
        summary: `deploy ${key}`,
        // Exactly once: a deploy is never re-run behind the operator's back.
        retry: { maximumAttempts: 1 },
      }).deploy({ repo, key, title: input.title, sha: mergedSha });
      await event('deploy-finished', 'deploy', { ...res });
    });
  };

  const waitForDependencies = async () => {
    const deps = input.dependsOn ?? [];
    for (;;) {
      if (deps.length === 0) return;
      const statuses = await shared.dependencyStatuses(deps);
      const waiting = deps.filter((d) => statuses[d] !== 'done' && statuses[d] !== 'cancelled');
      if (waiting.length === 0) return;
      if (state.stage !== 'waiting') {
        state.stage = 'waiting';
        await CancellationScope.nonCancellable(() => shared.updateTask(taskId!, { stage: 'waiting' }));
      }
      waitingFor = waiting;
      refresh();
      await sleep('10s');
    }
  };

  // ---- compensation: every step runs, each idempotent, each recorded ---------------------------
  const compensate = async (): Promise<CompensationResult[]> => {
    const results: CompensationResult[] = [];
    const step = async (name: CompensationResult['step'], fn: () => Promise<CompensationResult>) => {
      let r: CompensationResult;
      try {
        r = await fn();
      } catch (err) {
        r = { step: name, ok: false, detail: err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err) };
      }
      results.push(r);
      state.compensation = results;
      await shared.recordEvent({ taskId: taskId!, type: 'compensation', stage: state.stage, detail: { ...r } }).catch(() => undefined);
    };
    await CancellationScope.nonCancellable(async () => {
      const early = await fastKill;
      const h = host;
      await step('kill-agent', async () => {
        if (!h) return { step: 'kill-agent', ok: true, detail: 'no host was assigned: no agent ran' };
        // Always verify on the host, even after the fast path: the report says what each did.
        const now = await hostActivities(h, { summary: 'STOP: kill agent' }).killAgent({ key });
        return early?.ok ? { ...now, detail: `${early.detail} (at STOP); now: ${now.detail}` } : now;
      });
      await step('cancel-jobs', () => shared.cancelJobs(taskId!));
      await step('remove-worktree', () => removeWorktrees('STOP: remove worktree'));
      await step('delete-branch', () => shared.deleteFeatureBranch({ repo, key }));
    });
    return results;
  };

  // ---- the business process --------------------------------------------------------------------
  upsertSearchAttributes([
    { key: orchSearchAttributes.taskKey, value: key },
    { key: orchSearchAttributes.repo, value: repo },
  ]);
  refresh();
  ({ taskId } = await CancellationScope.nonCancellable(() => shared.recordTask({ ...input, workflowId: info.workflowId, runId: info.runId })));
  plan = await CancellationScope.nonCancellable(() => shared.planPipeline(repo));
  // Added after tasks were already running: histories from before it carry no such event.
  if (patched('record-plan')) await event('planned', null, { stages: plan.stages.map((s) => s.name), serial: plan.repo.serial });
  await event('started', null, { runId: info.runId });
  notify({ kind: 'started', key, repo });
  try {
    await pipeline.run(async () => {
      await waitForDependencies();
      const body = async () => {
        for (const stage of plan!.stages) {
          if (state.pendingStop) throw new CancelledFailure('stopped');
          if (stage.kind === 'agent') await runAgentStage(stage);
          else if (stage.kind === 'merge') await runMerge();
          else await runDeploy();
        }
      };
      if (plan!.repo.serial) await withLock('serial', body);
      else await body();
    });
  } catch (err) {
    if (state.pendingStop) {
      return await finishCancelled(err);
    }
    state.status = 'failed';
    state.failureReason = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
    refresh();
    await CancellationScope.nonCancellable(async () => {
      await removeWorktrees('clean up worktree');
      await shared.updateTask(taskId!, { status: 'failed', failureReason: state.failureReason, finishedAt: new Date().toISOString() });
      await event('failed', state.stage, { reason: state.failureReason });
    });
    notify({ kind: 'failed', key, reason: state.failureReason });
    await notices;
    return { key, status: 'failed', failureReason: state.failureReason, compensation: [] };
  }
  if (state.pendingStop) return await finishCancelled(undefined);

  // Done: the work is on the default branch; clean the worktree and the merged feature branch.
  await CancellationScope.nonCancellable(async () => {
    await removeWorktrees('clean up worktree');
    await shared.deleteFeatureBranch({ repo, key });
    state.status = 'done';
    state.stage = null;
    refresh();
    await shared.updateTask(taskId!, { status: 'done', stage: null, finishedAt: new Date().toISOString() });
    await event('done', null, { sha: mergedSha });
  });
  notify({ kind: 'done', key, sha: mergedSha });
  await notices;
  return { key, status: 'done', failureReason: null, compensation: [] };

  async function finishCancelled(err: unknown): Promise<TaskResult> {
    const stop = state.pendingStop!;
    await CancellationScope.nonCancellable(() => shared.updateTask(taskId!, { cancelRequestedAt: stop.requestedAt }));
    await event('stop-requested', state.stage, { ...stop });
    const results = await compensate();
    state.status = 'cancelled';
    refresh();
    await CancellationScope.nonCancellable(async () => {
      await event('cancelled', state.stage, { reason: stop.reason ?? null, requestedBy: stop.requestedBy ?? null, compensation: results });
      await shared.markCancelled(taskId!, new Date().toISOString());
    });
    notify({ kind: 'cancelled', key, reason: stop.reason ?? null, requestedBy: stop.requestedBy ?? null, compensation: results });
    await CancellationScope.nonCancellable(() => notices);
    // `temporal workflow cancel` ends the execution Canceled, whatever error the pipeline ended with
    // (after the fast kill the agent activity may fail before the cancel request reaches it).
    if (cancelledByTemporal) throw isCancellation(err) ? err : new CancelledFailure('cancelled by temporal workflow cancel');
    return { key, status: 'cancelled', failureReason: null, compensation: results };
  }
}
