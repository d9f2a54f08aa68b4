// The agent stage on this host: one agent run as its own process group (inside the sandbox), watched
// through its adapter for progress, budget and stalls; and STOP's kill of it.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time.js';
import pLimit from 'p-limit';
import { persist } from '../../db/records.js';
import { agentProgressSignal, WORKTREE_NOT_CLEAN, type AgentProgress, type AgentRunRequest, type HostActivities } from '../../workflows/contracts/index.js';
import { runEnvironment } from '../adapters/agent-env.js';
import { getAgent, registerAgent, startAgent, unregisterAgent } from '../adapters/agent-process.js';
import { adapterFor } from '../adapters/agents/index.js';
import { CleanClones } from '../adapters/clone-fingerprint.js';
import { NO_SANDBOX } from '../adapters/sandbox.js';
import { renderTemplate } from '../adapters/template.js';
import { activityKey, hostPaths, type ActivityDeps } from '../deps.js';
import { heartbeating } from '../heartbeat.js';
import { watchAgent } from './agent-watch.js';
import { killRecordedGroups } from './kill.js';
import { isCleanAtPush } from './worktree.js';

/** How often live progress reaches PostgreSQL (`orch status`) and the workflow (the Web UI's details). */
const PROGRESS_TO_DB_MS = 2_000;
const PROGRESS_TO_WORKFLOW_MS = 10_000;

type Deps = Pick<ActivityDeps, 'pipeline' | 'records' | 'hostId' | 'dataDir' | 'heartbeatEveryMs' | 'killGraceMs' | 'sandbox' | 'client'>;

