// orch status KEY [--json]: status, stage, the running agent's progress, attempts with their usage,
// the task's usage, STOP and compensation.
import type { Command } from 'commander';
import { isTerminal } from '../../workflows/contracts/status.js';
import { approvalLines } from '../approval-lines.js';
import { usageText } from '../../workflows/contracts/usage-text.js';
import { ago, clock, duration, out, progressLine, table, usageCells } from '../format.js';
import { attemptsOf, compensationOf, type Attempt } from '../task-attempts.js';
import type { CommandContext } from './context.js';

const took = (a: Attempt) =>
  a.startedAt && a.endedAt
    ? duration(new Date(a.endedAt).getTime() - new Date(a.startedAt).getTime())
    : a.startedAt
      ? `${duration(Date.now() - new Date(a.startedAt).getTime())}…`
      : null;

export function addStatusCommand(program: Command, cx: CommandContext): void {
  program
    .command('status')
    .description("a task's status, stage, attempts, STOP and compensation")
    .argument('<key>')
    .option('--json', 'raw JSON')
    .action(
      cx.action(async (key: string, o: { json?: boolean }) => {
        const t = await cx.api.task(key);
        if (o.json) return void out(JSON.stringify(t, null, 2));
        const { task, state } = t;
        const stage = state?.stage ?? task.stage;
        out(`${key}  ${task.status}${stage ? `  stage ${stage}` : ''}${state?.host ? `  host ${state.host}` : ''}`);
        out(`  ${task.repo}: ${task.title}`);
        out(`  workflow ${task.workflowId}${task.runId ? ` (run ${task.runId})` : ''}; started ${clock(task.createdAt)}, updated ${ago(task.updatedAt)}`);
        if (task.key !== key) out(`  record: ${task.key} (tombstoned after the STOP)`);
        if (t.progress && !isTerminal(task.status)) out(`  now: ${progressLine(t.progress)}`);
        for (const line of approvalLines(key, t)) out(`  ${line}`);
        if (t.sandbox?.warning) out(`  WARNING: ${t.sandbox.warning}`);
        const attempts = attemptsOf(t);
        if (attempts.length) {
          // Usage columns only when some agent reported usage (the `command` adapter reports none).
          const withUsage = attempts.some((a) => a.usage);
          out('  attempts:');
          out(
            table(
              ['    STAGE', '#', 'HOST', 'PID', 'STARTED', 'TOOK', ...(withUsage ? ['COST', 'TOKENS IN/OUT', 'CACHE R/W'] : []), 'OUTCOME'],
              attempts.map((a) => [
                `    ${a.stage}`,
                a.attempt,
                a.host,
                a.pid,
                clock(a.startedAt),
                took(a),
                ...(withUsage ? usageCells(a.usage) : []),
                a.outcome ? `${a.outcome}${a.detail && a.outcome !== 'passed' ? `: ${a.detail}` : ''}` : 'running',
              ]),
            ),
          );
        }
        if (t.usage) out(`  usage: ${usageText(t.usage)}`);
        else if (t.history?.length) out('  usage: not reported by its agents');
        const ended = isTerminal(task.status);
        const stop = state?.pendingStop;
        if (stop && !ended) {
          out(`  STOP pending since ${clock(stop.requestedAt)}${stop.requestedBy ? ` (by ${stop.requestedBy})` : ''}: ${stop.reason ?? 'no reason given'}`);
          if (state?.inCriticalWindow) out('    deferred: the task is in a critical window (merge/deploy); it stops once that step ends');
        } else if (task.cancelRequestedAt && !ended) {
          out(`  STOP pending since ${clock(task.cancelRequestedAt)}`);
        }
        const failure = task.failureReason ?? state?.failureReason;
        if (failure) out(`  failure: ${failure}`);
        if (task.status === 'cancelled') out(`  cancelled at ${clock(task.cancelledAt)}`);
        const comp = compensationOf(t);
        if (comp.length) {
          out('  compensation:');
          for (const c of comp) out(`    ${c.ok ? 'ok    ' : 'FAILED'} ${c.step}: ${c.detail}`);
        }
      }),
    );
}
