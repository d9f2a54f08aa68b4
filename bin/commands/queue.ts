// orch queue [--json]: running tasks, tasks awaiting approval, agent liveness, locks, STOPs, recently finished.
import type { Command } from 'commander';
import type { QueueResponse } from '../api-types.js';
import { costText } from '../../workflows/contracts/usage-text.js';
import { ago, clock, duration, out, table } from '../format.js';
import type { CommandContext } from './context.js';

function printActive(q: QueueResponse, now: number) {
  const active = [...q.tasks.byStatus.queued, ...q.tasks.byStatus.running];
  out();
  out('ACTIVE');
  if (active.length === 0) return out('  (none)');
  out(
    table(
      ['  KEY', 'REPO', 'STATUS', 'STAGE', 'UPDATED', 'COST', 'STOP', 'TITLE'],
      active.map((t) => [
        `  ${t.key}`,
        t.repo,
        t.status,
        t.stage,
        ago(t.updatedAt, now),
        // Spent so far; — when no agent reported usage.
        t.usage ? (t.usage.costUsd === null ? 'unknown' : costText(t.usage.costUsd)) : '',
        t.cancelRequestedAt ? `requested ${ago(t.cancelRequestedAt, now)}` : '',
        t.title,
      ]),
    ),
  );
}

function printApprovals(q: QueueResponse, now: number) {
  out();
  out('AWAITING APPROVAL (oldest first)');
  const waiting = q.awaitingApproval ?? [];
  if (waiting.length === 0) return out('  (none)');
  out(
    table(
      ['  KEY', 'STAGE', 'SINCE', 'WAITING', 'TIMEOUT', 'PROMPT'],
      waiting.map((a) => [`  ${a.key}`, a.stage, clock(a.since), `${duration(now - new Date(a.since).getTime())}${a.stopRequested ? ' (STOP requested)' : ''}`, a.timeout, a.prompt ?? a.title]),
    ),
  );
  out(`  decide with: orch approve <KEY> [--comment C], or orch reject <KEY> --comment C`);
}

function printLiveness(q: QueueResponse) {
  out();
  out('LIVENESS (pending activities of running tasks)');
  const rows: (string | number | null)[][] = [];
  for (const l of q.liveness) {
    if (l.pendingActivities.length === 0) rows.push([`  ${l.key}`, l.ghost ? `workflow ${l.workflowStatus ?? 'missing'} (ghost)` : '(no activity pending)', '', '', '', '', '']);
    for (const a of l.pendingActivities) {
      rows.push([`  ${l.key}`, a.activityType, a.state, a.host, a.pid, a.heartbeatAgeMs === null ? 'none yet' : duration(a.heartbeatAgeMs), `${a.attempt ?? '—'}${a.lastFailure ? ` (last: ${a.lastFailure})` : ''}`]);
    }
  }
  if (rows.length === 0) return out('  (none)');
  out(table(['  KEY', 'ACTIVITY', 'STATE', 'HOST', 'PID', 'HEARTBEAT AGE', 'ATTEMPT'], rows));
}

function printLocks(q: QueueResponse, now: number) {
  out();
  out('LOCKS');
  if (q.locks.length === 0) return out('  (none running)');
  out(
    table(
      ['  LOCK', 'HOLDER', 'SINCE', 'WAITERS'],
      q.locks.map((l) => [
        `  ${l.lockId}`,
        l.error ? `? (${l.error})` : l.holder ? (l.holder.taskKey ?? l.holder.holderWorkflowId) : 'free',
        l.holder ? ago(l.holder.since, now) : '',
        l.waiters.map((w) => w.taskKey ?? w.holderWorkflowId).join(', '),
      ]),
    ),
  );
}

