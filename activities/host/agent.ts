// The agent stage on this host: one agent run as its own process group, and STOP's kill of it.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import pLimit from 'p-limit';
import { persist } from '../../db/records.js';
import type { HostActivities } from '../../workflows/contracts/index.js';
import { getAgent, registerAgent, startAgent, unregisterAgent } from '../adapters/agent-process.js';
import { runEnvironment } from '../adapters/agent-env.js';
import { NO_SANDBOX } from '../adapters/sandbox.js';
import { renderTemplate } from '../adapters/template.js';
import { activityKey, hostPaths, type ActivityDeps } from '../deps.js';
import { heartbeating } from '../heartbeat.js';
import { killRecordedGroups } from './kill.js';

/** `runAgent` and `killAgent` share this host's agent slots and the keys a STOP killed. */
export function createAgentActivities(
  deps: Pick<ActivityDeps, 'pipeline' | 'records' | 'hostId' | 'dataDir' | 'heartbeatEveryMs' | 'killGraceMs' | 'sandbox'>,
): Pick<HostActivities, 'runAgent' | 'killAgent'> {
  const { pipeline, records, hostId } = deps;
  const paths = hostPaths(deps);
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
      const worktree = paths.worktree(req.key);
      const vars = {
        key: req.key,
        stage: req.stage,
        title: req.title,
        description: req.description,
        repo: req.repo,
        worktree,
        attempt: String(req.attempt),
      };
      const promptFile = paths.prompt(req.key, req.stage, req.attempt);
      await mkdir(path.dirname(promptFile), { recursive: true });
      await writeFile(promptFile, renderTemplate(stage.prompt ?? '', vars));
      const logFile = paths.agentLog(req.key, req.stage, req.attempt);

      // Heartbeat from the start: a run waiting for an agent slot is alive too.
      let pid: number | null = null;
      return heartbeating(
        deps.heartbeatEveryMs,
        (beat) =>
          agentSlots(async () => {
            if (ctx.cancellationSignal.aborted) throw new CancelledFailure('cancelled before the agent started');
            stopped.delete(req.key);
            const home = paths.home(req.key);
            const tmp = paths.tmp(req.key);
            await Promise.all([mkdir(home, { recursive: true }), mkdir(tmp, { recursive: true })]);
            const contained = (deps.sandbox ?? NO_SANDBOX).wrap({
              command: renderTemplate(agent.command, vars),
              args: agent.args.map((a) => renderTemplate(a, vars)),
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
                extra: Object.fromEntries(Object.entries(agent.env ?? {}).map(([k, v]) => [k, renderTemplate(v, vars)])),
                passEnv: agent.passEnv,
              }),
            });
            const run = startAgent({ ...contained, cwd: worktree, logFile });
            pid = run.pid;
            registerAgent(req.key, run);
            beat();
            try {
              await persist(
                () => records.startJob({ taskId: req.taskId, stage: req.stage, attempt: req.attempt, activityKey: jobKey, host: hostId, pid: run.pid, logFile }),
                ctx.cancellationSignal,
              );
              const outcome = await Promise.race([
                run.done,
                ctx.cancelled.catch(async (err) => {
                  await run.kill(deps.killGraceMs);
                  throw err;
                }),
              ]);
              if (stopped.has(req.key)) throw new CancelledFailure('agent killed by STOP');
              const ok = outcome.exitCode === 0;
              await persist(
                () =>
                  records.finishJob(jobKey, ok ? 'done' : 'failed', {
                    exitCode: outcome.exitCode,
                    detail: ok ? undefined : `exit ${outcome.exitCode ?? outcome.signal}`,
                  }),
                ctx.cancellationSignal,
              );
              return { exitCode: outcome.exitCode, signal: outcome.signal, pid: run.pid, logFile, durationMs: outcome.durationMs };
            } catch (err) {
              // Never leave an agent running behind an activity that ended.
              await run.kill(deps.killGraceMs);
              const cancelled = err instanceof CancelledFailure || ctx.cancellationSignal.aborted;
              await records
                .finishJob(jobKey, cancelled ? 'cancelled' : 'failed', { detail: cancelled ? 'stopped' : `activity failed: ${(err as Error).message}` })
                .catch(() => undefined);
              throw err;
            } finally {
              unregisterAgent(req.key, run);
            }
          }),
        () => ({ pid, host: hostId }),
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
