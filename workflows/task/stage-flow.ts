// The stages in order, with the two ways back: a rework loop (an agent stage's `onFail.goto` once
// its attempts are used up) and a rejection (an approval stage's `onReject.goto`). A stage that runs
// again gets why as `{{lastFailure}}`, and starts from what was last pushed on the task's branch.
import { ApplicationFailure, CancelledFailure } from '@temporalio/workflow';
import type { ResumePoint, StageSpec } from '../contracts/index.js';
import { runAgentStage } from './agent-stage.js';
import { runApproval } from './approval-stage.js';
import { runDeploy, runMerge } from './delivery.js';
import type { PlannedTask } from './planned.js';

export class StageFlow {
  /** Times each stage has started (its round: 2 on the first return). */
  readonly runs: Record<string, number>;
  /** Rework loops taken, by the stage that looped. */
  readonly loops: Record<string, number>;
  /** Why a stage runs again, for its next prompt. */
  readonly carried: Record<string, string>;
  readonly startIndex: number;
  #resumedWait: Pick<ResumePoint, 'waitingSince' | 'remindersSent'> | undefined;

  constructor(
    readonly t: PlannedTask,
    resume?: ResumePoint,
  ) {
    this.runs = { ...(resume?.runs ?? {}) };
    this.loops = { ...(resume?.loops ?? {}) };
    this.carried = { ...(resume?.carried ?? {}) };
    this.startIndex = resume?.stageIndex ?? 0;
    if (resume?.waitingSince) this.#resumedWait = { waitingSince: resume.waitingSince, remindersSent: resume.remindersSent ?? 0 };
  }

  /** A wait carried over a continue-as-new, once, for the stage it was in. */
  takeResumedWait(index: number) {
    const wait = index === this.startIndex ? this.#resumedWait : undefined;
    this.#resumedWait = undefined;
    return wait;
  }

  /** Everything a fresh run needs to go on at `stageIndex`. */
  resumePoint(stageIndex: number, wait: Pick<ResumePoint, 'waitingSince' | 'remindersSent'> = {}): ResumePoint {
    const { run, state, plan } = this.t;
    return {
      stageIndex,
      plan,
      history: state.history,
      ...(state.usage && { usage: state.usage }),
      approvals: state.approvals ?? [],
      pushedSha: run.pushedSha,
      mergedSha: run.mergedSha,
      hosts: [...run.usedHosts.values()],
      runs: this.runs,
      loops: this.loops,
      carried: this.carried,
      ...wait,
    };
  }

  async run(stages: StageSpec[]): Promise<void> {
    const { t } = this;
    const indexOf = (name: string) => stages.findIndex((s) => s.name === name);
    for (let i = this.startIndex; i < stages.length; ) {
      if (t.state.pendingStop) {
        await t.settle();
        throw new CancelledFailure('stopped');
      }
      const stage = stages[i]!;
      if (stage.kind === 'merge') {
        await runMerge(t);
        i++;
      } else if (stage.kind === 'deploy') {
        await runDeploy(t);
        i++;
      } else if (stage.kind === 'approval') {
        const record = await runApproval(t, stage, this, i);
        // Only the next stage's start goes on while the decision is recorded; anything else waits for it.
        if (record.decision !== 'approved') await t.settle();
        if (record.decision === 'approved') i++;
        else if (record.decision === 'timed-out') throw ApplicationFailure.nonRetryable(`stage ${stage.name}: approval timed out after ${stage.timeout}`, 'ApprovalTimedOut');
        else if (stage.onReject) {
          this.carried[stage.onReject.goto] = `Rejected at ${stage.name} by ${record.by}: ${record.comment ?? 'no reason given'}`;
          i = indexOf(stage.onReject.goto);
        } else throw ApplicationFailure.nonRetryable(`stage ${stage.name}: rejected by ${record.by}: ${record.comment ?? 'no reason given'}`, 'Rejected');
      } else {
        const round = (this.runs[stage.name] = (this.runs[stage.name] ?? 0) + 1);
        const lastFailure = this.carried[stage.name];
        delete this.carried[stage.name];
        try {
          await runAgentStage(t, stage, { ...(lastFailure && { lastFailure }), ...(round > 1 && { round }) });
          i++;
        } catch (err) {
          const back = stage.onFail;
          if (!back || !(err instanceof ApplicationFailure) || err.type !== 'StageFailed') throw err;
          const loops = this.loops[stage.name] ?? 0;
          const reason = String(err.details?.[0] ?? err.message);
          if (loops >= back.maxLoops) {
            throw ApplicationFailure.nonRetryable(`stage ${stage.name} looped ${loops} time(s) back to ${back.goto} and still failed: ${err.message}`, 'StageFailed');
          }
          this.loops[stage.name] = loops + 1;
          this.carried[back.goto] = `Stage ${stage.name} failed (${err.message}):\n\n${reason}`;
          await t.event('rework', stage.name, { goto: back.goto, loop: loops + 1, reason: err.message });
          t.run.notify({ kind: 'rework', key: t.key, stage: stage.name, goto: back.goto, loop: loops + 1, reason: err.message });
          i = indexOf(back.goto);
        }
      }
    }
    await t.settle();
  }
}
