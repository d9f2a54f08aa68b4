// An approval stage: the task waits, durably and holding nothing, for a person's decision through
// the `approve` / `reject` updates. Every entry point (orch, the API, the temporal CLI, a Plane
// comment) goes through those two updates, and their validator refuses what does not fit.
import {
  ApplicationFailure,
  condition,
  continueAsNew,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { msToNumber } from '@temporalio/common/lib/time.js';
import {
  approveUpdate,
  DECISION_REFUSALS,
  isTerminal,
  orchSearchAttributes,
  rejectUpdate,
  type ApprovalDecision,
  type ApprovalRecord,
  type ResumePoint,
  type StageSpec,
  type TaskWorkflow,
} from '../contracts/index.js';
import type { PlannedTask } from './planned.js';
import type { TaskRun } from './run.js';

/** What the stage flow hands an approval wait: a wait carried over, and how to carry it on. */
export interface WaitHandover {
  takeResumedWait(index: number): Pick<ResumePoint, 'waitingSince' | 'remindersSent'> | undefined;
  resumePoint(index: number, wait: Pick<ResumePoint, 'waitingSince' | 'remindersSent'>): ResumePoint;
}

/** Past this many events a wait hands over to a fresh run (continue-as-new), state carried. */
const MAX_HISTORY_WHILE_WAITING = 1_000;

export function handleApprovals(run: TaskRun): void {
  for (const [update, decision] of [
    [approveUpdate, 'approved'],
    [rejectUpdate, 'rejected'],
  ] as const) {
    setHandler(
      update,
      (req) => {
        const record: ApprovalRecord = {
          stage: run.approval!.stage,
          decision,
          by: req.by.trim(),
          ...(req.comment?.trim() && { comment: req.comment.trim() }),
          at: new Date().toISOString(),
          via: req.via ?? 'temporal',
        };
        run.approval!.decision = record;
        return record;
      },
      { validator: (req) => validateDecision(run, req, decision) },
    );
  }
}

const refuse = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

/** Throws, with a message that says why, for a decision the task cannot take now. */
function validateDecision(run: TaskRun, req: ApprovalDecision | undefined, decision: 'approved' | 'rejected'): void {
  const { key, state } = run;
  if (!req || typeof req !== 'object' || typeof req.by !== 'string' || !req.by.trim()) {
    throw refuse(DECISION_REFUSALS.invalid, '"by" is required: say who decides, e.g. {"by": "alice"}');
  }
  if (req.comment !== undefined && typeof req.comment !== 'string') throw refuse(DECISION_REFUSALS.invalid, '"comment" must be a string');
  if (req.stage !== undefined && typeof req.stage !== 'string') throw refuse(DECISION_REFUSALS.invalid, '"stage" must be a string');
  if (decision === 'rejected' && !req.comment?.trim()) throw refuse(DECISION_REFUSALS.invalid, 'a rejection needs a comment: it tells the stage that runs again what to change');
  const stages = run.plan?.stages ?? [];
  if (req.stage && stages.length && !stages.some((s) => s.name === req.stage && s.kind === 'approval')) {
    throw refuse(DECISION_REFUSALS.invalid, `${key} has no approval stage named "${req.stage}" (its approval stages: ${stages.filter((s) => s.kind === 'approval').map((s) => s.name).join(', ') || 'none'})`);
  }
  const waiting = run.approval;
  const already = (a: ApprovalRecord) => {
    const now = isTerminal(state.status) ? `the task has ended ${state.status}` : `the task is now in ${state.stage ?? 'no stage'}`;
    return refuse(DECISION_REFUSALS.alreadyDecided, `${a.stage} was already ${a.decision} by ${a.by} at ${a.at}; ${now}`);
  };
  if (waiting?.decision) throw already(waiting.decision);
  const named = req.stage ?? waiting?.stage;
  if (named !== waiting?.stage || !waiting) {
    // A stage decided before (and not waiting again) was decided already; anything else is not waiting.
    const past = state.approvals?.findLast((a) => !named || a.stage === named);
    if (past && (!waiting || req.stage)) throw already(past);
    if (waiting) throw refuse(DECISION_REFUSALS.notWaiting, `${key} is waiting for approval of ${waiting.stage}, not ${req.stage}`);
    const doing = isTerminal(state.status) ? `it has ended ${state.status}` : state.stage ? `it is in stage ${state.stage}${run.agentRunning ? ', running its agent' : ''}` : 'it has not started a stage';
    throw refuse(DECISION_REFUSALS.notWaiting, `${key} is not waiting for approval: ${doing}`);
  }
  if (state.pendingStop) throw refuse(DECISION_REFUSALS.notWaiting, `${key} is being stopped`);
}

/** Waits for the decision (or the timeout), reminding and continuing as new as needed. */
export async function runApproval(t: PlannedTask, stage: StageSpec, flow: WaitHandover, index: number): Promise<ApprovalRecord> {
  const { run, state } = t;
  const resumed = flow.takeResumedWait(index);
  await t.enterStage(stage.name);
  const since = resumed?.waitingSince ?? new Date().toISOString();
  let reminders = resumed?.remindersSent ?? 0;
  state.waitingFor = 'approval';
  state.waitingSince = since;
  run.approval = { stage: stage.name, decision: null };
  upsertSearchAttributes([{ key: orchSearchAttributes.waitingFor, value: 'approval' }]);
  run.refresh();
  if (!resumed) {
    await t.event('approval-requested', stage.name, { timeout: stage.timeout ?? null });
    run.notify({ kind: 'approval-requested', key: t.key, stage: stage.name, ...(stage.prompt && { prompt: stage.prompt }) });
  }
  const start = Date.parse(since);
  const deadline = stage.timeout ? start + msToNumber(stage.timeout) : Infinity;
  const remindMs = stage.remind ? msToNumber(stage.remind) : Infinity;
  const decided = () => run.approval?.decision != null;
  let record: ApprovalRecord | null = null;
  for (;;) {
    const wake = Math.min(deadline, start + remindMs * (reminders + 1));
    if (wake === Infinity) await condition(decided);
    else await condition(decided, Math.max(1, wake - Date.now()));
    if (decided()) {
      record = run.approval!.decision;
      break;
    }
    if (Date.now() >= deadline) {
      const approve = stage.timeoutAction === 'approve';
      record = { stage: stage.name, decision: approve ? 'approved' : 'timed-out', by: 'orch', comment: `no decision within ${stage.timeout}`, at: new Date().toISOString(), via: 'timeout' };
      break;
    }
    reminders++;
    run.notify({ kind: 'approval-requested', key: t.key, stage: stage.name, reminder: reminders, ...(stage.prompt && { prompt: stage.prompt }) });
    const info = workflowInfo();
    // A serial repo's lock is held by this run: a fresh run could not hand it over, so it stays.
    if (!t.plan.repo.serial && (info.continueAsNewSuggested || info.historyLength >= MAX_HISTORY_WHILE_WAITING)) {
      await run.notices;
      await continueAsNew<TaskWorkflow>({ ...run.input, resumed: true, resumeAt: flow.resumePoint(index, { waitingSince: since, remindersSent: reminders }) });
    }
  }

  run.approval = null;
  state.waitingFor = null;
  state.waitingSince = null;
  state.approvals = [...(state.approvals ?? []), record!];
  upsertSearchAttributes([{ key: orchSearchAttributes.waitingFor, value: null }]);
  run.refresh();
  // Recorded with the next stage's start, which need not wait for it (withNextStage).
  await t.withNextStage('approval-decided', stage.name, { ...record });
  run.notify({ kind: 'approval-decided', key: t.key, stage: stage.name, decision: record!.decision, by: record!.by, ...(record!.comment && { comment: record!.comment }) });
  return record!;
}