/** `runAgent` and `killAgent` share this host's agent slots and the keys a STOP killed. */
export function createAgentActivities(deps: Deps, clones = new CleanClones()): Pick<HostActivities, 'runAgent' | 'killAgent'> {
  const { pipeline, records, hostId } = deps;
  const paths = hostPaths(deps);
  const sandbox = deps.sandbox ?? NO_SANDBOX;
  const agentSlots = pLimit(pipeline.maxConcurrentAgents);
  /** Keys whose agent a STOP killed: their run ends `cancelled`, not `failed`. */
  const stopped = new Set<string>();

  const stageSpec = (name: string) => {
    const s = pipeline.stages.find((x) => x.name === name);
    if (!s) throw new Error(`unknown stage "${name}"`);
    return s;
  };

  return {
    async runAgent(req) {
      const ctx = Context.current();
      const jobKey = activityKey();
      const stage = stageSpec(req.stage);
      const agent = stage.agent ?? pipeline.agent;
      const adapter = adapterFor(agent.adapter);
      const worktree = paths.worktree(req.key);
      const promptFile = paths.prompt(req.key, req.stage, req.attempt);
      const vars = {
        key: req.key,
        stage: req.stage,
        title: req.title,
        description: req.description,
        repo: req.repo,
        worktree,
        attempt: String(req.attempt),
        lastFailure: lastFailureSection(req),
        promptFile,
      };
      // A check that cannot tell (a git error) sends the stage to prepareWorktree, which reports it.
      const clean = req.cleanAt ? isCleanAtPush(deps, clones, { key: req.key, repo: req.repo, pushed: req.cleanAt }).catch(() => false) : true;
      // The run's few files and dirs are made synchronously, as secureClone's are: each await
      // would wait a turn of the worker's event loop on the way to the agent.
      mkdirSync(path.dirname(promptFile), { recursive: true });
      writeFileSync(promptFile, renderTemplate(stage.prompt ?? '', vars));
      if (!(await clean)) {
        throw ApplicationFailure.create({
          type: WORKTREE_NOT_CLEAN,
          nonRetryable: true,
          message: `the clone of ${req.key} on ${hostId} is not clean at ${req.cleanAt!.slice(0, 12)}: the stage prepares it first`,
        });
      }
      const logFile = paths.agentLog(req.key, req.stage, req.attempt);
      // An agent with events writes them apart; the log is then orch's readable transcript of them.
      const output = adapter.events ? paths.agentStream(req.key, req.stage, req.attempt) : logFile;

      // Heartbeat from the start: a run waiting for an agent slot is alive too.
      let pid: number | null = null;
      let progress: AgentProgress | undefined;
      return heartbeating(
        deps.heartbeatEveryMs,
        (beat) =>
          agentSlots(async () => {
            if (ctx.cancellationSignal.aborted) throw new CancelledFailure('cancelled before the agent started');
            stopped.delete(req.key);
            const home = paths.home(req.key);
            const tmp = paths.tmp(req.key);
            for (const dir of [home, tmp, path.dirname(logFile)]) mkdirSync(dir, { recursive: true });
            const launch = await adapter.launch({
              command: renderTemplate(agent.command, vars),
              args: agent.args.map((a) => renderTemplate(a, vars)),
              home,
              sandboxed: sandbox.status.active,
              ...(req.resumeSession && agent.resume && { resumeSession: req.resumeSession }),
              ...(req.budget && { budget: req.budget }),
            });
            const contained = sandbox.wrap({
              command: launch.command,
              args: launch.args,
              cwd: worktree,
              home,
              tmp,
              env: runEnvironment({
                home,
                tmp,
                orch: {
                  ORCH_TASK_KEY: req.key,
                  ORCH_STAGE: req.stage,
                  ORCH_ATTEMPT: String(req.attempt),
                  ORCH_PROMPT_FILE: promptFile,
                  ORCH_KILL_GRACE_MS: String(deps.killGraceMs),
                },
                extra: { ...launch.env, ...Object.fromEntries(Object.entries(agent.env ?? {}).map(([k, v]) => [k, renderTemplate(v, vars)])) },
                passEnv: agent.passEnv,
              }),
            });
            const monitor = adapter.monitor({ home, prices: pipeline.prices, startedAt: new Date() });
            const run = startAgent({ ...contained, cwd: worktree, logFile: output, stdinFile: promptFile });
            pid = run.pid;
            registerAgent(req.key, run);
            beat();
            const publish = progressPublisher(deps, jobKey, req);
            try {
              await persist(
                () => records.startJob({ taskId: req.taskId, stage: req.stage, attempt: req.attempt, activityKey: jobKey, host: hostId, pid: run.pid, logFile, adapter: adapter.name }),
                ctx.cancellationSignal,
              );
              const watched = watchAgent({
                run,
                output,
                ...(adapter.events && { transcript: logFile }),
                monitor,
                idleMs: msToNumber(pipeline.timeouts.idle),
                ...(req.budget && { budget: req.budget }),
                killGraceMs: deps.killGraceMs,
                onProgress: (p) => {
                  progress = p;
                  publish(p);
                },
              });
              const { outcome, stopped: stoppedBy } = await Promise.race([
                watched,
                ctx.cancelled.catch(async (err) => {
                  await run.kill(deps.killGraceMs);
                  throw err;
                }),
              ]);
              if (stopped.has(req.key)) throw new CancelledFailure('agent killed by STOP');
              const report = monitor.report();
              const failure = stoppedBy ?? report.failure;
              const ok = outcome.exitCode === 0 && !failure;
              await persist(
                () =>
                  records.finishJob(jobKey, ok ? 'done' : 'failed', {
                    exitCode: outcome.exitCode,
                    detail: ok ? undefined : (failure?.reason ?? `exit ${outcome.exitCode ?? outcome.signal}`),
                    ...(report.usage && { usage: report.usage }),
                    ...(report.sessionId && { sessionId: report.sessionId }),
                    ...(report.model && { model: report.model }),
                    ...(failure && { failureKind: failure.kind }),
                  }),
                ctx.cancellationSignal,
              );
              return {
                exitCode: outcome.exitCode,
                signal: outcome.signal,
                pid: run.pid,
                logFile,
                durationMs: outcome.durationMs,
                ...(report.usage && { usage: report.usage }),
                ...(failure && { failure }),
                ...(report.sessionId && { sessionId: report.sessionId }),
                ...(report.model && { model: report.model }),
              };
            } catch (err) {
              // Never leave an agent running behind an activity that ended.
              await run.kill(deps.killGraceMs);
              const cancelled = err instanceof CancelledFailure || ctx.cancellationSignal.aborted;
              const usage = monitor.report().usage;
              await records
                .finishJob(jobKey, cancelled ? 'cancelled' : 'failed', { detail: cancelled ? 'stopped' : `activity failed: ${(err as Error).message}`, ...(usage && { usage }) })
                .catch(() => undefined);
              throw err;
            } finally {
              unregisterAgent(req.key, run);
            }
          }),
        () => ({ pid, host: hostId, ...(progress && { progress }) }),
      );
    },

    async killAgent({ key }) {
      const run = getAgent(key);
      if (run) {
        stopped.add(key);
        const report = await run.kill(deps.killGraceMs);
        const ok = report.survivors.length === 0;
        return {
          step: 'kill-agent',
          ok,
          detail: ok
            ? `process group ${report.pgid} stopped (${report.sigkill ? 'SIGTERM ignored, SIGKILL sent' : 'SIGTERM'}, ${report.elapsedMs} ms)`
            : `survivors in group ${report.pgid}: ${report.survivors.join(', ')}`,
        };
      }
      // Not in this process's registry (e.g. the worker restarted): use the pids recorded for this host.
      const leftovers = await killRecordedGroups(deps, (row) => row.taskKey === key || row.taskKey.startsWith(`${key}#`));
      return { step: 'kill-agent', ok: true, detail: leftovers ? `killed ${leftovers} recorded process group(s)` : 'no agent running' };
    },
  };
}

