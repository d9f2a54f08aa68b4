// What `orch watch` prints: every fact a task response shows (stage entries, attempt starts and
// ends with what they spent, the running agent's progress, approval waits and decisions, rework
// loops, locks, merge, deploy, STOP, compensation, the task's usage, the end), each with an id so it prints once.
import { isTerminal } from '../workflows/contracts/status.js';
import type { Usage } from '../workflows/contracts/usage.js';
import { usageText } from '../workflows/contracts/usage-text.js';
import type { StopInfo, TaskResponse } from './api-types.js';
import { progressLine } from './format.js';
import { approvalEventText } from './approval-lines.js';

export interface Fact {
  id: string;
  at: number;
  /** Tie-break among facts with the same time: stage entries first, then starts, then ends. */
  rank: number;
  text: string;
}

export function factsOf(key: string, t: TaskResponse, now: number): Fact[] {
  const byId = new Map<string, Fact>();
  /** History and job rows describe the same attempt: the first wins unless `better` (e.g. it knows the pid). */
  const push = (f: Fact, better = false) => {
    if (!byId.has(f.id) || better) byId.set(f.id, f);
  };
  const ms = (at: string | null | undefined) => (at ? new Date(at).getTime() : now);
  const stageAt = new Map<string, number>();
  const sawStage = (stage: string | null | undefined, at: number) => {
    if (!stage) return;
    stageAt.set(stage, Math.min(stageAt.get(stage) ?? Infinity, at));
  };
  const history = t.history ?? t.state?.history ?? [];
  /** What the attempt that ended `outcome` spent, as a suffix: ` — cost $0.42 · …`. */
  const spent = (stage: string | null, attempt: unknown, outcome: string) => {
    const u: Usage | null | undefined = history.find((h) => h.stage === stage && h.attempt === attempt && h.outcome === outcome)?.usage;
    return u ? ` — ${usageText(u)}` : '';
  };
  for (const h of history) {
    sawStage(h.stage, ms(h.startedAt));
    const pid = 'pid' in h && h.pid ? ` (pid ${h.pid})` : '';
    push({ id: `start:${h.stage}:${h.attempt}:${h.host ?? ''}`, at: ms(h.startedAt), rank: 1, text: `  ${h.stage} attempt ${h.attempt} started${h.host ? ` on ${h.host}` : ''}${pid}` });
    if (h.outcome === 'cancelled' || h.outcome === 'host-lost') {
      push({
        id: `end:${h.stage}:${h.attempt}:${h.host ?? ''}`,
        at: ms(h.endedAt),
        rank: 2,
        text: `  ${h.stage} attempt ${h.attempt} ${h.outcome}${h.detail ? `: ${h.detail}` : ''}${h.usage ? ` — ${usageText(h.usage)}` : ''}`,
      });
    }
  }
  if (t.progress && !isTerminal(t.task.status)) {
    const p = t.progress;
    // A new line when the agent takes a turn or picks up a tool.
    push({ id: `progress:${p.stage}:${p.attempt}:${p.turns}:${p.lastTool ?? ''}`, at: ms(p.lastActivityAt), rank: 1, text: `  ${progressLine(p, now)}` });
  }
  for (const j of t.jobs ?? []) {
    sawStage(j.stage, ms(j.startedAt ?? j.createdAt));
    const id = `start:${j.stage}:${j.attempt}:${j.host ?? ''}`;
    const at = byId.get(id)?.at ?? ms(j.startedAt ?? j.createdAt);
    push({ id, at, rank: 1, text: `  ${j.stage} attempt ${j.attempt} started${j.host ? ` on ${j.host}` : ''}${j.pid ? ` (pid ${j.pid})` : ''}` }, true);
    if (j.status === 'cancelled') push({ id: `end:${j.stage}:${j.attempt}:${j.host ?? ''}`, at: ms(j.endedAt), rank: 2, text: `  ${j.stage} attempt ${j.attempt} cancelled` });
  }
  for (const e of t.events ?? []) {
    const at = ms(e.createdAt);
    const d = e.detail ?? {};
    const id = `event:${e.id}`;
    switch (e.type) {
      case 'stage-passed':
        sawStage(e.stage, at);
        push({ id, at, rank: 2, text: `  ${e.stage} attempt ${d.attempt} passed${d.sha ? ` (${String(d.sha).slice(0, 10)})` : ''}${spent(e.stage, d.attempt, 'passed')}` });
        break;
      case 'stage-attempt-failed':
        sawStage(e.stage, at);
        push({ id, at, rank: 2, text: `  ${e.stage} attempt ${d.attempt} failed: ${d.reason ?? 'unknown reason'}${spent(e.stage, d.attempt, 'failed')}` });
        break;
      case 'host-lost':
        push({ id, at, rank: 2, text: `  host ${d.host} lost during ${e.stage} attempt ${d.attempt}; moving to another host` });
        break;
      case 'lock-acquired':
        push({ id, at, rank: 1, text: `  lock ${d.lockId} acquired` });
        break;
      case 'merge-started':
        sawStage('merge', at);
        push({ id, at, rank: 1, text: `  merging${d.pr ? ` PR #${d.pr}` : ''}` });
        break;
      case 'merge-finished':
        sawStage('merge', at);
        push({ id, at, rank: 2, text: `  merged${d.sha ? ` ${String(d.sha).slice(0, 10)}` : ''}${d.alreadyMerged ? ' (was already merged)' : ''}` });
        break;
      case 'deploy-started':
        sawStage('deploy', at);
        push({ id, at, rank: 1, text: `  deploying${d.sha ? ` ${String(d.sha).slice(0, 10)}` : ''}` });
        break;
      case 'deploy-finished':
        sawStage('deploy', at);
        push({ id, at, rank: 2, text: d.ran === false ? '  no deploy configured' : `  deployed (exit ${d.exitCode})` });
        break;
      case 'approval-requested':
      case 'approval-decided':
      case 'rework':
        push({ id, at, rank: e.type === 'approval-requested' ? 1 : 2, text: approvalEventText(key, e)! });
        break;
      case 'compensation':
        push({ id, at, rank: 3, text: `  compensation ${d.step}: ${d.ok ? 'ok' : 'FAILED'}${d.detail ? ` — ${d.detail}` : ''}` });
        break;
    }
  }
  const ended = isTerminal(t.task.status);
  const current = t.state?.stage ?? t.task.stage;
  if (current && !ended) sawStage(current, now);
  for (const [stage, at] of stageAt) {
    push({ id: `stage:${stage}`, at, rank: 0, text: stage === 'waiting' ? 'waiting for dependencies' : `stage ${stage}` });
  }
  // The live STOP (while running), else what the workflow recorded when it acted on it.
  const recorded = (t.events ?? []).find((e) => e.type === 'stop-requested')?.detail as StopInfo | undefined;
  const stop = t.state?.pendingStop ?? recorded ?? null;
  const stopAt = stop?.requestedAt ?? t.task.cancelRequestedAt;
  if (stopAt) {
    const deferred = t.state?.inCriticalWindow ? ' — deferred until the critical step (merge/deploy) ends' : '';
    push({ id: 'stop', at: ms(stopAt), rank: 1, text: `STOP pending${stop?.requestedBy ? ` (by ${stop.requestedBy})` : ''}${stop?.reason ? `: ${stop.reason}` : ''}${deferred}` });
  }
  if (ended) {
    if (t.usage) push({ id: 'usage', at: Infinity, rank: 8, text: `  usage: ${usageText(t.usage)}` });
    const reason = t.task.failureReason ?? t.state?.failureReason;
    push({ id: 'terminal', at: Infinity, rank: 9, text: `${key} ${t.task.status}${t.task.status === 'failed' && reason ? `: ${reason}` : ''}` });
  }
  return [...byId.values()];
}
