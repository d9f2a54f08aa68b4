// Activities bound to one host: the worktree and the agent process live here.
import { readFileSync } from 'node:fs';
import { access, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { execa } from 'execa';
import pLimit from 'p-limit';
import { renderTemplate } from '../worker/pipeline.js';
import type { AgentRunRequest, AgentRunResult, HostActivities } from '../workflows/activity-types.js';
import { featureBranch, type CompensationResult, type GateSpec } from '../workflows/types.js';
import { getAgent, registerAgent, startAgent, unregisterAgent } from './agent-process.js';
import { activityKey, artefactDir, hostPaths, repoSpec, type ActivityDeps } from './deps.js';
import { commitAll, copyArtefacts, ensureWorktree, pushBranch, remoteHead, removeWorktree } from './git.js';
import { isProcessAlive, killProcessGroup, readProcStat } from './process-tree.js';
import { persist } from './records.js';
import { reconcileHost } from './reconcile.js';

const exists = (p: string) => access(p).then(() => true, () => false);

/**
 * Heartbeats while `fn` runs. Every host-bound activity does: its host can die at any moment, and a
 * heartbeat timeout is how the workflow learns that within seconds instead of a start-to-close.
 */
async function beating<T>(everyMs: number, fn: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat();
  const ticker = setInterval(() => ctx.heartbeat(), everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(ticker);
  }
}

export function createHostActivities(deps: ActivityDeps): HostActivities {
  const paths = hostPaths(deps);
  const alive = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => (...args: A) => beating(deps.heartbeatEveryMs, () => fn(...args));
  const { pipeline, records, hostId } = deps;
  const agentSlots = pLimit(pipeline.maxConcurrentAgents);
  /** Keys whose agent a STOP killed: their run ends `cancelled`, not `failed`. */
  const stopped = new Set<string>();

  const stageSpec = (name: string) => {
    const s = pipeline.stages.find((x) => x.name === name);
    if (!s) throw new Error(`unknown stage "${name}"`);
    return s;
  };

  return {
    prepareWorktree: alive(async ({ key, repo }: { key: string; repo: string }) => {
      const r = repoSpec(pipeline, repo);
      const wt = await ensureWorktree({
        cacheDir: paths.mirrors,
        remote: r.remote,
        defaultBranch: r.defaultBranch,
        branch: featureBranch(key),
        worktreePath: paths.worktree(key),
        // Every stage attempt starts from what was pushed, never from an unfinished attempt's leftovers.
        fresh: true,
      });
      return { path: wt.path, fromBranch: wt.fromBranch, remoteHead: await remoteHead(r.remote, featureBranch(key)) };
    }),

    async runAgent(req: AgentRunRequest): Promise<AgentRunResult> {
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
      const beat = () => ctx.heartbeat({ pid, host: hostId });
      beat();
      const ticker = setInterval(beat, deps.heartbeatEveryMs);
      try {
        return await agentSlots(async () => {
          if (ctx.cancellationSignal.aborted) throw new CancelledFailure('cancelled before the agent started');
          stopped.delete(req.key);
          const run = startAgent({
            command: renderTemplate(agent.command, vars),
            args: agent.args.map((a) => renderTemplate(a, vars)),
            cwd: worktree,
            env: {
              ...Object.fromEntries(Object.entries(agent.env ?? {}).map(([k, v]) => [k, renderTemplate(v, vars)])),
              ORCH_TASK_KEY: req.key,
              ORCH_STAGE: req.stage,
              ORCH_ATTEMPT: String(req.attempt),
              ORCH_PROMPT_FILE: promptFile,
              ORCH_KILL_GRACE_MS: String(deps.killGraceMs),
            },
            logFile,
          });
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
        });
      } finally {
        clearInterval(ticker);
      }
    },

    runGate: alive(async ({ key, repo, stage, gate }: { key: string; repo: string; stage: string; gate: GateSpec }) => {
      const worktree = paths.worktree(key);
      const vars = { key, stage, repo, worktree, title: '', description: '', attempt: '' };
      return evaluateGate(gate, worktree, vars);
    }),

    commitAndPush: alive(async ({ key, stage }: { key: string; repo: string; stage: string }) => {
      const worktree = paths.worktree(key);
      const committed = await commitAll(worktree, `${key}: ${stage}`);
      const { sha } = await pushBranch(worktree, featureBranch(key));
      return { sha, committed: committed !== null };
    }),

    killAgent: alive(async ({ key }: { key: string }): Promise<CompensationResult> => {
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
    }),

    reconcileHost: alive(() => reconcileHost(deps)),

    removeWorktree: alive(async ({ key, repo }: { key: string; repo: string }): Promise<CompensationResult> => {
      const r = repoSpec(pipeline, repo);
      const worktree = paths.worktree(key);
      let kept: string[] = [];
      if (await exists(path.join(worktree, artefactDir(key)))) {
        kept = await copyArtefacts(worktree, artefactDir(key), paths.artefacts(key));
      }
      const { removed } = await removeWorktree(paths.mirrors, r.remote, worktree);
      return {
        step: 'remove-worktree',
        ok: true,
        detail: `${removed ? 'removed' : 'absent'}: ${worktree}` + (kept.length ? `; kept ${kept.length} artefact(s) in ${paths.artefacts(key)}` : ''),
      };
    }),
  };
}

export async function evaluateGate(gate: GateSpec, worktree: string, vars: Record<string, string>): Promise<{ passed: boolean; detail: string }> {
  switch (gate.type) {
    case 'none':
      return { passed: true, detail: 'no gate' };
    case 'file-exists': {
      const rel = renderTemplate(gate.path, vars);
      const file = path.resolve(worktree, rel);
      if (!file.startsWith(path.resolve(worktree) + path.sep)) return { passed: false, detail: `${rel} is outside the worktree` };
      const s = await stat(file).catch(() => null);
      return s?.isFile() ? { passed: true, detail: `${rel} exists` } : { passed: false, detail: `${rel} does not exist` };
    }
    case 'command': {
      const res = await execa(renderTemplate(gate.command, vars), gate.args.map((a) => renderTemplate(a, vars)), {
        cwd: worktree,
        reject: false,
        all: true,
        timeout: 10 * 60_000,
      });
      const tail = (res.all ?? '').trim().split('\n').slice(-5).join('\n');
      return res.exitCode === 0
        ? { passed: true, detail: `${gate.command} passed` }
        : { passed: false, detail: `${gate.command} exited ${res.exitCode ?? res.signal}${tail ? `: ${tail}` : ''}` };
    }
  }
}

/**
 * Kills agent process groups recorded as running on this host whose rows match. Only a pid that is
 * still an orch agent guard is touched (pids are reused). Returns how many groups were killed.
 */
export async function killRecordedGroups(
  deps: Pick<ActivityDeps, 'records' | 'hostId' | 'killGraceMs'>,
  match: (row: { taskKey: string; activityKey: string }) => boolean = () => true,
): Promise<number> {
  let killed = 0;
  for (const row of await deps.records.runningJobsOnHost(deps.hostId)) {
    if (!row.pid || !match(row) || !isProcessAlive(row.pid) || !isAgentGuard(row.pid)) continue;
    const report = await killProcessGroup(row.pid, { graceMs: deps.killGraceMs });
    if (report.found) killed++;
  }
  return killed;
}

function isAgentGuard(pid: number): boolean {
  const st = readProcStat(pid);
  return st !== null && st.pgrp === pid && /node/.test(st.comm) && cmdlineHas(pid, 'agent-guard.mjs');
}

function cmdlineHas(pid: number, needle: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
  } catch {
    return false;
  }
}