/**
 * The prompt's `{{lastFailure}}`: empty on a first run, else a section saying why the last attempt
 * failed (a retry) or why the stage runs again (a rework loop, a rejection).
 */
export function lastFailureSection(req: Pick<AgentRunRequest, 'attempt' | 'lastFailure'>): string {
  if (!req.lastFailure?.trim()) return '';
  const heading = req.attempt > 1 ? `## Why attempt ${req.attempt - 1} failed` : '## Why this stage runs again';
  return ['', heading, '', 'Fix this first:', '', '```', req.lastFailure.trim(), '```', ''].join('\n');
}

/**
 * Sends live progress on, throttled and only on change: to the job's row (read by the API and
 * `orch status`) every 2 s, and to the workflow (its current details in the Web UI) every 10 s.
 */
function progressPublisher(deps: Pick<Deps, 'records' | 'client'>, jobKey: string, req: AgentRunRequest) {
  const { info } = Context.current();
  const workflowId = info.workflowExecution?.workflowId;
  let toDb = 0;
  let toWorkflow = 0;
  let lastDb = '';
  let lastWorkflow = '';
  return (p: AgentProgress) => {
    // Nothing to tell before the agent's first event.
    if (p.turns === 0 && !p.lastTool && !p.sessionId) return;
    const now = Date.now();
    const { lastActivityAt: _at, ...meaningful } = p;
    const signature = JSON.stringify(meaningful);
    if (now - toDb >= PROGRESS_TO_DB_MS && signature !== lastDb) {
      toDb = now;
      lastDb = signature;
      void deps.records.updateJobProgress(jobKey, p).catch(() => undefined);
    }
    if (workflowId && now - toWorkflow >= PROGRESS_TO_WORKFLOW_MS && signature !== lastWorkflow) {
      toWorkflow = now;
      lastWorkflow = signature;
      void deps.client.workflow
        .getHandle(workflowId)
        .signal(agentProgressSignal, { ...p, stage: req.stage, attempt: req.attempt })
        .catch(() => undefined);
    }
  };
}
