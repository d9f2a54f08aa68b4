// What `orch status` and `orch watch` say of approval stages: the wait now, and the decisions taken.
import type { EventRecord, TaskResponse } from './api-types.js';
import { clock, duration } from './format.js';

/** `waiting for approval of S since T …; approve with …`, while the task waits for a person. */
export function waitingText(key: string, stage: string | null | undefined, since: string | number | null | undefined, now?: number): string {
  const at = since ? new Date(since).getTime() : NaN;
  const waited = now !== undefined && Number.isFinite(at) ? ` (${duration(now - at)})` : '';
  return `waiting for approval of ${stage ?? '?'} since ${clock(since)}${waited}; approve with orch approve ${key}, or orch reject ${key} --comment "…"`;
}

/** The approval lines of `orch status`: the wait, if any, then every decision so far. */
export function approvalLines(key: string, t: TaskResponse, now = Date.now()): string[] {
  const lines: string[] = [];
  if (t.waitingFor === 'approval') lines.push(waitingText(key, t.state?.stage ?? t.task.stage, t.waitingSince, now));
  for (const a of t.state?.approvals ?? []) {
    lines.push(`${a.stage} ${a.decision} by ${a.by}${a.via ? ` (${a.via})` : ''} at ${clock(a.at)}${a.comment ? `: ${a.comment}` : ''}`);
  }
  return lines;
}

/** The `orch watch` line of an approval or rework event; null for any other event. */
export function approvalEventText(key: string, e: EventRecord): string | null {
  const d = e.detail ?? {};
  switch (e.type) {
    case 'approval-requested':
      return waitingText(key, e.stage, e.createdAt);
    case 'approval-decided':
      return `  ${e.stage} ${d.decision ?? 'decided'}${d.decision === 'timed-out' ? '' : ` by ${d.by ?? '?'}`}${d.via ? ` (${d.via})` : ''}${d.comment ? `: ${d.comment}` : ''}`;
    case 'rework':
      return `  ${e.stage} ran out of attempts; back to ${d.goto ?? '?'} (loop ${d.loop ?? '?'})${d.reason ? `: ${d.reason}` : ''}`;
    default:
      return null;
  }
}