function printStops(q: QueueResponse, now: number) {
  out();
  out('STOPS');
  if (q.stop.deferred.length === 0) out('  deferred: (none)');
  for (const t of q.stop.deferred) {
    out(`  deferred: ${t.key} in ${t.stage ?? '—'} since ${ago(t.cancelRequestedAt, now)}${t.inCriticalWindow ? ' (critical window)' : ''}${t.reason ? `: ${t.reason}` : ''}`);
  }
  if (q.stop.recentlyCancelled.length === 0) out('  recently cancelled: (none)');
  for (const t of q.stop.recentlyCancelled.slice(0, 10)) {
    const comp = t.compensation.map((s) => `${s.step} ${s.ok ? 'ok' : 'FAILED'}`).join(', ');
    out(`  cancelled: ${t.key} ${ago(t.cancelledAt, now)}${t.reason ? ` (${t.reason})` : ''} — ${comp || 'no compensation recorded'}`);
  }
}

function printReconciler(q: QueueResponse, now: number) {
  const r = q.reconciler;
  if (!r) return;
  out();
  out('PLANE RECONCILER');
  if (!r.enabled) return out('  off (ORCH_PLANE_RECONCILE_INTERVAL, or the Plane API is not configured)');
  const every = r.intervalMs === null ? '?' : duration(r.intervalMs);
  out(`  every ${every}${r.paused ? ' (paused)' : ''}; next run ${r.nextRunAt ? clock(r.nextRunAt) : '—'}${r.running ? '; a run is under way' : ''}`);
  const last = r.lastRun;
  if (!last) return out('  last run: (none finished yet)');
  out(`  last run: ${ago(last.scheduledAt, now)}, ${last.status.toLowerCase()}`);
  for (const p of last.report?.projects ?? []) {
    out(`    ${p.identifier}: ${p.listed} work items, ${p.inStart} in the start state, ${p.inStop} in STOP${p.error ? ` — error: ${p.error}` : ''}`);
  }
  for (const a of last.report?.acted ?? []) out(`    ${a.key}: ${a.outcome}`);
}

function printFinished(q: QueueResponse, now: number) {
  const finished = [...q.tasks.byStatus.done, ...q.tasks.byStatus.failed, ...q.tasks.byStatus.cancelled]
    .sort((a, b) => new Date(b.updatedAt).getTime() - new Date(a.updatedAt).getTime())
    .slice(0, 10);
  out();
  out('RECENTLY FINISHED');
  if (finished.length === 0) return out('  (none)');
  out(
    table(
      ['  KEY', 'REPO', 'STATUS', 'FINISHED', 'TITLE / REASON'],
      finished.map((t) => [`  ${t.key}`, t.repo, t.status, ago(t.finishedAt ?? t.updatedAt, now), t.failureReason ?? t.title]),
    ),
  );
}

export function addQueueCommand(program: Command, cx: CommandContext): void {
  program
    .command('queue')
    .description('running tasks, tasks awaiting approval, agent liveness, locks, STOPs')
    .option('--json', 'raw JSON')
    .action(
      cx.action(async (o: { json?: boolean }) => {
        const q = await cx.api.queue();
        if (o.json) return void out(JSON.stringify(q, null, 2));
        const now = new Date(q.generatedAt).getTime() || Date.now();
        const c = q.tasks.counts;
        out(`tasks: ${c.total} — ${Object.entries(c.byStatus).map(([s, n]) => `${s} ${n}`).join(', ')}`);
        const stages = Object.entries(c.byStage);
        if (stages.length) out(`active by stage: ${stages.map(([s, n]) => `${s} ${n}`).join(', ')}`);
        if (q.sandbox?.warning) out(`WARNING: ${q.sandbox.warning}`);
        else if (q.sandbox?.hosts.length) out(`sandbox: ${q.sandbox.hosts.map((h) => `${h.host} ${h.mode}${h.network ? `, network ${h.network}` : ''}`).join('; ')}`);
        printActive(q, now);
        printApprovals(q, now);
        printLiveness(q);
        printLocks(q, now);
        printStops(q, now);
        printFinished(q, now);
        printReconciler(q, now);
        for (const [part, msg] of Object.entries(q.errors ?? {})) out(`\nwarning: ${part}: ${msg}`);
      }),
    );
}
